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
other way round. Data is compared as a guest sees it, for raw and qcow2
volumes, with and without snapshots, full and incremental.
"""

import os

from base import FunctionalTestCase
from base import MGS
from base import MiB
import ddt

from cinder.backup.drivers import lustre as lustre_backup
from cinder import exception
from cinder import objects
from cinder.objects import fields
from cinder.tests.unit import utils as test_utils
from cinder.volume import volume_utils


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

    def _connect(self, volume):
        """Attach a volume on this host as cinder-backup does."""
        conn = self.driver.initialize_connection(volume, {})
        connector = volume_utils.brick_get_connector(
            conn['driver_volume_type'], conn=conn)
        device = connector.connect_volume(conn['data'])
        return connector, conn, device['path']

    def _backup(self, volume, parent=None):
        """Back a volume up the way the backup manager does."""
        volume.status = 'backing-up'
        volume.previous_status = 'available'
        volume.save()
        backup = test_utils.create_backup(
            self.ctxt, volume_id=volume.id, container='c-%s' % volume.id,
            parent_id=parent.id if parent else None,
            status=fields.BackupStatus.CREATING)
        device, is_snapshot = self.driver.get_backup_device(self.ctxt,
                                                            backup)
        self.assertFalse(is_snapshot)
        connector, conn, path = self._connect(device)
        try:
            backup_driver = lustre_backup.LustreBackupDriver(self.ctxt)
            with open(path, 'rb') as f:
                backup_driver.backup(backup, f)
        finally:
            connector.disconnect_volume(conn['data'], None)
        if device.id != volume.id:
            self.driver.delete_volume(device)
            device.destroy()
        backup = objects.Backup.get_by_id(self.ctxt, backup.id)
        backup.status = fields.BackupStatus.AVAILABLE
        backup.save()
        volume.status = 'available'
        volume.save()
        return backup

    def _restore(self, backup, volume):
        backup.status = fields.BackupStatus.RESTORING
        backup.save()
        volume.status = 'restoring-backup'
        volume.save()
        connector, conn, path = self._connect(volume)
        try:
            backup_driver = lustre_backup.LustreBackupDriver(self.ctxt)
            with open(path, 'r+b') as f:
                backup_driver.restore(backup, volume.id, f, True)
        finally:
            connector.disconnect_volume(conn['data'], None)
        volume.status = 'available'
        volume.save()
        backup.status = fields.BackupStatus.AVAILABLE
        backup.save()

    def _new_volume(self, type_name):
        return self.make_volume(self.driver, self.types[type_name])

    @ddt.data(('thin', 0), ('thin', 2), ('thick', 0), ('thick', 1))
    @ddt.unpack
    def test_full_and_incremental_round_trip(self, type_name, snapshots):
        volume = self._new_volume(type_name)
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
            for target_type in ('thin', 'thick'):
                target = self._new_volume(target_type)
                self._restore(backup, target)
                target = objects.Volume.get_by_id(self.ctxt, target.id)
                self.assertEqual(view, self.digest(self.driver, target))
                # The recorded format is the file's.
                info = self.driver._qemu_img_info(
                    self.driver.local_path(target), target.name)
                self.assertEqual(info.file_format,
                                 self.volume_format(target))

    def test_restore_onto_the_original_volume(self):
        volume = self._new_volume('thin')
        self.write(self.driver, volume, 0, 0x44)
        view = self.digest(self.driver, volume)
        backup = self._backup(volume)
        self.write(self.driver, volume, 0, 0x55)
        self.assertNotEqual(view, self.digest(self.driver, volume))
        self._restore(backup, volume)
        self.assertEqual(view, self.digest(self.driver, volume))

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
