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
setquota, quota, --version.  What they print and how they exit follow
lustre-release's lustre/utils/lfs.c and liblustreapi*.c of the version
the file system (or the client) is set to (``versions.Profile``); each
format names the tag and function it was read from.  A usage error
returns CMD_HELP (4, libcfs/include/libcfs/util/parser.h), as lfs does.
"""

import errno
import getopt
import os
import sys
import typing

from lustre_emu import capacity
from lustre_emu import common
from lustre_emu import layout as lay
from lustre_emu import versions

Out = typing.List[str]
CMD_HELP = 4
EOF = lay.EOF

HELP = {
    'setstripe': 'usage: setstripe [--stripe-count|-c <stripe_count>] '
                 '[--stripe-size|-S <stripe_size>] [--stripe-index|-i '
                 '<start_ost_idx>] [--pool|-p <pool_name>] '
                 '[--component-end|-E <comp_end>] ... <filename|dirname>',
    'migrate': 'usage: migrate [--stripe-count|-c <stripe_count>] '
               '[--stripe-size|-S <stripe_size>] [--pool|-p <pool_name>] '
               '[--non-block|-n] <file>',
    'getstripe': 'usage: getstripe [-c|-S|-i|-p|-d|-y|-q|-v] '
                 '<directory|filename> ...',
    'df': 'usage: df [--inodes|-i] [--human-readable|-h] [--lazy|-l] '
          '[--pool|-p <fsname>[.<pool>]] [path]',
    'quota': 'usage: quota [-q] [-v] [-h] [-P] [{-u|-g|-p} '
             '<uname>|<uid>|<gname>|<gid>|<projid>] <filesystem>',
    'setquota': 'usage: setquota {-u|-g|-p} <id> [-b <block-softlimit>] '
                '[-B <block-hardlimit>] [-i <inode-softlimit>] '
                '[-I <inode-hardlimit>] <filesystem>',
    'project': 'usage: project [-d|-r] <file|directory...>',
    'pool_list': 'usage: pool_list <fsname>[.<pool>] | <pathname>',
}


def usage_error(cmd: str, message: str = '',
                prof: typing.Optional[versions.Profile] = None
                ) -> common.LustreError:
    """A CMD_HELP return: the message, then the command's help text."""
    prof = prof or common.profile_of()
    help_text = HELP.get(cmd, 'usage: %s' % cmd)
    if prof.help_on_stdout:
        return common.LustreError(CMD_HELP, message.rstrip('\n'),
                                  stdout=help_text + '\n')
    text = (message.rstrip('\n') + '\n' if message else '') + help_text
    return common.LustreError(CMD_HELP, text)


def _getopt(cmd: str, argv: typing.List[str], short: str,
            long: typing.List[str]) -> typing.Tuple[list, list]:
    try:
        return getopt.gnu_getopt(argv, short, long)
    except getopt.GetoptError as exc:
        raise usage_error(cmd, 'lfs %s: %s' % (cmd, exc))


def _lstat(cmd: str, path: str, backing: str) -> os.stat_result:
    try:
        return os.stat(backing)
    except OSError as exc:
        code = exc.errno or errno.EIO
        raise common.LustreError(code, "lfs %s: cannot open '%s': %s "
                                 "(%d)" % (cmd, path, exc.strerror, code))


def _defaults(fsname: str) -> lay.Component:
    return lay.fs_defaults(common.fs_config(fsname))


# -- setstripe / migrate ---------------------------------------------

STRIPE_SHORT = 'c:S:i:o:p:E:dL:nvyN'
STRIPE_LONG = ['stripe-count=', 'stripe_count=', 'stripe-size=',
               'stripe_size=', 'stripe-index=', 'stripe_index=', 'pool=',
               'component-end=', 'delete', 'layout=', 'non-block',
               'verbose', 'yes', 'mirror-count=']


class StripeArgs(typing.NamedTuple):
    """A parsed setstripe/migrate command line."""

    comps: typing.List[lay.Component]
    paths: typing.List[str]
    delete: bool
    composite: bool


def _parse_size_arg(cmd: str, what: str, val: str,
                    prof: versions.Profile) -> int:
    """-S/-E values: llapi_parse_size() base 0, KiB below 4096 (2.15+)."""
    try:
        size = common.llapi_parse_size(val, 1, False,
                                       prof.size_long_suffix)
    except ValueError:
        raise usage_error(cmd, "lfs %s: invalid %s '%s'" % (cmd, what, val),
                          prof)
    if prof.kib_rule and size < 4096:
        # v2_15_4+ lfs.c: "assume units of KB if too small to be valid"
        size *= 1024
    if prof.kib_rule and size % lay.MIN_STRIPE:
        raise usage_error(cmd, "lfs %s: invalid %s '%s'" % (cmd, what, val),
                          prof)
    return size


def parse_stripe_args(cmd: str, argv: typing.List[str],
                      prof: versions.Profile) -> StripeArgs:
    """Parse setstripe options into component specs.

    lfs.c lfs_setstripe_internal() (v2_12_9 .. v2_17_0): each -E closes a
    component; stripe count, stripe size and pool carry over to the next
    component (setstripe_args_init_inherit()), the index does not.
    """
    opts, paths = _getopt(cmd, argv, STRIPE_SHORT, STRIPE_LONG)
    comps: typing.List[lay.Component] = []
    cur: lay.Component = {}
    delete = False
    used_e = False
    for opt, val in opts:
        if opt in ('-N', '--mirror-count'):
            raise common.LustreError(errno.EOPNOTSUPP, 'lfs %s: mirrors '
                                     '(-N) are not emulated' % cmd)
        if opt in ('-E', '--component-end'):
            if used_e:
                comps.append(cur)
                # A DoM component's size is its end: not inherited.
                keep = ('stripe_count', 'pool') if \
                    cur.get('pattern') == 'mdt' else \
                    ('stripe_count', 'stripe_size', 'pool')
                cur = {k: cur[k] for k in keep if k in cur}
            used_e = True
            if val.lower() in ('-1', 'eof'):
                cur['end'] = EOF
            else:
                cur['end'] = _parse_size_arg(cmd, 'component end', val,
                                             prof)
        elif opt in ('-c', '--stripe-count', '--stripe_count'):
            count, rest = common.c_strtoull(val)
            if rest or val.strip() == '':
                raise usage_error(cmd, "lfs %s: invalid stripe count '%s'"
                                  % (cmd, val), prof)
            if count >= 1 << 63:
                count -= 1 << 64
            if prof.count_checked_at_parse and not \
                    -1 <= count <= lay.MAX_STRIPE_COUNT:
                raise usage_error(cmd, "lfs %s: invalid stripe count '%s'"
                                  % (cmd, val), prof)
            cur['stripe_count'] = count
        elif opt in ('-S', '--stripe-size', '--stripe_size'):
            cur['stripe_size'] = _parse_size_arg(cmd, 'stripe size', val,
                                                 prof)
        elif opt in ('-i', '-o', '--stripe-index', '--stripe_index'):
            index, rest = common.c_strtoull(val)
            if rest:
                raise usage_error(cmd, "lfs %s: invalid stripe offset '%s'"
                                  % (cmd, val), prof)
            cur['stripe_offset'] = index - (1 << 64) if index >= 1 << 63 \
                else index
        elif opt in ('-p', '--pool'):
            cur['pool'] = val or None
        elif opt in ('-d', '--delete'):
            delete = True
        elif opt in ('-L', '--layout'):
            if val == 'mdt':
                cur['pattern'] = 'mdt'
            elif val != 'raid0':
                raise common.LustreError(errno.EOPNOTSUPP, "lfs %s: layout "
                                         "'%s' is not emulated" % (cmd, val))
    comps.append(cur)
    if not paths:
        raise usage_error(cmd, 'lfs %s: FILE must be specified' % cmd, prof)
    start = 0
    for comp in comps:
        comp.setdefault('end', EOF)
        comp['start'] = start
        start = comp['end']
    return StripeArgs(comps, paths, delete, used_e)


def _check_limits(cmd: str, comps: typing.List[lay.Component],
                  prof: versions.Profile) -> None:
    """Checks of v2_12_9/v2_14_0 llapi_stripe_limit_check() (llapi_error).

    Newer versions refuse these while parsing the options.
    """
    for comp in comps:
        size = comp.get('stripe_size')
        if size is not None and size % lay.MIN_STRIPE:
            raise common.LustreError(errno.EINVAL, (
                'lfs %s: error: bad stripe_size %d, must be an even '
                'multiple of %d bytes: Invalid argument (22)')
                % (cmd, size, lay.MIN_STRIPE))
        if size is not None and size >= 1 << 32:
            raise common.LustreError(errno.EINVAL, (
                "lfs %s: error: stripe size '%d' over 4GB limit: Invalid "
                "argument (22)") % (cmd, size))
        count = comp.get('stripe_count')
        if count is not None and not -1 <= count <= lay.MAX_STRIPE_COUNT:
            raise common.LustreError(errno.EINVAL, (
                'lfs %s: error: bad stripe count %d: Invalid argument '
                '(22)') % (cmd, count))


def _composite_failure(cmd: str, path: str, sanity: str, code: int,
                       prof: versions.Profile, is_dir: bool) -> None:
    """What lfs prints when a composite layout is refused; exit 1.

    lfs.c lfs_component_create() returns -1 from llapi_layout_file_open():
    the command's status is 1 (v2_12_9 .. v2_17_0).  ``sanity`` is the
    line of llapi_layout_sanity_perror() (stdout up to v2_16_1).
    """
    what = ('set default composite layout for' if is_dir
            else 'create composite file')
    out = ''
    err = []
    if sanity:
        if prof.layout_errors_stderr:
            err.append('lfs %s: %s' % (cmd, sanity))
        else:
            out = sanity + '\n'
    if prof.layout_errors_stderr:
        err.append('lfs %s: lfs %s: cannot %s \'%s\': %s (%d)' % (
            cmd, cmd, what, path, common.strerror(code), code))
    else:
        err.append("lfs %s: cannot %s '%s': %s" % (
            cmd, what, path, common.strerror(code)))
    raise common.LustreError(1, '\n'.join(err), stdout=out)


def _check_pools(cmd: str, fsname: str, args: StripeArgs, path: str,
                 prof: versions.Profile, is_dir: bool) -> None:
    """Pool existence as each version checks it (see versions.Profile)."""
    cfg = common.fs_config(fsname)
    for comp in args.comps:
        pool = comp.get('pool')
        if not pool:
            continue
        prefix, dot, name = pool.rpartition('.')
        if dot:
            if prefix != fsname and not args.composite:
                if prof.plain_pool_check == 'exists':
                    raise common.LustreError(errno.EINVAL, "lfs %s: Pool "
                                             "'%s' is not on filesystem "
                                             "'%s'" % (cmd, pool, fsname))
            comp['pool'] = name
    if args.composite:
        last = args.comps[-1].get('pool')
        if prof.pfl_pool_check and last and last not in cfg['pools']:
            # verify_pool_name() fails; llapi_layout_v2_sanity() then
            # clears the ENOENT its search left in errno.
            _composite_failure(cmd, path, 'Invalid layout, unrecognized '
                               'error: -1', 0, prof, is_dir)
        return
    pool = args.comps[0].get('pool')
    if not pool or pool in cfg['pools']:
        return
    if prof.plain_pool_check == 'exists':
        raise common.LustreError(errno.EINVAL, "lfs %s: pool '%s.%s' does "
                                 "not exist" % (cmd, fsname, pool))
    if prof.plain_pool_check == 'fsname':
        raise common.LustreError(errno.EINVAL, (
            "lfs %s: pool '%s fsname %s' does not exist: No such file or "
            "directory (2)") % (cmd, pool, fsname))


def _check_alignment(cmd: str, fsname: str, args: StripeArgs, path: str,
                     prof: versions.Profile, is_dir: bool) -> None:
    """A PFL component's end must be a multiple of its stripe size.

    v2_15_4+ liblustreapi_layout.c llapi_layout_sanity_cb() checks
    components whose stripe size was given ("The component end must be
    aligned by the stripe size"); the MDS refuses the rest
    (lod_lov.c lod_verify_striping(), v2_12_9), with the file system's
    stripe size for a component without one.
    """
    if not args.composite:
        return
    default = _defaults(fsname)['stripe_size']
    for comp in args.comps:
        if comp['end'] == EOF or comp.get('pattern') == 'mdt':
            continue
        given = comp.get('stripe_size')
        size = given or default
        if comp['end'] % size == 0:
            continue
        if given and prof.layout_sanity:
            _composite_failure(cmd, path, 'Invalid layout: The component '
                               'end must be aligned by the stripe size',
                               errno.EINVAL, prof, is_dir)
        _composite_failure(cmd, path, '', errno.EINVAL, prof, is_dir)


def _validate(cmd: str, tgt: common.Target, args: StripeArgs, path: str,
              prof: versions.Profile, is_dir: bool) -> None:
    if not prof.count_checked_at_parse and not args.composite:
        _check_limits(cmd, args.comps, prof)
    _check_pools(cmd, tgt.fsname, args, path, prof, is_dir)
    _check_alignment(cmd, tgt.fsname, args, path, prof, is_dir)


def cmd_setstripe(argv: typing.List[str], out: Out) -> int:
    """lfs setstripe."""
    prof = common.profile_of()
    args = parse_stripe_args('setstripe', argv, prof)
    rc = 0
    for path in args.paths:
        tgt = common.resolve(path, 'setstripe')
        prof = common.profile_of(tgt.fsname)
        common.check_writable(tgt, 'setstripe')
        is_dir = os.path.isdir(tgt.backing)
        if is_dir:
            lay.freeze(tgt.backing, tgt.fsname)
            if args.delete:
                try:
                    os.removexattr(tgt.backing, lay.XA_DEFAULT)
                except OSError:
                    pass
                continue
            _validate('setstripe', tgt, args, path, prof, True)
            lay.set_xattr_json(tgt.backing, lay.XA_DEFAULT,
                               lay.dir_layout(args.comps, args.composite))
            continue
        _validate('setstripe', tgt, args, path, prof, False)
        error = "lfs setstripe: setstripe error for '%s': %s"
        if os.path.lexists(tgt.backing):
            # Any existing file already has its layout: it got one when
            # it was created (O_LOV_DELAY_CREATE is only lfs's own).
            raise common.LustreError(errno.EEXIST, error % (
                path, 'stripe already set'))
        try:
            fd = os.open(tgt.backing, os.O_CREAT | os.O_EXCL | os.O_WRONLY,
                         0o644)
            os.close(fd)
        except OSError as exc:
            raise common.LustreError(exc.errno or errno.EIO, error % (
                path, exc.strerror))
        try:
            layout = lay.new_layout(tgt.backing, tgt.fsname, args.comps,
                                    composite=args.composite)
        except common.LustreError as exc:
            os.unlink(tgt.backing)
            raise common.LustreError(exc.code, error % (path, exc.message))
        lay.set_xattr_json(tgt.backing, lay.XA_LOV, layout)
    return rc


def _fill_holes(path: str) -> None:
    """Write zeros over every hole (what a full copy leaves behind)."""
    zeros = b'\0' * (1 << 20)
    with open(path, 'r+b') as handle:
        fd = handle.fileno()
        size = os.fstat(fd).st_size
        pos = 0
        while pos < size:
            try:
                hole = os.lseek(fd, pos, os.SEEK_HOLE)
            except OSError:
                return
            if hole >= size:
                break
            try:
                data = os.lseek(fd, hole, os.SEEK_DATA)
            except OSError:
                data = size
            at = hole
            while at < data:
                chunk = min(len(zeros), data - at)
                os.pwrite(fd, zeros[:chunk], at)
                at += chunk
            pos = data
        os.fsync(fd)


def _room_for_copy(tgt: common.Target, layout: lay.Layout, need_kb: int,
                   path: str) -> None:
    """lfs migrate writes a second copy: each new object needs its share."""
    stats = {t.index: t.stat for t in capacity.targets(tgt.fsname, True)
             if t.kind == 'OST' and t.rc == 0}
    for comp in layout['components']:
        objs = comp.get('objects') or []
        if not objs:
            continue
        share = need_kb // len(objs) // len(layout['components'])
        for ost, _objid in objs:
            st = stats.get(ost)
            if st is not None and st.bavail < share:
                raise common.LustreError(
                    errno.ENOSPC, 'error: lfs migrate: %s: data copy '
                    'failed: %s' % (path, common.strerror(errno.ENOSPC)))


def cmd_migrate(argv: typing.List[str], out: Out) -> int:
    """lfs migrate: copy a file's data into a new layout.

    lfs.c lfs_migrate()/migrate_copy_data() (v2_12_9 .. v2_17_0): a
    volatile file gets the new layout, the data is copied, the layouts
    are swapped.  So there must be room for a second copy, and before
    2.15 (LU-13397) every hole is copied as zeros.  The emulator keeps
    the one backing file: it checks the room, fills the holes where the
    version does, and writes the new layout (new objects, generation +1).
    """
    prof = common.profile_of()
    args = parse_stripe_args('migrate', argv, prof)
    for path in args.paths:
        tgt = common.resolve(path, 'migrate')
        prof = common.profile_of(tgt.fsname)
        common.check_writable(tgt, 'migrate')
        try:
            st = os.stat(tgt.backing)
        except OSError as exc:
            raise common.LustreError(
                exc.errno or errno.EIO, 'error: lfs migrate: %s: cannot '
                'open source file: %s' % (path, exc.strerror))
        if not os.path.isfile(tgt.backing):
            raise common.LustreError(
                errno.EOPNOTSUPP, "lfs migrate: cannot migrate '%s': %s"
                % (path, common.strerror(errno.EOPNOTSUPP)))
        try:
            _validate('migrate', tgt, args, path, prof, False)
        except common.LustreError as exc:
            if exc.code == 1:
                raise
            raise common.LustreError(exc.code, exc.message + (
                '\nerror: lfs migrate: %s: cannot create volatile file: %s'
                % (path, common.strerror(exc.code))), exc.stdout)
        old = lay.effective(tgt.backing, tgt.fsname, persist=True)
        layout = lay.new_layout(tgt.backing, tgt.fsname, args.comps,
                                old['layout_gen'] + 1, args.composite)
        need = (st.st_blocks // 2 if prof.migrate_keeps_holes
                else (st.st_size + 1023) // 1024)
        _room_for_copy(tgt, layout, need, path)
        if not prof.migrate_keeps_holes:
            _fill_holes(tgt.backing)
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
    want = set()
    directory = yaml = quiet = False
    for opt, _val in opts:
        key = opt.lstrip('-')
        if key in ('c', 'stripe-count', 'stripe_count'):
            want.add('count')
        elif key in ('S', 'stripe-size', 'stripe_size'):
            want.add('size')
        elif key in ('i', 'stripe-index', 'stripe_index'):
            want.add('offset')
        elif key in ('p', 'pool'):
            want.add('pool')
        elif key in ('d', 'directory'):
            directory = True
        elif key in ('y', 'yaml'):
            yaml = True
        elif key in ('q', 'quiet'):
            quiet = True
    if not paths:
        raise usage_error('getstripe', 'error: getstripe: no '
                          'filename|pathname')
    fields = lay.Fields(**{k: k in want for k in lay.Fields._fields}) \
        if want else None
    for path in paths:
        tgt = common.resolve(path, 'getstripe')
        prof = common.profile_of(tgt.fsname)
        defaults = _defaults(tgt.fsname)
        _lstat('getstripe', path, tgt.backing)
        if os.path.isdir(tgt.backing):
            default = lay.dir_default(tgt.backing, tgt.fsname)
            if fields:
                comp = (default['components'][0] if default else
                        {'stripe_count': 0, 'stripe_size': 0,
                         'pattern': '0', 'stripe_offset': -1})
                out.append(lay.format_fields(comp, 0, fields, prof, True,
                                             defaults))
            elif directory or yaml:
                out.append(lay.format_dir_default(default, prof, defaults,
                                                  yaml))
            else:
                out.append(lay.format_dir_default(default, prof, defaults,
                                                  False, path))
                for name in sorted(os.listdir(tgt.backing)):
                    child = os.path.join(tgt.backing, name)
                    if os.path.isfile(child) and not os.path.islink(child):
                        layout = lay.effective(child, tgt.fsname,
                                               persist=_rw(tgt))
                        out.append(lay.format_file(
                            os.path.join(path, name), layout, prof,
                            defaults))
            continue
        if not os.path.isfile(tgt.backing):
            out.append('%s has no stripe info\n' % path)
            continue
        layout = lay.effective(tgt.backing, tgt.fsname, persist=_rw(tgt))
        if fields:
            comp = lay.last_init(layout)
            gen = 0 if layout['composite'] else layout['layout_gen']
            out.append(lay.format_fields(comp, gen, fields, prof, False,
                                         defaults))
        elif quiet and not layout['composite']:
            comp = layout['components'][0]
            out.append(lay.format_plain(
                path, comp, 0, prof, lay.Fields(*([False] * 6), True),
                False, False, defaults))
        else:
            out.append(lay.format_file(path, layout, prof, defaults, yaml))
    return 0


def _rw(tgt: common.Target) -> bool:
    rec = tgt.record
    return not (rec and 'ro' in rec.get('options', []))


# -- df --------------------------------------------------------------

def _df_targets(paths: typing.List[str], prof: versions.Profile,
                err: typing.List[str], out: Out
                ) -> typing.Tuple[typing.List[typing.Tuple[str, str]], int]:
    """The (fsname, mount point) each path argument names, and an errno.

    v2_15_4+ lfs_df() looks at every path ("error: invalid path" for a
    missing one, "df:PATH Not a Lustre filesystem" on stdout and 95 for
    one elsewhere); v2_12_9/v2_14_0 at the first only, silently doing
    nothing for a path on another file system.
    """
    found = []
    rc = 0
    for path in paths if prof.df_all_paths else paths[:1]:
        try:
            os.stat(path)       # realpath() in lfs_df()
        except OSError as exc:
            code = exc.errno or errno.EIO
            err.append("error: invalid path '%s': %s" % (
                path, common.strerror(code)))
            rc = rc or code
            continue
        try:
            tgt = common.resolve(path, 'df')
        except common.NotLustre:
            if prof.df_all_paths:
                out.append('df:%s Not a Lustre filesystem\n' % path)
                rc = rc or errno.EOPNOTSUPP
            continue
        found.append((tgt.fsname, tgt.mountpoint))
    return found, rc


def cmd_df(argv: typing.List[str], out: Out) -> int:
    """lfs df [-h|-H] [-i] [-l] [-v] [--pool FS.POOL|POOL] [PATH...]."""
    prof = common.profile_of()
    short = 'hHilp:v' if prof.df_si else 'hilp:v'
    opts, paths = _getopt('df', argv, short,
                          ['human-readable', 'si', 'inodes', 'lazy',
                           'pool=', 'verbose'])
    pool = None
    verbose = human = si = inodes = lazy = False
    for opt, val in opts:
        if opt in ('-p', '--pool'):
            pool = val
        elif opt in ('-v', '--verbose'):
            verbose = True
        elif opt in ('-h', '--human-readable'):
            human, si = True, False
        elif opt in ('-H', '--si'):
            human = si = True
        elif opt in ('-i', '--inodes'):
            inodes = True
        elif opt in ('-l', '--lazy'):
            lazy = True
    err: typing.List[str] = []
    if paths:
        targets, rc = _df_targets(paths, prof, err, out)
    else:
        rc = 0
        targets = []
        for mp, rec in sorted(common.active_mounts().items()):
            if rec.get('stale'):
                code = rec['stale']['errno']
                err.append("lfs: cannot open '%s': %s"
                           % (mp, common.strerror(code)))
                rc = code
                break
            targets.append((rec['fsname'], mp))
    for fsname, mountpoint in targets:
        poolname = pool
        if pool and '.' in pool:
            prefix, _dot, poolname = pool.partition('.')
            # mntdf(): strncmp(fsname, pool, strlen(fsname))
            if not pool.startswith(fsname):
                err.append('filesystem name incorrect')
                rc = rc or errno.ENODEV
                break
        text, status = capacity.df(fsname, mountpoint, poolname, verbose,
                                   human, inodes, si, lazy)
        out.append(text)
        if status:
            rc = rc or -status
            if not paths:
                break
    if err:
        sys.stdout.write(''.join(out))
        del out[:]
        sys.stdout.flush()
        sys.stderr.write('\n'.join(err) + '\n')
    return rc


# -- pools, projects, quotas -----------------------------------------

def cmd_pool_list(argv: typing.List[str], out: Out) -> int:
    """lfs pool_list FS | FS.POOL | PATH."""
    if len(argv) != 1:
        raise usage_error('pool_list')
    arg = argv[0]
    if arg.startswith('/'):
        fsname, pool = common.resolve(arg, 'pool_list').fsname, ''
    else:
        fsname, _dot, pool = arg.partition('.')
    try:
        cfg = common.fs_config(fsname)
    except common.LustreError:
        raise common.LustreError(errno.ENOENT, "lfs pool_list: Lustre "
                                 "filesystem '%s' not found: %s (2)" % (
                                     fsname, common.strerror(errno.ENOENT)))
    if not pool:
        out.append('Pools from %s:\n' % fsname)
        out.extend('%s.%s\n' % (fsname, name) for name in cfg['pools'])
        return 0
    if pool not in cfg['pools']:
        out.append('Pool: %s.%s\n' % (fsname, pool))
        raise common.LustreError(errno.ENOENT, "lfs pool_list: cannot open "
                                 "%s.%s: %s (2)" % (
                                     fsname, pool,
                                     common.strerror(errno.ENOENT)))
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
            prj = _project_id('project', val, "invalid project id '%s'")
    recursive = '-r' in flags
    if not paths:
        raise usage_error('project', 'lfs project: missing pathname')
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
            for item in _walk(tgt.backing, True):
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
            # lfs_project.c project_list_one(): "%5u %c %s"
            out.append('%5u %c %s\n' % (prj_id, 'P' if inherit else '-',
                                        shown))
    return 0


def _projid_names() -> typing.Dict[str, int]:
    """/etc/projid: NAME:ID lines (liblustreapi_project.c, v2_17_0)."""
    names = {}
    try:
        with open(os.environ.get('LUSTRE_EMULATOR_PROJID', '/etc/projid'),
                  encoding='utf-8') as handle:
            for line in handle:
                name, sep, ident = line.strip().partition(':')
                if sep and ident.isdigit() and not name.startswith('#'):
                    names[name] = int(ident)
    except OSError:
        pass
    return names


def _project_id(cmd: str, text: str, fmt: str) -> int:
    """A project given by /etc/projid name or number (str2quotaid)."""
    names = _projid_names()
    if text in names:
        return names[text]
    value, rest = common.c_strtoull(text)
    if rest or not text or text.startswith('-') or value >= 1 << 32:
        raise usage_error(cmd, 'lfs %s: ' % cmd + fmt % text)
    return value


QUOTA_KEYS = {'-b': 'bsoft', '--block-softlimit': 'bsoft',
              '-B': 'bhard', '--block-hardlimit': 'bhard',
              '-i': 'isoft', '--inode-softlimit': 'isoft',
              '-I': 'ihard', '--inode-hardlimit': 'ihard'}


def cmd_setquota(argv: typing.List[str], out: Out) -> int:
    """lfs setquota {-p ID|-P} [-b|-B|-i|-I LIMIT] [-d] MNT.

    lfs.c lfs_setquota() (v2_12_9, v2_17_0): block limits are parsed
    with llapi_parse_size() in KiB units (a bare number is KiB, "b" is
    bytes) and shifted to KiB; id 0 is refused ("can't set quota for
    root"); a limit not given is kept by reading the current ones first,
    so disabled quotas fail there (ESRCH).
    """
    prof = common.profile_of()
    opts, paths = _getopt('setquota', argv, 'u:g:p:PdDb:B:i:I:',
                          ['projid=', 'default', 'default-prj', 'delete',
                           'block-softlimit=', 'block-hardlimit=',
                           'inode-softlimit=', 'inode-hardlimit='])
    prj = None
    default = use_dflt = False
    limits: typing.Dict[str, int] = {}
    warnings = []
    for opt, val in opts:
        if opt in ('-u', '-g'):
            raise common.LustreError(errno.EOPNOTSUPP, 'lfs setquota: '
                                     'user/group quotas are not emulated')
        if opt in ('-p', '--projid'):
            prj = _project_id('setquota', val, "invalid project id '%s'")
            if prj == 0:
                raise common.LustreError(1, "lfs setquota: can't set quota "
                                         "for root usr/group/project.")
        elif opt in ('-P', '--default-prj'):
            default = True
        elif opt in ('-d', '--default'):
            use_dflt = True
        elif opt in ('-D', '--delete'):
            use_dflt = True
        elif opt in QUOTA_KEYS:
            key = QUOTA_KEYS[opt]
            block = key.startswith('b')
            try:
                value = common.llapi_parse_size(
                    val, 1024 if block else 1, True, prof.size_long_suffix)
            except ValueError:
                raise usage_error('setquota', "lfs: invalid limit '%s'"
                                  % val, prof)
            if block:
                value >>= 10
                if 0 < value <= 1024:
                    warnings.append(
                        "lfs setquota: warning: block %slimit '%d' smaller "
                        "than minimum qunit size\nSee 'lfs help setquota' "
                        "or Lustre manual for details" % (
                            'soft' if key == 'bsoft' else 'hard', value))
            limits[key] = value
    if prj is None and not default:
        raise usage_error('setquota', 'lfs setquota: either -u, -g or -p '
                          'must be specified', prof)
    if not limits and not use_dflt:
        raise usage_error('setquota', 'lfs setquota: at least one limit '
                          'must be specified', prof)
    if use_dflt and limits:
        raise usage_error('setquota', 'lfs setquota: limits should not be '
                          'specified when using default quota', prof)
    if len(paths) != 1:
        raise usage_error('setquota', 'lfs setquota: filesystem not '
                          'specified or unexpected argument', prof)
    tgt = common.resolve(paths[0], 'setquota')
    prof = common.profile_of(tgt.fsname)
    if warnings:
        sys.stderr.write('\n'.join(warnings) + '\n')
    if not common.fs_config(tgt.fsname)['features']['project_quota']:
        if prof.setquota_reports_failure:
            raise common.LustreError(errno.ESRCH, 'setquota failed: %s'
                                     % common.strerror(errno.ESRCH))
        return errno.ESRCH
    if default:
        capacity.set_default(tgt.fsname, **limits)
    elif use_dflt:
        capacity.use_default(tgt.fsname, prj)
    else:
        capacity.set_limits(tgt.fsname, prj, **limits)
    return 0


def cmd_quota(argv: typing.List[str], out: Out) -> int:
    """lfs quota [-q] {-p ID|-P} MNT (project quotas only).

    The id is the first argument after the options ("-p" takes none in
    lfs.c lfs_quota(), v2_12_9 .. v2_17_0).  Quotas not enabled: "prj
    quotas are not enabled." and ESRCH (3), after the title from 2.16.
    """
    prof = common.profile_of()
    opts, args = _getopt('quota', argv, 'pPqugvh',
                         ['projid', 'default', 'quiet', 'verbose'])
    flags = {o for o, _v in opts}
    if '-u' in flags or '-g' in flags:
        raise common.LustreError(errno.EOPNOTSUPP, 'lfs quota: user/group '
                                 'quotas are not emulated')
    show_default = '-P' in flags or '--default' in flags
    quiet = '-q' in flags or '--quiet' in flags
    name = '<unknown>'
    prj = 0
    if not show_default:
        if '-p' not in flags and '--projid' not in flags:
            raise common.LustreError(errno.EOPNOTSUPP, 'lfs quota: only '
                                     'project quotas (-p) are emulated')
        if not args:
            raise usage_error('quota', 'lfs quota: u/g/p-name is required',
                              prof)
        name = args.pop(0)
        prj = _project_id('quota', name, "invalid id '%s'")
    if len(args) != 1:
        raise common.LustreError(errno.EOPNOTSUPP, 'lfs quota: exactly one '
                                 'file system is emulated')
    mnt = args[0]
    tgt = common.resolve(mnt, 'quota')
    prof = common.profile_of(tgt.fsname)
    if prof.quota_title_projname and not show_default:
        # prjid2name(): the /etc/projid name of the id, else "<unknown>"
        name = next((n for n, i in _projid_names().items() if i == prj),
                    '<unknown>')
    enabled = common.fs_config(tgt.fsname)['features']['project_quota']
    if show_default:
        if not enabled:
            raise common.LustreError(errno.ESRCH, 'prj quotas are not '
                                     'enabled.')
        out.append(capacity.format_default(prof, tgt.fsname, mnt))
        return 0
    title = '' if quiet else capacity.quota_title(prof, name, prj)
    if not enabled:
        if prof.quota_title_before_query:
            out.append(title)
        raise common.LustreError(errno.ESRCH, 'prj quotas are not enabled.')
    qrow = capacity.quota_row(tgt.fsname, prj)
    out.append(title)
    out.append(capacity.quota_line(prof, mnt, qrow, prj))
    out.append(capacity.default_lines(prof, qrow, prj))
    return 0


COMMANDS: typing.Dict[str, typing.Callable[[typing.List[str], Out], int]] = {
    'df': cmd_df, 'getstripe': cmd_getstripe, 'setstripe': cmd_setstripe,
    'migrate': cmd_migrate, 'pool_list': cmd_pool_list,
    'project': cmd_project, 'setquota': cmd_setquota, 'quota': cmd_quota,
}


def main(argv: typing.Optional[typing.List[str]] = None) -> int:
    """Entry point; return the errno as exit status."""
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] in ('help', '-h', '--help', '--list-commands'):
        sys.stdout.write('Try interactive use without arguments or use one '
                         'of:\n  %s\n' % ' '.join(sorted(COMMANDS)))
        return 0 if argv else errno.EINVAL
    if argv[0] in ('--version', 'version'):
        sys.stdout.write('lfs %s\n' % common.version_of())
        return 0
    func = COMMANDS.get(argv[0])
    if func is None:
        sys.stderr.write("lfs: '%s' is not a valid command. See 'lfs "
                         "--list-commands'.\n" % argv[0])
        return 1
    out: Out = []
    try:
        rc = func(argv[1:], out)
    except common.LustreError as exc:
        sys.stdout.write(''.join(out) + exc.stdout)
        sys.stdout.flush()
        if exc.message:
            sys.stderr.write(exc.message + '\n')
        return exc.code
    except OSError as exc:
        sys.stdout.write(''.join(out))
        sys.stdout.flush()
        sys.stderr.write('lfs %s: %s\n' % (argv[0], exc))
        return exc.errno or errno.EIO
    sys.stdout.write(''.join(out))
    return rc
