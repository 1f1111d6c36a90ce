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

"""``lfs``: the subset of Lustre's user tool that a Cinder driver uses.

Subcommands: df, getstripe, setstripe, migrate, pool_list, project,
setquota, quota, --version.  Output formats follow LUSTRE_CLI.md; errors
print lfs-style messages and exit with the errno.
"""

import errno
import getopt
import os
import sys
import typing

from lustre_emu import capacity
from lustre_emu import common
from lustre_emu import layout as lay

Out = typing.List[str]


def _einval(cmd: str, what: str, value: str) -> common.LustreError:
    return common.LustreError(errno.EINVAL, "lfs %s: invalid %s '%s'"
                              % (cmd, what, value))


def _getopt(cmd: str, argv: typing.List[str], short: str,
            long: typing.List[str]) -> typing.Tuple[list, list]:
    try:
        return getopt.gnu_getopt(argv, short, long)
    except getopt.GetoptError as exc:
        raise common.LustreError(errno.EINVAL, 'lfs %s: %s' % (cmd, exc))


def _lstat(cmd: str, path: str, backing: str) -> os.stat_result:
    try:
        return os.stat(backing)
    except OSError as exc:
        code = exc.errno or errno.EIO
        raise common.LustreError(code, "lfs %s: cannot open '%s': %s "
                                 "(%d)" % (cmd, path, exc.strerror, code))


# -- setstripe / migrate ---------------------------------------------

STRIPE_SHORT = 'c:S:i:o:p:E:dL:nvy'
STRIPE_LONG = ['stripe-count=', 'stripe_count=', 'stripe-size=',
               'stripe_size=', 'stripe-index=', 'stripe_index=', 'pool=',
               'component-end=', 'delete', 'layout=', 'non-block',
               'verbose', 'yes']


def parse_stripe_args(cmd: str, argv: typing.List[str]) -> typing.Tuple[
        typing.List[lay.Component], typing.List[str], bool]:
    """Parse setstripe options into component specs, paths, delete."""
    if any(a.startswith('-N') or a.startswith('--mirror') for a in argv):
        raise common.LustreError(errno.EOPNOTSUPP, 'lfs %s: mirrors (-N) '
                                 'are not emulated' % cmd)
    opts, paths = _getopt(cmd, argv, STRIPE_SHORT, STRIPE_LONG)
    comps: typing.List[lay.Component] = []
    cur: lay.Component = {'start': 0, 'end': lay.EOF}
    delete = False
    used_e = False
    for opt, val in opts:
        if opt in ('-E', '--component-end'):
            if not used_e and len(cur) > 2:
                raise common.LustreError(
                    errno.EINVAL, 'lfs %s: options must follow -E' % cmd)
            start = comps[-1]['end'] if comps else 0
            if used_e:
                comps.append(cur)
                start = cur['end']
            used_e = True
            if start == lay.EOF:
                raise _einval(cmd, 'component end', val)
            if val.lower() in ('-1', 'eof'):
                end = lay.EOF
            else:
                try:
                    end = lay_size(val)
                except ValueError:
                    raise _einval(cmd, 'component end', val)
                if end <= start or end % lay.MIN_STRIPE:
                    raise _einval(cmd, 'component end', val)
            cur = {'start': start, 'end': end}
        elif opt in ('-c', '--stripe-count', '--stripe_count'):
            try:
                cur['stripe_count'] = int(val)
            except ValueError:
                raise _einval(cmd, 'stripe count', val)
            if cur['stripe_count'] < -1:
                raise _einval(cmd, 'stripe count', val)
        elif opt in ('-S', '--stripe-size', '--stripe_size'):
            try:
                size = lay_size(val)
            except ValueError:
                raise _einval(cmd, 'stripe size', val)
            if size % lay.MIN_STRIPE or size >= 1 << 32:
                raise _einval(cmd, 'stripe size', val)
            cur['stripe_size'] = size
        elif opt in ('-i', '-o', '--stripe-index', '--stripe_index'):
            try:
                cur['stripe_offset'] = int(val)
            except ValueError:
                raise _einval(cmd, 'stripe offset', val)
        elif opt in ('-p', '--pool'):
            cur['pool'] = val
        elif opt in ('-d', '--delete'):
            delete = True
        elif opt in ('-L', '--layout') and val != 'raid0':
            raise common.LustreError(errno.EOPNOTSUPP, "lfs %s: layout "
                                     "'%s' is not emulated" % (cmd, val))
    comps.append(cur)
    if not paths:
        raise common.LustreError(errno.EINVAL, 'lfs %s: no file name '
                                 'given' % cmd)
    return comps, paths, delete


def lay_size(text: str) -> int:
    """Sizes as lfs reads them (bytes, K/M/G suffixes base 1024)."""
    return common.parse_size(text)


def _apply_pools(cmd: str, fsname: str,
                 comps: typing.List[lay.Component]) -> None:
    for comp in comps:
        pool = comp.get('pool')
        if not pool:
            continue
        prefix, dot, name = pool.rpartition('.')
        if dot:
            if prefix != fsname:
                raise common.LustreError(
                    errno.EINVAL, "lfs %s: pool '%s' does not exist"
                    % (cmd, pool))
            comp['pool'] = name
        lay.check_pool(fsname, comp['pool'], cmd)


def cmd_setstripe(argv: typing.List[str], out: Out) -> int:
    """lfs setstripe."""
    comps, paths, delete = parse_stripe_args('setstripe', argv)
    for path in paths:
        tgt = common.resolve(path, 'setstripe')
        common.check_writable(tgt, 'setstripe')
        _apply_pools('setstripe', tgt.fsname, comps)
        if os.path.isdir(tgt.backing):
            if delete:
                try:
                    os.removexattr(tgt.backing, lay.XA_DEFAULT)
                except OSError:
                    pass
                continue
            parent = os.path.dirname(tgt.backing.rstrip('/')) \
                if tgt.backing != common.backing_root(tgt.fsname) \
                else tgt.backing
            default = lay.fill_spec(comps, lay.dir_default(parent,
                                                           tgt.fsname))
            lay.set_xattr_json(tgt.backing, lay.XA_DEFAULT, default)
            continue
        error = "lfs setstripe: setstripe error for '%s': %s"
        if os.path.exists(tgt.backing):
            st = os.stat(tgt.backing)
            has_layout = lay.get_xattr_json(tgt.backing, lay.XA_LOV)
            if st.st_size > 0 or has_layout:
                raise common.LustreError(errno.EEXIST, error % (
                    path, 'stripe already set'))
        else:
            try:
                fd = os.open(tgt.backing, os.O_CREAT | os.O_EXCL |
                             os.O_WRONLY, 0o644)
                os.close(fd)
            except OSError as exc:
                raise common.LustreError(exc.errno or errno.EIO, error % (
                    path, exc.strerror))
        try:
            layout = lay.new_layout(tgt.backing, tgt.fsname, comps)
        except common.LustreError as exc:
            os.unlink(tgt.backing)
            raise common.LustreError(exc.code, error % (path, exc.message))
        lay.set_xattr_json(tgt.backing, lay.XA_LOV, layout)
    return 0


def cmd_migrate(argv: typing.List[str], out: Out) -> int:
    """lfs migrate: rewrite the layout of existing files."""
    comps, paths, _delete = parse_stripe_args('migrate', argv)
    for path in paths:
        tgt = common.resolve(path, 'migrate')
        common.check_writable(tgt, 'migrate')
        _apply_pools('migrate', tgt.fsname, comps)
        st = _lstat('migrate', path, tgt.backing)
        if not os.path.isfile(tgt.backing):
            raise common.LustreError(
                errno.EOPNOTSUPP, "lfs migrate: cannot migrate '%s': %s"
                % (path, common.strerror(errno.EOPNOTSUPP)))
        old = lay.effective(tgt.backing, tgt.fsname, persist=False)
        layout = lay.new_layout(tgt.backing, tgt.fsname, comps,
                                old['layout_gen'] + 1)
        lay.instantiate_to(layout, st.st_size,
                           common.fs_config(tgt.fsname), None)
        lay.set_xattr_json(tgt.backing, lay.XA_LOV, layout)
    return 0


# -- getstripe -------------------------------------------------------

def cmd_getstripe(argv: typing.List[str], out: Out) -> int:
    """lfs getstripe."""
    opts, paths = _getopt(
        'getstripe', argv, 'cSipdyqv',
        ['stripe-count', 'stripe_count', 'stripe-size', 'stripe_size',
         'stripe-index', 'stripe_index', 'pool', 'directory', 'yaml',
         'quiet', 'verbose'])
    fields: typing.List[str] = []
    directory = yaml = quiet = False
    for opt, _val in opts:
        key = opt.lstrip('-')
        if key in ('c', 'stripe-count', 'stripe_count'):
            fields.append('c')
        elif key in ('S', 'stripe-size', 'stripe_size'):
            fields.append('S')
        elif key in ('i', 'stripe-index', 'stripe_index'):
            fields.append('i')
        elif key in ('p', 'pool'):
            fields.append('p')
        elif key in ('d', 'directory'):
            directory = True
        elif key in ('y', 'yaml'):
            yaml = True
        elif key in ('q', 'quiet'):
            quiet = True
    if not paths:
        raise common.LustreError(errno.EINVAL, 'lfs getstripe: no file '
                                 'name given')
    for path in paths:
        tgt = common.resolve(path, 'getstripe')
        version = common.version_of(tgt.fsname)
        st = _lstat('getstripe', path, tgt.backing)
        if os.path.isdir(tgt.backing):
            default = lay.dir_default(tgt.backing, tgt.fsname)
            if fields:
                out.append(lay.format_fields(default, fields, True))
            elif yaml:
                out.append(lay.format_yaml(default, version))
            elif directory:
                out.append(lay.format_dir_default(default))
            else:
                out.append(path + '\n' + lay.format_dir_default(default))
                for name in sorted(os.listdir(tgt.backing)):
                    child = os.path.join(tgt.backing, name)
                    if os.path.isfile(child) and not os.path.islink(child):
                        layout = lay.effective(child, tgt.fsname,
                                               persist=_rw(tgt))
                        out.append(lay.format_file(
                            os.path.join(path, name), layout))
            continue
        if not os.path.isfile(tgt.backing):
            raise common.LustreError(errno.ENODATA, "lfs getstripe: '%s' "
                                     'has no stripe info' % path)
        del st
        layout = lay.effective(tgt.backing, tgt.fsname, persist=_rw(tgt))
        if fields:
            out.append(lay.format_fields(layout, fields, False))
        elif yaml:
            out.append(lay.format_yaml(layout, version))
        else:
            text = lay.format_file(path, layout)
            out.append(text.split('\n', 1)[1] if quiet else text)
    return 0


def _rw(tgt: common.Target) -> bool:
    rec = tgt.record
    return not (rec and 'ro' in rec.get('options', []))


# -- df --------------------------------------------------------------

def cmd_df(argv: typing.List[str], out: Out) -> int:
    """lfs df [-v] [-h] [--pool FS.POOL|POOL] [PATH]."""
    opts, paths = _getopt('df', argv, 'hvlp:i',
                          ['human-readable', 'verbose', 'lazy', 'pool=',
                           'inodes'])
    pool = None
    verbose = human = False
    for opt, val in opts:
        if opt in ('-p', '--pool'):
            pool = val
        elif opt in ('-v', '--verbose'):
            verbose = True
        elif opt in ('-h', '--human-readable'):
            human = True
        elif opt in ('-i', '--inodes'):
            raise common.LustreError(errno.EOPNOTSUPP, 'lfs df: -i is not '
                                     'emulated')
    pool_fs, pool_name = None, pool
    if pool and '.' in pool:
        pool_fs, _dot, pool_name = pool.partition('.')
    targets: typing.List[typing.Tuple[str, str]] = []
    rc = 0
    if paths:
        for path in paths:
            tgt = common.resolve(path, 'df')
            targets.append((tgt.fsname, tgt.mountpoint))
    else:
        for mp, rec in sorted(common.active_mounts().items()):
            if rec.get('stale'):
                code = rec['stale']['errno']
                sys.stderr.write("lfs df: cannot access '%s': %s\n"
                                 % (mp, common.strerror(code)))
                rc = code
                continue
            targets.append((rec['fsname'], mp))
    for fsname, mountpoint in targets:
        if pool_fs and pool_fs != fsname:
            if paths:
                raise common.LustreError(
                    errno.ENOENT, "lfs df: pool '%s' does not exist" % pool)
            continue
        out.append(capacity.df(fsname, mountpoint, pool_name, verbose,
                               human))
    return rc


# -- pools, projects, quotas -----------------------------------------

def cmd_pool_list(argv: typing.List[str], out: Out) -> int:
    """lfs pool_list FS | FS.POOL | PATH."""
    if len(argv) != 1:
        raise common.LustreError(errno.EINVAL, 'usage: pool_list '
                                 '<fsname>[.<pool>] | <pathname>')
    arg = argv[0]
    if arg.startswith('/'):
        fsname, pool = common.resolve(arg, 'pool_list').fsname, ''
    else:
        fsname, _dot, pool = arg.partition('.')
    try:
        cfg = common.fs_config(fsname)
    except common.LustreError:
        raise common.LustreError(errno.ENOENT, "lfs pool_list: filesystem "
                                 "'%s' not found: %s" % (
                                     fsname, common.strerror(errno.ENOENT)))
    if not pool:
        out.append('Pools from %s:\n' % fsname)
        out.extend('%s.%s\n' % (fsname, name) for name in cfg['pools'])
        return 0
    if pool not in cfg['pools']:
        raise common.LustreError(errno.ENOENT, "lfs pool_list: pool '%s' "
                                 'does not exist' % arg)
    out.append('Pool: %s.%s\n' % (fsname, pool))
    out.extend('%s-OST%04x_UUID\n' % (fsname, idx)
               for idx in sorted(cfg['pools'][pool]))
    return 0


def _need_project(fsname: str, what: str) -> None:
    if not common.fs_config(fsname)['features']['project_quota']:
        raise common.LustreError(errno.EOPNOTSUPP, '%s: %s' % (
            what, common.strerror(errno.EOPNOTSUPP)))


def _walk(backing: str, recursive: bool) -> typing.Iterator[str]:
    yield backing
    if recursive and os.path.isdir(backing):
        for dirpath, dirnames, filenames in os.walk(backing):
            dirnames.sort()
            for name in sorted(dirnames + filenames):
                yield os.path.join(dirpath, name)


def cmd_project(argv: typing.List[str], out: Out) -> int:
    """lfs project [-p ID] [-s] [-r] [-d] [-C [-k]] PATH..."""
    opts, paths = _getopt('project', argv, 'p:srdCk0c', [])
    flags = {o for o, _v in opts}
    prj = None
    for opt, val in opts:
        if opt == '-p':
            if not val.isdigit():
                raise _einval('project', 'project id', val)
            prj = int(val)
    recursive = '-r' in flags
    if not paths:
        raise common.LustreError(errno.EINVAL, 'lfs project: missing '
                                 'pathname')
    for path in paths:
        tgt = common.resolve(path, 'project')
        _lstat('project', path, tgt.backing)
        if prj is not None or '-s' in flags or '-C' in flags:
            common.check_writable(tgt, 'project')
            _need_project(tgt.fsname, "lfs project: failed to set xattr "
                          "for '%s'" % path)
            for item in _walk(tgt.backing, recursive):
                cur = capacity.effective_project(item, tgt.fsname)
                if '-C' in flags:
                    new = (cur[0] if '-k' in flags else 0, False)
                else:
                    new = (cur[0] if prj is None else prj,
                           ('-s' in flags and os.path.isdir(item))
                           or (cur[1] and prj is None))
                capacity.set_project(item, *new)
            continue
        if os.path.isdir(tgt.backing) and '-d' not in flags:
            items = []
            for item in _walk(tgt.backing, recursive or True):
                if item == tgt.backing:
                    continue
                if not recursive and os.path.dirname(item) != tgt.backing:
                    continue
                items.append(item)
        else:
            items = [tgt.backing]
        for item in items:
            prj_id, inherit = capacity.effective_project(item, tgt.fsname)
            shown = os.path.normpath(os.path.join(
                path, os.path.relpath(item, tgt.backing)))
            out.append('%5u %c %s\n' % (prj_id, 'P' if inherit else '-',
                                        shown))
    return 0


def cmd_setquota(argv: typing.List[str], out: Out) -> int:
    """lfs setquota -p ID [-b SOFT] [-B HARD] [-i SOFT] [-I HARD] MNT."""
    opts, paths = _getopt('setquota', argv, 'u:g:p:b:B:i:I:',
                          ['projid=', 'block-softlimit=',
                           'block-hardlimit=', 'inode-softlimit=',
                           'inode-hardlimit='])
    prj = None
    limits: typing.Dict[str, int] = {}
    keys = {'-b': 'bsoft', '--block-softlimit': 'bsoft',
            '-B': 'bhard', '--block-hardlimit': 'bhard',
            '-i': 'isoft', '--inode-softlimit': 'isoft',
            '-I': 'ihard', '--inode-hardlimit': 'ihard'}
    for opt, val in opts:
        if opt in ('-u', '-g'):
            raise common.LustreError(errno.EOPNOTSUPP, 'lfs setquota: '
                                     'user/group quotas are not emulated')
        if opt in ('-p', '--projid'):
            if not val.isdigit():
                raise _einval('setquota', 'project id', val)
            prj = int(val)
        elif opt in keys:
            try:
                if keys[opt].startswith('b'):
                    value = common.parse_size(val, 1024) // 1024
                else:
                    value = int(val)
            except ValueError:
                raise _einval('setquota', 'limit', val)
            limits[keys[opt]] = value
    if prj is None or not limits or len(paths) != 1:
        raise common.LustreError(errno.EINVAL, 'lfs setquota: usage: '
                                 'setquota -p ID -B LIMIT MNT')
    tgt = common.resolve(paths[0], 'setquota')
    _need_project(tgt.fsname, 'lfs setquota: quotactl failed')
    capacity.set_limits(tgt.fsname, prj, **limits)
    return 0


def cmd_quota(argv: typing.List[str], out: Out) -> int:
    """lfs quota -p ID MNT."""
    opts, paths = _getopt('quota', argv, 'p:u:g:qv', ['projid='])
    prj = None
    for opt, val in opts:
        if opt in ('-u', '-g'):
            raise common.LustreError(errno.EOPNOTSUPP, 'lfs quota: '
                                     'user/group quotas are not emulated')
        if opt in ('-p', '--projid'):
            if not val.isdigit():
                raise _einval('quota', 'project id', val)
            prj = int(val)
    if prj is None or len(paths) != 1:
        raise common.LustreError(errno.EINVAL, 'lfs quota: usage: quota '
                                 '-p ID MNT')
    tgt = common.resolve(paths[0], 'quota')
    _need_project(tgt.fsname, 'lfs quota: quotactl failed')
    out.append(capacity.format_quota(tgt.fsname, prj, paths[0]))
    return 0


COMMANDS: typing.Dict[str, typing.Callable[[typing.List[str], Out], int]] = {
    'df': cmd_df, 'getstripe': cmd_getstripe, 'setstripe': cmd_setstripe,
    'migrate': cmd_migrate, 'pool_list': cmd_pool_list,
    'project': cmd_project, 'setquota': cmd_setquota, 'quota': cmd_quota,
}


def main(argv: typing.Optional[typing.List[str]] = None) -> int:
    """Entry point; return the errno as exit status."""
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] in ('help', '-h', '--help'):
        sys.stdout.write('Try interactive use without arguments or use one '
                         'of:\n  %s\n' % ' '.join(sorted(COMMANDS)))
        return 0 if argv else errno.EINVAL
    if argv[0] in ('--version', 'version'):
        sys.stdout.write('lfs %s\n' % common.version_of())
        return 0
    func = COMMANDS.get(argv[0])
    if func is None:
        sys.stderr.write("lfs: unknown command '%s'\n" % argv[0])
        return errno.EINVAL
    out: Out = []
    try:
        rc = func(argv[1:], out)
    except common.LustreError as exc:
        sys.stdout.write(''.join(out))
        sys.stderr.write(exc.message + '\n')
        return exc.code
    except OSError as exc:
        sys.stdout.write(''.join(out))
        sys.stderr.write('lfs %s: %s\n' % (argv[0], exc))
        return exc.errno or errno.EIO
    sys.stdout.write(''.join(out))
    return rc
