# Copyright (c) 2026 OpenStack Foundation
# All Rights Reserved.
#
#    Licensed under the Apache License, Version 2.0 (the "License"); you may
#    not use this file except in compliance with the License. You may obtain
#    a copy of the License at
#
#         http://www.apache.org/licenses/LICENSE-2.0
#
#    Unless required by applicable law or agreed to in writing, software
#    distributed under the License is distributed on an "AS IS" BASIS, WITHOUT
#    WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied. See the
#    License for the specific language governing permissions and limitations
#    under the License.

"""The rootwrap filters of the Lustre drivers, read by oslo.rootwrap.

``etc/cinder/rootwrap.d/volume.filters`` must allow every command line the
Lustre drivers run as root, and nothing much else. The unit tests of the
drivers check each command they run as root against it (``allowed``); the
tests here check the command lines of the Lustre client module and that
dangerous ones are refused (the backup driver's, in the backup tests).
"""

import functools
import os
import shutil
import sys
import tempfile
from unittest import mock

import ddt
import fixtures
from oslo_rootwrap import wrapper

import cinder
from cinder.tests.unit import test
from cinder.volume.drivers import lustre_client
from cinder.volume.drivers import lustre_pools

EXEC_DIRS = ['/sbin', '/usr/sbin', '/bin', '/usr/bin', '/usr/local/sbin',
             '/usr/local/bin']
MNT = '/var/lib/cinder/mnt/0123456789abcdef0123456789abcdef'
SHARE = '10.0.0.1@tcp:/testfs/cinder'
# Another directory named like a mount point.
HASH = 'fedcba9876543210' * 2
# A ".." component in a mount point, in the middle or before the hash.
DOTDOT = ('/var/lib/cinder/mnt/../../../home/' + HASH,
          '/var/lib/cinder/mnt/../' + HASH)
# And in a file's path: in the middle, before the hash, at the end.
DOTDOT_FILES = (MNT + '/../' + HASH + '/f',
                '/tmp/../etc/' + HASH + '/f',
                MNT + '/..')
# Each lfs setstripe/migrate entry, with 0 to 16 options; each lfs
# project entry, with the ".." path first or last of 1 to 8 paths.
DOTDOT_LFS = (
    [('lfs', ('setstripe', 'migrate')[n % 2]) + ('-c', '1') * n
     + ('--', DOTDOT_FILES[n % 3]) for n in range(17)]
    + [('lfs', 'project', '-p', '1', '--', DOTDOT_FILES[n % 3])
       + (MNT + '/volume-1',) * (n - 1) for n in range(1, 9)]
    + [('lfs', 'project', '-p', '1', '--') + (MNT + '/volume-1',) * (n - 1)
       + (DOTDOT_FILES[n % 3],) for n in range(2, 9)])


def filters_file():
    """volume.filters of the source tree, or as installed with Cinder."""
    for prefix in (os.path.dirname(os.path.dirname(cinder.__file__)),
                   sys.prefix):
        path = os.path.join(prefix, 'etc', 'cinder', 'rootwrap.d',
                            'volume.filters')
        if os.path.isfile(path):
            return path
    raise AssertionError('no etc/cinder/rootwrap.d/volume.filters found')


@functools.lru_cache(maxsize=None)
def _filters():
    # load_filters reads every file of a directory: give it this one only.
    directory = tempfile.mkdtemp()
    try:
        shutil.copy(filters_file(), directory)
        return wrapper.load_filters([directory])
    finally:
        shutil.rmtree(directory)


def allowed(cmd):
    """Whether cinder-rootwrap would run this command line."""
    try:
        wrapper.match_filter(_filters(), list(cmd), exec_dirs=EXEC_DIRS)
    except wrapper.FilterMatchNotExecutable:
        return True     # a filter allows it; the executable is missing here
    except wrapper.NoFilterMatched:
        return False
    return True


@ddt.ddt
class LustreRootwrapFiltersTestCase(test.TestCase):
    """What the Lustre drivers may run as root, and what they may not."""

    def setUp(self):
        super().setUp()
        self.tempdir = self.useFixture(fixtures.TempDir()).path
        self.execute = mock.Mock(return_value=('', ''))

    def _root_commands(self):
        return [c.args for c in self.execute.call_args_list
                if c.kwargs.get('run_as_root')]

    def assertAllowed(self, commands):
        self.assertNotEqual([], commands)
        self.assertEqual([], [cmd for cmd in commands if not allowed(cmd)])

    def test_filters_file_found(self):
        with open(filters_file()) as f:
            text = f.read()
        self.assertIn('lustre_umount', text)

    def test_mount_and_unmount(self):
        mounter = lustre_client.LustreMounter(
            'sudo', self.execute, os.path.join(self.tempdir, 'my mnt\u00e9'),
            'flock', 1)
        mount_point = mounter.get_mount_point(SHARE)
        mounted = {}
        self.mock_object(lustre_client, 'read_mount_points',
                         side_effect=lambda: dict(mounted))

        def execute(*cmd, **kwargs):
            if 'mount' in cmd:
                mounted[mount_point] = 'lustre'
            return '', ''
        self.execute.side_effect = execute
        mounter.ensure_mounted(SHARE, 'noatime,network=tcp1')
        # Every step of an unmount: refused, hung, forced, detached.
        self.execute.side_effect = lustre_client.CommandTimedOut(['x'], 1)
        self.assertRaises(lustre_client.LustreException, mounter.umount,
                          mount_point)
        commands = self._root_commands()
        self.assertEqual(
            [('mount', '-t', 'lustre', '-o', 'flock,noatime,network=tcp1',
              SHARE, mount_point),
             ('umount', '-c', mount_point),
             ('umount', '-c', '-f', mount_point),
             ('umount', '-c', '-l', mount_point)],
            [cmd[4:] for cmd in commands])
        self.assertAllowed(commands)

    @ddt.data(
        {'lustre:stripe_count': '4'},
        {'lustre:stripe_count': '-1', 'lustre:stripe_size': '4M',
         'lustre:ost_pool': 'ssd_pool-1'},
        # A progressive layout of four components, each with every option.
        {'lustre:layout': '64M:1:1M,1G:4:4M,16G:8:4M,-1:-1:16M',
         'lustre:ost_pool': 'hdd'},
    )
    def test_layouts(self, specs):
        lfs = lustre_client.Lfs(self.execute)
        # The file system has the OST pools the layouts name.
        self.mock_object(lfs, 'pools',
                         return_value=frozenset(('ssd_pool-1', 'hdd')))
        layout = lustre_pools.layout_from_specs(specs)
        lfs.create_file(MNT + '/volume-1', layout, run_as_root=True)
        lfs.migrate(MNT + '/volume-1.snap', layout, run_as_root=True)
        self.assertAllowed(self._root_commands())

    @ddt.data(1, 8, 9, 30)
    def test_project_ids_and_quotas(self, files):
        lfs = lustre_client.Lfs(self.execute)
        lfs.set_project(['%s/volume-1.%d' % (MNT, n) for n in range(files)],
                        16777216)
        lfs.setquota(MNT, 16777216, 1049600)
        # The command lines are what counts; they print nothing here.
        self.assertRaises(lustre_client.LustreException, lfs.quota, MNT,
                          16777216)
        self.mock_object(lfs, 'version', return_value=(2, 17, 0))
        self.assertRaises(lustre_client.LustreException, lfs.quota_defaults,
                          MNT)
        commands = self._root_commands()
        self.assertEqual(files, sum(len(cmd) - 5 for cmd in commands
                                    if cmd[1] == 'project'))
        self.assertIn(('lfs', 'quota', '-P', MNT), commands)
        self.assertAllowed(commands)

    @ddt.data(
        # Commands the old filters allowed whole.
        ('lfs', 'swap_layouts', MNT + '/volume-1', MNT + '/volume-2'),
        ('lfs', 'rmfid', '/var/lib/cinder/mnt', '[0x200000401:0x1:0x0]'),
        ('lfs', 'hsm_release', MNT + '/volume-1'),
        ('lfs', 'setstripe', '--yaml', '/etc/shadow', '--', MNT + '/f'),
        ('lfs', 'setstripe', '-L', 'mdt', '--', MNT + '/f'),
        ('lfs', 'setstripe', '-c', '2', MNT + '/f'),
        ('lfs', 'setstripe', '-c', '2', '--', MNT + '/f', '/etc/passwd'),
        ('lfs', 'setstripe', '-c', '2', '--', 'relative/f'),
        ('lfs', 'setstripe', '-c', '2/x', '--', MNT + '/f'),
        ('lfs', 'setstripex', '-c', '2', '--', MNT + '/f'),
        ('lfs', 'project', '-r', '-s', '-p', '1', '/'),
        ('lfs', 'project', '-p', '1', '--') + (MNT + '/f',) * 9,
        ('lfs', 'setquota', '-u', 'root', '-B', '0K', MNT),
        ('lfs', 'setquota', '-p', '1', '-B', '1K', '/'),
        ('lfs', 'quota', '-u', '0', MNT),
        ('umount', '/'),
        ('umount', '-a'),
        ('umount', '-c', '-f', '/home'),
        ('umount', '-c', '-R', MNT),
        ('umount', '-c', MNT, '/home'),
        ('umount', '-c', '-l', '/var/lib/docker/' + '0123456789abcdef' * 4),
        ('fallocate', '-l', '1G', 'relative/f'),
        ('fallocate', '-l', '1G', '/etc/passwd'),
        ('fallocate', '-l', '1G', MNT + '/../../../etc/passwd'),
        ('fallocate', '-l', '1K', MNT + '/volume-1'),
        ('fallocate', '-p', '-o', '0', '-l', '1G', MNT + '/volume-1'),
        ('fallocate', '-d', MNT + '/volume-1'),
        ('timeout', '-k', '2', '30', 'sh', '-c', 'id'),
        ('timeout', '-k', '2', '30', 'umount', '/'),
        ('timeout', '-k', '2', '30', 'lfs', 'swap_layouts', 'a', 'b'),
        ('timeout', '30', 'umount', '-c', MNT),
        ('timeout', '-k', '2', '30', 'timeout', '-k', '2', '30', 'umount',
         '-c', MNT),
        # A ".." anywhere in a path under a mount point.
        *[('umount', '-c') + opt + (path,) for path in DOTDOT
          for opt in ((), ('-f',), ('-l',))],
        ('timeout', '-k', '2', '30', 'umount', '-c', '-l', DOTDOT[0]),
        *[('fallocate', '-l', '1G', path) for path in DOTDOT_FILES],
        *DOTDOT_LFS,
        *[('lfs', 'setquota', '-p', '1', '-B', '1K', path) for path in DOTDOT],
        *[('lfs', 'quota', '-p', '1', path) for path in DOTDOT],
        *[('lfs', 'quota', '-P', path) for path in DOTDOT],
    )
    def test_dangerous_commands_refused(self, cmd):
        self.assertFalse(allowed(cmd))
