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

"""Faults injected at the edges; the data survives and nothing is left over.

Faults come from the emulator (mount failures, stale mounts), from a file
system full for real (the share's backing directory is a small tmpfs),
from wrappers put first on PATH (qemu-img failing part-way, lfs failing or
missing), from a coordination backend nobody listens to, and from a
simulated death of cinder-volume between two steps of an operation (an
exception no handler of the driver catches, as a kill would leave things;
then a fresh driver carries on). Every test then checks what a guest would
read (qemu-img convert -O raw, hashed), that each .info file parses and
names the right chain, and that the share holds exactly the files of the
volumes that exist.
"""

import hashlib
import json
import os
import shutil
import stat
import textwrap
from unittest import mock

from base import EMULATOR
from base import FunctionalTestCase
from base import GiB
from base import MGS
from base import MiB
from base import run
import fixtures
from oslo_concurrency import processutils as putils
import tooz

from cinder.backup.drivers import lustre as lustre_backup
from cinder import objects
from cinder.objects import fields
from cinder.tests.unit import utils as test_utils
from cinder.volume.drivers import lustre
from cinder.volume.drivers import lustre_client


class Crash(BaseException):
    """cinder-volume dies here: no `except Exception` of the driver runs."""


# A wrapper for a tool, first on PATH. While the file ARMED exists, the
# given subcommand runs for real (if REAL_FIRST), then its output file is
# cut in half and it fails as a dying process would; the fault fires once.
WRAPPER = textwrap.dedent('''\
    #!/bin/sh
    armed="%(armed)s"
    real="%(real)s"
    if [ "$1" = "%(subcommand)s" ] && [ -e "$armed" ]; then
        rm -f "$armed"
        %(action)s
        echo "%(tool)s: injected failure" >&2
        exit 1
    fi
    exec "$real" "$@"
''')


class FaultTestCase(FunctionalTestCase):

    def setUp(self):
        super().setUp()
        self.thin = self.make_volume_type('thin',
                                          **{'provisioning:type': 'thin'})
        self.thick = self.make_volume_type('thick',
                                           **{'provisioning:type': 'thick'})
        self.bin = os.path.join(self.tmp, 'bin')
        os.makedirs(self.bin)

    # -- fault helpers ------------------------------------------------------

    def small_share(self, size):
        """Serve the share from a tmpfs of this size: it really fills up."""
        fsname = self.emulator.add_fs(osts=2, ost_size='4G')
        backing = self.emulator.backing_dir(fsname)
        self.addCleanup(self.emulator.remove_fs, fsname)
        run('mount', '-t', 'tmpfs', '-o', 'size=%s' % size, 'tmpfs',
            backing)
        self.addCleanup(run, 'umount', backing)
        self.addCleanup(self._unmount_all)
        os.makedirs(os.path.join(backing, 'cinder'))
        self.fsname = fsname
        self.share = '%s:/%s/cinder' % (MGS, fsname)

    def wrap(self, tool, subcommand, action='', missing=False):
        """Put a failing wrapper of a tool first on PATH; return its trigger.

        Calling the trigger arms the fault for the next run of subcommand.
        """
        real = shutil.which(tool)
        armed = os.path.join(self.tmp, '%s-%s.armed' % (tool, subcommand))
        path = os.path.join(self.bin, tool)
        with open(path, 'w') as f:
            f.write(WRAPPER % {'armed': armed, 'subcommand': subcommand,
                               'action': action, 'tool': tool,
                               'real': real})
        os.chmod(path, stat.S_IRWXU)
        self.useFixture(fixtures.EnvironmentVariable(
            'PATH', '%s:%s' % (self.bin, os.environ['PATH'])))
        return lambda: open(armed, 'w').close()

    # -- what must hold after every fault -----------------------------------

    def check_volume(self, driver, volume, view, settled=True):
        """The guest's view, the .info file and the chain are consistent.

        Once an operation is over (settled) the .info file names exactly
        the chain; after a death part-way through a snapshot deletion it
        may still name a committed overlay, as long as the file is there.
        """
        volume = objects.Volume.get_by_id(self.ctxt, volume.id)
        info_path = driver._local_path_volume_info(volume)
        if os.path.exists(info_path):
            with open(info_path) as f:
                info = json.load(f)
            self.assertIn('active', info)
            snapshot_ids = {snapshot.id for snapshot in
                            objects.SnapshotList.get_all_for_volume(
                                self.ctxt, volume.id)}
            self.assertLessEqual(set(info) - {'active'}, snapshot_ids)
            # The active image's chain goes down to the base through
            # exactly the files the .info file names.
            chain = json.loads(run(
                'qemu-img', 'info', '--force-share', '--backing-chain',
                '--output=json', driver._local_path_active_image(volume)))
            names = [os.path.basename(image['filename']) for image in chain]
            self.assertEqual(volume.name, names[-1])
            self.assertEqual(info['active'], names[0])
            named = set(info.values()) | {volume.name}
            if settled:
                self.assertEqual(named, set(names))
            else:
                self.assertLessEqual(set(names), named)
                for name in named:
                    self.assertTrue(os.path.exists(os.path.join(
                        driver._local_volume_dir(volume), name)), name)
        self.assertEqual(view, self.digest(driver, volume))

    def assert_share_holds(self, driver, *volumes):
        """Exactly the files of these volumes, and no temporary file."""
        expected = set()
        for volume in volumes:
            volume = objects.Volume.get_by_id(self.ctxt, volume.id)
            expected.update(os.path.basename(path)
                            for path in driver._volume_files(volume))
        self.assertEqual(sorted(expected), self.share_files(driver))

    def _volume_with_data(self, driver, volume_type=None, byte=0x61,
                          length=MiB, size=1):
        volume = self.make_volume(driver, volume_type or self.thin,
                                  size=size)
        self.write(driver, volume, 0, byte, length)
        return volume, self.digest(driver, volume)

    # -- mounting -----------------------------------------------------------

    def test_mount_fails_then_succeeds(self):
        self.emulator.fault('mount-fail', self.fsname, '--count', '2')
        driver = self.make_driver(lustre_mount_attempts=3)
        volume, view = self._volume_with_data(driver)
        self.check_volume(driver, volume, view)
        self.assert_share_holds(driver, volume)

    def test_mount_never_succeeds(self):
        self.emulator.fault('mount-fail', self.fsname, '--count', '100')
        self.addCleanup(self.emulator.fault, 'clear', self.fsname)
        # The service does not start: no share could be mounted.
        self.assertRaises(lustre_client.LustreNoSharesMounted,
                          self.make_driver, lustre_mount_attempts=2)
        self.assertEqual(['cinder'], os.listdir(
            self.emulator.backing_dir(self.fsname)))
        self.assertEqual([], os.listdir(
            self.emulator.backing_dir(self.fsname) + '/cinder'))

    def test_share_goes_stale_between_operations(self):
        driver = self.make_driver()
        volume, view = self._volume_with_data(driver)
        mount_point = driver._get_mount_point_for_share(self.share)
        # Each operation finds the mount stale (the client lost its
        # servers): it mounts the share again and works on the same data.
        # Deleting on a stale mount would otherwise find no .info file
        # and report the snapshot deleted when nothing was.
        self.emulator.fault('stale', mount_point)
        snapshot = self.make_snapshot(driver, volume)
        self.write(driver, volume, 0, 0x62)
        after = self.digest(driver, volume)
        self.assertNotEqual(view, after)
        self.check_volume(driver, volume, after)
        self.emulator.fault('stale', mount_point)
        snapshot = objects.Snapshot.get_by_id(self.ctxt, snapshot.id)
        driver.delete_snapshot(snapshot)
        self.check_volume(driver, volume, after)
        self.assertEqual({'active': volume.name}, driver._read_info_file(
            driver._local_path_volume_info(volume)))
        self.assert_share_holds(driver, volume)

    def test_share_goes_stale_during_an_operation(self):
        driver = self.make_driver()
        volume, view = self._volume_with_data(driver)
        mount_point = driver._get_mount_point_for_share(self.share)
        arm = self.wrap('qemu-img', 'create', action=(
            '%s fault stale %s' % (EMULATOR, mount_point)))
        snapshot = self.snapshot_record(volume)
        arm()
        self.assertRaises(putils.ProcessExecutionError,
                          driver.create_snapshot, snapshot)
        # The next operation mounts the share again: the snapshot in
        # error is deleted, and the volume is as it was.
        driver.delete_snapshot(snapshot)
        self.check_volume(driver, volume, view)
        self.assert_share_holds(driver, volume)

    # -- a full file system -------------------------------------------------

    def test_enospc_creating_thick_volume(self):
        self.small_share('256M')
        driver = self.make_driver()
        volume = test_utils.create_volume(
            self.ctxt, host=self.pool_host(), size=1,
            volume_type_id=self.thick.id, status='creating')
        exc = self.assertRaises(putils.ProcessExecutionError,
                                driver.create_volume, volume)
        self.assertIn('No space left on device', str(exc))
        self.assertEqual([], self.share_files(driver))

    def test_enospc_cloning(self):
        self.small_share('96M')
        driver = self.make_driver()
        source, view = self._volume_with_data(driver, length=40 * MiB)
        snapshot = self._assert_clone_fails(driver, source, view, self.thick,
                                            'No space left on device')
        driver.delete_snapshot(snapshot)
        self.check_volume(driver, source, view)

    def _assert_clone_fails(self, driver, source, view, volume_type,
                            message, arm=lambda: None):
        """A volume from a new snapshot of source fails; source is whole."""
        snapshot = self.make_snapshot(driver, source)
        clone = test_utils.create_volume(
            self.ctxt, host=self.pool_host(), size=1,
            volume_type_id=volume_type.id, status='creating')
        arm()
        exc = self.assertRaises(putils.ProcessExecutionError,
                                driver.create_volume_from_snapshot, clone,
                                snapshot)
        self.assertIn(message, str(exc))
        self.check_volume(driver, source, view)
        # The volume in error is deleted, as its owner would; nothing of
        # it is left, and the source is whole.
        clone.provider_location = source.provider_location
        driver.delete_volume(clone)
        self.assert_share_holds(driver, source)
        return snapshot

    def test_enospc_extending(self):
        self.small_share('1200M')
        driver = self.make_driver()
        volume, view = self._volume_with_data(driver, self.thick)
        # Preallocating the grown thick file fails for want of space: the
        # volume is extended all the same (sparse), its data kept.
        driver.extend_volume(volume, 2)
        volume.size = 2
        volume.save()
        path = driver.local_path(volume)
        self.assertEqual(2 * GiB, os.path.getsize(path))
        self.assertEqual(view, self._first_gib_digest(path))
        self.assert_share_holds(driver, volume)

    def _first_gib_digest(self, path):
        with open(path, 'rb') as f:
            digest = hashlib.sha256()
            for _i in range(GiB // (4 * MiB)):
                digest.update(f.read(4 * MiB))
        return digest.hexdigest()

    def test_enospc_during_backup(self):
        driver = self.make_driver()
        volume, view = self._volume_with_data(driver, self.thick,
                                              length=96 * MiB)
        backup_fs = self.emulator.add_fs(osts=2, ost_size='4G')
        backing = self.emulator.backing_dir(backup_fs)
        self.addCleanup(self.emulator.remove_fs, backup_fs)
        run('mount', '-t', 'tmpfs', '-o', 'size=32M', 'tmpfs', backing)
        self.addCleanup(run, 'umount', backing)
        self.addCleanup(self._unmount_all)
        self.override_config('backup_lustre_share',
                             '%s:/%s' % (MGS, backup_fs))
        self.override_config('backup_lustre_mount_point_base',
                             os.path.join(self.mount_base, 'backup'))
        self.override_config('backup_compression_algorithm', 'none')
        backup = test_utils.create_backup(
            self.ctxt, volume_id=volume.id, container='c-%s' % volume.id,
            status=fields.BackupStatus.CREATING)
        backup_driver = lustre_backup.LustreBackupDriver(self.ctxt)
        with open(driver.local_path(volume), 'rb') as f:
            exc = self.assertRaises(OSError, backup_driver.backup,
                                    backup, f)
        self.assertIn('No space left', str(exc))
        # The backup in error is deleted as the backup manager does: its
        # objects go, and the volume is untouched.
        backup = objects.Backup.get_by_id(self.ctxt, backup.id)
        backup_driver.delete_backup(backup)
        left = [os.path.join(d, n) for d, _s, files in os.walk(backing)
                for n in files]
        self.assertEqual([], left)
        self.check_volume(driver, volume, view)
        self.assert_share_holds(driver, volume)

    # -- qemu-img failing part-way ------------------------------------------

    def test_qemu_img_fails_mid_convert(self):
        # The real convert runs, then the copy is cut in half and the
        # process fails, as one killed part-way through would.
        arm = self.wrap('qemu-img', 'convert', action=(
            '"$real" "$@"; eval dest=\\${$#}; '
            'truncate -s $(( $(stat -c %s "$dest") / 2 )) "$dest"'))
        driver = self.make_driver()
        source, view = self._volume_with_data(driver, length=8 * MiB)
        self._assert_clone_fails(driver, source, view, self.thin,
                                 'injected failure', arm)

    def test_qemu_img_fails_mid_commit(self):
        # The real commit runs, then the process fails before reporting.
        arm = self.wrap('qemu-img', 'commit', action='"$real" "$@"')
        driver = self.make_driver()
        volume, _view = self._volume_with_data(driver)
        snapshot = self.make_snapshot(driver, volume)
        self.write(driver, volume, 4 * MiB, 0x63)
        view = self.digest(driver, volume)
        arm()
        exc = self.assertRaises(putils.ProcessExecutionError,
                                driver.delete_snapshot, snapshot)
        self.assertIn('injected failure', str(exc))
        self.check_volume(driver, volume, view)
        # Deleting it again completes the deletion.
        driver.delete_snapshot(snapshot)
        self.check_volume(driver, volume, view)
        self.assert_share_holds(driver, volume)

    # -- cinder-volume dying between two steps -------------------------------

    def _die_writing_info(self):
        return mock.patch.object(lustre.LustreDriver, '_write_info_file',
                                 side_effect=Crash)

    def _die_creating_snapshot(self, driver, volume):
        """create_snapshot dies before the .info file names the overlay."""
        snapshot = self.snapshot_record(volume)
        with self._die_writing_info():
            self.assertRaises(Crash, driver.create_snapshot, snapshot)
        return objects.Snapshot.get_by_id(self.ctxt, snapshot.id)

    def test_death_during_snapshot_create_then_retry(self):
        driver = self.make_driver()
        volume, view = self._volume_with_data(driver)
        snapshot = self._die_creating_snapshot(driver, volume)
        # The overlay exists; the .info file does not name it yet.
        self.check_volume(driver, volume, view)
        driver = self.make_driver()
        driver.create_snapshot(snapshot)
        self.write(driver, volume, 0, 0x64)
        after = self.digest(driver, volume)
        self.check_volume(driver, volume, after)
        self.assert_share_holds(driver, volume)
        driver.delete_snapshot(snapshot)
        self.check_volume(driver, volume, after)

    def test_death_during_snapshot_create_then_delete(self):
        driver = self.make_driver()
        volume, view = self._volume_with_data(driver)
        snapshot = self._die_creating_snapshot(driver, volume)
        # The snapshot in error is deleted: its overlay goes with it.
        driver = self.make_driver()
        driver.delete_snapshot(snapshot)
        self.check_volume(driver, volume, view)
        self.assert_share_holds(driver, volume)
        driver.delete_volume(volume)
        self.assertEqual([], self.share_files(driver))

    def test_death_during_snapshot_delete_then_retry(self):
        driver = self.make_driver()
        volume, _view = self._volume_with_data(driver)
        snapshots = []
        for byte in (0x65, 0x66):
            snapshots.append(self.make_snapshot(driver, volume))
            self.write(driver, volume, MiB, byte)
        view = self.digest(driver, volume)
        for snapshot in snapshots:
            with self._die_writing_info():
                self.assertRaises(Crash, driver.delete_snapshot, snapshot)
            self.check_volume(driver, volume, view, settled=False)
            driver = self.make_driver()
            driver.delete_snapshot(snapshot)
            self.check_volume(driver, volume, view)
        self.assert_share_holds(driver, volume)

    # -- the coordination backend -------------------------------------------

    def test_coordination_backend_unreachable(self):
        etcd = self.lock_on_etcd()
        driver = self.make_driver()
        volume, view = self._volume_with_data(driver)
        before = self.share_files(driver)
        # etcd goes away: no lock can be taken, so nothing is done.
        self.stop_etcd(etcd)
        snapshot = self.snapshot_record(volume)
        self.assertRaises(tooz.ToozError, driver.create_snapshot, snapshot)
        other = test_utils.create_volume(
            self.ctxt, host=self.pool_host(), size=1,
            volume_type_id=self.thin.id, status='creating')
        self.assertRaises(tooz.ToozError, driver.create_volume, other)
        self.assertEqual(before, self.share_files(driver))
        self.check_volume(driver, volume, view)

    # -- lfs ----------------------------------------------------------------

    def _striped_record(self):
        """A new volume of a type that lfs setstripe lays out."""
        striped = self.make_volume_type('striped',
                                        **{'lustre:stripe_count': '2'})
        return test_utils.create_volume(
            self.ctxt, host=self.pool_host(), size=1,
            volume_type_id=striped.id, status='creating')

    def test_lfs_fails(self):
        arm = self.wrap('lfs', 'setstripe')
        driver = self.make_driver()
        volume, view = self._volume_with_data(driver)
        arm()
        other = self._striped_record()
        exc = self.assertRaises(putils.ProcessExecutionError,
                                driver.create_volume, other)
        self.assertIn('injected failure', str(exc))
        self.assert_share_holds(driver, volume)
        self.check_volume(driver, volume, view)

    def test_lfs_missing(self):
        driver = self.make_driver()
        volume, view = self._volume_with_data(driver)
        path = ':'.join(d for d in os.environ['PATH'].split(':')
                        if not os.path.exists(os.path.join(d, 'lfs')))
        self.useFixture(fixtures.EnvironmentVariable('PATH', path))
        self.assertIsNone(shutil.which('lfs'))
        other = self._striped_record()
        exc = self.assertRaises(lustre_client.LfsNotInstalled,
                                driver.create_volume, other)
        self.assertIn('lfs', str(exc))
        self.assert_share_holds(driver, volume)
        self.check_volume(driver, volume, view)
