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

"""Managing files on Lustre shares as volumes (lustre_manage).

qemu-img and the format inspector run for real on the test's files, as in
test_lustre.
"""

import os

import ddt
from oslo_utils import units

from cinder import exception
from cinder import objects
from cinder.tests.unit import fake_constants as fake
from cinder.tests.unit import utils as test_utils
from cinder.tests.unit.volume.drivers import test_lustre
from cinder.volume.drivers import lustre_images
from cinder.volume.drivers import lustre_manage

SHARE = test_lustre.SHARE


@ddt.ddt
class LustreManageTestCase(test_lustre.LustreTestBase):

    def test_manage_existing(self):
        volume = self._volume(provider_location=None)
        self._image('image.qcow2', 'qcow2')
        self._guest_write([(self._path('image.qcow2'), 'qcow2')],
                          test_lustre.GUEST_BEFORE, 0)
        self.mock_object(self.driver, '_ensure_shares_mounted')
        update = self.driver.manage_existing(
            volume, {'source-name': SHARE + '/image.qcow2'})
        self.assertEqual({'provider_location': SHARE}, update)
        self.assertEqual([volume.name], os.listdir(self.mnt))
        # The format the inspector found, recorded; qemu-img read the file
        # in it and guessed nothing.
        self.assertEqual('qcow2', volume.admin_metadata['format'])
        self.assertEqual({'qcow2'}, {c.kwargs['img_format'] for c in
                                     self.qemu_img_info.call_args_list})
        self._execute.assert_called_once_with(
            'chmod', 'ugo+rw', self._path('image.qcow2'), run_as_root=True)
        self._assert_guest_view([(self._path(volume.name), 'qcow2')], 1,
                                overlays=0)
        # And it is a volume now: it attaches as what it is.
        volume.provider_location = SHARE
        self.assertEqual('qcow2', self.driver.initialize_connection(
            volume, {})['data']['format'])

    def test_manage_existing_in_subdirectory(self):
        volume = self._volume(provider_location=None)
        os.makedirs(self._path('sub'))
        self._touch('sub/disk.img')
        self.driver.manage_existing(volume,
                                    {'source-name': SHARE + '/sub/disk.img'})
        self.assertTrue(os.path.isfile(self._path(volume.name)))
        self.assertEqual('raw', volume.admin_metadata['format'])

    @ddt.data('..', 'symlink', 'outside', 'cinder', 'missing', 'no-name',
              'other-share')
    def test_manage_existing_refused(self, case):
        outside = os.path.join(self.tempdir, 'outside')
        os.makedirs(outside)
        with open(os.path.join(outside, 'secret.img'), 'w') as f:
            f.write('secret')
        self._touch('image.img')
        self._touch('volume-%s' % fake.VOLUME2_ID)
        os.makedirs(self._path('sub'))
        os.symlink(os.path.join(outside, 'secret.img'),
                   self._path('link.img'))
        os.symlink(outside, self._path('linkdir'))
        refs = {
            '..': {'source-name': SHARE + '/sub/../image.img'},
            'symlink': {'source-name': SHARE + '/link.img'},
            'outside': {'source-name': SHARE + '/linkdir/secret.img'},
            'cinder': {'source-name': SHARE + '/volume-%s' %
                       fake.VOLUME2_ID},
            'missing': {'source-name': SHARE + '/nothere.img'},
            'no-name': {'source-id': 'image.img'},
            'other-share': {'source-name': '10.9.9.9@tcp:/x/image.img'},
        }
        before = sorted(os.listdir(self.mnt))
        volume = self._volume(provider_location=None)
        # Volume VOLUME2_ID still exists: its file is not to be managed.
        test_utils.create_volume(self.context, id=fake.VOLUME2_ID)
        self.assertRaises(exception.ManageExistingInvalidReference,
                          self.driver.manage_existing, volume, refs[case])
        self.assertEqual(before, sorted(os.listdir(self.mnt)))
        self._execute.assert_not_called()
        objects.Volume.save.assert_not_called()

    @ddt.data('', '.info', '.%s' % fake.SNAPSHOT_ID)
    def test_manage_existing_file_of_unmanaged_volume(self, suffix):
        # The file of a volume that was unmanaged (or deleted from the
        # database) may be managed again, as the other remotefs drivers
        # allow.
        name = 'volume-%s%s' % (fake.VOLUME2_ID, suffix)
        self._touch(name)
        test_utils.create_volume(self.context, id=fake.VOLUME2_ID).destroy()
        volume = self._volume(provider_location=None)

        self.driver.manage_existing(volume, {'source-name': SHARE + '/' +
                                             name})

        self.assertEqual([volume.name], os.listdir(self.mnt))

    @ddt.data('', '.info', '.%s' % fake.SNAPSHOT_ID)
    def test_manage_existing_file_of_migrated_volume(self, suffix):
        # A migrated volume keeps its id; its files are named after the
        # volume it was copied into (its name id), which is gone.
        migrated = test_utils.create_volume(self.context,
                                            id=fake.VOLUME3_ID,
                                            _name_id=fake.VOLUME2_ID)
        self.assertEqual('volume-%s' % fake.VOLUME2_ID, migrated.name)
        name = migrated.name + suffix
        self._touch(name)
        volume = self._volume(provider_location=None)
        exc = self.assertRaises(
            exception.ManageExistingInvalidReference,
            self.driver.manage_existing, volume,
            {'source-name': SHARE + '/' + name})
        self.assertIn(fake.VOLUME3_ID, str(exc))
        self.assertEqual([name], os.listdir(self.mnt))
        self._execute.assert_not_called()
        # Once that volume is gone too, the file may be managed.
        migrated.destroy()
        self.driver.manage_existing(volume,
                                    {'source-name': SHARE + '/' + name})
        self.assertEqual([volume.name], os.listdir(self.mnt))

    @ddt.data('volume-x', 'volume-%s-extra' % fake.VOLUME2_ID, 'image.img')
    def test_manage_existing_name_not_of_a_volume(self, name):
        self.assertIsNone(lustre_manage.owning_volume(name))

    def test_manageable_already_managed(self):
        # A file of a volume is listed as managed, and not read.
        path = self._touch('volume-x')
        self.assertEqual((False, 'Volume already managed.'),
                         self.driver._is_volume_manageable(path, True))
        self._execute.assert_not_called()

    @ddt.data('vmdk', 'qcow2_backing', 'qcow2_data_file', 'vpc')
    def test_manage_existing_unmanageable_image(self, kind):
        path = self._path('image.img')
        if kind == 'qcow2_backing':
            test_lustre._run('qemu-img', 'create', '-f', 'qcow2', '-u',
                             '-b', self.host_file, '-F', 'raw', path, '1G')
        elif kind == 'qcow2_data_file':
            with open(path, 'wb') as f:
                f.write(self._forged_qcow2(data_file=self.host_file))
        else:
            test_lustre._run('qemu-img', 'create', '-f', kind, path, '1G')
        volume = self._volume(provider_location=None)
        self.assertRaises(exception.ManageExistingInvalidReference,
                          self.driver.manage_existing, volume,
                          {'source-name': SHARE + '/image.img'})
        self.assertEqual(['image.img'], os.listdir(self.mnt))
        self._assert_host_file_unread(path)

    def test_manage_existing_vmdk_descriptor_is_raw_data(self):
        # A VMDK descriptor naming a host file as its extent is text to
        # the inspector: managed, it is a raw volume of those bytes, which
        # nothing ever reads as VMDK.
        path = self._path('image.img')
        descriptor = ('# Disk DescriptorFile\nversion=1\nCID=fffffffe\n'
                      'parentCID=ffffffff\ncreateType="monolithicFlat"\n'
                      'RW 128 FLAT "%s" 0\n' % self.host_file).encode()
        with open(path, 'wb') as f:
            f.write(descriptor)
        volume = self._volume(provider_location=None)
        self.driver.manage_existing(volume,
                                    {'source-name': SHARE + '/image.img'})
        self.assertEqual('raw', volume.admin_metadata['format'])
        volume.provider_location = SHARE
        self.assertEqual('raw', self.driver.initialize_connection(
            volume, {})['data']['format'])
        with open(self._path(volume.name), 'rb') as f:
            self.assertEqual(descriptor, f.read())
        self._assert_host_file_unread()

    @ddt.data(('luks', False), ('qcow2', True), ('raw', True))
    @ddt.unpack
    def test_manage_existing_luks_refused(self, kind, manageable):
        # The format inspector calls a LUKS container raw; qemu-img's
        # format-specific data of it says what it is.
        if kind == 'luks':
            self._image('image.img', 'raw', size=64 * units.Mi,
                        encrypted=True)
        elif kind == 'qcow2':
            self._image('image.img', 'qcow2')
        else:
            self._touch('image.img')
        volume = self._volume(provider_location=None)
        ref = {'source-name': SHARE + '/image.img'}
        self.assertEqual(manageable, self.driver._is_volume_manageable(
            self._path('image.img'))[0])
        # One qemu-img info decides.
        self.assertEqual(1, self.qemu_img_info.call_count)
        if manageable:
            self.driver.manage_existing(volume, ref)
            self.assertEqual([volume.name], os.listdir(self.mnt))
            return
        exc = self.assertRaises(exception.ManageExistingInvalidReference,
                                self.driver.manage_existing, volume, ref)
        self.assertIn('LUKS', str(exc))
        self.assertEqual(['image.img'], os.listdir(self.mnt))

    @ddt.data(('raw', 3 * units.Gi - 1, 3), ('qcow2', 2 * units.Gi, 2),
              ('raw', 1, 1))
    @ddt.unpack
    def test_manage_existing_get_size(self, fmt, size, size_gb):
        self._image('image.img', fmt, size=size)
        self.assertEqual(size_gb, self.driver.manage_existing_get_size(
            self._volume(), {'source-name': SHARE + '/image.img'}))
        self.assertEqual([fmt], [c.kwargs['img_format'] for c in
                                 self.qemu_img_info.call_args_list])

    def test_manage_existing_get_size_of_qcow2_header_in_raw_file(self):
        # A raw file holding a qcow2 header that names a host file: the
        # inspector refuses it, nothing follows the reference.
        path = self._path('image.img')
        with open(path, 'wb') as f:
            f.write(self._forged_qcow2(backing=self.host_file))
        self.assertRaises(lustre_images.UnsafeImage,
                          self.driver.manage_existing_get_size,
                          self._volume(),
                          {'source-name': SHARE + '/image.img'})
        self.qemu_img_info.assert_not_called()

    def test_qemu_img_info_only_for_unknown_files(self):
        # A file of a volume has the format Cinder recorded: asking
        # qemu-img what it is, is refused.
        for name, fmt in (('volume-x', None), (None, 'raw')):
            self.assertRaises(lustre_images.UnsafeImage,
                              self.driver._qemu_img_info, self._path('x'),
                              name, fmt)
        self.qemu_img_info.assert_not_called()
