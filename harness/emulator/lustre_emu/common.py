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

DEFAULT_ROOT = '/var/lib/lustre-emulator'
DEFAULT_VERSION = '2.15.4'
KNOWN_FEATURES = ('project_quota', 'fallocate')

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
    the exit status, as the real tools do.
    """

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


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
        'stripe_count': 1, 'stripe_size': 1048576,
        'stripe_offset': -1, 'pool': None})
    cfg.setdefault('version', None)
    return cfg


def save_fs_config(cfg: dict) -> None:
    """Persist one filesystem's configuration."""
    write_json(os.path.join(fs_dir(cfg['name']), 'config.json'), cfg)


def version_of(fsname: typing.Optional[str] = None) -> str:
    """Return the emulated lfs version (per filesystem override first)."""
    if fsname:
        try:
            ver = fs_config(fsname).get('version')
        except LustreError:
            ver = None
        if ver:
            return ver
    return global_config()['version']


def version_tuple(version: str) -> typing.Tuple[int, ...]:
    """Turn ``2.15.4`` into ``(2, 15, 4)``."""
    return tuple(int(p) for p in re.findall(r'\d+', version)[:3])


# -- sizes and errnos --------------------------------------------------

_SUFFIX = {'': 0, 'k': 1, 'm': 2, 'g': 3, 't': 4, 'p': 5, 'e': 6}


def parse_size(text: str, default_unit: int = 1) -> int:
    """Parse ``4M``/``10G``/``65536`` (base 1024) into bytes.

    A bare number is multiplied by ``default_unit`` (1 for byte values,
    1024 for quota limits given in KiB).
    """
    match = re.fullmatch(r'(\d+)([kKmMgGtTpPeE]?)[bB]?', text.strip())
    if not match:
        raise ValueError(text)
    number = int(match.group(1))
    suffix = match.group(2).lower()
    if not suffix:
        return number * default_unit
    return number * (1024 ** _SUFFIX[suffix])


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
    raise LustreError(errno.ENOTTY, "lfs %s: '%s' is not on a Lustre "
                      "filesystem: %s" % (cmd, path, strerror(errno.ENOTTY)))


def check_writable(target: Target, cmd: str) -> None:
    """Refuse changes through a read-only mount (EROFS)."""
    rec = target.record
    if rec and 'ro' in rec.get('options', []):
        raise LustreError(errno.EROFS, "lfs %s: '%s': %s" % (
            cmd, target.backing, strerror(errno.EROFS)))
