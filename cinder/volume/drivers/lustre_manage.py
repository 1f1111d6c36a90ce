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

"""Managing files on Lustre shares as volumes, and unmanaging volumes.

The one place the driver reads a file Cinder never wrote: its format is
found by the format inspector, never guessed by qemu-img, and a link, a
file outside the share or a file of an existing volume is refused.
"""

from __future__ import annotations

import math
import os
import re
import typing
from typing import Callable, Optional  # noqa: H301

from oslo_config import cfg
from oslo_utils import units

if typing.TYPE_CHECKING:
    from oslo_utils import imageutils

from cinder import context
from cinder import coordination
from cinder import exception
from cinder.i18n import _
from cinder.image import image_utils
from cinder import objects
from cinder.volume.drivers import lustre_client
from cinder.volume.drivers import lustre_images as images
from cinder.volume.drivers import lustre_quota
from cinder.volume.drivers import remotefs

CONF = cfg.CONF

_UUID_RE = '(?P<id>[0-9a-f]{8}(?:-[0-9a-f]{4}){3}-[0-9a-f]{12})'


def owning_volume(file_name: str) -> Optional[str]:
    """The id of the existing Cinder volume a file belongs to, if any."""
    # Files are named after the volume's name id, which a migration
    # changes to the id of the (then deleted) volume it was copied into.
    pattern = re.escape(CONF.volume_name_template).replace(
        re.escape('%s'), _UUID_RE)
    match = re.match(pattern + r'(\..*)?$', file_name)
    if not match:
        return None
    ctxt = context.get_admin_context()
    name_id = match.group('id')
    try:
        return objects.Volume.get_by_id(ctxt, name_id).id
    except exception.VolumeNotFound:
        pass
    owners = objects.VolumeList.get_all(ctxt, limit=1,
                                        filters={'_name_id': name_id})
    return owners[0].id if owners else None


class LustreManageableVolumesMixin(remotefs.RemoteFSManageableVolumesMixin):
    """remotefs' manage and unmanage, with a file's format inspected.

    Mixed into LustreDriver before the remotefs bases.
    """

    # What the driver provides (LustreDriver.__init__ and its bases).
    driver_prefix: str
    _mounter: lustre_client.LustreMounter
    _quotas: lustre_quota.ProjectQuotas
    _qemu_img_info_base: Callable[..., 'imageutils.QemuImgInfo']
    _get_mount_point_for_share: Callable[[str], str]
    _record_format: Callable[[objects.Volume, str], None]
    _apply_project_quota: Callable[[objects.Volume], None]

    def _qemu_img_info(self, path: str, volume_name: Optional[str],
                       img_format: Optional[str] = None
                       ) -> 'imageutils.QemuImgInfo':
        """qemu-img info of a file to manage, in the format inspected."""
        # Files of volumes are known by their record (_chain): only managing
        # asks about a file Cinder never wrote.
        if volume_name is not None or img_format is not None:
            raise images.UnsafeImage(path=path, reason=_(
                'the files of a volume have the format Cinder recorded'))
        images.check_regular(path)
        # The inspector refuses backing and data files and VMDK extents.
        img_format = image_utils.get_image_format(path)
        if img_format is None:
            raise images.UnsafeImage(path=path, reason=_(
                'it names another file (a backing or data file, or an '
                'extent), or its format is unknown'))
        return self._qemu_img_info_base(path, typing.cast(str, volume_name),
                                        self._mounter.mount_point_base,
                                        force_share=True, run_as_root=True,
                                        img_format=img_format)

    def _get_manageable_vol_location(self, existing_ref: dict) -> dict:
        """Locate a file to manage, refusing anything but a plain file."""
        location = super()._get_manageable_vol_location(existing_ref)
        path = location['vol_local_path']
        mount_point = location['mountpoint']
        owner = owning_volume(os.path.basename(path))
        reason = None
        if '..' in existing_ref['source-name'].split('/'):
            reason = _("'..' is not allowed in the reference")
        elif os.path.islink(path):
            reason = _('the file is a symbolic link')
        elif os.path.commonpath([os.path.realpath(path),
                                 mount_point]) != mount_point:
            reason = _('the file is outside the share')
        elif owner:
            reason = _('the file belongs to Cinder volume %s') % owner
        if reason:
            raise exception.ManageExistingInvalidReference(
                existing_ref=existing_ref, reason=reason)
        return location

    def _is_volume_manageable(self, volume_path: str,
                              already_managed: bool = False) -> tuple:
        """The base class's checks on one qemu-img info, and no LUKS."""
        if already_managed:
            return False, _('Volume already managed.')
        try:
            info = self._qemu_img_info(volume_path, None)
        except images.UnsafeImage as exc:
            # More than the base class's "Failed to open image".
            return False, exc.msg
        except Exception:
            return False, _('Failed to open image.')
        if info.file_format not in self._SUPPORTED_IMAGE_FORMATS:
            return False, _("Unsupported image format: '%s'."
                            ) % info.file_format
        # Managed volumes are never encrypted: a guest would see the
        # ciphertext. qemu-img reports LUKS as raw.
        if (info.format_specific or {}).get('type') == 'luks':
            return False, _('the file is a LUKS container; an encrypted '
                            'file cannot be managed')
        return True, None

    def _get_rounded_manageable_image_size(self, image_path: str) -> int:
        virtual_size = self._qemu_img_info(image_path, None).virtual_size
        return int(math.ceil(float(virtual_size) / units.Gi))

    @coordination.synchronized('{self.driver_prefix}-{volume.id}')
    def manage_existing(self, volume: objects.Volume,
                        existing_ref: dict) -> dict:
        update = super().manage_existing(volume, existing_ref)
        # The volume has no provider_location yet: the update sets it.
        path = os.path.join(
            self._get_mount_point_for_share(update['provider_location']),
            volume.name)
        info = self._qemu_img_info(path, None)
        self._record_format(volume, info.file_format)
        volume.provider_location = update['provider_location']
        self._apply_project_quota(volume)
        return update

    @coordination.synchronized('{self.driver_prefix}-{volume.id}')
    def unmanage(self, volume: objects.Volume) -> None:
        """Leave the files, but lift the limit of the volume's project."""
        self._quotas.release(volume)
