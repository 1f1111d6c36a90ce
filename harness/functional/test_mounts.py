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

"""How the drivers mount, watch and unmount shares, on the emulator.

Real mount(8), umount(8), timeout(1) and the emulator's mount.lustre; the
faults are the emulator's (stale mounts, heal) and wrappers of mount and
umount first on PATH that log their arguments, hang, or run the real tool.
"""

import json
import os
import stat
import subprocess
import textwrap
import time

from base import EMULATOR
from base import FunctionalTestCase
from base import MGS
from base import MiB
from base import run
import fixtures

from cinder.tests.unit import utils as test_utils
from cinder.volume.drivers import lustre_client

MOUNT_LOG = os.path.join(
    os.environ.get('LUSTRE_EMULATOR_ROOT', '/var/lib/lustre-emulator'),
    'state', 'mount.log')

# A tool's wrapper: logs its arguments; then, when they match HANG (a
# shell case pattern), hangs; the first time they match ONCE, runs ACTION
# and fails; else runs the real tool.
WRAPPER = textwrap.dedent('''\
    #!/bin/sh
    echo "$*" >> "%(log)s"
    case "$*" in
        %(hang)s) exec sleep %(seconds)d ;;
        %(once)s)
            if mkdir "%(log)s.once" 2> /dev/null; then
                %(action)s
                exit 1
            fi ;;
    esac
    exec "%(real)s" "$@"
''')


class MountTestCase(FunctionalTestCase):

    def setUp(self):
        super().setUp()
        self.thin = self.make_volume_type('thin',
                                          **{'provisioning:type': 'thin'})
        self.bin = os.path.join(self.tmp, 'bin')
        os.makedirs(self.bin)

    def wrap(self, tool, hang='__never__', seconds=60, once='__never__',
             action=':'):
        """Put a logging wrapper of a tool first on PATH; return its log."""
        log = os.path.join(self.tmp, '%s.log' % tool)
        path = os.path.join(self.bin, tool)
        real = subprocess.run(['which', tool], capture_output=True,
                              text=True, check=True).stdout.strip()
        with open(path, 'w') as f:
            f.write(WRAPPER % {'log': log, 'hang': hang, 'seconds': seconds,
                               'once': once, 'action': action, 'real': real})
        os.chmod(path, stat.S_IRWXU)
        self.useFixture(fixtures.EnvironmentVariable(
            'PATH', '%s:%s' % (self.bin, os.environ['PATH'])))
        return log

    @staticmethod
    def logged(log):
        if not os.path.exists(log):
            return []
        with open(log) as f:
            return f.read().splitlines()

    @staticmethod
    def mounts_of(mount_point):
        """The emulator's successful mounts on a mount point."""
        with open(MOUNT_LOG) as f:
            entries = [json.loads(line) for line in f]
        return [e for e in entries
                if e.get('target') == mount_point and e.get('result') == 0]

    def volume_with_data(self, driver):
        volume = self.make_volume(driver, self.thin)
        self.write(driver, volume, 0, 0x5a)
        return volume, self.digest(driver, volume)

    # -- shares as mount.lustre takes them ----------------------------------

    def test_share_without_network(self):
        # A NID without @NET is on tcp0: mount.lustre takes it.
        self.share = '%s:/%s/cinder' % (MGS.split('@')[0], self.fsname)
        driver = self.make_driver()
        self.assertEqual([self.share], driver._mounted_shares)
        volume, view = self.volume_with_data(driver)
        self.assertEqual(view, self.digest(driver, volume))

    def test_mount_point_base_not_ascii(self):
        # /proc/mounts escapes the blank as \040 and writes the UTF-8 bytes
        # as they are: the driver finds its mount, and mounts it only once.
        self.mount_base = os.path.join(self.tmp, 'montage donn\u00e9es')
        driver = self.make_driver()
        mount_point = driver._get_mount_point_for_share(self.share)
        volume, view = self.volume_with_data(driver)
        self.make_snapshot(driver, volume)
        driver._update_volume_stats()
        self.assertEqual(1, len(self.mounts_of(mount_point)))
        self.assertEqual({mount_point: 'lustre'},
                         {mp: fs for mp, fs in
                          lustre_client.read_mount_points().items()
                          if mp.startswith(self.mount_base)})
        self.assertEqual(view, self.digest(driver, volume))

    def test_other_file_system_at_mount_point_refused(self):
        # A tmpfs where the share belongs: the driver neither mounts over
        # it nor writes into it, and says why.
        mounter = lustre_client.LustreMounter('', None, self.mount_base,
                                              None, 1)
        mount_point = mounter.get_mount_point(self.share)
        os.makedirs(mount_point)
        run('mount', '-t', 'tmpfs', '-o', 'size=16M', 'tmpfs', mount_point)
        self.addCleanup(run, 'umount', mount_point)
        log = self.useFixture(fixtures.FakeLogger(
            name='cinder.volume.drivers.remotefs'))
        self.assertRaises(lustre_client.LustreNoSharesMounted,
                          self.make_driver)
        self.assertIn('is a mount of a tmpfs file system, not of a Lustre '
                      'one', log.output)
        self.assertEqual([], os.listdir(mount_point))
        self.assertEqual([], self.mounts_of(mount_point))

    # -- stale mounts -------------------------------------------------------

    def test_transient_error_keeps_the_mount(self):
        # The client is evicted, and reconnects while the driver checks the
        # mount: the driver waits for it rather than unmounting a mount
        # that other operations may be using.
        driver = self.make_driver()
        mount_point = driver._get_mount_point_for_share(self.share)
        volume, view = self.volume_with_data(driver)
        self.emulator.fault('stale', mount_point, '--errno', 'EIO')
        probes = self.wrap('stat', once='"-f "*', action='"%s" heal "%s"' % (
            EMULATOR, mount_point))
        umounts = self.wrap('umount')
        snapshot = self.make_snapshot(driver, volume)
        self.assertEqual(['-f %s' % mount_point] * 2, self.logged(probes))
        self.assertEqual([], self.logged(umounts))
        self.assertEqual(1, len(self.mounts_of(mount_point)))
        self.assertEqual(view, self.digest(driver, volume))
        self.assertEqual('available', snapshot.status)

    def test_stale_mount_is_unmounted_without_force(self):
        # The client lost its servers for good (ENOTCONN): nobody uses the
        # mount, so a plain umount takes it away; -f (which would abort
        # every request on it) is not needed.
        driver = self.make_driver()
        mount_point = driver._get_mount_point_for_share(self.share)
        volume, view = self.volume_with_data(driver)
        self.emulator.fault('stale', mount_point)
        umounts = self.wrap('umount')
        driver._ensure_shares_mounted()
        self.assertEqual(['-c %s' % mount_point], self.logged(umounts))
        self.assertEqual(2, len(self.mounts_of(mount_point)))
        self.assertEqual(view, self.digest(driver, volume))

    # -- unmounting ---------------------------------------------------------

    def test_busy_mount_is_detached_not_forced(self):
        # A file is open on the mount: umount is refused while it is, for
        # half of lustre_umount_timeout; then the mount is detached, and
        # the file stays readable. umount -f is never run.
        driver = self.make_driver(lustre_umount_timeout=4)
        mount_point = driver._get_mount_point_for_share(self.share)
        volume, _view = self.volume_with_data(driver)
        umounts = self.wrap('umount')
        with open(driver.local_path(volume), 'rb') as busy:
            head = busy.read(MiB)
            start = time.monotonic()
            driver._mounter.umount(mount_point)
            elapsed = time.monotonic() - start
            busy.seek(0)
            self.assertEqual(head, busy.read(MiB))
        logged = self.logged(umounts)
        self.assertEqual(['-c %s' % mount_point, '-c -l %s' % mount_point],
                         [logged[0], logged[-1]])
        self.assertNotIn('-f', ' '.join(logged))
        self.assertNotIn(mount_point, lustre_client.read_mount_points())
        self.assertLess(elapsed, 4 + 3)

    def test_hung_umount_is_forced_then_detached_in_time(self):
        # umount hangs (a client stuck on servers that are gone), and so
        # does umount -f: the mount is detached within the time allowed.
        driver = self.make_driver(lustre_umount_timeout=6)
        mount_point = driver._get_mount_point_for_share(self.share)
        umounts = self.wrap('umount', hang='"-c /"*|"-c -f "*')
        start = time.monotonic()
        driver._mounter.umount(mount_point)
        elapsed = time.monotonic() - start
        self.assertEqual(['-c %s' % mount_point, '-c -f %s' % mount_point,
                          '-c -l %s' % mount_point], self.logged(umounts))
        self.assertNotIn(mount_point, lustre_client.read_mount_points())
        # Three steps of 3, 2 and 1 s, each stopped by timeout(1).
        self.assertLess(elapsed, 6 + 3 * 3)

    # -- mounting -----------------------------------------------------------

    def test_hung_mount_is_stopped_in_time(self):
        # mount.lustre hangs (an MGS that does not answer): each attempt is
        # stopped after lustre_mount_timeout, and the service goes on.
        mounts = self.wrap('mount', hang='*lustre*', seconds=30)
        start = time.monotonic()
        self.assertRaises(lustre_client.LustreNoSharesMounted,
                          self.make_driver, lustre_mount_timeout=2,
                          lustre_mount_attempts=2)
        elapsed = time.monotonic() - start
        self.assertEqual(2, len(self.logged(mounts)))
        # Two attempts of 2 s (timeout(1) kills them), 1 s apart.
        self.assertLess(elapsed, 2 * (2 + 3) + 1 + 5)

    def test_mount_needs_no_coordination_back_end(self):
        # A mount is this host's: with the coordination back end gone, a
        # stale share is still mounted again (volume operations, which
        # need their distributed locks, wait for it to come back).
        etcd = self.lock_on_etcd()
        driver = self.make_driver()
        mount_point = driver._get_mount_point_for_share(self.share)
        self.stop_etcd(etcd)
        self.emulator.fault('stale', mount_point)
        driver._ensure_shares_mounted()
        self.assertEqual([self.share], driver._mounted_shares)
        self.assertEqual(2, len(self.mounts_of(mount_point)))
        stats = driver.get_volume_stats(refresh=True)
        self.assertEqual(1, len(stats['pools']))

    def test_volume_create_after_restart_finds_the_mount(self):
        # A second service of this host (or the same after a restart) uses
        # the mount the first one made.
        driver = self.make_driver()
        mount_point = driver._get_mount_point_for_share(self.share)
        volume, view = self.volume_with_data(driver)
        other = self.make_driver(host='node1@lustre')
        self.assertEqual(view, self.digest(other, volume))
        volume2 = test_utils.create_volume(
            self.ctxt, host=self.pool_host(), size=1,
            volume_type_id=self.thin.id, status='creating')
        other.create_volume(volume2)
        self.assertEqual(1, len(self.mounts_of(mount_point)))
