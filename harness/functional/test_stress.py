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

"""Two cinder-volume services of one A/A cluster hammering one share.

The services are two LustreDriver instances of the cluster, each with its
own tooz coordinator on an etcd of the test's own (as the stack's cluster
takes Cinder's locks on etcd), each with several threads that create,
snapshot, clone, extend, write, back up and delete volumes and snapshots
on the same share for a bounded time. The threads follow Cinder's state
machine (what the API would refuse on a busy volume is not attempted), so
that any error is the driver's.

Why one process: Cinder's test database is an in-memory SQLite that only
this process sees. Each service still takes its locks through a
coordinator (an etcd session and lease) of its own, so the locks are
exactly as distributed as between two hosts; the file system and qemu-img
are shared as they are between two hosts of a cluster.

At the end every live volume's data is read back through its chain (each
write's pattern, checked by qemu-io), each .info file names exactly the
chain on the share, and the share holds exactly the live volumes' files.
The figures are written to stderr and to harness/results/stress.json.

LUSTRE_STRESS_SECONDS (default 30) and LUSTRE_STRESS_THREADS (per
service, default 2) size the run.
"""

import collections
import json
import os
import random
import sys
import threading
import time

from base import ETCD
from base import Etcd
from base import FunctionalTestCase
from base import HARNESS
from base import MGS
from base import MiB
from base import run
import fixtures
from testtools import content

from cinder.backup.drivers import lustre as lustre_backup
from cinder import context
from cinder import coordination
from cinder import objects
from cinder.objects import fields
from cinder.tests.unit import utils as test_utils


class Service(object):
    """One cinder-volume of the cluster: its driver and its coordinator."""

    def __init__(self, name, driver):
        self.name = name
        self.driver = driver
        self.coordinator = coordination.Coordinator(agent_id=name,
                                                    prefix='cinder-')
        self.coordinator.start()

    def stop(self):
        self.coordinator.stop()


class Record(object):
    """What the test knows of a volume: what a guest must read back."""

    def __init__(self, volume_id, writes=()):
        self.id = volume_id
        self.writes = dict(writes)   # MiB offset -> pattern byte
        self.snapshots = []
        self.users = 0               # operations that only read it
        self.exclusive = False       # one that changes or deletes it


class StressTestCase(FunctionalTestCase):

    def setUp(self):
        super().setUp()
        if not os.path.exists(ETCD):
            # .ci/run installs etcd-server; a developer's machine may not
            # have it. Said loudly: this is not coverage.
            self.skipTest('%s is missing (apt-get install etcd-server): '
                          'THE CONCURRENCY STRESS TEST DID NOT RUN' % ETCD)
        self.seconds = float(os.environ.get('LUSTRE_STRESS_SECONDS', '30'))
        self.threads = int(os.environ.get('LUSTRE_STRESS_THREADS', '2'))
        etcd = Etcd(self.tmp)
        self.addCleanup(etcd.stop)
        self.override_config('backend_url', etcd.url, group='coordination')
        self.services = []
        for i in (1, 2):
            driver = self.make_driver(host='node%d@lustre' % i,
                                      cluster_name='cluster@lustre')
            service = Service('node%d' % i, driver)
            self.addCleanup(service.stop)
            self.services.append(service)
        # Every lock a thread takes goes through its service's own
        # coordinator (the decorators hold the global one).
        self.local = threading.local()
        self.useFixture(fixtures.MockPatchObject(
            coordination.COORDINATOR, 'get_lock',
            side_effect=lambda name:
                self.local.service.coordinator.get_lock(name)))
        backup_fs = self.add_fs(osts=2, ost_size='8G')
        self.override_config('backup_lustre_share', '%s:/%s' % (MGS,
                                                                backup_fs))
        self.override_config('backup_lustre_mount_point_base',
                             os.path.join(self.mount_base, 'backup'))
        self.override_config('backup_compression_algorithm', 'none')
        self.thin = self.make_volume_type('thin',
                                          **{'provisioning:type': 'thin'})
        self.volumes = {}
        self.book = threading.Lock()
        self.done = collections.Counter()
        self.errors = []

    # -- bookkeeping: Cinder's state machine, as the API enforces it -----

    def _take(self, exclusive):
        """A random live volume no conflicting operation holds, or None."""
        with self.book:
            free = [r for r in self.volumes.values() if not r.exclusive and
                    (not exclusive or not r.users)]
            if not free:
                return None
            record = random.choice(free)
            if exclusive:
                record.exclusive = True
            else:
                record.users += 1
            return record

    def _give(self, record, exclusive):
        with self.book:
            if exclusive:
                record.exclusive = False
            else:
                record.users -= 1

    # -- the operations ----------------------------------------------------

    def _volume(self, ctxt, record):
        return objects.Volume.get_by_id(ctxt, record.id)

    def _write(self, driver, ctxt, volume, record, offset, byte):
        active = driver._chain(volume).active
        run('qemu-io', '-f', active.fmt, '-c',
            'write -P %d %d %d' % (byte, offset * MiB, MiB), active.path)
        record.writes[offset] = byte

    def op_create(self, driver, ctxt):
        volume = test_utils.create_volume(
            ctxt, host=self.pool_host(), size=1, volume_type_id=self.thin.id,
            status='creating')
        volume.update(driver.create_volume(volume))
        volume.status = 'available'
        volume.save()
        record = Record(volume.id)
        self._write(driver, ctxt, volume, record, random.randrange(1024),
                    random.randrange(1, 256))
        with self.book:
            self.volumes[record.id] = record

    def op_snapshot(self, driver, ctxt, record):
        snapshot = self.make_snapshot(driver, self._volume(ctxt, record),
                                      ctxt)
        with self.book:
            record.snapshots.append((snapshot.id, dict(record.writes)))

    def op_clone(self, driver, ctxt, record):
        source = self._volume(ctxt, record)
        clone = test_utils.create_volume(
            ctxt, host=self.pool_host(), size=source.size,
            volume_type_id=self.thin.id, status='creating')
        clone.update(driver.create_cloned_volume(clone, source))
        clone.status = 'available'
        clone.save()
        with self.book:
            self.volumes[clone.id] = Record(clone.id, record.writes)

    def op_backup(self, driver, ctxt, record):
        volume = self._volume(ctxt, record)
        backup = test_utils.create_backup(
            ctxt, volume_id=volume.id, container='c-%s' % volume.id,
            status=fields.BackupStatus.CREATING)
        device, _is_snapshot = driver.get_backup_device(ctxt, backup)
        try:
            with open(driver.local_path(device), 'rb') as f:
                lustre_backup.LustreBackupDriver(ctxt).backup(backup, f)
        finally:
            if device.id != volume.id:
                driver.delete_volume(device)
                device.destroy()
        backup = objects.Backup.get_by_id(ctxt, backup.id)
        backup.status = fields.BackupStatus.AVAILABLE
        backup.save()

    def op_extend(self, driver, ctxt, record):
        volume = self._volume(ctxt, record)
        if volume.size >= 3:
            return False
        driver.extend_volume(volume, volume.size + 1)
        volume.size += 1
        volume.save()

    def op_write(self, driver, ctxt, record):
        volume = self._volume(ctxt, record)
        self._write(driver, ctxt, volume, record, random.randrange(1024),
                    random.randrange(1, 256))

    def op_delete_snapshot(self, driver, ctxt, record):
        if not record.snapshots:
            return False
        snapshot_id, _writes = record.snapshots.pop(
            random.randrange(len(record.snapshots)))
        snapshot = objects.Snapshot.get_by_id(ctxt, snapshot_id)
        driver.delete_snapshot(snapshot)
        snapshot.destroy()

    def op_delete(self, driver, ctxt, record):
        volume = self._volume(ctxt, record)
        for snapshot_id, _writes in record.snapshots:
            driver.delete_snapshot(objects.Snapshot.get_by_id(ctxt,
                                                              snapshot_id))
        driver.delete_volume(volume)
        volume.destroy()
        with self.book:
            del self.volumes[record.id]

    # Shared operations only read the volume; exclusive ones change it.
    SHARED = ('snapshot', 'clone', 'backup')
    EXCLUSIVE = ('extend', 'write', 'delete_snapshot', 'delete')

    KINDS = ('create',) + SHARED + EXCLUSIVE

    def _next_kind(self):
        """A random kind, one not done yet first; backups (slow) less."""
        missing = [kind for kind in self.KINDS if not self.done[kind]]
        if missing and random.random() < 0.5:
            return random.choice(missing)
        return random.choice(['create', 'snapshot', 'clone', 'extend',
                              'write', 'write', 'delete_snapshot',
                              'delete', 'snapshot', 'clone', 'backup'])

    def _worker(self, service, deadline):
        self.local.service = service
        ctxt = context.get_admin_context()
        # Past the deadline, only until every kind has run (on a slow
        # machine), and never more than three times as long.
        hard_deadline = deadline + 2 * self.seconds
        while time.monotonic() < deadline or (
                time.monotonic() < hard_deadline and
                not all(self.done[kind] for kind in self.KINDS)):
            kind = self._next_kind()
            if kind == 'create' or len(self.volumes) < 2:
                kind = 'create' if len(self.volumes) < 8 else 'delete'
            try:
                if kind == 'create':
                    self.op_create(service.driver, ctxt)
                    self.done[kind] += 1
                    continue
                exclusive = kind in self.EXCLUSIVE
                record = self._take(exclusive)
                if record is None:
                    time.sleep(0.1)
                    continue
                try:
                    if getattr(self, 'op_' + kind)(
                            service.driver, ctxt, record) is not False:
                        self.done[kind] += 1
                finally:
                    if kind != 'delete' or record.id in self.volumes:
                        self._give(record, exclusive)
            except Exception as exc:  # counted, reported and failed below
                self.errors.append('%s %s: %r' % (service.name, kind, exc))

    # -- checks ------------------------------------------------------------

    def _check(self, driver, record):
        """Problems with a live volume's data, chain and .info file."""
        problems = []
        volume = objects.Volume.get_by_id(self.ctxt, record.id)
        active = driver._chain(volume).active
        for offset, byte in sorted(record.writes.items()):
            out = run('qemu-io', '-f', active.fmt, '-r', '-c',
                      'read -P %d %d %d' % (byte, offset * MiB, MiB),
                      active.path)
            if 'verification failed' in out:
                problems.append('%s: bad data at %d MiB' % (record.id,
                                                            offset))
        virtual_size = driver._reader.header(active).virtual_size
        if virtual_size != volume.size * 1024 * MiB:
            problems.append('%s: %d bytes, not %dG' % (
                record.id, virtual_size, volume.size))
        # The chain as qemu-img follows it, from the images' own headers.
        chain = json.loads(run('qemu-img', 'info', '--force-share', '-f',
                               active.fmt, '--backing-chain',
                               '--output=json', active.path))
        names = {os.path.basename(image['filename']) for image in chain}
        snap_info = driver._read_info_file(
            driver._local_path_volume_info(volume), empty_if_missing=True)
        if names != set(snap_info.values()) | {volume.name}:
            problems.append('%s: chain %s, .info %s' % (
                record.id, sorted(names), snap_info))
        if set(snap_info) - {'active'} != {s for s, _w in record.snapshots}:
            problems.append('%s: .info snapshots %s' % (record.id,
                                                        sorted(snap_info)))
        return problems

    def test_two_services_hammer_one_share(self):
        deadline = time.monotonic() + self.seconds
        threads = [threading.Thread(target=self._worker,
                                    args=(service, deadline))
                   for service in self.services
                   for _i in range(self.threads)]
        started = time.monotonic()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        elapsed = time.monotonic() - started
        self.local.service = self.services[0]
        driver = self.services[0].driver
        problems = []
        expected = set()
        for record in self.volumes.values():
            problems += self._check(driver, record)
            volume = objects.Volume.get_by_id(self.ctxt, record.id)
            expected.update(os.path.basename(path)
                            for path in driver._volume_files(volume))
        on_share = set(self.share_files(driver))
        leaked = sorted(on_share - expected)
        missing = sorted(expected - on_share)
        figures = {
            'seconds': round(elapsed, 1),
            'services': len(self.services),
            'threads_per_service': self.threads,
            'operations': dict(sorted(self.done.items())),
            'operations_total': sum(self.done.values()),
            'errors': len(self.errors),
            'error_list': self.errors,
            'corrupt': problems,
            'leaked_files': leaked,
            'missing_files': missing,
            'live_volumes': len(self.volumes),
        }
        self._report(figures)
        self.assertEqual([], self.errors)
        self.assertEqual([], problems)
        self.assertEqual([], leaked)
        self.assertEqual([], missing)
        # Every kind of operation ran.
        for kind in self.KINDS:
            self.assertGreater(self.done[kind], 0, kind)
        # And everything can go: nothing is left.
        for record in list(self.volumes.values()):
            self.op_delete(driver, self.ctxt, record)
        self.assertEqual([], self.share_files(driver))

    def _report(self, figures):
        text = json.dumps(figures, indent=1, sort_keys=True)
        sys.__stderr__.write('\n== stress figures\n%s\n' % text)
        results = os.path.join(HARNESS, 'results')
        os.makedirs(results, exist_ok=True)
        with open(os.path.join(results, 'stress.json'), 'w') as f:
            f.write(text + '\n')
        self.addDetail('stress-figures', content.text_content(text))
