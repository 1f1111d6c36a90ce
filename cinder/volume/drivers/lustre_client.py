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

This is the only module that knows the Lustre tools: the names, flags,
output and errors of ``mount.lustre`` and ``lfs`` (and of ``fallocate`` on
Lustre), the share syntax, and mounting (with retries, a lock of this host
per mount point, a time limit on every mount and unmount, a real check
that the mount point is a Lustre mount, and the repair of a mount that
stays stale). Both drivers call it; neither runs ``mount`` or ``lfs``
itself, nor reads their output or exit statuses.
"""

from __future__ import annotations

import dataclasses
import errno
import ipaddress
import os
import re
import string
import subprocess
import threading
import time
import typing
from typing import Any, Callable, Optional  # noqa: H301

import eventlet
from eventlet import tpool
from os_brick import exception as brick_exception
from os_brick import executor as brick_executor
from os_brick.remotefs import remotefs as remotefs_brick
from oslo_concurrency import lockutils
from oslo_concurrency import processutils as putils
from oslo_log import log as logging

from cinder import exception
from cinder.i18n import _
from cinder import utils

LOG = logging.getLogger(__name__)

# A share is MGSNODE[:MGSNODE...]:/FSNAME[/SUBDIR]: colons join failover
# MGS nodes, commas join the NIDs of one node. A NID is ADDRESS[@NET]
# ("10.0.0.1@tcp", "mgs1", "192.168.1.5@o2ib1", "2001:db8::5@tcp", "0@lo");
# without @NET it is on tcp0. The rules are mount.lustre's (lustre-release
# libcfs/libcfs/util/nidstrings.c: libcfs_strnid(), libcfs_netstrfns[] and,
# from 2.17, cfs_nidstr_find_delimiter(); v2_12_9 to v2_17_0).
_DEFAULT_NET = 'tcp'
# The LNet networks and how each writes an address. "lo" takes no network
# number; IPv6 addresses are accepted on tcp and efa (Lustre 2.17).
_IP_NETS = ('tcp', 'o2ib', 'gip', 'efa')
_IPV6_NETS = ('tcp', 'efa')
_NUMBER_NETS = ('gni', 'ptlf', 'kfi', 'bxi3f')
_NET_RE = re.compile(r'^(?:lo|(?P<lnd>%s)[0-9]*)$'
                     % '|'.join(_IP_NETS + _NUMBER_NETS))
_IPV4_RE = re.compile(r'^[0-9]{1,3}(?:\.[0-9]{1,3}){3}$')
# mount.lustre resolves a name only if it starts with a letter.
_HOSTNAME_RE = re.compile(
    r'^(?=.{1,253}$)[A-Za-z](?:[A-Za-z0-9-]*[A-Za-z0-9])?'
    r'(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*$')
_NUMBER_RE = re.compile(r'^(?:[0-9]+|0[xX][0-9A-Fa-f]+)$')
# Lustre file system names are at most eight characters.
_FSNAME = r'[A-Za-z0-9_-]{1,8}'
_PATH_COMPONENT = r'[A-Za-z0-9_+-][A-Za-z0-9._+-]*'
_PATH_RE = re.compile(r'^(?P<fsname>%(fs)s)(?P<subdir>(?:/%(comp)s)*)/?$' % {
    'fs': _FSNAME, 'comp': _PATH_COMPONENT})
# Mount options reach mount(8) as one argument; keep them to the
# characters Lustre and VFS options are made of.
_MOUNT_OPTION_RE = re.compile(r'^[A-Za-z0-9_.=/@:-]+$')

# errno values that a Lustre client returns for a mount that lost its
# servers (eviction): the mount point must be unmounted and mounted again.
STALE_MOUNT_ERRNOS = frozenset(
    (errno.ESHUTDOWN, errno.ENOTCONN, errno.EIO, errno.ESTALE))


def can_fallocate(execute: Callable, path: str, run_as_root: bool) -> bool:
    """Whether the file system of a new, empty file can preallocate it.

    ZFS OSTs (EOPNOTSUPP) and Lustre clients before 2.14 (ENOTSUPP, 524)
    cannot. fallocate(1) says why it failed only in its message, which is
    translated, so the answer is not read from it: the file's first MiB
    is preallocated. False means that failed: the file system cannot
    preallocate, or cannot store the file at all, which writing the file
    shows next.
    """
    try:
        execute('fallocate', '-l', '1M', path, run_as_root=run_as_root)
    except putils.ProcessExecutionError as exc:
        LOG.debug('fallocate failed on %(path)s: %(err)s',
                  {'path': path, 'err': exc.stderr})
        return False
    return True


# What a Lustre client mount shows as its type in /proc/mounts.
LUSTRE_FS_TYPE = 'lustre'
# Time limits, in seconds, unless the configuration sets them: one mount
# attempt, the whole escalation of an unmount, one lfs command.
DEFAULT_MOUNT_TIMEOUT = 120
DEFAULT_UMOUNT_TIMEOUT = 30
DEFAULT_LFS_TIMEOUT = 60
# A mount that fails a stat is asked this many times, this far apart, to
# answer a statfs within STALE_PROBE_TIMEOUT before it counts as stale.
STALE_PROBES = 3
STALE_PROBE_INTERVAL = 2
STALE_PROBE_TIMEOUT = 10
# timeout(1): the exit status of a command it stopped, with TERM or, after
# _KILL_AFTER more seconds, KILL (128 + 9). The service waits _WAIT_MARGIN
# seconds more before it stops waiting for timeout(1) itself.
TIMEOUT_EXIT_CODE = 124
_KILLED_EXIT_CODE = 137
_KILL_AFTER = 2
_WAIT_MARGIN = 1
# How often a busy mount is asked again to unmount, and what came of it.
_DRAIN_INTERVAL = 1
_DONE, _REFUSED, _HUNG = 'done', 'refused', 'hung'
# oslo.rootwrap's exit status for a command whose executable is missing.
_ROOTWRAP_NO_EXECUTABLE = 96
# What the rootwrap filters allow of lfs as root: files a project id is
# given at once.
PROJECT_PATHS_PER_CALL = 8


class LustreException(exception.RemoteFSException):
    message = _("Lustre error: %(msg)s")


class LustreNoSharesMounted(exception.RemoteFSNoSharesMounted):
    message = _("No mounted Lustre shares found.")


class LustreNoSuitableShareFound(exception.RemoteFSNoSuitableShareFound):
    message = _("There is no Lustre share that can host %(volume_size)sG.")


class LustreNotLustreMount(LustreException):
    message = _("%(mount_point)s is a mount of a %(fs_type)s file system, "
                "not of a Lustre one: unmount it, or choose another "
                "mount point base.")


class LfsNotInstalled(LustreException):
    message = _("The lfs command of the Lustre client cannot be run: "
                "%(reason)s")


def _nid_end(text: str, start: int) -> int:
    """Where the NID that starts at ``start`` ends (2.16+ mount.lustre).

    After '@' the NID ends at the next delimiter; before it, a colon ends
    the NID unless the text so far can be an IPv6 address (hexadecimal
    groups of at most four digits), whose colons belong to it.
    """
    pos = start
    hex_digits = 0
    ipv6 = True
    while pos < len(text) and text[pos] != ',':
        char = text[pos]
        if char == '@':
            while pos < len(text) and text[pos] not in ',:':
                pos += 1
            break
        if ipv6 and hex_digits <= 4 and (char == ':' or
                                         char in string.hexdigits):
            hex_digits = 0 if char == ':' else hex_digits + 1
        else:
            ipv6 = False
            if char == ':':
                break
        pos += 1
    return pos


def _split_nids(source: str, end: int) -> list[tuple[str, str]]:
    """The NIDs of a share as 2.16+ mount.lustre splits them.

    ``end`` is the ':' of the ':/' that ends the NIDs. Each NID comes with
    the delimiter after it (',' within a node, ':' between nodes). A NID
    that does not end before ``end`` (mount.lustre cannot parse it) runs
    into the path.
    """
    nids = []
    start = stop = 0
    while stop < end:
        stop = _nid_end(source, start)
        nids.append((source[start:stop], source[stop:stop + 1]))
        start = stop + 1
    return nids


def _valid_address(address: str, lnd: Optional[str]) -> bool:
    """Whether mount.lustre takes the address on a network of this LND.

    ``lnd`` is None for "lo", which takes any address.
    """
    if lnd is None or lnd in _NUMBER_NETS:
        if _NUMBER_RE.match(address):
            return True
        if lnd is not None:
            return False
    if _IPV4_RE.match(address):
        return all(int(octet) < 256 for octet in address.split('.'))
    if ':' in address:
        try:
            ip = ipaddress.IPv6Address(address)
        except ValueError:
            return False
        # Lustre refuses loopback and link-local IPv6 addresses.
        return lnd in _IPV6_NETS and not (ip.is_loopback or
                                          ip.is_link_local)
    return bool(_HOSTNAME_RE.match(address))


def _check_nid(nid: str) -> None:
    address, at, net = nid.partition('@')
    match = _NET_RE.match(net if at else _DEFAULT_NET)
    if not match or not _valid_address(address, match.group('lnd')):
        raise ValueError(_("'%s' is not a Lustre NID (ADDRESS[@NET], for "
                           "example 10.0.0.1@tcp, mgs1@o2ib1 or "
                           "2001:db8::1@tcp)") % nid)


def _mgs_nodes(address: str, end: int) -> tuple[tuple[str, ...], ...]:
    """The MGS nodes of a share, checked as some mount.lustre splits them.

    Up to 2.15 mount.lustre splits the NIDs at every ',' and ':'; from
    2.16 the colons of an IPv6 address belong to it (2.17 takes IPv6 NIDs),
    and a host name of hexadecimal digits without @NET is one it cannot
    parse.
    """
    try:
        nodes: list[list[str]] = [[]]
        for nid, delimiter in _split_nids(address, end):
            _check_nid(nid)
            nodes[-1].append(nid)
            if delimiter == ':':
                nodes.append([])
        return tuple(tuple(node) for node in nodes[:-1])
    except ValueError:
        for nid in re.split('[,:]', address[:end]):
            _check_nid(nid)
        return tuple(tuple(node.split(','))
                     for node in address[:end].split(':'))


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
        # mount.lustre takes the NIDs up to the first '/', less its ':'.
        slash = address.find('/')
        match = _PATH_RE.match(address[slash + 1:])
        if slash < 2 or address[slash - 1] != ':' or not match:
            raise ValueError(_(
                "'%s' is not a Lustre share of the form "
                "NID[,NID][:NID...]:/fsname[/subdir] (a NID is "
                "ADDRESS[@NET], the fsname at most 8 characters of "
                "letters, digits, '_' and '-')") % address)
        nodes = _mgs_nodes(address, slash - 1)
        # Path components cannot start with '.', so '..' cannot escape.
        return cls(address=address, mgs_nodes=nodes,
                   fsname=match.group('fsname'),
                   subdir=match.group('subdir').rstrip('/'))

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


# The kernel escapes blanks and backslashes in /proc/mounts as octal
# (\040 for a space); every other byte of a path is written as it is.
_MOUNTS_ESCAPE_RE = re.compile(rb'\\([0-3][0-7]{2})')


def _unescape_mounts_field(field: bytes) -> str:
    return os.fsdecode(_MOUNTS_ESCAPE_RE.sub(
        lambda match: bytes((int(match.group(1), 8),)), field))


def read_mount_points(mounts_file: str = '/proc/mounts') -> dict[str, str]:
    """Return {mount point: file system type} of the host's mounts.

    Of mounts stacked on one mount point, the last (the visible one) wins.
    """
    mounts = {}
    with open(mounts_file, 'rb') as f:
        for line in f:
            fields = line.split()
            if len(fields) >= 3:
                mounts[_unescape_mounts_field(fields[1])] = os.fsdecode(
                    fields[2])
    return mounts


class CommandTimedOut(putils.ProcessExecutionError):
    """A command that did not finish within its time limit."""

    def __init__(self, cmd: typing.Sequence[str], seconds: float) -> None:
        super().__init__(
            exit_code=TIMEOUT_EXIT_CODE, cmd=' '.join(cmd),
            description=_('did not finish within %d seconds') % seconds)


def bounded(execute: Callable, seconds: Optional[float]) -> Callable:
    """Wrap execute so that each command runs for at most ``seconds``.

    A call may give its own ``timeout``; None waits as long as it takes.
    When the time is up the caller gets CommandTimedOut at once and the
    command is killed if it is ours to kill (a command run as root through
    the root helper is not; see LustreMounter.run_as_root for those).
    """
    def run(*cmd: str, **kwargs: Any) -> tuple[str, str]:
        limit = kwargs.pop('timeout', seconds)
        if limit is None:
            return execute(*cmd, **kwargs)
        started: list = []
        try:
            return execute(*cmd, timeout=limit, on_execute=started.append,
                           **kwargs)
        except Exception as exc:
            if not _timed_out(exc):
                raise
            for process in started:
                _kill(process)
            raise CommandTimedOut(cmd, limit)
    return run


def _timed_out(exc: Exception) -> bool:
    """Whether execute gave up waiting for its command (timeout=...).

    With eventlet, the green Popen raises the TimeoutExpired of its own
    copy of the subprocess module, another class than this module sees.
    """
    return (isinstance(exc, subprocess.TimeoutExpired) or
            type(exc).__name__ == 'TimeoutExpired')


def _kill(process: subprocess.Popen) -> None:
    try:
        process.kill()
    except OSError:
        # Gone already, or a root helper's process we may not signal.
        pass


def stat_within(path: str, seconds: float) -> os.stat_result:
    """os.stat in a native thread; TimeoutError if it takes longer.

    A stat on a Lustre mount whose servers are gone waits for them in the
    kernel, where no signal reaches it (and, under eventlet, it would stop
    every green thread of the service). The caller stops waiting; the
    thread is left to the kernel, which an unmount -f releases.
    """
    if not utils.concurrency_mode_threading():
        with eventlet.Timeout(seconds, TimeoutError()):
            return tpool.execute(os.stat, path)
    outcome: list = []
    done = threading.Event()

    def run() -> None:
        try:
            outcome.append(os.stat(path))
        except OSError as exc:
            outcome.append(exc)
        finally:
            done.set()
    threading.Thread(target=run, daemon=True).start()
    if not done.wait(seconds):
        raise TimeoutError(path)
    if isinstance(outcome[0], OSError):
        raise outcome[0]
    return outcome[0]


class LustreMounter:
    """Mounts Lustre shares below one base directory, safely.

    ``ensure_mounted`` is what every driver operation calls first. A
    healthy mount costs a read of /proc/mounts and a stat; otherwise, under
    a lock of this host (the mount is this host's), it mounts the share, or
    repairs a mount that stays stale, and refuses to go on unless the mount
    point really is a Lustre mount, so that nothing is ever written into
    the bare local directory. Every mount and unmount has a time limit, so
    no lock is held past it.
    """

    def __init__(self, root_helper: str, execute: Callable,
                 mount_point_base: str, mount_options: Optional[str],
                 mount_attempts: int,
                 mount_timeout: int = DEFAULT_MOUNT_TIMEOUT,
                 umount_timeout: int = DEFAULT_UMOUNT_TIMEOUT) -> None:
        self._execute = execute
        self._root_helper = root_helper
        self.mount_point_base = os.path.realpath(mount_point_base)
        self._default_options = mount_options
        self.mount_attempts = max(1, mount_attempts)
        self.mount_timeout = mount_timeout
        self.umount_timeout = umount_timeout
        self.client = make_remotefs_client(root_helper, execute,
                                           self.mount_point_base,
                                           mount_options)
        # The last failure to mount each mount point, and when it ended.
        self._failures: dict[str, tuple[float, LustreException]] = {}

    def get_mount_point(self, share: str) -> str:
        """Return the share's mount point: a hash of it under the base."""
        return self.client.get_mount_point(share)

    @staticmethod
    def is_mounted(mount_point: str) -> bool:
        """Whether a Lustre file system is mounted there.

        :raises: LustreNotLustreMount if another file system is
        """
        fs_type = read_mount_points().get(mount_point)
        if fs_type is None:
            return False
        if fs_type != LUSTRE_FS_TYPE:
            raise LustreNotLustreMount(mount_point=mount_point,
                                       fs_type=fs_type)
        return True

    @staticmethod
    def _answers(mount_point: str) -> bool:
        """False if the mount point fails as a client without servers does.

        A stat that does not return within STALE_PROBE_TIMEOUT fails too.
        Any other error (EACCES...) is raised: remounting cannot fix it.
        """
        try:
            stat_within(mount_point, STALE_PROBE_TIMEOUT)
        except TimeoutError:
            LOG.warning('A stat of Lustre mount %(mp)s did not return '
                        'within %(s)d seconds.',
                        {'mp': mount_point, 's': STALE_PROBE_TIMEOUT})
            return False
        except OSError as exc:
            if exc.errno in STALE_MOUNT_ERRNOS:
                return False
            raise
        return True

    def ensure_mounted(self, share: str,
                       options: Optional[str] = None) -> str:
        """Mount the share unless it is mounted; return its mount point.

        :param share: the share address, as in the shares file
        :param options: per-share mount options, added to the default ones
        """
        mount_point = self.get_mount_point(share)
        # Every driver operation comes here: a healthy mount takes no lock.
        if self.is_mounted(mount_point) and self._answers(mount_point):
            return mount_point
        asked = time.monotonic()
        with lockutils.lock('lustre-mount-%s' % os.path.basename(mount_point),
                            lock_file_prefix='cinder-', external=True):
            failed = self._failures.get(mount_point)
            if failed and failed[0] > asked:
                # It failed while this thread waited: trying again at once
                # would only make every waiting thread wait in turn.
                raise failed[1]
            try:
                self._mount_locked(share, mount_point, options)
            except LustreException as exc:
                self._failures[mount_point] = (time.monotonic(), exc)
                raise
        return mount_point

    def _mount_locked(self, share: str, mount_point: str,
                      options: Optional[str]) -> None:
        if self.is_mounted(mount_point):
            if self._answers(mount_point) or self._recovers(mount_point):
                return
            LOG.warning('Lustre share %(share)s is stale at %(mp)s (the '
                        'client lost its servers and did not reconnect); '
                        'mounting it again.',
                        {'share': share, 'mp': mount_point})
            if self.is_mounted(mount_point):
                self.umount(mount_point)
        self._mount(share, mount_point, options)
        if not self.is_mounted(mount_point):
            raise LustreException(msg=_(
                '%(share)s is not mounted at %(mp)s after a successful '
                'mount; refusing to use the local directory') % {
                'share': share, 'mp': mount_point})
        LOG.info('Mounted Lustre share %(share)s at %(mp)s.',
                 {'share': share, 'mp': mount_point})

    def _recovers(self, mount_point: str) -> bool:
        """Whether a mount that failed a stat answers within a while.

        An evicted client reconnects by itself, and an operation caught in
        the eviction fails once with EIO: that is no reason to unmount.
        The file system is asked (statfs, with a time limit) a few times,
        STALE_PROBE_INTERVAL apart; the mount is stale if it never answers.
        """
        for probe in range(STALE_PROBES):
            if probe:
                time.sleep(STALE_PROBE_INTERVAL)
            try:
                self._run(STALE_PROBE_TIMEOUT, 'stat', '-f', mount_point)
            except putils.ProcessExecutionError as exc:
                LOG.debug('%(mp)s does not answer: %(err)s',
                          {'mp': mount_point, 'err': exc})
                continue
            # What answered may be the local directory, if the mount went.
            if not self.is_mounted(mount_point):
                return False
            LOG.warning('Lustre mount %s failed a check and then answered '
                        '(the client reconnected); it is kept.',
                        mount_point)
            return True
        return False

    def _mount(self, share: str, mount_point: str,
               options: Optional[str]) -> None:
        """Mount, retried mount_attempts times, each within mount_timeout."""
        os.makedirs(mount_point, exist_ok=True)
        cmd = ['mount', '-t', LUSTRE_FS_TYPE]
        all_options = ','.join(option for option in (self._default_options,
                                                     options) if option)
        if all_options:
            cmd += ['-o', all_options]
        cmd += [share, mount_point]

        @utils.retry(putils.ProcessExecutionError, interval=1,
                     retries=self.mount_attempts, backoff_rate=2)
        def attempt() -> None:
            try:
                self.run_as_root(self.mount_timeout, *cmd)
            except putils.ProcessExecutionError as exc:
                if self.is_mounted(mount_point):
                    return      # mounted meanwhile, by someone else
                LOG.warning('Mounting %(share)s failed: %(error)s',
                            {'share': share,
                             'error': exc.stderr or exc.description})
                raise

        try:
            attempt()
        except putils.ProcessExecutionError as exc:
            LOG.error('Mounting Lustre share %(share)s failed %(count)d '
                      'times.', {'share': share, 'count': self.mount_attempts})
            raise LustreException(msg=_(
                'mounting %(share)s failed: %(error)s') % {
                'share': share, 'error': exc.stderr or exc.description})

    def umount(self, mount_point: str) -> None:
        """Unmount within umount_timeout; never abort someone else's I/O.

        The escalation of the Lustre CSI drivers, except that ``-f`` (which
        aborts every request in flight on the mount) only follows a plain
        unmount that hung after the kernel found the mount unused:

        1. ``umount``, again every second while the mount is busy, for half
           of the time, so that the operations using it finish;
        2. if it hung rather than being refused, ``umount -f``, for a third;
        3. ``umount -l``: the mount leaves the tree at once, and whoever
           still has files open on it keeps them until they close them.

        :raises: LustreException if the mount is still there after that
        """
        until = time.monotonic() + self.umount_timeout / 2
        while True:
            outcome = self._umount(mount_point, (),
                                   until - time.monotonic())
            if (outcome != _REFUSED or
                    time.monotonic() + _DRAIN_INTERVAL >= until):
                break
            time.sleep(_DRAIN_INTERVAL)
        if outcome == _HUNG:
            outcome = self._umount(mount_point, ('-f',),
                                   self.umount_timeout / 3)
        if outcome != _DONE:
            outcome = self._umount(mount_point, ('-l',),
                                   self.umount_timeout / 6)
        if outcome != _DONE:
            raise LustreException(msg=_(
                'cannot unmount %s, not even lazily') % mount_point)

    def _umount(self, mount_point: str, flags: tuple[str, ...],
                seconds: float) -> str:
        """One unmount; whether it is done, was refused or hung."""
        try:
            self.run_as_root(seconds, 'umount', '-c', *flags, mount_point)
            outcome = _DONE
        except CommandTimedOut:
            outcome = _HUNG
        except putils.ProcessExecutionError as exc:
            LOG.debug('umount %(flags)s %(mp)s: %(err)s',
                      {'flags': ' '.join(flags), 'mp': mount_point,
                       'err': exc.stderr})
            outcome = _REFUSED
        # A hung unmount may have taken the mount out of the tree already;
        # one that returned may have uncovered a mount below it.
        if mount_point not in read_mount_points():
            return _DONE
        return _REFUSED if outcome == _DONE else outcome

    def run_as_root(self, seconds: float, *cmd: str) -> tuple[str, str]:
        """Run a command as root for at most ``seconds``.

        timeout(1) runs it, so that the command is killed even though the
        service may not signal a root process; the service itself stops
        waiting a little later, even if the command is stuck in the kernel
        where no signal reaches it.
        """
        seconds = max(1, int(seconds))
        try:
            return self._run(seconds + _KILL_AFTER + _WAIT_MARGIN,
                             'timeout', '-k', str(_KILL_AFTER),
                             str(seconds), *cmd,
                             root_helper=self._root_helper, run_as_root=True)
        except putils.ProcessExecutionError as exc:
            if exc.exit_code in (TIMEOUT_EXIT_CODE, _KILLED_EXIT_CODE):
                raise CommandTimedOut(cmd, seconds)
            raise

    def _run(self, seconds: float, *cmd: str, **kwargs: Any
             ) -> tuple[str, str]:
        return bounded(self._execute, seconds)(*cmd, **kwargs)


# ``lfs --version`` prints "lfs 2.17.0" (libcfs's parser, every version).
_VERSION_RE = re.compile(r'^lfs\s+v?(\d+)\.(\d+)(?:\.(\d+))?')
# The oldest client the parsers below are written for: 2.9 spells the df
# summary "filesystem summary:", 2.10 has no ``lfs project``, 2.11 no
# default quotas; 2.12 to 2.17 are the versions the unit tests parse.
MIN_VERSION = (2, 12)
# lfs migrate copies only the data of sparse files from 2.15 (LU-13397);
# before, it writes every hole, and the copy is as large as the file.
SPARSE_MIGRATE_VERSION = (2, 15)
# Up to 2.15.62 lfs quota says "pid N is using default ... quota setting"
# for limits that are the default project quota's; from 2.15.63 (LU-15277)
# it prints them as if they were the id's own.
QUOTA_DEFAULT_UNMARKED_VERSION = (2, 15, 63)


def parse_lfs_version(output: str) -> Optional[tuple[int, ...]]:
    """The version ``lfs --version`` prints, or None if it says none."""
    match = _VERSION_RE.match(output.strip())
    if not match:
        return None
    return tuple(int(part or 0) for part in match.groups())


def format_version(version: Optional[tuple[int, ...]]) -> str:
    return '.'.join(map(str, version)) if version else _('unknown')


@dataclasses.dataclass(frozen=True)
class OstSpace:
    """One OST row of ``lfs df``, in bytes."""

    name: str
    total: int
    available: int


@dataclasses.dataclass(frozen=True)
class LfsDf:
    """Capacity of a Lustre file system (or OST pool), in bytes.

    ``failed`` holds the rows of targets whose statfs failed (``UUID :
    strerror``): the summary leaves them out.
    """

    total: int
    available: int
    osts: tuple[OstSpace, ...] = ()
    failed: tuple[str, ...] = ()

    @property
    def missing_osts(self) -> list[str]:
        """OSTs below the highest index that the report leaves out.

        ``lfs df`` silently omits an OST it cannot reach, so the capacity
        it sums is short by that OST. Meaningful for a whole file system
        only: an OST pool's members need not be contiguous.
        """
        names = [ost.name for ost in self.osts]
        indexes = {int(name.rsplit('-OST', 1)[1], 16) for name in names}
        if not indexes:
            return []
        fsname = names[0].rsplit('-OST', 1)[0]
        return ['%s-OST%04x' % (fsname, index)
                for index in range(max(indexes)) if index not in indexes]


# Rows are "UUID 1K-blocks Used Available Use% Mounted-on[TYPE:N] [FLAGS]";
# 2.9 names the summary "filesystem summary:", which is not supported.
_DF_ROW_RE = re.compile(
    r'^(?P<uuid>\S+)\s+(?P<total>\d+)\s+(?P<used>\d+)\s+(?P<avail>\d+)'
    r'\s+\d+%\s+\S+')
# A target whose statfs failed: printf("%-20s: %s\n", uuid, strerror).
_DF_ERROR_RE = re.compile(r'^(?P<uuid>[^\s:]+)\s*:\s+(?P<error>\S.*)$')


def parse_lfs_df(output: str) -> LfsDf:
    """Parse ``lfs df`` (1K blocks) into capacity figures in bytes.

    The summary line counts OSTs only, which is the space volumes use; MDT
    rows are ignored. Rows are split on white space, never by columns,
    because the spacing differs between Lustre versions.
    """
    kib = 1024
    osts = []
    failed = []
    summary = None
    for line in output.splitlines():
        match = _DF_ROW_RE.match(line.strip())
        if not match:
            error = _DF_ERROR_RE.match(line.strip())
            if error:
                failed.append('%s: %s' % (error.group('uuid'),
                                          error.group('error')))
            continue
        uuid = match.group('uuid')
        if uuid == 'filesystem_summary:':
            summary = match
        elif '-OST' in uuid:
            name = uuid[:-len('_UUID')] if uuid.endswith('_UUID') else uuid
            osts.append(OstSpace(name, int(match.group('total')) * kib,
                                 int(match.group('avail')) * kib))
    if summary is None:
        raise LustreException(msg=_('lfs df printed no filesystem_summary '
                                    'line: %r') % output[:200])
    return LfsDf(total=int(summary.group('total')) * kib,
                 available=int(summary.group('avail')) * kib,
                 osts=tuple(osts), failed=tuple(failed))


def parse_pool_list(output: str) -> frozenset[str]:
    """The pool names of ``lfs pool_list PATH``: "Pools from FS:", FS.POOL."""
    pools = set()
    for line in output.splitlines():
        name = line.strip()
        if name and not name.startswith('Pools from '):
            pools.add(name.partition('.')[2])
    return frozenset(pools)


@dataclasses.dataclass(frozen=True)
class QuotaLimits:
    """Block (KiB) and inode limits of a project id."""

    block_soft: int = 0
    block_hard: int = 0
    inode_soft: int = 0
    inode_hard: int = 0


@dataclasses.dataclass(frozen=True)
class ProjectQuota:
    """Usage and limits of one project id: blocks in KiB, then inodes.

    ``default_block`` and ``default_file`` are lfs saying (up to 2.15) that
    the limits are the default project quota's, not the id's own;
    ``inaccurate`` that some target did not answer (values in brackets).
    """

    project_id: int
    kbytes: int
    block_soft: int
    block_hard: int
    files: int
    inode_soft: int
    inode_hard: int
    default_block: bool = False
    default_file: bool = False
    inaccurate: bool = False

    def taken(self, defaults: Optional[QuotaLimits] = None) -> bool:
        """Whether the id is anybody's: it has files, usage or own limits.

        Limits are its own unless lfs says they are the default project
        quota's, or (lfs from 2.15.63, which no longer says so) they are
        equal to ``defaults``, the default project quota. Figures lfs
        could not read from every target are never taken as free.
        """
        if self.inaccurate or self.kbytes or self.files:
            return True
        block = (self.block_soft, self.block_hard)
        inode = (self.inode_soft, self.inode_hard)
        if defaults:
            default_block = block == (defaults.block_soft,
                                      defaults.block_hard)
            default_inode = inode == (defaults.inode_soft,
                                      defaults.inode_hard)
        else:
            default_block = default_inode = False
        return ((any(block) and not (self.default_block or default_block))
                or (any(inode) and not (self.default_file or
                                        default_inode)))


# 2.12 to 2.16.1 title a project by the id given on the command line,
# 2.17 by its /etc/projid name or "<unknown>": the id is in "(pid N)".
_QUOTA_TITLE_RE = re.compile(r'^Disk quotas for prj .* \(pid (?P<id>\d+)\):$')
_QUOTA_DEFAULT_RE = re.compile(
    r'^pid (?P<id>\d+) is using default (?P<kind>block|file) quota setting$')
_QUOTA_DEFAULTS_TITLE = 'Disk default prj quota:'


def _quota_number(token: str) -> tuple[int, bool]:
    """A value of a quota table: '1024', '1024*' (exceeded) or '[0]'.

    Returns the value and whether it is inaccurate (in brackets: not
    every target answered).
    """
    token = token.rstrip('*')
    return int(token.strip('[]')), token.startswith('[')


def _quota_row(lines: list[str], mount_point: str, count: int) -> list[str]:
    """The values of the row of a mount point in an lfs quota table.

    The row starts with the mount point; up to 2.15 a mount point longer
    than 15 characters is printed on a line of its own, the values on the
    next one. Spacing differs between versions: values are split on white
    space.
    """
    for index, line in enumerate(lines):
        text = line.strip()
        if text == mount_point:
            return ' '.join(lines[index + 1:index + 2]).split()[:count]
        if text.startswith(mount_point) and text[len(mount_point)].isspace():
            return text[len(mount_point):].split()[:count]
    return []


def parse_lfs_quota(output: str, project_id: int,
                    mount_point: str) -> ProjectQuota:
    """Parse ``lfs quota -p ID MNT``: the row of MNT in the table of ID.

    The values are kbytes, quota, limit, grace, files, quota, limit, grace.
    """
    lines = output.splitlines()
    tokens: list[str] = []
    for index, line in enumerate(lines):
        match = _QUOTA_TITLE_RE.match(line.strip())
        if match and int(match.group('id')) == project_id:
            tokens = _quota_row(lines[index + 1:], mount_point, 8)
            break
    try:
        values = [_quota_number(tokens[index])
                  for index in (0, 1, 2, 4, 5, 6)]
    except (IndexError, ValueError):
        raise LustreException(msg=_('lfs quota printed no quota of project '
                                    '%(id)d on %(mnt)s: %(out)r') % {
            'id': project_id, 'mnt': mount_point, 'out': output[:300]})
    defaults = {match.group('kind') for match in map(
        _QUOTA_DEFAULT_RE.match, (line.strip() for line in lines))
        if match and int(match.group('id')) == project_id}
    numbers = [value for value, _inaccurate in values]
    return ProjectQuota(
        project_id, kbytes=numbers[0], block_soft=numbers[1],
        block_hard=numbers[2], files=numbers[3], inode_soft=numbers[4],
        inode_hard=numbers[5],
        default_block='block' in defaults, default_file='file' in defaults,
        inaccurate=any(inaccurate for _value, inaccurate in values))


def parse_lfs_quota_defaults(output: str, mount_point: str) -> QuotaLimits:
    """Parse ``lfs quota -P MNT``: the default project quota of MNT.

    The values are bquota, blimit, bgrace, iquota, ilimit, igrace.
    """
    lines = output.splitlines()
    tokens: list[str] = []
    for index, line in enumerate(lines):
        if line.strip() == _QUOTA_DEFAULTS_TITLE:
            tokens = _quota_row(lines[index + 1:], mount_point, 6)
            break
    try:
        values = [_quota_number(tokens[index])[0] for index in (0, 1, 3, 4)]
    except (IndexError, ValueError):
        raise LustreException(msg=_('lfs quota printed no default project '
                                    'quota of %(mnt)s: %(out)r') % {
            'mnt': mount_point, 'out': output[:300]})
    return QuotaLimits(*values)


@dataclasses.dataclass(frozen=True)
class DefaultComponent:
    """One component of a directory's default layout.

    ``end`` is None for the end of file; ``pattern`` is what lfs prints:
    ``raid0``, ``mdt`` (data on the MDT), ``raid0,overstriped``..., or
    ``0`` for a directory without a default layout anywhere (lfs then
    prints the file system's default count and size).
    """

    stripe_count: int
    stripe_size: int
    pattern: str
    pool: Optional[str] = None
    end: Optional[int] = None
    extension: bool = False

    @property
    def is_plain(self) -> bool:
        """Whether ``lfs setstripe -c -S -p`` can express the component."""
        return self.pattern in ('raid0', '0') and not self.extension


@dataclasses.dataclass(frozen=True)
class DefaultLayout:
    """The default layout of a directory (``lfs getstripe -d``).

    One component for a plain layout, one per component for a progressive
    (PFL) or data-on-MDT (DoM) layout.
    """

    components: tuple[DefaultComponent, ...]
    composite: bool = False
    mirrors: int = 1

    @property
    def stripe_count(self) -> Optional[int]:
        """The stripe count of a plain layout; None for a composite one."""
        return None if self.composite else self.components[0].stripe_count

    @property
    def stripe_size(self) -> Optional[int]:
        """The stripe size of a plain layout; None for a composite one."""
        return None if self.composite else self.components[0].stripe_size

    def describe(self) -> Optional[str]:
        """A composite layout in the ``lustre:layout`` syntax.

        A data-on-MDT component reads END:mdt, a self-extending one
        END:extension:SIZE.
        """
        if not self.composite:
            return None
        return ','.join(
            '%s:%s' % ('-1' if c.end is None else format_size(c.end),
                       'mdt' if c.pattern == 'mdt' else '%s:%s' % (
                           'extension' if c.extension else c.stripe_count,
                           format_size(c.stripe_size)))
            for c in self.components)

    def layout(self) -> Optional['Layout']:
        """The layout ``lfs setstripe``/``migrate`` gives new files here.

        None where the options the driver passes cannot express it: data
        on the MDT, self-extending components, mirrors, overstriping.
        """
        if self.mirrors != 1 or not all(c.is_plain
                                        for c in self.components):
            return None
        if not self.composite:
            first = self.components[0]
            return Layout(stripe_count=first.stripe_count,
                          stripe_size=first.stripe_size, pool=first.pool)
        pools = {c.pool for c in self.components}
        shared = pools.pop() if len(pools) == 1 else None
        return Layout(pool=shared, components=tuple(
            LayoutComponent(c.end, c.stripe_count, c.stripe_size,
                            None if shared else c.pool)
            for c in self.components))


# The one-line layout of a directory (every version): "stripe_count: N
# stripe_size: N pattern: P stripe_offset: N [pool: P]"; a DoM component
# says mdt_index (2.17) instead of stripe_offset, a self-extending one
# extension_size instead of stripe_size. Indented once per component.
_DIR_LAYOUT_RE = re.compile(
    r'stripe_count:\s*(?P<count>-?\d+)\s+'
    r'(?:stripe|extension)_size:\s*(?P<size>\d+)\s+'
    r'pattern:\s*(?P<pattern>\S+)'
    r'(?:\s+(?:stripe_offset|mdt_index):\s*-?\w+)?'
    r'(?:\s+pool:\s*(?P<pool>\S+))?')
_COMPOSITE_RE = re.compile(r'^(?P<key>lcm_mirror_count|lcme_flags|'
                           r'lcme_extent\.e_end):\s*(?P<value>\S+)$')


def parse_stripe_defaults(output: str) -> Optional[DefaultLayout]:
    """Parse ``lfs getstripe -d DIR``: every component, or None if none.

    Values are split on white space, not on columns: 2.15 pads them
    (``stripe_count:  1 stripe_size:   1048576``), other versions need not.
    """
    components = []
    mirrors = 1
    flags = end = None
    for line in output.splitlines():
        text = line.strip()
        composite = _COMPOSITE_RE.match(text)
        if composite:
            key, value = composite.group('key', 'value')
            if key == 'lcm_mirror_count':
                mirrors = int(value)
            elif key == 'lcme_flags':
                flags = value
            else:
                end = None if value == 'EOF' else int(value)
            continue
        match = _DIR_LAYOUT_RE.match(text)
        if match:
            components.append(DefaultComponent(
                stripe_count=int(match.group('count')),
                stripe_size=int(match.group('size')),
                pattern=match.group('pattern'), pool=match.group('pool'),
                end=end, extension='extension' in (flags or '')))
    if not components:
        return None
    return DefaultLayout(tuple(components), composite=flags is not None,
                         mirrors=mirrors)


def _lfs_runner(execute: Callable, seconds: Optional[int]) -> Callable:
    """execute for lfs: bounded, and LfsNotInstalled when lfs is missing.

    Run directly, a missing lfs fails to start (ENOENT); run as root, the
    root helper exits with its own status for it.
    """
    run = bounded(execute, seconds)

    def run_lfs(*cmd: str, **kwargs: Any) -> tuple[str, str]:
        try:
            return run(*cmd, **kwargs)
        except OSError as exc:
            if exc.errno != errno.ENOENT:
                raise
            raise LfsNotInstalled(reason=exc)
        except putils.ProcessExecutionError as exc:
            if exc.exit_code != _ROOTWRAP_NO_EXECUTABLE:
                raise
            raise LfsNotInstalled(reason=exc.stderr or exc)
    return run_lfs


class Lfs:
    """The ``lfs`` command: what the drivers run and how they read it."""

    def __init__(self, execute: Callable,
                 timeout: Optional[int] = DEFAULT_LFS_TIMEOUT) -> None:
        self._execute = _lfs_runner(execute, timeout)
        self._version: Optional[tuple[int, ...]] = None
        self._version_read = False

    def version(self) -> Optional[tuple[int, ...]]:
        """The client's version, from ``lfs --version`` (read once)."""
        if not self._version_read:
            out, _err = self._execute('lfs', '--version')
            self._version = parse_lfs_version(out)
            self._version_read = True
        return self._version

    def _older_than(self, version: tuple[int, ...]) -> bool:
        """Whether the client is older; an unknown version counts as old."""
        mine = self.version()
        return mine is None or mine < version

    def df(self, path: str, fsname: Optional[str] = None,
           pool: Optional[str] = None) -> LfsDf:
        """Capacity of the file system holding path (its OSTs only).

        With a pool, the capacity of that OST pool of file system fsname.
        ``--lazy`` leaves out targets that are not connected instead of
        waiting for them.
        """
        args = ['lfs', 'df', '--lazy']
        if pool:
            args += ['--pool', '%s.%s' % (fsname, pool)]
        try:
            out, _err = self._execute(*args, path)
        except putils.ProcessExecutionError as exc:
            # lfs exits with the errno of a target whose statfs failed,
            # after the other rows and a summary without that target.
            if 'filesystem_summary:' not in (exc.stdout or ''):
                raise
            out = exc.stdout
        return parse_lfs_df(out)

    def pools(self, path: str) -> frozenset[str]:
        """The OST pools of the file system holding path."""
        out, _err = self._execute('lfs', 'pool_list', path)
        return parse_pool_list(out)

    def _check_pools(self, path: str, layout: 'Layout') -> None:
        """Refuse a layout naming an OST pool the file system lacks.

        lfs setstripe 2.15 accepts any pool name for a plain layout, and
        versions before 2.16 any for a PFL layout: the file's objects then
        go to any OST.
        """
        wanted = layout.pools()
        if not wanted:
            return
        missing = sorted(wanted - self.pools(os.path.dirname(path)))
        if missing:
            raise LustreException(msg=_(
                'OST pool %(pools)s does not exist on the file system of '
                '%(path)s (lfs pool_list)') % {
                'pools': ', '.join(missing), 'path': path})

    def setstripe(self, path: str, stripe_count: Optional[int] = None,
                  stripe_size: Optional[str] = None,
                  pool: Optional[str] = None,
                  run_as_root: bool = False) -> None:
        """Set the layout of a new file, or the default of a directory.

        On a path that does not exist lfs creates an empty file with the
        layout; files later created in a directory inherit its default.
        ``stripe_size`` is a size as the drivers' options take it (4M).
        """
        args = ['lfs', 'setstripe']
        if stripe_count is not None:
            args += ['-c', str(stripe_count)]
        if stripe_size:
            args += ['-S', stripe_size_arg(stripe_size)]
        if pool:
            args += ['-p', pool]
        self._execute(*args, '--', path, run_as_root=run_as_root)

    def create_file(self, path: str, layout: 'Layout',
                    run_as_root: bool = False) -> None:
        """Create an empty file with a layout, for a volume to fill.

        A file's layout is fixed once it has data, so it is set on the
        empty file; qemu-img, truncate and fallocate keep it.
        """
        self._check_pools(path, layout)
        self._execute('lfs', 'setstripe', *layout.setstripe_args(), '--',
                      path, run_as_root=run_as_root)

    def stripe_defaults(self, path: str) -> Optional[DefaultLayout]:
        """The default layout of a directory: what new files inherit."""
        out, _err = self._execute('lfs', 'getstripe', '-d', path)
        return parse_stripe_defaults(out)

    @property
    def migrate_keeps_holes(self) -> bool:
        """Whether lfs migrate copies only the data of a sparse file."""
        return not self._older_than(SPARSE_MIGRATE_VERSION)

    def migrate(self, path: str, layout: 'Layout',
                run_as_root: bool = False) -> None:
        """Rewrite a file's data with a new layout.

        lfs migrate blocks other access to the file while it copies: only
        files nobody has open may be migrated.
        """
        self._check_pools(path, layout)
        # It copies the data: its time grows with the file, unbounded.
        self._execute('lfs', 'migrate', *layout.setstripe_args(), '--',
                      path, run_as_root=run_as_root, timeout=None)

    def set_project(self, paths: list[str], project_id: int) -> None:
        """Give files a project id; changing one takes root."""
        # The rootwrap filters allow a bounded number of paths a call.
        for start in range(0, len(paths), PROJECT_PATHS_PER_CALL):
            self._execute('lfs', 'project', '-p', str(project_id), '--',
                          *paths[start:start + PROJECT_PATHS_PER_CALL],
                          run_as_root=True)

    def setquota(self, mount_point: str, project_id: int,
                 block_hard_kib: int) -> None:
        """Set the block hard limit of a project; 0 removes the limit."""
        self._execute('lfs', 'setquota', '-p', str(project_id), '-B',
                      '%dK' % block_hard_kib, mount_point, run_as_root=True)

    def quota(self, mount_point: str, project_id: int) -> ProjectQuota:
        """Usage and limits of a project on the whole file system."""
        try:
            out, _err = self._execute('lfs', 'quota', '-p', str(project_id),
                                      mount_point, run_as_root=True)
        except putils.ProcessExecutionError as exc:
            # From 2.14 lfs exits with EIO after printing figures that
            # not every target answered for (in brackets).
            if '(pid %d)' % project_id not in (exc.stdout or ''):
                raise
            out = exc.stdout
        return parse_lfs_quota(out, project_id, mount_point)

    def quota_defaults(self, mount_point: str) -> Optional[QuotaLimits]:
        """The default project quota, where lfs does not mark its use.

        None for a client that says itself which limits are the default
        project quota's (up to 2.15.62).
        """
        if not self._older_than(QUOTA_DEFAULT_UNMARKED_VERSION):
            out, _err = self._execute('lfs', 'quota', '-P', mount_point,
                                      run_as_root=True)
            return parse_lfs_quota_defaults(out, mount_point)
        return None


STRIPE_SIZE_UNIT = 64 * 1024
# The most OSTs a file can be striped over (LOV_MAX_STRIPE_COUNT).
MAX_STRIPE_COUNT = 2000
# The default stripe size that servers before 2.14 check the end of a PFL
# component without a stripe size against (lod_verify_striping): the file
# system default, 1 MiB unless an administrator changed it.
DEFAULT_STRIPE_SIZE = 1024 * 1024
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


def format_size(size: int) -> str:
    """A size in bytes with the largest suffix that divides it: 64M."""
    for unit in 'TGMK':
        if size and not size % _SIZE_UNITS[unit]:
            return '%d%s' % (size // _SIZE_UNITS[unit], unit)
    return str(size)


def stripe_size_arg(text: str) -> str:
    """A stripe size for ``lfs -S``, in decimal with a unit: 4M.

    lfs reads sizes with strtoull base 0 (``010M`` is 8 MiB, ``08M`` an
    error) and takes a value under 4096 as KiB; Cinder's options are
    decimal bytes or K, M, G.
    """
    return format_size(parse_stripe_size(text))


def parse_stripe_count(text: str) -> int:
    """A stripe count: 1 to 2000 OSTs, or -1 for all of them."""
    try:
        count = int(text)
    except ValueError:
        count = 0
    if (count < 1 and count != -1) or count > MAX_STRIPE_COUNT:
        raise ValueError(_("'%(count)s' is not a stripe count (1 to "
                           "%(max)d OSTs, or -1 for all)") % {
            'count': text, 'max': MAX_STRIPE_COUNT})
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


def is_fsname(text: str) -> bool:
    """Whether text is a Lustre file system name: 1 to 8 of [A-Za-z0-9_-]."""
    return bool(re.match('^%s$' % _FSNAME, text))


def parse_pool_name(text: str) -> str:
    if not _POOL_RE.match(text):
        raise ValueError(_("'%s' is not an OST pool name (1 to 15 letters, "
                           "digits, '_' or '-')") % text)
    return text


@dataclasses.dataclass(frozen=True)
class LayoutComponent:
    """One component of a progressive file layout (PFL).

    ``end`` is where the component ends, in bytes; None is end of file.
    ``pool`` is the component's own OST pool (a directory default may
    give each component another); the layout's pool applies otherwise.
    """

    end: Optional[int]
    stripe_count: int
    stripe_size: Optional[int] = None
    pool: Optional[str] = None


def parse_pfl(text: str) -> tuple[LayoutComponent, ...]:
    """Parse the compact PFL syntax ``END:COUNT[:SIZE],...``.

    For example ``64M:1,1G:4,-1:-1``: the first 64 MiB on one OST, up to
    1 GiB on four, the rest on all OSTs. Ends grow strictly and the last
    component ends at -1 (end of file), as ``lfs setstripe -E`` demands.
    An end must be a multiple of its component's stripe size (lfs refuses
    it otherwise), or of 1 MiB without one, which servers before 2.14
    check it against.
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
        if end is not None and end % (size or DEFAULT_STRIPE_SIZE):
            raise ValueError(_("layout component end '%(end)s' is not a "
                               "multiple of its stripe size %(size)s") % {
                'end': fields[0],
                'size': fields[2] if size else format_size(
                    DEFAULT_STRIPE_SIZE)})
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

    def pools(self) -> frozenset[str]:
        """The OST pools the layout names."""
        return frozenset(pool for pool in (
            self.pool, *(c.pool for c in self.components)) if pool)

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
                pool = component.pool or self.pool
                if pool:
                    args += ['-p', pool]
            return args
        if self.stripe_count is not None:
            args += ['-c', str(self.stripe_count)]
        if self.stripe_size is not None:
            args += ['-S', '%dK' % (self.stripe_size // 1024)]
        if self.pool:
            args += ['-p', self.pool]
        return args


def _nids(share: LustreShare) -> set[str]:
    """The MGS NIDs of a share, with net 0 written out (tcp is tcp0)."""
    nids = set()
    for node in share.mgs_nodes:
        for nid in node:
            host, _at, net = nid.partition('@')
            net = net or 'tcp'
            nids.add('%s@%s' % (host, net if net[-1].isdigit() else
                                net + '0'))
    return nids


def same_file_system(one: LustreShare, other: LustreShare) -> bool:
    """Whether two shares are on one file system: same name and MGS.

    Two file systems may have the same name (``lustre`` is common), so
    the shares must also name an MGS NID in common.
    """
    return one.fsname == other.fsname and bool(_nids(one) & _nids(other))
