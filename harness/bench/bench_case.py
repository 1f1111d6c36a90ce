# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at
#
#      http://www.apache.org/licenses/LICENSE-2.0
#
# Unless required by applicable law or agreed to in writing, software
# distributed under the License is distributed on an "AS IS" BASIS, WITHOUT
# WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied. See the
# License for the specific language governing permissions and limitations
# under the License.

"""The measurements, as one test of Cinder's TestCase (test DB, config).

Built like harness/functional/base.py: the real LustreDriver and
LustreBackupDriver on an emulated Lustre file system, and cinder's
NfsDriver and NFSBackupDriver on the same backing directory (mounted by
the bind-mounting mount.nfs helper of nfs_helper.py).  run.py passes the
sizes in BENCH_PARAMS and reads the samples from BENCH_OUT.
"""

import collections
import concurrent.futures
import cProfile
import hashlib
import io
import json
import os
import pstats
import random
import re
import shutil
import time
import uuid
import warnings

from base import Emulator
from base import FunctionalTestCase
from base import MGS
from base import MiB
from base import run
import emulated_mounts
from oslo_config import cfg

from cinder.backup import chunkeddriver
from cinder.backup.drivers import lustre as lustre_backup
from cinder.backup.drivers import nfs as nfs_backup
from cinder import context
from cinder import db
from cinder.db import api as db_api
from cinder.db import models
from cinder import objects
from cinder.objects import fields
from cinder.tests.unit import test
from cinder.tests.unit import utils as test_utils
from cinder import utils
from cinder.volume import configuration as conf
from cinder.volume import driver as volume_driver
from cinder.volume.drivers import nfs
from cinder.volume.drivers import remotefs
from cinder.volume import volume_utils

GiB = 1024 * MiB


def timed(func):
    """Seconds func takes, with the dirty pages it left written out.

    The pages an earlier step left dirty are written out before the
    clock starts: a 100 GiB dd of the NFS driver is still being flushed
    long after it returned, and must not be charged to the next step.
    """
    os.sync()
    start = time.monotonic()
    func()
    os.sync()
    return time.monotonic() - start


def fill(path, size, written, seed=1):
    """Write `written` bytes of random data spread over a file of size."""
    rng = random.Random(seed)
    extent = 16 * MiB
    count = max(1, written // extent)
    stride = size // count
    with open(path, 'r+b') as f:
        for i in range(count):
            f.seek(i * stride)
            f.write(rng.randbytes(extent))


def scatter(path, size, changed, seed):
    """Overwrite `changed` bytes in 1 MiB pieces at random offsets."""
    rng = random.Random(seed)
    blocks = size // MiB
    with open(path, 'r+b') as f:
        for block in rng.sample(range(blocks), max(1, changed // MiB)):
            f.seek(block * MiB)
            f.write(rng.randbytes(MiB))


def rss_kib(field):
    """VmRSS or VmHWM (the peak since the last reset) of this process."""
    with open('/proc/self/status') as f:
        return int(re.search(r'^%s:\s+(\d+) kB' % field, f.read(),
                             re.M).group(1))


def reset_peak_rss():
    """Make VmHWM the current RSS (Linux: clear_refs 5)."""
    with open('/proc/self/clear_refs', 'w') as f:
        f.write('5')


def tree_bytes(path):
    """Allocated bytes under a directory."""
    return sum(os.lstat(os.path.join(d, n)).st_blocks * 512
               for d, _dirs, names in os.walk(path) for n in names)


def top_functions(profile, limit=12):
    out = io.StringIO()
    stats = pstats.Stats(profile, stream=out)
    stats.sort_stats('cumulative').print_stats(limit)
    return out.getvalue().splitlines()[-limit - 2:]


class BackupRow(object):
    """A row of the backup table: its key, how to back up and restore.

    backup and restore take one argument (ignored), as Bench.samples
    calls them; forget removes what the backups left; extra, if set, is
    what the table says of the row's volume instead of the round's.
    """

    def __init__(self, key, backup, restore, forget, rss=False,
                 extra=None):
        self.key = key
        self.backup = backup
        self.restore = restore
        self.forget = forget
        self.rss = rss
        self.extra = extra


class Bench(FunctionalTestCase):
    """Runs every measurement; one method per table row."""

    def setUp(self):
        # FunctionalTestCase.setUp adds a 2G file system; the bench needs
        # room for the thick volume, so it sets up its own.
        test.TestCase.setUp(self)
        self.params = json.loads(os.environ['BENCH_PARAMS'])
        self.results = {}
        self._privsep_in_process()
        self.ctxt = context.get_admin_context()
        # The emulator's mounts show the type of a real client's (lustre).
        self.addCleanup(emulated_mounts.install())
        self.emulator = Emulator()
        self.tmp = self.params['workdir']
        ost_size = '%dG' % max(8, self.params['thick_gib'])
        self.fsname = self.emulator.add_fs(osts=4, ost_size=ost_size)
        self.backup_fs = self.emulator.add_fs(osts=2, ost_size=ost_size)
        self.addCleanup(self._remove_fs)
        for fs in (self.fsname, self.backup_fs):
            for sub in ('cinder', 'nfs'):
                os.makedirs(os.path.join(self.emulator.backing_dir(fs), sub))
        self.share = '%s:/%s/cinder' % (MGS, self.fsname)
        self.nfs_export = os.path.join(
            self.emulator.backing_dir(self.fsname), 'nfs')
        self.nfs_share = '127.0.0.1:%s' % self.nfs_export
        self.mount_base = os.path.join(self.tmp, 'mnt')
        self.addCleanup(emulated_mounts.unmount_below, self.mount_base)
        self.override_config('volume_dd_blocksize', '1M')
        self.override_config('image_conversion_dir',
                             os.path.join(self.tmp, 'conversion'))
        self.override_config('state_path', self.tmp)
        self.lustre = self.make_driver(lustre_qcow2_volumes='false')
        self.nfs = self.make_nfs_driver()
        self.types = {p: self.make_volume_type(
            p, **{'provisioning:type': p}) for p in ('thin', 'thick')}

    def _privsep_in_process(self):
        from cinder import privsep as cinder_privsep
        from os_brick import privileged as brick_privileged
        for pctxt in (cinder_privsep.sys_admin_pctxt,
                      brick_privileged.default):
            pctxt.set_client_mode(False)
            self.addCleanup(pctxt.set_client_mode, True)

    def _remove_fs(self):
        root = os.path.dirname(self.emulator.backing_dir(self.fsname))
        for fs in (self.fsname, self.backup_fs):
            shutil.rmtree(os.path.join(os.path.dirname(root), fs),
                          ignore_errors=True)

    # -- drivers --------------------------------------------------------

    def make_nfs_driver(self, sparsed=False):
        shares = os.path.join(self.tmp, 'nfs_shares')
        with open(shares, 'w') as f:
            f.write('%s\n' % self.nfs_share)
        group = 'nfs-bench-%s' % ('thin' if sparsed else 'thick')
        config = conf.Configuration(volume_driver.volume_opts,
                                    config_group=group)
        config.append_config_values(nfs.nfs_opts)
        config.append_config_values(remotefs.nas_opts)
        config.append_config_values(remotefs.volume_opts)
        settings = dict(nfs_shares_config=shares,
                        nfs_mount_point_base=os.path.join(self.mount_base,
                                                          'nfs'),
                        nfs_sparsed_volumes=sparsed,
                        nfs_qcow2_volumes=False,
                        nfs_snapshot_support=True,
                        nas_secure_file_operations='false',
                        nas_secure_file_permissions='false',
                        volume_backend_name='nfs')
        for name, value in settings.items():
            self.override_config(name, value, group=group)
        nfs_driver = nfs.NfsDriver(configuration=config, db=db,
                                   host='node1@nfs')
        nfs_driver.do_setup(self.ctxt)
        nfs_driver.check_for_setup_error()
        nfs_driver._ensure_shares_mounted()
        return nfs_driver

    def nfs_host(self):
        return 'node1@nfs#%s' % self.nfs_share

    def new_volume(self, drv, size, type_name='thin', host=None):
        """A volume row ready for drv.create_volume (not created)."""
        if host is None:
            host = (self.nfs_host() if isinstance(drv, nfs.NfsDriver)
                    else self.pool_host())
        volume = test_utils.create_volume(
            self.ctxt, host=host, size=size,
            volume_type_id=self.types[type_name].id, status='creating')
        return objects.Volume.get_by_id(self.ctxt, volume.id)

    def create(self, drv, volume):
        volume.update(drv.create_volume(volume) or {})
        volume.status = 'available'
        volume.save()
        return volume

    def drop(self, drv, volume):
        drv.delete_volume(volume)
        volume.destroy()

    def samples(self, func, setup=None, teardown=None, rss=None):
        """`runs` timings of func(arg), arg from setup, then teardown.

        With rss (a dict), the process's RSS before each run and its peak
        during it are appended to rss['base_mib'] and rss['peak_mib'].
        """
        out = []
        for _ in range(self.params['runs']):
            arg = setup() if setup else None
            out.append(self.sample(func, arg, rss))
            if teardown:
                teardown(arg)
        return out

    @staticmethod
    def sample(func, arg=None, rss=None):
        """One timing of func(arg); with rss, as samples records it."""
        if rss is not None:
            reset_peak_rss()
            base = rss_kib('VmRSS')
        seconds = timed(lambda: func(arg))
        if rss is not None:
            rss.setdefault('base_mib', []).append(base // 1024)
            rss.setdefault('peak_mib', []).append(rss_kib('VmHWM') // 1024)
        return seconds

    def profile(self, key, func, setup=None, teardown=None):
        """One more untimed run of func under cProfile, for the report."""
        if not self.params['profile']:
            return
        arg = setup() if setup else None
        prof = cProfile.Profile()
        prof.runcall(func, arg)
        if teardown:
            teardown(arg)
        self.results.setdefault('profiles', {})[key] = top_functions(prof)

    def record(self, key, seconds, **extra):
        self.results.setdefault('ops', {})[key] = dict(samples=seconds,
                                                       **extra)

    # -- the table ---------------------------------------------------------

    def test_bench(self):
        # eventlet warns at each fork of processutils: noise, not results.
        warnings.simplefilter('ignore', DeprecationWarning)
        steps = [self.bench_thick, self.bench_stats, self.bench_copies,
                 self.bench_backup, self.bench_incremental,
                 self.bench_incremental_snapshots,
                 self.bench_incremental_snapshots_dense,
                 self.bench_active_active]
        only = self.params.get('only')
        for step in steps:
            if only and step.__name__[6:] not in only:
                continue
            start = time.monotonic()
            step()
            self.results.setdefault('step_seconds', {})[step.__name__] = (
                round(time.monotonic() - start, 1))
            self._save()

    def _save(self):
        with open(os.environ['BENCH_OUT'], 'w') as f:
            json.dump(self.results, f, indent=1)

    def bench_thick(self):
        size = self.params['thick_gib']
        nfs_thick = self.nfs

        def lustre_setup():
            return self.new_volume(self.lustre, size, 'thick')

        def nfs_setup():
            return self.new_volume(nfs_thick, size, 'thick')

        path = os.path.join(self.nfs_export, 'bare-fallocate')
        self.record('thick.fallocate', self.samples(
            lambda _: run('fallocate', '-l', '%dG' % size, path),
            teardown=lambda _: os.unlink(path)), size_gib=size)
        self.record('thick.lustre', self.samples(
            lambda v: self.create(self.lustre, v), lustre_setup,
            lambda v: self.drop(self.lustre, v)), size_gib=size)
        self.profile('thick.lustre', lambda v: self.create(self.lustre, v),
                     lustre_setup, lambda v: self.drop(self.lustre, v))
        self.record('thick.nfs', self.samples(
            lambda v: self.create(nfs_thick, v), nfs_setup,
            lambda v: self.drop(nfs_thick, v)), size_gib=size)

    # stats ------------------------------------------------------------------

    def _populate(self, count, start):
        """Add sparse volume files on both shares, and their DB rows."""
        lustre_dir = os.path.join(self.emulator.backing_dir(self.fsname),
                                  'cinder')
        rows = []
        for i in range(start, count):
            vid = str(uuid.uuid4())
            for directory, host in ((lustre_dir, self.pool_host()),
                                    (self.nfs_export, self.nfs_host())):
                with open(os.path.join(directory, 'volume-' + vid), 'wb') as f:
                    f.truncate(GiB)
                rows.append(dict(id=str(uuid.uuid4()), host=host, size=1,
                                 status='available', deleted=False,
                                 project_id='bench', user_id='bench',
                                 volume_type_id=self.types['thin'].id))
        engine = db_api.get_engine()
        with engine.begin() as connection:
            connection.execute(models.Volume.__table__.insert(), rows)

    def bench_stats(self):
        done = 0
        for count in self.params['stats_counts']:
            self._populate(count, done)
            done = count
            # One untimed refresh each: the page cache (du) and the
            # emulator's usage cache see the new files once, as a
            # service refreshing every minute would have.
            self.lustre._update_volume_stats()
            self.nfs._update_volume_stats()
            self.record('stats.lustre.%d' % count, self.samples(
                lambda _: self.lustre._update_volume_stats()), volumes=count)
            self.record('stats.nfs.%d' % count, self.samples(
                lambda _: self.nfs._update_volume_stats()), volumes=count)
        self.profile('stats.lustre',
                     lambda _: self.lustre._update_volume_stats())
        with db_api.get_engine().begin() as connection:
            connection.execute(models.Volume.__table__.delete().where(
                models.Volume.project_id == 'bench'))
        for directory in (os.path.join(self.emulator.backing_dir(
                self.fsname), 'cinder'), self.nfs_export):
            for name in os.listdir(directory):
                if name.startswith('volume-'):
                    os.unlink(os.path.join(directory, name))

    # clone and volume-from-snapshot -----------------------------------------

    def _source(self, drv, written_mib=None):
        size = self.params['copy_gib']
        volume = self.create(drv, self.new_volume(drv, size))
        fill(drv.local_path(volume), size * GiB,
             (written_mib or self.params['copy_written_mib']) * MiB)
        return volume

    def bench_copies(self):
        extra = dict(size_gib=self.params['copy_gib'],
                     written_mib=self.params['copy_written_mib'])
        for name, drv in (('lustre', self.lustre), ('nfs', self.nfs)):
            src = self._source(drv)
            clone = self._clone_func(drv, src)
            self.record('clone.%s' % name, self.samples(
                clone, lambda: self.new_volume(drv, src.size),
                lambda v: self.drop(drv, v)), **extra)
            if name == 'lustre':
                self.profile('clone.lustre', clone,
                             lambda: self.new_volume(drv, src.size),
                             lambda v: self.drop(drv, v))
                self._bare_cp(drv.local_path(src), extra)
            snap = self.make_snapshot(drv, src)
            self.record('from_snapshot.%s' % name, self.samples(
                lambda v: self.create_from(drv, v, snap),
                lambda: self.new_volume(drv, src.size),
                lambda v: self.drop(drv, v)), **extra)
            drv.delete_snapshot(snap)
            snap.destroy()
            self.drop(drv, src)

    def _clone_func(self, drv, src):
        def clone(volume):
            volume.update(drv.create_cloned_volume(volume, src) or {})
            volume.save()
        return clone

    def create_from(self, drv, volume, snap):
        volume.update(drv.create_volume_from_snapshot(volume, snap) or {})
        volume.save()

    def _bare_cp(self, src_path, extra):
        dest = os.path.join(os.path.dirname(src_path), 'bare-cp')
        self.record('clone.cp', self.samples(
            lambda _: run('cp', '--sparse=always', src_path, dest),
            teardown=lambda _: os.unlink(dest)), **extra)

    # backup and restore ----------------------------------------------------

    def _backup_driver(self, name):
        if name == 'lustre':
            self.override_config('backup_lustre_share', '%s:/%s/cinder' % (
                MGS, self.backup_fs))
            self.override_config('backup_lustre_mount_point_base',
                                 os.path.join(self.mount_base, 'backup'))
            self.override_config('backup_lustre_stripe_count', 2)
            return lustre_backup.LustreBackupDriver(self.ctxt)
        export = os.path.join(self.emulator.backing_dir(self.backup_fs),
                              'nfs')
        self.override_config('backup_share', '127.0.0.1:%s' % export)
        self.override_config('backup_mount_point_base',
                             os.path.join(self.mount_base, 'nfs-backup'))
        return nfs_backup.NFSBackupDriver(self.ctxt)

    def _new_backup(self, volume, parent=None):
        backup = test_utils.create_backup(
            self.ctxt, volume_id=volume.id, container='bench-%s' % volume.id,
            parent_id=parent.id if parent else None,
            status=fields.BackupStatus.CREATING)
        return objects.Backup.get_by_id(self.ctxt, backup.id)

    def _do_backup(self, name, volume, path, parent=None):
        backup = self._new_backup(volume, parent)
        # As the backup manager does.
        with open(path, 'rb') as f:
            self._backup_driver(name).backup(backup, utils.tpool_wrap(f))
        backup = objects.Backup.get_by_id(self.ctxt, backup.id)
        backup.status = fields.BackupStatus.AVAILABLE
        backup.save()
        return backup

    def _do_restore(self, name, backup, volume, path):
        # The chunked driver cancels a restore whose backup is not
        # 'restoring'.
        backup.status = fields.BackupStatus.RESTORING
        backup.save()
        # As the backup manager does: 'wb' empties the volume's file.
        with open(path, 'wb') as f:
            self._backup_driver(name).restore(backup, volume.id,
                                              utils.tpool_wrap(f), True)
        backup.status = fields.BackupStatus.AVAILABLE
        backup.save()

    def _forget_backup(self, name, backup):
        self._backup_driver(name).delete_backup(backup)
        backup.destroy()

    def bench_backup(self):
        src = self._source(self.lustre)
        path = self.lustre.local_path(src)
        target = self.create(self.lustre, self.new_volume(self.lustre,
                                                          src.size))
        target_path = self.lustre.local_path(target)
        written = self.params['copy_written_mib'] * MiB
        big = self._backup_volumes(self.params['big_gib'], written)
        big_src, _big_path, big_target, _big_target_path = big
        extra = dict(size_gib=src.size, written_mib=written // MiB)
        # --quick leaves zstd out: backups are most of a quick run's time.
        for algo in self.params.get('compressions', ('none', 'zstd')):
            self.override_config('backup_compression_algorithm', algo)
            rows = []
            for name in ('lustre', 'nfs'):
                rows.append(self._driver_row(name, algo, src, path, target,
                                             target_path))
                if algo == 'none':
                    # Each driver's big volume right after its small one:
                    # the ratio of the two is that of neighbours.
                    rows.append(self._driver_row(
                        name, algo, *big, case='big',
                        extra=dict(size_gib=big_src.size,
                                   written_mib=written // MiB)))
            if algo == 'none':
                rows += [self._dd_row(path, target_path),
                         self._dd_written_row(target_path)]
            self._backup_rounds(rows, extra)
            if algo == 'none':
                self.profile('backup.lustre.none', rows[0].backup)
                self.profile('restore.lustre.none', rows[0].restore)
            self._forget(rows)
        self._backup_cpu(path)
        self.drop(self.lustre, target)
        self.drop(self.lustre, src)
        self.drop(self.lustre, big_target)
        self.drop(self.lustre, big_src)
        self.override_config('backup_compression_algorithm', 'none')
        self._backup_case('dense', self.params['copy_gib'])

    def _backup_volumes(self, size, written):
        """(source, its path, target, its path): written bytes in size."""
        src = self.create(self.lustre, self.new_volume(self.lustre, size))
        path = self.lustre.local_path(src)
        fill(path, size * GiB, written)
        target = self.create(self.lustre, self.new_volume(self.lustre,
                                                          size))
        return src, path, target, self.lustre.local_path(target)

    def _backup_case(self, case, size):
        """Backups and restores (no compression) of a fully written volume.

        The drivers and dd of the volume, in turns.
        """
        src, path, target, target_path = self._backup_volumes(size,
                                                              size * GiB)
        rows = [self._driver_row(name, 'none', src, path, target,
                                 target_path, case)
                for name in ('lustre', 'nfs')]
        rows.append(self._dd_row(path, target_path, case))
        self._backup_rounds(rows, dict(size_gib=size,
                                       written_mib=size * GiB // MiB))
        self._forget(rows)
        self.drop(self.lustre, target)
        self.drop(self.lustre, src)

    def _backup_rounds(self, rows, extra):
        """Time the backup and restore of each row, the rows in turns.

        Run r of every row comes before run r + 1 of any, backups before
        restores: this VM's memory and page cache change over a run (a
        write into memory the VM has handed back costs several times the
        same write a moment later, see the README's Limits), and each
        driver then meets the states its baseline meets.
        """
        seconds = collections.defaultdict(list)
        rss = collections.defaultdict(dict)
        for _ in range(self.params['runs']):
            for op in ('backup', 'restore'):
                for row in rows:
                    seconds[op, row.key].append(self.sample(
                        getattr(row, op),
                        rss=rss[op, row.key] if row.rss else None))
        for op in ('backup', 'restore'):
            for row in rows:
                self.record('%s.%s' % (op, row.key), seconds[op, row.key],
                            **self._rss_extra(rss[op, row.key]),
                            **(row.extra or extra))

    @staticmethod
    def _rss_extra(rss):
        if not rss:
            return {}
        return dict(rss_base_mib=rss['base_mib'],
                    rss_peak_mib=rss['peak_mib'])

    @staticmethod
    def _forget(rows):
        for row in rows:
            row.forget()

    def _driver_row(self, name, algo, src, path, target, target_path,
                    case=None, extra=None):
        """Backups of src by a backup driver, restores of the first."""
        key = '%s.%s' % (name, algo)
        if case:
            key = '%s.%s' % (case, key)
        kept = []

        def forget():
            for one in kept:
                self._forget_backup(name, one)

        return BackupRow(
            key,
            backup=lambda _: kept.append(self._do_backup(name, src, path)),
            restore=lambda _: self._do_restore(name, kept[0], target,
                                               target_path),
            forget=forget, rss=True, extra=extra)

    def _dd_row(self, path, target_path, case=None):
        """dd of the whole volume file to the backup file system and back."""
        return self._bare_row('%s.dd' % case if case else 'dd', path,
                              target_path)

    def _dd_written_row(self, target_path):
        """dd of the bytes written in the volume, as one dense file.

        What a backup of a sparse volume cannot avoid: reading the data
        and writing it to the backup file system (and back on restore).
        """
        written = self.params['copy_written_mib'] * MiB
        dense = os.path.join(os.path.dirname(target_path), 'bare-written')
        with open(dense, 'wb') as f:
            f.truncate(written)
        fill(dense, written, written)
        return self._bare_row('dd_written', dense, target_path,
                              source_is_ours=True)

    def _bare_row(self, key, path, target_path, source_is_ours=False):
        """dd of path to the backup file system, and of that copy back.

        Each backup writes a file of its own and keeps it until forget,
        as each backup of a driver keeps its objects: on this VM, writing
        into new pages costs more than into pages a truncated file freed
        a moment ago (see the README's Limits). The restore writes into
        an emptied file, as a restore does (the backup manager opens the
        volume with 'wb'), not over allocated blocks. forget also removes
        path when the row made it (source_is_ours).
        """
        dest = os.path.join(self.emulator.backing_dir(self.backup_fs),
                            'cinder', 'bare-' + key)
        dd = ('dd', 'bs=1M', 'status=none')
        copies = []

        def backup(_):
            copies.append('%s-%d' % (dest, len(copies)))
            run(*dd, 'if=' + path, 'of=' + copies[-1])

        def forget():
            for copy in copies + ([path] if source_is_ours else []):
                os.unlink(copy)

        return BackupRow(
            key, backup=backup,
            restore=lambda _: run(*dd, 'if=' + copies[0],
                                  'of=' + target_path),
            forget=forget)

    def _backup_cpu(self, path):
        """CPU time of upstream's chunked driver per GiB, without I/O.

        Every backup hashes each byte twice (SHA-256 per
        backup_sha_block_size_bytes for incrementals, MD5 per object) and
        every restore onto a new volume zero-checks each MiB; measured on
        the first GiB of the volume the backups read.
        """
        with open(path, 'rb') as f:
            data = f.read(GiB)
        view = memoryview(data)
        block = cfg.CONF.backup_sha_block_size_bytes
        costs = {
            'md5': lambda _: hashlib.md5(data, usedforsecurity=False),
            'sha256': lambda _: [hashlib.sha256(view[i:i + block]).digest()
                                 for i in range(0, len(data), block)],
            'zero_check': lambda _: [volume_utils.is_all_zero(
                view[i:i + MiB]) for i in range(0, len(data), MiB)],
            # As the chunked driver patched for issue 21 checks.
            'zero_check_bytes': lambda _: [chunkeddriver._is_zero(
                bytes(view[i:i + MiB])) for i in range(0, len(data), MiB)],
        }
        for name, func in costs.items():
            self.record('backup_cpu.%s' % name, self.samples(func),
                        bytes=len(data))

    # incremental -----------------------------------------------------------

    def bench_incremental(self):
        """Full backup, 5% of the volume changed, incremental backup.

        Both drivers back up each state of the volume, one after the other.
        """
        self.override_config('backup_compression_algorithm', 'none')
        src = self._source(self.lustre)
        path = self.lustre.local_path(src)
        size = src.size * GiB
        changed = size * self.params['changed_percent'] // 100
        names = ('lustre', 'nfs')
        repos = {name: os.path.join(self.emulator.backing_dir(
            self.backup_fs), 'cinder' if name == 'lustre' else 'nfs')
            for name in names}
        results = {name: ([], [], [], []) for name in names}
        for i in range(self.params['runs']):
            fulls = {}
            for name in names:
                full_s, _incr_s, full_b, _incr_b = results[name]
                before = tree_bytes(repos[name])
                box = []
                full_s.append(timed(lambda: box.append(
                    self._do_backup(name, src, path))))
                full_b.append(tree_bytes(repos[name]) - before)
                fulls[name] = box[0]
            scatter(path, size, changed, seed=100 + i)
            os.sync()
            for name in names:
                _full_s, incr_s, _full_b, incr_b = results[name]
                before = tree_bytes(repos[name])
                box = []
                incr_s.append(timed(lambda: box.append(self._do_backup(
                    name, src, path, parent=fulls[name]))))
                incr_b.append(tree_bytes(repos[name]) - before)
                self._forget_backup(name, box[0])
                self._forget_backup(name, fulls[name])
        extra = dict(size_gib=src.size, changed_mib=changed // MiB,
                     written_mib=self.params['copy_written_mib'])
        for name in names:
            full_s, incr_s, full_b, incr_b = results[name]
            prefix = 'incremental.' if name == 'lustre' else 'incremental.nfs.'
            self.record(prefix + 'full', full_s, stored_bytes=full_b, **extra)
            self.record(prefix + 'incr', incr_s, stored_bytes=incr_b, **extra)
        self.drop(self.lustre, src)

    def bench_incremental_snapshots(self):
        """Full backup from S1, 5% written, incremental backup from S2.

        As a user backs up snapshots: each backup reads the temporary raw
        copy the volume driver makes of the snapshot (get_backup_device).
        Timed twice: the backup driver alone on that copy, and with the
        copy made and deleted. The Lustre driver reads only the clusters
        of the overlays between S1 and S2; the NFS driver reads all.
        """
        self._incremental_snapshots('incremental_snap',
                                    self.params['copy_written_mib'])

    def bench_incremental_snapshots_dense(self):
        """The same on a volume written whole.

        5% of the volume of 1 GiB written in 4 GiB is a fifth of the data
        a full backup stores: its incremental backups cannot take less
        than a fifth of the time of the full one. Written whole, the
        changes are a twentieth of the data.
        """
        self._incremental_snapshots('incremental_snap_dense',
                                    self.params['copy_gib'] * 1024)

    def _incremental_snapshots(self, prefix, written_mib):
        self.override_config('backup_compression_algorithm', 'none')
        names = ('lustre', 'nfs')
        drivers = {'lustre': self.lustre, 'nfs': self.nfs}
        results = {name: {key: [] for key in (
            'full', 'incr', 'full_total', 'incr_total')} for name in names}
        for i in range(self.params['runs']):
            for name in names:
                drv = drivers[name]
                src = self._source(drv, written_mib)
                size = src.size * GiB
                changed = size * self.params['changed_percent'] // 100
                first = self.make_snapshot(drv, src)
                full = self._snapshot_backup(name, drv, src, first, None,
                                             results[name], 'full')
                self._guest_scatter(drv, src, size, changed, 200 + i)
                second = self.make_snapshot(drv, src)
                incr = self._snapshot_backup(name, drv, src, second, full,
                                             results[name], 'incr')
                self._forget_backup(name, incr)
                self._forget_backup(name, full)
                for snapshot in (second, first):
                    drv.delete_snapshot(snapshot)
                    snapshot.destroy()
                self.drop(drv, objects.Volume.get_by_id(self.ctxt, src.id))
        extra = dict(size_gib=self.params['copy_gib'],
                     changed_mib=changed // MiB, written_mib=written_mib)
        for name in names:
            for key, samples in results[name].items():
                self.record('%s.%s.%s' % (prefix, name, key), samples,
                            **extra)

    def _snapshot_backup(self, name, drv, volume, snapshot, parent, results,
                         kind):
        """Back a snapshot up as the backup manager does; time it."""
        backup = test_utils.create_backup(
            self.ctxt, volume_id=volume.id,
            container='bench-%s' % volume.id, snapshot_id=snapshot.id,
            parent_id=parent.id if parent else None,
            status=fields.BackupStatus.CREATING)
        backup = objects.Backup.get_by_id(self.ctxt, backup.id)
        box = []

        def copy():
            box.append(drv.get_backup_device(self.ctxt, backup)[0])

        def back_up():
            with open(drv.local_path(box[0]), 'rb') as f:
                self._backup_driver(name).backup(backup, utils.tpool_wrap(f))

        def delete():
            drv.delete_volume(box[0])
            box[0].destroy()
        copy_s = timed(copy)
        backup_s = timed(back_up)
        delete_s = timed(delete)
        results[kind].append(backup_s)
        results[kind + '_total'].append(copy_s + backup_s + delete_s)
        backup = objects.Backup.get_by_id(self.ctxt, backup.id)
        backup.status = fields.BackupStatus.AVAILABLE
        backup.save()
        return backup

    @staticmethod
    def _guest_scatter(drv, volume, size, changed, seed):
        """What scatter() does, written by a guest into the active image."""
        rng = random.Random(seed)
        active = drv._local_path_active_image(
            objects.Volume.get_by_id(context.get_admin_context(), volume.id))
        commands = []
        for block in rng.sample(range(size // MiB), max(1, changed // MiB)):
            commands += ['-c', 'write -P 0x%x %d 1M' % (
                rng.randrange(1, 256), block * MiB)]
        run('qemu-io', '-f', 'qcow2', *commands, active)

    # active/active ---------------------------------------------------------

    def bench_active_active(self):
        count = self.params['aa_ops']
        cluster = 'bench-cluster@lustre'
        drivers = [self.make_driver(host='node%d@lustre' % i,
                                    cluster_name=cluster,
                                    lustre_qcow2_volumes='false')
                   for i in (1, 2)]
        for n in (1, 2):
            errors = []
            self.record('aa.%d' % n, self.samples(
                lambda _: self._churn(drivers[:n], count, errors)),
                ops=count, errors=errors)

    def _churn(self, drivers, count, errors):
        """count create+delete at once; failures are counted, not fatal."""
        volumes = [self.new_volume(drivers[0], 1) for _ in range(count)]

        def one(i):
            drv = drivers[i % len(drivers)]
            try:
                self.create(drv, volumes[i])
                self.drop(drv, volumes[i])
            except Exception as exc:
                errors.append(str(exc).splitlines()[-1][:200])
                # A create that failed before choosing a share left none.
                if (volumes[i].provider_location and
                        os.path.lexists(drv.local_path(volumes[i]))):
                    os.unlink(drv.local_path(volumes[i]))

        with concurrent.futures.ThreadPoolExecutor(count) as pool:
            list(pool.map(one, range(count)))
