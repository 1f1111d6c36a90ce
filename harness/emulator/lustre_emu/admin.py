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

"""``lustre-emulator``: set up, inspect, break and repair the emulation."""

import argparse
import errno
import os
import shutil
import subprocess
import sys
import typing

from lustre_emu import capacity
from lustre_emu import common
from lustre_emu import fusefault
from lustre_emu import share as share_mod
from lustre_emu import versions

HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
GIB = 1024 * 1024       # KiB in a GiB


def installed_path() -> str:
    """Where setup records what it installed."""
    return os.path.join(common.state_dir(), 'installed.json')


def _image(name: str) -> str:
    return os.path.join(common.fs_dir(name), 'osd.img')


def mount_image(name: str, size_kb: int) -> None:
    """Back a file system by an ext4 image without extents (loop mount).

    Real ZFS OSTs refuse fallocate (EOPNOTSUPP, the 2.17.0 transcript);
    a bind mount of the host's ext4 cannot.  ext4 refuses fallocate on
    files without the extents flag (fs/ext4/extents.c ext4_fallocate()),
    so a sparse image formatted with ``-O ^extent`` gives the same
    ``fallocate: fallocate failed: Operation not supported`` to every
    program while keeping user xattrs and SEEK_HOLE.  lost+found is
    removed: the file system's root must look empty.
    """
    image = _image(name)
    root = common.backing_root(name)
    os.makedirs(root, exist_ok=True)
    if not os.path.exists(image):
        with open(image, 'wb') as handle:
            handle.truncate(size_kb * 1024 + (256 << 20))
        features = '^extent,^64bit,^has_journal,^metadata_csum'
        subprocess.run(['mkfs.ext4', '-q', '-F', '-O', features, '-E',
                        'lazy_itable_init=1,nodiscard', '-m', '0', '-i',
                        '65536', image], check=True, capture_output=True)
    if not image_mounted(name):
        subprocess.run(['mount', '-t', 'ext4', '-o', 'loop', image, root],
                       check=True, capture_output=True)
        lost = os.path.join(root, 'lost+found')
        if os.path.isdir(lost) and not os.listdir(lost):
            os.rmdir(lost)


def image_mounted(name: str) -> bool:
    """Whether the file system's image is mounted on its root."""
    root = os.path.realpath(common.backing_root(name))
    return any(e['mountpoint'] == root and e['root'] == '/'
               and e['source'].startswith('/dev/loop')
               for e in common.mountinfo())


def umount_image(name: str) -> None:
    """Unmount a file system's image (the loop device goes with it)."""
    if image_mounted(name):
        subprocess.run(['umount', common.backing_root(name)], check=True,
                       capture_output=True)


def create_fs(name: str, osts: int, ost_size_kb: int,
              pools: typing.Dict[str, typing.List[int]],
              mdt_size_kb: int = GIB, features: typing.Optional[dict] = None,
              version: typing.Optional[str] = None,
              backend: str = 'ldiskfs') -> dict:
    """Create one emulated filesystem (config and backing directory).

    A zfs backend (or ``fallocate`` off) lives on a loop-mounted image
    that refuses fallocate, as ZFS OSTs do.
    """
    if not share_mod.FSNAME_RE.match(name):
        raise common.LustreError(errno.EINVAL, 'invalid fsname %r (1-8 '
                                 'letters, digits, _ or -)' % name)
    if name in common.list_filesystems():
        raise common.LustreError(errno.EEXIST, 'filesystem %s exists'
                                 % name)
    for pool, members in pools.items():
        bad = [i for i in members if not 0 <= i < osts]
        if bad or not members:
            raise common.LustreError(errno.EINVAL, 'pool %s: bad OST '
                                     'indices %s' % (pool, members))
    if backend not in common.BACKENDS:
        raise common.LustreError(errno.EINVAL, 'unknown backend %r'
                                 % backend)
    features = dict({'project_quota': True,
                     'fallocate': backend != 'zfs'}, **(features or {}))
    if backend == 'zfs':
        features['fallocate'] = False
    cfg = {
        'name': name,
        'mdt_size_kb': mdt_size_kb,
        'osts': [{'index': i, 'size_kb': ost_size_kb, 'active': True}
                 for i in range(osts)],
        'pools': pools,
        'features': features,
        'default_layout': {'stripe_count': 1, 'stripe_size': None,
                           'stripe_offset': -1, 'pool': None},
        'version': versions.canonical(version) if version else None,
        'backend': backend,
    }
    os.makedirs(common.backing_root(name), exist_ok=True)
    common.save_fs_config(cfg)
    if not features['fallocate']:
        try:
            mount_image(name, osts * ost_size_kb + mdt_size_kb)
        except (OSError, subprocess.CalledProcessError) as exc:
            shutil.rmtree(common.fs_dir(name), ignore_errors=True)
            raise common.LustreError(errno.EIO, 'cannot make the image of '
                                     '%s: %s' % (name, exc))
    return cfg


def install_links(sbin: str, bindir: str) -> typing.List[str]:
    """Symlink mount.lustre and lfs; return the links created now.

    A link the emulator installed before (recorded in installed.json),
    perhaps from another checkout, is pointed at this one; anything else
    in the way is left alone and refused.
    """
    links = [(os.path.join(sbin, 'mount.lustre'),
              os.path.join(HERE, 'mount.lustre')),
             (os.path.join(bindir, 'lfs'), os.path.join(HERE, 'lfs'))]
    ours = set(common.read_json(installed_path(), []))
    made = []
    for link, dest in links:
        if os.path.islink(link) and os.readlink(link) == dest:
            continue
        if os.path.islink(link) and link in ours:
            os.unlink(link)
        elif os.path.lexists(link):
            raise common.LustreError(errno.EEXIST, 'refusing to replace '
                                     '%s (not installed by the emulator)'
                                     % link)
        os.makedirs(os.path.dirname(link), exist_ok=True)
        os.symlink(dest, link)
        made.append(link)
    return made


def cmd_setup(args: argparse.Namespace) -> int:
    """Create root, default filesystems and install the tools."""
    os.makedirs(common.root_dir(), exist_ok=True)
    cfg = common.global_config()
    if args.version:
        cfg['version'] = _version(args.version)
    common.save_global_config(cfg)
    have = common.list_filesystems()
    if 'testfs' not in have:
        create_fs('testfs', 4, 16 * GIB, {'ssd': [0, 1], 'hdd': [2, 3]})
    if 'scratch' not in have:
        create_fs('scratch', 2, 4 * GIB, {})
    if not args.no_install:
        made = install_links(args.sbin_dir, args.bin_dir)
        with common.locked():
            rec = common.read_json(installed_path(), [])
            common.write_json(installed_path(), sorted(set(rec + made)))
    print('lustre emulator ready in %s' % common.root_dir())
    return 0


def _unmount(mp: str, rec: dict, lazy: bool) -> None:
    stale = rec.get('stale') or {}
    flags = common.MNT_DETACH if (lazy or stale) else 0
    common.sys_umount(mp, flags)
    fusefault.kill_daemon(stale.get('pid'))


def cmd_teardown(args: argparse.Namespace) -> int:
    """Unmount every emulated share and remove what setup installed."""
    rc = 0
    for mp, rec in sorted(common.active_mounts().items(), reverse=True):
        try:
            _unmount(mp, rec, lazy=True)
        except OSError as exc:
            sys.stderr.write('umount %s: %s\n' % (mp, exc.strerror))
            rc = exc.errno or errno.EIO
    common.active_mounts()
    for name in common.list_filesystems():
        try:
            umount_image(name)
        except subprocess.CalledProcessError as exc:
            sys.stderr.write('umount image of %s: %s\n' % (
                name, exc.stderr.decode(errors='replace').strip()))
            rc = errno.EBUSY
    dest = {os.path.join(HERE, n) for n in ('mount.lustre', 'lfs')}
    for link in common.read_json(installed_path(), []):
        if os.path.islink(link) and os.readlink(link) in dest:
            os.unlink(link)
    common.write_json(installed_path(), [])
    if args.purge and not rc:
        root = os.path.realpath(common.root_dir())
        busy = [e['mountpoint'] for e in common.mountinfo()
                if e['mountpoint'].startswith(root + '/')]
        if busy:
            sys.stderr.write('not purging, still mounted: %s\n' % busy)
            return errno.EBUSY
        shutil.rmtree(root)
    return rc


def cmd_status(args: argparse.Namespace) -> int:
    """Print configuration, mounts, faults and installed files (JSON)."""
    data = {
        'root': common.root_dir(),
        'config': common.global_config(),
        'filesystems': {n: common.fs_config(n)
                        for n in common.list_filesystems()},
        'mounts': common.active_mounts(),
        'faults': common.read_json(
            os.path.join(common.state_dir(), 'faults.json'), {}),
        'installed': common.read_json(installed_path(), []),
    }
    print(capacity.dump(data))
    return 0


def cmd_add_fs(args: argparse.Namespace) -> int:
    """Add a filesystem."""
    pools: typing.Dict[str, typing.List[int]] = {}
    for spec in args.pool or []:
        name, _sep, idx = spec.partition(':')
        try:
            pools[name] = [int(i) for i in idx.split(',') if i]
        except ValueError:
            raise common.LustreError(errno.EINVAL, 'bad pool %r' % spec)
    create_fs(args.name, args.osts, common.parse_size(args.ost_size) //
              1024, pools, common.parse_size(args.mdt_size) // 1024,
              {'project_quota': not args.no_project_quota,
               'fallocate': not (args.no_fallocate or
                                 args.backend == 'zfs')},
              _version(args.version) if args.version else None,
              args.backend)
    return 0


def _version(text: str) -> str:
    try:
        return versions.canonical(text)
    except ValueError as exc:
        raise common.LustreError(errno.EINVAL, str(exc))


def _record(mp: str) -> typing.Tuple[str, dict]:
    real = os.path.realpath(mp)
    rec = common.active_mounts().get(real)
    if rec is None:
        raise common.LustreError(errno.ENOENT, '%s is not mounted by the '
                                 'emulator' % mp)
    return real, rec


def _save_record(mp: str, rec: typing.Optional[dict]) -> None:
    with common.locked():
        records = common.read_json(common.mounts_path(), {})
        if rec is None:
            records.pop(mp, None)
        else:
            records[mp] = rec
        common.write_json(common.mounts_path(), records)


def cmd_fault(args: argparse.Namespace) -> int:
    """Inject a fault."""
    path = os.path.join(common.state_dir(), 'faults.json')
    if args.kind == 'stale':
        mp, rec = _record(args.target)
        if rec.get('stale'):
            raise common.LustreError(errno.EALREADY, '%s is already stale'
                                     % mp)
        code = common.parse_errno(args.errno or 'ENOTCONN')
        pid = fusefault.make_stale(mp, rec['source'], code)
        rec['stale'] = {'errno': code, 'pid': pid}
        _save_record(mp, rec)
        return 0
    if args.kind in ('mgs-down', 'mgs-up'):
        cfg = common.global_config()
        down = set(cfg['mgs']['down'])
        if args.kind == 'mgs-down':
            down.add(args.target)
        else:
            down.discard(args.target)
        cfg['mgs']['down'] = sorted(down)
        common.save_global_config(cfg)
        return 0
    if args.kind == 'evict':
        mp, rec = _record(args.target)
        if rec.get('stale'):
            raise common.LustreError(errno.EALREADY, '%s is already stale'
                                     % mp)
        code = common.parse_errno(args.errno or 'EIO')
        # Under the lock: the daemon's reconnect waits for the record.
        with common.locked():
            pid = fusefault.make_stale(mp, rec['source'], code,
                                       reconnect_after=args.seconds,
                                       backing=rec['backing'],
                                       options=rec['options'],
                                       root=common.root_dir())
            records = common.read_json(common.mounts_path(), {})
            rec['stale'] = {'errno': code, 'pid': pid, 'evicted': True}
            records[mp] = rec
            common.write_json(common.mounts_path(), records)
        return 0
    if args.kind == 'ost':
        if args.index is None:
            raise common.LustreError(errno.EINVAL, 'lustre-emulator fault '
                                     'ost FS IDX: index needed')
        with common.locked():
            cfg = common.fs_config(args.target)
            for ost in cfg['osts']:
                if ost['index'] != args.index:
                    continue
                if args.inactive or args.active:
                    ost['active'] = not args.inactive
                if args.errno is not None:
                    ost['statfs_errno'] = (
                        common.parse_errno(args.errno)
                        if args.errno not in ('0', '') else None)
                if args.hang or args.unhang:
                    ost['hung'] = bool(args.hang)
                if args.state is not None:
                    ost['state'] = args.state
                if args.clear_ost:
                    ost.update(active=True, statfs_errno=None, hung=False,
                               state='')
            common.save_fs_config(cfg)
        return 0
    with common.locked():
        faults = common.read_json(path, {})
        fails = faults.setdefault('mount_fail', {})
        if args.kind == 'mount-fail':
            common.fs_config(args.target)
            fails[args.target] = {
                'errno': common.parse_errno(args.errno or 'EIO'),
                'count': args.count}
        elif args.kind == 'clear':
            if args.target:
                fails.pop(args.target, None)
            else:
                fails.clear()
        common.write_json(path, faults)
    return 0


def cmd_heal(args: argparse.Namespace) -> int:
    """Bring a stale share back (the client reconnected)."""
    mp, rec = _record(args.mountpoint)
    stale = rec.get('stale')
    if not stale:
        return 0
    common.sys_umount(mp, common.MNT_DETACH)
    fusefault.kill_daemon(stale.get('pid'))
    opts = share_mod.parse_options(','.join(rec['options']), sloppy=True)
    common.sys_mount(rec['backing'], mp, None, common.MS_BIND)
    if opts.flags:
        common.sys_mount(rec['backing'], mp, None, common.MS_REMOUNT |
                         common.MS_BIND | opts.flags)
    rec['stale'] = None
    _save_record(mp, rec)
    return 0


def cmd_umount(args: argparse.Namespace) -> int:
    """Unmount one share (stale ones lazily) and forget it."""
    mp, rec = _record(args.mountpoint)
    try:
        _unmount(mp, rec, args.lazy)
    except OSError as exc:
        raise common.LustreError(exc.errno or errno.EIO, 'umount %s: %s'
                                 % (mp, exc.strerror))
    _save_record(mp, None)
    return 0


def cmd_remove_fs(args: argparse.Namespace) -> int:
    """Delete a filesystem and its data, unless it is still mounted."""
    if args.name not in common.list_filesystems():
        raise common.LustreError(errno.ENOENT, 'no filesystem %s'
                                 % args.name)
    prefix = common.fs_dir(args.name) + os.sep
    root = os.path.realpath(common.backing_root(args.name))
    image = image_mounted(args.name)
    busy = []
    for entry in common.mountinfo():
        if entry['mountpoint'] == root and image:
            continue        # the image's own mount
        if (entry['root'] + os.sep).startswith(prefix) or (
                image and entry['source'].startswith('/dev/loop') and
                entry['mountpoint'] != root and
                _same_device(entry['mountpoint'], root)):
            busy.append(entry['mountpoint'])
    if busy:
        raise common.LustreError(errno.EBUSY, 'filesystem %s is mounted on '
                                 '%s' % (args.name, ', '.join(busy)))
    try:
        umount_image(args.name)
    except subprocess.CalledProcessError as exc:
        raise common.LustreError(errno.EBUSY, 'cannot unmount the image of '
                                 '%s: %s' % (args.name, exc.stderr.decode(
                                     errors='replace').strip()))
    shutil.rmtree(common.fs_dir(args.name))
    return 0


def _same_device(path: str, other: str) -> bool:
    try:
        return os.stat(path).st_dev == os.stat(other).st_dev
    except OSError:
        return False


def cmd_proc_mounts(args: argparse.Namespace) -> int:
    """/proc/mounts with each emulated share shown as a client shows it.

    The kernel prints a bind mount with the backing file system's type
    (only a registered file system type can be shown, and only the
    Lustre module registers "lustre"), so the emulator renders the line
    the real client shows: resolved NID source, type lustre, the client's
    option list (versions.Profile.proc_mount_options()).
    """
    records = common.active_mounts()
    with open('/proc/self/mounts', encoding='utf-8') as handle:
        for line in handle:
            fields = line.split()
            point = common.unescape_mount(fields[1]) if len(fields) > 1 \
                else ''
            rec = records.get(point)
            if rec is None or rec.get('stale'):
                sys.stdout.write(line)
                continue
            prof = common.profile_of(rec['fsname'])
            opts = share_mod.parse_options(','.join(rec['options']),
                                           sloppy=True)
            sys.stdout.write('%s %s lustre %s 0 0\n' % (
                rec.get('resolved_source', rec['source']), fields[1],
                prof.proc_mount_options(opts.flock, rec['options'])))
    return 0


def cmd_quota_check(args: argparse.Namespace) -> int:
    """Exit EDQUOT when a project is over a limit; list the offenders.

    The kernel would have refused the writes; the emulator cannot.
    """
    lines = capacity.exceeded(args.fsname)
    for line in lines:
        print(line)
    return errno.EDQUOT if lines else 0


def cmd_set(args: argparse.Namespace) -> int:
    """Change the client version or a filesystem feature."""
    if args.what == 'version':
        cfg = common.global_config()
        cfg['version'] = _version(args.value)
        common.save_global_config(cfg)
        return 0
    fsname, _dot, feature = args.what.partition('.')
    cfg = common.fs_config(fsname)
    if feature == 'version':
        cfg['version'] = _version(args.value)
    elif feature in common.KNOWN_FEATURES:
        cfg['features'][feature] = args.value in ('on', 'true', '1', 'yes')
    else:
        raise common.LustreError(errno.EINVAL, 'unknown setting %s'
                                 % args.what)
    common.save_fs_config(cfg)
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The command-line interface."""
    parser = argparse.ArgumentParser(prog='lustre-emulator',
                                     description=__doc__)
    sub = parser.add_subparsers(dest='command', required=True)
    p = sub.add_parser('setup', help='create root, default fs, install')
    p.add_argument('--no-install', action='store_true')
    p.add_argument('--sbin-dir', default='/sbin')
    p.add_argument('--bin-dir', default='/usr/local/bin')
    p.add_argument('--version', help='client version, e.g. 2.16.0')
    p.set_defaults(func=cmd_setup)
    p = sub.add_parser('teardown', help='unmount all, uninstall')
    p.add_argument('--purge', action='store_true',
                   help='also delete the emulator root')
    p.set_defaults(func=cmd_teardown)
    sub.add_parser('status').set_defaults(func=cmd_status)
    p = sub.add_parser('add-fs')
    p.add_argument('name')
    p.add_argument('--osts', type=int, default=2)
    p.add_argument('--ost-size', default='4G')
    p.add_argument('--mdt-size', default='1G')
    p.add_argument('--pool', action='append', metavar='NAME:IDX,IDX')
    p.add_argument('--no-project-quota', action='store_true')
    p.add_argument('--no-fallocate', action='store_true',
                   help='a loop-mounted image that refuses fallocate')
    p.add_argument('--backend', choices=common.BACKENDS, default='ldiskfs',
                   help='zfs: ZFS-like space figures, no fallocate')
    p.add_argument('--version',
                   help='Lustre version of this file system: %s or x.y.z'
                   % ', '.join(versions.PROFILES))
    p.set_defaults(func=cmd_add_fs)
    sub.add_parser('proc-mounts', help='/proc/mounts as a Lustre client '
                   'shows its mounts').set_defaults(func=cmd_proc_mounts)
    p = sub.add_parser('remove-fs', help='delete an unmounted filesystem')
    p.add_argument('name')
    p.set_defaults(func=cmd_remove_fs)
    p = sub.add_parser('fault')
    p.add_argument('kind', choices=['mount-fail', 'stale', 'evict',
                                    'mgs-down', 'mgs-up', 'ost', 'clear'])
    p.add_argument('target', nargs='?',
                   help='fsname, mount point or MGS host')
    p.add_argument('index', nargs='?', type=int, help='OST index')
    p.add_argument('--errno')
    p.add_argument('--count', type=int, default=1)
    p.add_argument('--inactive', action='store_true')
    p.add_argument('--active', action='store_true')
    p.add_argument('--hang', action='store_true',
                   help='ost: statfs waits (lfs df without --lazy blocks)')
    p.add_argument('--unhang', action='store_true')
    p.add_argument('--state', help='ost: statfs state flags (D R N S I '
                   'shown, a f with -v)')
    p.add_argument('--clear-ost', action='store_true',
                   help='ost: back to active and answering')
    p.add_argument('--seconds', type=float, default=2.0,
                   help='evict: time until the client reconnects')
    p.set_defaults(func=cmd_fault)
    p = sub.add_parser('heal')
    p.add_argument('mountpoint')
    p.set_defaults(func=cmd_heal)
    p = sub.add_parser('umount')
    p.add_argument('mountpoint')
    p.add_argument('--lazy', action='store_true')
    p.set_defaults(func=cmd_umount)
    p = sub.add_parser('quota-check')
    p.add_argument('fsname')
    p.set_defaults(func=cmd_quota_check)
    p = sub.add_parser('set', help='version V | FS.version V | '
                       'FS.project_quota on|off | FS.fallocate on|off')
    p.add_argument('what')
    p.add_argument('value')
    p.set_defaults(func=cmd_set)
    return parser


def main(argv: typing.Optional[typing.List[str]] = None) -> int:
    """Entry point."""
    args = build_parser().parse_args(argv)
    if args.command == 'fault' and args.kind != 'clear' and not args.target:
        sys.stderr.write('lustre-emulator fault %s: target needed\n'
                         % args.kind)
        return errno.EINVAL
    try:
        return args.func(args)
    except common.LustreError as exc:
        sys.stderr.write('lustre-emulator: %s\n' % exc.message)
        return exc.code
    except OSError as exc:
        sys.stderr.write('lustre-emulator: %s\n' % exc)
        return exc.errno or errno.EIO
