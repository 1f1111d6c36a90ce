# Copyright (c) 2026 OpenStack Foundation
# All Rights Reserved.
#
#    Licensed under the Apache License, Version 2.0 (the "License"); you may
#    not use this file except in compliance with the License. You may obtain
#    a copy of the License at
#
#         http://www.apache.org/licenses/LICENSE-2.0
#
#    Unless required by applicable law or agreed to in writing, software
#    distributed under the License is distributed on an "AS IS" BASIS, WITHOUT
#    WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied. See the
#    License for the specific language governing permissions and limitations
#    under the License.

"""Costs of the Lustre volume driver that must not grow.

These tests count work (subprocesses, directory walks, lock names, parsed
lines), never seconds, so that they hold on any machine: a stats refresh
costs the same for 10 or 10,000 volumes, a thick volume is preallocated
without writing data, a raw copy is one sparse cp, a chain check reads one
header per overlay, operations lock only the volumes they touch, and the
``lfs df`` parser is linear in the number of OSTs. qemu-img, dd, cp, mv,
rm and truncate run for real on the test's files, as in test_lustre.
"""

import collections
import contextlib
import json
import os
import threading
from unittest import mock
import uuid

import ddt
from oslo_utils import units

from cinder import coordination
from cinder.db import api as db_api
from cinder.db import models
from cinder.image import image_utils
from cinder import objects
from cinder.tests.unit import fake_constants as fake
from cinder.tests.unit import fake_volume
from cinder.tests.unit.volume.drivers import test_lustre
from cinder.tests.unit.volume.drivers import test_lustre_client
from cinder.volume.drivers import lustre
from cinder.volume.drivers import lustre_client
from cinder.volume import volume_utils

SHARE = '192.168.1.10@tcp:/testfs'
POOL = 'testfs'
HOST = 'host@lustre'
OST_POOLS = ['testfs.ssd', 'testfs.hdd']
# How long a thread may take to get going or to finish once it is free to;
# only an upper bound for waiting, never a measure.
WAIT = 10
# The commands run for real, on the test's files, as plain processes (a
# greenlet switch would lose coverage's trace of the driver).
_REAL_COMMANDS = ('qemu-img', 'dd', 'cp', 'mv', 'rm', 'truncate')
subprocess = test_lustre.plain_subprocess()


def _lfs_df(osts, kib_per_ost=1024 ** 3, used_per_ost=1024 ** 2):
    """An lfs df report (1K blocks) of a file system of n OSTs of 1 TiB."""
    lines = ['UUID                   1K-blocks        Used   Available '
             'Use% Mounted on',
             'testfs-MDT0000_UUID      1019728        5924      926940   '
             '1% /mnt/testfs[MDT:0]']
    for index in range(osts):
        lines.append('testfs-OST%04x_UUID %d %d %d 1%% /mnt/testfs[OST:%d]'
                     % (index, kib_per_ost, used_per_ost,
                        kib_per_ost - used_per_ost, index))
    lines += ['', 'filesystem_summary: %d %d %d 1%% /mnt/testfs' % (
        osts * kib_per_ost, osts * used_per_ost,
        osts * (kib_per_ost - used_per_ost)), '']
    return '\n'.join(lines)


class _CountingLines(str):
    """A report that counts how often it is split into lines."""

    splits = 0

    def splitlines(self, *args, **kwargs):
        type(self).splits += 1
        return super().splitlines(*args, **kwargs)


class _CountingPattern(object):
    """A compiled regular expression that counts the lines it matches."""

    def __init__(self, pattern):
        self._pattern = pattern
        self.calls = 0

    def match(self, text, *args):
        self.calls += 1
        return self._pattern.match(text, *args)


@ddt.ddt
class LustreDriverPerformanceTestCase(test_lustre.DriverTestBase):
    """Counts of the work the Lustre driver does, at any scale."""

    # Real (file backend) distributed locks, as a cinder-volume cluster
    # would take them: lock names are recorded, and concurrent operations
    # really wait on each other's locks.
    MOCK_TOOZ = False
    SHARES = SHARE + '\n'

    def setUp(self):
        super(LustreDriverPerformanceTestCase, self).setUp()
        self.mock_object(lustre_client, 'time')
        self.mock_qemu_img_info = self.mock_object(image_utils,
                                                   'qemu_img_info')
        self.df_output = _lfs_df(2)
        self.driver = self._make_driver()
        self.mnt = self.driver._get_mount_point_for_share(SHARE)
        os.makedirs(self.mnt)
        # The share is mounted: the real mount check finds it mounted.
        self.mock_object(lustre_client, 'read_mount_points',
                         side_effect=lambda: {self.mnt: 'lustre'})

    def _execute_side_effect(self, *cmd, **kwargs):
        if cmd[:2] == ('lfs', 'df'):
            return self.df_output, ''
        if cmd[:2] == ('lfs', 'pool_list'):
            return 'Pools from testfs:\n%s' % ''.join(
                '%s\n' % pool for pool in OST_POOLS), ''
        if cmd[0] not in _REAL_COMMANDS:
            return '', ''
        proc = subprocess.run(cmd, capture_output=True, check=True)
        if kwargs.get('binary'):
            return proc.stdout, proc.stderr
        return proc.stdout.decode(), proc.stderr.decode()

    def _make_driver(self):
        self._execute = mock.Mock(side_effect=self._execute_side_effect)
        execute = test_lustre_client.time_limited(self, self._execute)
        drv = lustre.LustreDriver(execute=execute,
                                  configuration=self.configuration,
                                  host=HOST)
        # Cinder's test database: provisioned capacity is summed there.
        drv.db = db_api
        drv._load_shares_config()
        drv._mounted_shares = [SHARE]
        return drv

    def _volume(self, volume_id=fake.VOLUME_ID, extra_specs=None,
                volume_format=None, **kwargs):
        values = {'id': volume_id, 'size': 1, 'provider_location': SHARE,
                  'host': HOST + '#' + POOL,
                  # A type in the database: temporary volumes load it.
                  'volume_type_id': self.vt['id']}
        values.update(kwargs)
        volume = fake_volume.fake_volume_obj(self.context, **values)
        volume.volume_type = fake_volume.fake_volume_type_obj(
            self.context, extra_specs=extra_specs or {})
        if volume_format:
            volume.admin_metadata = {'format': volume_format}
            path = os.path.join(self.mnt, volume.name)
            if not os.path.exists(path):
                subprocess.run(['qemu-img', 'create', '-f', volume_format,
                                path, '%dG' % volume.size], check=True,
                               capture_output=True)
        volume.obj_reset_changes()
        return volume

    # ------------------------------------------------------------------
    # Stats refresh: independent of the number of volumes
    # ------------------------------------------------------------------

    @contextlib.contextmanager
    def _count_file_system_walks(self):
        """Count os.walk/listdir/scandir calls; list those in the shares."""
        counts = collections.Counter()
        inside = []

        def counting(name, real):
            def call(path='.', *args, **kwargs):
                counts[name] += 1
                if (isinstance(path, (str, bytes, os.PathLike)) and
                        os.fsdecode(path).startswith(self.driver.base)):
                    inside.append((name, os.fsdecode(path)))
                return real(path, *args, **kwargs)
            return call
        with mock.patch.multiple(
                os, **{name: mock.Mock(side_effect=counting(
                    name, getattr(os, name)))
                    for name in ('walk', 'listdir', 'scandir')}):
            yield counts, inside

    def _add_volume_files(self, count):
        """Volume files on the share, as many as count in total."""
        existing = len(os.listdir(self.mnt))
        for index in range(existing, count):
            path = os.path.join(self.mnt, 'volume-%08d' % index)
            os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))

    def _add_volumes(self, rows, count, hosts, cluster=None):
        """Database rows of volumes in each of hosts, count in total."""
        if not rows:
            rows.append(db_api.volume_type_create(
                self.context, {'name': 'perf-type'})['id'])
        new = [dict(id=str(uuid.uuid4()), host=host, cluster_name=cluster,
                    size=1, status='available', deleted=False,
                    project_id=fake.PROJECT_ID, user_id=fake.USER_ID,
                    volume_type_id=rows[0])
               for _ in range(len(rows) - 1, count) for host in hosts]
        with db_api.get_engine().begin() as connection:
            connection.execute(models.Volume.__table__.insert(), new)
        rows.extend(new[::len(hosts)])

    @ddt.data(([], [POOL]), (OST_POOLS, [POOL + '.ssd', POOL + '.hdd']))
    @ddt.unpack
    def test_stats_refresh_cost_independent_of_volume_count(self, ost_pools,
                                                            pools):
        self.override_config('lustre_ost_pools', ost_pools)
        self.driver = self._make_driver()
        self.df_output = _lfs_df(4)
        work = {}
        rows = []
        for volumes in (10, 1000, 10000):
            self._add_volume_files(volumes)
            # The database knows the volumes: sizes are summed there.
            self._add_volumes(rows, volumes,
                              [HOST + '#' + pool for pool in pools])
            queries = self._count_queries()
            self._execute.reset_mock()
            with self._count_file_system_walks() as (walks, inside):
                stats = self.driver.get_volume_stats(refresh=True)
            self.assertEqual(volumes, len(os.listdir(self.mnt)))
            self.assertEqual([float(volumes)] * len(pools),
                             [pool['provisioned_capacity_gb']
                              for pool in stats['pools']])
            # No walk over the volume files: not in Python, not with du.
            self.assertEqual([], inside)
            self.assertEqual([], self._commands('du'))
            work[volumes] = (len(self._execute.call_args_list),
                             dict(walks), self._counts(queries))
        # The same work for 10, 1,000 and 10,000 volumes.
        self.assertEqual(work[10], work[1000])
        self.assertEqual(work[10], work[10000])
        # One subprocess per pool: lfs df, with --pool for an OST pool;
        # and one per share: lfs getstripe -d for its default layout, and
        # lfs pool_list where OST pools are offered.
        expected = [mock.call('lfs', 'getstripe', '-d', self.mnt)]
        if ost_pools:
            expected += [mock.call('lfs', 'pool_list', self.mnt)]
            expected += [mock.call('lfs', 'df', '--lazy', '--pool', pool,
                                   self.mnt) for pool in ost_pools]
        else:
            expected += [mock.call('lfs', 'df', '--lazy', self.mnt)]
        self.assertEqual(expected, self._execute.call_args_list)
        # Two sums per pool: of its volumes' sizes and of its snapshots'.
        self.assertEqual({'volume_data_get_for_host': len(pools),
                          'get_snapshot_summary': len(pools),
                          'get_volume_summary': 0, 'service_get_all': 0,
                          'volume_get_all': 0}, work[10000][2])

    def test_cluster_stats_refresh_loads_no_volume(self):
        # In an A/A cluster every service sums the sizes of the whole
        # cluster's volumes on each refresh: in the database, host by host
        # of the cluster, never by loading each volume as an object nor
        # with the summary query, which reads every volume's metadata.
        hosts = (HOST, 'node2@lustre')
        for host in hosts:
            objects.Service(self.context, host=host,
                            cluster_name='cluster@lustre',
                            binary='cinder-volume',
                            topic='cinder-volume').create()
        rows = []
        self.driver.cluster_name = 'cluster@lustre'
        cluster = 'cluster@lustre#' + POOL
        loads = mock.Mock(wraps=objects.Volume._from_db_object)
        self.mock_object(objects.Volume, '_from_db_object', loads)
        work = {}
        for volumes in (10, 1000, 10000):
            self._add_volumes(rows, volumes,
                              [host + '#' + POOL for host in hosts], cluster)
            queries = self._count_queries()
            stats = self.driver.get_volume_stats(refresh=True)
            self.assertEqual([2.0 * volumes],
                             [pool['provisioned_capacity_gb']
                              for pool in stats['pools']])
            work[volumes] = self._counts(queries)
            loads.assert_not_called()
        self.assertEqual({'volume_data_get_for_host': 2,
                          'get_snapshot_summary': 2,
                          'get_volume_summary': 0, 'service_get_all': 1,
                          'volume_get_all': 0}, work[10])
        self.assertEqual(work[10], work[10000])

    # ------------------------------------------------------------------
    # Thick volumes: preallocated, no data written
    # ------------------------------------------------------------------

    def test_create_1tib_thick_volume_writes_no_data(self):
        self.df_output = _lfs_df(4)
        volume = self._volume(extra_specs={'provisioning:type': 'thick'},
                              size=1024, provider_location=None)
        path = os.path.join(self.mnt, volume.name)
        mock_copy = self.mock_object(volume_utils, 'copy_volume')
        real_write = os.write
        writes = []

        def write(fd, data):
            writes.append(len(data))
            return real_write(fd, data)
        self.mock_object(os, 'write', side_effect=write)
        self.assertEqual({'provider_location': SHARE},
                         self.driver.create_volume(volume))
        # The share's first thick volume: is its first MiB preallocated?
        self.assertEqual([mock.call('fallocate', '-l', '1M', path,
                                    run_as_root=True),
                          mock.call('fallocate', '-l', '1024G', path,
                                    run_as_root=True)],
                         self._commands('fallocate'))
        # Nothing else that could write the terabyte: no dd, no copy, no
        # write(2) from the driver; only capacity, preallocation, mode.
        self.assertEqual([], self._commands('dd'))
        self.assertEqual(['lfs', 'fallocate', 'fallocate', 'chmod'],
                         [c.args[0] for c in self._execute.call_args_list])
        mock_copy.assert_not_called()
        self.assertEqual(0, sum(writes))
        self.assertFalse(os.path.exists(path) and os.path.getsize(path))
        self.assertEqual('raw', volume.admin_metadata['format'])

    # ------------------------------------------------------------------
    # Clones: one sparse copy of a raw volume
    # ------------------------------------------------------------------

    def test_clone_raw_volume_is_one_sparse_copy(self):
        self.override_config('lustre_qcow2_volumes', False)
        self.driver = self._make_driver()
        src = self._volume(volume_format='raw', size=1024)
        src_path = os.path.join(self.mnt, src.name)
        volume = self._volume(fake.VOLUME2_ID, size=1024)
        self.driver.create_cloned_volume(volume, src)
        # One cp that keeps holes: no temporary snapshot (overlays, .info),
        # no qemu-img at all (no convert reading every block, no info; the
        # clone is as big as the source, so nothing grows it), and no dd
        # (a raw file's size is its virtual size: lstat, no header read).
        self.mock_qemu_img_info.assert_not_called()
        self.assertEqual(
            [mock.call('cp', '--sparse=always', '--', src_path,
                       os.path.join(self.mnt, volume.name),
                       run_as_root=True)],
            self._commands('cp'))
        self.assertEqual(['cp', 'chmod'],
                         [c.args[0] for c in self._execute.call_args_list])
        self.assertEqual(sorted([src.name, volume.name]),
                         sorted(os.listdir(self.mnt)))
        # The terabyte was not written: the copy is as sparse as its source.
        clone = os.stat(os.path.join(self.mnt, volume.name))
        self.assertEqual((1024 * units.Gi, 0), (clone.st_size,
                                                clone.st_blocks))

    def test_volume_from_raw_snapshot_is_one_sparse_copy(self):
        self.override_config('lustre_qcow2_volumes', False)
        self.driver = self._make_driver()
        src = self._volume(volume_format='raw', size=1024)
        src.admin_metadata = {'format': 'qcow2', 'base_format': 'raw'}
        overlay = '%s.%s' % (src.name, fake.SNAPSHOT_ID)
        with open(os.path.join(self.mnt, src.name + '.info'), 'w') as f:
            f.write('{"active": "%s", "%s": "%s"}' % (
                overlay, fake.SNAPSHOT_ID, overlay))
        subprocess.run(['qemu-img', 'create', '-f', 'qcow2', '-u', '-b',
                        src.name, '-F', 'raw',
                        os.path.join(self.mnt, overlay), '1024G'],
                       check=True, capture_output=True)
        snapshot = mock.Mock(id=fake.SNAPSHOT_ID, volume=src)
        volume = self._volume(fake.VOLUME2_ID, size=1024)
        self.driver._copy_volume_from_snapshot(snapshot, volume, 1024)
        # One dd of 64 KiB reads the overlay's header to check the chain
        # (where a qemu-img info used to run), one cp copies the raw base:
        # the base is neither probed, converted nor resized.
        self.mock_qemu_img_info.assert_not_called()
        self.assertEqual(['dd', 'cp', 'chmod'],
                         [c.args[0] for c in self._execute.call_args_list])
        dd = self._commands('dd')[0].args
        self.assertEqual(('if=%s' % os.path.join(self.mnt, overlay),
                          'bs=65536', 'count=1'), dd[1:4])
        clone = os.stat(os.path.join(self.mnt, volume.name))
        self.assertEqual((1024 * units.Gi, 0), (clone.st_size,
                                                clone.st_blocks))

    @ddt.data(0, 1, 2, 3)
    def test_chain_check_reads_one_header_per_overlay(self, snapshots):
        # Attaching a volume checks its chain: one dd of one header per
        # overlay (the active one's gives its size too), and a raw base is
        # only lstat'ed. No qemu-img process, however long the chain.
        volume = self._volume(volume_format='raw')
        info = {'active': volume.name}
        backing, backing_fmt = volume.name, 'raw'
        for index in range(snapshots):
            name = '%s.%d' % (volume.name, index)
            subprocess.run(['qemu-img', 'create', '-f', 'qcow2', '-u', '-b',
                            backing, '-F', backing_fmt,
                            os.path.join(self.mnt, name), '1G'],
                           check=True, capture_output=True)
            info[str(index)] = info['active'] = name
            backing, backing_fmt = name, 'qcow2'
        if snapshots:
            with open(os.path.join(self.mnt, volume.name + '.info'),
                      'w') as f:
                f.write(json.dumps(info))
        self.driver.initialize_connection(volume, {})
        self.assertEqual(['dd'] * snapshots,
                         [c.args[0] for c in self._execute.call_args_list])
        self.mock_qemu_img_info.assert_not_called()

    # ------------------------------------------------------------------
    # Locks: only the volumes involved
    # ------------------------------------------------------------------

    def _record_lock_names(self):
        """Record the name of every distributed lock the driver takes."""
        names = []
        real_get_lock = coordination.COORDINATOR.get_lock

        def get_lock(name):
            names.append(name)
            return real_get_lock(name)
        self.mock_object(coordination.COORDINATOR, 'get_lock',
                         side_effect=get_lock)
        return names

    def _volume_locks(self, names):
        """The locks other than the mount check's lock per share.

        Mounting a share takes 'lustre-mount-<mount point>'; that lock
        names a share, never a volume, and it is checked on its own.
        """
        mount_locks = [n for n in names if n.startswith('lustre-mount-')]
        self.assertLessEqual(set(mount_locks),
                             {'lustre-mount-%s' % self.mnt})
        return [n for n in names if not n.startswith('lustre-mount-')]

    def _fake_image_copy(self):
        """The image download writes nothing: the volume's file stays."""
        return self.mock_object(image_utils, 'fetch_to_volume_format')

    def test_create_volume_from_image_locks_only_the_volume(self):
        self._fake_image_copy()
        names = self._record_lock_names()
        volume = self._volume(provider_location=None)
        self.driver.create_volume(volume)
        self.driver.copy_image_to_volume(self.context, volume, mock.Mock(),
                                         fake.IMAGE_ID)
        self.assertEqual(['lustre-%s' % volume.id] * 2,
                         self._volume_locks(names))

    def test_clone_locks_only_source_and_clone(self):
        # A qcow2 source is copied from a temporary snapshot of it: taking
        # and deleting that snapshot inside the clone takes no other lock.
        src = self._volume(volume_format='qcow2')
        self.mock_object(objects.Volume, 'get_by_id', return_value=src)
        volume = self._volume(fake.VOLUME2_ID)
        names = self._record_lock_names()
        self.driver.create_cloned_volume(volume, src)
        # The source first, then the clone, and nothing else.
        self.assertEqual(['lustre-%s' % src.id, 'lustre-%s' % volume.id],
                         self._volume_locks(names))
        self.assertTrue(os.path.exists(os.path.join(self.mnt, volume.name)))

    def test_backup_device_locks_only_volume_and_temp_volume(self):
        volume = self._volume(volume_format='qcow2')
        self.mock_object(objects.Volume, 'get_by_id', return_value=volume)
        backup = mock.Mock(volume_id=volume.id, snapshot_id=None,
                           temp_volume_id=None)
        names = self._record_lock_names()
        temp = self._temp_backup_device(volume, backup)
        self.assertEqual(['lustre-%s' % volume.id, 'lustre-%s' % temp.id],
                         self._volume_locks(names))
        self.assertTrue(os.path.exists(os.path.join(self.mnt, temp.name)))

    def _hold_first(self, target, attribute, is_first, result=None):
        """Make target.attribute block the first call is_first accepts.

        Returns (started, release): started is set once that call is
        inside the driver, holding whatever the driver locked around it;
        it returns result once release is set. Other calls return result
        at once.
        """
        started, release = threading.Event(), threading.Event()

        def call(*args, **kwargs):
            if is_first(*args) and not started.is_set():
                started.set()
                self.assertTrue(release.wait(WAIT))
            return result
        self.mock_object(target, attribute, side_effect=call)
        return started, release

    def _run_concurrently(self, op_a, op_b, held, same):
        """Run op_a, then op_b while op_a is held inside the driver.

        op_b does not block by itself: it either finishes while op_a is
        held, or waits for a lock op_a holds. Returns what had finished
        while op_a was held, and what had finished in the end.
        """
        started, release = held
        done = []

        def run(op, label):
            op()
            done.append(label)

        thread_a = threading.Thread(target=run, args=(op_a, 'A'))
        thread_a.start()
        self.assertTrue(started.wait(WAIT))
        thread_b = threading.Thread(target=run, args=(op_b, 'B'))
        thread_b.start()
        # B is given the time to finish unless it is expected to wait.
        thread_b.join(1 if same else WAIT)
        while_held = list(done)
        self.assertFalse(release.is_set())
        self.assertTrue(thread_a.is_alive())
        release.set()
        thread_a.join(WAIT)
        thread_b.join(WAIT)
        return while_held, done

    def _image_ops(self, same):
        """Two image copies: to two volumes, or twice to one."""
        volume_a = self._volume(fake.VOLUME_ID, volume_format='qcow2')
        volume_b = volume_a if same else self._volume(fake.VOLUME2_ID,
                                                      volume_format='qcow2')
        self._fake_image_copy()
        held = self._hold_first(
            image_utils, 'fetch_to_volume_format',
            lambda ctxt, service, image, path, *args: path.endswith(
                volume_a.name))

        def copy(volume):
            return lambda: self.driver.copy_image_to_volume(
                self.context, volume, mock.Mock(), fake.IMAGE_ID)
        return copy(volume_a), copy(volume_b), held, {volume_a.id,
                                                      volume_b.id}

    def _clone_ops(self, same):
        """Two clones: of two sources, or of one source."""
        src_a = self._volume(fake.VOLUME_ID, volume_format='qcow2')
        src_b = src_a if same else self._volume(fake.VOLUME3_ID,
                                                volume_format='qcow2')
        clone_a = self._volume(fake.VOLUME2_ID)
        clone_b = self._volume(fake.VOLUME4_ID)
        # Held inside the copy from the temporary snapshot (which is
        # mocked: the locks around it are what is tested).
        held = self._hold_first(
            self.driver, '_clone_through_snapshot',
            lambda volume, src, ctxt: volume.id == clone_a.id)

        def clone(volume, src):
            return lambda: self.driver.create_cloned_volume(volume, src)
        return (clone(clone_a, src_a), clone(clone_b, src_b), held,
                {src_a.id, src_b.id, clone_a.id, clone_b.id})

    def _backup_ops(self, same):
        """Two backups' devices: of two volumes, or twice of one."""
        volume_a = self._volume(fake.VOLUME_ID, volume_format='qcow2')
        volume_b = volume_a if same else self._volume(
            fake.VOLUME2_ID, volume_format='qcow2')
        volumes = {v.id: v for v in (volume_a, volume_b)}
        self.mock_object(objects.Volume, 'get_by_id',
                         side_effect=lambda ctxt, vid: volumes[vid])
        temps = []
        real_temp = self.driver._create_temp_volume

        def temp_volume(*args, **kwargs):
            temps.append(real_temp(*args, **kwargs))
            return temps[-1]
        self.mock_object(self.driver, '_create_temp_volume',
                         side_effect=temp_volume)
        held = self._hold_first(
            self.driver, '_clone_through_snapshot',
            lambda volume, src, ctxt: src.id == volume_a.id)

        def backup(volume):
            return lambda: self.driver.get_backup_device(
                self.context, mock.Mock(volume_id=volume.id, snapshot_id=None,
                                        temp_volume_id=None))
        return (backup(volume_a), backup(volume_b), held,
                lambda: {volume_a.id, volume_b.id} | {t.id for t in temps})

    @ddt.data('image', 'clone', 'backup')
    def test_operations_on_different_volumes_do_not_wait(self, kind):
        names = self._record_lock_names()
        op_a, op_b, held, involved = getattr(self, '_%s_ops' % kind)(False)
        while_held, done = self._run_concurrently(op_a, op_b, held, False)
        # B completed while A held its locks.
        self.assertEqual(['B'], while_held)
        self.assertEqual(['B', 'A'], done)
        # And no lock but those of the volumes involved was taken.
        involved = involved() if callable(involved) else involved
        self.assertEqual(involved, set(n[len('lustre-'):]
                                       for n in self._volume_locks(names)))

    @ddt.data('image', 'clone', 'backup')
    def test_operations_on_one_volume_wait(self, kind):
        # The control: the locks are real, a second operation on the same
        # volume (the same source, for clones) waits until the first one
        # is done.
        op_a, op_b, held, _involved = getattr(self, '_%s_ops' % kind)(True)
        while_held, done = self._run_concurrently(op_a, op_b, held, True)
        self.assertEqual([], while_held)
        self.assertEqual(['A', 'B'], done)

    # ------------------------------------------------------------------
    # lfs df parsing: linear in the number of OSTs
    # ------------------------------------------------------------------

    def _parse_counting(self, osts):
        pattern = _CountingPattern(lustre_client._DF_ROW_RE)
        self.mock_object(lustre_client, '_DF_ROW_RE', pattern)
        _CountingLines.splits = 0
        df = lustre_client.parse_lfs_df(_CountingLines(_lfs_df(osts)))
        return df, pattern.calls, _CountingLines.splits

    def test_parse_lfs_df_is_linear(self):
        df_1k, lines_1k, splits_1k = self._parse_counting(1000)
        df_10k, lines_10k, splits_10k = self._parse_counting(10000)
        # The report is split once and each line is matched once: the
        # work grows tenfold with ten times the OSTs, plus the same few
        # other lines (header, MDT, blank, summary).
        self.assertEqual((1, 1), (splits_1k, splits_10k))
        overhead = lines_1k - 1000
        self.assertEqual(overhead, lines_10k - 10000)
        self.assertLessEqual(overhead, 4)
        self.assertEqual(10 * (lines_1k - overhead),
                         lines_10k - overhead)
        # And the figures are right: the sums of the OSTs, in bytes.
        for df, osts in ((df_1k, 1000), (df_10k, 10000)):
            self.assertEqual(osts * units.Ti, df.total)
            self.assertEqual(osts * (units.Ti - units.Gi), df.available)
            self.assertEqual(osts, len(df.osts))
            self.assertEqual('testfs-OST0000', df.osts[0].name)
            self.assertEqual('testfs-OST%04x' % (osts - 1), df.osts[-1].name)
