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

"""Volume driver for the Lustre parallel file system.

Volumes are raw or qcow2 files on Lustre shares mounted by the native
Lustre client, so that compute hosts read and write them in parallel
across the file system's object storage targets.
"""

from __future__ import annotations

import math
import os
from typing import Any, Optional  # noqa: H301

from oslo_concurrency import processutils as putils
from oslo_config import cfg
from oslo_log import log as logging
from oslo_utils import excutils
from oslo_utils import units

from cinder import context
from cinder import coordination
from cinder import exception
from cinder.i18n import _
from cinder.image import image_utils
from cinder import interface
from cinder import objects
from cinder.objects import fields
from cinder import utils
from cinder.volume import configuration
from cinder.volume.drivers import lustre_client
from cinder.volume.drivers import lustre_files as files
from cinder.volume.drivers import lustre_images as images
from cinder.volume.drivers import lustre_manage
from cinder.volume.drivers import lustre_pools
from cinder.volume.drivers import lustre_quota
from cinder.volume.drivers import lustre_retype
from cinder.volume.drivers import lustre_snapshots
from cinder.volume.drivers import remotefs
from cinder.volume import volume_utils

LOG = logging.getLogger(__name__)

lustre_opts = [
    cfg.StrOpt('lustre_shares_config',
               default='/etc/cinder/lustre_shares',
               help='File with the list of Lustre shares, one a line: '
                    'NID[,NID][:NID...]:/fsname[/subdir], optionally '
                    'followed by "-o OPTIONS" for that share.'),
    cfg.StrOpt('lustre_mount_point_base',
               default='$state_path/mnt',
               help='Base directory of the mount points of Lustre shares.'),
    cfg.StrOpt('lustre_mount_options',
               default='flock',
               help='Mount options passed to the Lustre client for every '
                    'share (see mount.lustre(8)); per-share options in '
                    'the shares file are added to these.'),
    cfg.IntOpt('lustre_mount_attempts',
               default=3,
               min=1,
               help='The number of attempts to mount a Lustre share before '
                    'raising an error.'),
    cfg.IntOpt('lustre_mount_timeout',
               default=lustre_client.DEFAULT_MOUNT_TIMEOUT,
               min=1,
               help='Seconds one attempt to mount a Lustre share may take. '
                    'A mount still running then is stopped and counts as a '
                    'failed attempt.'),
    cfg.IntOpt('lustre_umount_timeout',
               default=lustre_client.DEFAULT_UMOUNT_TIMEOUT,
               min=3,
               help='Seconds the unmount of a stale Lustre mount may take in '
                    'all: umount, repeated while the mount is busy, for '
                    'half of the time; umount -f, only if umount hung, for '
                    'a third; then umount -l.'),
    cfg.IntOpt('lustre_lfs_timeout',
               default=lustre_client.DEFAULT_LFS_TIMEOUT,
               min=1,
               help='Seconds an lfs command may take before it is stopped '
                    'and counts as failed. lfs migrate, which copies a '
                    'volume\'s data, has no time limit.'),
    cfg.BoolOpt('lustre_sparsed_volumes',
                default=True,
                help='Provision volumes thin when their volume type does '
                     'not set provisioning:type. If False they are thick: '
                     'raw files preallocated with fallocate.'),
    cfg.BoolOpt('lustre_qcow2_volumes',
                default=True,
                help='Create thin volumes as qcow2 files. If False thin '
                     'volumes are sparse raw files. Multiattach volumes '
                     'are always raw.'),
    cfg.ListOpt('lustre_ost_pools',
                default=[],
                help='OST pools to offer as Cinder pools, as FSNAME.POOL '
                     '(for example testfs.ssd,testfs.hdd). Every share on '
                     'such a file system reports one Cinder pool per listed '
                     'OST pool, named after the share and the OST pool '
                     '(testfs/cinder.ssd), with the capacity of the OST '
                     'pool; volumes scheduled to it are striped over its '
                     'OSTs. Shares on other file systems report one pool '
                     'each.'),
    cfg.BoolOpt('lustre_snapshot_support',
                default=True,
                help='Enable snapshots (qcow2 overlay files) and the '
                     'operations that use them: volume from snapshot, '
                     'clone and revert to snapshot.'),
    cfg.BoolOpt('lustre_project_quotas',
                default=False,
                help='Give every volume its own Lustre project id and a '
                     'project quota (block hard limit) of its size, plus '
                     'its size again for each snapshot, so that a thin '
                     'volume cannot grow past what it was given. Needs '
                     'project quotas enforced by the servers (their '
                     'quota_slave.enabled containing p) and the right to '
                     'set quotas from this host (root not squashed by its '
                     'nodemap, and from Lustre 2.16 the quota_ops role); '
                     'shares where setting a limit fails are used '
                     'without quotas, with a warning at start-up.'),
    cfg.IntOpt('lustre_project_id_min',
               default=lustre_quota.PROJECT_ID_MIN,
               min=1,
               max=lustre_quota.PROJECT_ID_LIMIT,
               help='The lowest Lustre project id that lustre_project_quotas '
                    'gives a volume. Keep the range clear of the ids '
                    'others use on the same file systems: Manila\'s Lustre '
                    'driver takes ids from 10000 to 60000 by default. An '
                    'id that lfs quota shows in use anywhere on the file '
                    'system is never taken.'),
    cfg.IntOpt('lustre_project_id_max',
               default=lustre_quota.PROJECT_ID_MAX,
               min=1,
               max=lustre_quota.PROJECT_ID_LIMIT,
               help='The highest Lustre project id that '
                    'lustre_project_quotas gives a volume; see '
                    'lustre_project_id_min.'),
]

CONF = cfg.CONF
CONF.register_opts(lustre_opts, group=configuration.SHARED_CONF_GROUP)

# The options of remotefs.nas_opts the driver uses; the others (nas_host,
# nas_share_path, nas_mount_options, the NAS login) are for other drivers.
_NAS_OPTIONS = ('nas_secure_file_operations', 'nas_secure_file_permissions')

# The name the volume manager gives the temporary volumes it copies a
# volume into for a backup: backup-vol-<source volume id>.
_BACKUP_VIEW_PREFIX = 'backup-vol-'


@interface.volumedriver
class LustreDriver(lustre_snapshots.LustreSnapshotsMixin,
                   remotefs.RevertToSnapshotMixin,
                   lustre_manage.LustreManageableVolumesMixin,
                   lustre_pools.LustrePoolsMixin,
                   lustre_retype.LustreRetypeMixin,
                   remotefs.RemoteFSSnapDriverDistributed):
    """Cinder volume driver for Lustre shares.

    Each share in ``lustre_shares_config`` is a pool. A volume is a file on
    its share: a qcow2 or sparse raw file when its volume type is thin, a
    raw file preallocated with fallocate when it is thick. Snapshots are
    qcow2 overlays recorded in the volume's ``.info`` file, as in the other
    remotefs drivers; Lustre has no per-file snapshots of its own.

    Every operation that touches a volume's files runs under the
    distributed lock of that volume, so several cinder-volume services of
    one cluster can serve the same file system (active/active).

    Version history:

    .. code-block:: none

        1.0.0 - Initial driver
    """

    driver_volume_type = 'lustre'
    driver_prefix = 'lustre'
    volume_backend_name = 'Lustre'
    VERSION = '1.0.0'
    SUPPORTS_ACTIVE_ACTIVE = True

    # ThirdPartySystems wiki page
    CI_WIKI_NAME = 'Lustre_CI'

    def __init__(self, execute=utils.execute, *args, **kwargs) -> None:
        super().__init__(execute, *args, **kwargs)
        self.configuration.append_config_values(lustre_opts)
        self.base = os.path.realpath(
            self.configuration.lustre_mount_point_base)
        self._mounter = lustre_client.LustreMounter(
            utils.get_root_helper(), execute, self.base,
            self.configuration.lustre_mount_options,
            self.configuration.lustre_mount_attempts,
            mount_timeout=self.configuration.lustre_mount_timeout,
            umount_timeout=self.configuration.lustre_umount_timeout)
        self._remotefsclient = self._mounter.client
        self._lfs = lustre_client.Lfs(
            execute, timeout=self.configuration.lustre_lfs_timeout)
        self._lfs_available = True
        self._supports_encryption = True
        self.reserved_percentage = self.configuration.reserved_percentage
        self.max_over_subscription_ratio = float(
            volume_utils.get_max_over_subscription_ratio(
                self.configuration.max_over_subscription_ratio,
                supports_auto=False))
        self._share_objects: dict[str, lustre_client.LustreShare] = {}
        self._quotas = lustre_quota.ProjectQuotas(
            self._lfs, self.configuration, self._get_mount_point_for_share,
            self.driver_prefix)
        self._pools: dict[str, lustre_pools.LustrePool] = {}
        # Whether fallocate works, by share directory, once known.
        self._fallocate: dict[str, bool] = {}

    @staticmethod
    def get_driver_options() -> list:
        """The driver's options, and the NAS options it honours."""
        return lustre_opts + [opt for opt in remotefs.nas_opts
                              if opt.name in _NAS_OPTIONS]

    def _init_vendor_properties(self) -> tuple[dict, str]:
        """The ``lustre:`` extra specs, for ``cinder get-capabilities``."""
        properties: dict = {}
        for key, title, description, kind, bounds in (
                lustre_pools.SPEC_PROPERTIES):
            self._set_property(properties, key, title, description, kind,
                               **bounds)
        return properties, self.driver_prefix

    # ------------------------------------------------------------------
    # Set-up, shares and mounts
    # ------------------------------------------------------------------

    def do_setup(self, ctxt: context.RequestContext) -> None:
        """Load and mount the shares, then settle the NAS security mode."""
        super().do_setup(ctxt)
        config = self.configuration.lustre_shares_config
        if not config or not os.path.isfile(config):
            raise exception.InvalidConfigurationValue(
                option='lustre_shares_config', value=config)
        self._check_lfs_version()
        self.set_nas_security_options(self._is_voldb_empty_at_startup)
        self._warn_unused_ost_pools()
        self._quotas.probe({share: self._share_objects[share].fsname
                            for share in self._mounted_shares})

    def _check_lfs_version(self) -> None:
        """Refuse a Lustre client older than the oldest the driver reads."""
        try:
            version = self._lfs.version()
        except (lustre_client.LfsNotInstalled,
                putils.ProcessExecutionError) as exc:
            LOG.warning('Could not run lfs --version (%s); the driver '
                        'needs the lfs command of Lustre %s or later.',
                        exc, lustre_client.format_version(
                            lustre_client.MIN_VERSION))
            return
        if version is not None and version < lustre_client.MIN_VERSION:
            raise exception.VolumeDriverException(message=_(
                'the Lustre client on this host is %(version)s; the Lustre '
                'driver needs %(min)s or later') % {
                'version': lustre_client.format_version(version),
                'min': lustre_client.format_version(
                    lustre_client.MIN_VERSION)})

    def check_for_setup_error(self) -> None:
        if not self._mounted_shares:
            raise lustre_client.LustreNoSharesMounted()

    def _load_shares_config(self, share_file: Optional[str] = None) -> None:
        """Read the shares file; a malformed line is an error naming it."""
        if share_file is None:
            share_file = self.configuration.lustre_shares_config
        parsed = lustre_client.parse_shares(self._read_config_file(share_file),
                                            share_file)
        self.shares = {address: options
                       for address, (_share, options) in parsed.items()}
        self._share_objects = {address: share
                               for address, (share, _opts) in parsed.items()}
        self._pools = lustre_pools.make_pools(
            self._share_objects.values(),
            self.configuration.lustre_ost_pools)
        LOG.debug('Lustre shares loaded: %s', self.shares)

    def _ensure_share_mounted(self, share: str) -> None:
        self._mounter.ensure_mounted(share, self.shares.get(share))

    def _get_mount_point_for_share(self, share: str) -> str:
        return self._mounter.get_mount_point(share)

    def _get_mount_point_base(self) -> str:
        return self._mounter.mount_point_base

    def set_nas_security_options(self, is_new_cinder_install: bool) -> None:
        """Settle 'auto' NAS security options on the first mounted share."""
        self._ensure_shares_mounted()
        if not self._mounted_shares:
            raise lustre_client.LustreNoSharesMounted()
        mount_point = self._get_mount_point_for_share(self._mounted_shares[0])
        for option in ('nas_secure_file_permissions',
                       'nas_secure_file_operations'):
            value = self._determine_nas_security_option_setting(
                getattr(self.configuration, option), mount_point,
                is_new_cinder_install)
            setattr(self.configuration, option, value)
            if value == 'false':
                LOG.warning('%s is false: this is an insecure '
                            'configuration, see the Lustre driver '
                            'documentation.', option)
        if self.configuration.nas_secure_file_operations == 'true':
            self._execute_as_root = False
            if self.configuration.lustre_snapshot_support:
                LOG.warning('nas_secure_file_operations is true: '
                            'snapshots are refused, see the Lustre driver '
                            'documentation.')

    # ------------------------------------------------------------------
    # Volume files
    # ------------------------------------------------------------------

    @staticmethod
    def _extra_specs(volume_type: Any) -> dict:
        return (volume_type['extra_specs'] or {}) if volume_type else {}

    def _provisioning(self, specs: dict) -> str:
        """'thin' or 'thick', from extra specs or the default option."""
        prov = specs.get('provisioning:type')
        if prov is None:
            return ('thin' if self.configuration.lustre_sparsed_volumes
                    else 'thick')
        if prov not in ('thin', 'thick'):
            raise exception.InvalidVolumeType(reason=_(
                "provisioning:type must be 'thin' or 'thick', not "
                "'%s'") % prov)
        return prov

    def _is_thick(self, volume: objects.Volume) -> bool:
        return self._provisioning(
            self._extra_specs(volume.volume_type)) == 'thick'

    def _new_file_format(self, volume: objects.Volume,
                         copied: bool = False) -> str:
        """The format of a new file of a volume: the one place it is decided.

        =============================  ============  ====================
        the volume                     its file is   format
        =============================  ============  ====================
        a backup's temporary copy      any           raw
        a migration's target           created       raw
        encrypted                      created       qcow2 (LUKS inside)
        encrypted                      copied        raw (LUKS container)
        multiattach                    any           raw
        thin, lustre_qcow2_volumes     any           qcow2
        anything else                  any           raw
        =============================  ============  ====================

        Always the new volume's own type and flags, never its source's.
        cinder-backup reads a file byte for byte and guests cannot share a
        qcow2 file: both need raw. Into the target of Cinder's generic
        migration the volume manager copies its source's raw file (see
        initialize_connection) byte for byte, or Nova what its guest sees.
        """
        if (self._is_backup_view(volume) or
                (volume.migration_status or '').startswith('target:')):
            return 'raw'
        if volume.encryption_key_id:
            return 'raw' if copied else 'qcow2'
        if (not volume.multiattach and not self._is_thick(volume) and
                self.configuration.lustre_qcow2_volumes):
            return 'qcow2'
        return 'raw'

    def _recorded_format(self, volume: objects.Volume) -> str:
        """The format Cinder recorded for the volume's base file."""
        # Never read from the file, which a guest writes: a raw volume
        # can hold any header.
        with volume.obj_as_admin():
            metadata = volume.admin_metadata or {}
        if not metadata and self.db is not None:
            # Loaded for a user who is not an admin (an extend, a retype
            # asked by the owner), a volume has its admin metadata left
            # out, not empty.
            try:
                metadata = self.db.volume_admin_metadata_get(
                    context.get_admin_context(), volume.id)
            except exception.VolumeNotFound:
                metadata = {}
        volume_format = metadata.get('base_format') or metadata.get('format')
        if volume_format not in images.FORMATS:
            raise images.UnsafeImage(path=volume.name, reason=_(
                'its format is not recorded (admin metadata "format")'))
        return volume_format

    def _base_image(self, volume: objects.Volume) -> images.Image:
        with volume.obj_as_admin():
            luks_copy = (volume.admin_metadata or {}).get(
                lustre_snapshots.LUKS_COPY_KEY)
        return images.Image(self.local_path(volume),
                            self._recorded_format(volume),
                            bool(volume.encryption_key_id or luks_copy))

    @property
    def _reader(self) -> images.ImageReader:
        return images.ImageReader(self._execute, self._execute_as_root)

    @property
    def _qemu_img(self) -> images.QemuImg:
        return images.QemuImg(self._execute, self._execute_as_root)

    def _chain(self, volume: objects.Volume) -> images.Chain:
        """The volume's images from the active one down, all checked."""
        info = self._read_info_file(self._local_path_volume_info(volume),
                                    empty_if_missing=True)
        return self._reader.chain(self._local_volume_dir(volume),
                                  volume.name, info, self._base_image(volume))

    def _create_new_file(self, path: str,
                         layout: lustre_client.Layout) -> None:
        """Make sure nothing is at ``path``, then create it with a layout."""
        if os.path.lexists(path):
            raise lustre_client.LustreException(msg=_(
                '%s already exists; refusing to overwrite it') % path)
        # Without a layout the file is left for the command that writes it.
        if layout:
            self._lfs.create_file(path, layout,
                                  run_as_root=self._execute_as_root)

    def _do_create_volume(self, volume: objects.Volume) -> None:
        """Create the volume's file; never touch a file already there."""
        path = self.local_path(volume)
        # Bad extra specs are refused here, before anything is written.
        layout = self._layout(volume)
        self._create_new_file(path, layout)
        try:
            volume_format = self._create_volume_file(volume, path)
            self._set_rw_permissions(path)
            self._apply_project_quota(volume)
        except Exception:
            with excutils.save_and_reraise_exception():
                # The file did not exist before: whatever is there is ours.
                self._delete_if_present(path)
                self._quotas.release(volume)
        self._record_format(volume, volume_format)

    def _create_volume_file(self, volume: objects.Volume, path: str) -> str:
        """Create the file as the volume's type asks; return its format."""
        volume_format = self._new_file_format(volume)
        if volume_format == 'qcow2':
            with files.volume_passphrase(volume) as passphrase:
                self._qemu_img.create(path, volume.size, passphrase,
                                      files.encrypt_options(volume))
        else:
            self._create_raw_file(volume, path)
        return volume_format

    def _create_raw_file(self, volume: objects.Volume, path: str) -> None:
        """Fill a raw file to the volume's size, thick or sparse."""
        if self._is_thick(volume):
            self._create_regular_file(path, volume.size)
        else:
            self._create_sparsed_file(path, volume.size)

    @staticmethod
    def _record_format(volume: objects.Volume, volume_format: str) -> None:
        """Record the format of a volume that has no snapshots."""
        volume.admin_metadata['format'] = volume_format
        # Without snapshots the base file is the active image: a base format
        # left from earlier snapshots is the same file's, or deleting a later
        # snapshot would record the old format again.
        if 'base_format' in volume.admin_metadata:
            volume.admin_metadata['base_format'] = volume_format
        # Saved as admin: a non-admin may create a volume from an image.
        with volume.obj_as_admin():
            volume.save()

    def _create_regular_file(self, path: str, size: int) -> None:
        """Preallocate a new raw file with fallocate, writing no data."""
        directory = os.path.dirname(path)
        # Learnt from the first thick file of each share: once fallocate is
        # known to work there, its errors are errors.
        supported = self._fallocate.get(directory)
        if supported is None:
            supported = lustre_client.can_fallocate(
                self._execute, path, self._execute_as_root)
        if supported:
            self._fallocate[directory] = True
            self._execute('fallocate', '-l', '%dG' % size, path,
                          run_as_root=self._execute_as_root)
            return
        # ZFS OSTs and clients before Lustre 2.14 cannot preallocate.
        LOG.info('fallocate is not supported for %s; writing zeros '
                 'instead, which takes time.', path)
        super()._create_regular_file(path, size)
        self._fallocate[directory] = False

    def _delete(self, path: str) -> None:
        """Remove one name; a link is removed, never what it points to."""
        self._execute('rm', '-f', '--', path,
                      run_as_root=self._execute_as_root)

    def _delete_if_present(self, path: str) -> None:
        if os.path.lexists(path):
            self._delete(path)

    # Stricter than the base class: plain names, no subdirectory.
    _is_volume_file_name = staticmethod(files.is_own_file_name)

    def _read_file(self, filename: str) -> str:
        return files.read_text(filename)

    def _volume_files(self, volume: objects.Volume) -> list[str]:
        """Every file of the volume there is: its images, then .info."""
        info_path = self._local_path_volume_info(volume)
        info = self._read_info_file(info_path, empty_if_missing=True)
        names = {volume.name, *info.values()}
        if info:
            try:
                # Nova may have pulled the base file into the active image,
                # then the chain's bottom that the .info file does not name.
                names.update(self._chain(volume).names())
            except images.UnsafeImage as exc:
                LOG.warning('Volume %(vol)s: %(err)s; only the files its '
                            '.info file names are its own.',
                            {'vol': volume.id, 'err': exc})
        paths = [os.path.join(self._local_volume_dir(volume), name)
                 for name in sorted(names)]
        if info:
            paths.append(info_path)
        return [path for path in paths if os.path.lexists(path)]

    @coordination.synchronized('{self.driver_prefix}-{volume.id}')
    def create_volume(self, volume: objects.Volume) -> dict:
        return super().create_volume(volume)

    @coordination.synchronized('{self.driver_prefix}-{volume.id}')
    def delete_volume(self, volume: objects.Volume) -> None:
        """Delete exactly the volume's own files; a missing one is fine."""
        if not volume.provider_location:
            LOG.warning('Volume %s has no provider_location; nothing to '
                        'delete.', volume.id)
            return
        self._ensure_share_mounted(volume.provider_location)
        for path in self._volume_files(volume):
            LOG.debug('Deleting %s', path)
            self._delete(path)
        self._quotas.release(volume)

    # ------------------------------------------------------------------
    # Project quotas
    # ------------------------------------------------------------------

    def _apply_project_quota(self, volume: objects.Volume,
                             size_gb: Optional[int] = None) -> None:
        """Limit the volume's project to its size, and tag its files."""
        share = volume.provider_location
        if share not in self._quotas.shares:
            return
        info = self._read_info_file(self._local_path_volume_info(volume),
                                    empty_if_missing=True)
        # The limit first: the files' usage is never counted without it.
        project_id = self._quotas.apply(
            volume, self._share_objects[share].fsname,
            lustre_quota.limit_kib(size_gb or volume.size, len(info)))
        # Every time: new overlays and a rewritten .info file are untagged.
        self._lfs.set_project(self._volume_files(volume), project_id)

    # ------------------------------------------------------------------
    # Attach
    # ------------------------------------------------------------------

    @coordination.synchronized('{self.driver_prefix}-{volume.id}')
    def initialize_connection(self, volume: objects.Volume,
                              connector: dict) -> dict:
        """Return the file to attach, after checking it is safe to attach."""
        # Under the volume's lock: a clone being copied from this volume is
        # finished before a guest can write to it.
        if volume.status == fields.VolumeStatus.RESTORING_BACKUP:
            active = self._prepare_restore_target(volume)
            header = self._reader.header(active)
        else:
            if (volume.migration_status == 'migrating' and
                    not self._is_volume_attached(volume)):
                # Cinder's generic migration copies the file byte for byte
                # up to the volume's size (dd): a qcow2 file is no guest's
                # view, and longer (its tail would be cut off).
                self._make_one_raw_file(volume, 'a migration copies it')
            chain = self._chain(volume)
            active = chain.active
            header = chain.active_header or self._reader.header(active)
        virtual_size = header.virtual_size
        # Bigger than the volume: someone other than Cinder rewrote it.
        if math.ceil(virtual_size / units.Gi) > volume.size:
            LOG.error('Volume %(vol)s: virtual size %(vsize)s exceeds its '
                      'size %(size)sG; refusing to attach it, it may have '
                      'been tampered with.',
                      {'vol': volume.id, 'vsize': virtual_size,
                       'size': volume.size})
            raise exception.InvalidVolume(reason=_(
                'the virtual size of the volume exceeds its size; refusing '
                'to attach it as a suspected exploit'))
        data = {'export': volume.provider_location,
                'name': active.name,
                'format': active.fmt}
        options = self.shares.get(volume.provider_location)
        if options:
            # As the NFS driver's: the arguments os-brick's mount adds.
            data['options'] = '-o %s' % options
        return {'driver_volume_type': self.driver_volume_type,
                'data': data,
                'mount_point_base': self._get_mount_point_base()}

    def validate_connector(self, connector: dict) -> None:
        """Any host with a Lustre client can attach: nothing to check."""

    # ------------------------------------------------------------------
    # Images
    # ------------------------------------------------------------------

    def _copy_volume_to_image(self, ctxt: context.RequestContext,
                              volume: objects.Volume, image_service,
                              image_meta: dict,
                              store_id: Optional[str] = None) -> None:
        """Upload what a guest sees in the volume, in the image's format."""
        # Written here from the checked chain, every format named: upstream's
        # conversion lets qemu-img guess the format of the guest's bytes and
        # follow a vmdk extent or backing file the guest wrote. An encrypted
        # volume goes as its LUKS container, never decrypted.
        chain = self._chain(volume)
        out_format = self._upload_format(volume, chain, image_meta)

        def upload(path: str) -> None:
            # In the image's disk format already: upstream sends it as is.
            volume_utils.upload_volume(
                ctxt, image_service, image_meta, path, volume,
                volume_format=image_meta['disk_format'],
                run_as_root=self._execute_as_root)
        if out_format == 'raw' and len(chain.images) == 1 and \
                chain.active.fmt == 'raw':
            images.check_regular(chain.active.path)
            upload(chain.active.path)
            return
        with image_utils.temporary_file(
                prefix='%s.temp_image.%s' % (volume.id, image_meta['id']),
                suffix='.img') as path, \
                files.volume_passphrase(volume) as passphrase:
            self._qemu_img.convert(chain, path,
                                   'luks' if passphrase else out_format,
                                   passphrase_file=passphrase,
                                   new_passphrase_file=passphrase)
            upload(path)

    @staticmethod
    def _upload_format(volume: objects.Volume, chain: images.Chain,
                       image_meta: dict) -> str:
        """The qemu-img format an upload is written in, if it can be."""
        image_id = image_meta['id']
        image_utils.check_image_conversion_disable(
            image_meta['disk_format'], chain.active.fmt, image_id,
            upload=True)
        out_format = image_utils.fixup_disk_format(image_meta['disk_format'])
        if volume.encryption_key_id and out_format != 'raw':
            raise exception.ImageUnacceptable(image_id=image_id, reason=_(
                'an encrypted volume is uploaded as its LUKS container, '
                'in disk format raw'))
        if image_meta.get('container_format') == 'compressed' and \
                out_format == 'raw':
            # Compressing makes upstream read the image's format from its
            # first bytes: in a raw image, the guest's.
            raise exception.ImageUnacceptable(image_id=image_id, reason=_(
                'a raw image of a volume cannot be uploaded in a compressed '
                'container'))
        return out_format

    @coordination.synchronized('{self.driver_prefix}-{volume.id}')
    def copy_image_to_volume(self, ctxt: context.RequestContext,
                             volume: objects.Volume, image_service,
                             image_id: str,
                             disable_sparse: bool = False) -> None:
        """Write an image into the volume, in the volume's own format."""
        target = self._base_image(volume)
        images.check_regular(target.path)
        try:
            image_utils.fetch_to_volume_format(
                ctxt, image_service, image_id, target.path, target.fmt,
                self.configuration.volume_dd_blocksize, size=volume.size,
                run_as_root=self._execute_as_root,
                disable_sparse=disable_sparse)
        except exception.Invalid as exc:
            # qemu_img_info refuses an image that fails the format safety
            # check with Invalid itself ("Unacceptable parameters."): say
            # why. Its subclasses (ImageTooBig, ImageUnacceptable...) say
            # what they mean already.
            if type(exc) is not exception.Invalid:
                raise
            raise exception.ImageUnacceptable(image_id=image_id, reason=_(
                'the image failed the safety check of its format: a qcow2 '
                'image may not have a backing file or a data file, and a '
                'VMDK image may not have external extents')) from exc
        self._qemu_img.resize(target, volume.size)
        virtual_size = self._reader.header(target).virtual_size
        if virtual_size != volume.size * units.Gi:
            raise exception.ImageUnacceptable(
                image_id=image_id,
                reason=_('the volume is %(vsize)s bytes instead of '
                         '%(size)sG after writing the image') % {
                    'vsize': virtual_size, 'size': volume.size})
        self._preallocate(volume, target, volume.size)

    # ------------------------------------------------------------------
    # Backup and restore
    # ------------------------------------------------------------------

    def backup_use_temp_snapshot(self) -> bool:
        """Backups never attach snapshots: overlays are not raw devices."""
        if self.configuration.safe_get('backup_use_temp_snapshot'):
            LOG.warning('backup_use_temp_snapshot is not supported by the '
                        'Lustre driver; backups use temporary raw volumes.')
        return False

    def _is_plain_raw(self, volume: objects.Volume) -> bool:
        """Whether the volume's only file is raw, as a guest sees it."""
        return (self._recorded_format(volume) == 'raw' and
                not self._snapshots_exist(volume))

    @staticmethod
    def _is_backup_view(volume: Any) -> bool:
        """Whether a volume is a temporary copy made for a backup."""
        # BaseVD._create_temp_volume makes them outside the quota, named
        # backup-vol-<source id>. A user may choose the name, not the quota;
        # both are in the database: true after a restart, on every host.
        return (volume.use_quota is False and
                (volume.display_name or '').startswith(_BACKUP_VIEW_PREFIX))

    def get_backup_device(self, ctxt: context.RequestContext,
                          backup: objects.Backup) -> tuple:
        """Give cinder-backup a raw file that holds the guest's bytes."""
        # The base class copies a snapshot being backed up and an in-use
        # volume (through a snapshot Nova takes): backup views, raw already.
        device, is_snapshot = super().get_backup_device(ctxt, backup)
        if device.id != backup.volume_id or self._is_plain_raw(device):
            return device, is_snapshot
        # cinder-backup reads the file byte for byte: those of a qcow2 image
        # are metadata, so it reads a raw copy the backup manager deletes.
        temp = self._create_temp_cloned_volume(
            ctxt, device, status=fields.VolumeStatus.BACKING_UP)
        backup.temp_volume_id = temp.id
        backup.save()
        return temp, False

    def _prepare_restore_target(self, volume: objects.Volume
                                ) -> images.Image:
        """Make the target of a restore a raw file, or refuse the restore."""
        # The backup's bytes (an encrypted volume's LUKS container) are
        # written as they are into the attached file: a plain raw image.
        target = images.Image(self.local_path(volume), 'raw')
        if self._is_plain_raw(volume):
            return target
        # Through an overlay a restore would not be correct: refused before
        # anything is changed.
        if files.has_snapshots(self._read_info_file(
                self._local_path_volume_info(volume), empty_if_missing=True)):
            raise exception.InvalidVolume(reason=_(
                'volume %s has snapshots; restore the backup to a new '
                'volume or delete the snapshots first') % volume.id)
        LOG.info('Volume %s is not a raw file: making it one before the '
                 'restore.', volume.id)
        # Into a qcow2 file the bytes would destroy it: an empty raw file
        # replaces every image (also an overlay Nova pulled the base into).
        for old in self._volume_files(volume):
            self._delete(old)
        path = self.local_path(volume)
        self._create_new_file(path, self._layout(volume))
        self._create_raw_file(volume, path)
        self._set_rw_permissions(path)
        self._record_format(volume, 'raw')
        # The new file must count against the volume's project quota, or
        # the restore (and the guest after it) could fill the share.
        self._apply_project_quota(volume)
        return target
