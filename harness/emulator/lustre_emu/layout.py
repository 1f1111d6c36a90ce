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
     "components": [{"id", "start", "end" (-1 = EOF), "stripe_count",
                     "stripe_size", "stripe_offset", "pool",
                     "objects": [[ost, objid], ...] or null}]}

``user.lustre.lov_default`` on a directory holds its default layout (the
same without objects).  Files created behind the emulator's back (by
qemu-img, cp...) have no xattr: their layout is derived from the nearest
directory default and written down the first time ``lfs getstripe`` or
``lfs migrate`` looks at them.
"""

import copy
import errno
import json
import os
import typing

from lustre_emu import common

XA_LOV = 'user.lustre.lov'
XA_DEFAULT = 'user.lustre.lov_default'
EOF = -1
MIN_STRIPE = 65536
OST_SEQ = 0x100000000

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


# -- defaults ----------------------------------------------------------

def fs_default(fsname: str) -> Layout:
    """The filesystem-wide default: root directory's, else config's."""
    root = common.backing_root(fsname)
    own = get_xattr_json(root, XA_DEFAULT)
    if own:
        return own
    base = common.fs_config(fsname)['default_layout']
    comp = dict(base, id=1, start=0, end=EOF, objects=None)
    return {'composite': False, 'layout_gen': 0, 'components': [comp]}


def dir_default(dirpath: str, fsname: str) -> Layout:
    """Nearest default layout at or above a backing directory."""
    root = os.path.realpath(common.backing_root(fsname))
    cur = os.path.realpath(dirpath)
    while cur.startswith(root):
        own = get_xattr_json(cur, XA_DEFAULT)
        if own:
            return own
        if cur == root:
            break
        cur = os.path.dirname(cur)
    return fs_default(fsname)


# -- OST selection -----------------------------------------------------

def candidates(cfg: dict, pool: typing.Optional[str]) -> typing.List[int]:
    """Active OST indices usable for a pool (or all)."""
    active = [o['index'] for o in cfg['osts'] if o.get('active', True)]
    if pool:
        members = cfg['pools'].get(pool)
        if members is None:
            raise common.LustreError(
                errno.EINVAL, "pool '%s.%s' does not exist"
                % (cfg['name'], pool))
        active = [i for i in active if i in members]
    return sorted(active)


def check_pool(fsname: str, pool: typing.Optional[str], cmd: str) -> None:
    """Raise the real tool's error for a pool that does not exist."""
    if pool and pool not in common.fs_config(fsname)['pools']:
        raise common.LustreError(
            errno.EINVAL, "lfs %s: pool '%s.%s' does not exist"
            % (cmd, fsname, pool))


def instantiate(comp: Component, cfg: dict,
                seed: typing.Optional[int]) -> Component:
    """Allocate OST objects to a component.

    With ``seed`` (an inode number) the choice is deterministic and no
    object ids are consumed (used for files not yet written down);
    otherwise the filesystem's round-robin cursor and object counters
    advance under the state lock.
    """
    comp = dict(comp)
    osts = candidates(cfg, comp.get('pool'))
    if not osts:
        raise common.LustreError(errno.ENOSPC, 'no active OST available')
    want = comp['stripe_count'] or 1
    count = len(osts) if want < 0 else min(want, len(osts))
    path = os.path.join(common.fs_dir(cfg['name']), 'objects.json')
    with common.locked():
        state = common.read_json(path, {'rr': 0, 'next': {}})
        if comp['stripe_offset'] >= 0:
            if comp['stripe_offset'] not in osts:
                raise common.LustreError(
                    errno.EINVAL, 'invalid stripe offset %d'
                    % comp['stripe_offset'])
            first = osts.index(comp['stripe_offset'])
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
            if layout['composite']:
                layout['layout_gen'] += 1
            changed = True
    return changed


def fill_spec(spec: typing.List[Component], default: Layout) -> Layout:
    """Complete a setstripe spec with the parent default's values."""
    base = default['components'][0]
    comps = []
    for idx, comp in enumerate(spec):
        new = {'id': idx + 1, 'start': comp['start'], 'end': comp['end'],
               'objects': None}
        for key in ('stripe_count', 'stripe_size', 'stripe_offset',
                    'pool'):
            val = comp.get(key)
            new[key] = base.get(key) if val is None else val
        if not new['stripe_size']:
            new['stripe_size'] = 1048576
        if new['stripe_count'] == 0:
            new['stripe_count'] = base.get('stripe_count') or 1
        comps.append(new)
    return {'composite': len(spec) > 1 or spec[0]['end'] != EOF,
            'layout_gen': 0, 'components': comps}


def effective(backing: str, fsname: str, persist: bool) -> Layout:
    """Layout of a regular file, instantiated up to its size."""
    cfg = common.fs_config(fsname)
    st = os.stat(backing)
    layout = get_xattr_json(backing, XA_LOV)
    if layout is None:
        default = dir_default(os.path.dirname(backing), fsname)
        layout = fill_spec(default['components'], default)
        layout['composite'] = default['composite']
        seed = None if persist else st.st_ino
        instantiate_to(layout, st.st_size, cfg, seed)
        if persist:
            set_xattr_json(backing, XA_LOV, layout)
        return layout
    if instantiate_to(layout, st.st_size, cfg,
                      None if persist else st.st_ino) and persist:
        set_xattr_json(backing, XA_LOV, layout)
    return layout


def new_layout(backing: str, fsname: str,
               spec: typing.List[Component],
               gen: int = 0) -> Layout:
    """Build and instantiate a layout from a setstripe/migrate spec."""
    cfg = common.fs_config(fsname)
    layout = fill_spec(spec, dir_default(os.path.dirname(backing), fsname))
    layout['layout_gen'] = gen
    size = os.stat(backing).st_size if os.path.exists(backing) else 0
    instantiate_to(layout, size, cfg, None)
    return layout


# -- formatting --------------------------------------------------------

def _last_init(layout: Layout) -> Component:
    inited = [c for c in layout['components'] if c.get('objects')]
    return inited[-1] if inited else layout['components'][0]


def comp_values(comp: Component) -> typing.Tuple[int, int, int]:
    """(stripe_count, stripe_size, stripe_offset) as lfs shows them."""
    objs = comp.get('objects')
    if objs:
        return len(objs), comp['stripe_size'], objs[0][0]
    return comp['stripe_count'], comp['stripe_size'], comp['stripe_offset']


def _lmm_lines(comp: Component, gen: int, indent: str) -> typing.List[str]:
    count, size, offset = comp_values(comp)
    lines = [
        '%slmm_stripe_count:  %d' % (indent, count),
        '%slmm_stripe_size:   %d' % (indent, size),
        '%slmm_pattern:       raid0' % indent,
        '%slmm_layout_gen:    %d' % (indent, gen),
        '%slmm_stripe_offset: %d' % (indent, offset),
    ]
    if comp.get('pool'):
        lines.append('%slmm_pool:          %s' % (indent, comp['pool']))
    return lines


def _hex(value: int) -> str:
    """C's ``%#x``: 0 prints as ``0``."""
    return '%#x' % value if value else '0'


def _fid(ost: int, objid: int) -> str:
    return '0x%x:%s:0x0' % (OST_SEQ + (ost << 16), _hex(objid))


def _end(comp: Component) -> str:
    return 'EOF' if comp['end'] == EOF else str(comp['end'])


def format_file(path: str, layout: Layout) -> str:
    """``lfs getstripe FILE`` output."""
    lines = [path]
    if not layout['composite']:
        comp = layout['components'][0]
        lines += _lmm_lines(comp, layout['layout_gen'], '')
        lines.append('\tobdidx\t\t objid\t\t objid\t\t group')
        for ost, objid in comp.get('objects') or []:
            lines.append('\t%6u\t%14u\t%13s\t%14u'
                         % (ost, objid, _hex(objid), 0))
        return '\n'.join(lines) + '\n\n'
    comps = layout['components']
    lines += ['  lcm_layout_gen:    %d' % layout['layout_gen'],
              '  lcm_mirror_count:  1',
              '  lcm_entry_count:   %d' % len(comps)]
    for comp in comps:
        lines += [
            '    lcme_id:             %d' % comp['id'],
            '    lcme_mirror_id:      0',
            '    lcme_flags:          %s'
            % ('init' if comp.get('objects') else '0'),
            '    lcme_extent.e_start: %d' % comp['start'],
            '    lcme_extent.e_end:   %s' % _end(comp),
        ]
        lines += _lmm_lines(comp, 0, '      ')
        if comp.get('objects'):
            lines.append('      lmm_objects:')
            for idx, (ost, objid) in enumerate(comp['objects']):
                lines.append('      - %d: { l_ost_idx: %d, l_fid: [%s] }'
                             % (idx, ost, _fid(ost, objid)))
        lines.append('')
    return '\n'.join(lines) + '\n'


def format_yaml(layout: Layout, version: str) -> str:
    """``lfs getstripe -y`` output; 2.16+ lists ``components:``."""
    def sub(comp: Component, gen: int, ind: str) -> typing.List[str]:
        out = _lmm_lines(comp, gen, ind)
        if comp.get('objects'):
            out.append('%slmm_objects:' % ind)
            for ost, objid in comp['objects']:
                out.append('%s- l_ost_idx: %d' % (ind, ost))
                out.append('%s  l_fid:     %s' % (ind, _fid(ost, objid)))
        return out

    if not layout['composite']:
        return '\n'.join(sub(layout['components'][0],
                             layout['layout_gen'], '')) + '\n'
    comps = layout['components']
    lines = ['lcm_layout_gen:    %d' % layout['layout_gen'],
             'lcm_mirror_count:  1',
             'lcm_entry_count:   %d' % len(comps)]
    new_style = common.version_tuple(version) >= (2, 16)
    if new_style:
        lines.append('components:')
    for idx, comp in enumerate(comps):
        if new_style:
            first, ind = '  - ', '    '
        else:
            lines.append('component%d:' % idx)
            first, ind = '  ', '  '
        lines += [
            first + 'lcme_id:             %d' % comp['id'],
            ind + 'lcme_mirror_id:      0',
            ind + 'lcme_flags:          %s'
            % ('init' if comp.get('objects') else '0'),
            ind + 'lcme_extent.e_start: %d' % comp['start'],
            ind + 'lcme_extent.e_end:   %s' % _end(comp),
            ind + 'sub_layout:',
        ]
        lines += sub(comp, 0, ind + '  ')
    return '\n'.join(lines) + '\n'


def format_dir_default(layout: Layout) -> str:
    """``lfs getstripe -d DIR`` output."""
    if layout['composite']:
        text = format_file('', strip_objects(layout))
        return text.split('\n', 1)[1]
    comp = layout['components'][0]
    line = ('stripe_count:  %d stripe_size:   %d pattern:       raid0 '
            'stripe_offset: %d' % (comp['stripe_count'],
                                   comp['stripe_size'],
                                   comp['stripe_offset']))
    if comp.get('pool'):
        line += ' pool:          %s' % comp['pool']
    return line + '\n'


def strip_objects(layout: Layout) -> Layout:
    """A copy of a layout with no objects (a directory default)."""
    out = copy.deepcopy(layout)
    for comp in out['components']:
        comp['objects'] = None
    return out


def format_fields(layout: Layout, fields: typing.List[str],
                  is_dir: bool) -> str:
    """``-c``/``-S``/``-i``/``-p``: bare values, labelled when several."""
    comp = layout['components'][0] if is_dir else _last_init(layout)
    count, size, offset = comp_values(comp)
    values = {'c': ('stripe_count:  ', str(count)),
              'S': ('stripe_size:   ', str(size)),
              'i': ('stripe_offset: ', str(offset)),
              'p': ('pool:          ', comp.get('pool') or '')}
    if len(fields) == 1:
        val = values[fields[0]][1]
        return val + '\n' if val else ''
    prefix = '' if is_dir else 'lmm_'
    return ''.join('%s%s%s\n' % (prefix, values[f][0], values[f][1])
                   for f in fields if values[f][1])
