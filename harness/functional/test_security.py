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

"""The files the driver makes have the modes the nas_secure_* options ask."""

import os
import stat

from base import FunctionalTestCase
from base import tree_state

from cinder import exception
from cinder.tests.unit import utils as test_utils


class FilePermissionsTestCase(FunctionalTestCase):

    def _modes(self, driver):
        mount_point = driver._get_mount_point_for_share(self.share)
        return {name: stat.S_IMODE(os.stat(os.path.join(mount_point,
                                                        name)).st_mode)
                for name in self.share_files(driver)}

    def _make_files(self, driver, snapshots=True):
        """A volume, a snapshot (overlay and .info) and a clone."""
        for name, prov in (('thin', 'thin'), ('thick', 'thick')):
            volume_type = self.make_volume_type(
                name, **{'provisioning:type': prov})
            volume = self.make_volume(driver, volume_type)
            clone = test_utils.create_volume(
                self.ctxt, host=self.pool_host(), size=1,
                volume_type_id=volume_type.id, status='creating')
            if snapshots:
                snapshot = self.make_snapshot(driver, volume)
                clone.update(driver.create_volume_from_snapshot(clone,
                                                                snapshot))
            else:
                clone.update(driver.create_cloned_volume(clone, volume))
            clone.save()
        # Two volumes and two clones, and with snapshots two overlays and
        # two .info files.
        files = self.share_files(driver)
        self.assertEqual(4, len([name for name in files
                                 if '.' not in name]))
        if snapshots:
            self.assertEqual(8, len(files))

    def test_secure_permissions(self):
        driver = self.make_driver(nas_secure_file_permissions='true',
                                  nas_secure_file_operations='false')
        self._make_files(driver)
        modes = self._modes(driver)
        self.assertEqual({name: 0o660 for name in modes}, modes)

    def test_secure_permissions_and_operations(self):
        # Secure file operations refuse snapshots (see below): clones.
        driver = self.make_driver(nas_secure_file_permissions='true',
                                  nas_secure_file_operations='true')
        self._make_files(driver, snapshots=False)
        modes = self._modes(driver)
        self.assertEqual({name: 0o660 for name in modes}, modes)

    def test_open_permissions(self):
        driver = self.make_driver(nas_secure_file_permissions='false',
                                  nas_secure_file_operations='false')
        self._make_files(driver)
        modes = self._modes(driver)
        # ugo+rw, as NFS does without secure permissions.
        for name, mode in modes.items():
            self.assertEqual(0o666, mode & 0o666, name)

    def test_secure_file_operations_refuse_snapshots(self):
        # With secure file operations qemu-img runs as the cinder user,
        # which cannot read what libvirt gives to qemu while the volume is
        # attached (owner qemu, mode 0600 here). The snapshot is refused,
        # as the NFS driver refuses it, before anything is written: as
        # root these tests would not see the permission error.
        driver = self.make_driver(nas_secure_file_permissions='true',
                                  nas_secure_file_operations='true')
        thin = self.make_volume_type('thin', **{'provisioning:type': 'thin'})
        volume = self.make_volume(driver, thin)
        path = driver.local_path(volume)
        os.chown(path, 107, 107)
        os.chmod(path, 0o600)
        root = self.emulator.backing_dir(self.fsname)
        before = tree_state(root)
        snapshot = self.snapshot_record(volume)
        exc = self.assertRaises(exception.VolumeDriverException,
                                driver.create_snapshot, snapshot)
        self.assertIn('nas_secure_file_operations', str(exc))
        self.assertEqual(before, tree_state(root))
