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

"""File layouts (striping), kept as JSON in ``user.lustre.*`` xattrs.

``user.lustre.lov`` on a regular file holds its layout::

    {"composite": bool, "layout_gen": int,
     "components": [{"id", "start", "end" (-1 = EOF), "pattern" ("raid0"
                     or "mdt" for Data-on-MDT), "stripe_count",
                     "stripe_size", "stripe_offset", "pool",
                     "objects": [[ost, objid], ...], [] (DoM) or null
                     (not instantiated)}]}

``user.lustre.lov_default`` on a directory holds its default layout (the
same without objects; a field left to the file system is null).  Files
created behind the emulator's back (by qemu-img, cp...) have no xattr:
their layout is the one their directory's default gives (a directory
without one takes the file system root's, else the file system's).  A
real file gets its layout when it is created, so changing a directory's
default first writes down the layout of every file below it that has
none yet ("a created file already has a layout").

Formats are those of liblustreapi's lov_dump_user_lmm_header(),
lov_dump_user_lmm_v1v3(), lov_dump_comp_v1_header() and
lov_dump_comp_v1_entry() (lustre/utils/liblustreapi.c, read at v2_12_9,
v2_15_4, v2_16_1 and v2_17_0); where versions differ the profile says
which applies (``versions.Profile``).
"""

import copy
import errno
import json
import os
import typing

from lustre_emu import common
from lustre_emu import versions

XA_LOV = 'user.lustre.lov'
XA_DEFAULT = 'user.lustre.lov_default'
EOF = -1
MIN_STRIPE = 65536
MAX_STRIPE_COUNT = 2000     # LOV_MAX_STRIPE_COUNT, lustre_user.h (all tags)
# FID sequences of OST objects: a file system formatted by 2.x gives each
# OST a sequence from the sequence controller, 0x240000400 for OST0000 and
# 0x280000400 for OST0001 as the 2.17.0 transcript shows; group/l_fid
# print them.
OST_SEQ_BASE = 0x200000400
OST_SEQ_STEP = 0x40000000

Component = typing.Dict[str, typing.Any]
Layout = typing.Dict[str, typing.Any]


def get_xattr_json(path: str, name: str) -> typing.Optional[typing.Any]:
    """Return a JSON xattr, or None when absent."""
    try:
        return json.loads(os.getxattr(path, name))
    except OSError as exc:
        if exc.errno in (errno.ENODATA, errno.ENOTSUP):
            return None
        raise


def set_xattr_json(path: str, name: str, value: typing.Any) -> None:
    """Store a JSON xattr."""
    os.setxattr(path, name, json.dumps(value, sort_keys=True).encode())


def ost_seq(ost: int) -> int:
    """The FID sequence of an OST's objects."""
    return OST_SEQ_BASE + (ost + 1) * OST_SEQ_STEP


# -- defaults ----------------------------------------------------------

def fs_defaults(cfg: dict) -> Component:
    """The file system's defaults (lov.stripecount, lov.stripesize...).

    An explicit stripe size in the config wins; otherwise it is the
    version's LOV_DESC_STRIPE_SIZE_DEFAULT (1 MiB up to 2.15, 4 MiB from
    2.16).
    """
    prof = common.profile_of(cfg['name'])
    base = cfg['default_layout']
    return {'stripe_count': base.get('stripe_count') or 1,
            'stripe_size': base.get('stripe_size') or
            prof.default_stripe_size,
            'stripe_offset': -1, 'pool': base.get('pool')}


def own_default(dirpath: str) -> typing.Optional[Layout]:
    """A directory's own default layout, or None."""
    return get_xattr_json(dirpath, XA_DEFAULT)


def dir_default(dirpath: str, fsname: str) -> typing.Optional[Layout]:
    """The default a directory shows and gives its new files.

    Its own, else the file system root's (llite dir.c
    ll_dir_getstripe_default() asks the root FID, v2_12_9 and later),
    else None: lfs then prints the file system's values with pattern 0.
    """
    own = own_default(dirpath)
    if own:
        return own
    return own_default(common.backing_root(fsname))


# -- OST selection -----------------------------------------------------

def candidates(cfg: dict, pool: typing.Optional[str]) -> typing.List[int]:
    """Active OST indices usable for a pool (or all).

    An unknown pool (accepted by some versions) places objects on any
    OST, as the MDS does when the pool does not exist.
    """
    active = [o['index'] for o in cfg['osts'] if o.get('active', True)]
    if pool and pool in cfg['pools']:
        members = cfg['pools'][pool]
        active = [i for i in active if i in members]
    return sorted(active)


def instantiate(comp: Component, cfg: dict,
                seed: typing.Optional[int]) -> Component:
    """Allocate OST objects to a component (none for a DoM component).

    With ``seed`` (an inode number) the choice is deterministic and no
    object ids are consumed (used for files not yet written down);
    otherwise the file system's round-robin cursor and object counters
    advance under the state lock.
    """
    comp = dict(comp)
    if comp.get('pattern') == 'mdt':
        comp['objects'] = []
        return comp
    osts = candidates(cfg, comp.get('pool'))
    if not osts:
        raise common.LustreError(errno.ENOSPC, 'no active OST available')
    want = comp['stripe_count'] or fs_defaults(cfg)['stripe_count']
    count = len(osts) if want < 0 else min(want, len(osts))
    path = os.path.join(common.fs_dir(cfg['name']), 'objects.json')
    with common.locked():
        state = common.read_json(path, {'rr': 0, 'next': {}})
        offset = comp.get('stripe_offset')
        if offset is not None and offset >= 0:
            if offset not in osts:
                raise common.LustreError(
                    errno.EINVAL, 'invalid stripe offset %d' % offset)
            first = osts.index(offset)
        elif seed is not None:
            first = seed % len(osts)
        else:
            first = state['rr'] % len(osts)
            state['rr'] += 1
        chosen = [osts[(first + i) % len(osts)] for i in range(count)]
        objects = []
        for ost in chosen:
            if seed is not None:
                objects.append([ost, 0])
                continue
            objid = state['next'].get(str(ost), 2)
            state['next'][str(ost)] = objid + 1
            objects.append([ost, objid])
        if seed is None:
            common.write_json(path, state)
    comp['objects'] = objects
    return comp


def instantiate_to(layout: Layout, size: int, cfg: dict,
                   seed: typing.Optional[int]) -> bool:
    """Instantiate every component that starts below ``size``.

    The first component is always instantiated.  Return True when
    anything changed.
    """
    changed = False
    for idx, comp in enumerate(layout['components']):
        if comp.get('objects') is None and (idx == 0 or
                                            comp['start'] < size):
            layout['components'][idx] = instantiate(comp, cfg, seed)
            if layout['composite'] and idx:
                layout['layout_gen'] += 1
            changed = True
    return changed


def file_layout(spec: typing.List[Component], cfg: dict,
                composite: typing.Optional[bool] = None,
                parent_pool: typing.Optional[str] = None) -> Layout:
    """A file's layout from a spec: unset fields from the file system.

    An explicit layout's unset stripe count and size are filled by the
    MDS from the file system's defaults, not from the parent directory's
    default; only its pool is inherited (lustre/lod/lod_qos.c
    lod_qos_parse_config(): def_pool from the default the object had,
    ld_default_stripe_size/count otherwise; v2_12_9 .. v2_17_0).  The
    2.17.0 transcript agrees: ``lfs migrate -c 1 -p fast`` in a directory
    whose default is 1 MiB stripes gives 4 MiB, the file system's.  A new
    composite file starts at layout generation = number of components
    (the transcript's two-component file shows ``lcm_layout_gen: 2``).
    """
    base = dict(fs_defaults(cfg))
    if parent_pool:
        base['pool'] = parent_pool
    comps = []
    for idx, comp in enumerate(spec):
        new = {'id': idx + 1, 'start': comp['start'], 'end': comp['end'],
               'pattern': comp.get('pattern') or 'raid0', 'objects': None}
        for key in ('stripe_count', 'stripe_size', 'stripe_offset',
                    'pool'):
            val = comp.get(key)
            new[key] = base[key] if val is None else val
        if new['pattern'] == 'mdt':
            new['stripe_count'] = 0
            new['stripe_size'] = comp['end']
            new['stripe_offset'] = 0
        comps.append(new)
    if composite is None:
        composite = len(spec) > 1 or spec[0]['end'] != EOF
    return {'composite': composite,
            'layout_gen': len(comps) if composite else 0,
            'components': comps}


def dir_layout(spec: typing.List[Component],
               composite: typing.Optional[bool] = None) -> Layout:
    """A directory default from a spec: unset fields stay unset."""
    comps = []
    for comp in spec:
        new = {'start': comp['start'], 'end': comp['end'],
               'pattern': comp.get('pattern') or 'raid0'}
        for key in ('stripe_count', 'stripe_size', 'stripe_offset',
                    'pool'):
            new[key] = comp.get(key)
        if new['pattern'] == 'mdt':
            new['stripe_count'] = 0
            new['stripe_size'] = comp['end']
        comps.append(new)
    if composite is None:
        composite = len(spec) > 1 or spec[0]['end'] != EOF
    return {'composite': composite, 'layout_gen': 0, 'components': comps}


def inherited(dirpath: str, fsname: str, cfg: dict) -> Layout:
    """The layout a file created now in ``dirpath`` gets."""
    default = dir_default(dirpath, fsname)
    if default is None:
        return file_layout([{'start': 0, 'end': EOF}], cfg)
    return file_layout(default['components'], cfg, default['composite'])


def effective(backing: str, fsname: str, persist: bool) -> Layout:
    """Layout of a regular file, instantiated up to its size."""
    cfg = common.fs_config(fsname)
    st = os.stat(backing)
    layout = get_xattr_json(backing, XA_LOV)
    seed = None if persist else st.st_ino
    if layout is None:
        layout = inherited(os.path.dirname(backing), fsname, cfg)
        instantiate_to(layout, st.st_size, cfg, seed)
        if persist:
            set_xattr_json(backing, XA_LOV, layout)
        return layout
    if instantiate_to(layout, st.st_size, cfg, seed) and persist:
        set_xattr_json(backing, XA_LOV, layout)
    return layout


def freeze(dirpath: str, fsname: str) -> None:
    """Write down the layout of every file below dirpath that has none.

    Called before a directory's default changes: those files were
    created under the old default and keep it.
    """
    for here, _dirs, files in os.walk(dirpath):
        for name in files:
            path = os.path.join(here, name)
            if os.path.islink(path) or not os.path.isfile(path):
                continue
            try:
                if get_xattr_json(path, XA_LOV) is None:
                    effective(path, fsname, persist=True)
            except OSError:
                continue


def new_layout(backing: str, fsname: str, spec: typing.List[Component],
               gen: typing.Optional[int] = None,
               composite: typing.Optional[bool] = None) -> Layout:
    """Build and instantiate a layout from a setstripe/migrate spec."""
    cfg = common.fs_config(fsname)
    default = dir_default(os.path.dirname(backing), fsname)
    pools = [c.get('pool') for c in (default or {}).get('components', [])
             if c.get('pool')]
    layout = file_layout(spec, cfg, composite, pools[0] if pools else None)
    size = os.stat(backing).st_size if os.path.exists(backing) else 0
    instantiate_to(layout, size, cfg, None)
    if gen is not None:
        layout['layout_gen'] = gen
    return layout


def strip_objects(layout: Layout) -> Layout:
    """A copy of a layout with no objects (a directory default)."""
    out = copy.deepcopy(layout)
    for comp in out['components']:
        comp['objects'] = None
    return out


# -- formatting --------------------------------------------------------

def _chex(value: int) -> str:
    """C's ``%#llx``: 0 prints as ``0``."""
    return '%#x' % value if value else '0'


def _dfid(ost: int, objid: int) -> str:
    """DFID ``[0x%llx:0x%x:0x%x]`` of an OST object."""
    return '[0x%x:0x%x:0x%x]' % (ost_seq(ost), objid, 0)


def _end(comp: Component) -> str:
    return 'EOF' if comp['end'] == EOF else str(comp['end'])


class Fields(typing.NamedTuple):
    """What to print (lfs getstripe's verbose bits)."""

    count: bool = True
    size: bool = True
    pattern: bool = True
    gen: bool = True
    offset: bool = True
    pool: bool = True
    objects: bool = True

    @property
    def labelled(self) -> bool:
        """More than one value: each gets its label (verbose & ~BIT)."""
        return sum(self) > 1


ALL = Fields()


def _header(comp: Component, gen: int, prof: versions.Profile,
            fields: Fields, is_dir: bool, indent: bool, yaml: bool,
            defaults: Component, init: bool) -> str:
    """lov_dump_user_lmm_header(): the lmm_* (or dir) fields of a layout.

    Returns the text including its line end(s); ``is_dir`` joins fields
    with a blank on one line, files put each on its own line.
    """
    prefix = '' if is_dir else 'lmm_'
    space = '      ' if indent else ''
    labelled = fields.labelled
    dom = comp.get('pattern') == 'mdt'
    parts: typing.List[str] = []

    def label(name: str) -> str:
        return '%s%s%s' % (space, prefix, name) if labelled else ''

    objs = comp.get('objects')
    if fields.count:
        if objs:
            count = len(objs)
        elif is_dir and not comp.get('stripe_count') and not dom:
            count = defaults['stripe_count']
        else:
            count = comp.get('stripe_count') or 0
        parts.append(label('stripe_count:  ') + str(count))
    if fields.size:
        size = comp.get('stripe_size') or (defaults['stripe_size']
                                           if is_dir else 0)
        parts.append(label('stripe_size:   ') + str(size))
    if fields.pattern:
        parts.append(label('pattern:       ') + comp.get('pattern',
                                                         'raid0'))
    if fields.gen and not is_dir:
        parts.append(label('layout_gen:    ') + str(gen if init else 0))
    if fields.offset:
        name = ('mdt_index:     ' if dom and prof.dom_mdt_index_label
                else 'stripe_offset: ')
        offset = comp.get('stripe_offset')
        if is_dir or not init or dom:
            value = -1 if offset is None else offset
            if dom and not is_dir and not prof.dom_mdt_index_label:
                value = 0
        else:
            value = objs[0][0] if objs else -1
        parts.append(label(name) + str(value))
    if fields.pool and comp.get('pool'):
        parts.append(label('pool:          ') + comp['pool'])
    if not parts:
        return ''
    sep = '\n' if (yaml or not is_dir) else ' '
    return sep.join(parts) + '\n'


def _objects(comp: Component, prof: versions.Profile, indent: bool,
             yaml: bool) -> str:
    objs = comp.get('objects') or []
    if comp.get('pattern') == 'mdt' or not objs:
        return ''
    lines = []
    if indent:
        lines.append('      lmm_objects:')
    elif yaml:
        lines.append('lmm_objects:')
    else:
        lines.append('\tobdidx\t\t objid\t\t objid\t\t group')
    for i, (ost, objid) in enumerate(objs):
        if yaml:
            lines.append('      - l_ost_idx: %d' % ost)
            lines.append('        l_fid:     0x%x:0x%x:0x0'
                         % (ost_seq(ost), objid))
        elif indent:
            fmt = ('      - %3d: { l_ost_idx: %3d, l_fid: %s }'
                   if prof.objects_padded else
                   '      - %d: { l_ost_idx: %d, l_fid: %s }')
            lines.append(fmt % (i, ost, _dfid(ost, objid)))
        else:
            lines.append('\t%6u\t%14u\t%13s\t%14s' % (
                ost, objid, _chex(objid), _chex(ost_seq(ost))))
    return '\n'.join(lines) + '\n'


def format_plain(path: typing.Optional[str], comp: Component, gen: int,
                 prof: versions.Profile, fields: Fields, is_dir: bool,
                 yaml: bool, defaults: Component) -> str:
    """lov_dump_user_lmm_v1v3() for a plain layout (file or directory)."""
    out = path + '\n' if path else ''
    out += _header(comp, gen, prof, fields, is_dir, False, yaml,
                   defaults, init=not is_dir)
    if fields.objects and not is_dir:
        out += _objects(comp, prof, False, yaml)
    if not yaml:
        out += '\n'
    return out


def format_composite(path: typing.Optional[str], layout: Layout,
                     prof: versions.Profile, is_dir: bool, yaml: bool,
                     defaults: Component) -> str:
    """lov_dump_comp_v1(): header, then each component's entry and layout."""
    comps = layout['components']
    old_yaml = yaml and not prof.yaml_components_list
    lead = '' if (yaml and not old_yaml) else '  '
    out = path + '\n' if (path and not yaml) else ''
    out += '%slcm_layout_gen:    %d\n' % (lead, 0 if is_dir
                                          else layout['layout_gen'])
    out += '%slcm_mirror_count:  1\n' % lead
    out += '%slcm_entry_count:   %d\n' % (lead, len(comps))
    if yaml and not old_yaml:
        out += 'components:\n'
    for idx, comp in enumerate(comps):
        init = comp.get('objects') is not None and not is_dir
        ident = 'N/A' if is_dir else str(comp.get('id', idx + 1))
        mirror = 'N/A' if is_dir else '0'
        first = '  - ' if (yaml and not old_yaml) else '    '
        if old_yaml:
            out += '  component%d:\n' % idx
        out += '%slcme_id:             %s\n' % (first, ident)
        out += '    lcme_mirror_id:      %s\n' % mirror
        out += '    lcme_flags:          %s\n' % ('init' if init else '0')
        out += '    lcme_extent.e_start: %d\n' % comp['start']
        out += '    lcme_extent.e_end:   %s\n' % _end(comp)
        if yaml:
            out += '    sub_layout:\n'
        out += _header(comp, 0, prof, ALL, is_dir, True, yaml, defaults,
                       init)
        if init:
            out += _objects(comp, prof, True, yaml)
        if not yaml:
            out += '\n'
    return out


def format_file(path: str, layout: Layout, prof: versions.Profile,
                defaults: Component, yaml: bool = False) -> str:
    """``lfs getstripe FILE`` (``-y``: YAML, no path line)."""
    if layout['composite']:
        return format_composite(path, layout, prof, False, yaml, defaults)
    return format_plain(None if yaml else path, layout['components'][0],
                        layout['layout_gen'], prof, ALL, False, yaml,
                        defaults)


def format_dir_default(layout: typing.Optional[Layout],
                       prof: versions.Profile, defaults: Component,
                       yaml: bool = False,
                       path: typing.Optional[str] = None) -> str:
    """``lfs getstripe -d DIR``.

    No default at all: the file system's count and size with pattern 0
    and offset -1 (liblustreapi.c cb_getstripe() fakes a zeroed lmm when
    the ioctl gives ENODATA; v2_12_9 .. v2_17_0, and the 2.17.0
    transcript's ``pattern:       0``).
    """
    if layout is None:
        comp = {'stripe_count': 0, 'stripe_size': 0, 'pattern': '0',
                'stripe_offset': -1, 'pool': None}
        return format_plain(path, comp, 0, prof, ALL, True, yaml, defaults)
    if layout['composite']:
        return format_composite(path, strip_objects(layout), prof, True,
                                yaml, defaults)
    return format_plain(path, layout['components'][0], 0, prof, ALL, True,
                        yaml, defaults)


def last_init(layout: Layout) -> Component:
    """The last instantiated component (what -c/-S/-i/-p report)."""
    inited = [c for c in layout['components']
              if c.get('objects') is not None]
    return inited[-1] if inited else layout['components'][0]


def format_fields(comp: Component, gen: int, fields: Fields,
                  prof: versions.Profile, is_dir: bool,
                  defaults: Component) -> str:
    """``-c``/``-S``/``-i``/``-p`` (and combinations): the asked fields.

    One field prints its bare value; several print labelled.  As the
    header function ends its line and v1v3 adds a newline, lfs prints a
    blank line after them (a ``-p`` without pool prints just that).
    """
    return format_plain(None, comp, gen, prof, fields, is_dir, False,
                        defaults)
