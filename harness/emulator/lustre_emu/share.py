# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at
#
#      http://www.apache.org/licenses/LICENSE-2.0
#
# Unless required by applicable law or agreed to in writing, software
# distributed under the License is distributed on an "AS IS" BASIS, WITHOUT
# WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied. See the
# License for the specific language governing permissions and limitations
# under the License.

"""Parsing of Lustre mount sources and client mount options.

Source syntax (mount.lustre(8))::

    MGSNODE[:MGSNODE...]:/FSNAME[/SUBDIR]
    MGSNODE = NID[,NID...]      (interfaces of one MGS host)
    NID     = HOST[@NET]        (NET like tcp, tcp0, o2ib, o2ib1; @tcp0
                                 is the default)
"""

import errno
import re
import typing

from lustre_emu import common

NET_RE = re.compile(r'(tcp|o2ib|gni|kfi|efa|ptl|lo)(\d{0,4})\Z')
HOST_RE = re.compile(
    r'(\d{1,3}(\.\d{1,3}){3}'
    r'|[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?'
    r'(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*)\Z')
FSNAME_RE = re.compile(r'[A-Za-z0-9_-]{1,8}\Z')

# Options accepted by the Lustre client (llite) and by the VFS.
CLIENT_FLAGS = {
    'flock', 'localflock', 'noflock', 'lazystatfs', 'nolazystatfs',
    'user_xattr', 'nouser_xattr', 'user_fid2path', 'nouser_fid2path',
    'acl', 'noacl', 'checksum', 'nochecksum', 'verbose', 'noverbose',
    'always_ping', '32bitapi', 'encrypt', 'noencrypt',
    'test_dummy_encryption', 'statfs_project', 'nostatfs_project',
}
CLIENT_VALUED = {'network', 'retry', 'exclude', 'mgssec', 'skpath',
                 'max_sectors_kb'}
VFS_FLAGS = {
    'ro': common.MS_RDONLY, 'rw': 0,
    'nosuid': common.MS_NOSUID, 'suid': 0,
    'nodev': common.MS_NODEV, 'dev': 0,
    'noexec': common.MS_NOEXEC, 'exec': 0,
    'noatime': common.MS_NOATIME, 'atime': 0,
    'nodiratime': common.MS_NODIRATIME, 'diratime': 0,
    'relatime': common.MS_RELATIME, 'norelatime': 0,
    'strictatime': common.MS_STRICTATIME, 'nostrictatime': 0,
    'sync': 0, 'async': 0, 'dirsync': 0, 'lazytime': 0, 'nolazytime': 0,
    'defaults': 0, 'auto': 0, 'noauto': 0, 'user': 0, 'nouser': 0,
    'users': 0, 'owner': 0, 'group': 0, 'nofail': 0, '_netdev': 0,
    'loop': 0,
}


class Nid(typing.NamedTuple):
    """One LNet NID."""

    host: str
    net: str            # normalised: 'tcp' -> 'tcp0'

    def __str__(self) -> str:
        return '%s@%s' % (self.host, self.net)


class Share(typing.NamedTuple):
    """A parsed mount source."""

    mgs_nodes: typing.Tuple[typing.Tuple[Nid, ...], ...]
    fsname: str
    subdir: str         # '' or 'a/b'

    @property
    def nids(self) -> typing.List[Nid]:
        """All NIDs, failover order."""
        return [nid for node in self.mgs_nodes for nid in node]


def _bad(source: str, why: str) -> common.LustreError:
    return common.LustreError(errno.EINVAL, "%s: %s" % (why, source))


def parse_nid(text: str) -> Nid:
    """Parse ``HOST[@NET]``; raise ValueError when malformed."""
    host, sep, net = text.partition('@')
    if sep and not net:
        raise ValueError(text)
    net = net or 'tcp0'
    match = NET_RE.match(net)
    if not match or not HOST_RE.match(host):
        raise ValueError(text)
    return Nid(host, match.group(1) + (match.group(2) or '0'))


def parse_share(source: str) -> Share:
    """Parse a mount source; raise LustreError(EINVAL) when malformed."""
    spec, sep, path = source.partition(':/')
    if not sep or not spec:
        raise _bad(source, "Can't parse device")
    nodes = []
    for node in spec.split(':'):
        if not node:
            raise _bad(source, 'empty MGS node')
        try:
            nodes.append(tuple(parse_nid(n) for n in node.split(',')))
        except ValueError as exc:
            raise _bad(source, "Can't parse NID '%s'" % exc)
    parts = [p for p in path.split('/') if p]
    if not parts or not FSNAME_RE.match(parts[0]):
        raise _bad(source, 'invalid filesystem name')
    if any(p in ('.', '..') for p in parts[1:]):
        raise _bad(source, 'invalid subdirectory')
    return Share(tuple(nodes), parts[0], '/'.join(parts[1:]))


class Options(typing.NamedTuple):
    """Parsed ``-o`` options."""

    given: typing.List[str]     # as passed, in order
    flags: int                  # MS_* flags for the bind mount
    retry: int
    network: typing.Optional[str]
    flock: str                  # 'flock', 'localflock' or 'noflock'


def parse_options(text: str, sloppy: bool = False) -> Options:
    """Parse client options; unknown ones raise EINVAL (unless sloppy)."""
    given = [o for o in text.split(',') if o] if text else []
    flags = 0
    retry = 0
    network = None
    flock = 'flock'
    for opt in given:
        name, sep, value = opt.partition('=')
        if name in VFS_FLAGS and not sep:
            flags |= VFS_FLAGS[name]
            if name == 'rw':
                flags &= ~common.MS_RDONLY
        elif name in CLIENT_FLAGS and not sep:
            if name in ('flock', 'localflock', 'noflock'):
                flock = name
        elif name in CLIENT_VALUED and sep:
            if name == 'retry':
                if not value.isdigit():
                    raise common.LustreError(
                        errno.EINVAL, 'invalid retry count: %s' % value)
                retry = int(value)
            elif name == 'network':
                match = NET_RE.match(value)
                if not match:
                    raise common.LustreError(
                        errno.EINVAL, 'invalid network: %s' % value)
                network = match.group(1) + (match.group(2) or '0')
        elif name.startswith('x-') or name in ('context', 'fscontext',
                                               'defcontext', 'rootcontext'):
            continue
        elif not sloppy:
            raise common.LustreError(
                errno.EINVAL, 'unknown mount option: %s' % opt)
    return Options(given, flags, retry, network, flock)
