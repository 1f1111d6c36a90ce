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

"""Bad input against the real driver: refused, and nothing on the share moves.

Each case prepares something hostile (an image, a file on the share, a
.info file, a volume type, a size), takes a snapshot of the whole file
system the share lives on (names, modes, sizes, mtimes, hashes), runs one
driver operation and asserts that it fails with the Cinder exception
expected, with a message that names what was wrong, and that the file
system is exactly as it was: the same bytes in every volume file, so the
same data for every guest.
"""

import io
import json
import os
import stat
import uuid

from base import FunctionalTestCase
from base import GiB
from base import ImageService
from base import MiB
from base import run
from base import tree_state
import ddt

from cinder import exception
from cinder import objects
from cinder.tests.unit import utils as test_utils


@ddt.ddt
class BadInputTestCase(FunctionalTestCase):

    def setUp(self):
        super().setUp()
        self.driver = self.make_driver()
        self.thin = self.make_volume_type('thin',
                                          **{'provisioning:type': 'thin'})
        self.mount_point = self.driver._get_mount_point_for_share(self.share)
        # A host file that no volume operation may ever read or expose.
        self.host_file = os.path.join(self.tmp, 'host-secret')
        with open(self.host_file, 'wb') as f:
            f.write(b'host secret\n' * 1000)
        self.image_service = ImageService()
        # One live volume: its files must survive every case.
        self.volume = self.make_volume(self.driver, self.thin)
        self.write(self.driver, self.volume, 0, 0x3c)

    # -- helpers ----------------------------------------------------------

    def _on_share(self, name):
        return os.path.join(self.mount_point, name)

    def _image_file(self, name, *create_args, size='1M'):
        path = os.path.join(self.tmp, name)
        run('qemu-img', 'create', *create_args + (path, size))
        return path

    def _image(self, path, disk_format):
        """Register a file as a Glance image of the given disk format."""
        image_id = str(uuid.uuid4())
        with open(path, 'rb') as f:
            data = f.read()
        self.image_service.create(
            self.ctxt, {'id': image_id, 'name': 'bad', 'status': 'active',
                        'disk_format': disk_format,
                        'container_format': 'bare', 'size': len(data),
                        'visibility': 'private', 'protected': False,
                        'properties': {}}, data=io.BytesIO(data))
        return image_id

    def _copy_image(self, path, disk_format):
        image_id = self._image(path, disk_format)
        volume = objects.Volume.get_by_id(self.ctxt, self.volume.id)
        return lambda: self.driver.copy_image_to_volume(
            self.ctxt, volume, self.image_service, image_id)

    def _manage(self, name):
        volume = test_utils.create_volume(
            self.ctxt, host=self.pool_host(), size=1,
            volume_type_id=self.thin.id, status='managing')
        ref = {'source-name': '%s/%s' % (self.share, name)}
        return lambda: self.driver.manage_existing(volume, ref)

    def _luks_file(self, path):
        run('qemu-img', 'create', '-f', 'luks', '--object',
            'secret,id=s0,data=not-a-secret', '-o',
            'key-secret=s0,iter-time=10', path, '16M')

    def _with_info(self, content):
        """Give the live volume a .info file with this content."""
        with open(self.driver._local_path_volume_info(self.volume),
                  'w') as f:
            f.write(content)
        volume = objects.Volume.get_by_id(self.ctxt, self.volume.id)
        return volume

    def _type(self, **specs):
        volume_type = self.make_volume_type(uuid.uuid4().hex, **specs)
        volume = test_utils.create_volume(
            self.ctxt, host=self.pool_host(), size=1,
            volume_type_id=volume_type.id, status='creating')
        return lambda: self.driver.create_volume(volume)

    # -- copy_image_to_volume: hostile images -------------------------------

    def case_image_backing_host_file(self):
        path = self._image_file('img', '-f', 'qcow2', '-F', 'raw', '-b',
                                self.host_file)
        return (self._copy_image(path, 'qcow2'), exception.ImageUnacceptable,
                'safety check')

    def case_image_backing_share_file(self):
        target = self.driver.local_path(self.volume)
        path = self._image_file('img', '-f', 'qcow2', '-F', 'qcow2', '-b',
                                target)
        return (self._copy_image(path, 'qcow2'), exception.ImageUnacceptable,
                'safety check')

    def case_image_data_file(self):
        path = os.path.join(self.tmp, 'img')
        run('qemu-img', 'create', '-f', 'qcow2', '-o',
            'data_file=%s,data_file_raw=on' % self.host_file, path, '1M')
        return (self._copy_image(path, 'qcow2'), exception.ImageUnacceptable,
                'safety check')

    def case_image_raw_posing_as_qcow2(self):
        path = os.path.join(self.tmp, 'img')
        with open(path, 'wb') as f:
            f.write(b'\0' * MiB)
        return (self._copy_image(path, 'qcow2'), exception.ImageUnacceptable,
                'qcow2')

    def case_image_qcow2_posing_as_raw(self):
        path = self._image_file('img', '-f', 'qcow2')
        return (self._copy_image(path, 'raw'), exception.ImageUnacceptable,
                "claimed to be 'raw'")

    def case_image_larger_than_volume(self):
        path = self._image_file('img', '-f', 'qcow2', size=str(2 * GiB))
        return (self._copy_image(path, 'qcow2'), exception.ImageUnacceptable,
                'size')

    def case_image_vmdk_flat_extent_to_host_file(self):
        path = os.path.join(self.tmp, 'img')
        with open(path, 'w') as f:
            f.write('# Disk DescriptorFile\nversion=1\nCID=fffffffe\n'
                    'parentCID=ffffffff\ncreateType="monolithicFlat"\n\n'
                    'RW 8 FLAT "%s" 0\n' % self.host_file)
        return (self._copy_image(path, 'vmdk'), exception.ImageUnacceptable,
                "claimed to be 'vmdk'")

    # -- manage_existing: hostile references and files ----------------------

    def case_manage_dotdot(self):
        os.makedirs(self._on_share('sub'))
        run('qemu-img', 'create', '-f', 'raw', self._on_share('legacy'), '1M')
        return (self._manage('sub/../legacy'),
                exception.ManageExistingInvalidReference, "'..'")

    def case_manage_dotdot_outside(self):
        return (self._manage('../../../host-secret'),
                exception.ManageExistingInvalidReference, 'not found')

    def case_manage_symlink_to_host_file(self):
        os.symlink(self.host_file, self._on_share('link'))
        return (self._manage('link'),
                exception.ManageExistingInvalidReference, 'symbolic link')

    def case_manage_through_symlinked_dir(self):
        os.symlink(self.tmp, self._on_share('dir'))
        return (self._manage('dir/host-secret'),
                exception.ManageExistingInvalidReference, 'outside the share')

    def case_manage_char_device(self):
        os.mknod(self._on_share('null'), 0o600 | stat.S_IFCHR,
                 os.makedev(1, 3))
        return (self._manage('null'),
                exception.ManageExistingInvalidReference, 'not found')

    def case_manage_fifo(self):
        os.mkfifo(self._on_share('fifo'))
        return (self._manage('fifo'),
                exception.ManageExistingInvalidReference, 'not found')

    def case_manage_directory(self):
        os.makedirs(self._on_share('adir'))
        return (self._manage('adir'),
                exception.ManageExistingInvalidReference, 'not found')

    def case_manage_file_of_live_volume(self):
        return (self._manage(self.volume.name),
                exception.ManageExistingInvalidReference, self.volume.id)

    def case_manage_info_of_live_volume(self):
        self.make_snapshot(self.driver, self.volume)
        return (self._manage(self.volume.name + '.info'),
                exception.ManageExistingInvalidReference, self.volume.id)

    def case_manage_qcow2_backing_host_file(self):
        run('qemu-img', 'create', '-f', 'qcow2', '-F', 'raw', '-b',
            self.host_file, self._on_share('legacy'))
        return (self._manage('legacy'),
                exception.ManageExistingInvalidReference, 'backing or data')

    def case_manage_qcow2_data_file(self):
        run('qemu-img', 'create', '-f', 'qcow2', '-o',
            'data_file=%s,data_file_raw=on' % self.host_file,
            self._on_share('legacy'), '1M')
        return (self._manage('legacy'),
                exception.ManageExistingInvalidReference, 'backing or data')

    def case_manage_luks_unexpected(self):
        self._luks_file(self._on_share('legacy'))
        return (self._manage('legacy'),
                exception.ManageExistingInvalidReference, 'LUKS')

    def case_manage_vmdk(self):
        run('qemu-img', 'create', '-f', 'vmdk', self._on_share('legacy'),
            '1M')
        return (self._manage('legacy'),
                exception.ManageExistingInvalidReference, 'vmdk')

    def case_manage_other_share(self):
        return (self._manage('../../x'.replace('..', 'other')),
                exception.ManageExistingInvalidReference, 'not found')

    # -- .info files: corrupt, truncated, forged ----------------------------

    def _delete_with_info(self, content):
        volume = self._with_info(content)
        return lambda: self.driver.delete_volume(volume)

    def case_info_not_json(self):
        return (self._delete_with_info('{"active": "volume-'),
                exception.RemoteFSException, 'not valid JSON')

    def case_info_truncated_empty(self):
        return (self._delete_with_info('{'),
                exception.RemoteFSException, 'not valid JSON')

    def case_info_not_a_dict(self):
        return (self._delete_with_info('["volume-x"]'),
                exception.RemoteFSException, 'no active image')

    def case_info_without_active(self):
        return (self._delete_with_info('{}'),
                exception.RemoteFSException, 'no active image')

    def case_info_points_outside(self):
        return (self._delete_with_info(json.dumps(
            {'active': '../../../host-secret'})),
            exception.RemoteFSException, 'host-secret')

    def case_info_absolute_path(self):
        return (self._delete_with_info(json.dumps(
            {'active': self.host_file})),
            exception.RemoteFSException, 'host-secret')

    def case_info_names_other_volume(self):
        other = self.make_volume(self.driver, self.thin)
        return (self._delete_with_info(json.dumps({'active': other.name})),
                exception.RemoteFSException, other.name)

    def case_info_snapshot_on_forged_info(self):
        volume = self._with_info(json.dumps({'active': '../x'}))
        snapshot = self.snapshot_record(volume)
        return (lambda: self.driver.create_snapshot(snapshot),
                exception.RemoteFSException, '../x')

    # -- lustre: extra specs and sizes --------------------------------------

    def case_spec_stripe_size_too_small(self):
        return (self._type(**{'lustre:stripe_size': '100K'}),
                exception.InvalidVolumeType, 'stripe_size')

    def case_spec_stripe_count_zero(self):
        return (self._type(**{'lustre:stripe_count': '0'}),
                exception.InvalidVolumeType, 'stripe_count')

    def case_spec_stripe_count_shell(self):
        return (self._type(**{'lustre:stripe_count': '1;reboot'}),
                exception.InvalidVolumeType, 'stripe_count')

    def case_spec_layout_not_ending(self):
        return (self._type(**{'lustre:layout': '64M:1,1G:2'}),
                exception.InvalidVolumeType, 'layout')

    def case_spec_unknown_ost_pool(self):
        return (self._type(**{'lustre:ost_pool': 'bad pool'}),
                exception.InvalidVolumeType, 'ost_pool')

    def case_spec_provisioning_bogus(self):
        return (self._type(**{'provisioning:type': 'dedup'}),
                exception.InvalidVolumeType, 'dedup')

    def case_extend_to_smaller(self):
        volume = self.make_volume(self.driver, self.thin, size=2)
        return (lambda: self.driver.extend_volume(volume, 1),
                exception.ExtendVolumeError, 'shrink')

    # -- the table ----------------------------------------------------------

    @ddt.data(*sorted(name[len('case_'):] for name in list(vars())
                      if name.startswith('case_')))
    def test_refused_and_share_untouched(self, case):
        operation, exc_class, named = getattr(self, 'case_' + case)()
        root = self.emulator.backing_dir(self.fsname)
        before = tree_state(root)
        exc = self.assertRaises(exc_class, operation)
        self.assertIn(named.lower(), str(exc).lower())
        self.assertEqual(before, tree_state(root))
