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

"""The 2.17 profile against a transcript of a real Lustre 2.17.0.

Every command of ``lustre-2.17.0-zfs.transcript`` runs, in order, on the
emulator set up as the real system was: file system ``lustre`` with
MDT0000 of 1818368 KiB and two OSTs of 2731008 KiB, zfs backend (no
fallocate), pool ``lustre.fast`` = OST0001, project quota on, MGS NID
10.0.2.15@tcp (the only one that answers), mounted with default options
on /mnt/lustre.  The commands run in a private mount namespace (see
tests/transcript_runner.py), so the transcript's paths are used as they
are.  Standard output, standard error and the exit status must be the
transcript's, except for these fields, which depend on the run:

* ``lfs df``: Used, Available and Use% of every row (sizes in use); with
  ``-i`` also Inodes (ZFS estimates it from the free space), IUsed, IFree
  and IUse%.  The 1K-blocks totals are compared.
* ``lfs getstripe``: where the allocator put objects and what they are
  called: the obdidx/objid/objid/group cells of the object table, the
  l_ost_idx and l_fid of ``lmm_objects`` entries, and the
  ``lmm_stripe_offset`` of an instantiated component (the OST of its
  first object).  Each placed object is checked to be on an OST of the
  component's pool.
* ``lfs quota``: the kbytes value (the "*" after it is compared).

Not replayed, with the reason: ``lctl get_param -n version`` (the
emulator has no lctl), ``uname -r`` (the kernel, not Lustre), and the
``mounts|`` lines of the server targets (the emulator has no servers).
The client's ``mounts|`` line is compared with ``lustre-emulator
proc-mounts``: the kernel shows a bind mount with its own type, so the
emulator renders the line a client shows.
"""

import json
import os
import re
import shutil
import subprocess
import sys
import typing
import unittest

from tests import base

NAME = 'lustre-2.17.0-zfs.transcript'
COPY = os.path.join(base.HERE, 'tests', 'data', 'lustre-real', NAME)
NOT_EMULATED = {
    'lctl get_param -n version': 'the emulator has no lctl',
    'uname -r': 'the kernel, not Lustre',
}
SERVER_MOUNT = re.compile(r'^\S+ \S+ lustre \S*svname=')


def shared_copy() -> str:
    """The transcript in shared/lustre-real/ beside the repository.

    ``$LUSTRE_REAL_TRANSCRIPT`` first; then ``shared/`` next to the
    repository or to one of its parents (a worktree may live one level
    further down than the main checkout).
    """
    env = os.environ.get('LUSTRE_REAL_TRANSCRIPT')
    if env:
        return env
    here = os.path.dirname(os.path.dirname(base.HERE))
    while True:
        parent = os.path.dirname(here)
        path = os.path.join(parent, 'shared', 'lustre-real', NAME)
        if os.path.exists(path) or parent == here:
            return path
        here = parent


def transcript_path() -> str:
    """The shared copy when there is one, else the repository's."""
    shared = shared_copy()
    if os.path.exists(shared):
        return shared
    return COPY if os.path.exists(COPY) else ''


class Entry(typing.NamedTuple):
    """One command of a transcript (or, command None, a mount table)."""

    command: typing.Optional[str]
    out: typing.List[str]
    err: typing.List[str]
    rc: typing.Optional[int]
    mounts: typing.List[str]


def parse(text: str) -> typing.List[Entry]:
    """Read the transcript format (see tests/data/lustre-real/README)."""
    entries: typing.List[Entry] = []
    cur: typing.Optional[dict] = None

    def close() -> None:
        if cur is not None:
            entries.append(Entry(**cur))

    for line in text.split('\n'):
        if line.startswith('$ '):
            close()
            cur = {'command': line[2:], 'out': [], 'err': [], 'rc': None,
                   'mounts': []}
        elif line.startswith('  mounts| '):
            if cur is None or cur['command'] is not None:
                close()
                cur = {'command': None, 'out': [], 'err': [], 'rc': None,
                       'mounts': []}
            cur['mounts'].append(line[len('  mounts| '):])
        elif line.startswith('  out| ') or line == '  out|':
            cur['out'].append(line[len('  out| '):])
        elif line.startswith('  err| ') or line == '  err|':
            cur['err'].append(line[len('  err| '):])
        elif line.startswith('  rc='):
            cur['rc'] = int(line[len('  rc='):])
    close()
    return entries


# -- the fields that may differ --------------------------------------------

_DF_ROW = re.compile(r'^(.{20}) (.{11}) (.{11}) (.{11}) (.{4})(  \S.*)$')
_OBJ_ROW = re.compile(r'^\t(.{6})\t(.{14})\t(.{13})\t(.{14})$')
_LMM_OBJ = re.compile(r'^(\s+- +\d+: \{ l_ost_idx: +)(\d+)(, l_fid: )'
                      r'(\[[^\]]*\])( \})$')
_OFFSET = re.compile(r'^(\s*lmm_stripe_offset: )(\d+)$')
_QUOTA_ROW = re.compile(r'^(.{15} )(.{7}) ')
_NUMBER = re.compile(r'^\d+(\.\d)?[kKMGTPEZY]?$')


def _hash(cell: str) -> str:
    return '#'.rjust(len(cell))


def mask(command: str, lines: typing.List[str]) -> typing.List[str]:
    """The lines with the run-dependent fields replaced by '#'."""
    out = []
    words = command.split()
    sub = words[1] if len(words) > 1 and words[0] == 'lfs' else ''
    inodes = '-i' in words
    for line in lines:
        if sub == 'df':
            match = _DF_ROW.match(line)
            if match and _NUMBER.match(match.group(2).strip()):
                cells = list(match.groups())
                first = 1 if inodes else 2
                for idx in range(first, 4):
                    cells[idx] = _hash(cells[idx])
                cells[4] = '#%'.rjust(4)
                line = '%s %s %s %s %s%s' % tuple(cells)
        elif sub == 'getstripe':
            match = _OBJ_ROW.match(line)
            if match:
                line = '\t' + '\t'.join(_hash(c) for c in match.groups())
            match = _LMM_OBJ.match(line)
            if match:
                line = (match.group(1) + _hash(match.group(2)) +
                        match.group(3) + '[#]' + match.group(5))
            match = _OFFSET.match(line)
            if match:
                line = match.group(1) + '#'
        elif sub == 'quota':
            match = _QUOTA_ROW.match(line)
            if match and match.group(2).strip().rstrip('*').isdigit():
                cell = match.group(2)
                star = cell.endswith('*')
                body = cell[:-1] if star else cell
                line = (match.group(1) + _hash(body) + ('*' if star else '')
                        + line[match.end() - 1:])
        out.append(line)
    return out


def placed(lines: typing.List[str]) -> typing.List[typing.Tuple[
        typing.Optional[str], typing.List[int]]]:
    """(pool, OST indices) of every instantiated component printed."""
    comps = []
    pool = None
    osts: typing.List[int] = []
    for line in lines + ['']:
        stripped = line.strip()
        if stripped.startswith('lmm_pool:'):
            pool = stripped.split()[1]
        match = _OBJ_ROW.match(line)
        if match:
            osts.append(int(match.group(1)))
        match = _LMM_OBJ.match(line)
        if match:
            osts.append(int(match.group(2)))
        if not stripped and osts:
            comps.append((pool, osts))
            pool, osts = None, []
        elif not stripped:
            pool = None
    return comps


@unittest.skipUnless(os.geteuid() == 0 and shutil.which('unshare'),
                     'needs root and unshare (private mount namespace)')
class TestTranscript(base.EmulatorTestCase):
    """The 2.17 profile prints what a real 2.17.0 printed."""

    POOLS = {'fast': [1]}

    def setUp(self) -> None:
        super().setUp()
        path = transcript_path()
        if not path:
            self.skipTest('%s is neither in ../shared/lustre-real/ nor in '
                          'tests/data/lustre-real/' % NAME)
        with open(path, encoding='utf-8') as handle:
            self.entries = parse(handle.read())

    def replay(self) -> typing.List[dict]:
        """Run the transcript's commands; return what each printed."""
        commands: typing.List[typing.Optional[str]] = []
        for entry in self.entries:
            if entry.command is None:
                commands.append(None)
            elif entry.command not in NOT_EMULATED:
                commands.append(entry.command)
        root = os.path.join(self.tmp, 'ns-root')
        job = {
            'emulator': base.HERE,
            'root': root,
            'setup': [
                ['setup', '--no-install', '--version', '2.17'],
                ['add-fs', 'lustre', '--osts', '2', '--ost-size', '2731008K',
                 '--mdt-size', '1818368K', '--pool', 'fast:1',
                 '--backend', 'zfs', '--version', '2.17'],
            ],
            'source': '10.0.2.15@tcp:/lustre',
            'mountpoint': '/mnt/lustre',
            'mkdirs': ['/mnt/lustre', '/mnt/x'],
            # Made before the transcript's commands on the real system:
            # cap is looked at first, pfldir gets a directory default.
            'mkdirs_after_mount': ['/mnt/lustre/cap',
                                   '/mnt/lustre/cap/pfldir'],
            'commands': commands,
        }
        # Only 10.0.2.15 answers: 10.0.2.99 is a host nobody has.
        os.makedirs(root)
        with open(os.path.join(root, 'config.json'), 'w') as handle:
            json.dump({'version': '2.17.0',
                       'mgs': {'hosts': ['10.0.2.15'], 'down': []}},
                      handle)
        job_path = os.path.join(self.tmp, 'job.json')
        result_path = os.path.join(self.tmp, 'result.json')
        with open(job_path, 'w') as handle:
            json.dump(job, handle)
        proc = subprocess.run(
            ['unshare', '-m', '--propagation', 'private', sys.executable,
             os.path.join(base.HERE, 'tests', 'transcript_runner.py'),
             job_path, result_path], capture_output=True, text=True,
            timeout=600)
        self.assertEqual(0, proc.returncode, proc.stdout + proc.stderr)
        with open(result_path) as handle:
            return json.load(handle)

    def test_every_command(self) -> None:
        results = iter(self.replay())
        compared = 0
        for entry in self.entries:
            if entry.command in NOT_EMULATED:
                continue
            got = next(results)
            if entry.command is None:
                self._compare_mounts(entry, got)
                continue
            cmd = entry.command
            out = got['out'].split('\n')[:-1] if got['out'] else []
            err = got['err'].split('\n')[:-1] if got['err'] else []
            with self.subTest(command=cmd):
                self.assertEqual(mask(cmd, entry.out), mask(cmd, out),
                                 'stdout of %s' % cmd)
                self.assertEqual(entry.err, err, 'stderr of %s' % cmd)
                self.assertEqual(entry.rc, got['rc'], 'status of %s' % cmd)
                for pool, osts in placed(out):
                    allowed = self.POOLS.get(pool, [0, 1])
                    self.assertTrue(set(osts) <= set(allowed),
                                    '%s: objects on %s' % (cmd, osts))
            compared += 1
        self.assertEqual(len(self.entries) - len(NOT_EMULATED) - 1,
                         compared)

    def _compare_mounts(self, entry: Entry, got: dict) -> None:
        """The client's line of the mount table (servers are not here)."""
        want = [m for m in entry.mounts if not SERVER_MOUNT.match(m)]
        self.assertEqual(1, len(want))
        mine = [m for m in got['mounts'] if m.split()[1:2] ==
                [want[0].split()[1]]]
        self.assertEqual(want, mine)

    def test_repository_copy_is_the_shared_one(self) -> None:
        shared = shared_copy()
        if not os.path.exists(shared):
            self.skipTest('no shared/lustre-real beside the repository')
        with open(shared, 'rb') as one, open(COPY, 'rb') as two:
            self.assertEqual(one.read(), two.read(),
                             'copy %s to %s' % (shared, COPY))


class TestMask(unittest.TestCase):
    """The masks hide only the fields they name."""

    def test_df_keeps_totals_and_layout(self) -> None:
        real = ['lustre-OST0000_UUID      2731008       35840     2693120'
                '   2%  /mnt/lustre[OST:0]']
        mine = ['lustre-OST0000_UUID      2731008       35846     2690000'
                '   2%  /mnt/lustre[OST:0]']
        self.assertEqual(mask('lfs df /x', real), mask('lfs df /x', mine))
        other_total = [mine[0].replace('2731008', '2731009')]
        self.assertNotEqual(mask('lfs df /x', real),
                            mask('lfs df /x', other_total))
        one_blank = [mine[0].replace('%  /mnt', '% /mnt')]
        self.assertNotEqual(mask('lfs df /x', real),
                            mask('lfs df /x', one_blank))

    def test_quota_keeps_star(self) -> None:
        real = ['    /mnt/lustre 153609*       0  102400       -      2*'
                '       0       0       - ']
        mine = [real[0].replace('153609*', '153764*')]
        unstarred = [real[0].replace('153609*', ' 153764')]
        self.assertEqual(mask('lfs quota -p 1 /m', real),
                         mask('lfs quota -p 1 /m', mine))
        self.assertNotEqual(mask('lfs quota -p 1 /m', real),
                            mask('lfs quota -p 1 /m', unstarred))

    def test_getstripe_objects(self) -> None:
        real = ['\t     1\t            10\t          0xa\t   0x280000400',
                '      -   0: { l_ost_idx:   0, l_fid: '
                '[0x240000400:0x9:0x0] }',
                'lmm_stripe_offset: 1', 'lmm_stripe_offset: -1',
                'lmm_layout_gen:    1']
        mine = ['\t     0\t             7\t          0x7\t   0x240000400',
                '      -   0: { l_ost_idx:   1, l_fid: '
                '[0x280000400:0x3:0x0] }',
                'lmm_stripe_offset: 0', 'lmm_stripe_offset: -1',
                'lmm_layout_gen:    1']
        self.assertEqual(mask('lfs getstripe f', real),
                         mask('lfs getstripe f', mine))
        self.assertNotEqual(mask('lfs getstripe f', real), mask(
            'lfs getstripe f', mine[:4] + ['lmm_layout_gen:    2']))
