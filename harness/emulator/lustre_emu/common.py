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

"""Shared plumbing of the Lustre client-tools emulator.

Layout of the emulator root (``$LUSTRE_EMULATOR_ROOT``, default
``/var/lib/lustre-emulator``)::

    config.json               global: client version, MGS hosts, retry sleep
    fs/NAME/config.json       one emulated filesystem (OSTs, pools, features)
    fs/NAME/root/             backing directory, bind-mounted by mount.lustre
    fs/NAME/quota.json        project quota limits set with lfs setquota
    fs/NAME/objects.json      object id counters and round-robin cursor
    state/mounts.json         mounts made by mount.lustre (reconciled with
                              /proc/self/mountinfo on every read)
    state/faults.json         pending fault injections
    state/mount.log           one JSON line per mount.lustre attempt
    state/installed.json      what ``lustre-emulator setup`` installed
"""

import contextlib
import ctypes
import errno
import fcntl
import json
import os
import re
import typing

from lustre_emu import versions

DEFAULT_ROOT = '/var/lib/lustre-emulator'
DEFAULT_VERSION = '2.15.4'
KNOWN_FEATURES = ('project_quota', 'fallocate')
BACKENDS = ('ldiskfs', 'zfs')

MS_RDONLY = 1
MS_NOSUID = 2
MS_NODEV = 4
MS_NOEXEC = 8
MS_REMOUNT = 32
MS_NOATIME = 1024
MS_NODIRATIME = 2048
MS_BIND = 4096
MS_RELATIME = 1 << 21
MS_STRICTATIME = 1 << 24
MNT_DETACH = 2


class LustreError(Exception):
    """An error that a command reports as ``message`` and exits with errno.

    ``message`` may hold several lines; ``code`` is the raw errno used as
    the exit status, as the real tools do.  ``stdout`` is printed before
    the message (lfs prints usage text on stdout in 2.17).
    """

    def __init__(self, code: int, message: str, stdout: str = '') -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.stdout = stdout


class NotLustre(LustreError):
    """A path that is on no emulated (mounted) Lustre file system."""


def root_dir() -> str:
    """Return the emulator root directory."""
    return os.environ.get('LUSTRE_EMULATOR_ROOT', DEFAULT_ROOT)


def state_dir() -> str:
    """Return (and create) the state directory."""
    path = os.path.join(root_dir(), 'state')
    os.makedirs(path, exist_ok=True)
    return path


def fs_dir(fsname: str) -> str:
    """Return the directory holding one emulated filesystem."""
    return os.path.join(root_dir(), 'fs', fsname)


def backing_root(fsname: str) -> str:
    """Return the backing directory (the filesystem's ``/``)."""
    return os.path.join(fs_dir(fsname), 'root')


def read_json(path: str, default: typing.Any) -> typing.Any:
    """Read a JSON file, returning ``default`` when it does not exist."""
    try:
        with open(path, encoding='utf-8') as handle:
            return json.load(handle)
    except FileNotFoundError:
        return default


def write_json(path: str, data: typing.Any) -> None:
    """Write a JSON file atomically."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = '%s.tmp.%d' % (path, os.getpid())
    with open(tmp, 'w', encoding='utf-8') as handle:
        json.dump(data, handle, indent=2, sort_keys=True)
        handle.write('\n')
    os.replace(tmp, path)


@contextlib.contextmanager
def locked() -> typing.Iterator[None]:
    """Hold the emulator-wide state lock (flock on ``state/lock``)."""
    path = os.path.join(state_dir(), 'lock')
    with open(path, 'a') as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def global_config() -> dict:
    """Return the global configuration with defaults filled in."""
    cfg = read_json(os.path.join(root_dir(), 'config.json'), {})
    cfg.setdefault('version', DEFAULT_VERSION)
    mgs = cfg.setdefault('mgs', {})
    mgs.setdefault('hosts', None)
    mgs.setdefault('down', [])
    cfg.setdefault('retry_sleep', 0.05)
    return cfg


def save_global_config(cfg: dict) -> None:
    """Persist the global configuration."""
    write_json(os.path.join(root_dir(), 'config.json'), cfg)


def list_filesystems() -> typing.List[str]:
    """Return the names of the configured filesystems."""
    base = os.path.join(root_dir(), 'fs')
    try:
        names = os.listdir(base)
    except FileNotFoundError:
        return []
    return sorted(n for n in names
                  if os.path.isfile(os.path.join(base, n, 'config.json')))


def fs_config(fsname: str) -> dict:
    """Return one filesystem's configuration or raise ENOENT."""
    cfg = read_json(os.path.join(fs_dir(fsname), 'config.json'), None)
    if cfg is None:
        raise LustreError(errno.ENOENT,
                          "filesystem '%s' is not configured" % fsname)
    cfg.setdefault('pools', {})
    cfg.setdefault('features', {})
    for feature in KNOWN_FEATURES:
        cfg['features'].setdefault(feature, True)
    cfg.setdefault('default_layout', {
        'stripe_count': 1, 'stripe_size': None,
        'stripe_offset': -1, 'pool': None})
    cfg.setdefault('version', None)
    cfg.setdefault('backend', 'ldiskfs')
    cfg.setdefault('quota', {})
    for ost in cfg['osts']:
        ost.setdefault('active', True)
        ost.setdefault('statfs_errno', None)
        ost.setdefault('hung', False)
        ost.setdefault('state', '')
    return cfg


def save_fs_config(cfg: dict) -> None:
    """Persist one filesystem's configuration."""
    write_json(os.path.join(fs_dir(cfg['name']), 'config.json'), cfg)


def version_of(fsname: typing.Optional[str] = None) -> str:
    """Return the emulated Lustre version.

    A file system's own version first, then ``$LUSTRE_EMULATOR_VERSION``
    (the client version of every process of a test run, such as tox -e
    functional-oldest, without changing the shared configuration), then
    the configured client version.
    """
    if fsname:
        try:
            ver = fs_config(fsname).get('version')
        except LustreError:
            ver = None
        if ver:
            return ver
    env = os.environ.get('LUSTRE_EMULATOR_VERSION')
    if env:
        try:
            return versions.canonical(env)
        except ValueError:
            pass
    return global_config()['version']


def version_tuple(version: str) -> typing.Tuple[int, ...]:
    """Turn ``2.15.4`` into ``(2, 15, 4)``."""
    return tuple(int(p) for p in re.findall(r'\d+', version)[:3])


def profile_of(fsname: typing.Optional[str] = None) -> versions.Profile:
    """The version profile that applies to a file system (or the client)."""
    return versions.profile(version_of(fsname))


# -- sizes and errnos --------------------------------------------------

_SUFFIX = {'': 0, 'k': 1, 'm': 2, 'g': 3, 't': 4, 'p': 5, 'e': 6}


def parse_size(text: str, default_unit: int = 1) -> int:
    """Parse ``4M``/``10G``/``65536`` (base 1024) into bytes.

    For the emulator's own command line (``add-fs --ost-size``); lfs
    arguments go through ``llapi_parse_size``.  A bare number is
    multiplied by ``default_unit``.
    """
    match = re.fullmatch(r'(\d+)([kKmMgGtTpPeE]?)[bB]?', text.strip())
    if not match:
        raise ValueError(text)
    number = int(match.group(1))
    suffix = match.group(2).lower()
    if not suffix:
        return number * default_unit
    return number * (1024 ** _SUFFIX[suffix])


def c_strtoull(text: str) -> typing.Tuple[int, str]:
    """C's strtoull(text, &end, 0): the value and what follows it.

    Base 0: ``0x`` is hexadecimal, a leading ``0`` octal (``010`` is 8,
    ``08`` stops at ``8``), leading blanks and a sign are taken.  No digit
    at all gives (0, text).
    """
    match = re.match(r'\s*([+-]?)(0[xX][0-9a-fA-F]+|0[0-7]*|[1-9][0-9]*)',
                     text)
    if not match:
        return 0, text
    digits = match.group(2)
    if digits[:2].lower() == '0x':
        value = int(digits[2:], 16)
    elif digits.startswith('0'):
        value = int(digits, 8)
    else:
        value = int(digits)
    if match.group(1) == '-':
        value = (-value) % (1 << 64)
    return value, text[match.end():]


def llapi_parse_size(text: str, units: int, bytes_spec: bool,
                     long_suffix: bool) -> int:
    """liblustreapi's llapi_parse_size(): raise ValueError when refused.

    Read in v2_12_9 and v2_17_0 lustre/utils/liblustreapi.c: strtoull with
    base 0, an optional ``.fraction``, then one suffix letter: ``b`` is
    512-byte blocks (bytes when ``bytes_spec``), ``k m g t p e`` powers of
    1024; 2.17 also takes ``c`` (bytes) and a second letter ``i`` or
    ``b`` (``long_suffix``).  No suffix: ``units`` (1 for stripe sizes,
    1024 for quota limits).  A leading ``-`` is refused.
    """
    if text.startswith('-'):
        raise ValueError(text)
    value, rest = c_strtoull(text)
    frac, frac_d = 0, 1
    if rest.startswith('.'):
        match = re.match(r'\.(\d*)', rest)
        frac_digits = match.group(1) if match else ''
        frac = int(frac_digits or '0')
        frac_d = 10 ** len(frac_digits)
        rest = rest[1 + len(frac_digits):]
    if rest:
        letter = rest[0] if long_suffix else rest[0]
        lower = letter.lower()
        shifts = {'k': 10, 'm': 20, 'g': 30, 't': 40, 'p': 50, 'e': 60}
        if lower == 'b' and (long_suffix or letter == 'b'):
            units = 1 if bytes_spec else 512
        elif lower == 'c' and long_suffix:
            units = 1
        elif lower in shifts and (long_suffix or letter in
                                  (lower, lower.upper())):
            if value >> (64 - shifts[lower]):
                raise ValueError(text)
            units = 1 << shifts[lower]
        else:
            raise ValueError(text)
        tail = rest[1:]
        if long_suffix:
            if tail not in ('', 'i', 'b', 'I', 'B'):
                raise ValueError(text)
        elif tail:
            raise ValueError(text)
    return value * units + frac * units // frac_d


def parse_errno(text: str) -> int:
    """Accept ``EIO``, ``eio`` or ``5``."""
    if text.isdigit():
        return int(text)
    code = getattr(errno, text.upper(), None)
    if not isinstance(code, int):
        raise ValueError('unknown errno %r' % text)
    return code


def strerror(code: int) -> str:
    """Return the C library's message for an errno."""
    return os.strerror(code)


# -- kernel calls ------------------------------------------------------

_LIBC = None


def libc() -> ctypes.CDLL:
    """Return the C library loaded with errno support.

    By its glibc soname: ctypes.util.find_library runs ``ldconfig -p``,
    a process per mount for a name that never changes on Debian.
    """
    global _LIBC
    if _LIBC is None:
        _LIBC = ctypes.CDLL('libc.so.6', use_errno=True)
    return _LIBC


def sys_mount(source: str, target: str, fstype: typing.Optional[str],
              flags: int, data: typing.Optional[str] = None) -> None:
    """Call mount(2); raise OSError on failure."""
    res = libc().mount(source.encode(), target.encode(),
                       fstype.encode() if fstype else None,
                       ctypes.c_ulong(flags),
                       data.encode() if data else None)
    if res != 0:
        err = ctypes.get_errno()
        raise OSError(err, strerror(err), target)


def sys_umount(target: str, flags: int = 0) -> None:
    """Call umount2(2); raise OSError on failure."""
    if libc().umount2(target.encode(), flags) != 0:
        err = ctypes.get_errno()
        raise OSError(err, strerror(err), target)


# -- mount table -------------------------------------------------------

def _unescape(field: str) -> str:
    return re.sub(r'\\([0-7]{3})', lambda m: chr(int(m.group(1), 8)),
                  field)


def unescape_mount(field: str) -> str:
    """A /proc/mounts path field as a path (octal escapes, UTF-8)."""
    raw = re.sub(rb'\\([0-7]{3})', lambda m: bytes([int(m.group(1), 8)]),
                 field.encode('utf-8', 'surrogateescape'))
    return raw.decode('utf-8', 'surrogateescape')


def mountinfo() -> typing.List[dict]:
    """Parse /proc/self/mountinfo into dicts (root, mountpoint, fstype)."""
    entries = []
    with open('/proc/self/mountinfo', encoding='utf-8') as handle:
        for line in handle:
            left, _, right = line.partition(' - ')
            fields = left.split()
            rfields = right.split()
            entries.append({
                'root': _unescape(fields[3]),
                'mountpoint': _unescape(fields[4]),
                'options': fields[5],
                'fstype': rfields[0] if rfields else '',
                'source': _unescape(rfields[1]) if len(rfields) > 1 else '',
            })
    return entries


def mounted_points() -> typing.Set[str]:
    """Return the set of current mount points."""
    return {e['mountpoint'] for e in mountinfo()}


def mounts_path() -> str:
    """Return the path of the mount records."""
    return os.path.join(state_dir(), 'mounts.json')


def active_mounts(lock: bool = True) -> typing.Dict[str, dict]:
    """Return mount records that are still in the mount table.

    Records of shares unmounted behind the emulator's back (plain
    ``umount``) are dropped here, so the state never lies for long.
    """
    ctx = locked() if lock else contextlib.nullcontext()
    with ctx:
        records = read_json(mounts_path(), {})
        points = mounted_points()
        alive = {mp: rec for mp, rec in records.items() if mp in points}
        if alive != records:
            write_json(mounts_path(), alive)
    return alive


class Target(typing.NamedTuple):
    """Where a user-supplied path lives in the emulation."""

    fsname: str
    mountpoint: str         # printed by lfs df ("Mounted on")
    backing: str            # backing path of the given path
    record: typing.Optional[dict]


def resolve(path: str, cmd: str) -> Target:
    """Map a path to its emulated filesystem.

    A path under a share mounted by mount.lustre resolves through the
    mount records; a path inside a backing directory resolves too (an
    emulator convenience for tests that do not mount).  Anything else is
    not Lustre: ``lfs`` fails with ENOTTY like an ioctl on another fs.
    """
    real = os.path.realpath(path)
    best = None
    for mp, rec in active_mounts().items():
        if real == mp or real.startswith(mp.rstrip('/') + '/'):
            if best is None or len(mp) > len(best[0]):
                best = (mp, rec)
    if best is not None:
        mp, rec = best
        if rec.get('stale'):
            code = rec['stale']['errno']
            raise LustreError(code, "lfs %s: cannot access '%s': %s"
                              % (cmd, path, strerror(code)))
        rel = os.path.relpath(real, mp)
        backing = os.path.normpath(os.path.join(rec['backing'], rel))
        return Target(rec['fsname'], mp, backing, rec)
    base = os.path.realpath(os.path.join(root_dir(), 'fs'))
    if real.startswith(base + '/'):
        parts = os.path.relpath(real, base).split('/')
        if len(parts) >= 2 and parts[1] == 'root':
            return Target(parts[0], backing_root(parts[0]), real, None)
    raise NotLustre(errno.ENOTTY, "lfs %s: '%s' is not on a Lustre "
                    "filesystem: %s" % (cmd, path, strerror(errno.ENOTTY)))


def check_writable(target: Target, cmd: str) -> None:
    """Refuse changes through a read-only mount (EROFS)."""
    rec = target.record
    if rec and 'ro' in rec.get('options', []):
        raise LustreError(errno.EROFS, "lfs %s: '%s': %s" % (
            cmd, target.backing, strerror(errno.EROFS)))
