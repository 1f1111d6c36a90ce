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

"""Unit tests for the Cinder pools, capacity and layouts of Lustre shares."""

import errno
import os
from unittest import mock

import ddt
from oslo_concurrency import processutils as putils
from oslo_utils import units

from cinder.common import constants
from cinder.db import api as db_api
from cinder import exception
from cinder import objects
from cinder.tests.unit import test
from cinder.tests.unit import utils as test_utils
from cinder.tests.unit.volume.drivers import test_lustre
from cinder.tests.unit.volume.drivers import test_lustre_client as lfs_out
from cinder.volume.drivers import lustre_client
from cinder.volume.drivers import lustre_pools

SHARE = test_lustre.SHARE
SHARE2 = test_lustre.SHARE2
POOL = test_lustre.POOL
POOL2 = test_lustre.POOL2
HOST = test_lustre.HOST
LFS_DF = test_lustre.LFS_DF
GETSTRIPE_D = test_lustre.GETSTRIPE_D
DF = test_lustre.DF
_lfs_df = test_lustre._lfs_df


@ddt.ddt
class LustrePoolsTestCase(test.TestCase):
    """Cinder pools and layouts from the configuration and volume types."""

    @staticmethod
    def _shares(*addresses):
        return [lustre_client.LustreShare.parse(a) for a in addresses]

    def test_make_pools_without_ost_pools(self):
        self.assertEqual(
            {POOL: lustre_pools.LustrePool(POOL, SHARE),
             POOL2: lustre_pools.LustrePool(POOL2, SHARE2)},
            lustre_pools.make_pools(self._shares(SHARE, SHARE2), []))
        self.assertEqual({}, lustre_pools.make_pools([], []))

    def test_make_pools(self):
        pools = lustre_pools.make_pools(
            self._shares(SHARE, SHARE2),
            ['testfs.ssd', 'lfs2.flash', 'testfs.hdd_2'])
        self.assertEqual(
            [lustre_pools.LustrePool('testfs.ssd', SHARE, 'ssd'),
             lustre_pools.LustrePool('testfs.hdd_2', SHARE, 'hdd_2'),
             lustre_pools.LustrePool('lfs2/cinder.flash', SHARE2, 'flash')],
            list(pools.values()))
        self.assertEqual(list(pools), [p.name for p in pools.values()])

    def test_make_pools_several_shares_on_one_fs(self):
        shares = self._shares('10.0.0.1@tcp:/testfs/a',
                              '10.0.0.1@tcp:/testfs/b',
                              '10.0.0.2@tcp:/other')
        pools = lustre_pools.make_pools(shares, ['testfs.ssd', 'testfs.hdd'])
        self.assertEqual(
            {'testfs/a.ssd': lustre_pools.LustrePool(
                'testfs/a.ssd', '10.0.0.1@tcp:/testfs/a', 'ssd'),
             'testfs/a.hdd': lustre_pools.LustrePool(
                 'testfs/a.hdd', '10.0.0.1@tcp:/testfs/a', 'hdd'),
             'testfs/b.ssd': lustre_pools.LustrePool(
                 'testfs/b.ssd', '10.0.0.1@tcp:/testfs/b', 'ssd'),
             'testfs/b.hdd': lustre_pools.LustrePool(
                 'testfs/b.hdd', '10.0.0.1@tcp:/testfs/b', 'hdd'),
             'other': lustre_pools.LustrePool(
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
                                lustre_pools.make_pools,
                                self._shares(SHARE), ['testfs.ok', entry])
        self.assertIn('lustre_ost_pools', str(exc))

    def test_unused_ost_pools(self):
        self.assertEqual(
            ['other.a', 'zfs.b'],
            lustre_pools.unused_ost_pools(
                self._shares(SHARE), ['zfs.b', 'testfs.ssd', 'other.a']))
        self.assertEqual([], lustre_pools.unused_ost_pools(
            self._shares(SHARE), ['testfs.ssd']))

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
        layout = lustre_pools.layout_from_specs(specs)
        self.assertEqual(args, layout.setstripe_args())
        self.assertEqual(truth, bool(layout))

    @ddt.data({'lustre:stripe_count': 'x'},
              {'lustre:unknown': '1'},
              {'lustre:layout': '-1:1', 'lustre:stripe_size': '1M'})
    def test_layout_from_extra_specs_invalid(self, specs):
        exc = self.assertRaises(exception.InvalidVolumeType,
                                lustre_pools.layout_from_specs, specs)
        self.assertIn('lustre:', str(exc))


@ddt.ddt
class LustreSpecsTestCase(test.TestCase):
    """lustre: extra specs refused where lfs would refuse them."""

    @ddt.data('2000', '-1')
    def test_stripe_count_limit(self, text):
        self.assertEqual(int(text), lustre_client.parse_stripe_count(text))

    @ddt.data('2001', '65535')
    def test_stripe_count_over_limit(self, text):
        # LOV_MAX_STRIPE_COUNT is 2000 (lustre_user.h, v2_12_9 to v2_17_0).
        exc = self.assertRaises(ValueError, lustre_client.parse_stripe_count,
                                text)
        self.assertIn('2000', str(exc))

    @ddt.data('1M:1:4M,-1:1',         # end not a multiple of its size
              '6M:1:4M,-1:1',
              '512K:1,-1:1',          # nor of 1M without one (2.12 servers)
              '1M:1,3M:2:2M,-1:1',
              '1G:2001,-1:1',         # count over 2000
              '1G:1,-1:2001')
    def test_layout_refused(self, text):
        # liblustreapi_layout.c llapi_layout_sanity_cb() (v2_14_0 to
        # v2_17_0, LSE_ALIGN_END) and lod_lov.c lod_verify_striping()
        # (v2_12_9, against the default stripe size) refuse such ends.
        self.assertRaises(exception.InvalidVolumeType,
                          lustre_pools.layout_from_specs,
                          {'lustre:layout': text})

    @ddt.data(('4M:1:4M,-1:1', 2), ('512K:1:64K,-1:1', 2),
              ('1M:1,-1:2000', 2), ('64M:1,1G:4:4M,-1:-1', 3))
    @ddt.unpack
    def test_layout_accepted(self, text, count):
        layout = lustre_pools.layout_from_specs(
            {'lustre:layout': text})
        self.assertEqual(count, len(layout.components))

    def test_spec_properties_cover_the_specs(self):
        self.assertEqual(list(lustre_pools._LAYOUT_SPECS),
                         [key for key, *_rest in
                          lustre_pools.SPEC_PROPERTIES])
        count = lustre_pools.SPEC_PROPERTIES[0]
        self.assertEqual(('integer', {'minimum': -1, 'maximum': 2000}),
                         count[3:])


class BackendCapacityTestCase(test.TestCase):
    """A back end's totals count each OST of a file system once."""

    @staticmethod
    def _share(address):
        return lustre_client.LustreShare.parse(address)

    def test_subdirectory_shares_of_one_file_system(self):
        df = lustre_client.parse_lfs_df(lfs_out.DF_2_17)
        reports = [(self._share('10.0.2.15@tcp:/lustre/a'), df),
                   (self._share('10.0.2.15@tcp0:/lustre/b'), df)]
        self.assertEqual((5462016 * units.Ki, 5386240 * units.Ki),
                         lustre_pools.backend_capacity(reports))

    def test_overlapping_ost_pools(self):
        share = self._share('10.0.2.15@tcp:/lustre')
        everything = lustre_client.parse_lfs_df(lfs_out.DF_2_17)
        fast = lustre_client.parse_lfs_df(lfs_out.DF_2_17_POOL)
        empty = lustre_client.parse_lfs_df(lfs_out.DF_2_17_NO_POOL)
        self.assertEqual(
            (5462016 * units.Ki, 5386240 * units.Ki),
            lustre_pools.backend_capacity(
                [(share, fast), (share, everything), (share, empty)]))

    def test_file_systems_of_one_name_counted_apart(self):
        df = lustre_client.parse_lfs_df(lfs_out.DF_2_17)
        reports = [(self._share('10.0.2.15@tcp:/lustre'), df),
                   (self._share('10.0.3.15@tcp:/lustre'), df),
                   (self._share('10.0.2.15@tcp:/other'), df)]
        self.assertEqual((3 * 5462016 * units.Ki, 3 * 5386240 * units.Ki),
                         lustre_pools.backend_capacity(reports))

    def test_failover_nids_join(self):
        df = lustre_client.parse_lfs_df(lfs_out.DF_2_17)
        reports = [(self._share('10.0.2.15@tcp:10.0.2.16@tcp:/lustre/a'), df),
                   (self._share('10.0.2.16@tcp:/lustre/b'), df)]
        self.assertEqual((5462016 * units.Ki, 5386240 * units.Ki),
                         lustre_pools.backend_capacity(reports))

    def test_reports_without_ost_rows(self):
        # df(1) figures (no lfs): each stands for its whole file system.
        small = lustre_client.LfsDf(10, 6)
        large = lustre_client.LfsDf(20, 16)
        reports = [(self._share('10.0.2.15@tcp:/lustre/a'), small),
                   (self._share('10.0.2.15@tcp:/lustre/b'), large),
                   (self._share('10.0.9.9@o2ib:/scratch'), small)]
        self.assertEqual((30, 22), lustre_pools.backend_capacity(reports))
        self.assertEqual((0, 0), lustre_pools.backend_capacity([]))


@ddt.ddt
class LustrePoolsDriverTestCase(test_lustre.LustreTestBase):
    """Capacity, stats and share selection of the driver's pools."""

    def test_get_available_capacity_with_lfs_df(self):
        self._execute.side_effect = lambda *cmd, **kw: (LFS_DF, '')
        available, total = self.driver._get_available_capacity(SHARE)
        self.assertEqual(70 * units.Gi, available)
        self.assertEqual(100 * units.Gi, total)
        self._execute.assert_called_once_with('lfs', 'df', '--lazy',
                                              self.mnt)

    def test_get_available_capacity_missing_ost_warned(self):
        report = LFS_DF.replace('testfs-OST0001_UUID', 'testfs-OST0002_UUID')
        self._execute.side_effect = lambda *cmd, **kw: (report, '')
        mock_warn = self.mock_object(lustre_pools.LOG, 'warning')

        available, total = self.driver._get_available_capacity(SHARE)

        self.assertEqual((70 * units.Gi, 100 * units.Gi), (available, total))
        mock_warn.assert_called_once_with(mock.ANY, {
            'share': SHARE, 'osts': 'testfs-OST0001'})

    def test_get_available_capacity_ost_pool_gaps_not_warned(self):
        report = _lfs_df(10, 4).replace('OST0000_UUID', 'OST0005_UUID')
        self._execute.side_effect = lambda *cmd, **kw: (report, '')
        mock_warn = self.mock_object(lustre_pools.LOG, 'warning')

        self.driver._get_available_capacity(SHARE, 'ssd')

        mock_warn.assert_not_called()

    def test_get_available_capacity_with_df(self):
        def execute(*cmd, **kwargs):
            if cmd[0] == 'lfs':
                raise FileNotFoundError(errno.ENOENT, 'lfs')
            return DF, ''
        self._execute.side_effect = execute
        self.assertEqual((75161927680, 107374182400),
                         self.driver._get_available_capacity(SHARE))
        self._execute.assert_called_with('df', '--portability',
                                         '--block-size', '1', self.mnt,
                                         run_as_root=True)
        self.assertFalse(self.driver._lfs_available)
        # lfs is not tried again once it is known to be missing.
        self._execute.reset_mock()
        self.driver._get_available_capacity(SHARE2)
        self.assertEqual([], self._commands('lfs'))
        self.assertEqual(1, len(self._commands('df')))

    def test_get_available_capacity_lfs_error_raised(self):
        self._execute.side_effect = putils.ProcessExecutionError(
            stderr='lfs: cannot get fs')
        self.assertRaises(putils.ProcessExecutionError,
                          self.driver._get_available_capacity, SHARE)
        self.assertTrue(self.driver._lfs_available)

    def test_get_provisioned_capacity(self):
        # Sizes are summed by the database, per pool: the volumes of other
        # pools, of other backends and deleted volumes do not count.
        for size, host in ((3, HOST + '#' + POOL), (4, HOST + '#' + POOL),
                           (5, HOST + '#' + POOL2),
                           (7, HOST + '#' + POOL + '.ssd'),
                           (11, 'other@lustre#' + POOL)):
            test_utils.create_volume(self.context, size=size, host=host)
        deleted = self._provision(13)
        deleted.destroy()
        mock_listdir = self.mock_object(os, 'listdir')
        mock_walk = self.mock_object(os, 'walk')
        self.assertEqual(7.0, self.driver._get_provisioned_capacity(POOL))
        self.assertEqual(5.0, self.driver._get_provisioned_capacity(POOL2))
        self.assertEqual(7.0,
                         self.driver._get_provisioned_capacity(POOL + '.ssd'))
        self.assertEqual(0.0,
                         self.driver._get_provisioned_capacity('nopool'))
        # Without a pool: the whole backend.
        self.assertEqual(19.0, self.driver._get_provisioned_capacity())
        # No walk over the files of the share.
        self._execute.assert_not_called()
        mock_listdir.assert_not_called()
        mock_walk.assert_not_called()

    def test_get_provisioned_capacity_counts_snapshots(self):
        # A snapshot counts its volume's size, as quotas and LVM count it:
        # its overlay can grow to that size. Snapshots of volumes of other
        # pools or backends, and deleted ones, do not count.
        volume = self._provision(3)
        other_pool = self._provision(5, POOL2)
        other_backend = self._provision(7, host='other@lustre')
        for snapshot_of in (volume, volume, other_pool, other_backend):
            test_utils.create_snapshot(self.context, snapshot_of.id)
        test_utils.create_snapshot(self.context, volume.id).destroy()
        self.assertEqual(3.0 + 2 * 3,
                         self.driver._get_provisioned_capacity(POOL))
        self.assertEqual(5.0 + 5,
                         self.driver._get_provisioned_capacity(POOL2))

    def test_get_provisioned_capacity_cluster(self):
        # In a cluster every service counts the volumes and snapshots of
        # every host that is or was in it, and no other host's.
        self.driver.cluster_name = 'cluster@lustre'
        for host, cluster, deleted in (
                (HOST, 'cluster@lustre', False),
                ('node2@lustre', 'cluster@lustre', False),
                ('node3@lustre', 'cluster@lustre', True),    # taken out
                ('node4@lustre', 'other@lustre', False),
                ('node5@other', 'cluster@other', False)):
            service = objects.Service(self.context, host=host,
                                      cluster_name=cluster,
                                      binary='cinder-volume',
                                      topic='cinder-volume')
            service.create()
            if deleted:
                service.destroy()
        for size, host in ((1, HOST), (2, 'node2@lustre'),
                           (4, 'node3@lustre'), (8, 'node4@lustre'),
                           (16, 'node5@other')):
            volume = self._provision(size, POOL2, host=host,
                                     cluster_name='cluster@lustre#' + POOL2)
            test_utils.create_snapshot(self.context, volume.id)
        mock_summary = self.mock_object(objects.VolumeList,
                                        'get_volume_summary')
        mock_get_all = self.mock_object(objects.VolumeList, 'get_all')
        self.assertEqual(2 * (1 + 2 + 4),
                         self.driver._get_provisioned_capacity(POOL2))
        # Sums in the database: no volume is loaded as an object, and no
        # query reads the metadata of every volume.
        mock_get_all.assert_not_called()
        mock_summary.assert_not_called()

    def _expected_pool(self, name, total, free, provisioned, ratio,
                       reserved):
        return {'pool_name': name, 'total_capacity_gb': total,
                'free_capacity_gb': free,
                'provisioned_capacity_gb': provisioned,
                'reserved_percentage': reserved,
                'max_over_subscription_ratio': ratio,
                'thin_provisioning_support': True,
                'thick_provisioning_support': True,
                'multiattach': True,
                'online_extend_support': True,
                'sparse_copy_volume': True,
                'QoS_support': False,
                'lustre_fsname': name.split('/')[0].split('.')[0],
                'lustre_ost_pool': None,
                'lustre_project_quotas': False,
                'lustre_stripe_count': 1,
                'lustre_stripe_size': 1048576,
                'lustre_layout': None}

    def _check_stats(self, ratio, reserved, provisioned, backend_name):
        self.mock_object(self.driver._mounter, 'ensure_mounted')
        self._execute.side_effect = lambda *cmd, **kw: (
            GETSTRIPE_D if 'getstripe' in cmd else LFS_DF, '')
        self._provision(int(provisioned), POOL)
        self._provision(int(provisioned), POOL2)
        stats = self.driver.get_volume_stats(refresh=True)
        self.assertEqual({
            'volume_backend_name': backend_name,
            'vendor_name': 'Open Source',
            'driver_version': '1.0.0',
            'storage_protocol': constants.LUSTRE,
            'total_capacity_gb': 200.0,
            'free_capacity_gb': 140.0,
            'sparse_copy_volume': True,
            'clone_across_pools': True,
            'pools': [self._expected_pool(POOL, 100.0, 70.0, provisioned,
                                          ratio, reserved),
                      self._expected_pool(POOL2, 100.0, 70.0, provisioned,
                                          ratio, reserved)],
        }, stats)
        self.assertEqual('lustre', stats['storage_protocol'])
        self.assertEqual([mock.call('lfs', 'getstripe', '-d', self.mnt),
                          mock.call('lfs', 'df', '--lazy', self.mnt),
                          mock.call('lfs', 'getstripe', '-d', self.mnt2),
                          mock.call('lfs', 'df', '--lazy', self.mnt2)],
                         self._execute.call_args_list)

    def test_update_volume_stats_thin(self):
        # qcow2 volumes: the database says 250G are provisioned on 100G,
        # with an over-subscription ratio that allows it.
        self.override_config('lustre_sparsed_volumes', True)
        self.override_config('lustre_qcow2_volumes', True)
        self.override_config('max_over_subscription_ratio', 3.0)
        self.driver = self._make_driver()
        self._check_stats(3.0, 0, 250.0, 'Lustre')

    def test_update_volume_stats_thick(self):
        self.override_config('lustre_sparsed_volumes', False)
        self.override_config('reserved_percentage', 10)
        self.override_config('volume_backend_name', 'lustre-1')
        self.driver = self._make_driver()
        self._check_stats(1.0, 10, 30.0, 'lustre-1')

    def test_update_volume_stats_df_fallback(self):
        self.mock_object(self.driver._mounter, 'ensure_mounted')

        def execute(*cmd, **kwargs):
            if cmd[0] == 'lfs':
                raise OSError(errno.ENOENT, 'No such file or directory')
            return DF, ''
        self._execute.side_effect = execute
        stats = self.driver.get_volume_stats(refresh=True)
        self.assertEqual([100.0, 100.0], [p['total_capacity_gb']
                                          for p in stats['pools']])
        self.assertEqual([70.0, 70.0], [p['free_capacity_gb']
                                        for p in stats['pools']])
        # The failed getstripe leaves the defaults unknown; the first
        # failed lfs df turns lfs off for the rest.
        self.assertEqual([None, None], [p['lustre_stripe_count']
                                        for p in stats['pools']])
        self.assertEqual(2, len(self._commands('lfs')))

    def test_update_volume_stats_no_shares(self):
        self.mock_object(self.driver._mounter, 'ensure_mounted',
                         side_effect=lustre_client.LustreException(msg='x'))
        stats = self.driver.get_volume_stats(refresh=True)
        self.assertEqual([], stats['pools'])
        self.assertEqual(0, stats['total_capacity_gb'])

    @ddt.data(putils.ProcessExecutionError(exit_code=110, stderr='lfs df: '
                                           'Connection timed out'),
              putils.ProcessExecutionError(exit_code=5, stdout='UUID\n'),
              lustre_client.LustreException(msg='no summary'))
    def test_update_volume_stats_one_share_failing(self, error):
        # One share whose lfs df fails leaves its pool out; the others,
        # the totals and the service start-up (init_capabilities) go on.
        def execute(*cmd, **kwargs):
            if cmd[:2] == ('lfs', 'df') and cmd[-1] == self.mnt2:
                raise error
        mock_warn = self.mock_object(lustre_pools.LOG, 'warning')
        stats = self._stats_with(execute)
        self.assertEqual([POOL], [p['pool_name'] for p in stats['pools']])
        self.assertEqual((100.0, 70.0), (stats['total_capacity_gb'],
                                         stats['free_capacity_gb']))
        self.assertIn(POOL2, str(mock_warn.call_args_list[-1]))
        self.driver.init_capabilities()
        self.assertEqual([POOL], [p['pool_name'] for p in
                                  self.driver.capabilities['pools']])

    def test_update_volume_stats_failed_ost_takes_summary(self):
        # lfs df exits with an OST's errno after a valid summary without
        # it (v2_12_9 lfs.c mntdf): the summary counts.
        def execute(*cmd, **kwargs):
            if cmd[:2] == ('lfs', 'df'):
                raise putils.ProcessExecutionError(
                    exit_code=5, stdout=lfs_out.DF_2_12_FAILED)
        mock_warn = self.mock_object(lustre_pools.LOG, 'warning')
        stats = self._stats_with(execute)
        self.assertEqual([50.0, 50.0], [p['total_capacity_gb']
                                        for p in stats['pools']])
        self.assertIn('testfs-OST0001_UUID: Input/output error',
                      mock_warn.call_args.args[1]['osts'])

    def test_update_volume_stats_subdirectory_shares(self):
        # Two shares of one file system report its capacity each; the
        # back end has it once.
        self._write_shares('10.0.0.1@tcp:/testfs/a\n'
                           '10.0.0.1@tcp:/testfs/b\n')
        self.driver = self._make_driver()
        self.driver._mounted_shares = list(self.driver.shares)
        stats = self._stats_with(lambda *cmd, **kwargs: None)
        self.assertEqual([(100.0, 70.0)] * 2,
                         [(p['total_capacity_gb'], p['free_capacity_gb'])
                          for p in stats['pools']])
        self.assertEqual((100.0, 70.0), (stats['total_capacity_gb'],
                                         stats['free_capacity_gb']))

    def test_update_volume_stats_overlapping_ost_pools(self):
        self._ost_pool_driver(['testfs.ssd', 'testfs.all'])
        outputs = {'testfs.ssd': _lfs_df(20, 10, (0,)),
                   'testfs.all': _lfs_df(60, 30, (0, 1, 2))}

        def execute(*cmd, **kwargs):
            if '--pool' in cmd:
                return outputs[cmd[cmd.index('--pool') + 1]], ''
        stats = self._stats_with(execute)
        self.assertEqual([20.0, 60.0, 100.0], [p['total_capacity_gb']
                                               for p in stats['pools']])
        # OST0 is in both OST pools: 60G of testfs, 100G of lfs2.
        self.assertEqual(160.0, stats['total_capacity_gb'])

    @ddt.data((lfs_out.GETSTRIPE_2_15_PFL, None, None,
               '1G:1:1M,10G:8:1M,100G:16:1M,-1:32:1M'),
              (lfs_out.GETSTRIPE_2_17_PFL, None, None, '64M:1:1M,-1:2:4M'),
              (lfs_out.GETSTRIPE_2_17_DOM, None, None, '1M:mdt,-1:1:1M'),
              (lfs_out.GETSTRIPE_2_17_PLAIN, 2, 1048576, None))
    @ddt.unpack
    def test_update_volume_stats_default_layout(self, getstripe, count,
                                                size, layout):
        # A PFL default (an FSx 2.15 root) is not its first component:
        # files there grow to 32 stripes, not 1.
        def execute(*cmd, **kwargs):
            if cmd[:2] == ('lfs', 'getstripe'):
                return getstripe, ''
        stats = self._stats_with(execute)
        self.assertEqual([(count, size)] * 2,
                         [(p['lustre_stripe_count'], p['lustre_stripe_size'])
                          for p in stats['pools']])
        self.assertEqual([layout] * 2, [p.get('lustre_layout')
                                        for p in stats['pools']])

    def test_update_volume_stats_missing_ost_pool(self):
        # lfs df --pool of a pool that does not exist prints zeros and
        # exits 0 (real 2.17.0): a typo is an error, not an empty pool.
        self._ost_pool_driver(['testfs.ssd', 'testfs.sdd'])
        mock_error = self.mock_object(lustre_pools.LOG, 'error')

        def execute(*cmd, **kwargs):
            if '--pool' in cmd:
                return lfs_out.DF_2_17_NO_POOL, ''
        stats = self._stats_with(execute)
        self.assertEqual([POOL + '.ssd', POOL2],
                         [p['pool_name'] for p in stats['pools']])
        self.assertIn('sdd', mock_error.call_args.args[1]['pools'])
        self.assertNotIn(mock.call('lfs', 'df', '--lazy', '--pool',
                                   'testfs.sdd', self.mnt),
                         self._execute.call_args_list)

    def test_update_volume_stats_pool_list_failing(self):
        self._ost_pool_driver()

        def execute(*cmd, **kwargs):
            if cmd[:2] == ('lfs', 'pool_list'):
                raise putils.ProcessExecutionError(exit_code=2)
        mock_warn = self.mock_object(lustre_pools.LOG, 'warning')
        stats = self._stats_with(execute)
        self.assertEqual([POOL2], [p['pool_name'] for p in stats['pools']])
        self.assertIn(SHARE, str(mock_warn.call_args))

    def test_init_vendor_properties(self):
        properties, prefix = self.driver._init_vendor_properties()
        self.assertEqual('lustre', prefix)
        self.assertEqual(['lustre:stripe_count', 'lustre:stripe_size',
                          'lustre:ost_pool', 'lustre:layout'],
                         list(properties))
        self.assertEqual({'title': 'Stripe count', 'type': 'integer',
                          'minimum': -1, 'maximum': 2000,
                          'description': mock.ANY},
                         properties['lustre:stripe_count'])
        self.mock_object(self.driver, 'get_volume_stats', return_value={})
        self.driver.init_capabilities()
        self.assertEqual('lustre', self.driver.capabilities['vendor_prefix'])
        self.assertEqual('string', self.driver.capabilities['properties'][
            'lustre:layout']['type'])

    def _creating(self, size, host=HOST + '#' + POOL, **kwargs):
        """A volume as the scheduler hands it over: in the database."""
        kwargs.setdefault('volume_type_id', self.vt['id'])
        volume = test_utils.create_volume(self.context, size=size, host=host,
                                          status='creating', **kwargs)
        volume.provider_location = None
        return volume

    def test_find_share(self):
        # SHARE is nearly full (beyond the reserved space), SHARE2 has
        # room: SHARE2 is chosen even though less is provisioned on SHARE.
        # What is provisioned comes from the database.
        self.override_config('reserved_percentage', 10)
        self.driver = self._make_driver()

        def available(share, ost_pool=None):
            if share == SHARE:
                return 1 * units.Gi, 100 * units.Gi
            return 50 * units.Gi, 100 * units.Gi
        self.mock_object(self.driver, '_get_available_capacity',
                         side_effect=available)
        self._provision(10, POOL)
        self._provision(50, POOL2)
        volume = self._creating(5, host=HOST)
        self.assertEqual(SHARE2, self.driver._find_share(volume))

    def test_find_share_least_provisioned(self):
        self.mock_object(self.driver, '_get_available_capacity',
                         return_value=(50 * units.Gi, 100 * units.Gi))
        self._provision(40, POOL)
        self._provision(20, POOL2)
        volume = self._creating(5, host=HOST)
        self.assertEqual(SHARE2, self.driver._find_share(volume))
        # Snapshots count as provisioned too.
        test_utils.create_snapshot(self.context, self._provision(15, POOL2).id)
        self.assertEqual(SHARE, self.driver._find_share(volume))

    def test_find_share_volume_not_counted_twice(self):
        # The volume being created is in the database already, in the
        # scheduler's pool: it fills an empty 8G pool with 6G, it does not
        # need 12G.
        self._capacity(8, 8)
        volume = self._creating(6)
        self.assertEqual(SHARE, self.driver._find_share(volume))
        # Another volume's 3G do count: then 6G more do not fit.
        self._provision(3)
        self.assertRaises(lustre_client.LustreNoSuitableShareFound,
                          self.driver._find_share, volume)

    def test_find_share_counts_snapshots(self):
        # 10G at ratio 1.0: a 3G volume and its two snapshots provision
        # 9G, so a 2G volume does not fit.
        self._capacity(10, 10)
        source = self._provision(3)
        for _index in range(2):
            test_utils.create_snapshot(self.context, source.id)
        refused = self._creating(2)
        self.assertRaises(lustre_client.LustreNoSuitableShareFound,
                          self.driver._find_share, refused)
        refused.destroy()
        self.assertEqual(SHARE, self.driver._find_share(self._creating(1)))

    @ddt.data(
        # available, provisioned (GiB) of a 100G pool at ratio 10, size,
        # thin fits, thick fits
        (10, 0, 20, True, False),       # thick needs real free space
        (50, 990, 20, False, True),     # over-subscription is for thin
        (50, 0, 50, True, True),
        (50, 0, 51, True, False),
    )
    @ddt.unpack
    def test_find_share_thick_needs_free_space(self, available, provisioned,
                                               size, thin_fits, thick_fits):
        self.override_config('max_over_subscription_ratio', 10.0)
        self.driver = self._make_driver()
        self._capacity(available, 100)
        self._provision(provisioned)
        for prov, fits in (('thin', thin_fits), ('thick', thick_fits)):
            volume_type = test_utils.create_volume_type(
                self.context, name=prov,
                extra_specs={'provisioning:type': prov})
            volume = self._creating(size, volume_type_id=volume_type.id)
            if fits:
                self.assertEqual(SHARE, self.driver._find_share(volume))
            else:
                self.assertRaises(lustre_client.LustreNoSuitableShareFound,
                                  self.driver._find_share, volume)

    def test_find_share_thick_keeps_reserved_space(self):
        self.override_config('reserved_percentage', 10)
        self.driver = self._make_driver()
        self._capacity(30, 100)
        thick = test_utils.create_volume_type(
            self.context, name='thick',
            extra_specs={'provisioning:type': 'thick'})
        self.assertEqual(SHARE, self.driver._find_share(
            self._creating(20, volume_type_id=thick.id)))
        self.assertRaises(lustre_client.LustreNoSuitableShareFound,
                          self.driver._find_share,
                          self._creating(21, volume_type_id=thick.id))

    def test_find_share_queries(self):
        # Per create: one sum of the pool's volumes and one of its
        # snapshots, whatever the number of volumes.
        self._capacity(50, 100)
        for _index in range(3):
            self._provision(1)
        queries = self._count_queries()
        self.assertEqual(SHARE, self.driver._find_share(self._creating(1)))
        self.assertEqual({'volume_data_get_for_host': 1,
                          'get_snapshot_summary': 1, 'get_volume_summary': 0,
                          'service_get_all': 0, 'volume_get_all': 0},
                         self._counts(queries))

    def test_find_share_queries_cluster(self):
        # In a cluster of two hosts: the hosts, then one sum of volumes and
        # one of snapshots per host. Never the summary query, which also
        # reads the metadata of every volume of the deployment.
        self.driver.cluster_name = 'cluster@lustre'
        for host in (HOST, 'node2@lustre'):
            objects.Service(self.context, host=host,
                            cluster_name='cluster@lustre',
                            binary='cinder-volume',
                            topic='cinder-volume').create()
            self._provision(1, host=host, metadata={'key': host})
        self._capacity(50, 100)
        queries = self._count_queries()
        self.assertEqual(SHARE, self.driver._find_share(self._creating(1)))
        self.assertEqual({'volume_data_get_for_host': 2,
                          'get_snapshot_summary': 2, 'get_volume_summary': 0,
                          'service_get_all': 1, 'volume_get_all': 0},
                         self._counts(queries))

    @ddt.data((POOL, SHARE), (POOL2, SHARE2))
    @ddt.unpack
    def test_find_share_pool_from_host(self, pool, share):
        self._capacity(50, 100)
        volume = self._creating(5, host=HOST + '#' + pool)
        self.assertEqual(share, self.driver._find_share(volume))

    def test_find_share_pool_not_mounted(self):
        # A pool whose share is not mounted (any more): the driver chooses.
        self._capacity(50, 100, share=SHARE2)
        volume = self._creating(5, host=HOST + '#unknown')
        self.assertEqual(SHARE2, self.driver._find_share(volume))

    def test_find_share_pool_not_eligible(self):
        # The scheduler's pool is full: no silent move to another pool.
        self._capacity(50, 100, share=SHARE2)
        volume = self._creating(5, host=HOST + '#' + POOL)
        self.assertRaises(lustre_client.LustreNoSuitableShareFound,
                          self.driver._find_share, volume)

    def test_find_share_should_throw_error_if_there_is_no_enough_place(self):
        self._capacity(2, 100, provisioned_gb=99)
        volume = self._creating(5, host=HOST)
        exc = self.assertRaises(lustre_client.LustreNoSuitableShareFound,
                                self.driver._find_share, volume)
        self.assertIn('5G', str(exc))

    def test_find_share_no_shares_mounted(self):
        self.driver._mounted_shares = []
        self.assertRaises(lustre_client.LustreNoSharesMounted,
                          self.driver._find_share, self._volume())

    @ddt.data(
        # total, available, provisioned (GiB), ratio, reserved %, size,
        # eligible
        (100, 50, 0, 1.0, 0, 10, True),
        (100, 50, 90, 1.0, 0, 10, True),      # exactly fits
        (100, 50, 91, 1.0, 0, 10, False),     # over-provisioned
        (100, 50, 190, 2.0, 0, 10, True),     # over-subscription allows
        (100, 50, 191, 2.0, 0, 10, False),
        (100, 50, 0, 1.0, 50, 1, True),       # used 50% <= 50% allowed
        (100, 49, 0, 1.0, 50, 1, False),      # used 51% > 50% allowed
        (100, 9, 0, 10.0, 10, 1, False),      # used 91% > 90% allowed
        (100, 10, 0, 10.0, 10, 1, True),      # used 90%: allowed
        (100, 100, 0, 1.0, 0, 101, False),    # bigger than the share
        (0, 0, 0, 1.0, 0, 1, False),          # no capacity reported
    )
    @ddt.unpack
    def test_is_pool_eligible(self, total, available, provisioned, ratio,
                              reserved, size, eligible):
        self.override_config('max_over_subscription_ratio', ratio)
        self.override_config('reserved_percentage', reserved)
        self.driver = self._make_driver()
        self._capacity(available, total, provisioned)
        self.assertEqual(eligible,
                         self.driver._is_pool_eligible(POOL, size))

    @ddt.data((HOST + '#' + POOL, SHARE2, POOL),
              (HOST + '#' + POOL2, SHARE, POOL2),
              # No pool in the host, an unknown pool or no host at all:
              # the (first) pool of the volume's share.
              (HOST, SHARE2, POOL2),
              (HOST + '#unknown', SHARE, POOL),
              (None, SHARE2, POOL2))
    @ddt.unpack
    def test_pool_of_volume(self, host, share, expected):
        volume = self._volume(host=host, provider_location=share)
        self.assertEqual(self.driver._pools[expected],
                         self.driver._pool_of_volume(volume))

    def test_pool_of_volume_unknown_share(self):
        volume = self._volume(host=HOST, provider_location='10.9.9.9@tcp:/x')
        self.assertIsNone(self.driver._pool_of_volume(volume))

    # -- OST pools as Cinder pools --------------------------------------

    def _pool_capacity(self, figures):
        """Capacity by OST pool (None: the whole share), in GiB."""
        def available(share, ost_pool=None):
            free, total = figures[ost_pool]
            return free * units.Gi, total * units.Gi
        return self.mock_object(self.driver, '_get_available_capacity',
                                side_effect=available)

    def test_load_shares_config_ost_pools(self):
        self._ost_pool_driver()
        self.assertEqual(
            {POOL + '.ssd': lustre_pools.LustrePool(POOL + '.ssd', SHARE,
                                                    'ssd'),
             POOL + '.hdd': lustre_pools.LustrePool(POOL + '.hdd', SHARE,
                                                    'hdd'),
             POOL2: lustre_pools.LustrePool(POOL2, SHARE2)},
            self.driver._pools)
        # A share on a file system with OST pools reports only those.
        self.assertNotIn(POOL, self.driver._pools)

    @ddt.data((['testfs.ssd', 'zfs.b', 'other.a'], 'other.a, zfs.b'),
              (['testfs.ssd'], None))
    @ddt.unpack
    def test_do_setup_warns_unused_ost_pools_once(self, ost_pools, unused):
        self._ost_pool_driver(ost_pools)
        self.mock_object(self.driver._mounter, 'ensure_mounted')
        mock_warn = self.mock_object(lustre_pools.LOG, 'warning')

        self.driver.do_setup(self.context)
        self.driver._load_shares_config()  # as every stats refresh does

        warned = [c for c in mock_warn.call_args_list
                  if 'lustre_ost_pools' in c.args[0]]
        self.assertEqual([mock.call(mock.ANY, unused)] if unused else [],
                         warned)

    @ddt.data(['testfs'], ['testfs.'], ['.ssd'], ['testfs.bad pool'],
              ['testfs.ssd', 'ninechars.ssd'], ['testfs.a.b'])
    def test_load_shares_config_ost_pools_invalid(self, ost_pools):
        self.override_config('lustre_ost_pools', ost_pools)
        exc = self.assertRaises(exception.InvalidConfigurationValue,
                                self._make_driver)
        self.assertIn('lustre_ost_pools', str(exc))

    def test_get_available_capacity_ost_pool(self):
        self._ost_pool_driver()
        self._execute.side_effect = lambda *cmd, **kw: (
            _lfs_df(40, 25), '')
        self.assertEqual((25 * units.Gi, 40 * units.Gi),
                         self.driver._get_available_capacity(SHARE, 'ssd'))
        self._execute.assert_called_once_with(
            'lfs', 'df', '--lazy', '--pool', 'testfs.ssd', self.mnt)

    def test_get_available_capacity_ost_pool_without_lfs(self):
        self._ost_pool_driver()

        def execute(*cmd, **kwargs):
            if cmd[0] == 'lfs':
                raise FileNotFoundError(errno.ENOENT, 'lfs')
            return DF, ''
        self._execute.side_effect = execute
        exc = self.assertRaises(lustre_client.LustreException,
                                self.driver._get_available_capacity,
                                SHARE, 'ssd')
        self.assertIn('ssd', str(exc))
        self.assertIn('lfs', str(exc))
        self.assertFalse(self.driver._lfs_available)
        # df cannot tell the capacity of an OST pool: it is not used.
        self.assertEqual([], self._commands('df'))
        # Once lfs is known to be missing, it is not tried again.
        self._execute.reset_mock()
        self.assertRaises(lustre_client.LustreException,
                          self.driver._get_available_capacity, SHARE, 'hdd')
        self._execute.assert_not_called()
        # A share without OST pools still falls back to df.
        self.assertEqual((75161927680, 107374182400),
                         self.driver._get_available_capacity(SHARE2))

    def test_update_volume_stats_ost_pools(self):
        self._ost_pool_driver()
        self.mock_object(self.driver._mounter, 'ensure_mounted')
        outputs = {'testfs.ssd': _lfs_df(10, 4, (0, 1)),
                   'testfs.hdd': _lfs_df(90, 66, (2, 3))}

        def execute(*cmd, **kwargs):
            if '--pool' in cmd:
                return outputs[cmd[cmd.index('--pool') + 1]], ''
            if cmd[1] == 'df':
                return LFS_DF, ''
            return self._execute_side_effect(*cmd, **kwargs)
        self._execute.side_effect = execute
        for size, pool in ((3, POOL + '.ssd'), (20, POOL + '.hdd'),
                           (7, POOL2)):
            self._provision(size, pool)
        stats = self.driver.get_volume_stats(refresh=True)
        # One lfs df per Cinder pool, --pool for the OST pools, and one
        # lfs getstripe -d per share; the pools of a share with OST pools
        # are checked with one lfs pool_list.
        self.assertEqual(
            [mock.call('lfs', 'getstripe', '-d', self.mnt),
             mock.call('lfs', 'pool_list', self.mnt),
             mock.call('lfs', 'df', '--lazy', '--pool', 'testfs.ssd',
                       self.mnt),
             mock.call('lfs', 'df', '--lazy', '--pool', 'testfs.hdd',
                       self.mnt),
             mock.call('lfs', 'getstripe', '-d', self.mnt2),
             mock.call('lfs', 'df', '--lazy', self.mnt2)],
            self._execute.call_args_list)
        pools = {pool['pool_name']: pool for pool in stats['pools']}
        self.assertEqual([POOL + '.ssd', POOL + '.hdd', POOL2],
                         [pool['pool_name'] for pool in stats['pools']])
        self.assertEqual(
            {POOL + '.ssd': (10.0, 4.0, 3.0, 'testfs', 'ssd'),
             POOL + '.hdd': (90.0, 66.0, 20.0, 'testfs', 'hdd'),
             POOL2: (100.0, 70.0, 7.0, 'lfs2', None)},
            {name: (pool['total_capacity_gb'], pool['free_capacity_gb'],
                    pool['provisioned_capacity_gb'], pool['lustre_fsname'],
                    pool['lustre_ost_pool'])
             for name, pool in pools.items()})
        self.assertEqual(200.0, stats['total_capacity_gb'])
        self.assertEqual(140.0, stats['free_capacity_gb'])

    def test_update_volume_stats_ost_pools_unmounted_share(self):
        self._ost_pool_driver()
        self.mock_object(self.driver, '_ensure_shares_mounted')
        self.driver._mounted_shares = [SHARE2]
        self._execute.side_effect = lambda *cmd, **kw: (LFS_DF, '')
        stats = self.driver.get_volume_stats(refresh=True)
        self.assertEqual([POOL2], [p['pool_name'] for p in stats['pools']])
        self.assertEqual([mock.call('lfs', 'getstripe', '-d', self.mnt2),
                          mock.call('lfs', 'df', '--lazy', self.mnt2)],
                         self._execute.call_args_list)

    @ddt.data(('ssd', POOL + '.ssd'), ('hdd', POOL + '.hdd'))
    @ddt.unpack
    def test_find_share_ost_pool_from_host(self, ost_pool, pool):
        self._ost_pool_driver()
        mock_capacity = self._pool_capacity({'ssd': (50, 100),
                                             'hdd': (50, 100),
                                             None: (50, 100)})
        volume = self._creating(5, host=HOST + '#' + pool)
        self.assertEqual(SHARE, self.driver._find_share(volume))
        # Only the scheduler's pool was checked.
        mock_capacity.assert_called_once_with(SHARE, ost_pool)

    def test_find_share_ost_pool_full(self):
        # The scheduler's OST pool is full: no move to the other OST pool
        # of the same share.
        self._ost_pool_driver()
        self._pool_capacity({'ssd': (2, 2), 'hdd': (100, 100),
                             None: (100, 100)})
        volume = self._creating(5, host=HOST + '#' + POOL + '.ssd')
        self.assertRaises(lustre_client.LustreNoSuitableShareFound,
                          self.driver._find_share, volume)

    def test_find_share_ost_pools_least_provisioned(self):
        self._ost_pool_driver()
        self._pool_capacity({'ssd': (100, 100), 'hdd': (100, 100),
                             None: (100, 100)})
        for size, pool in ((30, POOL + '.ssd'), (10, POOL + '.hdd'),
                           (20, POOL2)):
            self._provision(size, pool)
        volume = self._creating(5, host=HOST)
        self.assertEqual(SHARE, self.driver._find_share(volume))
        self._provision(30, POOL + '.hdd')
        self.assertEqual(SHARE2, self.driver._find_share(volume))

    def test_pool_of_volume_ost_pool(self):
        self._ost_pool_driver()
        volume = self._volume(host=HOST + '#' + POOL + '.hdd')
        self.assertEqual(lustre_pools.LustrePool(POOL + '.hdd', SHARE,
                                                 'hdd'),
                         self.driver._pool_of_volume(volume))
        # A volume from before the OST pools were listed is in the pool
        # named after its share, which is gone: the share's first pool.
        volume = self._volume(host=HOST + '#' + POOL)
        self.assertEqual(lustre_pools.LustrePool(POOL + '.ssd', SHARE,
                                                 'ssd'),
                         self.driver._pool_of_volume(volume))

    @ddt.data(
        # host pool, type specs, setstripe options
        (POOL + '.ssd', None, ['-p', 'ssd']),
        (POOL + '.hdd', {'provisioning:type': 'thin'}, ['-p', 'hdd']),
        (POOL + '.ssd', {'lustre:stripe_count': '4'},
         ['-c', '4', '-p', 'ssd']),
        (POOL + '.ssd', {'lustre:ost_pool': 'ssd'}, ['-p', 'ssd']),
        (POOL + '.ssd', {'lustre:layout': '64M:1,-1:4'},
         ['-E', '65536K', '-c', '1', '-p', 'ssd',
          '-E', '-1', '-c', '4', '-p', 'ssd']),
        # A share without OST pools: the type's pool, if any.
        (POOL2, {'lustre:ost_pool': 'flash'}, ['-p', 'flash']),
    )
    @ddt.unpack
    def test_create_volume_in_ost_pool(self, pool, specs, args):
        self._ost_pool_driver()
        share = SHARE2 if pool == POOL2 else SHARE
        volume = self._volume(extra_specs=specs, provider_location=None,
                              host=HOST + '#' + pool)
        self.mock_object(self.driver, '_ensure_shares_mounted')
        self.mock_object(self.driver, '_find_share', return_value=share)
        self.driver.create_volume(volume)
        path = self._path(volume.name,
                          self.mnt2 if pool == POOL2 else self.mnt)
        # The pool is checked before lfs setstripe, which may not.
        self.assertEqual(
            [mock.call('lfs', 'pool_list', os.path.dirname(path)),
             mock.call('lfs', 'setstripe', *args, '--', path,
                       run_as_root=True)],
            self._execute.call_args_list[:2])
        self.assertEqual('qemu-img', self._execute.call_args_list[2].args[0])

    def test_layout_of_ost_pool_from_host(self):
        self._ost_pool_driver()
        volume = self._volume(extra_specs={'lustre:stripe_size': '1M'},
                              host=HOST + '#' + POOL + '.hdd')
        self.assertEqual(lustre_client.Layout(stripe_size=units.Mi,
                                              pool='hdd'),
                         self.driver._layout(volume))
        # Without a host (a legacy volume), the type's layout alone.
        volume = self._volume(extra_specs={'lustre:stripe_size': '1M'},
                              host=None)
        self.assertEqual(lustre_client.Layout(stripe_size=units.Mi),
                         self.driver._layout(volume))

    def test_create_volume_type_pool_contradicts_host_refused(self):
        self._ost_pool_driver()
        volume = self._volume(extra_specs={'lustre:ost_pool': 'ssd'},
                              provider_location=None,
                              host=HOST + '#' + POOL + '.hdd')
        self.mock_object(self.driver, '_ensure_shares_mounted')
        self.mock_object(self.driver, '_find_share', return_value=SHARE)
        exc = self.assertRaises(exception.InvalidVolumeType,
                                self.driver.create_volume, volume)
        self.assertIn('lustre:ost_pool=ssd', str(exc))
        self.assertIn(POOL + '.hdd', str(exc))
        # Nothing was created, nothing recorded.
        self._execute.assert_not_called()
        self.assertEqual([], os.listdir(self.mnt))
        objects.Volume.save.assert_not_called()

    def test_create_snapshot_in_ost_pool(self):
        self._ost_pool_driver()
        volume = self._volume(host=HOST + '#' + POOL + '.ssd')
        self._chain_files(volume, guest_data=False)
        snapshot = self._snapshot(volume)
        self.driver.create_snapshot(snapshot)
        new = self._path('%s.%s' % (volume.name, snapshot.id))
        self.assertEqual(mock.call('lfs', 'setstripe', '-p', 'ssd', '--',
                                   new, run_as_root=True),
                         self._setstripes()[0])
        self.assertEqual(volume.name,
                         self._info_of(new, 'qcow2')['backing-filename'])

    @ddt.data(('ssd', (5, 5), False), ('ssd', (50, 100), True),
              ('hdd', (5, 5), False), ('hdd', (50, 100), True))
    @ddt.unpack
    def test_extend_volume_eligibility_per_pool(self, ost_pool, figures,
                                                extended):
        # Only the capacity of the volume's own OST pool decides: the
        # other OST pool of the share has room when this one has none,
        # and none when this one has room.
        self._ost_pool_driver()
        other = {'ssd': 'hdd', 'hdd': 'ssd'}[ost_pool]
        mock_capacity = self._pool_capacity(
            {ost_pool: figures, other: (5, 5) if extended else (50, 100),
             None: (50, 100)})
        self._provision(1, POOL + '.' + ost_pool)
        volume = self._volume(size=1,
                              host=HOST + '#' + POOL + '.' + ost_pool)
        self._chain_files(volume, guest_data=False)
        queries = self.mock_object(db_api, 'volume_data_get_for_host',
                                   wraps=db_api.volume_data_get_for_host)
        if extended:
            self.driver.extend_volume(volume, 10)
        else:
            self.assertRaises(exception.ExtendVolumeError,
                              self.driver.extend_volume, volume, 10)
        self.assertEqual((10 if extended else 1) * units.Gi,
                         os.path.getsize(self._path(volume.name)))
        mock_capacity.assert_called_once_with(SHARE, ost_pool)
        queries.assert_called_once_with(
            mock.ANY, HOST + '#' + POOL + '.' + ost_pool)

    def test_extend_volume_share_without_pool(self):
        # A volume on a share that is no longer configured has no pool.
        volume = self._volume(volume_format='raw', host=HOST,
                              provider_location='10.9.9.9@tcp:/gone')
        exc = self.assertRaises(exception.ExtendVolumeError,
                                self.driver.extend_volume, volume, 2)
        self.assertIn('10.9.9.9@tcp:/gone', str(exc))
        self._execute.assert_not_called()
