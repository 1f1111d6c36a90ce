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

"""Exact output per version, written here by hand from the C formats.

Each expected string is built from the printf format of the lustre-release
tag named next to it (not from the emulator's code), so a change in the
emulator that drifts from the source fails here.  The 2.17 profile is also
checked against a real 2.17.0 in test_transcript.
"""

import os

from lustre_emu import common
from tests import base

KIB = 1024


class VersionTestCase(base.EmulatorTestCase):
    """testfs switched to one version; helpers for exact comparisons."""

    VERSION = '2.15'

    def setUp(self) -> None:
        super().setUp()
        self.use(self.VERSION)

    def use(self, version: str) -> None:
        self.run_ok('lustre-emulator', 'set', 'version', version)
        self.run_ok('lustre-emulator', 'set', 'testfs.version', version)

    def objects_from(self, ost: int, objid: int) -> None:
        """Make the next object of an OST have this id."""
        path = os.path.join(common.fs_dir('testfs'), 'objects.json')
        state = common.read_json(path, {'rr': 0, 'next': {}})
        state['next'][str(ost)] = objid
        common.write_json(path, state)


class TestDfFormats(VersionTestCase):
    """lfs df rows."""

    def setUp(self) -> None:
        super().setUp()
        self.run_ok('lustre-emulator', 'add-fs', 'small', '--osts', '2',
                    '--ost-size', '1933276K', '--mdt-size', '1019728K',
                    '--version', '2.15')
        self.small = os.path.join(self.root, 'fs', 'small', 'root')

    def test_v212_to_v216_one_blank_before_mount_point(self) -> None:
        # v2_12_9 .. v2_16_1 lfs.c showdf():
        #   printf(UUF" "CSF" "CSF" "CSF" "RSF" %-s", ...) then "[%s:%d]"
        #   UUF "%-20s", CSF "%11s", RSF "%4s" of RDF "%3d%%"
        for version in ('2.12', '2.16'):
            self.run_ok('lustre-emulator', 'set', 'small.version', version)
            self.run_ok('lustre-emulator', 'set', 'version', version)
            lines = self.lfs('df', self.small).split('\n')
            self.assertEqual('%-20s %11s %11s %11s %4s %s' % (
                'UUID', '1K-blocks', 'Used', 'Available', 'Use%',
                'Mounted on'), lines[0])
            # ldiskfs: the LUSTRE_CLI.md sample's figures of an empty
            # file system (reserved blocks: total > used + available)
            self.assertEqual('%-20s %11s %11s %11s %4s %s' % (
                'small-MDT0000_UUID', 1019728, 5924, 926940, '  1%',
                self.small + '[MDT:0]'), lines[1])
            self.assertEqual('%-20s %11s %11s %11s %4s %s' % (
                'small-OST0000_UUID', 1933276, 1220, 1810816, '  1%',
                self.small + '[OST:0]'), lines[2])
            self.assertEqual('', lines[4])
            self.assertEqual('%-20s %11s %11s %11s %4s %s' % (
                'filesystem_summary:', 2 * 1933276, 2 * 1220,
                2 * 1810816, '  1%', self.small), lines[5])
            self.assertEqual(['', ''], lines[6:])

    def test_v217_two_blanks_before_mount_point(self) -> None:
        # v2_17_0 lfs.c showdf()/print_field_value(): "%-20s " then
        # "%11llu " per value, "%3d%% ", then " %-s"
        self.run_ok('lustre-emulator', 'set', 'small.version', '2.17')
        self.run_ok('lustre-emulator', 'set', 'version', '2.17')
        lines = self.lfs('df', self.small).split('\n')
        self.assertEqual('UUID                   1K-blocks        Used   '
                         'Available Use%  Mounted on', lines[0])
        self.assertEqual('%-20s %11d %11d %11d %3d%%  %s' % (
            'small-OST0001_UUID', 1933276, 1220, 1810816, 1,
            self.small + '[OST:1]'), lines[3])

    def test_human_readable(self) -> None:
        # Cooked values are bytes divided by 1024 while > 1024 (COOK),
        # printed "%8.1f%c": right-aligned in "%11s" up to 2.16, as they
        # are (9 wide) in 2.17.
        self.run_ok('lustre-emulator', 'set', 'small.version', '2.15')
        line = self.lfs('df', '-h', self.small).split('\n')[2]
        self.assertTrue(line.startswith('%-20s %11s %11s %11s' % (
            'small-OST0000_UUID', '1.8G', '1.2M', '1.7G')), line)
        self.assertEqual('%-20s %11s' % ('UUID', 'bytes'),
                         self.lfs('df', '-h', self.small)[:32])
        self.run_ok('lustre-emulator', 'set', 'small.version', '2.17')
        self.run_ok('lustre-emulator', 'set', 'version', '2.17')
        line = self.lfs('df', '-h', self.small).split('\n')[2]
        # "%8.1f%c " per value: 1.8 takes 8 columns, the suffix one more
        self.assertTrue(line.startswith('small-OST0000_UUID   '
                                        '     1.8G      1.2M      1.7G   '
                                        '1%  '), line)

    def test_reserved_blocks(self) -> None:
        # total > used + available on ldiskfs (reserved blocks)
        rows = self.lfs('df', self.small).split('\n')[1:4]
        for row in rows:
            total, used, avail = (int(v) for v in row.split()[1:4])
            self.assertGreater(total, used + avail, row)

    def test_inodes(self) -> None:
        # -i: Inodes/IUsed/IFree/IUse% headers; the summary's inodes are
        # the MDT's, cut to the OSTs' free objects when fewer (mntdf())
        lines = self.lfs('df', '-i', self.small).split('\n')
        self.assertEqual('%-20s %11s %11s %11s %4s %s' % (
            'UUID', 'Inodes', 'IUsed', 'IFree', 'IUse%', 'Mounted on'),
            lines[0])
        mdt = [int(v) for v in lines[1].split()[1:4]]
        osts = [[int(v) for v in line.split()[1:4]] for line in lines[2:4]]
        summary = [int(v) for v in lines[5].split()[1:4]]
        ost_free = sum(o[2] for o in osts)
        self.assertLess(ost_free, mdt[2])
        self.assertEqual([mdt[1] + ost_free, mdt[1], ost_free], summary)


class TestGetstripeFormats(VersionTestCase):
    """lfs getstripe of files and directory defaults."""

    def test_plain_file(self) -> None:
        # liblustreapi.c lov_dump_user_lmm_header() and _v1v3(): the
        # object table "\t%6u\t%14llu\t%#13llx\t%#14llx" (group in hex for
        # a normal FID sequence), then a blank line
        self.objects_from(1, 34)
        path = self.path('1.data')
        self.lfs('setstripe', '-c', '1', '-i', '1', '-S', '1M', '-p',
                 'ssd', path)
        self.assertEqual(
            path + '\n'
            'lmm_stripe_count:  1\n'
            'lmm_stripe_size:   1048576\n'
            'lmm_pattern:       raid0\n'
            'lmm_layout_gen:    0\n'
            'lmm_stripe_offset: 1\n'
            'lmm_pool:          ssd\n'
            '\tobdidx\t\t objid\t\t objid\t\t group\n'
            '\t     1\t            34\t         0x22\t   0x280000400\n'
            '\n', self.lfs('getstripe', path))
        self.assertEqual('1\n\n', self.lfs('getstripe', '-i', path))
        self.assertEqual('ssd\n\n', self.lfs('getstripe', '-p', path))
        self.assertEqual('lmm_stripe_count:  1\nlmm_stripe_size:   '
                         '1048576\n\n',
                         self.lfs('getstripe', '-c', '-S', path))

    def test_directory_without_default(self) -> None:
        # cb_getstripe(): ENODATA on a directory fakes a zeroed lmm, so the
        # pattern is 0 and count/size are the file system's (1 MiB up to
        # 2.15, 4 MiB from 2.16: LOV_DESC_STRIPE_SIZE_DEFAULT)
        os.mkdir(self.path('d'))
        for version, size in (('2.12', 1048576), ('2.15', 1048576),
                              ('2.16', 4194304), ('2.17', 4194304)):
            self.use(version)
            self.assertEqual(
                'stripe_count:  1 stripe_size:   %d pattern:       0 '
                'stripe_offset: -1\n\n' % size,
                self.lfs('getstripe', '-d', self.path('d')), version)

    def test_directory_defaults(self) -> None:
        os.mkdir(self.path('plain'))
        self.lfs('setstripe', '-c', '2', '-p', 'testfs.ssd',
                 self.path('plain'))
        # the stripe size left to the file system shows its value
        self.assertEqual('stripe_count:  2 stripe_size:   1048576 pattern:'
                         '       raid0 stripe_offset: -1 pool:          ssd'
                         '\n\n', self.lfs('getstripe', '-d',
                                          self.path('plain')))
        os.mkdir(self.path('pfl'))
        self.lfs('setstripe', '-E', '64M', '-c', '1', '-S', '1M', '-E', '-1',
                 '-c', '4', '-S', '4M', self.path('pfl'))
        sub = ('      stripe_count:  %d       stripe_size:   %d       '
               'pattern:       raid0       stripe_offset: -1\n\n')
        entry = ('    lcme_id:             N/A\n'
                 '    lcme_mirror_id:      N/A\n'
                 '    lcme_flags:          0\n'
                 '    lcme_extent.e_start: %s\n'
                 '    lcme_extent.e_end:   %s\n')
        self.assertEqual(
            '  lcm_layout_gen:    0\n'
            '  lcm_mirror_count:  1\n'
            '  lcm_entry_count:   2\n' +
            entry % (0, 67108864) + sub % (1, 1048576) +
            entry % (67108864, 'EOF') + sub % (4, 4194304),
            self.lfs('getstripe', '-d', self.path('pfl')))

    def test_dom_directory_default(self) -> None:
        # A DoM component: pattern mdt, count 0, size = its end; 2.17
        # labels its offset "mdt_index:" (lov_dump_user_lmm_header())
        os.mkdir(self.path('dom'))
        self.lfs('setstripe', '-E', '1M', '-L', 'mdt', '-E', '-1', '-c', '2',
                 self.path('dom'))
        for version, label in (('2.15', 'stripe_offset:'),
                               ('2.17', 'mdt_index:    ')):
            self.use(version)
            out = self.lfs('getstripe', '-d', self.path('dom'))
            self.assertIn('      stripe_count:  0       stripe_size:   '
                          '1048576       pattern:       mdt       %s -1\n'
                          % label, out)

    def test_composite_objects_per_version(self) -> None:
        path = self.path('pfl')
        self.objects_from(0, 9)
        self.lfs('setstripe', '-E', '64M', '-c', '1', '-i', '0', '-S', '1M',
                 '-E', '-1', '-c', '2', path)
        # v2_15_4 "%s%d: { l_ost_idx: %d, l_fid: "DFID" }"
        self.use('2.15')
        self.assertIn('      - 0: { l_ost_idx: 0, l_fid: '
                      '[0x240000400:0x9:0x0] }\n',
                      self.lfs('getstripe', path))
        # v2_16_1+ "%s%3d: { l_ost_idx: %3d, l_fid: "DFID" }"
        self.use('2.17')
        self.assertIn('      -   0: { l_ost_idx:   0, l_fid: '
                      '[0x240000400:0x9:0x0] }\n',
                      self.lfs('getstripe', path))

    def test_yaml_styles(self) -> None:
        path = self.path('pfl')
        self.lfs('setstripe', '-E', '64M', '-c', '1', '-E', '-1', '-c', '2',
                 path)
        # v2_15_4 lov_dump_comp_v1_header()/_entry(): "  component%d:"
        old = self.lfs('getstripe', '-y', path)
        self.assertTrue(old.startswith('  lcm_layout_gen:    2\n'), old)
        self.assertIn('\n  component0:\n    lcme_id:             1\n', old)
        self.assertNotIn('components:', old)
        # v2_16_1: "components:" and "  - lcme_id:"
        self.use('2.16')
        new = self.lfs('getstripe', '-y', path)
        self.assertTrue(new.startswith('lcm_layout_gen:    2\n'), new)
        self.assertIn('\ncomponents:\n  - lcme_id:             1\n', new)
        self.assertIn('    sub_layout:\n      lmm_stripe_count:  1\n', new)


class TestQuotaFormats(VersionTestCase):
    """lfs quota -p: title, header, row."""

    def setUp(self) -> None:
        super().setUp()
        self.lfs('setquota', '-p', '1002', '-B', '10G', self.fsroot)

    def lines(self, prj: str = '1002') -> list:
        return self.lfs('quota', '-p', prj, self.fsroot).split('\n')

    def test_v212_to_v215(self) -> None:
        # print_quota_title(): "Disk quotas for %s %s (%cid %u):" with the
        # id as given; "%15s%8s %7s%8s%8s%8s %7s%8s%8s"; a mount point
        # longer than 15 on a line of its own, then " %7s%c %6s %7s %7s"
        for version in ('2.12', '2.15'):
            self.use(version)
            lines = self.lines()
            self.assertEqual('Disk quotas for prj 1002 (pid 1002):',
                             lines[0])
            self.assertEqual('     Filesystem  kbytes   quota   limit   '
                             'grace   files   quota   limit   grace',
                             lines[1])
            self.assertEqual(self.fsroot, lines[2])
            self.assertEqual(' ' * 15 + ' %7s%c %6s %7s %7s' % (
                0, ' ', 0, 10485760, '-') + ' %7s%c %6s %7s %7s' % (
                0, ' ', 0, 0, '-'), lines[3])

    def test_v216(self) -> None:
        # v2_16_1: "%16s %7s %7s %7s %7s %7s %7s %7s %7s" and "%16s" for
        # the mount point, never on its own line
        self.use('2.16')
        lines = self.lines()
        self.assertEqual('Disk quotas for prj 1002 (pid 1002):', lines[0])
        self.assertEqual('      Filesystem  kbytes   quota   limit   grace'
                         '   files   quota   limit   grace', lines[1])
        self.assertEqual('%16s' % self.fsroot + ' %7s%c %6s %7s %7s' % (
            0, ' ', 0, 10485760, '-') + ' %7s%c %6s %7s %7s' % (
            0, ' ', 0, 0, '-'), lines[2])

    def test_v217(self) -> None:
        # v2_17_0: title by /etc/projid name or "<unknown>";
        # print_quota_val() "%*s " columns, a trailing blank
        self.use('2.17')
        lines = self.lines()
        self.assertEqual('Disk quotas for prj <unknown> (pid 1002):',
                         lines[0])
        self.assertEqual('     Filesystem  kbytes  bquota  blimit  bgrace'
                         '   files  iquota  ilimit  igrace ', lines[1])
        self.assertEqual('%15s ' % self.fsroot + '%7s %7s %7s %7s %7s %7s '
                         '%7s %7s ' % (0, 0, 10485760, '-', 0, 0, 0, '-'),
                         lines[2])
        projid = os.path.join(self.tmp, 'projid')
        with open(projid, 'w') as handle:
            handle.write('# comment\nvolumes:1002\n')
        os.environ['LUSTRE_EMULATOR_PROJID'] = projid
        self.addCleanup(os.environ.pop, 'LUSTRE_EMULATOR_PROJID')
        self.assertEqual('Disk quotas for prj volumes (pid 1002):',
                         self.lines()[0])
        self.assertEqual('Disk quotas for prj volumes (pid 1002):',
                         self.lines('volumes')[0])
