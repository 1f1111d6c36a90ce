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

"""Per-volume Lustre project quotas (lustre_project_quotas).

Every volume gets a project id of its own and a block limit of its size
per image, so that a thin volume and its snapshots cannot grow past what
they were given. The volume driver calls this unit where a volume's files
are created, grow, shrink or go.
"""

from __future__ import annotations

from typing import Any, Callable, Optional  # noqa: H301

from oslo_concurrency import processutils as putils
from oslo_log import log as logging
from oslo_utils import units

from cinder import coordination
from cinder import exception
from cinder.i18n import _
from cinder.volume.drivers import lustre_client

LOG = logging.getLogger(__name__)

# Project ids of volumes: derived from the volume id into a range clear of
# the small ids operators hand out themselves and of Manila's default
# range (10000-60000), then probed for collisions. 2^32 - 1 is invalid.
PROJECT_ID_MIN = 1 << 24
PROJECT_ID_MAX = (1 << 24) + (1 << 30) - 1
PROJECT_ID_LIMIT = (1 << 32) - 2
_MANILA_PROJECT_IDS = (10000, 60000)

PROJECT_ID_KEY = 'lustre_project_id'
PROJECT_ID_PROBES = 32
# The block limit the start-up probe sets on a scratch project id, in KiB.
_PROBE_LIMIT_KIB = 1024
# Room a quota leaves above an image's size for qcow2 metadata (L1/L2 and
# refcount tables: well under 1/256 of the size) and small files (.info).
_HEADROOM_RATIO = 256
_HEADROOM_KIB = 1024


def limit_kib(size_gb: int, images: int) -> int:
    """The block limit of a volume's project: its size per image.

    Each snapshot adds an overlay that can grow to the volume's size while
    the images below it stay: snapshots count against the volume's own
    project, and are not exempt (an exempt overlay could fill the file
    system).
    """
    per_image = size_gb * units.Gi // units.Ki
    return max(images, 1) * (per_image + per_image // _HEADROOM_RATIO +
                             _HEADROOM_KIB)


def project_id(volume: Any) -> Optional[int]:
    """The project id recorded for a volume, if it has one."""
    with volume.obj_as_admin():
        value = (volume.admin_metadata or {}).get(PROJECT_ID_KEY)
    return int(value) if value is not None else None


class ProjectQuotas:
    """The project ids and limits of a back end's volumes, by share."""

    def __init__(self, lfs: lustre_client.Lfs, configuration: Any,
                 mount_point: Callable[[str], str],
                 driver_prefix: str) -> None:
        self._lfs = lfs
        self._mount_point = mount_point
        self._configuration = configuration
        # The prefix of the per file system locks of id allocation.
        self.driver_prefix = driver_prefix
        # Shares whose file system takes project quotas (probe).
        self.shares: set[str] = set()

    def id_range(self) -> tuple[int, int]:
        """The configured project ids: (lowest, highest)."""
        low = self._configuration.lustre_project_id_min
        high = self._configuration.lustre_project_id_max
        if low > high:
            raise exception.InvalidConfigurationValue(
                option='lustre_project_id_min', value=low)
        return low, high

    def probe(self, fsnames: dict[str, str]) -> None:
        """Find the mounted shares (fsname by share) that take limits."""
        self.shares = set()
        if not self._configuration.lustre_project_quotas:
            return
        low, high = self.id_range()
        if low <= _MANILA_PROJECT_IDS[1] and high >= _MANILA_PROJECT_IDS[0]:
            LOG.warning('Project ids %(low)d to %(high)d overlap the ids '
                        'Manila\'s Lustre driver uses by default (%(m0)d '
                        'to %(m1)d); ids in use are skipped, but an id '
                        'Manila has chosen and not yet applied is not '
                        'seen.', {'low': low, 'high': high,
                                  'm0': _MANILA_PROJECT_IDS[0],
                                  'm1': _MANILA_PROJECT_IDS[1]})
        # Shares that fail are used without quotas, with one warning: the
        # option never stops a backend.
        missing = []
        for share, fsname in fsnames.items():
            try:
                probed = self._probe(self._mount_point(share), fsname)
            except (putils.ProcessExecutionError,
                    lustre_client.LustreException) as exc:
                missing.append('%s (%s)' % (
                    share, getattr(exc, 'stderr', None) or exc))
                continue
            LOG.info('Lustre share %(share)s: set and cleared a limit on '
                     'project %(id)d; volumes get project quotas there, '
                     'enforced if the servers\' quota_slave.enabled '
                     'contains p.', {'share': share, 'id': probed})
            self.shares.add(share)
        if missing:
            LOG.warning('lustre_project_quotas is set, but these shares '
                        'have no project quota: %s. Their volumes are '
                        'created without a per-volume limit.',
                        '; '.join(missing))

    @coordination.synchronized('{self.driver_prefix}-project-{fsname}')
    def _probe(self, mount_point: str, fsname: str) -> int:
        """Set and clear a limit on a free id, from the top of the range.

        Reading quotas proves neither the right to set them (root, the
        nodemap) nor project quotas on the file system. Whether servers
        enforce limits is their setting, which no client can read.
        """
        low, high = self.id_range()
        probed = self._free_id(mount_point, high - low)
        self._lfs.setquota(mount_point, probed, _PROBE_LIMIT_KIB)
        try:
            quota = self._lfs.quota(mount_point, probed)
        finally:
            self._lfs.setquota(mount_point, probed, 0)
        if quota.block_hard != _PROBE_LIMIT_KIB:
            raise lustre_client.LustreException(msg=_(
                'lfs quota shows a block limit of %(found)dK for project '
                '%(id)d after lfs setquota set %(set)dK') % {
                'found': quota.block_hard, 'id': probed,
                'set': _PROBE_LIMIT_KIB})
        return probed

    def _free_id(self, mount_point: str, seed: int) -> int:
        """The first id from seed on, in the range, that nobody uses."""
        low, high = self.id_range()
        span = high - low + 1
        defaults = self._lfs.quota_defaults(mount_point)
        for offset in range(min(PROJECT_ID_PROBES, span)):
            candidate = low + (seed + offset) % span
            # lfs quota reports the usage and limits of the whole file
            # system; limits of the default project quota leave it free.
            if not self._lfs.quota(mount_point, candidate).taken(defaults):
                return candidate
            LOG.debug('Project id %d is in use; trying the next one.',
                      candidate)
        raise lustre_client.LustreException(msg=_(
            'no free project id among %(count)d candidates from %(id)d') % {
            'count': min(PROJECT_ID_PROBES, span), 'id': low + seed % span})

    def apply(self, volume: Any, fsname: str, limit: int) -> int:
        """Set the limit of the volume's project; return the project id."""
        mount_point = self._mount_point(volume.provider_location)
        current = project_id(volume)
        if current is None:
            return self._allocate(volume, mount_point, fsname, limit)
        self._lfs.setquota(mount_point, current, limit)
        return current

    @coordination.synchronized('{self.driver_prefix}-project-{fsname}')
    def _allocate(self, volume: Any, mount_point: str, fsname: str,
                  limit: int) -> int:
        """Choose a free project id for a volume, set its limit, record it."""
        # From the first 32 bits of the UUID on: two volumes mapped to one
        # id, or someone else's project, are detected rather than shared.
        chosen = self._free_id(mount_point,
                               int(volume.id.replace('-', '')[:8], 16))
        # Under the file system's lock: a concurrent allocation sees the
        # id taken once its limit is set.
        self._lfs.setquota(mount_point, chosen, limit)
        # Kept, never derived again.
        volume.admin_metadata[PROJECT_ID_KEY] = str(chosen)
        with volume.obj_as_admin():
            volume.save()
        LOG.debug('Volume %(vol)s has project id %(id)d.',
                  {'vol': volume.id, 'id': chosen})
        return chosen

    def release(self, volume: Any) -> None:
        """Remove the limit of the volume's project, freeing its id."""
        current = project_id(volume)
        if current is None:
            return
        try:
            self._lfs.setquota(self._mount_point(volume.provider_location),
                               current, 0)
        except (putils.ProcessExecutionError,
                lustre_client.LfsNotInstalled) as exc:
            # Allocation skips the unused limit left; deleting goes on.
            LOG.warning('Could not remove the quota of project %(id)d of '
                        'volume %(vol)s: %(err)s',
                        {'id': current, 'vol': volume.id,
                         'err': getattr(exc, 'stderr', None) or exc})
