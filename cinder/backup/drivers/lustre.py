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

"""Backup driver that stores backups on a Lustre file system.

The driver mounts one Lustre share with the client code it shares with the
Lustre volume driver and hands a directory of its own on it to the POSIX
backup driver, whose chunked format the backups keep: any POSIX-compatible
driver restores them. What it adds is the Lustre side: a share that is
really mounted, a backup directory the service can write to and, when
asked, a default file layout (striping) for the backup objects written
below it; objects sized to that layout; and backups that hash and compress
in threads while they read, as fast as the disk allows.
"""

from __future__ import annotations

import collections
from concurrent import futures
import functools
import itertools
import json
import math
import os
import stat
from typing import Any, Generator, Iterator, Optional, Sequence  # noqa: H301

import futurist
from oslo_concurrency import processutils as putils
from oslo_config import cfg
from oslo_log import log as logging
from oslo_utils import timeutils
from oslo_utils import units

from cinder.backup import chunkeddriver
from cinder.backup.drivers import posix
from cinder import context as cinder_context
from cinder import exception
from cinder.i18n import _
from cinder import interface
from cinder import objects
from cinder import utils
from cinder.volume.drivers import lustre_client
from cinder.volume.drivers import lustre_files as files
from cinder.volume.drivers import lustre_images as images

LOG = logging.getLogger(__name__)

lustrebackup_service_opts = [
    cfg.StrOpt('backup_lustre_share',
               help='Lustre share to store backups on, in the form '
                    'NID[,NID][:NID...]:/fsname[/subdir], for example '
                    '10.0.0.1@tcp:10.0.0.2@tcp:/lustre/cinder-backup. '
                    'A NID is HOST@NET; colons separate failover MGS '
                    'nodes.'),
    cfg.StrOpt('backup_lustre_mount_point_base',
               default='$state_path/backup_mount',
               help='Base directory of the mount point of the Lustre '
                    'backup share.'),
    cfg.StrOpt('backup_lustre_mount_options',
               default='flock',
               help='Comma separated mount options passed to the Lustre '
                    'client (see mount.lustre(8)).'),
    cfg.IntOpt('backup_lustre_mount_attempts',
               default=3,
               min=1,
               help='The number of attempts to mount the Lustre backup '
                    'share before raising an error.'),
    cfg.IntOpt('backup_lustre_stripe_count',
               min=-1,
               max=2000,
               help='Number of OSTs each backup object is striped over, '
                    'set as the default layout of the backup directory '
                    '(lfs setstripe -c): a positive number, or -1 for all '
                    'OSTs. Unset leaves the file system default.'),
    cfg.StrOpt('backup_lustre_stripe_size',
               help='Number of bytes written to one OST before moving to '
                    'the next, set as the default layout of the backup '
                    'directory (lfs setstripe -S): bytes or a number with '
                    'the suffix K, M or G, a multiple of 64K and less '
                    'than 4G, for example 4M. Unset leaves the file '
                    'system default.'),
]

CONF = cfg.CONF
CONF.register_opts(lustrebackup_service_opts)

# The directory of the share that holds the backups. Never the share's top
# directory itself: on a share that is the root of a file system, a layout
# set there would be the default of the whole file system.
BACKUP_DIRECTORY = 'cinder-backup'

# Objects of this size (rounded up to whole stripes and hash blocks) unless
# backup_file_size is set: large enough for Lustre's 1-4 MiB RPCs to every
# OST of a stripe, small enough that a backup holds little memory.
_OBJECT_BYTES = 32 * units.Mi
# Lustre's default stripe size, when backup_lustre_stripe_size is unset.
_DEFAULT_STRIPE_BYTES = units.Mi
# A hole of the volume is stored as objects of zeros of up to this size
# (whole objects): each costs a file and a status check, on backup and
# restore alike, so that a sparse volume costs little more than its data.
# A restore that does not know them holds one in memory, less than the
# POSIX driver's own objects (backup_file_size, 1.9 GB by default).
_ZERO_OBJECT_BYTES = units.Gi

# Threads that hash and compress the windows of a backup, or read and
# decompress the objects of a restore, and how many run ahead of the one
# being stored or written: a backup holds at most _WINDOWS_AHEAD +
# _STORE_THREADS windows (read, hashed, stored) and a restore
# _OBJECTS_AHEAD + 1 objects.
# Two windows ahead: a window of a hole stores a small object of zeros at
# once, and the next window of data must then be hashed already or the
# store thread waits for it (a volume of alternating data and holes backs
# up 10% faster than with one, for one more window in memory).
_THREADS = 2
_WINDOWS_AHEAD = 2
_OBJECTS_AHEAD = 1
# A backup stores objects in threads of its own, three at a time, while
# the next windows are read and hashed: each object is synced once
# written, and three in flight keep the disk busy while one waits for it
# (a backup of 1 GiB 10% faster than with two, for one more window in
# memory).
_STORE_THREADS = 3
# A backup or restore asks the database whether it was cancelled at most
# this often, and a backup once more before it writes its metadata. The
# chunked driver asks before each object: every 30 ms at the speed of a
# disk, a query on the thread that reads the volume (a fifth of the time
# of a backup of 1 GiB).
_STATUS_CHECK_SECONDS = 1


def _stored_at_once() -> futures.Future:
    """A store that is done: what a window with nothing to store counts."""
    stored: futures.Future = futures.Future()
    stored.set_result(None)
    return stored


class _CannotTell(Exception):
    """Why an incremental backup cannot know what did not change."""


class _SyncedWriter(object):
    """A file of a backup, on the disk once it is closed.

    A Lustre client keeps what is written in its page cache after a file
    is closed (unlike NFS, whose close flushes it to the server): without
    a sync, a backup could be marked available with objects that a crash
    of the client loses. Each object is synced in the thread that stores
    it, while the next ones are read and written, rather than all of them
    once the backup is over.
    """

    def __init__(self, file: Any) -> None:
        self._file = file

    def write(self, data: Any) -> Optional[int]:
        return self._file.write(data)

    def __enter__(self) -> _SyncedWriter:
        return self

    def __exit__(self, exc_type: Any, exc: Any, traceback: Any) -> None:
        with self._file:
            if exc_type is None:
                self._file.flush()
                os.fsync(self._file.fileno())


@interface.backupdriver
class LustreBackupDriver(posix.PosixBackupDriver):
    """Backs up volumes to a Lustre share, through the POSIX driver.

    Backups, incremental backups, restores and deletes are the POSIX
    (chunked) driver's, in its format; this class provides the directory
    they live in, sizes their objects and hashes and compresses in threads.
    The backup manager builds a new driver for every operation, so
    ``__init__`` is cheap once the share is mounted: the mount check reads
    ``/proc/mounts`` and the ownership check is a stat.
    """

    # Default layouts already applied by this process, per directory; the
    # layout is file system metadata, so once is enough (see _set_layout).
    _layouts_applied: set[tuple[str, Optional[int], Optional[str]]] = set()
    # The threads that store the objects of a backup, set while backup()
    # runs, the objects given to them and not yet waited for, and how many
    # were given (see _store_object and _processed_windows).
    _stores: futures.Executor
    _stored: collections.deque
    _objects_given = 0
    # The thread that syncs the volume of a restore, set while restore()
    # runs, and the sync given to it and not yet waited for (see
    # _sync_volume).
    _syncs: futures.Executor
    _synced: collections.deque
    # Started when the status of the backup was last asked (see
    # _status_check_due).
    _status_checked: Optional[timeutils.StopWatch] = None

    def __init__(self, context: cinder_context.RequestContext) -> None:
        self._execute = utils.execute
        self._root_helper = utils.get_root_helper()
        self._lfs = lustre_client.Lfs(self._execute)
        backup_path = self._init_backup_repo_path()
        LOG.debug('Using Lustre backup repository: %s', backup_path)
        super().__init__(context, backup_path=backup_path)
        self._stored = collections.deque()
        self._synced = collections.deque()
        self.chunk_size_bytes = self._object_size()
        self.zero_object_bytes = max(
            _ZERO_OBJECT_BYTES // self.chunk_size_bytes,
            1) * self.chunk_size_bytes

    @staticmethod
    def get_driver_options() -> list:
        return lustrebackup_service_opts + posix.posixbackup_service_opts

    def check_for_setup_error(self) -> None:
        """Raise InvalidConfigurationValue for an unusable configuration.

        The mount itself is checked in ``__init__``, which raises when it
        fails; what is left to report here is a configuration that kept
        ``__init__`` from mounting at all.
        """
        self._check_config()

    @staticmethod
    def _invalid(option: str, value: object,
                 reason: str) -> exception.InvalidConfigurationValue:
        return exception.InvalidConfigurationValue(
            message=_('Value "%(value)s" is not valid for configuration '
                      'option "%(option)s": %(reason)s') % {
                'value': value, 'option': option, 'reason': reason},
            option=option, value=value)

    @classmethod
    def _check_config(cls) -> None:
        """Validate the share, the mount options and the layout options.

        The stripe options follow the rules of the volume driver's
        ``lustre:stripe_*`` extra specs (lustre_client), so that the same
        layout is accepted or refused for volumes and for backups.
        """
        share = CONF.backup_lustre_share
        if not share:
            raise cls._invalid('backup_lustre_share', share,
                               _('no Lustre share is configured'))
        try:
            lustre_client.LustreShare.parse(share)
        except ValueError as exc:
            raise cls._invalid('backup_lustre_share', share, str(exc))
        options = CONF.backup_lustre_mount_options
        try:
            lustre_client.parse_mount_options(options)
        except ValueError as exc:
            raise cls._invalid('backup_lustre_mount_options', options,
                               str(exc))
        count = CONF.backup_lustre_stripe_count
        try:
            if count is not None:
                lustre_client.parse_stripe_count(str(count))
        except ValueError as exc:
            raise cls._invalid('backup_lustre_stripe_count', count, str(exc))
        size = CONF.backup_lustre_stripe_size
        try:
            if size:
                lustre_client.parse_stripe_size(size)
        except ValueError as exc:
            raise cls._invalid('backup_lustre_stripe_size', size, str(exc))

    def _init_backup_repo_path(self) -> Optional[str]:
        """Mount the share and prepare it; return the backup directory.

        With an invalid configuration nothing is mounted and None is
        returned, as the NFS backup driver does for a missing share, so
        that ``check_for_setup_error`` reports the option at start-up.
        """
        try:
            self._check_config()
        except exception.InvalidConfigurationValue as exc:
            LOG.info('Not mounting the Lustre backup share: %s', exc)
            return None
        mounter = lustre_client.LustreMounter(
            self._root_helper, self._execute,
            CONF.backup_lustre_mount_point_base,
            CONF.backup_lustre_mount_options,
            CONF.backup_lustre_mount_attempts)
        mount_point = mounter.ensure_mounted(CONF.backup_lustre_share)
        path = os.path.join(mount_point, BACKUP_DIRECTORY)
        self._make_directory(path)
        self._make_writable(path)
        self._set_layout(path)
        return path

    def _make_directory(self, path: str) -> None:
        """Create the backup directory, as root if the service cannot.

        Anything but a directory there is refused: any client of the file
        system can put a link in its place, which chgrp, chmod and lfs
        setstripe, run as root, would follow (to the share's root, say).
        """
        try:
            os.mkdir(path)
        except FileExistsError:
            pass
        except PermissionError:
            self._execute('mkdir', path, root_helper=self._root_helper,
                          run_as_root=True)
        if not stat.S_ISDIR(os.lstat(path).st_mode):
            raise lustre_client.LustreException(msg=_(
                '%s is not a directory; backups are stored only in a '
                'directory of that name') % path)

    def _make_writable(self, path: str) -> None:
        """Let the service write to the backup directory.

        Only that directory is changed, never what is below it: the
        POSIX driver creates its containers group writable, and a
        recursive chgrp or chmod over an existing backup tree would run
        for hours on a large file system and change files that other
        services may own. Nothing is changed when the service can
        already write there.
        """
        if self._is_writable(path):
            return
        group_id = os.getegid()
        if utils.get_file_gid(path) != group_id:
            self._execute('chgrp', str(group_id), path,
                          root_helper=self._root_helper, run_as_root=True)
        wanted = stat.S_IWGRP | stat.S_IXGRP
        if utils.get_file_mode(path) & wanted != wanted:
            self._execute('chmod', 'g+wx', path,
                          root_helper=self._root_helper, run_as_root=True)
        if not self._is_writable(path):
            raise lustre_client.LustreException(msg=_(
                'the backup service cannot write to %s, not even after '
                'giving its group write access; is the share mounted '
                'read-only?') % path)

    @staticmethod
    def _is_writable(path: str) -> bool:
        return os.access(path, os.W_OK | os.X_OK)

    def _set_layout(self, path: str) -> None:
        """Set the default file layout of the backup directory, if asked.

        Files created in a Lustre directory inherit its default layout, so
        setting it once on the backup directory stripes every backup object
        written below it.

        A missing ``lfs`` command is a warning, not an error: the layout
        is metadata of the file system, so it may well have been set from
        another client, and backups written with the file system's default
        layout are still complete and restorable. Any other failure of
        ``lfs`` is raised: ``lfs`` ran and refused a layout the operator
        asked for (a stripe count or size the file system does not accept,
        or a missing rootwrap filter), and refusing to start is how the
        operator learns of it, rather than long after, from restores
        slower than expected.
        """
        count = CONF.backup_lustre_stripe_count
        size = CONF.backup_lustre_stripe_size
        key = (path, count, size)
        if (count is None and not size) or key in self._layouts_applied:
            return
        try:
            self._lfs.setstripe(path, stripe_count=count, stripe_size=size,
                                run_as_root=True)
        except (OSError, putils.ProcessExecutionError) as exc:
            raise lustre_client.LustreException(msg=_(
                'cannot set the layout asked for by '
                'backup_lustre_stripe_count and backup_lustre_stripe_size '
                'on %(path)s: %(error)s') % {
                'path': path, 'error': getattr(exc, 'stderr', None) or exc})
        except lustre_client.LfsNotInstalled:
            LOG.warning('The lfs command is not installed: the default '
                        'layout that backup_lustre_stripe_count and '
                        'backup_lustre_stripe_size ask for was not set on '
                        '%s; backups use the layout the directory has.',
                        path)
        self._layouts_applied.add(key)

    @staticmethod
    def _object_size() -> int:
        """backup_file_size if changed, else objects of whole stripes.

        An object that ends on a full stripe (stripe size times stripe
        count) keeps every OST of its layout equally busy. The POSIX
        default of 1.9 GB would have every backup hold that much memory.
        """
        if CONF.backup_file_size != posix.BACKUP_FILE_SIZE:
            return CONF.backup_file_size
        try:
            stripe = lustre_client.parse_stripe_size(
                CONF.backup_lustre_stripe_size or '')
        except ValueError:
            # Unset, or invalid: check_for_setup_error says so.
            stripe = _DEFAULT_STRIPE_BYTES
        # -1 (all OSTs) or unset: the number of OSTs is not known here.
        count = max(CONF.backup_lustre_stripe_count or 1, 1)
        unit = math.lcm(CONF.backup_sha_block_size_bytes, stripe * count)
        return -(-_OBJECT_BYTES // unit) * unit

    def _unchanged_ranges(self, backup: Any, volume_file: Any) -> list:
        """What cannot have changed since the parent backup, if known.

        Known when both backups were made from snapshots of a volume of
        the Lustre volume driver that still has the parent's snapshot
        (see _changed_since); anything else, or any doubt, is no range:
        the backup reads every block, as the chunked driver does. A wrong
        range would make a backup that restores wrong data, silently.
        """
        try:
            changed, size = self._changed_since(backup, volume_file)
        except Exception as exc:
            LOG.info('Incremental backup %(id)s reads every block of volume '
                     '%(vol)s: %(reason)s', {'id': backup.id,
                                             'vol': backup.volume_id,
                                             'reason': exc})
            return []
        unchanged = []
        start = 0
        for change_start, change_end in changed:
            if change_start > start:
                unchanged.append((start, change_start))
            start = max(start, change_end)
        if start < size:
            unchanged.append((start, size))
        LOG.info('Incremental backup %(id)s reads at most %(changed)d '
                 'bytes of volume %(vol)s, those its snapshots say may have '
                 'changed since its parent backup.',
                 {'id': backup.id, 'vol': backup.volume_id,
                  'changed': size - sum(end - begin
                                        for begin, end in unchanged)})
        return unchanged

    def _changed_since(self, backup: Any,
                       volume_file: Any) -> tuple[list, int]:
        """(ranges that may have changed, size) of the volume file read.

        The volume driver keeps a volume's snapshots as a qcow2 chain that
        the volume's .info file names: the overlay it names after a
        snapshot S holds the writes made after S, and the data of S is
        the chain below that overlay. A backup from a snapshot reads a
        raw copy of that data, which the volume driver made in the
        volume's directory. So what differs between the data of the
        parent's snapshot S1 and that of this backup's snapshot S2 lies
        in the clusters allocated in the overlays from S1's up to the one
        below S2's. Deleting a snapshot merges its overlay into the one
        below (or pulls that one into the active overlay, whose snapshot
        then names it): clusters leave that range only when S1 itself
        goes, which the .info file shows. The overlays below S2's are
        never written by a guest (a live volume's active file is, with
        its metadata cached in a running qemu: backups of the volume
        itself read every block).

        Raises _CannotTell, or anything it meets, where it cannot be sure.
        """
        parent = backup.parent
        if not backup.snapshot_id or not parent.snapshot_id:
            raise _CannotTell(_('it and its parent backup must both be '
                                'made from snapshots'))
        if parent.volume_id != backup.volume_id:
            raise _CannotTell(_('its parent backup is of another volume'))
        volume = objects.Volume.get_by_id(self.context, backup.volume_id)
        if volume.encryption_key_id:
            raise _CannotTell(_('each copy of an encrypted volume is '
                                'encrypted anew'))
        path, size = self._copy_of_snapshot(backup, volume_file)
        directory = os.path.dirname(path)
        info = self._snapshot_info(directory, volume.name)
        old, new = (info.get(snapshot_id) for snapshot_id in
                    (parent.snapshot_id, backup.snapshot_id))
        if not old or not new:
            raise _CannotTell(_('the .info file of the volume no longer '
                                'names the snapshot of the parent backup '
                                'or of this one'))
        reader = images.ImageReader(self._execute, False)
        between = self._overlays_between(reader, directory, volume.name,
                                         info, new, old)
        identities = []
        changed: list = []
        for image in between:
            identities.append(self._identity(image.path))
            if reader.header(image).virtual_size != size:
                raise _CannotTell(_('%s is not the size of the volume '
                                    'copy') % image.name)
            changed = chunkeddriver._union(changed,
                                           self._allocated(image, size))
        # Anything that moved data between the overlays renamed or
        # replaced something: then nothing mapped above can be trusted.
        if (self._snapshot_info(directory, volume.name) != info or
                [self._identity(image.path) for image in between] !=
                identities):
            raise _CannotTell(_('the snapshots of the volume changed while '
                                'they were read'))
        LOG.debug('Volume %(vol)s: snapshot %(new)s differs from snapshot '
                  '%(old)s only in the clusters of %(files)s.',
                  {'vol': volume.id, 'new': backup.snapshot_id,
                   'old': parent.snapshot_id,
                   'files': [image.name for image in between]})
        return changed, size

    def _copy_of_snapshot(self, backup: Any,
                          volume_file: Any) -> tuple[str, int]:
        """(path, size) of the file read: the copy of the backup's snapshot.

        The backup manager opened that path: it must still be the file
        read, and the temporary volume the volume driver copied the
        snapshot into.
        """
        path = getattr(volume_file, 'name', None)
        if not isinstance(path, str) or not os.path.isabs(path):
            raise _CannotTell(_('the file read has no path'))
        opened = os.fstat(volume_file.fileno())
        st = os.lstat(path)
        if (not stat.S_ISREG(st.st_mode) or
                (st.st_dev, st.st_ino) != (opened.st_dev, opened.st_ino)):
            raise _CannotTell(_('%s is not the regular file read') % path)
        temp_volume_id = (backup.temp_volume_id or objects.Backup.get_by_id(
            self.context, backup.id).temp_volume_id)
        if not temp_volume_id or os.path.basename(path) != (
                objects.Volume.get_by_id(self.context,
                                         temp_volume_id).name):
            raise _CannotTell(_('%s is not the temporary copy of the '
                                'snapshot') % path)
        return path, opened.st_size

    @staticmethod
    def _snapshot_info(directory: str, volume_name: str) -> dict:
        """The volume's .info file, read without following a link."""
        path = os.path.join(directory, volume_name + '.info')
        info = json.loads(files.read_text(path))
        if not isinstance(info, dict) or 'active' not in info or not all(
                files.is_own_file_name(volume_name, name)
                for name in info.values()):
            raise _CannotTell(_('%s is not a .info file of the volume')
                              % path)
        return info

    @staticmethod
    def _overlays_between(reader: images.ImageReader, directory: str,
                          volume_name: str, info: dict, new: str,
                          old: str) -> list[images.Image]:
        """The overlays from the one below ``new`` down to ``old``.

        Walked down from ``new`` by the backing file names the overlays'
        headers hold, each checked (a regular file with one link, qcow2
        named by the .info file, in the directory); ``old`` must be found
        there, with a backing file of its own (its snapshot's data).
        """
        overlays = set(info.values()) - {volume_name}
        walked: list[images.Image] = []
        name = new
        while True:
            if name == volume_name:
                raise _CannotTell(_('the chain from snapshot file %(new)s '
                                    'does not reach %(old)s') % {
                    'new': new, 'old': old})
            image = images.Image(os.path.join(directory, name), images.QCOW2)
            if name not in overlays or image in walked:
                raise _CannotTell(_('%s is not a snapshot overlay of the '
                                    'chain') % name)
            header = reader.header(image)
            walked.append(image)
            backing = header.backing_file or ''
            if os.path.dirname(backing) == directory:
                backing = os.path.basename(backing)
            if not backing or os.path.basename(backing) != backing:
                raise _CannotTell(_('the chain from snapshot file %(new)s '
                                    'does not reach %(old)s') % {
                    'new': new, 'old': old})
            if name == old:
                return walked[1:]
            name = backing

    def _allocated(self, image: images.Image, size: int) -> list:
        """The (start, end) of what a qcow2 image holds, zeros included.

        qemu-img reads the image alone (its backing file is never opened)
        in the format it is known to have; 'present' marks the clusters
        allocated in it, as data or as zeros.
        """
        out, _err = self._execute('qemu-img', 'map', '--output=json',
                                  images.Chain((image,)).filename())
        ranges = []
        end = 0
        for extent in json.loads(out):
            if extent['start'] != end or 'present' not in extent:
                raise _CannotTell(_('qemu-img map of %s is not a list of '
                                    'allocated ranges') % image.name)
            end = extent['start'] + extent['length']
            if extent['present']:
                ranges.append((extent['start'], end))
        if end != size:
            raise _CannotTell(_('qemu-img map of %s does not cover the '
                                'volume') % image.name)
        return chunkeddriver._union(ranges, [])

    @staticmethod
    def _identity(path: str) -> tuple[int, int]:
        st = images.check_regular(path)
        return st.st_dev, st.st_ino

    def get_object_writer(self, container: str, object_name: str,
                          extra_metadata: Any = None) -> _SyncedWriter:
        """The POSIX driver's file, synced when it is closed."""
        return _SyncedWriter(super().get_object_writer(
            container, object_name, extra_metadata=extra_metadata))

    def _md5(self, data: Any, length: int) -> None:
        """No MD5: no restore reads it, and it costs more than the read.

        The chunked format records an MD5 of each object that nothing
        reads back, restores included; the sha256 file already holds a
        SHA-256 of every block of the volume. MD5 runs at half the speed
        of a disk, on one core per object.
        """
        return None

    def _processed_windows(self, volume_file: Any,
                           parent_shas: Optional[list],
                           unchanged: Sequence = ()) -> Iterator:
        """Hash and compress windows in threads while reading the next.

        hashlib and the compressors release the GIL: with the reads and
        writes of the backup, the hashing of the windows read ahead runs
        on the other cores.
        """
        process_window = utils.tpool_wrap(self._process_window)
        # The buffer of a window is read into again _WINDOWS_AHEAD +
        # _STORE_THREADS windows later: every object of the window must be
        # stored by then. _store_object waits for the oldest objects until
        # fewer than _STORE_THREADS are being stored, and a window that
        # stores nothing (unchanged since the parent backup) counts as an
        # object stored at once: the objects of a window are then stored
        # before the loop gets the window _STORE_THREADS after it, the
        # one read into their buffer being _WINDOWS_AHEAD further.
        windows = self._read_windows(volume_file,
                                     _WINDOWS_AHEAD + _STORE_THREADS,
                                     unchanged)
        processed_windows = self._ahead(
            _WINDOWS_AHEAD, (functools.partial(process_window, window,
                                               parent_shas)
                             for window in windows))
        try:
            for processed in processed_windows:
                given = self._objects_given
                yield processed
                if self._objects_given == given:
                    self._stored.append(_stored_at_once())
                    self._wait(self._stored, _STORE_THREADS - 1)
        finally:
            processed_windows.close()

    def backup(self, backup: Any, volume_file: Any,
               backup_metadata: bool = True) -> None:
        """Back up the volume, storing objects in a thread (_store_object)."""
        self._status_checked = None
        with self._executor(_STORE_THREADS) as self._stores:
            try:
                super().backup(backup, volume_file, backup_metadata)
            finally:
                # The objects were waited for (_finalize_backup,
                # delete_backup) unless the backup fails: leaving the
                # executor then waits for them, whose failures are not
                # the one to report.
                del self._stores
                self._stored.clear()

    def _store_object(self, container: str, object_name: str, data: Any,
                      extra_metadata: Any) -> None:
        """Store the object in a store thread; wait for the oldest.

        The writes of an object then run while the next windows are read
        and hashed, instead of after them, and beside the writes and the
        sync of the objects before it: copying data into the page cache
        keeps a core busy, and a sync waits for the disk. Once this one
        is submitted, the oldest objects are waited for (their failures
        are raised here) until fewer than _STORE_THREADS are being
        stored: their data are pieces of the buffers that
        _processed_windows reads into in turn. Under eventlet the whole
        of a store runs in one native thread call, the creation of its
        file included: on Lustre that waits for the metadata server,
        which must not stop the service's other green threads.
        """
        store = utils.tpool_wrap(super()._store_object)
        self._objects_given += 1
        self._stored.append(self._stores.submit(
            store, container, object_name, data, extra_metadata))
        self._wait(self._stored, _STORE_THREADS - 1)

    @staticmethod
    def _wait(futures: collections.deque, left: int = 0) -> None:
        """Wait for the oldest futures until `left` are; raise a failure."""
        while len(futures) > left:
            futures.popleft().result()

    def _status_check_due(self) -> bool:
        """Whether to ask the database for the status of the backup.

        Yes at first, then once _STATUS_CHECK_SECONDS have passed since
        the last time.
        """
        if (self._status_checked is not None and
                not self._status_checked.expired()):
            return False
        self._status_checked = timeutils.StopWatch(
            _STATUS_CHECK_SECONDS).start()
        return True

    def _backup_cancelled(self, backup: Any) -> bool:
        """Whether the backup was deleted, asked at most once a second.

        A backup deleted since is seen at the next question, before a
        window or in _finalize_backup: nothing of it is left either way.
        """
        return (self._status_check_due() and
                super()._backup_cancelled(backup))

    def _finalize_backup(self, backup: Any, container: str,
                         object_meta: dict, object_sha256: dict) -> None:
        """Write the metadata once every object is stored, unless deleted.

        The status of the backup was last asked up to a second ago: one
        deleted since then deletes what it stored instead, as the chunked
        driver does when it sees the deletion between two windows.
        """
        self._wait(self._stored)
        if super()._backup_cancelled(backup):
            LOG.debug('Cancel the backup process of %s.', backup.id)
            self.delete_backup(backup)
            return
        super()._finalize_backup(backup, container, object_meta,
                                 object_sha256)

    def delete_backup(self, backup: Any) -> None:
        """Delete the backup once the objects being stored, if any, are.

        A backup cancelled while it stores objects deletes what it
        stored: those objects too.
        """
        while self._stored:
            # Its failure, if any, no longer matters.
            self._stored.popleft().exception()
        super().delete_backup(backup)

    def restore(self, backup: Any, volume_id: str, volume_file: Any,
                volume_is_new: bool) -> None:
        """Restore the volume, syncing it in a thread (_sync_volume)."""
        self._status_checked = None
        with self._executor(1) as self._syncs:
            try:
                super().restore(backup, volume_id, volume_file,
                                volume_is_new)
                self._wait(self._synced)
            finally:
                # Leaving the executor waits for a sync still running.
                del self._syncs
                self._synced.clear()

    def _restore_cancelled(self, requested_backup: Any) -> bool:
        """Whether the restore was cancelled, asked at most once a second.

        A restore cancelled then writes on for up to a second.
        """
        return (self._status_check_due() and
                super()._restore_cancelled(requested_backup))

    def _sync_volume(self, volume_file: Any) -> None:
        """Sync the volume in a thread while the restore writes on.

        A restore syncs what it wrote every 256 MiB: the disk writes of
        those then overlap the writes of the next objects instead of
        stopping them. The sync before is waited for first (its failure
        is raised here), so that one runs at a time; restore waits for
        the last.
        """
        self._wait(self._synced)
        self._synced.append(self._syncs.submit(super()._sync_volume,
                                               volume_file))

    def _restored_objects(self, container: str, objects: Iterator,
                          extra_metadata: Any) -> Iterator:
        """Read and decompress each object while the one before is written.

        A restore writes each object, and now and then waits for the disk
        (see chunkeddriver._SYNC_BYTES): reads and writes then overlap
        instead of waiting for each other.
        """
        read_object = utils.tpool_wrap(self._read_object)
        # An object is used until the one _OBJECTS_AHEAD + 1 after it is
        # read.
        buffers = chunkeddriver._Buffers(_OBJECTS_AHEAD + 1,
                                         self.chunk_size_bytes)
        return self._ahead(_OBJECTS_AHEAD,
                           (functools.partial(read_object, container, name,
                                              obj, extra_metadata,
                                              buffers.take())
                            for name, obj in objects))

    def _ahead(self, ahead: int, calls: Iterator) -> Generator:
        """Yield the results of calls in order; make them in threads.

        At most `ahead` calls run ahead of the result being used, so that
        the memory a backup or restore holds does not depend on the size
        of the volume. Taking the next call (reading the next window) runs
        in the caller's thread.
        """
        pending: collections.deque = collections.deque()
        with self._executor() as executor:
            try:
                for call in itertools.islice(calls, ahead):
                    pending.append(executor.submit(call))
                for call in calls:
                    pending.append(executor.submit(call))
                    yield pending.popleft().result()
                while pending:
                    yield pending.popleft().result()
            finally:
                for future in pending:
                    future.cancel()

    @staticmethod
    def _executor(threads: int = _THREADS) -> futures.Executor:
        """Threads for _ahead and _store_object, green ones under eventlet.

        Under eventlet, tpool_wrap hands their work to native threads.
        Native threads are the standard library's: leaving its executor
        wakes the idle ones at once, where futurist's wait up to a second
        for work before they see they should stop, a second added to
        every backup and restore for each executor it leaves.
        """
        if utils.concurrency_mode_threading():
            return futures.ThreadPoolExecutor(threads)
        return futurist.GreenThreadPoolExecutor(threads)
