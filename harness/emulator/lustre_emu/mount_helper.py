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

"""``mount.lustre``: the helper util-linux runs for ``mount -t lustre``.

Called as ``mount.lustre SRC DIR [-sfnv] [-N NS] [-o OPTS] [-t TYPE]``.
It parses SRC, checks the emulated MGS, options and faults, then
bind-mounts the filesystem's backing directory (subdirectory included)
on DIR.  Exit status is the raw errno, messages are mount.lustre's.
"""

import errno
import json
import os
import sys
import time
import typing

from lustre_emu import common
from lustre_emu import share as share_mod
from lustre_emu import versions

PROG = 'mount.lustre'


class Args(typing.NamedTuple):
    """Parsed helper arguments."""

    source: str
    target: str
    options: str
    fake: bool
    verbose: bool
    sloppy: bool


def parse_args(argv: typing.List[str]) -> Args:
    """Parse the helper's argument vector (getopt-like)."""
    pos: typing.List[str] = []
    opts: typing.List[str] = []
    flags: typing.Set[str] = set()
    i = 0
    while i < len(argv):
        arg = argv[i]
        if arg in ('-o', '-N', '-t'):
            if i + 1 >= len(argv):
                raise common.LustreError(errno.EINVAL,
                                         '%s: option %s needs a value'
                                         % (PROG, arg))
            if arg == '-o':
                opts.append(argv[i + 1])
            i += 2
            continue
        if arg.startswith('-o') and len(arg) > 2:
            opts.append(arg[2:])
        elif arg.startswith('-') and len(arg) > 1:
            flags.update(arg[1:])
        else:
            pos.append(arg)
        i += 1
    if len(pos) != 2:
        raise common.LustreError(
            errno.EINVAL, 'usage: %s [-fhnrvV] [-o <mntopt>] <device> '
            '<mountpt>' % PROG)
    return Args(pos[0], pos[1], ','.join(opts), 'f' in flags,
                'v' in flags, 's' in flags)


def failure(src: str, target: str, code: int,
            prof: typing.Optional[versions.Profile] = None
            ) -> common.LustreError:
    """The message mount.lustre prints for a failed mount.

    lustre/utils/mount_lustre.c main() (v2_12_9, v2_17_0): the failure
    line, then a hint for some errnos; EINVAL names the file system it
    took from the source (after the last ':', less the '/').
    """
    prof = prof or common.profile_of()
    lines = ['%s: mount %s at %s failed: %s' % (
        PROG, src, target, common.strerror(code))]
    blank = ' ' if prof.enodev_hint_blank else ''
    if code == errno.EBUSY:
        lines += ['Is the backend filesystem mounted?',
                  '%sCheck /etc/mtab and /proc/mounts' % blank]
    elif code == errno.ENODEV:
        lines += ['Are the lustre modules loaded?',
                  '%sCheck /etc/modprobe.conf and /proc/filesystems'
                  % blank]
    elif code == errno.ENOENT:
        lines += ['Is the MGS specification correct?',
                  'Is the filesystem name correct?',
                  'If upgrading, is the copied client log valid? (see '
                  'upgrade docs)']
    elif code == errno.EALREADY:
        lines.append('The target service is already running. (%s)' % src)
    elif code == errno.EIO:
        lines.append('Is the MGS running?')
    elif code == errno.EINVAL:
        lines.append('This may have multiple causes.')
        cli = src.rsplit(':', 1)[1] if ':' in src else ''
        if len(cli) > 1:
            lines.append("Is '%s' the correct filesystem name?" % cli[1:])
        lines += ['Are the mount options correct?',
                  'Check the syslog for more info.']
    return common.LustreError(code, '\n'.join(lines))


def _log(entry: dict) -> None:
    entry['time'] = time.time()
    with open(os.path.join(common.state_dir(), 'mount.log'), 'a',
              encoding='utf-8') as handle:
        handle.write(json.dumps(entry, sort_keys=True) + '\n')


def _consume_fault(fsname: str) -> int:
    """Take one pending mount failure for fsname; 0 when none."""
    path = os.path.join(common.state_dir(), 'faults.json')
    with common.locked():
        faults = common.read_json(path, {})
        pending = faults.get('mount_fail', {}).get(fsname)
        if not pending or pending.get('count', 0) <= 0:
            return 0
        pending['count'] -= 1
        if pending['count'] <= 0:
            del faults['mount_fail'][fsname]
        common.write_json(path, faults)
        return int(pending['errno'])


def _mgs_reachable(share: share_mod.Share, network: typing.Optional[str],
                   prof: versions.Profile) -> int:
    """0 if some MGS NID answers, else the errno of the failure.

    No MGS answering: ETIMEDOUT on 2.17 (the transcript: an address
    nobody has), EIO ("Is the MGS running?") on older clients.
    """
    mgs = common.global_config()['mgs']
    nids = share.nids
    if network:
        nids = [n for n in nids if n.net == network]
        if not nids:
            return errno.EINVAL
    for nid in nids:
        known = mgs['hosts'] is None or nid.host in mgs['hosts']
        if known and nid.host not in mgs['down'] \
                and str(nid) not in mgs['down']:
            return 0
    return prof.mgs_unreachable_errno


def attempt(share: share_mod.Share, opts: share_mod.Options,
            prof: versions.Profile) -> int:
    """One mount attempt's verdict before mounting: 0 or an errno."""
    code = _mgs_reachable(share, opts.network, prof)
    if code:
        return code
    fault = _consume_fault(share.fsname)
    if fault:
        return fault
    if share.fsname not in common.list_filesystems():
        return errno.ENOENT
    backing = os.path.join(common.backing_root(share.fsname), share.subdir)
    if not os.path.isdir(backing):
        return errno.ENOENT
    return 0


def _check_mtab(args: Args, share: share_mod.Share, target: str,
                records: typing.Optional[dict] = None) -> None:
    """EEXIST when the same fs (and subdir) is mounted on target."""
    if records is None:
        records = common.active_mounts()
    old = records.get(target)
    if old and old['fsname'] == share.fsname and \
            old['subdir'] == share.subdir:
        raise common.LustreError(
            errno.EEXIST, '%s: according to /etc/mtab %s is already '
            'mounted on %s' % (PROG, args.source, args.target))


def do_mount(args: Args) -> str:
    """Run the helper; return what to print on success."""
    prof = common.profile_of()
    try:
        share = share_mod.parse_share(args.source, prof.ipv6_nids)
    except common.LustreError as exc:
        _log({'source': args.source, 'target': args.target,
              'options': args.options, 'result': exc.code})
        # convert_hostnames() fails: "Can't parse NID", then usage().
        raise common.LustreError(exc.code, '%s: %s\nusage: %s [-fhnvV] '
                                 '[-o <cliopt>] <mgsnid>[:<altmgsnid>...]'
                                 ':/<filesystem>[/<subdir>] <mountpt>'
                                 % (PROG, exc.message.rsplit(': ', 1)[0],
                                    PROG))
    if share.fsname in common.list_filesystems():
        prof = common.profile_of(share.fsname)
    try:
        opts = share_mod.parse_options(args.options, args.sloppy, prof)
    except common.LustreError as exc:
        # The kernel refuses an option it does not know ("Unknown option
        # '%s', won't mount." in the log): EINVAL.
        _log({'source': args.source, 'target': args.target,
              'options': args.options, 'result': exc.code,
              'error': exc.message})
        raise failure(args.source, args.target, exc.code, prof)
    target = os.path.realpath(args.target)
    _check_mtab(args, share, target)
    if not os.path.isdir(target):
        # parse_opts(): realpath() of the target fails first.
        raise common.LustreError(errno.ENOENT, 'warning: %s: cannot '
                                 'resolve: %s' % (
                                     args.target,
                                     common.strerror(errno.ENOENT)))
    backing = os.path.normpath(os.path.join(
        common.backing_root(share.fsname), share.subdir))
    sleep = common.global_config()['retry_sleep']
    code = 0
    for i in range(opts.retry + 1):
        code = attempt(share, opts, prof)
        if not code:
            break
        if i < opts.retry:
            time.sleep(sleep)
    if code:
        _log({'source': args.source, 'target': target,
              'options': opts.given, 'result': code})
        raise failure(args.source, args.target, code, prof)
    with common.locked():
        records = common.active_mounts(lock=False)
        _check_mtab(args, share, target, records)
        if not args.fake:
            try:
                common.sys_mount(backing, target, None, common.MS_BIND)
                if opts.flags:
                    common.sys_mount(backing, target, None,
                                     common.MS_REMOUNT | common.MS_BIND |
                                     opts.flags)
            except OSError as exc:
                raise failure(args.source, args.target,
                              exc.errno or errno.EIO, prof)
            records[target] = {
                'source': args.source,
                'resolved_source': '%s:/%s' % (
                    ':'.join(','.join(_nidstr(n) for n in node)
                             for node in share.mgs_nodes),
                    '/'.join(p for p in (share.fsname, share.subdir) if p)),
                'fsname': share.fsname, 'subdir': share.subdir,
                'backing': backing, 'mountpoint': target,
                'options': opts.given, 'flock': opts.flock,
                'stale': None, 'time': time.time(),
            }
            common.write_json(common.mounts_path(), records)
    _log({'source': args.source, 'target': target,
          'options': opts.given, 'result': 0, 'fake': args.fake})
    if args.verbose:
        return ('arg[0] = /sbin/mount.lustre\nsource = %s (%s), target = '
                '%s\noptions = %s\n' % (args.source, backing, target,
                                        args.options or 'defaults'))
    return ''


def _nidstr(nid: share_mod.Nid) -> str:
    """libcfs_nidstr(): network number 0 is not printed (tcp0 -> tcp)."""
    net = nid.net[:-1] if nid.net.endswith('0') and not \
        nid.net[:-1][-1:].isdigit() else nid.net
    return '%s@%s' % (nid.host, net)


def main(argv: typing.Optional[typing.List[str]] = None) -> int:
    """Entry point; return the raw errno as exit status."""
    try:
        args = parse_args(sys.argv[1:] if argv is None else argv)
        sys.stdout.write(do_mount(args))
    except common.LustreError as exc:
        sys.stderr.write(exc.message + '\n')
        return exc.code
    return 0
