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

"""Output formats against the samples of LUSTRE_CLI.md.

The samples are embedded here and, when ``shared/LUSTRE_CLI.md`` is
found next to the repository (or via ``$LUSTRE_CLI_MD``), checked to be
verbatim in it, so a change of the reference shows up here.
"""

import os
import re
import unittest

from lustre_emu import common
from tests import base

DF_SAMPLE = """\
UUID                   1K-blocks        Used   Available Use% Mounted on
testfs-MDT0000_UUID      1019728        5924      926940   1% /mnt/testfs[MDT:0]
testfs-OST0000_UUID      1933276        1220     1810816   1% /mnt/testfs[OST:0]
testfs-OST0001_UUID      1933276        1220     1810816   1% /mnt/testfs[OST:1]

filesystem_summary:      3866552        2440     3621632   1% /mnt/testfs
"""  # noqa: E501

GETSTRIPE_SAMPLE = """\
/mnt/lustre/1.data
lmm_stripe_count:  1
lmm_stripe_size:   1048576
lmm_pattern:       raid0
lmm_layout_gen:    0
lmm_stripe_offset: 1
\tobdidx\t\t objid\t\t objid\t\t group
\t     1\t            34\t         0x22\t             0
"""

DIR_SAMPLE = ('stripe_count:  1 stripe_size:   1048576 pattern:       '
              'raid0 stripe_offset: -1')
POOL_SUFFIX = ' pool:          ssd'
PROJECT_SAMPLE = ' 1000 P /mnt/lustre/vols'
QUOTA_HEADER = ('     Filesystem  kbytes   quota   limit   grace   files'
                '   quota   limit   grace')


def find_reference() -> str:
    """Path of LUSTRE_CLI.md, or '' when not available."""
    env = os.environ.get('LUSTRE_CLI_MD')
    if env:
        return env
    repo = os.path.dirname(os.path.dirname(base.HERE))
    path = os.path.join(os.path.dirname(repo), 'shared', 'LUSTRE_CLI.md')
    return path if os.path.exists(path) else ''


def ends(line: str) -> list:
    """End offsets of the whitespace-separated tokens of a line."""
    return [m.end() for m in re.finditer(r'\S+', line)]


class TestReferenceSamples(unittest.TestCase):
    """The embedded samples are those of the reference."""

    def test_samples_in_reference(self) -> None:
        path = find_reference()
        if not path:
            self.skipTest('LUSTRE_CLI.md not found')
        with open(path, encoding='utf-8') as handle:
            text = handle.read()
        for sample in (DF_SAMPLE, GETSTRIPE_SAMPLE, DIR_SAMPLE,
                       POOL_SUFFIX, PROJECT_SAMPLE):
            self.assertIn(sample, text)


class TestFormats(base.EmulatorTestCase):
    """Our output has the shape of the samples."""

    def test_df_columns_align_with_sample(self) -> None:
        out = self.lfs('df', self.fsroot)
        ours = out.split('\n')
        ref = DF_SAMPLE.split('\n')
        self.assertEqual(ref[0], ours[0])       # header exact
        # header, MDT, 4 OSTs, blank, summary, blank (as the sample)
        self.assertEqual(10, len(ours))
        self.assertEqual('', ours[6])
        self.assertTrue(ours[7].startswith('filesystem_summary:'))
        self.assertEqual(['', ''], ours[8:])
        # number columns right-aligned at the sample's offsets
        for mine, theirs in ((ours[1], ref[1]), (ours[2], ref[2]),
                             (ours[7], ref[5])):
            self.assertEqual(ends(theirs)[1:5], ends(mine)[1:5], mine)
        self.assertTrue(ours[1].startswith('testfs-MDT0000_UUID '))
        self.assertTrue(ours[1].endswith(' %s[MDT:0]' % self.fsroot))
        self.assertTrue(ours[3].endswith(' %s[OST:1]' % self.fsroot))
        self.assertTrue(ours[7].endswith('%% %s' % self.fsroot))

    def test_getstripe_plain_exact(self) -> None:
        objects = os.path.join(common.fs_dir('testfs'), 'objects.json')
        common.write_json(objects, {'rr': 0, 'next': {'1': 34}})
        path = self.path('1.data')
        self.lfs('setstripe', '-c', '1', '-i', '1', '-S', '1M', path)
        out = self.lfs('getstripe', path)
        self.assertEqual(GETSTRIPE_SAMPLE.replace('/mnt/lustre/1.data',
                                                  path),
                         out.rstrip('\n') + '\n')
        self.assertEqual('1\n', self.lfs('getstripe', '-c', path))
        self.assertEqual('1048576\n', self.lfs('getstripe', '-S', path))
        self.assertEqual('1\n', self.lfs('getstripe', '-i', path))
        self.assertEqual('', self.lfs('getstripe', '-p', path))

    def test_getstripe_pool_line_follows_offset(self) -> None:
        path = self.path('p')
        self.lfs('setstripe', '-p', 'ssd', path)
        lines = self.lfs('getstripe', path).split('\n')
        idx = [i for i, line in enumerate(lines)
               if line.startswith('lmm_stripe_offset:')][0]
        self.assertEqual('lmm_pool:          ssd', lines[idx + 1])
        self.assertEqual('ssd\n', self.lfs('getstripe', '-p', path))

    def test_directory_default_exact(self) -> None:
        self.assertEqual(DIR_SAMPLE + '\n',
                         self.lfs('getstripe', '-d', self.fsroot))
        os.mkdir(self.path('d'))
        self.lfs('setstripe', '-p', 'testfs.ssd', self.path('d'))
        self.assertEqual(DIR_SAMPLE + POOL_SUFFIX + '\n',
                         self.lfs('getstripe', '-d', self.path('d')))

    def test_composite_format(self) -> None:
        path = self.path('pfl')
        self.lfs('setstripe', '-E', '64M', '-c', '1', '-E', '1G', '-c',
                 '2', '-E', '-1', '-c', '-1', path)
        lines = self.lfs('getstripe', path).split('\n')
        self.assertEqual(path, lines[0])
        self.assertRegex(lines[1], r'^  lcm_layout_gen:    \d+$')
        self.assertEqual('  lcm_mirror_count:  1', lines[2])
        self.assertEqual('  lcm_entry_count:   3', lines[3])
        ids = [ln for ln in lines if ln.startswith('    lcme_id:')]
        self.assertEqual(3, len(ids))
        flags = [ln.split()[1] for ln in lines if 'lcme_flags:' in ln]
        self.assertEqual(['init', '0', '0'], flags)
        e_end = [ln.split()[1] for ln in lines if 'e_end:' in ln]
        self.assertEqual(['67108864', '1073741824', 'EOF'], e_end)
        lmm = [ln for ln in lines if 'lmm_stripe_count' in ln]
        self.assertTrue(all(ln.startswith('      lmm_') for ln in lmm))
        self.assertEqual(['1', '2', '-1'], [ln.split()[1] for ln in lmm])

    def test_yaml_styles(self) -> None:
        path = self.path('pfl')
        self.lfs('setstripe', '-E', '64M', '-c', '1', '-E', '-1', '-c',
                 '2', path)
        old = self.lfs('getstripe', '-y', path)
        self.assertNotIn(path, old)
        self.assertIn('\ncomponent0:\n', old)
        self.assertIn('\ncomponent1:\n', old)
        self.assertNotIn('components:', old)
        self.run_ok('lustre-emulator', 'set', 'version', '2.16.0')
        self.assertEqual('lfs 2.16.0\n', self.lfs('--version'))
        new = self.lfs('getstripe', '-y', path)
        self.assertIn('\ncomponents:\n  - lcme_id:             1\n', new)
        self.assertNotIn('component0', new)
        self.assertIn('    lcme_extent.e_end:   EOF\n', new)

    def test_project_listing_exact(self) -> None:
        os.mkdir(self.path('vols'))
        self.lfs('project', '-srp', '1000', self.path('vols'))
        out = self.lfs('project', '-d', self.path('vols'))
        self.assertEqual(PROJECT_SAMPLE.replace('/mnt/lustre/vols',
                                                self.path('vols')) + '\n',
                         out)

    def test_pool_list_format(self) -> None:
        self.assertEqual('Pools from testfs:\ntestfs.hdd\ntestfs.ssd\n',
                         self.lfs('pool_list', 'testfs'))
        self.assertEqual('Pool: testfs.ssd\ntestfs-OST0000_UUID\n'
                         'testfs-OST0001_UUID\n',
                         self.lfs('pool_list', 'testfs.ssd'))

    def test_quota_format(self) -> None:
        self.lfs('setquota', '-p', '1000', '-B', '10G', self.fsroot)
        lines = self.lfs('quota', '-p', '1000', self.fsroot).split('\n')
        self.assertEqual('Disk quotas for prj 1000 (pid 1000):', lines[0])
        self.assertEqual(QUOTA_HEADER, lines[1])
        # long mount point on its own line, values on the next
        self.assertEqual(self.fsroot, lines[2])
        self.assertEqual(['0', '0', '10485760', '-', '0', '0', '0', '-'],
                         lines[3].split())

    def test_error_messages(self) -> None:
        path = self.path('full')
        self.write(path, 1)
        res = self.run_tool('lfs', 'setstripe', '-c', '2', path)
        self.assertEqual(17, res.rc)
        self.assertEqual("lfs setstripe: setstripe error for '%s': stripe "
                         "already set\n" % path, res.err)
        res = self.run_tool('lfs', 'setstripe', '-p', 'p', self.path('x'))
        self.assertEqual(22, res.rc)
        self.assertEqual("lfs setstripe: pool 'testfs.p' does not exist\n",
                         res.err)
        self.assertFalse(os.path.exists(self.path('x')))


if __name__ == '__main__':
    unittest.main()
