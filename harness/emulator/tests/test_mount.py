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

"""Real mounts through util-linux and the helper (root only).

Each test mounts under its own temporary directory; the base class
detaches anything left mounted there, even when a test fails.
"""

import errno
import fcntl
import json
import os
import subprocess
import time
import typing
import unittest

from lustre_emu import common
from tests import base

HELPER = '/sbin/mount.lustre'
HELPER_LOCK = '/tmp/lustre-emulator-tests.helper.lock'
HELPER_MARK = '/tmp/lustre-emulator-tests.helper.installed'
CAN_MOUNT = os.geteuid() == 0 and os.path.exists('/dev/fuse')


def mounted(path: str) -> list:
    """mountinfo entries at a mount point."""
    real = os.path.realpath(path)
    return [e for e in common.mountinfo() if e['mountpoint'] == real]


@unittest.skipUnless(CAN_MOUNT, 'needs root and /dev/fuse')
class MountTestCase(base.EmulatorTestCase):
    """Installs /sbin/mount.lustre for the test when it is absent."""

    def setUp(self) -> None:
        super().setUp()
        self._use_helper()
        self.mnt = os.path.join(self.tmp, 'mnt')
        os.mkdir(self.mnt)

    def _use_helper(self) -> None:
        """Install the helper if absent, shared between test processes.

        Every test holds a shared flock while it runs; the last one out
        (an exclusive flock succeeds) removes a helper that tests put
        there, so parallel workers never pull it from under each other.
        """
        mine = base.TOOLS['mount.lustre']
        handle = open(HELPER_LOCK, 'a')
        fcntl.flock(handle, fcntl.LOCK_SH)
        self.addCleanup(self._release_helper, handle)
        if not os.path.lexists(HELPER):
            try:
                os.symlink(mine, HELPER)
                open(HELPER_MARK, 'w').close()
            except FileExistsError:
                pass
        if os.path.realpath(HELPER) != os.path.realpath(mine):
            self.skipTest('%s is not the emulator' % HELPER)

    @staticmethod
    def _release_helper(handle: typing.IO[str]) -> None:
        fcntl.flock(handle, fcntl.LOCK_UN)
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            return
        if os.path.exists(HELPER_MARK):
            if os.path.islink(HELPER):
                os.unlink(HELPER)
            os.unlink(HELPER_MARK)
        handle.close()

    def mount(self, source: str, *opts: str,
              target: str = '') -> base.Result:
        """``mount -t lustre`` through util-linux."""
        args = ['-t', 'lustre']
        if opts:
            args += ['-o', ','.join(opts)]
        return self.run_tool('mount', *(args + [source,
                                                target or self.mnt]))

    def records(self) -> dict:
        """The emulator's mount records."""
        return common.active_mounts()


class TestMount(MountTestCase):
    """mount -t lustre / umount."""

    def test_mount_options_and_unmount(self) -> None:
        src = 'mgs1@tcp0,mgs1ib@o2ib0:mgs2@tcp0:/testfs'
        res = self.mount(src, 'flock', 'user_xattr', 'noatime',
                         'lazystatfs')
        self.assertEqual(0, res.rc, res.err)
        self.assertEqual(1, len(mounted(self.mnt)))
        self.assertIn('noatime', mounted(self.mnt)[0]['options'])
        rec = self.records()[os.path.realpath(self.mnt)]
        for opt in ('flock', 'user_xattr', 'noatime', 'lazystatfs'):
            self.assertIn(opt, rec['options'])
        self.assertEqual(src, rec['source'])
        self.assertEqual('testfs', rec['fsname'])
        with open(os.path.join(self.mnt, 'f'), 'w') as handle:
            handle.write('data')
        self.assertTrue(os.path.exists(self.path('f')))
        out = self.lfs('df', self.mnt)
        self.assertIn(' %s[OST:3]\n' % self.mnt, out)
        self.assertTrue(out.rstrip('\n').endswith('%% %s' % self.mnt))
        self.lfs('setstripe', '-c', '2', os.path.join(self.mnt, 'g'))
        self.assertEqual('2\n\n', self.lfs('getstripe', '-c',
                                           os.path.join(self.mnt, 'g')))
        with open(os.path.join(self.root, 'state', 'mount.log')) as log:
            last = json.loads(log.read().splitlines()[-1])
        self.assertEqual(0, last['result'])
        self.assertEqual(0, self.run_tool('umount', self.mnt).rc)
        self.assertEqual([], mounted(self.mnt))
        self.assertEqual({}, self.records())
        # 2.15 lfs_df(): "df:PATH Not a Lustre filesystem", EOPNOTSUPP
        res = self.run_tool('lfs', 'df', self.mnt)
        self.assertEqual((95, 'df:%s Not a Lustre filesystem\n' % self.mnt),
                         (res.rc, res.out))

    def test_subdir(self) -> None:
        os.makedirs(self.path('cinder', 'vols'))
        res = self.mount('10.0.0.1@tcp:/testfs/cinder')
        self.assertEqual(0, res.rc, res.err)
        self.assertTrue(os.path.isdir(os.path.join(self.mnt, 'vols')))
        res = self.mount('10.0.0.1@tcp:/testfs/nosuch',
                         target=self.tmp)
        self.assertEqual(errno.ENOENT, res.rc)

    def test_double_mount_eexist(self) -> None:
        self.assertEqual(0, self.mount('mgs@tcp:/testfs').rc)
        res = self.mount('mgs@tcp:/testfs')
        self.assertEqual(17, res.rc)
        self.assertEqual('mount.lustre: according to /etc/mtab '
                         'mgs@tcp:/testfs is already mounted on %s\n'
                         % self.mnt, res.err)
        self.assertEqual(1, len(mounted(self.mnt)))

    def test_errors(self) -> None:
        res = self.mount('mgs@tcp:/nofs')
        self.assertEqual(errno.ENOENT, res.rc)
        self.assertIn('mount.lustre: mount mgs@tcp:/nofs at %s failed: No '
                      'such file or directory\nIs the MGS specification '
                      'correct?' % self.mnt, res.err)
        res = self.mount('mgs@bogus:/testfs')
        self.assertEqual(errno.EINVAL, res.rc)
        res = self.mount('mgs@tcp:/testfs', 'nosuchopt')
        self.assertEqual(errno.EINVAL, res.rc)
        self.assertIn('Are the mount options correct?', res.err)
        self.run_ok('lustre-emulator', 'fault', 'mgs-down', 'mgs1')
        res = self.mount('mgs1@tcp:/testfs')
        self.assertEqual(errno.EIO, res.rc)
        self.assertIn('Is the MGS running?', res.err)
        self.assertEqual([], mounted(self.mnt))
        # failover: the second MGS answers
        self.assertEqual(0, self.mount('mgs1@tcp:mgs2@tcp:/testfs').rc)

    def test_read_only(self) -> None:
        self.assertEqual(0, self.mount('mgs@tcp:/testfs', 'ro').rc)
        with self.assertRaises(OSError) as ctx:
            open(os.path.join(self.mnt, 'x'), 'w')
        self.assertEqual(errno.EROFS, ctx.exception.errno)
        res = self.run_tool('lfs', 'setstripe', os.path.join(self.mnt,
                                                             'y'))
        self.assertEqual(errno.EROFS, res.rc)


class TestFaults(MountTestCase):
    """Injected failures."""

    def test_next_mounts_fail(self) -> None:
        self.run_ok('lustre-emulator', 'fault', 'mount-fail', 'testfs',
                    '--errno', 'ESHUTDOWN', '--count', '2')
        res = self.mount('mgs@tcp:/testfs')
        self.assertEqual(errno.ESHUTDOWN, res.rc)
        self.assertIn('Cannot send after transport endpoint shutdown',
                      res.err)
        # retry=1: the second failure is consumed, the retry succeeds
        res = self.mount('mgs@tcp:/testfs', 'retry=1')
        self.assertEqual(0, res.rc, res.err)

    def test_stale_enotconn_then_heal(self) -> None:
        self.assertEqual(0, self.mount('mgs@tcp:/testfs').rc)
        with open(os.path.join(self.mnt, 'f'), 'w') as handle:
            handle.write('kept')
        self.run_ok('lustre-emulator', 'fault', 'stale', self.mnt)
        with self.assertRaises(OSError) as ctx:
            os.stat(self.mnt)
        self.assertEqual(errno.ENOTCONN, ctx.exception.errno)
        entry = mounted(self.mnt)
        self.assertEqual(['fuse.lustre'], [e['fstype'] for e in entry])
        self.assertEqual('mgs@tcp:/testfs', entry[0]['source'])
        self.assertEqual(errno.ENOTCONN,
                         self.run_tool('lfs', 'df', self.mnt).rc)
        self.assertEqual(17, self.mount('mgs@tcp:/testfs').rc)
        self.run_ok('lustre-emulator', 'heal', self.mnt)
        with open(os.path.join(self.mnt, 'f')) as handle:
            self.assertEqual('kept', handle.read())
        self.assertEqual(1, len(mounted(self.mnt)))
        self.run_ok('lustre-emulator', 'umount', self.mnt)
        self.assertEqual([], mounted(self.mnt))

    def test_stale_eshutdown_umount_leaves_nothing(self) -> None:
        self.assertEqual(0, self.mount('mgs@tcp:/testfs').rc)
        self.run_ok('lustre-emulator', 'fault', 'stale', self.mnt,
                    '--errno', 'ESHUTDOWN')
        pid = self.records()[os.path.realpath(self.mnt)]['stale']['pid']
        self.assertTrue(pid)
        self.addCleanup(self._kill, pid)
        for _ in range(2):
            with self.assertRaises(OSError) as ctx:
                os.stat(self.mnt)
            self.assertEqual(errno.ESHUTDOWN, ctx.exception.errno)
        with self.assertRaises(OSError) as ctx:
            os.listdir(self.mnt)
        self.assertEqual(errno.ESHUTDOWN, ctx.exception.errno)
        # plain util-linux umount, as a driver's repair would do
        res = self.run_tool('umount', self.mnt)
        self.assertEqual(0, res.rc, res.err)
        self.assertEqual([], mounted(self.mnt))
        backing = os.path.realpath(self.fsroot)
        self.assertFalse([e for e in common.mountinfo()
                          if e['root'].startswith(backing)])
        self.assertEqual({}, self.records())
        for _ in range(100):
            if not os.path.exists('/proc/%d' % pid):
                break
            time.sleep(0.05)
        self.assertFalse(os.path.exists('/proc/%d' % pid))
        # and the share mounts again
        self.assertEqual(0, self.mount('mgs@tcp:/testfs').rc)

    @staticmethod
    def _kill(pid: int) -> None:
        try:
            os.kill(pid, 9)
        except ProcessLookupError:
            pass


@unittest.skipUnless(CAN_MOUNT, 'needs root and /dev/fuse')
class TestSetupTeardown(base.EmulatorTestCase):
    """setup installs, teardown unmounts and uninstalls."""

    def test_install_and_teardown(self) -> None:
        sbin = os.path.join(self.tmp, 'sbin')
        bindir = os.path.join(self.tmp, 'bin')
        args = ('setup', '--sbin-dir', sbin, '--bin-dir', bindir)
        self.run_ok('lustre-emulator', *args)
        self.run_ok('lustre-emulator', *args)          # idempotent
        helper = os.path.join(sbin, 'mount.lustre')
        self.assertEqual(base.TOOLS['mount.lustre'], os.readlink(helper))
        self.assertEqual('lfs 2.15.4\n', self.run_ok(
            os.path.join(bindir, 'lfs'), '--version'))
        mnt = os.path.join(self.tmp, 'm')
        os.mkdir(mnt)
        res = subprocess.run([helper, 'mgs@tcp:/scratch', mnt, '-o',
                              'rw,localflock'], capture_output=True,
                             text=True)
        self.assertEqual(0, res.returncode, res.stderr)
        self.assertEqual(1, len(mounted(mnt)))
        self.run_ok('lustre-emulator', 'teardown', '--purge')
        self.assertEqual([], mounted(mnt))
        self.assertFalse(os.path.lexists(helper))
        self.assertFalse(os.path.lexists(os.path.join(bindir, 'lfs')))
        self.assertFalse(os.path.exists(self.root))


if __name__ == '__main__':
    unittest.main()
