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

"""Extending an attached Lustre volume.

The driver grows a plain raw file under its guest (zeros past the end the
guest's qemu knows); a qcow2 or LUKS image only that qemu may grow, so the
driver leaves it to Nova and the extend volume completion action. qemu-img
and truncate run for real on the test's files, as in test_lustre.
"""

import os

from oslo_utils import units

from cinder import exception
from cinder.tests.unit import fake_constants as fake
from cinder.tests.unit.volume.drivers import test_lustre
from cinder.volume.drivers import lustre_images


class LustreExtendAttachedTestCase(test_lustre.LustreTestBase):

    def _attached(self, snapshot_ids=(), base_fmt='raw', guests=1,
                  **kwargs):
        volume = self._volume(**kwargs)
        info = self._chain_files(volume, snapshot_ids, base_fmt=base_fmt)
        self._attach(volume, guests)
        self._capacity(50, 100)
        return volume, info

    def _grown(self, *paths):
        """What became of each file: its size and qemu-img's view of it."""
        return [(os.path.getsize(path), self._info_of(path, fmt)
                 ['virtual-size']) for path, fmt in paths]

    def test_raw_grows_under_its_guest(self):
        volume, _info = self._attached(
            extra_specs={'provisioning:type': 'thin'})
        path = self._path(volume.name)
        self.driver.extend_volume(volume, 3)
        self.assertEqual([(3 * units.Gi, 3 * units.Gi)],
                         self._grown((path, 'raw')))
        # The guest's bytes are where it wrote them.
        self._assert_guest_view([(path, 'raw')], 1)
        # Not qemu-img: it would need the lock the guest's qemu holds.
        self.assertEqual([], self._qemu_img())
        self.assertEqual([('truncate', '-c', '-s', '>3G', path)],
                         [c.args for c in self._commands('truncate')])
        self.assertEqual([], self._commands('fallocate'))

    def test_thick_raw_preallocated_under_its_guest(self):
        volume, _info = self._attached(
            extra_specs={'provisioning:type': 'thick'})
        path = self._path(volume.name)
        self.driver.extend_volume(volume, 2)
        self.assertEqual(2 * units.Gi, os.path.getsize(path))
        self.assertEqual([('fallocate', '-l', '2G', path)],
                         [c.args for c in self._commands('fallocate')])
        self._assert_guest_view([(path, 'raw')], 1)

    def test_raw_never_shrinks(self):
        # The file is larger than the new size (whoever grew it): it is
        # neither cut to the new size nor reported as having it.
        volume, _info = self._attached()
        path = self._path(volume.name)
        with open(path, 'r+b') as f:
            f.truncate(4 * units.Gi)
        exc = self.assertRaises(exception.ExtendVolumeError,
                                self.driver.extend_volume, volume, 2)
        self.assertIn(str(4 * units.Gi), str(exc))
        self.assertEqual(4 * units.Gi, os.path.getsize(path))
        self._assert_guest_view([(path, 'raw')], 1)

    def test_qcow2_left_to_nova(self):
        volume, _info = self._attached(base_fmt='qcow2')
        path = self._path(volume.name)
        quota = self.mock_object(self.driver, '_apply_project_quota')
        exc = self.assertRaises(exception.ExtendVolumeCompletionRequired,
                                self.driver.extend_volume, volume, 2)
        self.assertIn(volume.id, str(exc))
        # Nothing changes, not even the project quota: today Nova refuses
        # to complete the extend and the volume stays as it was.
        quota.assert_not_called()
        self.assertEqual(units.Gi, self._info_of(path, 'qcow2')
                         ['virtual-size'])
        self.assertEqual([], self._qemu_img())
        self.assertEqual([], self._commands('truncate'))

    def test_snapshot_chain_left_to_nova(self):
        # The active overlay is qcow2 even on a raw base: qemu grows the
        # overlay and leaves the frozen base as it is.
        volume, info = self._attached([fake.SNAPSHOT_ID])
        base = self._path(volume.name)
        overlay = self._path(info['active'])
        self.assertRaises(exception.ExtendVolumeCompletionRequired,
                          self.driver.extend_volume, volume, 2)
        self.assertEqual([(units.Gi, units.Gi)], self._grown((base, 'raw')))
        self.assertEqual(units.Gi, self._info_of(overlay, 'qcow2')
                         ['virtual-size'])
        self.assertEqual([], self._commands('truncate'))

    def test_encrypted_raw_left_to_nova(self):
        # The LUKS header in front of the data is qemu's to account for.
        volume = self._volume(encryption_key_id=fake.ENCRYPTION_KEY_ID)
        self._chain_files(volume, size=64 * units.Mi)
        self._attach(volume)
        self._capacity(50, 100)
        path = self._path(volume.name)
        size = os.path.getsize(path)
        self.assertRaises(exception.ExtendVolumeCompletionRequired,
                          self.driver.extend_volume, volume, 2)
        self.assertEqual(size, os.path.getsize(path))
        self.assertEqual([], self._commands('truncate'))

    def test_several_guests_refused(self):
        # qemu cannot resize a disk that other guests share: the manager
        # refuses what the driver leaves to Nova for several instances.
        volume, _info = self._attached(guests=2)
        path = self._path(volume.name)
        quota = self.mock_object(self.driver, '_apply_project_quota')
        self.assertRaises(exception.ExtendVolumeCompletionRequired,
                          self.driver.extend_volume, volume, 2)
        quota.assert_not_called()
        self.assertEqual(units.Gi, os.path.getsize(path))
        self.assertEqual([], self._commands('truncate'))

    def test_link_not_followed(self):
        # The raw file became a link to a host file: nothing is grown.
        volume, _info = self._attached()
        path = self._path(volume.name)
        os.unlink(path)
        os.symlink(self.host_file, path)
        self.assertRaises(lustre_images.UnsafeImage,
                          self.driver.extend_volume, volume, 2)
        self.assertEqual([], self._commands('truncate'))
        self._assert_host_file_unread()
