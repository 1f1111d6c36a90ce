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
import ipaddress
import re
import typing

from lustre_emu import common
from lustre_emu import versions

NET_RE = re.compile(r'(tcp|o2ib|gni|kfi|efa|ptl|lo)(\d{0,4})\Z')
HOST_RE = re.compile(
    r'(\d{1,3}(\.\d{1,3}){3}'
    r'|[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?'
    r'(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*)\Z')
FSNAME_RE = re.compile(r'[A-Za-z0-9_-]{1,8}\Z')

# Options accepted by the Lustre client (llite) depend on the version:
# versions.Profile.client_options / valued_options.
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


def parse_nid(text: str, ipv6: bool = False) -> Nid:
    """Parse ``HOST[@NET]``; raise ValueError when malformed.

    A NID without ``@NET`` is on tcp0 (libcfs_str2nid(), all versions);
    an IPv6 address needs its ``@NET`` and 2.17 (``ipv6``).
    """
    host, sep, net = text.rpartition('@') if '@' in text else \
        (text, '', '')
    if sep and not net:
        raise ValueError(text)
    net = net or 'tcp0'
    match = NET_RE.match(net)
    if not match:
        raise ValueError(text)
    if ':' in host:
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            raise ValueError(text)
        if not (ipv6 and sep):
            raise ValueError(text)
    elif not HOST_RE.match(host):
        raise ValueError(text)
    return Nid(host, match.group(1) + (match.group(2) or '0'))


# An IPv6 NID runs to its "@net"; any other NID to the next ':' or ','
# (v2_17_0 lustre/utils/mount_utils.c convert_hostnames() with
# cfs_nidstr_find_delimiter()).
_NID6_RE = re.compile(r'[0-9A-Fa-f]*:[0-9A-Fa-f:.]*@[a-z0-9]+')
_NID_RE = re.compile(r'[^:,]*')


def split_nids(spec: str, ipv6: bool) -> typing.List[typing.List[str]]:
    """MGSNODE[:MGSNODE...] into lists of NID strings."""
    nodes: typing.List[typing.List[str]] = [[]]
    pos = 0
    while True:
        match = (_NID6_RE.match(spec, pos) if ipv6 else None) or \
            _NID_RE.match(spec, pos)
        nodes[-1].append(match.group(0))
        pos = match.end()
        if pos >= len(spec):
            return nodes
        if spec[pos] == ':':
            nodes.append([])
        pos += 1


def parse_share(source: str, ipv6: bool = False) -> Share:
    """Parse a mount source; raise LustreError(EINVAL) when malformed."""
    # An IPv6 NID ends with "@net", so the first ":/" still ends the NIDs.
    spec, sep, path = source.partition(':/')
    if not sep or not spec:
        raise _bad(source, "Can't parse device")
    nodes = []
    for node in split_nids(spec, ipv6):
        if not node or not all(node):
            raise _bad(source, "Can't parse NID '%s'" % spec)
        try:
            nodes.append(tuple(parse_nid(n, ipv6) for n in node))
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


def parse_options(text: str, sloppy: bool = False,
                  prof: typing.Optional[versions.Profile] = None) -> Options:
    """Parse client options; unknown ones raise EINVAL (unless sloppy)."""
    prof = prof or common.profile_of()
    client_flags = prof.client_options
    client_valued = prof.valued_options
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
        elif name in client_flags and not sep:
            if name in ('flock', 'localflock', 'noflock'):
                flock = name
        elif name in client_valued and sep:
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
