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

"""Cinder pools of Lustre shares: capacity, choice, stats and layouts.

A Cinder pool is a share, or one OST pool of a share (lustre_ost_pools).
Volume types choose the Lustre layout of a volume's files with ``lustre:``
extra specs. What the Lustre tools print and take stays in lustre_client.
"""

from __future__ import annotations

import dataclasses
import typing
from typing import Any, Callable, Optional  # noqa: H301

from oslo_concurrency import processutils as putils
from oslo_log import log as logging
from oslo_utils import units

from cinder.common import constants
from cinder import context
from cinder import exception
from cinder.i18n import _
from cinder import objects
from cinder.volume.drivers import lustre_client
from cinder.volume.drivers import lustre_quota
from cinder.volume import volume_utils

LOG = logging.getLogger(__name__)

# Extra specs of volume types that set the Lustre layout of volume files.
SPEC_PREFIX = 'lustre:'
SPEC_STRIPE_COUNT = 'lustre:stripe_count'
SPEC_STRIPE_SIZE = 'lustre:stripe_size'
SPEC_OST_POOL = 'lustre:ost_pool'
SPEC_LAYOUT = 'lustre:layout'
_LAYOUT_SPECS = (SPEC_STRIPE_COUNT, SPEC_STRIPE_SIZE, SPEC_OST_POOL,
                 SPEC_LAYOUT)


def layout_from_specs(specs: dict[str, str]) -> lustre_client.Layout:
    """Build a layout from ``lustre:`` extra specs; the rest is ignored.

    :raises: exception.InvalidVolumeType naming the spec that is wrong
    """
    values = {}
    for key, value in specs.items():
        if not key.startswith(SPEC_PREFIX):
            continue
        try:
            if key not in _LAYOUT_SPECS:
                raise ValueError(_('unknown Lustre extra spec; known: '
                                   '%s') % ', '.join(_LAYOUT_SPECS))
            values[key] = _SPEC_PARSERS[key](str(value).strip())
        except ValueError as exc:
            raise exception.InvalidVolumeType(reason=_(
                'extra spec %(key)s=%(value)s: %(error)s') % {
                'key': key, 'value': value, 'error': exc})
    if SPEC_LAYOUT in values and (SPEC_STRIPE_COUNT in values or
                                  SPEC_STRIPE_SIZE in values):
        raise exception.InvalidVolumeType(reason=_(
            'extra spec %(layout)s cannot be combined with '
            '%(count)s or %(size)s: give the stripes per component') % {
            'layout': SPEC_LAYOUT, 'count': SPEC_STRIPE_COUNT,
            'size': SPEC_STRIPE_SIZE})
    return lustre_client.Layout(
        stripe_count=values.get(SPEC_STRIPE_COUNT),
        stripe_size=values.get(SPEC_STRIPE_SIZE),
        pool=values.get(SPEC_OST_POOL),
        components=values.get(SPEC_LAYOUT, ()))


_SPEC_PARSERS: dict[str, Callable[[str], Any]] = {
    SPEC_STRIPE_COUNT: lustre_client.parse_stripe_count,
    SPEC_STRIPE_SIZE: lustre_client.parse_stripe_size,
    SPEC_OST_POOL: lustre_client.parse_pool_name,
    SPEC_LAYOUT: lustre_client.parse_pfl,
}

# What ``cinder get-capabilities`` shows of the extra specs: key, title,
# description, JSON schema type and its bounds (BaseVD._set_property).
SPEC_PROPERTIES: tuple[tuple[str, str, str, str, dict[str, int]], ...] = (
    (SPEC_STRIPE_COUNT, 'Stripe count',
     _('Number of OSTs each volume file is striped over: 1 to 2000, or -1 '
       'for all OSTs (of the OST pool).'),
     'integer', {'minimum': -1, 'maximum': lustre_client.MAX_STRIPE_COUNT}),
    (SPEC_STRIPE_SIZE, 'Stripe size',
     _('Bytes written to one OST before the next: bytes or a number with '
       'K, M or G (powers of 1024), a multiple of 64K below 4G.'),
     'string', {}),
    (SPEC_OST_POOL, 'OST pool',
     _('OST pool the volume files are allocated from: 1 to 15 letters, '
       "digits, '_' or '-'; it must exist on the file system."),
     'string', {}),
    (SPEC_LAYOUT, 'Progressive file layout',
     _('Progressive file layout END:COUNT[:SIZE],... ending at -1, for '
       'example 64M:1,1G:4:4M,-1:-1; each END a multiple of its SIZE (of '
       '1M without one). Not with stripe_count or stripe_size.'),
     'string', {}),
)


@dataclasses.dataclass(frozen=True)
class LustrePool:
    """A Cinder pool: a share, or one OST pool of a share.

    ``name`` is what the scheduler sees: the share's path in Lustre
    (testfs/cinder), followed by '.' and the OST pool (testfs/cinder.ssd)
    when the pool is an OST pool.
    """

    name: str
    share: str
    ost_pool: Optional[str] = None


def make_pools(shares: typing.Iterable[lustre_client.LustreShare],
               ost_pools: list[str]) -> dict[str, LustrePool]:
    """The Cinder pools of the shares, given ``lustre_ost_pools``.

    :param ost_pools: OST pools to offer, as FSNAME.POOL
    :raises: exception.InvalidConfigurationValue for a malformed entry
    """
    by_fs: dict[str, list[str]] = {}
    for entry in ost_pools:
        fsname, _dot, pool = entry.partition('.')
        try:
            if not lustre_client.is_fsname(fsname):
                raise ValueError(_("'%s' is not FSNAME.POOL") % entry)
            lustre_client.parse_pool_name(pool)
        except ValueError as exc:
            raise exception.InvalidConfigurationValue(
                _('lustre_ost_pools: %s') % exc)
        by_fs.setdefault(fsname, []).append(pool)
    pools = {}
    for share in shares:
        ost_pools_of_fs: list[Optional[str]] = list(
            by_fs.get(share.fsname, [])) or [None]
        for ost_pool in ost_pools_of_fs:
            name = share.name + ('.' + ost_pool if ost_pool else '')
            pools[name] = LustrePool(name, share.address, ost_pool)
    return pools


def unused_ost_pools(shares: typing.Iterable[lustre_client.LustreShare],
                     ost_pools: list[str]) -> list[str]:
    """The ``lustre_ost_pools`` entries on file systems no share is on."""
    fsnames = {share.fsname for share in shares}
    return sorted(entry for entry in ost_pools
                  if entry.partition('.')[0] not in fsnames)


def backend_capacity(
        reports: typing.Iterable[tuple[lustre_client.LustreShare,
                                       lustre_client.LfsDf]]
) -> tuple[int, int]:
    """(total, available) bytes behind a back end's pools, counted once.

    Subdirectory shares of one file system, and OST pools sharing OSTs,
    each report the capacity of the same OSTs: each OST of a file system
    counts once. A report without OST rows (df(1) where lfs is missing)
    stands for its whole file system.
    """
    groups: list[tuple[list[lustre_client.LustreShare],
                       dict[str, lustre_client.OstSpace],
                       list[lustre_client.LfsDf]]] = []
    for share, df in reports:
        group = next((g for g in groups
                      if any(lustre_client.same_file_system(share, s)
                             for s in g[0])), None)
        if group is None:
            group = ([], {}, [])
            groups.append(group)
        group[0].append(share)
        group[1].update((ost.name, ost) for ost in df.osts)
        group[2].append(df)
    total = available = 0
    for _shares, osts, dfs in groups:
        if osts:
            total += sum(ost.total for ost in osts.values())
            available += sum(ost.available for ost in osts.values())
        else:
            largest = max(dfs, key=lambda df: df.total)
            total += largest.total
            available += largest.available
    return total, available


class LustrePoolsMixin:
    """The pools of a Lustre driver: its capacity, share choice and stats.

    As remotefs.RemoteFSPoolMixin for one pool per share, with OST pools
    and ``lfs df``; mixed into LustreDriver before the remotefs bases.
    """

    # What the driver provides (LustreDriver.__init__ and its bases).
    configuration: Any
    db: Any
    host: str
    cluster_name: Optional[str]
    reserved_percentage: int
    max_over_subscription_ratio: float
    _lfs: lustre_client.Lfs
    _lfs_available: bool
    _share_objects: dict[str, lustre_client.LustreShare]
    _pools: dict[str, LustrePool]
    _mounted_shares: list[str]
    _quotas: lustre_quota.ProjectQuotas
    _stats: dict
    vendor_name: str
    volume_backend_name: str
    get_version: Callable[[], str]
    _ensure_shares_mounted: Callable[[], None]
    _get_mount_point_for_share: Callable[[str], str]
    _is_thick: Callable[[Any], bool]
    _extra_specs: Callable[[Any], dict]

    def _warn_unused_ost_pools(self) -> None:
        """Name the OST pools no share offers, once, at start-up."""
        # Not where the pools are built: that is every stats refresh.
        unused = unused_ost_pools(
            self._share_objects.values(), self.configuration.lustre_ost_pools)
        if unused:
            LOG.warning('lustre_ost_pools names OST pools of file systems '
                        'that no share is on: %s', ', '.join(unused))

    def _pools_of_share(self, share: str) -> list[LustrePool]:
        return [pool for pool in self._pools.values() if pool.share == share]

    @staticmethod
    def _pool_name_of(volume: Any) -> Optional[str]:
        """The pool in a volume's host; clones' stand-ins have no host."""
        host = getattr(volume, 'host', None)
        return volume_utils.extract_host(host, level='pool') if host else None

    def _pool_of_volume(self, volume: Any
                        ) -> Optional[LustrePool]:
        """The pool a volume lives in, from its host (or its share)."""
        name = self._pool_name_of(volume)
        if name in self._pools:
            return self._pools[name]
        share_pools = self._pools_of_share(volume.provider_location)
        return share_pools[0] if share_pools else None

    def _get_available_capacity(self, share: str,
                                ost_pool: Optional[str] = None
                                ) -> tuple[int, int]:
        """Return (available, total) bytes of a share or of an OST pool."""
        df = self._df(share, ost_pool)
        return df.available, df.total

    def _df(self, share: str,
            ost_pool: Optional[str] = None) -> lustre_client.LfsDf:
        """The capacity of a share or of an OST pool, in bytes."""
        mount_point = self._get_mount_point_for_share(share)
        # lfs df counts the OSTs only, where volume data lives (df(1) adds
        # the metadata targets), and with --pool only the pool's.
        if self._lfs_available:
            fsname = self._share_objects[share].fsname
            try:
                df = self._lfs.df(mount_point, fsname, ost_pool)
                missing = [] if ost_pool else df.missing_osts
                if missing or df.failed:
                    LOG.warning('lfs df for %(share)s does not report '
                                '%(osts)s (inactive, unreachable or '
                                'failing): the capacity reported leaves '
                                'them out.',
                                {'share': share,
                                 'osts': ', '.join([*missing, *df.failed])})
                return df
            except lustre_client.LfsNotInstalled:
                LOG.warning('The lfs command is not installed: capacity of '
                            'Lustre shares comes from df, which includes '
                            'metadata targets.')
                self._lfs_available = False
        if ost_pool:
            # df cannot tell an OST pool's capacity.
            raise lustre_client.LustreException(msg=_(
                'the capacity of OST pool %s needs the lfs command')
                % ost_pool)
        available, total = typing.cast(
            Any, super())._get_available_capacity(share)
        return lustre_client.LfsDf(total, available)

    def _provisioned_hosts(self) -> set[str]:
        """The hosts whose volumes count in the pools' provisioned capacity."""
        hosts = {self.host}
        # In a cluster, every host that is or was in it (one taken out
        # leaves its volumes on the shares): the pools report the same
        # figures whichever service sends them.
        if self.cluster_name:
            services = objects.ServiceList.get_all(
                context.get_admin_context(),
                filters={'cluster_name': self.cluster_name,
                         'binary': constants.VOLUME_BINARY,
                         'read_deleted': 'yes'})
            hosts.update(service.host for service in services)
        return hosts

    def _get_provisioned_capacity(self, pool_name: Optional[str] = None,
                                  hosts: Optional[set[str]] = None) -> float:
        """GiB provisioned in a pool: its volumes and their snapshots."""
        ctxt = context.get_admin_context()
        size_gb = 0
        # Summed by the database, host by host (an indexed sum; its only
        # sum for a cluster reads the metadata of every volume): no walk
        # over the volume files, however many the share holds.
        for host in sorted(hosts or self._provisioned_hosts()):
            pool_host = volume_utils.append_host(host, pool_name)
            size_gb += self.db.volume_data_get_for_host(ctxt, pool_host)[1]
            # A snapshot counts its volume's size, as Cinder's quotas and
            # LVM count it: its overlay can grow to that size.
            size_gb += self.db.get_snapshot_summary(
                ctxt, False, filters={'host': pool_host})[1]
        return float(size_gb)

    def _get_capacity_info(self, pool_name: str,
                           hosts: Optional[set[str]] = None
                           ) -> tuple[float, float, float]:
        """Return (total, available, provisioned) bytes of a pool."""
        pool = self._pools[pool_name]
        available, total = self._get_available_capacity(pool.share,
                                                        pool.ost_pool)
        provisioned = self._get_provisioned_capacity(pool_name,
                                                     hosts) * units.Gi
        return float(total), float(available), provisioned

    def _is_pool_eligible(self, pool_name: str, size_gb: int,
                          thick: bool = False) -> bool:
        """Whether the pool can take size_gb more without over-filling."""
        return self._fits(pool_name, self._get_capacity_info(pool_name),
                          size_gb, thick)

    def _fits(self, pool_name: str, capacity: tuple[float, float, float],
              size_gb: int, thick: bool) -> bool:
        """Whether size_gb more fit in a pool, as the scheduler checks it."""
        total, available, provisioned = capacity
        if not total:
            return False
        reserved = total * self.reserved_percentage / 100.0
        if total - available > total - reserved:
            LOG.debug('%s is not eligible: used ratio exceeded.', pool_name)
            return False
        if thick:
            # Preallocated: it needs real free space.
            room = available - reserved
        else:
            room = total * self.max_over_subscription_ratio - provisioned
        if room < size_gb * units.Gi:
            LOG.debug('%(pool)s is not eligible: not enough room for a '
                      '%(prov)s %(size)sG.', {
                          'pool': pool_name, 'size': size_gb,
                          'prov': 'thick' if thick else 'thin'})
            return False
        return True

    def _find_share(self, volume: objects.Volume) -> str:
        """The share of the scheduler's pool if it fits, or the emptiest."""
        if not self._mounted_shares:
            raise lustre_client.LustreNoSharesMounted()
        name = volume_utils.extract_host(volume.host, level='pool')
        mounted = [pool.name for pool in self._pools.values()
                   if pool.share in self._mounted_shares]
        # Without a pool in its host (a legacy volume): any pool.
        candidates = [name] if name in mounted else mounted
        thick = self._is_thick(volume)
        hosts = self._provisioned_hosts()
        capacity = {}
        for pool in candidates:
            total, available, provisioned = self._get_capacity_info(pool,
                                                                    hosts)
            # The scheduler records the volume, with its pool in its host,
            # before the driver creates it: the sums count it already.
            if volume.host in {volume_utils.append_host(host, pool)
                               for host in hosts}:
                provisioned -= volume.size * units.Gi
            capacity[pool] = (total, available, provisioned)
        eligible = [pool for pool in candidates
                    if self._fits(pool, capacity[pool], volume.size, thick)]
        if not eligible:
            raise lustre_client.LustreNoSuitableShareFound(
                volume_size=volume.size)
        chosen = min(eligible, key=lambda pool: capacity[pool][2])
        LOG.debug('Selected Lustre pool %(pool)s for volume %(vol)s.',
                  {'pool': chosen, 'vol': volume.id})
        return self._pools[chosen].share

    def _update_volume_stats(self) -> None:
        """Report one pool per mounted share, or per exposed OST pool."""
        self._ensure_shares_mounted()
        hosts = self._provisioned_hosts()
        pools = []
        reports = []
        for share in self._mounted_shares:
            defaults = self._stripe_defaults(share)
            for pool in self._existing_pools(share):
                try:
                    df = self._df(pool.share, pool.ost_pool)
                except (putils.ProcessExecutionError, OSError,
                        lustre_client.LustreException) as exc:
                    # Rather than failing the others (and, at start-up,
                    # the service).
                    LOG.warning('Leaving pool %(pool)s out of the stats: '
                                '%(err)s', {'pool': pool.name,
                                            'err': getattr(exc, 'stderr',
                                                           None) or exc})
                    continue
                pools.append(
                    self._get_pool_stats(pool, defaults, df, hosts))
                reports.append((self._share_objects[share], df))
        total, free = backend_capacity(reports)
        backend_name = self.configuration.safe_get('volume_backend_name')
        self._stats = {
            'volume_backend_name': backend_name or self.volume_backend_name,
            'vendor_name': self.vendor_name,
            'driver_version': self.get_version(),
            'storage_protocol': constants.LUSTRE,
            'total_capacity_gb': round(total / units.Gi, 2),
            'free_capacity_gb': round(free / units.Gi, 2),
            'sparse_copy_volume': True,
            # A clone is a file copy into its own pool: see _clone_share.
            'clone_across_pools': True,
            'pools': pools,
        }

    def _existing_pools(self, share: str) -> list[LustrePool]:
        """The pools of a share, but OST pools its file system lacks."""
        pools = self._pools_of_share(share)
        if not self._lfs_available or not any(pool.ost_pool
                                              for pool in pools):
            return pools
        try:
            existing = self._lfs.pools(self._get_mount_point_for_share(share))
        except (putils.ProcessExecutionError,
                lustre_client.LfsNotInstalled) as exc:
            LOG.warning('Could not list the OST pools of %(share)s: '
                        '%(err)s', {'share': share, 'err': exc})
            return []
        # lfs df --pool reports a missing OST pool (a typo) as empty, and
        # lfs setstripe may put its files on any OST.
        missing = sorted(pool.ost_pool for pool in pools
                         if pool.ost_pool and pool.ost_pool not in existing)
        if missing:
            LOG.error('lustre_ost_pools names OST pools that the file '
                      'system of %(share)s does not have (lfs pool_list): '
                      '%(pools)s; they are not reported.',
                      {'share': share, 'pools': ', '.join(missing)})
        return [pool for pool in pools
                if not pool.ost_pool or pool.ost_pool in existing]

    def _stripe_defaults(self, share: str
                         ) -> Optional[lustre_client.DefaultLayout]:
        """The default layout of a share's directory, or None unknown."""
        if not self._lfs_available:
            return None
        try:
            return self._lfs.stripe_defaults(
                self._get_mount_point_for_share(share))
        except (putils.ProcessExecutionError,
                lustre_client.LustreException) as exc:
            # Information only: the pool stays in the stats.
            LOG.debug('Could not read the default layout of %(share)s: '
                      '%(err)s', {'share': share, 'err': exc})
            return None

    def _get_pool_stats(self, pool: LustrePool,
                        defaults: Optional[lustre_client.DefaultLayout],
                        df: lustre_client.LfsDf,
                        hosts: Optional[set[str]] = None) -> dict[str, Any]:
        total, available = float(df.total), float(df.available)
        provisioned = self._get_provisioned_capacity(pool.name,
                                                     hosts) * units.Gi
        return {
            'pool_name': pool.name,
            'total_capacity_gb': round(total / units.Gi, 2),
            'free_capacity_gb': round(available / units.Gi, 2),
            'provisioned_capacity_gb': round(provisioned / units.Gi, 2),
            'reserved_percentage': self.reserved_percentage,
            'max_over_subscription_ratio': self.max_over_subscription_ratio,
            'thin_provisioning_support': True,
            'thick_provisioning_support': True,
            'multiattach': True,
            # Attached volumes: see LustreDriver._extend_attached.
            'online_extend_support': True,
            'sparse_copy_volume': True,
            'QoS_support': False,
            'lustre_fsname': self._share_objects[pool.share].fsname,
            'lustre_ost_pool': pool.ost_pool,
            'lustre_project_quotas': pool.share in self._quotas.shares,
            'lustre_stripe_count': defaults and defaults.stripe_count,
            'lustre_stripe_size': defaults and defaults.stripe_size,
            'lustre_layout': defaults and defaults.describe(),
        }

    def _layout(self, volume: Any,
                volume_type: Any = None) -> lustre_client.Layout:
        """The layout of a volume's files: its type's (or volume_type's)."""
        layout = layout_from_specs(
            self._extra_specs(volume_type or volume.volume_type))
        pool = self._pools.get(self._pool_name_of(volume) or '')
        if not pool or not pool.ost_pool:
            return layout
        if layout.pool and layout.pool != pool.ost_pool:
            # The type contradicts the scheduler's choice of pool.
            raise exception.InvalidVolumeType(reason=_(
                'extra spec %(spec)s=%(type_pool)s contradicts the OST pool '
                'of Cinder pool %(pool)s') % {
                'spec': SPEC_OST_POOL,
                'type_pool': layout.pool, 'pool': pool.name})
        return dataclasses.replace(layout, pool=pool.ost_pool)

    def _check_room(self, volume: Any, layout: lustre_client.Layout,
                    needed: int) -> None:
        """Refuse a copy of needed bytes that the layout's space lacks."""
        pools = layout.pools()
        available = self._df(volume.provider_location,
                             next(iter(pools)) if len(pools) == 1
                             else None).available
        if needed > available:
            raise exception.InvalidVolume(reason=_(
                'lfs migrate needs %(needed)d bytes free for a copy of a '
                'file of volume %(vol)s; %(available)d are') % {
                'needed': needed, 'vol': volume.id,
                'available': available})

    def _default_layout(self, share: str) -> Optional[lustre_client.Layout]:
        """The share directory's default layout, for a type without one."""
        # Every component of it, as a new file gets; None where lfs
        # migrate cannot express it (data on MDT, mirrors...).
        defaults = self._lfs.stripe_defaults(
            self._get_mount_point_for_share(share))
        return defaults.layout() if defaults else None
