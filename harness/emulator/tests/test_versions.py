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

"""What changes between versions: rules, errors and exit statuses.

The expectations come from the lustre-release tags named in each test
(lustre/utils/lfs.c, liblustreapi*.c, mount_lustre.c).
"""

import errno
import os
import subprocess
import time
import unittest

from lustre_emu import common
from lustre_emu import versions
from tests import base
from tests import test_formats
from tests import test_mount

CAN_LOOP = os.geteuid() == 0 and os.path.exists('/dev/loop-control')


class TestProfiles(unittest.TestCase):
    """Version strings and profiles."""

    def test_names(self) -> None:
        self.assertEqual('2.12.9', versions.canonical('2.12'))
        self.assertEqual('2.17.0', versions.canonical('2.17'))
        self.assertEqual('2.16.58', versions.canonical('2.16.58'))
        self.assertRaises(ValueError, versions.canonical, '2.9.0')
        self.assertRaises(ValueError, versions.canonical, 'latest')

    def test_client_version_from_environment(self) -> None:
        env = dict(os.environ, LUSTRE_EMULATOR_VERSION='2.12',
                   LUSTRE_EMULATOR_ROOT='/nonexistent')
        out = subprocess.run([base.TOOLS['lfs'], '--version'], env=env,
                             capture_output=True, text=True).stdout
        self.assertEqual('lfs 2.12.9\n', out)

    def test_quota_title_threshold(self) -> None:
        # <unknown> from v2_16_58 (prjid2name() in lfs_quota())
        self.assertFalse(versions.profile('2.16.57').quota_title_projname)
        self.assertTrue(versions.profile('2.16.58').quota_title_projname)

    def test_c_sizes(self) -> None:
        # llapi_parse_size(): strtoull base 0, one suffix letter
        parse = common.llapi_parse_size
        self.assertEqual(8 << 20, parse('010M', 1, False, False))
        self.assertEqual(16 << 20, parse('0x10M', 1, False, False))
        self.assertRaises(ValueError, parse, '08M', 1, False, False)
        self.assertEqual(1 << 20, parse('2048b', 1, False, False))
        self.assertEqual(2048, parse('2048b', 1, True, False))
        self.assertEqual(1024 * 1024, parse('1024', 1024, True, False))
        self.assertEqual(1536, parse('1.5K', 1, False, False))
        self.assertRaises(ValueError, parse, '1MiB', 1, False, False)
        self.assertEqual(1 << 20, parse('1Mi', 1, False, True))
        self.assertRaises(ValueError, parse, '-1M', 1, False, True)


class TestSetstripeRules(test_formats.VersionTestCase):
    """Pools, sizes and counts as each version checks them."""

    def test_unknown_pool_plain(self) -> None:
        path = self.path('f')
        # v2_12_9/v2_14_0 llapi_file_open_param(): refused
        self.use('2.12')
        res = self.run_tool('lfs', 'setstripe', '-c', '1', '-p', 'nosuch',
                            path)
        self.assertEqual((22, "lfs setstripe: pool 'testfs.nosuch' does "
                          "not exist\n"), (res.rc, res.err))
        self.assertFalse(os.path.exists(path))
        # v2_15_4 llapi_stripe_param_verify(): accepted, objects anywhere
        self.use('2.15')
        self.lfs('setstripe', '-c', '1', '-p', 'nosuch', path)
        self.assertEqual('nosuch\n\n', self.lfs('getstripe', '-p', path))
        # v2_16_1/v2_17_0: refused with the fsname form (2.17 transcript)
        self.use('2.17')
        res = self.run_tool('lfs', 'setstripe', '-c', '1', '-p', 'nosuch',
                            self.path('g'))
        self.assertEqual((22, "lfs setstripe: pool 'nosuch fsname testfs' "
                          "does not exist: No such file or directory (2)\n"),
                         (res.rc, res.err))

    def test_unknown_pool_pfl(self) -> None:
        args = ['-E', '1M', '-c', '1', '-S', '1M', '-p', 'nosuch', '-E',
                '-1']
        for version in ('2.12', '2.15'):
            self.use(version)
            path = self.path('pfl' + version)
            self.lfs('setstripe', *args + [path])
            self.assertIn('lmm_pool:          nosuch',
                          self.lfs('getstripe', path))
        # v2_16_1+ verify_pool_name() in llapi_layout_sanity_cb()
        self.use('2.17')
        path = self.path('pfl217')
        res = self.run_tool('lfs', 'setstripe', *args + [path])
        self.assertEqual(1, res.rc)
        self.assertEqual(
            "lfs setstripe: Invalid layout, unrecognized error: -1\n"
            "lfs setstripe: lfs setstripe: cannot create composite file "
            "'%s': Success (0)\n" % path, res.err)
        self.assertFalse(os.path.exists(path))

    def test_kib_rule_and_count_cap(self) -> None:
        path = self.path('f')
        self.use('2.12')
        res = self.run_tool('lfs', 'setstripe', '-S', '1024', path)
        self.assertEqual((22, 'lfs setstripe: error: bad stripe_size 1024, '
                          'must be an even multiple of 65536 bytes: Invalid '
                          'argument (22)\n'), (res.rc, res.err))
        res = self.run_tool('lfs', 'setstripe', '-c', '2001', path)
        self.assertEqual((22, 'lfs setstripe: error: bad stripe count 2001: '
                          'Invalid argument (22)\n'), (res.rc, res.err))
        self.use('2.15')
        self.lfs('setstripe', '-S', '1024', path)
        self.assertEqual('1048576\n\n', self.lfs('getstripe', '-S', path))
        res = self.run_tool('lfs', 'setstripe', '-c', '2001',
                            self.path('g'))
        self.assertEqual(4, res.rc)
        self.assertTrue(res.err.startswith(
            "lfs setstripe: invalid stripe count '2001'\n"), res.err)
        self.lfs('setstripe', '-c', '2000', self.path('h'))
        self.lfs('setstripe', '-S', '010M', self.path('octal'))
        self.assertEqual('8388608\n\n', self.lfs('getstripe', '-S',
                                                 self.path('octal')))
        res = self.run_tool('lfs', 'setstripe', '-S', '08M', self.path('i'))
        self.assertEqual(4, res.rc)

    def test_pfl_end_alignment(self) -> None:
        args = ['-E', '1M', '-c', '1', '-S', '4M', '-E', '-1']
        # v2_12_9: no client check; the MDS refuses (lod_verify_striping)
        self.use('2.12')
        path = self.path('a')
        res = self.run_tool('lfs', 'setstripe', *args + [path])
        self.assertEqual((1, '', "lfs setstripe: cannot create composite "
                          "file '%s': Invalid argument\n" % path),
                         (res.rc, res.out, res.err))
        # v2_15_4: llapi_layout_sanity_perror() on stdout
        self.use('2.15')
        res = self.run_tool('lfs', 'setstripe', *args + [path])
        self.assertEqual((1, 'Invalid layout: The component end must be '
                          'aligned by the stripe size\n'),
                         (res.rc, res.out))
        # v2_17_0: on stderr, prefixed
        self.use('2.17')
        res = self.run_tool('lfs', 'setstripe', *args + [path])
        self.assertEqual((1, ''), (res.rc, res.out))
        self.assertTrue(res.err.startswith(
            'lfs setstripe: Invalid layout: The component end must be '
            'aligned by the stripe size\n'), res.err)
        # without a stripe size: the file system's (4 MiB on 2.17)
        res = self.run_tool('lfs', 'setstripe', '-E', '1M', '-E', '-1',
                            path)
        self.assertEqual(1, res.rc)
        self.lfs('setstripe', '-E', '4M', '-E', '-1', path)

    def test_count_and_size_carry_over_components(self) -> None:
        # setstripe_args_init_inherit(): count, size and pool carry over
        path = self.path('pfl')
        self.lfs('setstripe', '-E', '64M', '-c', '2', '-S', '2M', '-p',
                 'ssd', '-E', '-1', path)
        out = self.lfs('getstripe', path).split('\n')
        self.assertEqual(['2', '2'], [ln.split()[1] for ln in out
                                      if 'lmm_stripe_count' in ln])
        self.assertEqual(['2097152', '2097152'], [
            ln.split()[1] for ln in out if 'lmm_stripe_size' in ln])
        self.assertEqual(['ssd', 'ssd'], [ln.split()[1] for ln in out
                                          if 'lmm_pool' in ln])


class TestMigrate(test_formats.VersionTestCase):
    """lfs migrate copies: holes and room."""

    def sparse(self, name: str) -> str:
        path = self.path(name)
        self.lfs('setstripe', '-c', '1', path)
        with open(path, 'r+b') as handle:
            handle.truncate(64 << 20)
            handle.write(b'x' * 4096)
        return path

    def test_holes_filled_before_215(self) -> None:
        # v2_12_9/v2_14_0 migrate_copy_data() copies every byte
        self.use('2.12')
        path = self.sparse('old')
        self.lfs('migrate', '-c', '2', path)
        self.assertGreaterEqual(os.stat(path).st_blocks * 512, 64 << 20)
        # v2_15_4 llapi_data_seek(): the holes stay
        self.use('2.15')
        path = self.sparse('new')
        self.lfs('migrate', '-c', '2', path)
        self.assertLess(os.stat(path).st_blocks * 512, 1 << 20)
        self.assertIn('lmm_layout_gen:    1', self.lfs('getstripe', path))

    def test_needs_room_for_a_copy(self) -> None:
        self.run_ok('lustre-emulator', 'add-fs', 'tiny', '--osts', '1',
                    '--ost-size', '40M')
        path = os.path.join(self.root, 'fs', 'tiny', 'root', 'vol')
        self.lfs('setstripe', '-c', '1', path)
        with open(path, 'wb') as handle:
            handle.write(b'y' * (24 << 20))
            os.fsync(handle.fileno())
        res = self.run_tool('lfs', 'migrate', '-c', '1', path)
        self.assertEqual((28, 'error: lfs migrate: %s: data copy failed: '
                          'No space left on device\n' % path),
                         (res.rc, res.err))
        self.assertIn('lmm_layout_gen:    0', self.lfs('getstripe', path))


class TestDfBehaviour(test_formats.VersionTestCase):
    """Errors, flags and the lazy statfs."""

    def test_statfs_error_row_and_status(self) -> None:
        # showdf(): "%-20s: %s" with strerror; mntdf() returns the first
        # error after printing a valid summary
        self.run_ok('lustre-emulator', 'fault', 'ost', 'testfs', '2',
                    '--errno', 'EIO')
        res = self.run_tool('lfs', 'df', self.fsroot)
        self.assertEqual(errno.EIO, res.rc)
        lines = res.out.split('\n')
        self.assertIn('testfs-OST0002_UUID : Input/output error', lines)
        summary = [ln for ln in lines if ln.startswith('filesystem_')]
        self.assertEqual(3 * 16 * 1024 * 1024, int(summary[0].split()[1]))

    def test_state_flags(self) -> None:
        # error states always, informational ones with -v
        self.run_ok('lustre-emulator', 'fault', 'ost', 'testfs', '1',
                    '--state', 'Df')
        line = [ln for ln in self.lfs('df', self.fsroot).split('\n')
                if 'OST0001' in ln][0]
        self.assertTrue(line.endswith('[OST:1] D'), line)
        line = [ln for ln in self.lfs('df', '-v', self.fsroot).split('\n')
                if 'OST0001' in ln][0]
        self.assertTrue(line.endswith('[OST:1] Df'), line)

    def test_unresponsive_ost_blocks_unless_lazy(self) -> None:
        self.run_ok('lustre-emulator', 'fault', 'ost', 'testfs', '3',
                    '--hang')
        # --lazy: LL_STATFS_NODELAY gets EAGAIN, the row is left out
        out = self.lfs('df', '--lazy', self.fsroot)
        self.assertNotIn('OST0003', out)
        proc = subprocess.Popen([base.TOOLS['lfs'], 'df', self.fsroot],
                                stdout=subprocess.PIPE, text=True)
        time.sleep(1.0)
        self.assertIsNone(proc.poll())
        self.run_ok('lustre-emulator', 'fault', 'ost', 'testfs', '3',
                    '--unhang')
        out, _err = proc.communicate(timeout=30)
        self.assertIn('testfs-OST0003_UUID', out)

    def test_paths(self) -> None:
        # v2_15_4+: "Not a Lustre filesystem" on stdout, 95; missing: 2
        res = self.run_tool('lfs', 'df', '/etc')
        self.assertEqual((95, 'df:/etc Not a Lustre filesystem\n'),
                         (res.rc, res.out))
        res = self.run_tool('lfs', 'df', '/nonexistent')
        self.assertEqual((2, "error: invalid path '/nonexistent': No such "
                          "file or directory\n"), (res.rc, res.err))
        # v2_12_9: the first path only, nothing for another file system
        self.use('2.12')
        res = self.run_tool('lfs', 'df', '/etc', self.fsroot)
        self.assertEqual((0, '', ''), res)


class TestQuotaBehaviour(test_formats.VersionTestCase):
    """Default quotas, id 0, grace, disabled quotas."""

    def row(self, prj: str) -> list:
        out = self.lfs('quota', '-p', prj, self.fsroot)
        lines = out.split('\n')
        return lines

    def test_default_quota(self) -> None:
        self.lfs('setquota', '-P', '-B', '10G', self.fsroot)
        self.lfs('setquota', '-p', '5', '-B', '1G', self.fsroot)
        # up to 2.15: the default's limits and two notes
        self.use('2.15')
        lines = self.row('4000')
        self.assertEqual('10485760', lines[3].split()[2])
        self.assertEqual(['pid 4000 is using default block quota setting',
                          'pid 4000 is using default file quota setting'],
                         lines[4:6])
        self.assertEqual('1048576', self.row('5')[3].split()[2])
        self.assertNotIn('default', ' '.join(self.row('5')))
        # 2.16+: the limits, no notes
        self.use('2.17')
        lines = self.row('4000')
        self.assertEqual('10485760', lines[2].split()[3])
        self.assertEqual(['', ], lines[3:])
        # -d: back to the default
        self.lfs('setquota', '-p', '5', '-d', self.fsroot)
        self.assertEqual('10485760', self.row('5')[2].split()[3])

    def test_root_id(self) -> None:
        self.lfs('setquota', '-P', '-B', '10G', self.fsroot)
        res = self.run_tool('lfs', 'setquota', '-p', '0', '-B', '1G',
                            self.fsroot)
        self.assertEqual((1, "lfs setquota: can't set quota for root "
                          "usr/group/project.\n"), (res.rc, res.err))
        # id 0 holds the default: hidden up to 2.16, shown by 2.17
        self.use('2.16')
        self.assertEqual('0', self.row('0')[2].split()[3])
        self.use('2.17')
        self.assertEqual('10485760', self.row('0')[2].split()[3])

    def test_grace(self) -> None:
        vols = self.path('vols')
        os.mkdir(vols)
        self.lfs('project', '-srp', '7', vols)
        self.lfs('setquota', '-p', '7', '-b', '1M', '-B', '100M',
                 self.fsroot)
        self.write(os.path.join(vols, 'v'), 2)
        self.use('2.17')
        cells = self.row('7')[2].split()
        # over the soft limit: starred, a week's grace counting down
        self.assertTrue(cells[1].endswith('*'))
        self.assertRegex(cells[4], r'^6d23h59m\d+s$')

    def test_disabled_title_order(self) -> None:
        self.run_ok('lustre-emulator', 'set', 'testfs.project_quota', 'off')
        self.use('2.17')
        res = self.run_tool('lfs', 'quota', '-p', '1', self.fsroot)
        self.assertEqual(3, res.rc)
        self.assertTrue(res.out.startswith(
            'Disk quotas for prj <unknown> (pid 1):\n'), res.out)
        self.assertEqual('prj quotas are not enabled.\n', res.err)


@unittest.skipUnless(CAN_LOOP, 'needs root and loop devices')
class TestZfsBackend(base.EmulatorTestCase):
    """A zfs-like file system refuses fallocate (the 2.17.0 transcript)."""

    def test_fallocate_unsupported(self) -> None:
        self.run_ok('lustre-emulator', 'add-fs', 'zfs1', '--osts', '2',
                    '--ost-size', '1G', '--backend', 'zfs')
        self.addCleanup(self.run_tool, 'lustre-emulator', 'remove-fs',
                        'zfs1')
        root = os.path.join(self.root, 'fs', 'zfs1', 'root')
        self.assertEqual([], os.listdir(root))
        res = self.run_tool('fallocate', '-l', '1M',
                            os.path.join(root, 'f'))
        self.assertEqual((1, 'fallocate: fallocate failed: Operation not '
                          'supported\n'), (res.rc, res.err))
        with open(os.path.join(root, 'g'), 'wb') as handle:
            handle.truncate(1 << 30)
        self.assertEqual(0, os.stat(os.path.join(root, 'g')).st_blocks)
        rows = self.lfs('df', root).split('\n')
        self.assertEqual(['2048', '2048'], [
            str(int(r.split()[1]) - int(r.split()[2]) - int(r.split()[3]))
            for r in rows[2:4]])
        self.run_ok('lustre-emulator', 'remove-fs', 'zfs1')
        self.assertFalse(os.path.exists(root))


class TestMountVersions(test_mount.MountTestCase):
    """mount.lustre per version."""

    def test_nids(self) -> None:
        self.run_ok('lustre-emulator', 'set', 'version', '2.17')
        # a NID without @net is tcp0; IPv6 NIDs from 2.17
        self.assertEqual(0, self.mount('mgs:/testfs').rc)
        self.run_ok('lustre-emulator', 'umount', self.mnt)
        res = self.mount('2001:db8::1@tcp:/testfs')
        self.assertEqual(0, res.rc, res.err)
        self.run_ok('lustre-emulator', 'umount', self.mnt)
        self.run_ok('lustre-emulator', 'set', 'version', '2.16')
        res = self.mount('2001:db8::1@tcp:/testfs')
        self.assertEqual(errno.EINVAL, res.rc)
        self.assertTrue(res.err.startswith("mount.lustre: Can't parse NID"),
                        res.err)

    def test_unreachable_mgs(self) -> None:
        self.run_ok('lustre-emulator', 'fault', 'mgs-down', 'mgs1')
        for version, code, tail in (
                ('2.15', errno.EIO, '\nIs the MGS running?\n'),
                ('2.17', errno.ETIMEDOUT, '\n')):
            self.run_ok('lustre-emulator', 'set', 'version', version)
            res = self.mount('mgs1@tcp:/testfs')
            self.assertEqual(code, res.rc)
            self.assertEqual('mount.lustre: mount mgs1@tcp:/testfs at %s '
                             'failed: %s%s' % (self.mnt, os.strerror(code),
                                               tail), res.err)

    def test_options_per_version(self) -> None:
        for version, opt, code in (('2.14', 'encrypt', errno.EINVAL),
                                   ('2.15', 'encrypt', 0),
                                   ('2.15', 'statfs_project', errno.EINVAL),
                                   ('2.17', 'statfs_project', 0)):
            self.run_ok('lustre-emulator', 'set', 'version', version)
            res = self.mount('mgs@tcp:/testfs', opt)
            self.assertEqual(code, res.rc, (version, opt, res.err))
            if code:
                self.assertIn("Is 'testfs' the correct filesystem name?\n"
                              'Are the mount options correct?\n', res.err)
            else:
                self.run_ok('lustre-emulator', 'umount', self.mnt)

    def test_proc_mounts_view(self) -> None:
        self.run_ok('lustre-emulator', 'set', 'version', '2.17')
        self.assertEqual(0, self.mount('10.0.2.15@tcp0:/testfs').rc)
        lines = [ln for ln in self.run_ok('lustre-emulator', 'proc-mounts')
                 .split('\n') if ' %s ' % self.mnt in ln]
        self.assertEqual(['10.0.2.15@tcp:/testfs %s lustre rw,checksum,'
                          'encrypt,flock,lazystatfs,lruresize,nolock,'
                          'statfs_project,nouser_fid2path,nouser_xattr,'
                          'verbose 0 0' % self.mnt], lines)

    def test_eviction_reconnects(self) -> None:
        self.assertEqual(0, self.mount('mgs@tcp:/testfs').rc)
        with open(os.path.join(self.mnt, 'f'), 'w') as handle:
            handle.write('kept')
        self.run_ok('lustre-emulator', 'fault', 'evict', self.mnt,
                    '--seconds', '1.5')
        with self.assertRaises(OSError) as ctx:
            os.stat(os.path.join(self.mnt, 'f'))
        self.assertEqual(errno.EIO, ctx.exception.errno)
        self.assertEqual(errno.EIO, self.run_tool('lfs', 'df',
                                                  self.mnt).rc)
        for _ in range(100):
            time.sleep(0.1)
            if not self.records()[os.path.realpath(self.mnt)]['stale']:
                break
        with open(os.path.join(self.mnt, 'f')) as handle:
            self.assertEqual('kept', handle.read())
        self.assertEqual(1, len(test_mount.mounted(self.mnt)))
        self.assertEqual(0, self.run_tool('lfs', 'df', self.mnt).rc)
