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

"""Extending Lustre volumes (lustre_snapshots), detached and attached.

The driver grows a plain raw file under its guest (zeros past the end the
guest's qemu knows); a qcow2 or LUKS image only that qemu may grow, so the
driver leaves it to Nova and the extend volume completion action. qemu-img
and truncate run for real on the test's files, as in test_lustre.
"""

import os
from unittest import mock

import ddt
from oslo_concurrency import processutils as putils
from oslo_utils import units

from cinder import exception
from cinder.tests.unit import fake_constants as fake
from cinder.tests.unit.volume.drivers import test_lustre
from cinder.volume.drivers import lustre_images
from cinder.volume.drivers import lustre_snapshots

POOL = test_lustre.POOL


@ddt.ddt
class LustreExtendTestCase(test_lustre.LustreTestBase):

    def test_extend_volume(self):
        volume = self._volume(extra_specs={'provisioning:type': 'thick'},
                              size=1)
        self._chain_files(volume)
        self._capacity(50, 100)
        self.driver.extend_volume(volume, 3)
        path = self._path(volume.name)
        self.assertEqual(3 * units.Gi, os.path.getsize(path))
        self._assert_guest_view([(path, 'raw')], 1)
        self.assertEqual(['resize'], self._qemu_img())
        self.assertEqual([mock.call('fallocate', '-l', '3G', path,
                                    run_as_root=True)],
                         self._commands('fallocate'))

    def test_extend_volume_with_snapshot(self):
        volume = self._volume(size=1)
        info = self._chain_files(volume, [fake.SNAPSHOT_ID])
        snap = self._path(info['active'])
        self._capacity(50, 100)
        self.driver.extend_volume(volume, 2)
        # The active overlay grows; the base under it is frozen.
        self.assertEqual(2 * units.Gi,
                         self._info_of(snap, 'qcow2')['virtual-size'])
        self.assertEqual(units.Gi, os.path.getsize(self._path(volume.name)))
        self.assertEqual(volume.name,
                         self._info_of(snap, 'qcow2')['backing-filename'])
        self._assert_guest_view([(snap, 'qcow2'),
                                 (self._path(volume.name), 'raw')], 2)
        self.assertEqual([], self._commands('fallocate'))

    def test_extend_encrypted_volume(self):
        self._key_manager()
        volume = self._volume(size=1,
                              encryption_key_id=fake.ENCRYPTION_KEY_ID)
        self._chain_files(volume, base_fmt='qcow2', size=64 * units.Mi)
        self._capacity(50, 100)
        self.driver.extend_volume(volume, 2)
        path = self._path(volume.name)
        self.assertEqual(2 * units.Gi,
                         self._info_of(path, 'qcow2')['virtual-size'])
        self._assert_guest_view([(path, 'qcow2')], 1, encrypted=True)

    @ddt.data(
        # extra specs, format, preallocated
        ({'provisioning:type': 'thick'}, 'raw', True),
        ({'provisioning:type': 'thin'}, 'raw', False),
        ({'provisioning:type': 'thick'}, 'qcow2', False),
        ({}, 'qcow2', False),
    )
    @ddt.unpack
    def test_extend_volume_preallocation(self, specs, volume_format,
                                         preallocated):
        volume = self._volume(extra_specs=specs)
        self._chain_files(volume, base_fmt=volume_format, guest_data=False)
        self._capacity(50, 100)
        self.driver.extend_volume(volume, 2)
        self.assertEqual(preallocated, bool(self._commands('fallocate')))
        self.assertEqual(2 * units.Gi, self._info_of(
            self._path(volume.name), volume_format)['virtual-size'])

    def test_extend_volume_preallocation_failure_only_logged(self):
        volume = self._volume(extra_specs={'provisioning:type': 'thick'})
        self._chain_files(volume, guest_data=False)
        self._capacity(50, 100)

        def execute(*cmd, **kwargs):
            if cmd[0] == 'fallocate':
                raise putils.ProcessExecutionError(
                    stderr='fallocate failed: No space left on device')
            return self._execute_side_effect(*cmd, **kwargs)
        self._execute.side_effect = execute
        mock_warn = self.mock_object(lustre_snapshots.LOG, 'warning')
        self.driver.extend_volume(volume, 2)
        self.assertEqual(2 * units.Gi,
                         os.path.getsize(self._path(volume.name)))
        self.assertEqual(1, len(self._commands('fallocate')))
        mock_warn.assert_called_once()

    def test_extend_volume_shrink_refused(self):
        volume = self._volume(volume_format='raw', size=2)
        self._capacity(50, 100)
        mock_quota = self.mock_object(self.driver, '_apply_project_quota')
        exc = self.assertRaises(exception.ExtendVolumeError,
                                self.driver.extend_volume, volume, 1)
        self.assertIn('shrink', str(exc))
        mock_quota.assert_not_called()
        self._execute.assert_not_called()

    def test_extend_volume_not_enough_space(self):
        volume = self._volume(volume_format='raw', size=10)
        self._capacity(5, 100, provisioned_gb=90)
        mock_eligible = self.mock_object(
            self.driver, '_is_pool_eligible',
            wraps=self.driver._is_pool_eligible)
        self.assertRaises(exception.ExtendVolumeError,
                          self.driver.extend_volume, volume, 25)
        mock_eligible.assert_called_once_with(POOL, 15, False)
        self._execute.assert_not_called()

    @ddt.data(('thick', 5, False), ('thick', 10, True),
              ('thin', 5, True))
    @ddt.unpack
    def test_extend_thick_volume_needs_free_space(self, prov, available,
                                                  extended):
        # 10G more for a thick volume are 10G preallocated: the pool's
        # free space decides, not what over-subscription would allow.
        self.override_config('max_over_subscription_ratio', 2.0)
        self.driver = self._make_driver()
        volume = self._volume(extra_specs={'provisioning:type': prov},
                              volume_format='raw', size=10)
        self._chain_files(volume, guest_data=False)
        self._capacity(available, 100)
        self._provision(10)
        if extended:
            self.driver.extend_volume(volume, 20)
        else:
            self.assertRaises(exception.ExtendVolumeError,
                              self.driver.extend_volume, volume, 20)
        self.assertEqual((20 if extended else 10) * units.Gi,
                         os.path.getsize(self._path(volume.name)))

    def test_extend_volume_size_verified(self):
        # qemu-img reports success but the image did not grow (a file
        # swapped in between): the extend fails rather than report a size
        # the volume does not have.
        volume = self._volume()
        self._chain_files(volume, guest_data=False)
        self._capacity(50, 100)

        def execute(*cmd, **kwargs):
            if cmd[:2] == ('qemu-img', 'resize'):
                return '', ''
            return self._execute_side_effect(*cmd, **kwargs)
        self._execute.side_effect = execute
        exc = self.assertRaises(exception.ExtendVolumeError,
                                self.driver.extend_volume, volume, 2)
        self.assertIn(str(units.Gi), str(exc))
        self.assertEqual([], self._commands('fallocate'))

    @ddt.data('qcow2_header', 'symlink')
    def test_extend_volume_hostile_raw_file(self, attack):
        # The guest of a raw volume wrote a qcow2 header naming a host
        # file, or the file became a link to it: qemu-img resizes the raw
        # file as raw, or nothing at all.
        volume = self._volume()
        self._chain_files(volume, guest_data=False)
        path = self._path(volume.name)
        self._capacity(50, 100)
        if attack == 'symlink':
            os.unlink(path)
            os.symlink(self.host_file, path)
            self.assertRaises(lustre_images.UnsafeImage,
                              self.driver.extend_volume, volume, 2)
            self.assertEqual([], self._qemu_img())
        else:
            header = self._forged_qcow2(backing=self.host_file)
            self._write_raw(path, header)
            self.driver.extend_volume(volume, 2)
            self.assertEqual(2 * units.Gi, os.path.getsize(path))
            with open(path, 'rb') as f:
                self.assertEqual(header, f.read(len(header)))
        self._assert_host_file_unread()


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
