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

"""Libvirt volume driver for Cinder volumes on Lustre file systems."""

import nova.conf
from nova.virt.libvirt.volume import fs
from nova.virt.libvirt.volume import mount

CONF = nova.conf.CONF


class LibvirtLustreVolumeDriver(fs.LibvirtMountedFileSystemVolumeDriver):
    """Attach Cinder volumes that are files on a Lustre file system.

    Cinder's Lustre driver returns ``driver_volume_type`` ``lustre`` with
    ``data`` holding the share (``export``, ``MGSNID[:MGSNID...]:/fsname``
    with an optional subdirectory), the volume's file name (``name``), its
    ``format`` (``raw`` or ``qcow2``) and optional mount ``options``. The
    share is mounted once per compute host with the native Lustre client
    (``mount -t lustre``) through the shared mount manager, and the file is
    handed to libvirt as a file-backed disk, as for NFS.
    """

    def __init__(self, host):
        super(LibvirtLustreVolumeDriver, self).__init__(host, 'lustre')

    def _get_mount_point_base(self):
        return CONF.libvirt.lustre_mount_point_base

    def get_config(self, connection_info, disk_info):
        """Returns xml for libvirt."""
        conf = super(LibvirtLustreVolumeDriver,
                     self).get_config(connection_info, disk_info)

        conf.source_type = 'file'
        conf.source_path = connection_info['data']['device_path']
        conf.driver_format = connection_info['data'].get('format', 'raw')
        if not CONF.libvirt.use_default_aio_mode_for_volumes:
            conf.driver_io = "native"
        return conf

    def _mount_options(self, connection_info):
        options = []
        if CONF.libvirt.lustre_mount_options is not None:
            options.extend(['-o', CONF.libvirt.lustre_mount_options])

        conn_options = connection_info['data'].get('options')
        if conn_options:
            options.extend(conn_options.split())

        return options

    def disconnect_volume(self, connection_info, instance, force=False):
        """Disconnect the volume under the name it was counted with.

        Cinder renames a volume's active file when a snapshot is taken or
        deleted online (``volume-<id>`` becomes ``volume-<id>.<snapshot
        id>``) and nova refreshes the connection info, but the mount
        manager counts each attachment under the file name it had when it
        was connected (or when nova-compute started). Released under the
        new name, the count never reaches zero: the share stayed mounted
        after its last volume was detached.
        """
        mountpoint = self._get_mount_path(connection_info)
        name = self._counted_name(connection_info['data']['name'],
                                  mountpoint, instance)
        return mount.umount(name, mountpoint, instance)

    @staticmethod
    def _counted_name(name, mountpoint, instance):
        """The name an instance's attachment of a volume is counted under.

        On mountpoint: ``volume-<id>`` or one of its overlays.
        """
        volume = name.split('.', 1)[0]
        with mount.get_manager().get_state() as state:
            point = state.mountpoints.get(mountpoint)
            if point is None:
                return name
            with point.lock:
                counted = [vol for vol, uuid in point.attachments
                           if uuid == instance.uuid and
                           (vol == volume or vol.startswith(volume + '.'))]
        return counted[0] if len(counted) == 1 else name

    def extend_volume(self, connection_info, instance, requested_size):
        # Nothing to do on the host: libvirt resizes the disk within the
        # instance by calling virDomainBlockResize, after Cinder grew a raw
        # file; a qcow2 (or LUKS) image is metadata that only the guest's
        # qemu may write, so that call is what grows it.
        return requested_size
