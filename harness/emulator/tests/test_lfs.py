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

"""Behaviour of the emulated lfs: layouts, pools, capacity, quota."""

import os
import unittest
from unittest import mock

from lustre_emu import capacity
from lustre_emu import versions
from tests import base


def df_rows(text: str) -> dict:
    """{uuid: (total, used, avail)} from lfs df output."""
    rows = {}
    for line in text.split('\n'):
        tok = line.split()
        if len(tok) >= 6 and tok[1].isdigit():
            rows[tok[0]] = (int(tok[1]), int(tok[2]), int(tok[3]))
    return rows


def osts_of(text: str) -> list:
    """OST indices from plain getstripe output."""
    return [int(line.split()[0]) for line in text.split('\n')
            if line.startswith('\t ') and line.split()[0].isdigit()]


class TestSetGetStripe(base.EmulatorTestCase):
    """setstripe/getstripe round trips and inheritance."""

    def test_round_trip(self) -> None:
        path = self.path('vol')
        self.assertEqual('', self.lfs('setstripe', '-c', '4', '-S', '4M',
                                      path))
        self.assertEqual(0, os.path.getsize(path))
        out = self.lfs('getstripe', path)
        self.assertIn('lmm_stripe_count:  4\n', out)
        self.assertIn('lmm_stripe_size:   4194304\n', out)
        self.assertEqual([0, 1, 2, 3], sorted(osts_of(out)))
        # liblustreapi.c lov_dump_user_lmm_v1v3() ends every layout with
        # a newline of its own: a bare value is followed by a blank line.
        self.assertEqual('4\n\n', self.lfs('getstripe', '-c', path))
        self.assertEqual('4194304\n\n', self.lfs('getstripe', '-S', path))

    def test_count_minus_one_uses_pool_members(self) -> None:
        path = self.path('wide')
        self.lfs('setstripe', '-c', '-1', '-p', 'hdd', path)
        out = self.lfs('getstripe', path)
        self.assertEqual([2, 3], sorted(osts_of(out)))
        self.assertEqual('2\n\n', self.lfs('getstripe', '-c', path))

    def test_index_outside_pool_rejected(self) -> None:
        res = self.run_tool('lfs', 'setstripe', '-i', '3', '-p', 'ssd',
                            self.path('bad'))
        self.assertEqual(22, res.rc)
        self.assertFalse(os.path.exists(self.path('bad')))

    def test_bad_arguments(self) -> None:
        # 2.15: usage errors (CMD_HELP, 4) while parsing; "-S 1000" is
        # 1000 KiB (not a multiple of 64 KiB), "-S 3K" 3 KiB.
        for args in (['-c', 'x'], ['-S', '1000'], ['-S', '3K'],
                     ['-c', '2001'], ['-E', '100K'], ['-c', '1']):
            res = self.run_tool('lfs', 'setstripe', *args)
            self.assertEqual(4, res.rc, args)
        # a PFL end before the previous one: the layout is refused
        res = self.run_tool('lfs', 'setstripe', '-E', '1M', '-E', '512K',
                            self.path('bad'))
        self.assertNotEqual(0, res.rc)

    def test_created_file_already_has_a_layout(self) -> None:
        # A file gets its layout when it is created, empty or not.
        path = self.path('empty')
        open(path, 'w').close()
        res = self.run_tool('lfs', 'setstripe', '-c', '2', path)
        self.assertEqual(17, res.rc)
        self.assertIn('stripe already set', res.err)
        self.assertEqual('1\n\n', self.lfs('getstripe', '-c', path))

    def test_directory_default_inherited(self) -> None:
        vols = self.path('vols')
        os.mkdir(vols)
        self.lfs('setstripe', '-c', '2', '-S', '2M', '-p', 'hdd', vols)
        # a file made by another tool (qemu-img, cp) inherits all of it
        with open(os.path.join(vols, 'b'), 'wb') as handle:
            handle.write(b'x')
        out = self.lfs('getstripe', os.path.join(vols, 'b'))
        self.assertIn('lmm_stripe_count:  2\n', out)
        self.assertIn('lmm_stripe_size:   2097152\n', out)
        self.assertIn('lmm_pool:          hdd\n', out)
        # an explicit layout inherits only the pool; count and size come
        # from the file system (lod_qos.c lod_qos_parse_config())
        self.lfs('setstripe', os.path.join(vols, 'a'))
        out = self.lfs('getstripe', os.path.join(vols, 'a'))
        self.assertIn('lmm_stripe_count:  1\n', out)
        self.assertIn('lmm_stripe_size:   1048576\n', out)
        self.assertIn('lmm_pool:          hdd\n', out)
        # a subdirectory has no default of its own: -d shows the file
        # system's (pattern 0), not the parent's
        os.mkdir(os.path.join(vols, 'sub'))
        self.assertEqual('stripe_count:  1 stripe_size:   1048576 '
                         'pattern:       0 stripe_offset: -1\n\n',
                         self.lfs('getstripe', '-d',
                                  os.path.join(vols, 'sub')))
        # a file keeps the layout it was created with
        self.lfs('setstripe', '-d', vols)
        self.assertNotIn('pool', self.lfs('getstripe', '-d', vols))
        self.assertEqual('hdd\n\n', self.lfs(
            'getstripe', '-p', os.path.join(vols, 'b')))

    def test_composite_instantiates_with_size(self) -> None:
        path = self.path('pfl')
        self.lfs('setstripe', '-E', '1M', '-c', '1', '-E', '-1', '-c',
                 '-1', path)
        self.assertEqual('1\n\n', self.lfs('getstripe', '-c', path))
        out = self.lfs('getstripe', path)
        self.assertIn('  lcm_layout_gen:    2\n', out)
        self.write(path, 2)
        out = self.lfs('getstripe', path)
        self.assertEqual(['init', 'init'],
                         [ln.split()[1] for ln in out.split('\n')
                          if 'lcme_flags' in ln])
        self.assertIn('  lcm_layout_gen:    3\n', out)
        self.assertEqual('4\n\n', self.lfs('getstripe', '-c', path))

    def test_getstripe_missing_file(self) -> None:
        res = self.run_tool('lfs', 'getstripe', self.path('nope'))
        self.assertEqual(2, res.rc)

    def test_not_lustre(self) -> None:
        res = self.run_tool('lfs', 'getstripe', '/etc/hostname')
        self.assertEqual(25, res.rc)
        self.assertIn('not on a Lustre filesystem', res.err)


class TestMigrate(base.EmulatorTestCase):
    """lfs migrate rewrites the layout and moves usage."""

    def test_migrate_between_pools(self) -> None:
        path = self.path('vol')
        self.lfs('setstripe', '-p', 'ssd', '-c', '2', path)
        self.write(path, 8)
        before = df_rows(self.lfs('df', '--pool', 'hdd', self.fsroot))
        self.assertEqual('', self.lfs('migrate', '-p', 'hdd', '-c', '2',
                                      path))
        out = self.lfs('getstripe', path)
        self.assertEqual([2, 3], sorted(osts_of(out)))
        self.assertIn('lmm_layout_gen:    1\n', out)
        self.assertIn('lmm_pool:          hdd\n', out)
        after = df_rows(self.lfs('df', '--pool', 'hdd', self.fsroot))
        grown = (after['filesystem_summary:'][1] -
                 before['filesystem_summary:'][1])
        self.assertGreaterEqual(grown, 8192)
        with open(path, 'rb') as handle:
            self.assertEqual(8 * 1048576, len(handle.read()))

    def test_migrate_errors(self) -> None:
        res = self.run_tool('lfs', 'migrate', '-c', '1', self.path('x'))
        self.assertEqual(2, res.rc)
        self.assertEqual('error: lfs migrate: %s: cannot open source file: '
                         'No such file or directory\n' % self.path('x'),
                         res.err)


class TestDf(base.EmulatorTestCase):
    """Capacity arithmetic."""

    def test_summary_is_sum_of_osts(self) -> None:
        self.lfs('setstripe', '-c', '-1', self.path('a'))
        self.write(self.path('a'), 4)
        self.lfs('setstripe', '-p', 'hdd', self.path('b'))
        self.write(self.path('b'), 3)
        rows = df_rows(self.lfs('df', self.fsroot))
        osts = [v for k, v in rows.items() if 'OST' in k]
        self.assertEqual(4, len(osts))
        summary = rows['filesystem_summary:']
        for col in range(3):
            self.assertEqual(sum(o[col] for o in osts), summary[col])
        self.assertEqual(4 * 16 * 1024 * 1024, summary[0])
        for pool, members in (('ssd', (0, 1)), ('testfs.hdd', (2, 3))):
            prow = df_rows(self.lfs('df', '--pool', pool, self.fsroot))
            uuids = {'testfs-OST%04x_UUID' % i for i in members}
            self.assertEqual(uuids | {'testfs-MDT0000_UUID',
                                      'filesystem_summary:'}, set(prow))
            for col in range(3):
                self.assertEqual(sum(prow[u][col] for u in uuids),
                                 prow['filesystem_summary:'][col])

    def test_writing_consumes_space(self) -> None:
        path = self.path('grow')
        self.lfs('setstripe', '-c', '1', '-i', '2', path)
        before = df_rows(self.lfs('df', self.fsroot))
        blocks = -(os.stat(path).st_blocks // 2)
        self.write(path, 5)
        after = df_rows(self.lfs('df', self.fsroot))
        blocks += os.stat(path).st_blocks // 2
        self.assertGreaterEqual(blocks, 5120)
        key = 'testfs-OST0002_UUID'
        self.assertEqual(blocks, after[key][1] - before[key][1])
        self.assertEqual(blocks, before[key][2] - after[key][2])
        self.assertEqual(before['testfs-OST0000_UUID'],
                         after['testfs-OST0000_UUID'])
        # a sparse file allocates nothing
        with open(self.path('sparse'), 'wb') as handle:
            handle.truncate(1 << 30)
        again = df_rows(self.lfs('df', self.fsroot))
        self.assertEqual(after['filesystem_summary:'][1],
                         again['filesystem_summary:'][1])

    def test_df_recomputes_only_changed_files(self) -> None:
        # lfs df must cost about the same however many files are there:
        # a file's per-OST split is cached until the file changes.
        for name in ('a', 'b', 'c'):
            self.lfs('setstripe', '-c', '1', '-i', '1', self.path(name))
        self.write(self.path('a'), 1)
        first = capacity.usage('testfs')
        # Allocated KiB (data and, on ext4, an xattr block for the layout).
        before = {n: os.stat(self.path(n)).st_blocks // 2 for n in 'bc'}
        with mock.patch.object(capacity, 'file_ost_usage',
                               wraps=capacity.file_ost_usage) as split:
            self.assertEqual(first, capacity.usage('testfs'))
            self.assertEqual(0, split.call_count)
            # (lfs migrate computes usage itself to check the room for
            # the copy, so b changes after it)
            self.lfs('migrate', '-c', '1', '-i', '3', self.path('c'))
            self.write(self.path('b'), 2)
            per_ost = capacity.usage('testfs').ost_kb
            self.assertEqual(sorted([self.path('b'), self.path('c')]),
                             sorted(c.args[0] for c in split.call_args_list))
        # b grew on OST 1; c left it for OST 3.
        self.assertEqual(first.ost_kb[1] - before['b'] - before['c'] +
                         os.stat(self.path('b')).st_blocks // 2, per_ost[1])
        self.assertEqual(first.ost_kb.get(3, 0) +
                         os.stat(self.path('c')).st_blocks // 2, per_ost[3])
        # A deleted file leaves the sum; one deleted between the walk and
        # its lstat is skipped, not an error.
        a_kb = os.stat(self.path('a')).st_blocks // 2
        self.assertGreater(a_kb, 0)
        os.unlink(self.path('a'))
        root = os.path.dirname(self.path('a'))
        walk = [(root, [], ['gone'] + sorted(os.listdir(root)))]
        with mock.patch.object(capacity.os, 'walk', return_value=walk):
            self.assertEqual(per_ost[1] - a_kb,
                             capacity.usage('testfs').ost_kb[1])

    def test_inactive_ost_left_out(self) -> None:
        self.run_ok('lustre-emulator', 'fault', 'ost', 'testfs', '3',
                    '--inactive')
        out = self.lfs('df', self.fsroot)
        self.assertNotIn('OST0003', out)
        rows = df_rows(out)
        self.assertEqual(3 * 16 * 1024 * 1024,
                         rows['filesystem_summary:'][0])
        verbose = self.lfs('df', '-v', self.fsroot)
        self.assertIn('testfs-OST0003_UUID : inactive device\n', verbose)
        self.lfs('setstripe', '-c', '-1', self.path('f'))
        self.assertEqual('3\n\n', self.lfs('getstripe', '-c',
                                           self.path('f')))

    def test_unknown_pool(self) -> None:
        # mntdf(): no OST passes llapi_search_ost(): MDT rows, a zero
        # summary, status 0 (the 2.17.0 transcript too)
        res = self.run_tool('lfs', 'df', '--pool', 'nope', self.fsroot)
        self.assertEqual(0, res.rc)
        rows = df_rows(res.out)
        self.assertEqual({'testfs-MDT0000_UUID', 'filesystem_summary:'},
                         set(rows))
        self.assertEqual((0, 0, 0), rows['filesystem_summary:'])

    def test_add_fs(self) -> None:
        self.run_ok('lustre-emulator', 'add-fs', 'big', '--osts', '3',
                    '--ost-size', '1T', '--pool', 'fast:0')
        root = os.path.join(self.root, 'fs', 'big', 'root')
        rows = df_rows(self.lfs('df', root))
        self.assertEqual(3 * 1024 ** 3, rows['filesystem_summary:'][0])
        self.assertEqual('Pools from big:\nbig.fast\n',
                         self.lfs('pool_list', 'big'))
        res = self.run_tool('lustre-emulator', 'add-fs', 'big')
        self.assertEqual(17, res.rc)


class TestProjectQuota(base.EmulatorTestCase):
    """lfs project, setquota, quota."""

    def test_project_inherit_and_usage(self) -> None:
        vols = self.path('vols')
        os.makedirs(os.path.join(vols, 'old'))
        self.write(os.path.join(vols, 'old', 'f'), 1)
        self.lfs('project', '-srp', '1000', vols)
        self.write(os.path.join(vols, 'new'), 2)        # created after
        listing = self.lfs('project', '-r', vols).split('\n')
        self.assertIn(' 1000 P %s/old' % vols, listing)
        self.assertIn(' 1000 - %s/old/f' % vols, listing)
        self.assertIn(' 1000 - %s/new' % vols, listing)
        kb, inodes = capacity.project_usage('testfs', 1000)
        expect = sum(os.stat(os.path.join(vols, p)).st_blocks // 2
                     for p in ('', 'old', 'old/f', 'new'))
        self.assertEqual(expect, kb)
        self.assertEqual(4, inodes)
        row = self.lfs('quota', '-p', '1000', self.fsroot).split('\n')[3]
        self.assertEqual(str(expect), row.split()[0])
        self.lfs('project', '-C', os.path.join(vols, 'new'))
        self.assertEqual('    0 - %s\n' % os.path.join(vols, 'new'),
                         self.lfs('project', os.path.join(vols, 'new')))

    def test_over_limit_is_starred(self) -> None:
        vols = self.path('vols')
        os.mkdir(vols)
        self.lfs('project', '-srp', '7', vols)
        self.lfs('setquota', '-p', '7', '-B', '2M', self.fsroot)
        self.write(os.path.join(vols, 'vol'), 1)
        row = self.lfs('quota', '-p', '7', self.fsroot).split('\n')[3]
        self.assertNotIn('*', row)
        self.assertEqual(0, self.run_tool('lustre-emulator', 'quota-check',
                                          'testfs').rc)
        self.write(os.path.join(vols, 'vol'), 2)
        row = self.lfs('quota', '-p', '7', self.fsroot).split('\n')[3]
        self.assertRegex(row.split()[0], r'^\d+\*$')
        self.assertEqual('2048', row.split()[2])
        res = self.run_tool('lustre-emulator', 'quota-check', 'testfs')
        self.assertEqual(122, res.rc)
        self.assertIn('prj 7', res.out)

    def test_short_mount_point_on_same_line(self) -> None:
        prof = versions.profile('2.15')
        text = capacity.quota_line(prof, '/mnt/lustre', capacity.quota_row(
            'testfs', 1), 1)
        self.assertEqual('    /mnt/lustre       0       0       0       -'
                         '       0       0       0       -\n', text)

    def test_project_quota_disabled(self) -> None:
        self.run_ok('lustre-emulator', 'set', 'testfs.project_quota',
                    'off')
        # the quota slaves are off: the quotactl fails with ESRCH
        res = self.run_tool('lfs', 'setquota', '-p', '1', '-B', '1G',
                            self.fsroot)
        self.assertEqual(3, res.rc)
        self.assertEqual('setquota failed: No such process\n', res.err)
        res = self.run_tool('lfs', 'quota', '-p', '1', self.fsroot)
        self.assertEqual(3, res.rc)
        self.assertEqual(('', 'prj quotas are not enabled.\n'),
                         (res.out, res.err))
        # and the MDT has no project feature: setting ids is refused
        res = self.run_tool('lfs', 'project', '-p', '1', self.fsroot)
        self.assertEqual(95, res.rc)


if __name__ == '__main__':
    unittest.main()
