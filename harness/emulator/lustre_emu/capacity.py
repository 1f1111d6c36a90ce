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

"""Capacity (``lfs df``), projects and project quotas.

Usage is real: every regular file's allocated blocks (``st_blocks``) are
spread over the OST objects of its layout (per component, in proportion
to the bytes of the file each component covers; evenly over a
component's stripes), so OST rows and pool summaries always add up and
free space shrinks as files are written.  Directories and inodes count
on the MDT.  Sizes come from the filesystem config, not from the disk.
"""

import errno
import json
import os
import stat
import typing
import zlib

from lustre_emu import common
from lustre_emu import layout as lay

OST_BASE_KB = 1220      # an empty ldiskfs OST shows this much used
MDT_BASE_KB = 5924
MDT_INODE_KB = 4
XA_PROJECT = 'user.lustre.project'


def _split(total: int, weights: typing.List[float]) -> typing.List[int]:
    """Split an integer in proportion to weights; the parts add up."""
    if not weights:
        return []
    wsum = sum(weights) or 1.0
    parts = [int(total * w / wsum) for w in weights]
    parts[0] += total - sum(parts)
    return parts


def file_ost_usage(backing: str, st: os.stat_result,
                   fsname: str) -> typing.Dict[int, int]:
    """KiB of one file per OST index."""
    kb = st.st_blocks // 2
    layout = lay.effective(backing, fsname, persist=False)
    shares: typing.List[typing.Tuple[int, float]] = []
    size = max(st.st_size, 1)
    for comp in layout['components']:
        objs = comp.get('objects')
        if not objs:
            continue
        end = size if comp['end'] == lay.EOF else min(comp['end'], size)
        span = max(end - comp['start'], 0)
        if comp is layout['components'][0] and span == 0:
            span = 1
        for ost, _objid in objs:
            shares.append((ost, span / len(objs)))
    usage: typing.Dict[int, int] = {}
    parts = _split(kb, [w for _o, w in shares])
    for (ost, _w), part in zip(shares, parts):
        usage[ost] = usage.get(ost, 0) + part
    return usage


def _cache_path(fsname: str) -> str:
    return os.path.join(common.fs_dir(fsname), 'usage-cache.json')


def _write_cache(path: str, cache: dict) -> None:
    """Replace the cache atomically; compact, it is read on every df."""
    tmp = '%s.tmp.%d' % (path, os.getpid())
    try:
        with open(tmp, 'w', encoding='utf-8') as handle:
            json.dump(cache, handle, separators=(',', ':'))
        os.replace(tmp, path)
    except OSError:
        # Only a cache: the next df recomputes what it lacks.
        if os.path.exists(tmp):
            os.unlink(tmp)


def _file_key(st: os.stat_result, default_key: str) -> typing.List[typing.Any]:
    """What a file's per-OST usage depends on, as the cache compares it.

    Writing data changes size, blocks or mtime; a new layout (setstripe,
    migrate) changes ctime; a file without a layout of its own follows
    its directory's default, whose checksum is part of the key.
    """
    return [st.st_ino, st.st_size, st.st_blocks, st.st_mtime_ns,
            st.st_ctime_ns, default_key]


def usage(fsname: str) -> typing.Tuple[typing.Dict[int, int], int]:
    """Return (KiB used per OST from files, KiB used on the MDT).

    Real Lustre sums the OSTs' own counters: ``lfs df`` costs the same
    for ten files or a million.  The emulator has to look at the files,
    but it only lstat()s them: the per-OST split of a file (its layout
    xattrs, the expensive part) is cached in ``usage-cache.json`` next to
    the file system's config and recomputed only for files whose key
    (``_file_key``) changed, so a refresh over 10,000 unchanged volume
    files stays in the tens of milliseconds and does not distort what is
    measured on top of it.  A file deleted during the walk is skipped.
    """
    root = common.backing_root(fsname)
    cache_path = _cache_path(fsname)
    try:
        config_stamp = os.stat(os.path.join(common.fs_dir(fsname),
                                            'config.json')).st_mtime_ns
    except FileNotFoundError:
        config_stamp = 0
    try:
        cache = common.read_json(cache_path, {})
    except ValueError:
        cache = {}
    old = (cache.get('files', {})
           if cache.get('config') == config_stamp else {})
    files: typing.Dict[str, typing.List[typing.Any]] = {}
    per_ost: typing.Dict[int, int] = {}
    mdt = MDT_BASE_KB
    changed = False
    for dirpath, dirnames, filenames in os.walk(root):
        try:
            mdt += os.lstat(dirpath).st_blocks // 2
        except FileNotFoundError:
            continue
        default_key = ''
        for name in filenames:
            path = os.path.join(dirpath, name)
            try:
                st = os.lstat(path)
            except FileNotFoundError:
                continue
            mdt += MDT_INODE_KB
            if not stat.S_ISREG(st.st_mode):
                continue
            if not default_key:
                default_key = '%08x' % zlib.crc32(json.dumps(
                    lay.dir_default(dirpath, fsname),
                    sort_keys=True).encode())
            key = _file_key(st, default_key)
            entry = old.get(path)
            if entry is None or entry[0] != key:
                try:
                    split = file_ost_usage(path, st, fsname)
                except FileNotFoundError:
                    continue
                entry = [key, {str(o): kb for o, kb in split.items()}]
                changed = True
            files[path] = entry
            for ost, kb in entry[1].items():
                per_ost[int(ost)] = per_ost.get(int(ost), 0) + kb
    if changed or len(files) != len(old):
        _write_cache(cache_path, {'config': config_stamp, 'files': files})
    return per_ost, mdt


def ratio(used: int, avail: int) -> int:
    """Use% rounded up, as lfs (and df) print it."""
    if used + avail <= 0:
        return 0
    pct = used * 100 / (used + avail)
    return int(pct) + (1 if pct > int(pct) else 0)


def _cook(kib: int) -> str:
    value = float(kib * 1024)
    idx = 0
    while value >= 1024 and idx < 8:
        value /= 1024
        idx += 1
    if idx == 0:
        return '%11d' % int(value)
    return '%10.1f%s' % (value, 'BKMGTPEZY'[idx])


def _row(uuid: str, total: int, used: int, avail: int, mnt: str,
         human: bool) -> str:
    fmt = _cook if human else (lambda v: '%11d' % v)
    return '%-20s %s %s %s %4s %s' % (
        uuid, fmt(total), fmt(used), fmt(avail),
        '%3d%%' % ratio(used, avail), mnt)


def df(fsname: str, mountpoint: str, pool: typing.Optional[str],
       verbose: bool, human: bool) -> str:
    """One filesystem's ``lfs df`` block."""
    cfg = common.fs_config(fsname)
    if pool is not None and pool not in cfg['pools']:
        raise common.LustreError(
            errno.ENOENT, "lfs df: pool '%s.%s' does not exist"
            % (fsname, pool))
    per_ost, mdt_used = usage(fsname)
    mdt_total = cfg['mdt_size_kb']
    lines = ['%-20s %11s %11s %11s %4s %s' % (
        'UUID', '1K-blocks', 'Used', 'Available', 'Use%', 'Mounted on')]
    lines.append(_row('%s-MDT0000_UUID' % fsname, mdt_total, mdt_used,
                      max(mdt_total - mdt_used, 0),
                      '%s[MDT:0]' % mountpoint, human))
    tot = used_sum = avail_sum = 0
    members = cfg['pools'][pool] if pool is not None else None
    for ost in cfg['osts']:
        idx = ost['index']
        if members is not None and idx not in members:
            continue
        uuid = '%s-OST%04x_UUID' % (fsname, idx)
        if not ost.get('active', True):
            if verbose:
                lines.append('%-20s: inactive device' % uuid)
            continue
        used = OST_BASE_KB + per_ost.get(idx, 0)
        avail = max(ost['size_kb'] - used, 0)
        tot += ost['size_kb']
        used_sum += used
        avail_sum += avail
        lines.append(_row(uuid, ost['size_kb'], used, avail,
                          '%s[OST:%d]' % (mountpoint, idx), human))
    lines.append('')
    lines.append(_row('filesystem_summary:', tot, used_sum, avail_sum,
                      mountpoint, human))
    lines.append('')
    return '\n'.join(lines) + '\n'


# -- projects ----------------------------------------------------------

def get_project(path: str) -> typing.Optional[typing.Tuple[int, bool]]:
    """Project id and inherit flag stored on a path, or None."""
    val = lay.get_xattr_json(path, XA_PROJECT)
    if val is None:
        return None
    return int(val['id']), bool(val.get('inherit'))


def set_project(path: str, prj: int, inherit: bool) -> None:
    """Store a project id and inherit flag."""
    lay.set_xattr_json(path, XA_PROJECT, {'id': prj, 'inherit': inherit})


def effective_project(path: str, fsname: str) -> typing.Tuple[int, bool]:
    """Project of a path; untagged entries take an inheriting parent's.

    Real Lustre assigns the id when the entry is created in a directory
    with the inherit flag; the emulator cannot see creations, so it
    derives the same answer lazily.
    """
    own = get_project(path)
    if own is not None:
        return own
    root = os.path.realpath(common.backing_root(fsname))
    real = os.path.realpath(path)
    if real == root:
        return 0, False
    parent_id, parent_inherit = effective_project(os.path.dirname(real),
                                                  fsname)
    if parent_inherit:
        return parent_id, os.path.isdir(real)
    return 0, False


def project_usage(fsname: str, prj: int) -> typing.Tuple[int, int]:
    """(KiB allocated, inodes) of everything carrying project ``prj``."""
    root = common.backing_root(fsname)
    kb = inodes = 0
    eff: typing.Dict[str, typing.Tuple[int, bool]] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        if dirpath == root:
            eff[dirpath] = get_project(dirpath) or (0, False)
        here = eff[dirpath]
        for name in dirnames + filenames:
            path = os.path.join(dirpath, name)
            own = get_project(path) if not os.path.islink(path) else None
            if own is None:
                isdir = name in dirnames
                own = (here[0], isdir) if here[1] else (0, False)
            if name in dirnames:
                eff[path] = own
            if own[0] == prj:
                kb += os.lstat(path).st_blocks // 2
                inodes += 1
    return kb, inodes


# -- quota -------------------------------------------------------------

def quota_path(fsname: str) -> str:
    """Where project limits are kept."""
    return os.path.join(common.fs_dir(fsname), 'quota.json')


def get_limits(fsname: str, prj: int) -> typing.Dict[str, int]:
    """Limits of one project (KiB / inodes), zeros when unset."""
    limits = common.read_json(quota_path(fsname), {}).get(str(prj), {})
    return {k: int(limits.get(k, 0))
            for k in ('bsoft', 'bhard', 'isoft', 'ihard')}


def set_limits(fsname: str, prj: int, **limits: int) -> None:
    """Update some limits of one project."""
    with common.locked():
        data = common.read_json(quota_path(fsname), {})
        cur = data.setdefault(str(prj), {})
        cur.update(limits)
        common.write_json(quota_path(fsname), data)


def over(used: int, soft: int, hard: int) -> int:
    """0 within limits, 1 over the hard limit, 2 over the soft one."""
    if hard and used >= hard:
        return 1
    if soft and used > soft:
        return 2
    return 0


def format_quota(fsname: str, prj: int, mnt: str) -> str:
    """``lfs quota -p ID MNT`` output."""
    kb, inodes = project_usage(fsname, prj)
    lim = get_limits(fsname, prj)
    lines = ['Disk quotas for prj %d (pid %d):' % (prj, prj),
             '%15s%8s %7s%8s%8s%8s %7s%8s%8s' % (
                 'Filesystem', 'kbytes', 'quota', 'limit', 'grace',
                 'files', 'quota', 'limit', 'grace')]
    head = ('%s\n%15s' % (mnt, '')) if len(mnt) > 15 else '%15s' % mnt
    bover = over(kb, lim['bsoft'], lim['bhard'])
    iover = over(inodes, lim['isoft'], lim['ihard'])
    row = head
    row += ' %7s%c %6d %7d %7s' % (kb, '*' if bover else ' ', lim['bsoft'],
                                   lim['bhard'], 'none' if bover == 2
                                   else '-')
    row += ' %7s%c %6d %7d %7s' % (inodes, '*' if iover else ' ',
                                   lim['isoft'], lim['ihard'],
                                   'none' if iover == 2 else '-')
    lines.append(row)
    return '\n'.join(lines) + '\n'


def exceeded(fsname: str) -> typing.List[str]:
    """Human lines for every project over a hard or soft limit."""
    out = []
    data = common.read_json(quota_path(fsname), {})
    for key in sorted(data, key=int):
        prj = int(key)
        lim = get_limits(fsname, prj)
        kb, inodes = project_usage(fsname, prj)
        if over(kb, lim['bsoft'], lim['bhard']):
            out.append('%s prj %d: %d KiB used, limit %d/%d KiB'
                       % (fsname, prj, kb, lim['bsoft'], lim['bhard']))
        if over(inodes, lim['isoft'], lim['ihard']):
            out.append('%s prj %d: %d inodes, limit %d/%d'
                       % (fsname, prj, inodes, lim['isoft'],
                          lim['ihard']))
    return out


def dump(obj: typing.Any) -> str:
    """JSON for status output."""
    return json.dumps(obj, indent=2, sort_keys=True)
