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

import os
from unittest import mock

from nova.compute import power_state
from nova.tests.unit.virt.libvirt.volume import test_mount
from nova.tests.unit.virt.libvirt.volume import test_volume
from nova import utils
from nova.virt import fake
from nova.virt.libvirt import driver
from nova.virt.libvirt import guest as libvirt_guest
from nova.virt.libvirt.volume import lustre
from nova.virt.libvirt.volume import mount


class LibvirtLustreVolumeDriverTestCase(
        test_volume.LibvirtVolumeBaseTestCase):
    """Tests the libvirt Lustre volume driver."""

    # A Lustre share as Cinder's Lustre driver hands it out: a failover
    # pair of MGS NIDs, the file system name and a subdirectory.
    export_string = '192.168.1.1@tcp:192.168.1.2@tcp:/testfs/cinder'

    def setUp(self):
        super(LibvirtLustreVolumeDriverTestCase, self).setUp()

        self.useFixture(test_mount.MountFixture(self))

        m = mount.get_manager()
        m._reset_state()

        self.mnt_base = '/mnt/lustre'
        m.host_up(self.fake_host)
        self.flags(lustre_mount_point_base=self.mnt_base, group='libvirt')
        self.instance_uuid = '7f0b4ba8-6f46-4a2f-9f5e-3c1a7e3b1a55'
        self.export_mnt_base = os.path.join(
            self.mnt_base, utils.get_hash_str(self.export_string))

    def _connect_disconnect(self, connection_info):
        libvirt_driver = lustre.LibvirtLustreVolumeDriver(self.fake_host)
        instance = mock.sentinel.instance
        instance.uuid = self.instance_uuid
        libvirt_driver.connect_volume(connection_info, instance)
        libvirt_driver.disconnect_volume(connection_info, instance)

    def test_volume_driver_registered(self):
        self.assertEqual(
            'nova.virt.libvirt.volume.lustre.LibvirtLustreVolumeDriver',
            driver.VOLUME_DRIVERS['lustre'])

    def test_libvirt_lustre_driver(self):
        connection_info = {'data': {'export': self.export_string,
                                    'name': self.name}}

        self._connect_disconnect(connection_info)

        device_path = os.path.join(self.export_mnt_base, self.name)
        self.assertEqual(device_path, connection_info['data']['device_path'])
        self.mock_ensure_tree.assert_has_calls(
            [mock.call(self.export_mnt_base)])
        self.mock_mount.assert_has_calls(
            [mock.call('lustre', self.export_string, self.export_mnt_base,
                       [])])
        self.mock_umount.assert_has_calls([mock.call(self.export_mnt_base)])
        self.mock_rmdir.assert_has_calls([mock.call(self.export_mnt_base)])

    def _test_libvirt_lustre_driver_with_opts(self, conf_options,
                                              conn_options, expected):
        self.flags(lustre_mount_options=conf_options, group='libvirt')
        connection_info = {'data': {'export': self.export_string,
                                    'name': self.name}}
        if conn_options is not None:
            connection_info['data']['options'] = conn_options

        self._connect_disconnect(connection_info)

        self.mock_mount.assert_has_calls(
            [mock.call('lustre', self.export_string, self.export_mnt_base,
                       expected)])

    def test_libvirt_lustre_driver_with_conf_opts(self):
        self._test_libvirt_lustre_driver_with_opts(
            'flock', None, ['-o', 'flock'])

    def test_libvirt_lustre_driver_with_connection_opts(self):
        self._test_libvirt_lustre_driver_with_opts(
            None, '-o localflock', ['-o', 'localflock'])

    def test_libvirt_lustre_driver_with_conf_and_connection_opts(self):
        # The operator's options come first; extra blanks are ignored.
        self._test_libvirt_lustre_driver_with_opts(
            'flock,user_xattr', '-o  noatime',
            ['-o', 'flock,user_xattr', '-o', 'noatime'])

    def test_libvirt_lustre_driver_shares_mount(self):
        # Two volumes on one share: one mount, unmounted after the last.
        libvirt_driver = lustre.LibvirtLustreVolumeDriver(self.fake_host)
        instance = mock.sentinel.instance
        instance.uuid = self.instance_uuid
        infos = [{'data': {'export': self.export_string, 'name': name}}
                 for name in ('volume-1', 'volume-2')]

        for info in infos:
            libvirt_driver.connect_volume(info, instance)
        self.assertEqual(1, self.mock_mount.call_count)
        libvirt_driver.disconnect_volume(infos[0], instance)
        self.mock_umount.assert_not_called()
        libvirt_driver.disconnect_volume(infos[1], instance)
        self.mock_umount.assert_called_once_with(self.export_mnt_base)

    def _instance(self):
        instance = mock.sentinel.instance
        instance.uuid = self.instance_uuid
        return instance

    def test_disconnect_after_online_snapshot(self):
        # Attached as volume-1; an online snapshot makes nova refresh the
        # connection info to the overlay's name; the detach must still
        # release the mount.
        libvirt_driver = lustre.LibvirtLustreVolumeDriver(self.fake_host)
        instance = self._instance()
        info = {'data': {'export': self.export_string, 'name': 'volume-1'}}
        libvirt_driver.connect_volume(info, instance)

        info['data']['name'] = 'volume-1.e7aa265c'
        libvirt_driver.disconnect_volume(info, instance)

        self.mock_umount.assert_called_once_with(self.export_mnt_base)

    def test_disconnect_keeps_other_volumes_mounted(self):
        # volume-10 is not an overlay of volume-1: releasing volume-1's
        # renamed attachment leaves the share mounted for volume-10.
        libvirt_driver = lustre.LibvirtLustreVolumeDriver(self.fake_host)
        instance = self._instance()
        infos = [{'data': {'export': self.export_string, 'name': name}}
                 for name in ('volume-1', 'volume-10')]
        for info in infos:
            libvirt_driver.connect_volume(info, instance)

        infos[0]['data']['name'] = 'volume-1.e7aa265c'
        libvirt_driver.disconnect_volume(infos[0], instance)
        self.mock_umount.assert_not_called()
        infos[1]['data']['name'] = 'volume-10.0f0e1d2c'
        libvirt_driver.disconnect_volume(infos[1], instance)
        self.mock_umount.assert_called_once_with(self.export_mnt_base)

    def test_disconnect_after_restart_and_snapshot(self):
        # nova-compute restarted while the guest ran on an overlay: the
        # mount manager counts the overlay's name; one more snapshot
        # renames the file again before the detach.
        self.mounts.add(self.export_mnt_base)
        disk = mock.Mock(source_type='file', source_path=os.path.join(
            self.export_mnt_base, 'volume-1.e7aa265c'))
        guest = mock.Mock(uuid=self.instance_uuid)
        guest.get_all_disks.return_value = [disk]
        host = mock.Mock()
        host.list_guests.return_value = [guest]
        m = mount.get_manager()
        m.host_down()
        m.host_up(host)
        libvirt_driver = lustre.LibvirtLustreVolumeDriver(host)
        info = {'data': {'export': self.export_string,
                         'name': 'volume-1.5d3c2b1a'}}

        libvirt_driver.disconnect_volume(info, self._instance())

        self.mock_umount.assert_called_once_with(self.export_mnt_base)

    def _test_libvirt_lustre_driver_get_config(self, fmt):
        libvirt_driver = lustre.LibvirtLustreVolumeDriver(self.fake_host)
        file_path = os.path.join(self.export_mnt_base, self.name)

        connection_info = {'data': {'export': self.export_string,
                                    'name': self.name,
                                    'format': fmt,
                                    'device_path': file_path}}
        conf = libvirt_driver.get_config(connection_info, self.disk_info)
        tree = conf.format_dom()
        self._assertFileTypeEquals(tree, file_path)
        self.assertEqual(fmt, tree.find('./driver').get('type'))
        self.assertEqual('native', tree.find('./driver').get('io'))

    def test_libvirt_lustre_driver_get_config_raw(self):
        self._test_libvirt_lustre_driver_get_config('raw')

    def test_libvirt_lustre_driver_get_config_qcow2(self):
        self._test_libvirt_lustre_driver_get_config('qcow2')

    def test_libvirt_lustre_driver_get_config_default_format(self):
        libvirt_driver = lustre.LibvirtLustreVolumeDriver(self.fake_host)
        file_path = os.path.join(self.export_mnt_base, self.name)

        connection_info = {'data': {'export': self.export_string,
                                    'name': self.name,
                                    'device_path': file_path}}
        conf = libvirt_driver.get_config(connection_info, self.disk_info)
        tree = conf.format_dom()
        self.assertEqual('raw', tree.find('./driver').get('type'))

    def test_libvirt_lustre_driver_get_config_default_aio_mode(self):
        self.flags(use_default_aio_mode_for_volumes=True, group='libvirt')

        libvirt_driver = lustre.LibvirtLustreVolumeDriver(self.fake_host)
        file_path = os.path.join(self.export_mnt_base, self.name)

        connection_info = {'data': {'export': self.export_string,
                                    'name': self.name,
                                    'device_path': file_path}}
        conf = libvirt_driver.get_config(connection_info, self.disk_info)
        tree = conf.format_dom()
        self._assertFileTypeEquals(tree, file_path)
        self.assertIsNone(tree.find('./driver').get('io'))

    def test_extend_volume(self):
        libvirt_driver = lustre.LibvirtLustreVolumeDriver(self.fake_host)
        connection_info = {'data': {'export': self.export_string,
                                    'name': self.name}}
        instance = mock.sentinel.instance
        requested_size = 10

        new_size = libvirt_driver.extend_volume(connection_info,
                                                instance,
                                                requested_size)

        self.assertEqual(requested_size, new_size)

    def test_libvirt_driver_resizes_attached_file(self):
        # What a volume-extended event does to a running guest's Lustre
        # disk: libvirt's block resize of its file to the requested size
        # (qemu grows a qcow2 image itself; Cinder grew a raw file).
        drvr = driver.LibvirtDriver(fake.FakeVirtAPI(), False)
        device_path = os.path.join(self.export_mnt_base, self.name)
        connection_info = {'driver_volume_type': 'lustre',
                           'data': {'export': self.export_string,
                                    'name': self.name, 'format': 'qcow2',
                                    'device_path': device_path}}
        new_size = 2 * 1024 ** 3
        guest = mock.Mock(spec=libvirt_guest.Guest)
        guest.get_power_state.return_value = power_state.RUNNING
        drvr._host.get_guest = mock.Mock(return_value=guest)

        drvr.extend_volume(mock.sentinel.context, connection_info,
                           mock.sentinel.instance, new_size)

        guest.get_block_device.assert_called_once_with(device_path)
        guest.get_block_device.return_value.resize.assert_called_once_with(
            new_size)
