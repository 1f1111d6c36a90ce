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
import time
import typing
import zlib

from lustre_emu import common
from lustre_emu import layout as lay
from lustre_emu import versions

OST_BASE_KB = 1220      # an empty ldiskfs OST shows this much used
MDT_BASE_KB = 5924
MDT_INODE_KB = 4
MDT_KEY = -1            # usage of Data-on-MDT components
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
        if objs is None:
            continue
        end = size if comp['end'] == lay.EOF else min(comp['end'], size)
        span = max(end - comp['start'], 0)
        if comp is layout['components'][0] and span == 0:
            span = 1
        if comp.get('pattern') == 'mdt':
            shares.append((MDT_KEY, span))
            continue
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


class Usage(typing.NamedTuple):
    """What the files of a file system use on its targets."""

    ost_kb: typing.Dict[int, int]
    mdt_kb: int
    ost_objects: typing.Dict[int, int]
    mdt_inodes: int


def usage(fsname: str) -> Usage:
    """Return the KiB and objects per OST, KiB and inodes on the MDT.

    Data of a Data-on-MDT component counts on the MDT.

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
    objects: typing.Dict[int, int] = {}
    mdt = 0
    inodes = 0
    changed = False
    for dirpath, dirnames, filenames in os.walk(root):
        if dirpath != root:     # the root is part of the base figures
            try:
                mdt += os.lstat(dirpath).st_blocks // 2
            except FileNotFoundError:
                continue
            inodes += 1
        default_key = ''
        for name in filenames:
            path = os.path.join(dirpath, name)
            try:
                st = os.lstat(path)
            except FileNotFoundError:
                continue
            mdt += MDT_INODE_KB
            inodes += 1
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
                if int(ost) == MDT_KEY:
                    mdt += kb
                    continue
                per_ost[int(ost)] = per_ost.get(int(ost), 0) + kb
                objects[int(ost)] = objects.get(int(ost), 0) + 1
    if changed or len(files) != len(old):
        _write_cache(cache_path, {'config': config_stamp, 'files': files})
    return Usage(per_ost, mdt, objects, inodes)


def ratio(used: int, avail: int) -> int:
    """Use% as obd_statfs_ratio() computes it: rounded up, like df(1)."""
    if used + avail <= 0:
        return 0
    pct = used / (used + avail) * 100
    return int(pct) + (1 if pct - int(pct) > 0 else 0)


class Statfs(typing.NamedTuple):
    """One target's obd_statfs, blocks in KiB (os_bsize 1024)."""

    blocks: int
    bfree: int
    bavail: int
    files: int
    ffree: int
    state: str = ''


class Target(typing.NamedTuple):
    """One MDT or OST as llapi_obd_fstatfs() answers for it."""

    kind: str               # 'MDT' or 'OST'
    index: int
    uuid: str
    rc: int                 # 0, -ENODATA (inactive), -EAGAIN, -errno
    stat: Statfs


def backend_params(cfg: dict) -> dict:
    """Base use, reservation and inode density of the OSD.

    zfs: what the 2.17.0 transcript shows on fresh ZFS targets (MDT 3712
    KiB and OSTs 35840 KiB used, 2048 KiB neither used nor available,
    about 4.5 KiB per MDT inode and 32 KiB per OST inode, ~380 inodes in
    use).  ldiskfs: the LUSTRE_CLI.md sample (MDT 5924 KiB, OST 1220 KiB
    used; total - used - available is 8.5 % of an MDT and 6.3 % of an
    OST, the reserved blocks).
    """
    if cfg.get('backend') == 'zfs':
        return {'mdt_base': 3712, 'ost_base': 35840,
                'mdt_reserved': lambda total: 2048,
                'ost_reserved': lambda total: 2048,
                'mdt_inode_bytes': 4592, 'ost_inode_bytes': 32768,
                'mdt_inodes_base': 376, 'ost_inodes_base': 390}
    return {'mdt_base': MDT_BASE_KB, 'ost_base': OST_BASE_KB,
            'mdt_reserved': lambda total: total * 851840 // 10 ** 7,
            'ost_reserved': lambda total: total * 627123 // 10 ** 7,
            'mdt_inode_bytes': 2560, 'ost_inode_bytes': 65536,
            'mdt_inodes_base': 270, 'ost_inodes_base': 70}


def _statfs(total: int, used: int, reserved: int, inode_bytes: int,
            inodes_used: int, state: str) -> Statfs:
    used = min(used, total)
    bfree = total - used
    bavail = max(bfree - reserved, 0)
    ffree = bavail * 1024 // inode_bytes
    if not bavail and 'S' not in state:
        state += 'S'        # OS_STATFS_ENOSPC: the target is full
    return Statfs(total, bfree, bavail, inodes_used + ffree, ffree, state)


def wait_unhung(fsname: str, index: int) -> dict:
    """Block while an OST does not answer (as a statfs RPC waits).

    Without ``--lazy`` lfs df waits for an OST that is connected but not
    answering until it answers again; the emulator polls the fault.
    """
    while True:
        cfg = common.fs_config(fsname)
        ost = next(o for o in cfg['osts'] if o['index'] == index)
        if not ost.get('hung'):
            return cfg
        time.sleep(0.1)


def targets(fsname: str, lazy: bool) -> typing.List[Target]:
    """Every target's statfs, MDT first, as lfs df asks for them."""
    cfg = common.fs_config(fsname)
    params = backend_params(cfg)
    use = usage(fsname)
    out = []
    mdt_total = cfg['mdt_size_kb']
    out.append(Target('MDT', 0, '%s-MDT0000_UUID' % fsname, 0, _statfs(
        mdt_total, params['mdt_base'] + use.mdt_kb,
        params['mdt_reserved'](mdt_total), params['mdt_inode_bytes'],
        params['mdt_inodes_base'] + use.mdt_inodes, '')))
    for ost in cfg['osts']:
        idx = ost['index']
        uuid = '%s-OST%04x_UUID' % (fsname, idx)
        empty = Statfs(0, 0, 0, 0, 0)
        if not ost.get('active', True):
            out.append(Target('OST', idx, uuid, -errno.ENODATA, empty))
            continue
        if ost.get('hung'):
            if lazy:
                # LL_STATFS_NODELAY on a target that does not answer.
                out.append(Target('OST', idx, uuid, -errno.EAGAIN, empty))
                continue
            cfg = wait_unhung(fsname, idx)
            ost = next(o for o in cfg['osts'] if o['index'] == idx)
        if ost.get('statfs_errno'):
            out.append(Target('OST', idx, uuid, -int(ost['statfs_errno']),
                              empty))
            continue
        total = ost['size_kb']
        out.append(Target('OST', idx, uuid, 0, _statfs(
            total, params['ost_base'] + use.ost_kb.get(idx, 0),
            params['ost_reserved'](total), params['ost_inode_bytes'],
            params['ost_inodes_base'] + use.ost_objects.get(idx, 0),
            ost.get('state') or '')))
    return out


# lustre/utils/lfs.c oss_names[] (v2_12_9 .. v2_16_1; v2_17_0 looks the
# same names up with obd_statfs_state_name_find()): error states are shown
# always, informational ones (lower case) with -v.
STATE_ERR = 'DRNSI'
STATE_INFO = 'af'


def _cooked(value: int, si: bool, prof: versions.Profile) -> str:
    """lfs.c COOK() and HDF "%8.1f%c": bytes divided while > base."""
    base = 1000 if si else 1024
    suffix = 'kMGTPEZY' if si else 'KMGTPEZY'
    cook = float(value)
    radix = 0
    while cook > base:
        cook /= base
        radix += 1
    if radix == 0:
        text = '%11d' % value
    else:
        text = '%8.1f%c' % (cook, suffix[radix - 1])
    if prof.df_field_format:
        return text
    return '%11s' % text


def _value(kib_or_count: int, inodes: bool, human: bool, si: bool,
           prof: versions.Profile) -> str:
    if not human:
        return '%11d' % kib_or_count
    # Cooked block values are bytes (shift 0); inode counts stay counts.
    return _cooked(kib_or_count if inodes else kib_or_count * 1024, si,
                   prof)


def _line(prof: versions.Profile, cells: typing.List[str], pct: str,
          mnt: str) -> str:
    """Join a df line as the version prints it.

    v2_12_9..v2_16_1 showdf(): "%-20s %11s %11s %11s %4s %s" (one blank
    before the mount point); v2_17_0 showdf()/print_field_value(): each
    field followed by a blank and the mount point printed as " %s" (two
    blanks), cooked values as "%8.1f%c" without padding to 11.
    """
    if prof.df_field_format:
        return '%-20s %s %s %s %4s  %s' % (cells[0], cells[1], cells[2],
                                           cells[3], pct, mnt)
    return '%-20s %11s %11s %11s %4s %s' % (cells[0], cells[1], cells[2],
                                            cells[3], pct, mnt)


def header(prof: versions.Profile, inodes: bool, human: bool) -> str:
    """The first line of lfs df."""
    if inodes:
        names = ['UUID', 'Inodes', 'IUsed', 'IFree']
        pct = 'IUse%'
    else:
        names = ['UUID', 'bytes' if human else '1K-blocks', 'Used',
                 'Available']
        pct = 'Use%'
    cells = [names[0]] + ['%11s' % n for n in names[1:]]
    return _line(prof, cells, pct, 'Mounted on')


def row(prof: versions.Profile, uuid: str, st: Statfs, mnt: str,
        inodes: bool, human: bool, si: bool, verbose: bool) -> str:
    """One target's (or the summary's) line."""
    if inodes:
        total, used, avail = st.files, st.files - st.ffree, st.ffree
    else:
        total, used, avail = st.blocks, st.blocks - st.bfree, st.bavail
    cells = [uuid] + [_value(v, inodes, human, si, prof)
                      for v in (total, used, avail)]
    line = _line(prof, cells, '%3d%%' % ratio(used, avail), mnt)
    flags = ''.join(c for c in st.state
                    if c in STATE_ERR or (verbose and c in STATE_INFO))
    if st.state:
        line += ' ' + flags
    return line


def df(fsname: str, mountpoint: str, pool: typing.Optional[str],
       verbose: bool, human: bool, inodes: bool = False, si: bool = False,
       lazy: bool = False) -> typing.Tuple[str, int]:
    """One file system's lfs df block and its status (0 or -errno).

    lustre/utils/lfs.c mntdf() (v2_12_9 .. v2_17_0): MDT rows, OST rows
    (a pool keeps the MDT rows and its members), a blank line, the
    summary of the OSTs' blocks (and the MDTs' inodes, reduced to the
    OSTs' free objects when fewer), a blank line.  An inactive OST is
    skipped (-v: "UUID : inactive device"); a target that does not answer
    a lazy statfs (EAGAIN) is skipped; a statfs error prints "UUID :
    strerror" and becomes the exit status after the summary.  The
    summary's blocks restart from zero at the first OST looked at, before
    the pool filter: an unknown pool gives the MDT rows, a zero summary
    and status 0.
    """
    prof = common.profile_of(fsname)
    poolname = pool
    lines = [header(prof, inodes, human)]
    rc = 0
    s_blocks = s_bfree = s_bavail = s_files = s_ffree = 0
    ost_files = ost_ffree = 0
    have_ost = False
    cfg = common.fs_config(fsname)
    for tgt in targets(fsname, lazy):
        if tgt.rc == -errno.EAGAIN:
            continue
        if tgt.rc == -errno.ENODATA:
            if not verbose:
                continue
        elif tgt.rc < 0 and rc == 0:
            rc = tgt.rc
        if tgt.kind == 'OST' and not have_ost:
            have_ost = True
            s_blocks = s_bfree = s_bavail = 0
        if poolname is not None and tgt.kind == 'OST' and \
                tgt.index not in cfg['pools'].get(poolname, ()):
            continue
        where = '%s[%s:%d]' % (mountpoint, tgt.kind, tgt.index)
        if tgt.rc == -errno.ENODATA:
            lines.append('%-20s: inactive device' % tgt.uuid)
            continue
        if tgt.rc < 0:
            lines.append('%-20s: %s' % (tgt.uuid,
                                        common.strerror(-tgt.rc)))
            continue
        lines.append(row(prof, tgt.uuid, tgt.stat, where, inodes, human,
                         si, verbose))
        st = tgt.stat
        if tgt.kind == 'MDT':
            s_files += st.files
            s_ffree += st.ffree
        else:
            ost_files += st.files
            ost_ffree += st.ffree
        s_blocks += st.blocks
        s_bfree += st.bfree
        s_bavail += st.bavail
    if ost_files and ost_ffree < s_ffree:
        s_files = (s_files - s_ffree) + ost_ffree
        s_ffree = ost_ffree
    summary = Statfs(s_blocks, s_bfree, s_bavail, s_files, s_ffree)
    lines.append('')
    lines.append(row(prof, 'filesystem_summary:', summary, mountpoint,
                     inodes, human, si, verbose))
    lines.append('')
    return '\n'.join(lines) + '\n', rc


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
#
# quota.json: {"<id>": {"bsoft", "bhard", "isoft", "ihard"} (KiB / inodes),
#              "default": {...} (lfs setquota -P), "btime"/"itime":
#              {"<id>": epoch when the soft limit was first exceeded},
#              "grace": {"block": s, "inode": s}}

LIMIT_KEYS = ('bsoft', 'bhard', 'isoft', 'ihard')
DEFAULT_GRACE = 7 * 24 * 3600       # MAX_DQ_TIME, a week


def quota_path(fsname: str) -> str:
    """Where project limits are kept."""
    return os.path.join(common.fs_dir(fsname), 'quota.json')


def _read(fsname: str) -> dict:
    return common.read_json(quota_path(fsname), {})


def own_limits(fsname: str, prj: int) -> typing.Dict[str, int]:
    """Limits set for one project itself (zeros when unset)."""
    limits = _read(fsname).get(str(prj), {})
    return {k: int(limits.get(k, 0)) for k in LIMIT_KEYS}


def default_limits(fsname: str) -> typing.Dict[str, int]:
    """The default project quota (lfs setquota -P), zeros when unset."""
    limits = _read(fsname).get('default', {})
    return {k: int(limits.get(k, 0)) for k in LIMIT_KEYS}


def get_limits(fsname: str, prj: int) -> typing.Dict[str, int]:
    """The limits the quota master applies to a project."""
    return effective_limits(fsname, prj)[0]


def effective_limits(fsname: str, prj: int) -> typing.Tuple[
        typing.Dict[str, int], bool]:
    """(limits, uses the default) as the quota master answers.

    An id without limits of its own gets the default project quota (the
    server flags that with LQUOTA_FLAG_DEFAULT in the grace times); the
    default is stored as id 0's limits, so id 0 answers with it.
    """
    own = own_limits(fsname, prj)
    default = default_limits(fsname)
    if prj == 0:
        return default, False
    if not any(own.values()) and any(default.values()) and \
            str(prj) not in _read(fsname).get('explicit', {}):
        return default, True
    return own, False


def set_limits(fsname: str, prj: int, **limits: int) -> None:
    """Update some limits of one project.

    Setting limits makes them the id's own, even zeros while a default
    exists (``explicit``: lustre/quota/qmt_handler.c qmt_set_with_lqe()
    clears lqe_is_default on an explicit setting, v2_15_4);
    ``lfs setquota -d`` (use_default) drops them.
    """
    with common.locked():
        data = _read(fsname)
        cur = data.setdefault(str(prj), {})
        cur.update(limits)
        data.setdefault('explicit', {})[str(prj)] = True
        common.write_json(quota_path(fsname), data)


def use_default(fsname: str, prj: int) -> None:
    """lfs setquota -d: the id follows the default quota again."""
    with common.locked():
        data = _read(fsname)
        data.pop(str(prj), None)
        data.setdefault('explicit', {}).pop(str(prj), None)
        common.write_json(quota_path(fsname), data)


def set_default(fsname: str, **limits: int) -> None:
    """lfs setquota -P: the default project quota."""
    with common.locked():
        data = _read(fsname)
        data.setdefault('default', {}).update(limits)
        common.write_json(quota_path(fsname), data)


def grace(fsname: str) -> typing.Dict[str, int]:
    """Block and inode grace periods in seconds."""
    data = _read(fsname).get('grace', {})
    return {'block': int(data.get('block', DEFAULT_GRACE)),
            'inode': int(data.get('inode', DEFAULT_GRACE))}


def _grace_time(fsname: str, prj: int, which: str, used: int, soft: int,
                now: float) -> int:
    """The epoch a soft-limit grace ends (0: not over the soft limit).

    The quota master starts the timer when usage first exceeds the soft
    limit; the emulator notices it when it is asked.
    """
    key = 'btime' if which == 'block' else 'itime'
    with common.locked():
        data = _read(fsname)
        times = data.setdefault(key, {})
        if soft and used > soft:
            if str(prj) not in times:
                times[str(prj)] = int(now) + grace(fsname)[which]
                common.write_json(quota_path(fsname), data)
            return int(times[str(prj)])
        if str(prj) in times:
            del times[str(prj)]
            common.write_json(quota_path(fsname), data)
    return 0


def over(used: int, soft: int, hard: int) -> int:
    """0 within limits, 1 over the hard limit, 2 over the soft one."""
    if hard and used >= hard:
        return 1
    if soft and used > soft:
        return 2
    return 0


def _verdict(used: int, soft: int, hard: int, when: int, now: float) -> int:
    """lfs.c print_quota() bover/iover: 1 hard, 2 in grace, 3 expired."""
    if hard and used >= hard:
        return 1
    if soft and when:
        return 2 if when > now else 3
    return 0


def sec2str(seconds: int) -> str:
    """lfs.c __sec2str(): "1w2d3h4m5s" with zero units left out."""
    out = ''
    for unit, mult in (('w', 604800), ('d', 86400), ('h', 3600),
                       ('m', 60), ('s', 1)):
        count = seconds // mult
        if count > 0 or (unit == 's' and not out):
            out += '%d%s' % (count, unit)
        seconds %= mult
    return out


def _diff2str(when: int, now: float) -> str:
    if not when:
        return ''
    if when <= now:
        return 'none'
    return sec2str(int(when - now))


class QuotaRow(typing.NamedTuple):
    """One id's usage, limits and grace state on one file system."""

    kb: int
    inodes: int
    limits: typing.Dict[str, int]
    uses_default: bool
    bover: int
    iover: int
    btime: str
    itime: str


def quota_row(fsname: str, prj: int, now: typing.Optional[float] = None
              ) -> QuotaRow:
    """What the quota master answers for a project id."""
    now = time.time() if now is None else now
    kb, inodes = project_usage(fsname, prj)
    lim, uses_default = effective_limits(fsname, prj)
    btime = _grace_time(fsname, prj, 'block', kb, lim['bsoft'], now)
    itime = _grace_time(fsname, prj, 'inode', inodes, lim['isoft'], now)
    bover = _verdict(kb, lim['bsoft'], lim['bhard'], btime, now)
    iover = _verdict(inodes, lim['isoft'], lim['ihard'], itime, now)
    return QuotaRow(kb, inodes, lim, uses_default, bover, iover,
                    _diff2str(btime, now) if bover > 1 else '-',
                    _diff2str(itime, now) if iover > 1 else '-')


def quota_title(prof: versions.Profile, name: str, prj: int) -> str:
    """Title and column header of ``lfs quota -p``.

    v2_12_9..v2_15_4 lfs.c print_quota_title(): "%15s%8s %7s%8s%8s%8s
    %7s%8s%8s"; v2_16_1: "%16s %7s %7s %7s %7s %7s %7s %7s %7s"; v2_17_0
    print_quota_val(): "%15s " then "%7s " per column with the b/i
    prefixed names (a trailing blank).
    """
    title = 'Disk quotas for prj %s (pid %u):\n' % (name, prj)
    if prof.quota_layout == 'v212':
        head = '%15s%8s %7s%8s%8s%8s %7s%8s%8s' % (
            'Filesystem', 'kbytes', 'quota', 'limit', 'grace', 'files',
            'quota', 'limit', 'grace')
    elif prof.quota_layout == 'v216':
        head = '%16s %7s %7s %7s %7s %7s %7s %7s %7s' % (
            'Filesystem', 'kbytes', 'quota', 'limit', 'grace', 'files',
            'quota', 'limit', 'grace')
    else:
        head = '%15s ' % 'Filesystem' + ''.join('%7s ' % n for n in (
            'kbytes', 'bquota', 'blimit', 'bgrace', 'files', 'iquota',
            'ilimit', 'igrace'))
    return title + head + '\n'


def quota_line(prof: versions.Profile, mnt: str, qrow: QuotaRow,
               prj: int) -> str:
    """The row of one file system in ``lfs quota -p``.

    v2_12_9..v2_15_4 print_quota(): a mount point longer than 15 on its
    own line, then " %7s%c %6s %7s %7s" for blocks and inodes ('*' after
    an exceeded value); v2_16_1: "%16s" then the same; v2_17_0:
    print_quota_val() "%*s " per column, "%6s* " for an exceeded value
    (the inode column uses the block verdict).  Up to v2_16_1 id 0's
    limits are shown as 0.
    """
    lim = dict(qrow.limits)
    if prj == 0 and prof.quota_hides_root_limits:
        lim = {k: 0 for k in LIMIT_KEYS}
    if prof.quota_layout == 'fields':
        def cell(val: str, star: bool) -> str:
            return '%6s* ' % val if star else '%7s ' % val
        istar = qrow.bover if prof.quota_inode_star_from_blocks \
            else qrow.iover
        return ('%15s ' % mnt + cell(str(qrow.kb), bool(qrow.bover)) +
                cell(str(lim['bsoft']), False) +
                cell(str(lim['bhard']), False) +
                cell(qrow.btime, False) +
                cell(str(qrow.inodes), bool(istar)) +
                cell(str(lim['isoft']), False) +
                cell(str(lim['ihard']), False) +
                cell(qrow.itime, False) + '\n')
    if prof.quota_layout == 'v216':
        head = '%16s' % mnt
    else:
        head = ('%s\n%15s' % (mnt, '')) if len(mnt) > 15 else '%15s' % mnt
    return (head + ' %7s%c %6s %7s %7s' % (
        qrow.kb, '*' if qrow.bover else ' ', lim['bsoft'], lim['bhard'],
        qrow.btime) + ' %7s%c %6s %7s %7s' % (
        qrow.inodes, '*' if qrow.iover else ' ', lim['isoft'],
        lim['ihard'], qrow.itime) + '\n')


def default_lines(prof: versions.Profile, qrow: QuotaRow, prj: int) -> str:
    """v2_12_9..v2_15_4 get_print_quota(): the "using default" notes."""
    if not (prof.quota_default_lines and qrow.uses_default):
        return ''
    return ('pid %u is using default block quota setting\n'
            'pid %u is using default file quota setting\n' % (prj, prj))


def format_default(prof: versions.Profile, fsname: str, mnt: str) -> str:
    """``lfs quota -P MNT``: the default project quota."""
    lim = default_limits(fsname)
    per = grace(fsname)
    out = 'Disk default prj quota:\n'
    if prof.quota_layout == 'v212':
        out += '%15s %8s%8s%8s %8s%8s%8s\n' % (
            'Filesystem', 'bquota', 'blimit', 'bgrace', 'iquota', 'ilimit',
            'igrace')
        out += ('%15s' % mnt + ' %6s %7s %7s' % (
            lim['bsoft'], lim['bhard'], per['block']) + ' %6s %7s %7s' % (
            lim['isoft'], lim['ihard'], per['inode']) + '\n')
    elif prof.quota_layout == 'v216':
        out += '%16s %7s %7s %7s %7s %7s %7s\n' % (
            'Filesystem', 'bquota', 'blimit', 'bgrace', 'iquota', 'ilimit',
            'igrace')
        out += ('%16s' % mnt + ' %7s %7s %7s' % (
            lim['bsoft'], lim['bhard'], per['block']) + ' %7s %7s %7s' % (
            lim['isoft'], lim['ihard'], per['inode']) + '\n')
    else:
        out += '%15s ' % 'Filesystem' + ''.join('%7s ' % n for n in (
            'bquota', 'blimit', 'bgrace', 'iquota', 'ilimit', 'igrace'))
        out += '\n%15s ' % mnt + ''.join('%7s ' % v for v in (
            lim['bsoft'], lim['bhard'], per['block'], lim['isoft'],
            lim['ihard'], per['inode'])) + '\n'
    return out


def exceeded(fsname: str) -> typing.List[str]:
    """Human lines for every project over a hard or soft limit."""
    out = []
    data = _read(fsname)
    ids = {int(k) for k in data if k.isdigit()}
    if any(default_limits(fsname).values()):
        ids |= {prj for prj in all_projects(fsname) if prj}
    for prj in sorted(ids):
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


def all_projects(fsname: str) -> typing.Set[int]:
    """Every project id carried by something in the file system."""
    root = common.backing_root(fsname)
    found = set()
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            path = os.path.join(dirpath, name)
            if not os.path.islink(path):
                found.add(effective_project(path, fsname)[0])
    return found


def dump(obj: typing.Any) -> str:
    """JSON for status output."""
    return json.dumps(obj, indent=2, sort_keys=True)
