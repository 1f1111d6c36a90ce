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

"""Unit tests for the Lustre client module."""

import hashlib
import os
from unittest import mock

import ddt
import fixtures
from os_brick import exception as brick_exception
from os_brick.remotefs import remotefs as remotefs_brick
from oslo_utils import units

from cinder import exception
from cinder.tests.unit import test
from cinder.tests.unit.volume.drivers import test_lustre
from cinder.volume.drivers import lustre_client

SHARE = test_lustre.SHARE
SHARE2 = test_lustre.SHARE2
POOL = test_lustre.POOL
POOL2 = test_lustre.POOL2
LFS_DF = test_lustre.LFS_DF
_lfs_df = test_lustre._lfs_df
QUOTA_FREE = test_lustre.QUOTA_FREE
QUOTA_LONG_OVER = test_lustre.QUOTA_LONG_OVER
QUOTA_216 = test_lustre.QUOTA_216


@ddt.ddt
class LustreClientTestCase(test.TestCase):
    """Unit tests of the Lustre client module on its own."""

    def setUp(self):
        super(LustreClientTestCase, self).setUp()
        self.tempdir = self.useFixture(fixtures.TempDir()).path
        self.execute = mock.Mock(return_value=('', ''))

    @ddt.data('', None)
    def test_parse_mount_options_empty(self, text):
        self.assertEqual([], lustre_client.parse_mount_options(text))

    @ddt.data(('flock', ['flock']),
              ('user_xattr,noatime', ['user_xattr', 'noatime']),
              ('network=tcp1,lazystatfs', ['network=tcp1', 'lazystatfs']),
              ('mgsname=10.0.0.1@tcp:10.0.0.2@tcp',
               ['mgsname=10.0.0.1@tcp:10.0.0.2@tcp']))
    @ddt.unpack
    def test_parse_mount_options(self, text, options):
        self.assertEqual(options, lustre_client.parse_mount_options(text))

    @ddt.data('ro,', 'a b', 'x;y', '$(id)', 'opt=`id`', "'q'", 'a\\b')
    def test_parse_mount_options_invalid(self, text):
        self.assertRaises(ValueError, lustre_client.parse_mount_options,
                          text)

    def test_share_parse_error_message(self):
        exc = self.assertRaises(ValueError, lustre_client.LustreShare.parse,
                                'host:/fs')
        self.assertIn('host:/fs', str(exc))

    def test_parse_shares_result(self):
        shares = lustre_client.parse_shares(
            ['# c\n', '10.0.0.1@tcp:/a -o flock\n', '\n',
             '10.0.0.1@tcp:/a/b\n'], 'shares')
        self.assertEqual(['10.0.0.1@tcp:/a', '10.0.0.1@tcp:/a/b'],
                         list(shares))
        self.assertEqual('flock', shares['10.0.0.1@tcp:/a'][1])
        self.assertEqual('a/b', shares['10.0.0.1@tcp:/a/b'][0].name)
        self.assertEqual('/b', shares['10.0.0.1@tcp:/a/b'][0].subdir)

    def _stock_brick(self):
        """os-brick up to 7.1.1: RemoteFsClient refuses 'lustre'."""
        return self.mock_object(
            remotefs_brick.RemoteFsClient, '__init__',
            side_effect=brick_exception.ProtocolNotSupported(
                protocol='lustre'))

    def test_make_remotefs_client_adapter(self):
        # os-brick 7.1.1 refuses 'lustre': the adapter is used.
        self._stock_brick()
        client = lustre_client.make_remotefs_client(
            'sudo', self.execute, '/mnt/base', 'flock')
        self.assertIsInstance(client, lustre_client._LustreRemoteFsClient)
        self.assertEqual('lustre', client._mount_type)
        self.assertEqual('/mnt/base', client._mount_base)
        self.assertEqual('flock', client._mount_options)
        self.assertEqual('/mnt/base', client.get_mount_base())
        self.assertEqual(
            '/mnt/base/' + hashlib.md5(b'10.0.0.1@tcp:/fs',
                                       usedforsecurity=False).hexdigest(),
            client.get_mount_point('10.0.0.1@tcp:/fs'))

    def test_make_remotefs_client_adapter_mounts(self):
        self.mock_object(remotefs_brick.RemoteFsClient, '_read_mounts',
                         return_value={})
        self._stock_brick()
        client = lustre_client.make_remotefs_client(
            'sudo', self.execute, '/mnt/base', None)
        self.assertIsInstance(client, lustre_client._LustreRemoteFsClient)
        client.mount('10.0.0.1@tcp:/fs', ['-o', 'noatime'])
        mount_point = client.get_mount_point('10.0.0.1@tcp:/fs')
        self.execute.assert_called_with(
            'mount', '-t', 'lustre', '-o', 'noatime', '10.0.0.1@tcp:/fs',
            mount_point, root_helper='sudo', run_as_root=True,
            check_exit_code=0)

    def test_make_remotefs_client_brick_supports_lustre(self):
        # An os-brick that knows Lustre: its own client is used.
        mock_init = self.mock_object(remotefs_brick.RemoteFsClient,
                                     '__init__', return_value=None)
        client = lustre_client.make_remotefs_client(
            'sudo', self.execute, '/mnt/base', 'flock')
        self.assertIs(remotefs_brick.RemoteFsClient, type(client))
        mock_init.assert_called_once_with(
            'lustre', 'sudo', execute=self.execute,
            lustre_mount_point_base='/mnt/base',
            lustre_mount_options='flock')

    def test_read_mount_points(self):
        path = os.path.join(self.tempdir, 'mounts')
        with open(path, 'w') as f:
            f.write('proc /proc proc rw 0 0\n'
                    '10.0.0.1@tcp:/fs /mnt/abc lustre rw,flock 0 0\n'
                    '10.0.0.1@tcp:/fs2 /mnt/with\\040space lustre rw 0 0\n'
                    'short\n\n')
        self.assertEqual({'/proc': 'proc', '/mnt/abc': 'lustre',
                          '/mnt/with space': 'lustre'},
                         lustre_client.read_mount_points(path))

    def test_mounter_is_mounted(self):
        self.mock_object(lustre_client, 'read_mount_points',
                         return_value={'/mnt/a': 'lustre'})
        self.assertTrue(lustre_client.LustreMounter.is_mounted('/mnt/a'))
        self.assertFalse(lustre_client.LustreMounter.is_mounted('/mnt/b'))

    def test_mounter_is_stale(self):
        self.assertFalse(lustre_client.LustreMounter.is_stale(self.tempdir))

    def test_mounter_healthy_mount_takes_no_lock(self):
        mounter = lustre_client.LustreMounter('sudo', self.execute,
                                              self.tempdir, None, 1)
        mount_point = mounter.get_mount_point(SHARE)
        os.makedirs(mount_point)
        self.mock_object(lustre_client, 'read_mount_points',
                         return_value={mount_point: 'lustre'})
        mock_locked = self.mock_object(mounter, '_mount_locked')

        self.assertEqual(mount_point, mounter.ensure_mounted(SHARE))

        mock_locked.assert_not_called()
        self.execute.assert_not_called()

    @ddt.data(({}, False), ({'mp': 'lustre'}, True))
    @ddt.unpack
    def test_mounter_unmounted_or_stale_mount_is_locked(self, mounts, stale):
        mounter = lustre_client.LustreMounter('sudo', self.execute,
                                              self.tempdir, None, 1)
        mount_point = mounter.get_mount_point(SHARE)
        mounts = {mount_point: fs for fs in mounts.values()}
        self.mock_object(lustre_client, 'read_mount_points',
                         return_value=mounts)
        self.mock_object(mounter, 'is_stale', return_value=stale)
        mock_locked = self.mock_object(mounter, '_mount_locked')

        mounter.ensure_mounted(SHARE, '-o x')

        mock_locked.assert_called_once_with(SHARE, mount_point, '-o x')

    def test_mounter_at_least_one_attempt(self):
        mounter = lustre_client.LustreMounter('sudo', self.execute,
                                              self.tempdir, None, 0)
        self.assertEqual(1, mounter.mount_attempts)
        self.assertEqual(os.path.realpath(self.tempdir),
                         mounter.mount_point_base)

    def test_parse_lfs_df(self):
        df = lustre_client.parse_lfs_df(LFS_DF)
        self.assertEqual(100 * units.Gi, df.total)
        self.assertEqual(30 * units.Gi, df.used)
        self.assertEqual(70 * units.Gi, df.available)
        self.assertEqual(('testfs-OST0000', 'testfs-OST0001'), df.osts)

    @ddt.data((('fs-OST0000', 'fs-OST0001'), []),
              (('fs-OST0000', 'fs-OST0002'), ['fs-OST0001']),
              (('fs-OST0001', 'fs-OST000b'),
               ['fs-OST%04x' % i for i in (0, 2, 3, 4, 5, 6, 7, 8, 9, 10)]),
              ((), []))
    @ddt.unpack
    def test_lfs_df_missing_osts(self, osts, missing):
        df = lustre_client.LfsDf(total=1, used=0, available=1, osts=osts)
        self.assertEqual(missing, df.missing_osts)

    def test_parse_lfs_df_other_spacing(self):
        output = ('UUID 1K-blocks Used Available Use% Mounted on\n'
                  'fs-OST0000 100 40 60 40% /m[OST:0]\n'
                  'filesystem_summary: 100 40 60 40% /m\n')
        df = lustre_client.parse_lfs_df(output)
        self.assertEqual((102400, 40960, 61440), (df.total, df.used,
                                                  df.available))
        self.assertEqual(('fs-OST0000',), df.osts)

    @ddt.data('', 'UUID 1K-blocks Used Available Use% Mounted on\n',
              'filesystem_summary: x y z 1% /m\n')
    def test_parse_lfs_df_no_summary(self, output):
        self.assertRaises(lustre_client.LustreException,
                          lustre_client.parse_lfs_df, output)

    def test_lfs_df(self):
        self.execute.return_value = (LFS_DF, '')
        df = lustre_client.Lfs(self.execute).df('/mnt/x')
        self.execute.assert_called_once_with('lfs', 'df', '/mnt/x')
        self.assertEqual(70 * units.Gi, df.available)

    def test_lfs_df_pool(self):
        self.execute.return_value = (_lfs_df(10, 4), '')
        df = lustre_client.Lfs(self.execute).df('/mnt/x', 'testfs', 'ssd')
        self.execute.assert_called_once_with('lfs', 'df', '--pool',
                                             'testfs.ssd', '/mnt/x')
        self.assertEqual((10 * units.Gi, 4 * units.Gi),
                         (df.total, df.available))

    @staticmethod
    def _shares(*addresses):
        return [lustre_client.LustreShare.parse(a) for a in addresses]

    def test_make_pools_without_ost_pools(self):
        self.assertEqual(
            {POOL: lustre_client.LustrePool(POOL, SHARE),
             POOL2: lustre_client.LustrePool(POOL2, SHARE2)},
            lustre_client.make_pools(self._shares(SHARE, SHARE2), []))
        self.assertEqual({}, lustre_client.make_pools([], []))

    def test_make_pools(self):
        pools = lustre_client.make_pools(
            self._shares(SHARE, SHARE2),
            ['testfs.ssd', 'lfs2.flash', 'testfs.hdd_2'])
        self.assertEqual(
            [lustre_client.LustrePool('testfs.ssd', SHARE, 'ssd'),
             lustre_client.LustrePool('testfs.hdd_2', SHARE, 'hdd_2'),
             lustre_client.LustrePool('lfs2/cinder.flash', SHARE2, 'flash')],
            list(pools.values()))
        self.assertEqual(list(pools), [p.name for p in pools.values()])

    def test_make_pools_several_shares_on_one_fs(self):
        shares = self._shares('10.0.0.1@tcp:/testfs/a',
                              '10.0.0.1@tcp:/testfs/b',
                              '10.0.0.2@tcp:/other')
        pools = lustre_client.make_pools(shares, ['testfs.ssd', 'testfs.hdd'])
        self.assertEqual(
            {'testfs/a.ssd': lustre_client.LustrePool(
                'testfs/a.ssd', '10.0.0.1@tcp:/testfs/a', 'ssd'),
             'testfs/a.hdd': lustre_client.LustrePool(
                 'testfs/a.hdd', '10.0.0.1@tcp:/testfs/a', 'hdd'),
             'testfs/b.ssd': lustre_client.LustrePool(
                 'testfs/b.ssd', '10.0.0.1@tcp:/testfs/b', 'ssd'),
             'testfs/b.hdd': lustre_client.LustrePool(
                 'testfs/b.hdd', '10.0.0.1@tcp:/testfs/b', 'hdd'),
             'other': lustre_client.LustrePool(
                 'other', '10.0.0.2@tcp:/other')},
            pools)

    @ddt.data('testfs',               # no pool
              'testfs.',              # empty pool
              '.ssd',                 # no fsname
              'ninechars.ssd',        # fsname > 8 characters
              'testfs.' + 'p' * 16,   # pool > 15 characters
              'testfs.ss d',          # blank
              'testfs.a.b',           # dot in the pool
              'test;fs.ssd',          # metacharacter
              'testfs.ssd;reboot')    # metacharacter
    def test_make_pools_invalid(self, entry):
        exc = self.assertRaises(exception.InvalidConfigurationValue,
                                lustre_client.make_pools,
                                self._shares(SHARE), ['testfs.ok', entry])
        self.assertIn('lustre_ost_pools', str(exc))

    def test_unused_ost_pools(self):
        self.assertEqual(
            ['other.a', 'zfs.b'],
            lustre_client.unused_ost_pools(
                self._shares(SHARE), ['zfs.b', 'testfs.ssd', 'other.a']))
        self.assertEqual([], lustre_client.unused_ost_pools(
            self._shares(SHARE), ['testfs.ssd']))

    @ddt.data(({}, []),
              ({'stripe_count': 4}, ['-c', '4']),
              ({'stripe_count': 0}, ['-c', '0']),
              ({'stripe_size': '1M'}, ['-S', '1M']),
              ({'pool': 'flash'}, ['-p', 'flash']),
              ({'stripe_count': -1, 'stripe_size': '4M', 'pool': 'p',
                'run_as_root': True}, ['-c', '-1', '-S', '4M', '-p', 'p']))
    @ddt.unpack
    def test_lfs_setstripe(self, kwargs, args):
        lustre_client.Lfs(self.execute).setstripe('/mnt/x', **kwargs)
        self.execute.assert_called_once_with(
            'lfs', 'setstripe', *args, '--', '/mnt/x',
            run_as_root=kwargs.get('run_as_root', False))

    def test_lfs_create_file(self):
        layout = lustre_client.Layout(stripe_count=2)
        lustre_client.Lfs(self.execute).create_file('/mnt/f', layout)
        self.execute.assert_called_once_with(
            'lfs', 'setstripe', '-c', '2', '--', '/mnt/f', run_as_root=False)

    @ddt.data(('1048576', units.Mi), ('64K', 64 * units.Ki),
              ('4m', 4 * units.Mi), ('1G', units.Gi), ('2T', 2 * units.Ti),
              (' 8M ', 8 * units.Mi))
    @ddt.unpack
    def test_parse_size(self, text, size):
        self.assertEqual(size, lustre_client.parse_size(text))

    @ddt.data('', 'M', '1.5M', '-1', '1P', '1MB')
    def test_parse_size_invalid(self, text):
        self.assertRaises(ValueError, lustre_client.parse_size, text)

    @ddt.data(('1', 1), ('16', 16), ('-1', -1))
    @ddt.unpack
    def test_parse_stripe_count(self, text, count):
        self.assertEqual(count, lustre_client.parse_stripe_count(text))

    @ddt.data('0', '-2', 'all', '', '1.5')
    def test_parse_stripe_count_invalid(self, text):
        self.assertRaises(ValueError, lustre_client.parse_stripe_count, text)

    @ddt.data('0', '100K', '65537', '4G', '8G')
    def test_parse_stripe_size_invalid(self, text):
        self.assertRaises(ValueError, lustre_client.parse_stripe_size, text)

    @ddt.data(('64K', 65536), ('4M', 4 * units.Mi),
              ('4194240K', 4194240 * units.Ki))
    @ddt.unpack
    def test_parse_stripe_size(self, text, size):
        self.assertEqual(size, lustre_client.parse_stripe_size(text))

    @ddt.data('', 'a' * 16, 'bad pool', 'p;q')
    def test_parse_pool_name_invalid(self, text):
        self.assertRaises(ValueError, lustre_client.parse_pool_name, text)

    def test_parse_pfl(self):
        self.assertEqual(
            (lustre_client.LayoutComponent(64 * units.Mi, 1),
             lustre_client.LayoutComponent(units.Gi, 4, units.Mi),
             lustre_client.LayoutComponent(None, -1)),
            lustre_client.parse_pfl('64M:1,1G:4:1M,-1:-1'))

    @ddt.data('1G:1',                 # last does not end at -1
              '-1:1,-1:2',            # -1 before the last
              '1G:1,512M:2,-1:1',     # ends do not grow
              '100K:1,-1:1',          # not a multiple of 64K
              '1G,-1:1',              # no count
              '1G:1:1M:x,-1:1',       # too many fields
              '1G:0,-1:1',            # bad count
              '1G:1:100K,-1:1')       # bad stripe size
    def test_parse_pfl_invalid(self, text):
        self.assertRaises(ValueError, lustre_client.parse_pfl, text)

    @ddt.data(
        ({}, [], False),
        ({'provisioning:type': 'thin', 'capabilities:x': 'y'}, [], False),
        ({'lustre:stripe_count': '4'}, ['-c', '4'], True),
        ({'lustre:stripe_size': '1M'}, ['-S', '1024K'], True),
        ({'lustre:ost_pool': 'ssd'}, ['-p', 'ssd'], True),
        ({'lustre:stripe_count': ' 2 ', 'lustre:stripe_size': '64K',
          'lustre:ost_pool': 'a'}, ['-c', '2', '-S', '64K', '-p', 'a'], True),
        ({'lustre:layout': '1M:1:64K,-1:-1'},
         ['-E', '1024K', '-c', '1', '-S', '64K', '-E', '-1', '-c', '-1'],
         True),
    )
    @ddt.unpack
    def test_layout_from_extra_specs(self, specs, args, truth):
        layout = lustre_client.Layout.from_extra_specs(specs)
        self.assertEqual(args, layout.setstripe_args())
        self.assertEqual(truth, bool(layout))

    @ddt.data({'lustre:stripe_count': 'x'},
              {'lustre:unknown': '1'},
              {'lustre:layout': '-1:1', 'lustre:stripe_size': '1M'})
    def test_layout_from_extra_specs_invalid(self, specs):
        exc = self.assertRaises(exception.InvalidVolumeType,
                                lustre_client.Layout.from_extra_specs, specs)
        self.assertIn('lustre:', str(exc))


@ddt.ddt
class LustreParsersTestCase(test.TestCase):
    """The parsers and commands of lfs quota, project, getstripe -d."""

    def test_parse_quota_free(self):
        quota = lustre_client.parse_lfs_quota(QUOTA_FREE % {'id': 5}, 5)
        self.assertEqual(lustre_client.ProjectQuota(5, 0, 0, 0, 0, 0, 0,
                                                    False), quota)
        self.assertFalse(quota.in_use)

    def test_parse_quota_long_mount_point_exceeded(self):
        quota = lustre_client.parse_lfs_quota(QUOTA_LONG_OVER, 16777300)
        self.assertEqual((1100000, 0, 1053696, 2), (
            quota.kbytes, quota.block_soft, quota.block_hard, quota.files))
        self.assertTrue(quota.exceeded)
        self.assertTrue(quota.in_use)

    def test_parse_quota_216_brackets(self):
        quota = lustre_client.parse_lfs_quota(QUOTA_216, 7)
        self.assertEqual((12, 2048, 1), (quota.kbytes, quota.block_hard,
                                         quota.files))
        self.assertFalse(quota.exceeded)

    @ddt.data('', 'lfs: quotactl failed\n', QUOTA_FREE % {'id': 6},
              'Disk quotas for prj 5 (pid 5):\nno table\n',
              'Disk quotas for prj 5 (pid 5):\n'
              'Filesystem kbytes quota limit grace files quota limit grace\n'
              '/mnt 1 2\n')
    def test_parse_quota_invalid(self, output):
        self.assertRaises(lustre_client.LustreException,
                          lustre_client.parse_lfs_quota, output, 5)

    @ddt.data(
        # 2.15 pads the values
        ('stripe_count:  1 stripe_size:   1048576 pattern:       raid0 '
         'stripe_offset: -1\n', (1, 1048576, None)),
        # 2.16+ single spaces, with a pool
        ('stripe_count: -1 stripe_size: 4194304 pattern: raid0 '
         'stripe_offset: -1 pool: ssd\n', (-1, 4194304, 'ssd')),
        ('stripe_count:  2 stripe_size:   65536 pattern:       0 '
         'stripe_offset: 3 pool:          hdd', (2, 65536, 'hdd')),
    )
    @ddt.unpack
    def test_parse_stripe_defaults(self, output, expected):
        defaults = lustre_client.parse_stripe_defaults(output)
        self.assertEqual(expected, (defaults.stripe_count,
                                    defaults.stripe_size, defaults.pool))

    @ddt.data('', 'lcm_layout_gen:    0\nlcm_entry_count:   2\n')
    def test_parse_stripe_defaults_none(self, output):
        self.assertIsNone(lustre_client.parse_stripe_defaults(output))

    def test_lfs_commands(self):
        execute = mock.Mock(return_value=(QUOTA_FREE % {'id': 9}, ''))
        lfs = lustre_client.Lfs(execute)
        lfs.set_project(['/m/a', '/m/a.info'], 9)
        lfs.setquota('/m', 9, 2048)
        self.assertFalse(lfs.quota('/m', 9).in_use)
        lfs.migrate('/m/a', lustre_client.Layout(stripe_count=2),
                    run_as_root=True)
        execute.return_value = ('stripe_count: 4 stripe_size: 1048576', '')
        self.assertEqual(4, lfs.stripe_defaults('/m').stripe_count)
        self.assertEqual([
            mock.call('lfs', 'project', '-p', '9', '--', '/m/a', '/m/a.info',
                      run_as_root=True),
            mock.call('lfs', 'setquota', '-p', '9', '-B', '2048K', '/m',
                      run_as_root=True),
            mock.call('lfs', 'quota', '-p', '9', '/m', run_as_root=True),
            mock.call('lfs', 'migrate', '-c', '2', '--', '/m/a',
                      run_as_root=True),
            mock.call('lfs', 'getstripe', '-d', '/m')],
            execute.call_args_list)
