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

"""Lustre's own strengths on the emulator: layouts, OST pools, capacity."""

import os

from base import FunctionalTestCase
from base import MiB
from base import run

from cinder import exception
from cinder.tests.unit import utils as test_utils


def getstripe(*args):
    return run('lfs', 'getstripe', *args).strip()


class LayoutTestCase(FunctionalTestCase):

    def setUp(self):
        super().setUp()
        self.driver = self.make_driver()

    def test_striped_volume_snapshot_and_clone(self):
        striped = self.make_volume_type(
            'striped', **{'provisioning:type': 'thin',
                          'lustre:stripe_count': '2',
                          'lustre:stripe_size': '4M'})
        volume = self.make_volume(self.driver, striped)
        path = self.driver.local_path(volume)
        self.assertEqual('2', getstripe('-c', path))
        self.assertEqual(str(4 * MiB), getstripe('-S', path))
        snapshot = self.make_snapshot(self.driver, volume)
        self.assertEqual('2', getstripe('-c',
                                        self.active_path(self.driver,
                                                         volume)))
        clone = test_utils.create_volume(
            self.ctxt, host=self.pool_host(), size=1,
            volume_type_id=striped.id, status='creating')
        clone.update(self.driver.create_volume_from_snapshot(clone,
                                                             snapshot))
        self.assertEqual('2', getstripe('-c', self.driver.local_path(clone)))

    def test_progressive_layout(self):
        pfl = self.make_volume_type(
            'pfl', **{'provisioning:type': 'thick',
                      'lustre:layout': '64M:1,-1:-1'})
        volume = self.make_volume(self.driver, pfl)
        layout = getstripe(self.driver.local_path(volume))
        self.assertIn('lcm_entry_count:   2', layout)
        self.assertIn('lcme_extent.e_end:   67108864', layout)

    def test_bad_spec_refused_and_nothing_left(self):
        bad = self.make_volume_type('bad', **{'lustre:stripe_size': '100K'})
        volume = test_utils.create_volume(
            self.ctxt, host=self.pool_host(), size=1,
            volume_type_id=bad.id, status='creating')
        self.assertRaises(exception.InvalidVolumeType,
                          self.driver.create_volume, volume)
        self.assertEqual([], self.share_files(self.driver))


class OstPoolTestCase(FunctionalTestCase):

    OST_POOLS = ('ssd:0,1', 'hdd:2,3')

    def setUp(self):
        super().setUp()
        self.driver = self.make_driver(
            lustre_ost_pools=['%s.ssd' % self.fsname,
                              '%s.hdd' % self.fsname])

    def test_pools_capacity_and_placement(self):
        self.driver._update_volume_stats()
        pools = {pool['pool_name']: pool
                 for pool in self.driver.get_volume_stats()['pools']}
        share_pool = '%s/cinder' % self.fsname
        self.assertEqual({share_pool + '.ssd', share_pool + '.hdd'},
                         set(pools))
        report = run('lfs', 'df',
                     self.driver._get_mount_point_for_share(self.share))
        [summary] = [line.split() for line in report.splitlines()
                     if line.startswith('filesystem_summary:')]
        total_gb = int(summary[1]) / (1024 * 1024)
        self.assertAlmostEqual(
            total_gb, sum(p['total_capacity_gb'] for p in pools.values()),
            delta=0.02)
        self.assertEqual('ssd', pools[share_pool + '.ssd']['lustre_ost_pool'])

        thick = self.make_volume_type('thick',
                                      **{'provisioning:type': 'thick'})
        volume = test_utils.create_volume(
            self.ctxt, host='node1@lustre#%s.hdd' % share_pool, size=1,
            volume_type_id=thick.id, status='creating')
        volume.update(self.driver.create_volume(volume))
        path = self.driver.local_path(volume)
        self.assertEqual('hdd', getstripe('-p', path))
        self.assertTrue(os.path.exists(path))
