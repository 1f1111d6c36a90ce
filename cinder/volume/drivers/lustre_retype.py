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

"""Retyping Lustre volumes in place: a new layout, or multiattach.

A retype that changes only ``lustre:`` layout specs, multiattach or QoS
specs (which the driver does not enforce) is done in place: ``lfs migrate``
rewrites the files in the new layout. Any other change returns False, and
Cinder migrates the volume generically.
"""

from __future__ import annotations

import os
import typing
from typing import Any, Callable, Optional  # noqa: H301

from oslo_log import log as logging
from oslo_utils import excutils

from cinder import context
from cinder import coordination
from cinder import exception
from cinder.i18n import _
from cinder import objects
from cinder.volume.drivers import lustre_client
from cinder.volume.drivers import lustre_files as files
from cinder.volume.drivers import lustre_images as images
from cinder.volume.drivers import lustre_pools
from cinder.volume import volume_utils

LOG = logging.getLogger(__name__)


class LustreRetypeMixin:
    """A Lustre driver's retype; mixed into LustreDriver before its bases."""

    # What the driver provides (LustreDriver, its pools and its bases).
    driver_prefix: str
    _lfs: lustre_client.Lfs
    _execute: Callable
    _execute_as_root: bool
    _chain: Callable[[objects.Volume], images.Chain]
    _volume_files: Callable[[objects.Volume], list[str]]
    _read_info_file: Callable[..., dict]
    _local_path_volume_info: Callable[[objects.Volume], str]
    _ensure_share_mounted: Callable[[str], None]
    _is_volume_attached: Callable[[objects.Volume], bool]
    _is_plain_raw: Callable[[objects.Volume], bool]
    _extra_specs: Callable[[Any], dict]
    _provisioning: Callable[[dict], str]
    _pool_name_of: Callable[[Any], Optional[str]]
    _layout: Callable[..., lustre_client.Layout]
    _default_layout: Callable[[str], Optional[lustre_client.Layout]]
    _check_room: Callable[[Any, lustre_client.Layout, int], None]
    _create_new_file: Callable[[str, lustre_client.Layout], None]
    _set_rw_permissions: Callable[[str], None]
    _delete: Callable[[str], None]
    _delete_if_present: Callable[[str], None]
    _record_format: Callable[[objects.Volume, str], None]
    _apply_project_quota: Callable[[objects.Volume], None]
    local_path: Callable[[objects.Volume], str]

    if typing.TYPE_CHECKING:
        @property
        def _qemu_img(self) -> images.QemuImg:
            """LustreDriver's property; an attribute here would clash."""

    @coordination.synchronized('{self.driver_prefix}-{volume.id}')
    def retype(self, ctxt: context.RequestContext, volume: objects.Volume,
               new_type: Any, diff: dict, host: dict
               ) -> tuple[bool, Optional[dict]]:
        """Retype in place, or return False for a generic migration."""
        if not self._retype_in_place(volume, new_type, diff, host):
            return False, None
        if self._extra_specs(new_type).get('multiattach') == '<is> True':
            self._make_one_raw_file(volume, 'it becomes multiattach')
        if not any(key.startswith(lustre_pools.SPEC_PREFIX)
                   for key in diff.get('extra_specs') or {}):
            return True, None
        if self._is_volume_attached(volume):
            # lfs migrate blocks access to each file while it copies it.
            raise exception.InvalidVolume(reason=_(
                'volume %s is attached: lfs migrate would block its guest '
                'while it rewrites the files; detach it to change its '
                'Lustre layout') % volume.id)
        # Bad extra specs are refused before anything is touched.
        layout: Optional[lustre_client.Layout] = self._layout(volume,
                                                              new_type)
        self._ensure_share_mounted(volume.provider_location)
        layout = layout or self._default_layout(volume.provider_location)
        paths = self._volume_images(volume)
        if not layout or not self._can_migrate(volume, paths, layout):
            return False, None
        for path in paths:
            LOG.info('Migrating %(path)s to layout %(layout)s.',
                     {'path': path, 'layout': layout.setstripe_args()})
            self._lfs.migrate(path, layout, run_as_root=self._execute_as_root)
        return True, None

    def _retype_in_place(self, volume: objects.Volume, new_type: Any,
                         diff: dict, host: dict) -> bool:
        """Whether a retype changes nothing but the layout (or QoS)."""
        if (diff.get('encryption') or
                volume_utils.extract_host(host['host'], level='pool') !=
                self._pool_name_of(volume)):
            return False
        for key in diff.get('extra_specs') or {}:
            # Any volume can become multiattach: see _make_one_raw_file.
            if key.startswith(lustre_pools.SPEC_PREFIX) or \
                    key == 'multiattach':
                continue
            # provisioning:type may go from unset to its default.
            if key != 'provisioning:type' or (
                    self._provisioning(self._extra_specs(volume.volume_type))
                    != self._provisioning(self._extra_specs(new_type))):
                LOG.debug('Retype of volume %(vol)s changes %(key)s: '
                          'it needs a migration.',
                          {'vol': volume.id, 'key': key})
                return False
        return True

    def _volume_images(self, volume: objects.Volume) -> list[str]:
        """The volume's image files, each checked before lfs migrates it."""
        paths = [path for path in self._volume_files(volume)
                 if not path.endswith('.info')]
        for path in paths:
            images.check_regular(path)
        return paths

    def _can_migrate(self, volume: objects.Volume, paths: list[str],
                     layout: lustre_client.Layout) -> bool:
        """Whether lfs migrate can rewrite the files, room and holes kept."""
        stats = [os.stat(path) for path in paths]
        keeps_holes = self._lfs.migrate_keeps_holes
        # Before 2.15 lfs migrate writes every hole: a sparse file would
        # become as large as the volume.
        if not keeps_holes and any(st.st_blocks * 512 < st.st_size
                                   for st in stats):
            LOG.info('Volume %(vol)s has sparse files and lfs %(version)s '
                     'migrate would fill their holes: leaving the retype '
                     'to a migration.', {
                         'vol': volume.id,
                         'version': lustre_client.format_version(
                             self._lfs.version())})
            return False
        # lfs migrate writes a second copy of each file before it drops
        # the first: the largest copy must fit in the new layout's space.
        self._check_room(volume, layout, max(
            st.st_blocks * 512 if keeps_holes else st.st_size
            for st in stats))
        return True

    def _make_one_raw_file(self, volume: objects.Volume, why: str) -> None:
        """Rewrite a detached volume as one raw file: what a guest sees."""
        # Cinder retypes to multiattach and migrates by copy only available
        # volumes; a qcow2 file (lustre_qcow2_volumes) two guests cannot
        # share, and a copy of its bytes is not a copy of the volume.
        if self._is_plain_raw(volume):
            return
        if files.has_snapshots(self._read_info_file(
                self._local_path_volume_info(volume), empty_if_missing=True)):
            raise exception.InvalidVolume(reason=_(
                'volume %s has snapshots, which one raw file cannot keep; '
                'delete them first') % volume.id)
        self._ensure_share_mounted(volume.provider_location)
        chain = self._chain(volume)
        old_files = self._volume_files(volume)
        path = self.local_path(volume)
        new_path = path + '.raw'
        self._delete_if_present(new_path)
        self._create_new_file(new_path, self._layout(volume))
        LOG.info('Volume %(vol)s: rewriting %(src)s as one raw file, as '
                 '%(why)s.', {'vol': volume.id, 'src': chain.names(),
                              'why': why})
        try:
            self._qemu_img.convert(chain, new_path, 'raw')
        except Exception:
            with excutils.save_and_reraise_exception():
                self._delete_if_present(new_path)
        self._set_rw_permissions(new_path)
        # Renamed over the volume: at every moment it is one complete image.
        self._execute('mv', '-f', '--', new_path, path,
                      run_as_root=self._execute_as_root)
        for old in old_files:
            if old != path:
                self._delete(old)
        self._record_format(volume, 'raw')
        self._apply_project_quota(volume)
