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

"""The Lustre client side, shared by the Lustre volume and backup drivers.

Everything Cinder needs to know about a Lustre client lives here, in one
small typed unit: the share syntax, mounting through os-brick (with
retries, a lock per share, a real check that the mount point is a mount,
and stale-mount repair), and the ``lfs`` command with parsers for its
output. Both drivers call this module; neither runs ``mount`` or ``lfs``
itself.
"""

from __future__ import annotations

import dataclasses
import errno
import os
import re
import time
import typing
from typing import Any, Callable, Optional  # noqa: H301

from os_brick import exception as brick_exception
from os_brick import executor as brick_executor
from os_brick.remotefs import remotefs as remotefs_brick
from oslo_concurrency import processutils as putils
from oslo_log import log as logging

from cinder import coordination
from cinder import exception
from cinder.i18n import _

LOG = logging.getLogger(__name__)

# A NID is HOST@NET: "10.0.0.1@tcp", "mgs1@tcp0", "192.168.1.5@o2ib1",
# "0@lo". Commas join NIDs of one MGS host, colons join failover hosts.
_NID = r'[A-Za-z0-9](?:[A-Za-z0-9.-]{0,253}[A-Za-z0-9])?@[a-z][a-z0-9]*'
_MGS_NODE = r'%(nid)s(?:,%(nid)s)*' % {'nid': _NID}
# Lustre file system names are at most eight characters.
_FSNAME = r'[A-Za-z0-9_-]{1,8}'
_PATH_COMPONENT = r'[A-Za-z0-9_+-][A-Za-z0-9._+-]*'
SHARE_RE = re.compile(
    r'^(?P<mgs>%(node)s(?::%(node)s)*):/(?P<fsname>%(fs)s)'
    r'(?P<subdir>(?:/%(comp)s)*)/?$' % {
        'node': _MGS_NODE, 'fs': _FSNAME, 'comp': _PATH_COMPONENT})
# Mount options reach mount(8) as one argument; keep them to the
# characters Lustre and VFS options are made of.
_MOUNT_OPTION_RE = re.compile(r'^[A-Za-z0-9_.=/@:-]+$')

# errno values that a Lustre client returns for a mount that lost its
# servers (eviction): the mount point must be unmounted and mounted again.
STALE_MOUNT_ERRNOS = frozenset(
    (errno.ESHUTDOWN, errno.ENOTCONN, errno.EIO, errno.ESTALE))

# Linux's ENOTSUPP (524), which Lustre clients before 2.14 return for
# fallocate(); it has no name in the errno module.
ENOTSUPP = 524


class LustreException(exception.RemoteFSException):
    message = _("Lustre error: %(msg)s")


class LustreNoSharesMounted(exception.RemoteFSNoSharesMounted):
    message = _("No mounted Lustre shares found.")


class LustreNoSuitableShareFound(exception.RemoteFSNoSuitableShareFound):
    message = _("There is no Lustre share that can host %(volume_size)sG.")


@dataclasses.dataclass(frozen=True)
class LustreShare:
    """A Lustre share: ``MGSNODE[:MGSNODE...]:/fsname[/subdir]``.

    ``address`` is the share as the operator wrote it; Cinder stores it as
    the volumes' ``provider_location``, so it must never change meaning.
    """

    address: str
    mgs_nodes: tuple[tuple[str, ...], ...]
    fsname: str
    subdir: str

    @classmethod
    def parse(cls, address: str) -> 'LustreShare':
        """Parse and validate a share; raise ValueError saying why not."""
        match = SHARE_RE.match(address)
        if not match:
            raise ValueError(_(
                "'%s' is not a Lustre share of the form "
                "NID[,NID][:NID...]:/fsname[/subdir] (a NID is HOST@NET, "
                "the fsname at most 8 characters of letters, digits, '_' "
                "and '-')") % address)
        # Path components cannot start with '.', so '..' cannot escape.
        subdir = match.group('subdir').rstrip('/')
        nodes = tuple(tuple(node.split(','))
                      for node in match.group('mgs').split(':'))
        return cls(address=address, mgs_nodes=nodes,
                   fsname=match.group('fsname'), subdir=subdir)

    @property
    def name(self) -> str:
        """The share's file system path inside Lustre, e.g. testfs/cinder."""
        return self.fsname + self.subdir


def parse_mount_options(text: Optional[str]) -> list[str]:
    """Validate a comma separated mount option string; return its options.

    The options are handed to mount(8) as a single ``-o`` argument, never
    through a shell, but anything other than plain options (a second
    ``-o``, ``--bind``, white space) is refused all the same.
    """
    if not text:
        return []
    options = text.split(',')
    for option in options:
        if not _MOUNT_OPTION_RE.match(option):
            raise ValueError(_("'%s' is not a valid mount option") % option)
    return options


def parse_share_line(line: str) -> tuple[LustreShare, Optional[str]]:
    """Parse one line of the shares file: ``SHARE [-o OPTIONS]``."""
    fields = line.split()
    share = LustreShare.parse(fields[0])
    if len(fields) == 1:
        return share, None
    if len(fields) == 3 and fields[1] == '-o':
        parse_mount_options(fields[2])
        return share, fields[2]
    raise ValueError(_("'%s': only '-o OPTIONS' may follow the share")
                     % line.strip())


def parse_shares(lines: list[str],
                 source: str) -> dict[str, tuple[LustreShare,
                                                 Optional[str]]]:
    """Parse the lines of a shares file.

    Blank lines and lines starting with '#' are skipped. Any other line
    that is not a valid share, or repeats a share, is an error that names
    the file and line: a share that silently disappears from the list
    would strand its volumes.

    :returns: {share address: (LustreShare, per-share mount options)}
    """
    shares: dict[str, tuple[LustreShare, Optional[str]]] = {}
    names: dict[str, str] = {}
    for number, line in enumerate(lines, start=1):
        text = line.strip()
        if not text or text.startswith('#'):
            continue
        try:
            share, options = parse_share_line(text)
            if share.address in shares:
                raise ValueError(_("'%s' is listed twice") % share.address)
            if share.name in names:
                raise ValueError(_("'%(new)s' and '%(old)s' are the same "
                                   "file system path '%(name)s'") % {
                    'new': share.address, 'old': names[share.name],
                    'name': share.name})
        except ValueError as exc:
            raise exception.InvalidConfigurationValue(
                _('%(source)s line %(line)d: %(error)s') % {
                    'source': source, 'line': number, 'error': exc})
        shares[share.address] = (share, options)
        names[share.name] = share.address
    return shares


class _LustreRemoteFsClient(remotefs_brick.RemoteFsClient):
    """os-brick's RemoteFsClient for mount type ``lustre``.

    os-brick up to 7.1.1 refuses mount types it does not list, although
    mounting ``-t lustre`` needs nothing but the generic mount path. This
    adapter sets the three attributes the generic path reads instead of
    calling the refusing constructor. With an os-brick that knows Lustre,
    ``make_remotefs_client`` uses os-brick's own client instead.
    """

    def __init__(self, root_helper: str, execute: Callable,
                 mount_point_base: str,
                 mount_options: Optional[str]) -> None:
        brick_executor.Executor.__init__(self, root_helper,
                                         execute=execute)
        self._mount_type = 'lustre'
        self._mount_base = mount_point_base
        self._mount_options = mount_options


def make_remotefs_client(root_helper: str, execute: Callable,
                         mount_point_base: str,
                         mount_options: Optional[str]
                         ) -> remotefs_brick.RemoteFsClient:
    """Return an os-brick RemoteFsClient that mounts Lustre shares."""
    try:
        return remotefs_brick.RemoteFsClient(
            'lustre', root_helper, execute=execute,
            lustre_mount_point_base=mount_point_base,
            lustre_mount_options=mount_options)
    except brick_exception.ProtocolNotSupported:
        return _LustreRemoteFsClient(root_helper, execute,
                                     mount_point_base, mount_options)


def read_mount_points(mounts_file: str = '/proc/mounts') -> dict[str, str]:
    """Return {mount point: file system type} of the host's mounts."""
    mounts = {}
    with open(mounts_file) as f:
        for line in f:
            fields = line.split()
            if len(fields) >= 3:
                # /proc/mounts escapes blanks in paths as octal (\040).
                path = fields[1].encode().decode('unicode_escape')
                mounts[path] = fields[2]
    return mounts


class LustreMounter:
    """Mounts Lustre shares below one base directory, safely.

    ``ensure_mounted`` is what every driver operation calls first: it
    repairs a stale mount, mounts (with retries) under a lock per mount
    point, and refuses to go on unless the mount point really is a mount,
    so that nothing is ever written into the bare local directory.
    """

    def __init__(self, root_helper: str, execute: Callable,
                 mount_point_base: str, mount_options: Optional[str],
                 mount_attempts: int) -> None:
        self._execute = execute
        self._root_helper = root_helper
        self.mount_point_base = os.path.realpath(mount_point_base)
        self.mount_options = mount_options
        self.mount_attempts = max(1, mount_attempts)
        self.client = make_remotefs_client(root_helper, execute,
                                           self.mount_point_base,
                                           mount_options)

    def get_mount_point(self, share: str) -> str:
        """Return the share's mount point: a hash of it under the base."""
        return self.client.get_mount_point(share)

    @staticmethod
    def is_mounted(mount_point: str) -> bool:
        return mount_point in read_mount_points()

    @staticmethod
    def is_stale(mount_point: str) -> bool:
        """Whether the client lost its servers for this mount point."""
        try:
            os.stat(mount_point)
        except OSError as exc:
            if exc.errno in STALE_MOUNT_ERRNOS:
                return True
            raise
        return False

    def ensure_mounted(self, share: str,
                       options: Optional[str] = None) -> str:
        """Mount the share unless it is mounted; return its mount point.

        :param share: the share address, as in the shares file
        :param options: per-share mount options, added to the default ones
        """
        mount_point = self.get_mount_point(share)
        # Every driver operation comes here: a healthy mount takes no lock.
        if not self.is_mounted(mount_point) or self.is_stale(mount_point):
            self._mount_locked(share, mount_point, options)
        return mount_point

    @coordination.synchronized('lustre-mount-{mount_point}')
    def _mount_locked(self, share: str, mount_point: str,
                      options: Optional[str]) -> None:
        if self.is_mounted(mount_point):
            if not self.is_stale(mount_point):
                return
            LOG.warning('Lustre share %(share)s is stale at %(mp)s (the '
                        'client was evicted or lost its servers); '
                        'mounting it again.',
                        {'share': share, 'mp': mount_point})
            self.umount(mount_point)

        flags = ['-o', options] if options else None
        for attempt in range(1, self.mount_attempts + 1):
            try:
                self.client.mount(share, flags)
                break
            except (brick_exception.BrickException,
                    putils.ProcessExecutionError) as exc:
                if attempt == self.mount_attempts:
                    LOG.error('Mounting Lustre share %(share)s failed '
                              '%(count)d times.',
                              {'share': share, 'count': attempt})
                    raise LustreException(msg=_(
                        'mounting %(share)s failed: %(error)s') % {
                        'share': share,
                        'error': getattr(exc, 'stderr', None) or exc})
                LOG.warning('Mount attempt %(attempt)d of %(share)s '
                            'failed, retrying: %(error)s',
                            {'attempt': attempt, 'share': share,
                             'error': exc})
                time.sleep(attempt)

        if not self.is_mounted(mount_point):
            raise LustreException(msg=_(
                '%(share)s is not mounted at %(mp)s after a successful '
                'mount; refusing to use the local directory') % {
                'share': share, 'mp': mount_point})
        LOG.info('Mounted Lustre share %(share)s at %(mp)s.',
                 {'share': share, 'mp': mount_point})

    def umount(self, mount_point: str) -> None:
        """Unmount, forcing and detaching so an evicted client can't hang.

        A stale Lustre mount can block a plain umount in the kernel; -f
        aborts its pending RPCs and -l detaches it from the tree at once.
        """
        self._execute('umount', '-f', '-l', mount_point,
                      root_helper=self._root_helper, run_as_root=True)


@dataclasses.dataclass(frozen=True)
class LfsDf:
    """Capacity of a Lustre file system (or OST pool), in bytes."""

    total: int
    used: int
    available: int
    osts: tuple[str, ...]

    @property
    def missing_osts(self) -> list[str]:
        """OSTs below the highest index that the report leaves out.

        ``lfs df`` silently omits an OST it cannot reach, so the capacity
        it sums is short by that OST. Meaningful for a whole file system
        only: an OST pool's members need not be contiguous.
        """
        indexes = {int(ost.rsplit('-OST', 1)[1], 16) for ost in self.osts}
        if not indexes:
            return []
        fsname = self.osts[0].rsplit('-OST', 1)[0]
        return ['%s-OST%04x' % (fsname, index)
                for index in range(max(indexes)) if index not in indexes]


_DF_ROW_RE = re.compile(
    r'^(?P<uuid>\S+)\s+(?P<total>\d+)\s+(?P<used>\d+)\s+(?P<avail>\d+)'
    r'\s+\d+%\s+\S+')


def parse_lfs_df(output: str) -> LfsDf:
    """Parse ``lfs df`` (1K blocks) into capacity figures in bytes.

    The summary line counts OSTs only, which is the space volumes use; MDT
    rows are ignored. Rows are split on white space, never by columns,
    because the spacing differs between Lustre versions.
    """
    osts = []
    summary = None
    for line in output.splitlines():
        match = _DF_ROW_RE.match(line.strip())
        if not match:
            continue
        uuid = match.group('uuid')
        if uuid == 'filesystem_summary:':
            summary = match
        elif '-OST' in uuid:
            osts.append(uuid[:-len('_UUID')]
                        if uuid.endswith('_UUID') else uuid)
    if summary is None:
        raise LustreException(msg=_('lfs df printed no filesystem_summary '
                                    'line: %r') % output[:200])
    kib = 1024
    return LfsDf(total=int(summary.group('total')) * kib,
                 used=int(summary.group('used')) * kib,
                 available=int(summary.group('avail')) * kib,
                 osts=tuple(osts))


@dataclasses.dataclass(frozen=True)
class ProjectQuota:
    """Usage and limits of one project id: blocks in KiB, then inodes."""

    project_id: int
    kbytes: int
    block_soft: int
    block_hard: int
    files: int
    inode_soft: int
    inode_hard: int
    exceeded: bool

    @property
    def in_use(self) -> bool:
        """Whether anything has this project id: files, usage or limits."""
        return any((self.kbytes, self.block_soft, self.block_hard,
                    self.files, self.inode_soft, self.inode_hard))


_QUOTA_TITLE_RE = re.compile(r'^Disk quotas for prj (?P<id>\d+)\b')


def _quota_number(token: str) -> tuple[int, bool]:
    """A value of the quota table: '1024', '1024*' (exceeded) or '[0]'."""
    exceeded = token.endswith('*')
    return int(token.rstrip('*').strip('[]')), exceeded


def parse_lfs_quota(output: str, project_id: int) -> ProjectQuota:
    """Parse ``lfs quota -p ID MNT``: the ``Disk quotas for prj ID`` table.

    The row is read as white space separated tokens after the
    ``Filesystem`` heading, so a long mount point printed on its own line
    (and the spacing, which differs between versions) does not matter:
    mount point, kbytes, quota, limit, grace, files, quota, limit, grace.
    """
    tokens: list[str] = []
    lines = output.splitlines()
    for index, line in enumerate(lines):
        match = _QUOTA_TITLE_RE.match(line.strip())
        if match and int(match.group('id')) == project_id:
            # The heading has nine words; the mount point and the values
            # follow it, wherever the lines break.
            body = ' '.join(lines[index + 1:]).split()
            if body[:1] == ['Filesystem']:
                tokens = body[9:18]
            break
    try:
        values = [_quota_number(tokens[index])
                  for index in (1, 2, 3, 5, 6, 7)]
    except (IndexError, ValueError):
        raise LustreException(msg=_('lfs quota printed no quota table of '
                                    'project %(id)d: %(out)r') % {
            'id': project_id, 'out': output[:300]})
    numbers = [value for value, _over in values]
    return ProjectQuota(project_id, kbytes=numbers[0],
                        block_soft=numbers[1], block_hard=numbers[2],
                        files=numbers[3], inode_soft=numbers[4],
                        inode_hard=numbers[5],
                        exceeded=any(over for _value, over in values))


@dataclasses.dataclass(frozen=True)
class StripeDefaults:
    """The default layout of a directory (``lfs getstripe -d``)."""

    stripe_count: int
    stripe_size: int
    pool: Optional[str] = None


_STRIPE_DEFAULTS_RE = re.compile(
    r'stripe_count:\s*(?P<count>-?\d+)\s+stripe_size:\s*(?P<size>\d+)'
    r'(?:\s+pattern:\s*\S+)?(?:\s+stripe_offset:\s*-?\d+)?'
    r'(?:\s+pool:\s*(?P<pool>\S+))?')


def parse_stripe_defaults(output: str) -> Optional[StripeDefaults]:
    """Parse ``lfs getstripe -d DIR``; None for a composite (PFL) default.

    The one-line format is split on white space, not on columns: 2.15
    pads the values (``stripe_count:  1 stripe_size:   1048576``), newer
    clients may not.
    """
    match = _STRIPE_DEFAULTS_RE.search(output)
    if not match:
        return None
    return StripeDefaults(int(match.group('count')), int(match.group('size')),
                          match.group('pool'))


class Lfs:
    """The ``lfs`` command: what the drivers run and how they read it."""

    def __init__(self, execute: Callable) -> None:
        self._execute = execute

    def df(self, path: str, fsname: Optional[str] = None,
           pool: Optional[str] = None) -> LfsDf:
        """Capacity of the file system holding path (its OSTs only).

        With a pool, the capacity of that OST pool of file system fsname.
        """
        args = ['lfs', 'df']
        if pool:
            args += ['--pool', '%s.%s' % (fsname, pool)]
        out, _err = self._execute(*args, path)
        return parse_lfs_df(out)

    def setstripe(self, path: str, stripe_count: Optional[int] = None,
                  stripe_size: Optional[str] = None,
                  pool: Optional[str] = None,
                  run_as_root: bool = False) -> None:
        """Set the layout of a new file, or the default of a directory.

        On a path that does not exist lfs creates an empty file with the
        layout; files later created in a directory inherit its default.
        """
        args = ['lfs', 'setstripe']
        if stripe_count is not None:
            args += ['-c', str(stripe_count)]
        if stripe_size:
            args += ['-S', stripe_size]
        if pool:
            args += ['-p', pool]
        self._execute(*args, '--', path, run_as_root=run_as_root)

    def create_file(self, path: str, layout: 'Layout',
                    run_as_root: bool = False) -> None:
        """Create an empty file with a layout, for a volume to fill.

        A file's layout is fixed once it has data, so it is set on the
        empty file; qemu-img, truncate and fallocate keep it.
        """
        self._execute('lfs', 'setstripe', *layout.setstripe_args(), '--',
                      path, run_as_root=run_as_root)

    def stripe_defaults(self, path: str) -> Optional[StripeDefaults]:
        """The default layout of a directory: what new files inherit."""
        out, _err = self._execute('lfs', 'getstripe', '-d', path)
        return parse_stripe_defaults(out)

    def migrate(self, path: str, layout: 'Layout',
                run_as_root: bool = False) -> None:
        """Rewrite a file's data with a new layout.

        lfs migrate blocks other access to the file while it copies: only
        files nobody has open may be migrated.
        """
        self._execute('lfs', 'migrate', *layout.setstripe_args(), '--',
                      path, run_as_root=run_as_root)

    def set_project(self, paths: list[str], project_id: int) -> None:
        """Give files a project id; changing one takes root."""
        self._execute('lfs', 'project', '-p', str(project_id), '--', *paths,
                      run_as_root=True)

    def setquota(self, mount_point: str, project_id: int,
                 block_hard_kib: int) -> None:
        """Set the block hard limit of a project; 0 removes the limit."""
        self._execute('lfs', 'setquota', '-p', str(project_id), '-B',
                      '%dK' % block_hard_kib, mount_point, run_as_root=True)

    def quota(self, mount_point: str, project_id: int) -> ProjectQuota:
        """Usage and limits of a project on the file system."""
        out, _err = self._execute('lfs', 'quota', '-p', str(project_id),
                                  mount_point, run_as_root=True)
        return parse_lfs_quota(out, project_id)


# Extra specs of volume types that set the Lustre layout of volume files.
SPEC_PREFIX = 'lustre:'
SPEC_STRIPE_COUNT = 'lustre:stripe_count'
SPEC_STRIPE_SIZE = 'lustre:stripe_size'
SPEC_OST_POOL = 'lustre:ost_pool'
SPEC_LAYOUT = 'lustre:layout'
_LAYOUT_SPECS = (SPEC_STRIPE_COUNT, SPEC_STRIPE_SIZE, SPEC_OST_POOL,
                 SPEC_LAYOUT)

STRIPE_SIZE_UNIT = 64 * 1024
_SIZE_RE = re.compile(r'^(?P<num>[0-9]+)(?P<unit>[KMGT]?)$', re.IGNORECASE)
_SIZE_UNITS = {'': 1, 'K': 1024, 'M': 1024 ** 2, 'G': 1024 ** 3,
               'T': 1024 ** 4}
# OST pool names: at most 15 characters (LOV_MAXPOOLNAME).
_POOL_RE = re.compile(r'^[A-Za-z0-9_-]{1,15}$')


def parse_size(text: str) -> int:
    """Parse a size with an optional K, M, G or T suffix (base 1024)."""
    match = _SIZE_RE.match(text.strip())
    if not match:
        raise ValueError(_("'%s' is not a size such as 1048576, 64K, "
                           "4M or 1G") % text)
    return int(match.group('num')) * _SIZE_UNITS[match.group('unit').upper()]


def parse_stripe_count(text: str) -> int:
    """A stripe count: a positive number of OSTs, or -1 for all of them."""
    try:
        count = int(text)
    except ValueError:
        count = 0
    if count < 1 and count != -1:
        raise ValueError(_("'%s' is not a stripe count (a positive number "
                           "of OSTs, or -1 for all)") % text)
    return count


def parse_stripe_size(text: str) -> int:
    """A stripe size in bytes: a non-zero multiple of 64 KiB."""
    size = parse_size(text)
    if not size or size % STRIPE_SIZE_UNIT:
        raise ValueError(_("stripe size '%s' is not a non-zero multiple of "
                           "64K") % text)
    if size >= 4 * 1024 ** 3:
        raise ValueError(_("stripe size '%s' is not below 4G") % text)
    return size


def parse_pool_name(text: str) -> str:
    if not _POOL_RE.match(text):
        raise ValueError(_("'%s' is not an OST pool name (1 to 15 letters, "
                           "digits, '_' or '-')") % text)
    return text


@dataclasses.dataclass(frozen=True)
class LayoutComponent:
    """One component of a progressive file layout (PFL).

    ``end`` is where the component ends, in bytes; None is end of file.
    """

    end: Optional[int]
    stripe_count: int
    stripe_size: Optional[int] = None


def parse_pfl(text: str) -> tuple[LayoutComponent, ...]:
    """Parse the compact PFL syntax ``END:COUNT[:SIZE],...``.

    For example ``64M:1,1G:4,-1:-1``: the first 64 MiB on one OST, up to
    1 GiB on four, the rest on all OSTs. Ends grow strictly and the last
    component ends at -1 (end of file), as ``lfs setstripe -E`` demands.
    """
    components: list[LayoutComponent] = []
    previous_end = 0
    for item in text.split(','):
        fields = item.strip().split(':')
        if len(fields) not in (2, 3):
            raise ValueError(_("layout component '%s' is not END:COUNT or "
                               "END:COUNT:SIZE") % item)
        if components and components[-1].end is None:
            raise ValueError(_('only the last layout component may end at '
                               '-1'))
        end = None if fields[0] == '-1' else parse_size(fields[0])
        if end is not None and (end <= previous_end or end % STRIPE_SIZE_UNIT):
            raise ValueError(_("layout component end '%s' must grow and be "
                               "a multiple of 64K") % fields[0])
        size = parse_stripe_size(fields[2]) if len(fields) == 3 else None
        components.append(LayoutComponent(end, parse_stripe_count(fields[1]),
                                          size))
        previous_end = end or previous_end
    if components[-1].end is not None:
        raise ValueError(_('the last layout component must end at -1 (end '
                           'of file)'))
    return tuple(components)


@dataclasses.dataclass(frozen=True)
class Layout:
    """The Lustre layout of a volume file, from its volume type."""

    stripe_count: Optional[int] = None
    stripe_size: Optional[int] = None
    pool: Optional[str] = None
    components: tuple[LayoutComponent, ...] = ()

    def __bool__(self) -> bool:
        return any((self.stripe_count, self.stripe_size, self.pool,
                    self.components))

    @classmethod
    def from_extra_specs(cls, specs: dict[str, str]) -> 'Layout':
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
        return cls(stripe_count=values.get(SPEC_STRIPE_COUNT),
                   stripe_size=values.get(SPEC_STRIPE_SIZE),
                   pool=values.get(SPEC_OST_POOL),
                   components=values.get(SPEC_LAYOUT, ()))

    def setstripe_args(self) -> list[str]:
        """The ``lfs setstripe``/``lfs migrate`` options of this layout."""
        args: list[str] = []
        if self.components:
            for component in self.components:
                end = ('-1' if component.end is None
                       else '%dK' % (component.end // 1024))
                args += ['-E', end, '-c', str(component.stripe_count)]
                if component.stripe_size:
                    args += ['-S', '%dK' % (component.stripe_size // 1024)]
                if self.pool:
                    args += ['-p', self.pool]
            return args
        if self.stripe_count is not None:
            args += ['-c', str(self.stripe_count)]
        if self.stripe_size is not None:
            args += ['-S', '%dK' % (self.stripe_size // 1024)]
        if self.pool:
            args += ['-p', self.pool]
        return args


_SPEC_PARSERS: dict[str, Callable[[str], Any]] = {
    SPEC_STRIPE_COUNT: parse_stripe_count,
    SPEC_STRIPE_SIZE: parse_stripe_size,
    SPEC_OST_POOL: parse_pool_name,
    SPEC_LAYOUT: parse_pfl,
}


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


def make_pools(shares: typing.Iterable[LustreShare],
               ost_pools: list[str]) -> dict[str, LustrePool]:
    """The Cinder pools of the shares, given ``lustre_ost_pools``.

    :param ost_pools: OST pools to offer, as FSNAME.POOL
    :raises: exception.InvalidConfigurationValue for a malformed entry
    """
    by_fs: dict[str, list[str]] = {}
    for entry in ost_pools:
        fsname, _dot, pool = entry.partition('.')
        try:
            if not re.match('^%s$' % _FSNAME, fsname):
                raise ValueError(_("'%s' is not FSNAME.POOL") % entry)
            parse_pool_name(pool)
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


def unused_ost_pools(shares: typing.Iterable[LustreShare],
                     ost_pools: list[str]) -> list[str]:
    """The ``lustre_ost_pools`` entries on file systems no share is on."""
    fsnames = {share.fsname for share in shares}
    return sorted(entry for entry in ost_pools
                  if entry.partition('.')[0] not in fsnames)
