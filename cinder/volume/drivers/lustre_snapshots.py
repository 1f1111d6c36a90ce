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

"""Snapshots, clones and extend of Lustre volumes: their qcow2 chains.

A snapshot is a qcow2 overlay recorded in the volume's ``.info`` file, as
in the other remotefs drivers; clones and volumes from snapshots are full
copies into a file of the new volume's own type and pool. What qemu-img
does to images stays in lustre_images.
"""

from __future__ import annotations

import itertools
import os
import time
import typing
from typing import Any, Callable, Optional  # noqa: H301

from oslo_concurrency import processutils as putils
from oslo_log import log as logging
from oslo_utils import excutils
from oslo_utils import units

from cinder import context
from cinder import coordination
from cinder import exception
from cinder.i18n import _
from cinder import objects
from cinder.objects import fields
from cinder.volume.drivers import lustre_files as files
from cinder.volume.drivers import lustre_images as images
from cinder.volume.drivers import lustre_pools
from cinder.volume.drivers import remotefs

LOG = logging.getLogger(__name__)

# A backup's copy of an encrypted volume is that volume's LUKS container;
# the copy's own record has no key (BaseVD._create_temp_volume).
LUKS_COPY_KEY = 'lustre_luks_copy'

# How long, after Nova reports a snapshot merged, the driver waits for the
# volume's chain to show it: as long as remotefs waits for Nova's report.
# It checks after each of these pauses, the last repeated, as remotefs
# polls Nova: a small merge shows at once, a large one costs few reads.
_MERGE_TIMEOUT = 7200
_MERGE_POLLS = (1, 2, 5, 10)

if typing.TYPE_CHECKING:
    # Type-checked as the remotefs driver it is mixed into, so that mypy
    # checks its hooks against the base class and its super() calls.
    _Base = remotefs.RemoteFSSnapDriverDistributed
else:
    _Base = object


class LustreSnapshotsMixin(_Base):
    """Snapshots, clones, extend and revert of a Lustre driver's volumes.

    The remotefs snapshot hooks (_delete_snapshot, _do_create_snapshot,
    _copy_volume_from_snapshot, _create_cloned_volume, _extend_volume,
    _revert_to_snapshot) for Lustre files. Mixed into LustreDriver first:
    its _revert_to_snapshot replaces remotefs.RevertToSnapshotMixin's.
    """

    # What LustreDriver and LustrePoolsMixin provide.
    _pools: dict[str, lustre_pools.LustrePool]
    _apply_project_quota: Callable[..., None]
    _base_image: Callable[[objects.Volume], images.Image]
    _chain: Callable[[objects.Volume], images.Chain]
    _create_new_file: Callable[..., None]
    _delete_if_present: Callable[[str], None]
    _is_backup_view: Callable[[Any], bool]
    _is_thick: Callable[[Any], bool]
    _is_pool_eligible: Callable[..., bool]
    _layout: Callable[..., Any]
    _new_file_format: Callable[..., str]
    _pool_name_of: Callable[[Any], Optional[str]]
    _pool_of_volume: Callable[[Any], Optional[lustre_pools.LustrePool]]
    _record_format: Callable[[objects.Volume, str], None]
    _recorded_format: Callable[[objects.Volume], str]

    if typing.TYPE_CHECKING:
        # Read-only properties of LustreDriver.
        @property
        def _reader(self) -> images.ImageReader:
            raise NotImplementedError()

        @property
        def _qemu_img(self) -> images.QemuImg:
            raise NotImplementedError()

    def _check_snapshot_support(self) -> None:
        if not self.configuration.lustre_snapshot_support:
            raise exception.VolumeDriverException(message=_(
                'Lustre snapshots are disabled by lustre_snapshot_support.'))

    def _check_snapshot_file_operations(self) -> None:
        """Refuse a snapshot with secure file operations, as NFS does."""
        # qemu-img would run as the cinder user, which cannot read what
        # libvirt gives to qemu (an attached volume's active image, and the
        # overlays Nova switches a guest to): refused before anything is
        # written rather than half-way through a chain.
        if self.secure_file_operations_enabled():
            raise exception.VolumeDriverException(message=_(
                'Lustre snapshots need nas_secure_file_operations = false: '
                'with secure file operations qemu-img cannot read the '
                'files of attached volumes, which libvirt gives to qemu'))

    @coordination.synchronized('{self.driver_prefix}-{snapshot.volume.id}')
    def create_snapshot(self, snapshot: objects.Snapshot) -> None:
        self._check_snapshot_support()
        self._check_snapshot_file_operations()
        if snapshot.volume.multiattach:
            # Guests can share a raw file, not the qcow2 overlay that a
            # snapshot makes the active image (libvirt refuses it).
            raise exception.InvalidVolume(reason=_(
                'volume %s is a multiattach volume: it stays one raw file '
                'that guests share, and cannot have snapshots')
                % snapshot.volume.id)
        self._ensure_share_mounted(snapshot.volume.provider_location)
        self._create_snapshot(snapshot)
        self._apply_project_quota(snapshot.volume)

    def _delete_snapshot(self, snapshot: objects.Snapshot) -> None:
        """Delete a snapshot; safe to run again after a crash part-way."""
        # Each step leaves a chain and a .info file that agree; an overlay is
        # deleted only once the .info file no longer names it.
        volume = snapshot.volume
        # On a stale mount the .info file would seem missing, and the
        # snapshot deleted when nothing was.
        self._ensure_share_mounted(volume.provider_location)
        self._validate_state(volume.status, ['available', 'in-use',
                                             'backing-up', 'deleting',
                                             'downloading'])
        info_path = self._local_path_volume_info(volume)
        info = self._read_info_file(info_path, empty_if_missing=True)
        name = info.get(snapshot.id)
        if name is None:
            self._clear_unused_overlay(volume,
                                       self._get_new_snap_path(snapshot))
            return
        chain = self._chain(volume)
        if name not in chain.names() or chain.backing_of(name) is None:
            # Committed already, or an overlay without its data: forget
            # it; the active image is never deleted.
            LOG.info('Snapshot %s is not in its volume\'s chain.',
                     snapshot.id)
            del info[snapshot.id]
            self._write_info_file(info_path, info)
        elif self._is_volume_attached(volume):
            self._delete_snapshot_online(
                snapshot.obj_context, snapshot,
                self._online_delete_info(chain, info, name))
        else:
            self._commit_snapshot(snapshot, chain, info, name)
        path = files.own_file_path(self._local_volume_dir(volume),
                                   volume.name, name)
        self._delete_unnamed(path, self._read_info_file(info_path))
        self._apply_project_quota(volume)

    def _clear_unused_overlay(self, volume: objects.Volume,
                              path: str) -> None:
        """Remove an overlay that no .info names and no guest has written."""
        info = self._read_info_file(self._local_path_volume_info(volume),
                                    empty_if_missing=True)
        if (not os.path.lexists(path) or
                os.path.basename(path) in info.values()):
            return
        # Left by a snapshot whose creation died before the .info file named
        # it. An online snapshot that failed after Nova moved the guest onto
        # its overlay left the guest's latest writes there: only a detached
        # volume's overlay without data is provably unused.
        overlay = images.Image(path, 'qcow2', bool(volume.encryption_key_id))
        try:
            unused = (not self._is_volume_attached(volume) and
                      not self._reader.holds_data(overlay))
        except images.UnsafeImage as exc:
            LOG.warning('%s', exc)
            unused = False
        if unused:
            LOG.info('Deleting %s, the empty overlay of an unfinished '
                     'snapshot.', path)
            self._delete(path)
            return
        LOG.warning('%(path)s is an overlay of volume %(vol)s that its .info '
                    'file does not name, and it may hold data a guest '
                    'wrote: it is kept. Remove it by hand once you know it '
                    'is unused.', {'path': path, 'vol': volume.id})

    def _online_delete_info(self, chain: images.Chain, info: dict,
                            name: str) -> dict:
        """What Nova needs to merge a snapshot of an attached volume."""
        base = chain.backing_of(name)
        assert base is not None
        new_base = chain.backing_of(base.name)
        base_id = next((snap_id for snap_id, file_name in info.items()
                        if snap_id != 'active' and file_name == base.name),
                       None)
        return {'active_file': info['active'], 'snapshot_file': name,
                'base_file': base.name, 'base_id': base_id,
                'new_base_file': new_base.name if new_base else None}

    def _nova_assisted_vol_snap_delete(self, context: context.RequestContext,
                                       snapshot: objects.Snapshot,
                                       delete_info: dict) -> None:
        """Have Nova merge a snapshot, then see the merge on the share.

        Nova reports a merge done once libvirt lists no block job for the
        disk, as it also does just after starting one (seen on the stack:
        done 70 ms after the pull started); remotefs then deleted the
        merged image while the guest's active image still had it as its
        backing file, and the guest lost its data at the next boot.
        """
        volume = snapshot.volume
        if delete_info['merge_target_file'] is None:
            # Pulled into the active image: the image below it goes.
            merged = self._chain_names_on_share(volume)[1]
        else:
            merged = delete_info['file_to_merge']
        super()._nova_assisted_vol_snap_delete(context, snapshot,
                                               delete_info)
        waited = 0
        polls = itertools.chain(_MERGE_POLLS,
                                itertools.repeat(_MERGE_POLLS[-1]))
        while self._still_chained(merged, volume):
            if waited >= _MERGE_TIMEOUT:
                raise exception.RemoteFSException(_(
                    'Nova reported the merge of snapshot %(snap)s done, but '
                    '%(name)s is still in the chain of volume %(vol)s after '
                    '%(secs)s seconds: it is kept') % {
                    'snap': snapshot.id, 'name': merged, 'vol': volume.id,
                    'secs': waited})
            LOG.debug('%s is still in the chain of volume %s: waiting for '
                      'the merge.', merged, volume.id)
            pause = next(polls)
            time.sleep(pause)
            waited += pause

    def _still_chained(self, name: Optional[str],
                       volume: objects.Volume) -> bool:
        """Whether name may still be in the volume's chain on the share.

        May: a backing file of an unknown format hides what is below it.
        """
        names = self._chain_names_on_share(volume)
        return name in names or None in names

    def _chain_names_on_share(self, volume: objects.Volume
                              ) -> list[Optional[str]]:
        """The chain from the active image as its qcow2 headers name it.

        Headers only: in the middle of an online deletion the volume's
        records (.info file, base format) are those of before or after
        the merge, and the guest's qemu rewrites the headers when its block
        job ends. A backing file of an unknown format ends the list with
        None: what is below it cannot be told.
        """
        directory = self._local_volume_dir(volume)
        info = self._read_info_file(self._local_path_volume_info(volume))
        names: list[Optional[str]] = []
        name: Optional[str] = info['active']
        fmt: Optional[str] = images.QCOW2
        while name and name not in names:
            names.append(name)
            if fmt != images.QCOW2:
                break
            header = self._reader.header(images.Image(
                files.own_file_path(directory, volume.name, name), fmt,
                bool(volume.encryption_key_id)))
            name, fmt = header.backing_file, header.backing_format
            if name and fmt is None:
                return names + [name, None]
        return names

    def _commit_snapshot(self, snapshot: objects.Snapshot,
                         chain: images.Chain, info: dict, name: str) -> None:
        """Merge a snapshot's overlay into the image below it, offline."""
        volume = snapshot.volume
        backing = chain.backing_of(name)
        assert backing is not None
        with files.volume_passphrase(volume) as passphrase:
            self._qemu_img.commit(chain.below(name), passphrase)
            if name == info['active']:
                info['active'] = backing.name
            else:
                higher = chain.images[chain.names().index(name) - 1]
                self._qemu_img.rebase_unsafe(higher, backing, passphrase)
        if info['active'] == volume.name:
            # The base file is the active image again, in its own format.
            self._record_format(volume, backing.fmt)
        # The caller deletes the overlay once the .info file stops naming it.
        del info[snapshot.id]
        self._write_info_file(self._local_path_volume_info(volume), info)

    def _delete_unnamed(self, path: str, info: dict) -> None:
        """Delete a snapshot's overlay unless the .info file names it."""
        if os.path.basename(path) not in info.values():
            self._delete_if_present(path)

    def _do_create_snapshot(self, snapshot: objects.Snapshot,
                            backing_filename: str,
                            new_snap_path: str) -> None:
        """Create an overlay on an image of the volume's checked chain."""
        volume = snapshot.volume
        backing = self._chain(volume).below(backing_filename).active
        self._clear_unused_overlay(volume, new_snap_path)
        self._create_new_file(new_snap_path, self._layout(volume))
        try:
            with files.volume_passphrase(volume) as passphrase:
                # The backing image's format as Cinder knows it: qemu-img does
                # not open the backing file.
                self._qemu_img.create_overlay(
                    new_snap_path, backing, volume.size, passphrase,
                    files.encrypt_options(volume))
            self._set_rw_permissions(new_snap_path)
            if self.secure_file_operations_enabled():
                self._execute('chown', '--reference=%s' % backing.path,
                              new_snap_path,
                              run_as_root=self._execute_as_root)
        except Exception:
            with excutils.save_and_reraise_exception():
                self._delete_if_present(new_snap_path)

    def _copy_volume_from_snapshot(self, snapshot: objects.Snapshot,
                                   volume: objects.Volume, volume_size: int,
                                   src_encryption_key_id: Optional[str] = None,
                                   new_encryption_key_id: Optional[str] = None
                                   ) -> None:
        """Write the data of a snapshot into the volume's file."""
        self._check_snapshot_support()
        source_volume = snapshot.volume
        # A snapshot's data is the chain below the overlay it names.
        info = self._read_info_file(
            self._local_path_volume_info(source_volume), empty_if_missing=True)
        name = info.get(snapshot.id)
        below = self._chain(source_volume).below(name).images \
            if name else ()
        if len(below) < 2:
            raise exception.InvalidSnapshot(reason=_(
                'the .info file of volume %(vol)s records no data of '
                'snapshot %(snap)s') % {'vol': source_volume.id,
                                        'snap': snapshot.id})
        self._write_copy(images.Chain(below[1:]), volume, volume_size,
                         src_encryption_key_id, new_encryption_key_id)

    def _write_copy(self, source: images.Chain, volume: objects.Volume,
                    size_gb: int, src_key_id: Optional[str],
                    new_key_id: Optional[str]) -> None:
        """Write what a guest sees in ``source`` as the volume's new file."""
        dest = images.Image(self.local_path(volume),
                            self._new_file_format(volume, copied=True),
                            bool(src_key_id))
        # A backup's copy of an encrypted volume keeps the volume's key, as
        # Cinder backs up encrypted volumes.
        if self._is_backup_view(volume):
            new_key_id = src_key_id
        if bool(src_key_id) != bool(new_key_id):
            raise exception.InvalidVolume(reason=_(
                'volume %s and its source must both be encrypted or both '
                'not') % volume.id)
        if os.path.lexists(dest.path):
            images.check_regular(dest.path)
        else:
            self._create_new_file(dest.path, self._layout(volume))
        LOG.debug('Copying %(src)s to %(dest)s as %(fmt)s.',
                  {'src': source.names(), 'dest': dest.path,
                   'fmt': dest.driver})
        # Raw into raw: a sparse copy that qemu-img never reads.
        if source.images == (images.Image(source.active.path, 'raw'),) and \
                dest.driver == 'raw':
            files.sparse_copy(self._execute, source.active.path,
                              dest.path, self._execute_as_root)
        else:
            ctxt = volume.obj_context
            with files.passphrase_file(ctxt, src_key_id) as src, \
                    files.passphrase_file(ctxt, new_key_id) as new:
                self._qemu_img.convert(source, dest.path, dest.driver,
                                       passphrase_file=src,
                                       new_passphrase_file=new)
        self._grow_copy(dest, volume, size_gb, new_key_id)
        self._set_rw_permissions(dest.path)

    def _grow_copy(self, image: images.Image, volume: objects.Volume,
                   size_gb: int, key_id: Optional[str]) -> None:
        """Grow a copy to its volume's size, and allocate a thick one."""
        virtual_size = self._reader.header(image).virtual_size
        if virtual_size < size_gb * units.Gi:
            with files.passphrase_file(volume.obj_context,
                                       key_id) as passphrase:
                self._qemu_img.resize(image, size_gb, passphrase)
        self._preallocate(volume, image, size_gb)

    def _create_cloned_volume(self, volume: objects.Volume,
                              src_vref: objects.Volume,
                              ctxt: context.RequestContext) -> dict:
        """Clone a volume into a file of the clone's own type and pool."""
        # The base class wrote the copy through a stand-in with the source's
        # type and no host: the source's format and layout, no OST pool, and
        # its file left behind on failure.
        self._check_snapshot_support()
        self._validate_state(src_vref.status,
                             ['available', 'backing-up', 'downloading'],
                             obj_description='source volume')
        LOG.info('Cloning volume %(src)s to volume %(dst)s',
                 {'src': src_vref.id, 'dst': volume.id})
        volume.provider_location = self._clone_share(volume, src_vref)
        dest = self.local_path(volume)
        self._create_new_file(dest, self._layout(volume))
        try:
            if self._can_clone_by_copy(volume, src_vref):
                self._clone_by_copy(volume, src_vref)
            else:
                self._clone_through_snapshot(volume, src_vref, ctxt)
        except Exception:
            with excutils.save_and_reraise_exception():
                self._delete_if_present(dest)
        if self._is_backup_view(volume) and src_vref.encryption_key_id:
            volume.admin_metadata[LUKS_COPY_KEY] = 'True'
        self._record_format(volume,
                            self._new_file_format(volume, copied=True))
        self._apply_project_quota(volume)
        return {'provider_location': volume.provider_location}

    def _clone_share(self, volume: objects.Volume,
                     src_vref: objects.Volume) -> str:
        """The share a clone is written to: that of its own pool."""
        # With clone_across_pools (the image cache) the clone's pool may be
        # another share or file system, which the copy reaches as well.
        pool = self._pools.get(self._pool_name_of(volume) or '')
        if pool is None or pool.share == src_vref.provider_location:
            return src_vref.provider_location
        self._ensure_share_mounted(pool.share)
        return pool.share

    def _can_clone_by_copy(self, volume: objects.Volume,
                           src_vref: objects.Volume) -> bool:
        """Whether a clone can be a sparse copy of the source's file."""
        # A raw source without snapshots or attachments is one file nothing
        # writes while the clone holds its lock (an attach waits for it).
        return (not volume.encryption_key_id and
                not src_vref.encryption_key_id and
                self._recorded_format(src_vref) == 'raw' and
                self._new_file_format(volume, copied=True) == 'raw' and
                not self._is_volume_attached(src_vref) and
                not self._snapshots_exist(src_vref))

    def _clone_by_copy(self, volume: objects.Volume,
                       src_vref: objects.Volume) -> None:
        base = self._base_image(src_vref)
        if self._reader.header(base).virtual_size > src_vref.size * units.Gi:
            raise exception.InvalidVolume(reason=_(
                'the file of volume %s is larger than the volume; refusing '
                'to clone it') % src_vref.id)
        self._write_copy(images.Chain((base,)), volume, volume.size,
                         None, None)

    def _clone_through_snapshot(self, volume: objects.Volume,
                                src_vref: objects.Volume,
                                ctxt: context.RequestContext) -> None:
        """Copy a source from a temporary snapshot that freezes its data."""
        temp_snapshot = objects.Snapshot(
            context=ctxt, volume_id=src_vref.id, user_id=ctxt.user_id,
            project_id=ctxt.project_id,
            status=fields.SnapshotStatus.CREATING, progress='0%',
            volume_size=src_vref.size,
            display_name='tmp-snap-%s' % volume.id,
            display_description=None,
            volume_type_id=src_vref.volume_type_id,
            encryption_key_id=src_vref.encryption_key_id)
        temp_snapshot.create()
        try:
            self._create_snapshot(temp_snapshot)
            self._copy_volume_from_snapshot(
                temp_snapshot, volume, volume.size,
                src_encryption_key_id=src_vref.encryption_key_id,
                new_encryption_key_id=volume.encryption_key_id)
        except Exception:
            with excutils.save_and_reraise_exception():
                # The copy's error is the one to report, not the cleanup's.
                try:
                    self._drop_temp_snapshot(temp_snapshot, ctxt)
                except Exception:
                    LOG.exception('Could not delete the temporary snapshot '
                                  '%(snap)s of volume %(vol)s.',
                                  {'snap': temp_snapshot.id,
                                   'vol': src_vref.id})
                    temp_snapshot.status = (
                        fields.SnapshotStatus.ERROR_DELETING)
                    temp_snapshot.save()
        else:
            self._drop_temp_snapshot(temp_snapshot, ctxt)

    def _drop_temp_snapshot(self, snapshot: objects.Snapshot,
                            ctxt: context.RequestContext) -> None:
        """Delete a temporary snapshot, waiting for Nova where it merges."""
        # Also after a failure part-way: a deletion of a snapshot still
        # "creating" is refused only once Nova was asked to merge it.
        snapshot.status = fields.SnapshotStatus.DELETING
        # Nova reported the online creation with progress 90%, as it reports
        # a deletion done: without this the deletion would not wait for
        # Nova's merge, and delete the base file under it.
        snapshot.progress = '100%'
        snapshot.context = ctxt.elevated()
        snapshot.save()
        self._delete_snapshot(snapshot)
        snapshot.destroy()

    def _create_volume_from_snapshot(self, volume: objects.Volume,
                                     snapshot: objects.Snapshot) -> dict:
        self._check_snapshot_support()
        update = super()._create_volume_from_snapshot(volume, snapshot)
        self._record_format(volume,
                            self._new_file_format(volume, copied=True))
        return update

    def _extend_volume(self, volume: objects.Volume, size_gb: int) -> None:
        """Grow the active image: the base file under snapshots is frozen."""
        # Checked before the project quota is lowered to the new size.
        if size_gb < volume.size:
            raise exception.ExtendVolumeError(reason=_(
                'volume %(vol)s is %(cur)sG: extending it to %(size)sG '
                'would shrink it') % {'vol': volume.id, 'cur': volume.size,
                                      'size': size_gb})
        pool = self._pool_of_volume(volume)
        thick = self._is_thick(volume)
        if not pool or not self._is_pool_eligible(
                pool.name, size_gb - volume.size, thick):
            raise exception.ExtendVolumeError(reason=_(
                'not enough space on %(share)s to extend volume %(vol)s to '
                '%(size)sG') % {'share': volume.provider_location,
                                'vol': volume.id, 'size': size_gb})
        active = self._chain(volume).active
        attached = self._is_volume_attached(volume)
        if attached:
            # Before the quota: an extend left to Nova changes nothing here.
            self._check_extend_attached(volume, active)
        # Raised first: preallocating a thick volume needs the new limit.
        self._apply_project_quota(volume, size_gb)
        if attached:
            self._extend_attached(volume, active, size_gb)
            return
        with files.volume_passphrase(volume) as passphrase:
            self._qemu_img.resize(active, size_gb, passphrase)
        self._check_grown(volume, active, size_gb)

    def _check_extend_attached(self, volume: objects.Volume,
                               active: images.Image) -> None:
        """Leave anything but a plain raw file of one guest to Nova."""
        # A qcow2 or LUKS image is metadata that its guest's qemu keeps in
        # memory and writes: only that qemu may grow it (block_resize, which
        # leaves the frozen images below as they are), so Nova does it and
        # completes the extend. A disk that several guests share no qemu can
        # resize: the manager refuses that extend.
        if (len(volume.volume_attachment or []) > 1 or active.fmt != 'raw'
                or active.encrypted):
            raise exception.ExtendVolumeCompletionRequired(
                volume_id=volume.id)

    def _extend_attached(self, volume: objects.Volume, active: images.Image,
                         size_gb: int) -> None:
        """Grow a plain raw file under its guest."""
        # A plain raw file has no metadata: the zeros appended lie past the
        # end its guest's qemu knows, until Nova's block_resize tells qemu
        # and the guest the new size. '>': never shrink, whatever the file
        # became meanwhile.
        self._execute('truncate', '-c', '-s', '>%dG' % size_gb, active.path,
                      run_as_root=self._execute_as_root)
        self._check_grown(volume, active, size_gb)

    def _check_grown(self, volume: objects.Volume, active: images.Image,
                     size_gb: int) -> None:
        """Check that the active image has the new size, then allocate it."""
        virtual_size = self._reader.header(active).virtual_size
        if virtual_size != size_gb * units.Gi:
            raise exception.ExtendVolumeError(reason=_(
                'the image of volume %(vol)s is %(vsize)s bytes after '
                'extending it to %(size)sG') % {
                'vol': volume.id, 'vsize': virtual_size, 'size': size_gb})
        self._preallocate(volume, active, size_gb)

    def _preallocate(self, volume: objects.Volume, image: images.Image,
                     size_gb: int) -> None:
        """Allocate the blocks of a thick raw file; data is untouched."""
        # Resizing and writing an image leave holes, which a thick volume
        # promises not to have.
        if image.fmt != 'raw' or not self._is_thick(volume):
            return
        try:
            self._execute('fallocate', '-l', '%dG' % size_gb, image.path,
                          run_as_root=self._execute_as_root)
        except putils.ProcessExecutionError as exc:
            LOG.warning('Could not preallocate the extended part of %(path)s'
                        ' (%(err)s); it stays sparse.',
                        {'path': image.path, 'err': exc.stderr})

    def _revert_to_snapshot(self, ctxt: context.RequestContext,
                            volume: objects.Volume,
                            snapshot: objects.Snapshot) -> None:
        """Give the latest snapshot a new, empty overlay, crash-safely."""
        self._check_snapshot_support()
        self._validate_state(volume.status, ['available', 'reverting'])
        info = self._read_info_file(self._local_path_volume_info(volume),
                                    empty_if_missing=True)
        name = info.get(snapshot.id)
        if name is None or name != info['active']:
            raise exception.InvalidSnapshot(reason=_(
                'volume %(vol)s can only be reverted to its latest '
                'snapshot, and %(snap)s is not') % {'vol': volume.id,
                                                    'snap': snapshot.id})
        backing = self._chain(volume).backing_of(name)
        if backing is None:
            raise exception.InvalidSnapshot(reason=_(
                'the .info file of volume %(vol)s records no data of '
                'snapshot %(snap)s') % {'vol': volume.id,
                                        'snap': snapshot.id})
        path = files.own_file_path(self._local_volume_dir(volume),
                                   volume.name, name)
        # Made beside the old overlay and renamed over it: the .info file
        # names a complete image at every moment.
        new_path = path + '.revert'
        self._delete_if_present(new_path)
        self._do_create_snapshot(snapshot, backing.name, new_path)
        self._execute('mv', '-f', '--', new_path, path,
                      run_as_root=self._execute_as_root)
        self._apply_project_quota(volume)
