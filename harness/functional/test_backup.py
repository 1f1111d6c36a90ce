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

"""Backups that give back exactly what the guest wrote.

The path is cinder-backup's: the volume driver's backup device, its
connection info, os-brick's connector for 'lustre' (the companion change)
to get a file, the Lustre backup driver (chunked) to store it; restore the
other way round, into the file opened as the backup manager opens it.
Data is compared as a guest sees it, for raw and qcow2 volumes (thin
volumes both ways, lustre_qcow2_volumes), with and without snapshots,
available and in use, sparse, full and incremental; and across drivers:
the POSIX driver of the released Cinder, without this change, restores
the Lustre driver's backups and the other way round.
"""

import binascii
import importlib.machinery
import importlib.util
import os

from base import FunctionalTestCase
from base import guest_write
from base import image_info
from base import MGS
from base import MiB
from base import run
from castellan import key_manager
from castellan.tests.unit.key_manager import mock_key_manager
import ddt
from oslo_config import cfg

from cinder.backup import chunkeddriver
from cinder.backup.drivers import lustre as lustre_backup
from cinder.backup.drivers import posix
from cinder import exception
from cinder import objects
from cinder.objects import fields
from cinder.tests.unit import utils as test_utils
from cinder import utils

CONF = cfg.CONF
GiB = 1024 * MiB


def released_posix_driver():
    """Cinder 29.0.0's PosixBackupDriver, on its own chunked driver.

    The overlay keeps the released chunkeddriver.py beside the patched
    one; the POSIX driver's module is loaded again on top of it.
    """
    released = chunkeddriver.__file__ + '.lustre-orig'
    if not os.path.exists(released):
        raise AssertionError('%s is missing: is the overlay applied?'
                             % released)
    spec = importlib.util.spec_from_file_location(
        'released_chunkeddriver', released,
        loader=importlib.machinery.SourceFileLoader(
            'released_chunkeddriver', released))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    with open(posix.__file__) as f:
        source = f.read().replace(
            'from cinder.backup import chunkeddriver\n', '')
    namespace = {'__name__': 'released_posix', 'chunkeddriver': module}
    exec(compile(source, posix.__file__, 'exec'), namespace)
    return namespace['PosixBackupDriver']


class FakeNova(object):
    """Nova's assisted snapshots of an attached volume, done to the files.

    For an attached volume the remotefs driver creates the overlay and
    asks Nova to make the guest write into it, and asks Nova to merge an
    overlay away when a snapshot goes; then it waits for Nova to report
    progress 90%. Here the "guest" is qemu-io and Nova's libvirt work is
    done with qemu-img: blockRebase (pull) as qemu-img rebase, which
    copies the data of the files it drops into the active one.
    """

    def __init__(self, driver, after_snapshot=None):
        self.driver = driver
        # What the guest does once it writes into the new overlay.
        self.after_snapshot = after_snapshot
        self.created = []
        self.deleted = []

    def _report(self, ctxt, snapshot_id):
        snapshot = objects.Snapshot.get_by_id(ctxt, snapshot_id)
        snapshot.progress = '90%'
        snapshot.save()

    def create_volume_snapshot(self, ctxt, volume_id, create_info):
        volume = objects.Volume.get_by_id(ctxt, volume_id)
        new_file = os.path.join(self.driver._local_volume_dir(volume),
                                create_info['new_file'])
        self.created.append(create_info['new_file'])
        self._report(ctxt, create_info['snapshot_id'])
        if self.after_snapshot:
            self.after_snapshot(new_file)

    def delete_volume_snapshot(self, ctxt, snapshot_id, delete_info):
        # Only the case of a backup's temporary snapshot: it is the active
        # image, so the file under it is pulled into it (blockRebase).
        if delete_info['merge_target_file'] is not None:
            raise AssertionError('blockCommit is not emulated: %s'
                                 % delete_info)
        volume = objects.Volume.get_by_id(ctxt, delete_info['volume_id'])
        active = self.driver._local_path_active_image(volume)
        new_base = delete_info['file_to_merge']
        cmd = ['qemu-img', 'rebase', '-f', 'qcow2']
        if new_base:
            base_path = os.path.join(os.path.dirname(active), new_base)
            cmd += ['-F', image_info(base_path).file_format, '-b',
                    new_base]
        else:
            cmd += ['-b', '']
        run(*cmd + [active])
        self.deleted.append(os.path.basename(active))
        self._report(ctxt, snapshot_id)


@ddt.ddt
class BackupRestoreTestCase(FunctionalTestCase):

    def setUp(self):
        super().setUp()
        self.driver = self.make_driver()
        backup_fs = self.add_fs(osts=2, ost_size='4G')
        self.override_config('backup_lustre_share', '%s:/%s' % (MGS,
                                                                backup_fs))
        self.override_config('backup_lustre_mount_point_base',
                             os.path.join(self.mount_base, 'backup'))
        self.override_config('backup_lustre_stripe_count', 2)
        self.override_config('backup_compression_algorithm', 'zstd')
        self.types = {
            'thin': self.make_volume_type(
                'thin', **{'provisioning:type': 'thin'}),
            'thick': self.make_volume_type(
                'thick', **{'provisioning:type': 'thick'}),
        }

    def _lustre_driver(self):
        return lustre_backup.LustreBackupDriver(self.ctxt)

    def _released_posix(self):
        """The released POSIX driver, in the Lustre driver's directory."""
        path = self._lustre_driver().backup_path
        return released_posix_driver()(self.ctxt, backup_path=path)

    def _backup(self, volume, parent=None, make_driver=None):
        """Back a volume up the way the backup manager does."""
        backup, is_snapshot = self.back_up(
            self.driver, volume, parent,
            backup_driver=(make_driver or self._lustre_driver)())
        self.assertFalse(is_snapshot)
        return backup

    def _restore(self, backup, volume, volume_is_new=True, make_driver=None):
        """Restore as the backup manager does: 'wb' empties the file."""
        backup.status = fields.BackupStatus.RESTORING
        backup.save()
        volume.status = 'restoring-backup'
        volume.save()
        backup_driver = (make_driver or self._lustre_driver)()
        with self.attached_here(self.driver, volume) as path:
            with open(path, 'wb') as f:
                backup_driver.restore(backup, volume.id, utils.tpool_wrap(f),
                                      volume_is_new)
        volume.status = 'available'
        volume.save()
        backup.status = fields.BackupStatus.AVAILABLE
        backup.save()

    def _new_volume(self, type_name):
        return self.make_volume(self.driver, self.types[type_name])

    @ddt.data(
        # type, snapshots, lustre_qcow2_volumes, format of the volume,
        # types of the volumes restored onto (each restore of 1 GiB costs
        # seconds: with sparse raw thin volumes only the setting differs)
        ('thin', 0, True, 'qcow2', ('thin', 'thick')),
        ('thin', 2, True, 'qcow2', ('thin', 'thick')),
        ('thick', 0, True, 'raw', ('thin', 'thick')),
        ('thick', 1, True, 'raw', ('thin', 'thick')),
        ('thin', 0, False, 'raw', ('thin',)),
        ('thin', 1, False, 'raw', ('thin',)),
    )
    @ddt.unpack
    def test_full_and_incremental_round_trip(self, type_name, snapshots,
                                             qcow2, volume_format, targets):
        if not qcow2:
            self.driver = self.make_driver(lustre_qcow2_volumes=False)
        volume = self._new_volume(type_name)
        # The setting made the volume what the case is about.
        self.assertEqual(volume_format, image_info(
            self.driver.local_path(volume)).file_format)
        for offset in (0, 300 * MiB, 1023 * MiB):
            self.write(self.driver, volume, offset, 0x11)
        for i in range(snapshots):
            self.make_snapshot(self.driver, volume)
            self.write(self.driver, volume, (5 + i) * MiB, 0x20 + i)
        volume = objects.Volume.get_by_id(self.ctxt, volume.id)
        full_view = self.digest(self.driver, volume)
        full = self._backup(volume)

        self.write(self.driver, volume, 600 * MiB, 0x33)
        incr_view = self.digest(self.driver, volume)
        self.assertNotEqual(full_view, incr_view)
        incremental = self._backup(volume, parent=full)

        for backup, view in ((full, full_view), (incremental, incr_view)):
            for target_type in targets:
                target = self._new_volume(target_type)
                self._restore(backup, target)
                target = objects.Volume.get_by_id(self.ctxt, target.id)
                self.assertEqual(view, self.digest(self.driver, target))
                # The recorded format is the file's.
                info = image_info(self.driver.local_path(target))
                self.assertEqual(info.file_format,
                                 self.volume_format(target))

    def test_restore_onto_the_original_volume(self):
        volume = self._new_volume('thin')
        self.write(self.driver, volume, 0, 0x44)
        view = self.digest(self.driver, volume)
        backup = self._backup(volume)
        self.write(self.driver, volume, 0, 0x55)
        self.assertNotEqual(view, self.digest(self.driver, volume))
        self._restore(backup, volume, volume_is_new=False)
        self.assertEqual(view, self.digest(self.driver, volume))

    @staticmethod
    def _bytes_read():
        with open('/proc/self/io') as f:
            return int(dict(line.split(': ') for line in f)['rchar'])

    def _stored_bytes(self):
        root = self._lustre_driver().backup_path
        return sum(os.path.getsize(os.path.join(d, n))
                   for d, _dirs, names in os.walk(root) for n in names)

    @ddt.data(True, False)
    def test_sparse_round_trip(self, qcow2):
        # A 2 GiB thin volume with 2 MiB written, its end a hole: raw, or
        # qcow2 backed up through its temporary raw copy (sparse too).
        self.driver = self.make_driver(lustre_qcow2_volumes=qcow2)
        volume = self.make_volume(self.driver, self.types['thin'], size=2)
        for offset in (0, GiB + 5 * MiB):
            self.write(self.driver, volume, offset, 0x5a)
        full_view = self.digest(self.driver, volume)

        before = self._bytes_read()
        full = self._backup(volume)
        # The holes were not read: the data, the metadata and the copy of
        # a qcow2 volume (qemu-img reads the data too), not 2 GiB.
        self.assertLess(self._bytes_read() - before, 64 * MiB)
        # The data, 2 GiB of SHA-256s in JSON (4.3 MB) and zero objects.
        self.assertLess(self._stored_bytes(), 8 * MiB)

        self.write(self.driver, volume, GiB + GiB // 2, 0x6b)
        incr_view = self.digest(self.driver, volume)
        incremental = self._backup(volume, parent=full)

        for backup, view in ((full, full_view), (incremental, incr_view)):
            target = self.make_volume(self.driver, self.types['thin'],
                                      size=2)
            self._restore(backup, target)
            self.assertEqual(view, self.digest(self.driver, target))
            # The end of the volume is a hole and still part of it.
            self.assertEqual(2 * GiB, os.path.getsize(
                self.active_path(self.driver, target)))

    def test_lustre_backups_restore_through_released_posix_driver(self):
        volume = self._new_volume('thin')
        for offset in (0, 300 * MiB, 1023 * MiB):
            self.write(self.driver, volume, offset, 0x11)
        full_view = self.digest(self.driver, volume)
        full = self._backup(volume)
        self.write(self.driver, volume, 600 * MiB, 0x33)
        incr_view = self.digest(self.driver, volume)
        incremental = self._backup(volume, parent=full)

        for backup, view in ((full, full_view), (incremental, incr_view)):
            target = self._new_volume('thin')
            self._restore(backup, target, make_driver=self._released_posix)
            self.assertEqual(view, self.digest(self.driver, target))

    def test_released_posix_backups_restore_through_lustre_driver(self):
        # A chain made by both: the released POSIX driver's full backup,
        # the Lustre driver's incremental one on top of it.
        volume = self._new_volume('thin')
        for offset in (0, 300 * MiB, 1023 * MiB):
            self.write(self.driver, volume, offset, 0x22)
        full_view = self.digest(self.driver, volume)
        full = self._backup(volume, make_driver=self._released_posix)
        self.write(self.driver, volume, 600 * MiB, 0x44)
        incr_view = self.digest(self.driver, volume)
        incremental = self._backup(volume, parent=full)

        for backup, view, make_driver in (
                (full, full_view, None),
                (incremental, incr_view, None),
                (incremental, incr_view, self._released_posix)):
            target = self._new_volume('thin')
            self._restore(backup, target, make_driver=make_driver)
            self.assertEqual(view, self.digest(self.driver, target))

    def _backup_snapshot(self, volume, snapshot, parent=None):
        """Back a snapshot up as the backup manager does.

        Returns the backup and the bytes the backup driver read (those of
        the volume's copy, the parent's sha256 file, the .info file).
        """
        backup = test_utils.create_backup(
            self.ctxt, volume_id=volume.id, container='c-%s' % volume.id,
            parent_id=parent.id if parent else None,
            snapshot_id=snapshot.id, status=fields.BackupStatus.CREATING)
        device, _is_snapshot = self.driver.get_backup_device(self.ctxt,
                                                             backup)
        self.assertNotEqual(volume.id, device.id)
        with self.attached_here(self.driver, device) as path:
            with open(path, 'rb') as f:
                backup_driver = self._lustre_driver()
                before = self._bytes_read()
                backup_driver.backup(backup, utils.tpool_wrap(f))
                read = self._bytes_read() - before
        self.driver.delete_volume(device)
        device.destroy()
        backup = objects.Backup.get_by_id(self.ctxt, backup.id)
        backup.status = fields.BackupStatus.AVAILABLE
        backup.save()
        return backup, read

    # 100 MiB of data in a 1 GiB volume, then 5% of the volume (51 MiB)
    # written at known offsets, partly over that data.
    WRITTEN = ((0, 64 * MiB), (700 * MiB, 36 * MiB))
    CHANGED = ((32 * MiB, 16 * MiB), (300 * MiB + 4096, 19 * MiB),
               (1008 * MiB, 16 * MiB))

    def _incremental_from_snapshots(self, delete_parent_snapshot):
        """A full backup from S1, 5% written, an incremental from S2.

        Returns S2's data (digest), the full and incremental backups and
        the bytes the incremental backup read.
        """
        self.override_config('backup_compression_algorithm', 'none')
        volume = self._new_volume('thin')
        for offset, length in self.WRITTEN:
            self.write(self.driver, volume, offset, 0x11, length)
        first = self.make_snapshot(self.driver, volume)
        self.write(self.driver, volume, 500 * MiB, 0x22)
        between = self.make_snapshot(self.driver, volume)
        full, _read = self._backup_snapshot(volume, first)
        for offset, length in self.CHANGED:
            self.write(self.driver, volume, offset, 0x33, length)
        second = self.make_snapshot(self.driver, volume)
        view = self.digest(self.driver, volume)
        # Written after S2: not in its backup, and not read either.
        self.write(self.driver, volume, 800 * MiB, 0x44, 32 * MiB)
        # The snapshot between S1 and S2 goes: its overlay is committed
        # into S1's, still in the range that is mapped.
        self.driver.delete_snapshot(between)
        if delete_parent_snapshot:
            self.driver.delete_snapshot(first)
        volume = objects.Volume.get_by_id(self.ctxt, volume.id)
        incremental, read = self._backup_snapshot(volume, second,
                                                  parent=full)
        return view, full, incremental, read

    def test_incremental_from_snapshots_reads_what_changed(self):
        view, full, incremental, read = self._incremental_from_snapshots(
            delete_parent_snapshot=False)

        changed = sum(length for _offset, length in self.CHANGED)
        # The changed clusters (whole hash blocks around them), the
        # parent's sha256 file (2 MiB per GiB) and the .info file; not
        # the 100 MiB of data that did not change.
        self.assertGreaterEqual(read, changed)
        self.assertLess(read, changed + 8 * MiB)
        for make_driver in (None, self._released_posix):
            target = self._new_volume('thin')
            self._restore(incremental, target, make_driver=make_driver)
            self.assertEqual(view, self.digest(self.driver, target))

    def test_incremental_without_parent_snapshot_reads_all(self):
        # Without S1 nothing tells what did not change: all is read.
        view, full, incremental, read = self._incremental_from_snapshots(
            delete_parent_snapshot=True)

        written = sum(length for _offset, length in self.WRITTEN)
        self.assertGreater(read, written)
        target = self._new_volume('thin')
        self._restore(incremental, target)
        self.assertEqual(view, self.digest(self.driver, target))

    def test_restore_onto_volume_with_snapshots_is_refused(self):
        volume = self._new_volume('thin')
        self.write(self.driver, volume, 0, 0x66)
        backup = self._backup(volume)
        self.make_snapshot(self.driver, volume)
        volume = objects.Volume.get_by_id(self.ctxt, volume.id)
        before = self.digest(self.driver, volume)
        self.assertRaises(exception.InvalidVolume, self._restore, backup,
                          volume)
        self.assertEqual(before, self.digest(self.driver, volume))

    def test_temporary_raw_view_is_removed(self):
        volume = self._new_volume('thin')
        self._backup(volume)
        # Only the volume's image and the .info file its temporary
        # snapshot left (with no snapshot in it) remain.
        self.assertEqual([volume.name, volume.name + '.info'],
                         self.share_files(self.driver))
        self.assertEqual({'active': volume.name},
                         self.driver._read_info_file(
                             self.driver._local_path_volume_info(volume)))

    def _attach(self, volume):
        return self.attach_as_nova(self.driver, volume)

    def _detach(self, volume):
        volume.finish_detach(volume.volume_attachment[0].id)
        return objects.Volume.get_by_id(self.ctxt, volume.id)

    @ddt.data(('thin', 0), ('thick', 1))
    @ddt.unpack
    def test_in_use_round_trip(self, type_name, snapshots):
        # An attached volume is copied through a snapshot that Nova takes
        # while the guest runs: the backup holds the data of that moment,
        # not what the guest writes afterwards, and nothing it writes is
        # lost when the snapshot is merged away.
        volume = self._new_volume(type_name)
        for offset in (0, 300 * MiB, 1023 * MiB):
            self.write(self.driver, volume, offset, 0x11)
        for i in range(snapshots):
            self.make_snapshot(self.driver, volume)
            self.write(self.driver, volume, (5 + i) * MiB, 0x20 + i)
        volume = self._attach(volume)
        views = []

        def guest_writes_on(active):
            views.append(self.digest(self.driver, volume))
            guest_write(active, 'qcow2', 700 * MiB, 0x40 + len(views))

        self.driver._nova = FakeNova(self.driver, guest_writes_on)
        full = self._backup(volume)
        self.write(self.driver, volume, 600 * MiB, 0x33)
        volume = objects.Volume.get_by_id(self.ctxt, volume.id)
        incremental = self._backup(volume, parent=full)
        self.assertEqual(2, len(self.driver._nova.created))
        self.assertEqual(2, len(self.driver._nova.deleted))
        # The guest's writes after each snapshot are in the volume.
        after = self.digest(self.driver, volume)
        self.assertEqual(3, len({views[0], views[1], after}))
        volume = objects.Volume.get_by_id(self.ctxt, volume.id)
        self.assertEqual('in-use', volume.status)

        volume = self._detach(volume)
        for backup, view in ((full, views[0]), (incremental, views[1])):
            target = self._new_volume(type_name)
            self._restore(backup, target)
            self.assertEqual(view, self.digest(self.driver, target))
        if snapshots:
            self.assertRaises(exception.InvalidVolume, self._restore, full,
                              volume)
            return
        # Onto the original: its overlay, left active without snapshots
        # by the merge, gives way to a raw file.
        self._restore(full, volume, volume_is_new=False)
        volume = objects.Volume.get_by_id(self.ctxt, volume.id)
        self.assertEqual(views[0], self.digest(self.driver, volume))
        self.assertEqual('raw', self.volume_format(volume))
        self.assertEqual(self.driver.local_path(volume),
                         self.active_path(self.driver, volume))

    def _encrypted_volume(self, type_name, key_id):
        volume_type = self.types[type_name]
        test_utils.create_encryption(
            self.ctxt, volume_type.id, testcase_instance=self,
            provider='luks', cipher='aes-xts-plain64', key_size=256,
            control_location='front-end')
        return self.make_volume(self.driver, volume_type,
                                encryption_key_id=key_id)

    def _guest_io(self, volume, key_id, command):
        """qemu-io in a guest of an encrypted volume, with its key."""
        key = self.keys.get(self.ctxt, key_id)
        secret = os.path.join(self.tmp, 'passphrase')
        with open(secret, 'w') as f:
            f.write(binascii.hexlify(key.get_encoded()).decode())
        chain = self.chain(self.driver, volume)
        return run('qemu-io', '--object',
                   'secret,id=sec0,format=raw,file=%s' % secret,
                   '-c', command, chain.filename())

    def test_encrypted_round_trip(self):
        # The backup holds the LUKS container of the guest's data, under
        # the volume's key, as Cinder backs up encrypted volumes; the
        # restored volume reads back what the guest wrote.
        self.override_config('backup_compression_algorithm', 'none')
        # One key store for the test, as Barbican would be.
        self.keys = mock_key_manager.MockKeyManager(CONF)
        self.mock_object(key_manager, 'API', return_value=self.keys)
        key_id = self.keys.create_key(self.ctxt, algorithm='aes',
                                      length=256)
        volume = self._encrypted_volume('thin', key_id)
        self.assertEqual('qcow2', self.volume_format(volume))
        self._guest_io(volume, key_id, 'write -P 0x5a 0 1M')
        self.make_snapshot(self.driver, volume)
        self._guest_io(volume, key_id, 'write -P 0xa5 1M 1M')
        backup = self._backup(objects.Volume.get_by_id(self.ctxt,
                                                       volume.id))
        # Cinder restores an encrypted backup only into its volume type.
        target = self.make_volume(self.driver, self.types['thin'],
                                  encryption_key_id=key_id)
        self._restore(backup, target)
        target = objects.Volume.get_by_id(self.ctxt, target.id)
        self.assertEqual('raw', self.volume_format(target))
        for command in ('read -P 0x5a 0 1M', 'read -P 0xa5 1M 1M'):
            out = self._guest_io(target, key_id, command)
            self.assertNotIn('verification failed', out)
        # Nothing of the guest's data is stored in the clear.
        stored = os.path.join(self.mount_base, 'backup')
        for directory, _dirs, files in os.walk(stored):
            for name in files:
                with open(os.path.join(directory, name), 'rb') as f:
                    self.assertNotIn(b'\x5a' * 4096, f.read())
