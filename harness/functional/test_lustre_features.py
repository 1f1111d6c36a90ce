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
import subprocess
import uuid

from base import EMULATOR
from base import FunctionalTestCase
from base import MGS
from base import MiB
from base import run

from cinder import exception
from cinder import objects
from cinder.tests.unit import utils as test_utils
from cinder.volume.drivers import lustre_client
from cinder.volume.drivers import lustre_quota
from cinder.volume import volume_types


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

    def test_published_properties_lay_files_out(self):
        # What cinder get-capabilities shows is what a volume type may say.
        self.driver.init_capabilities()
        properties = self.driver.capabilities['properties']
        self.assertEqual(
            {'lustre:stripe_count', 'lustre:stripe_size', 'lustre:ost_pool',
             'lustre:layout'},
            {key for key in properties if key.startswith('lustre:')})
        count = properties['lustre:stripe_count']
        self.assertEqual(('integer', -1), (count['type'], count['minimum']))
        for specs, option, expected in (
                # -1: every OST of the file system (4 here).
                ({'lustre:stripe_count': str(count['minimum'])}, '-c', '4'),
                ({'lustre:stripe_count': '3'}, '-c', '3'),
                ({'lustre:stripe_size': '2M'}, '-S', str(2 * MiB))):
            volume_type = self.make_volume_type(
                'type-%s' % uuid.uuid4().hex[:8],
                **dict(specs, **{'provisioning:type': 'thick'}))
            volume = self.make_volume(self.driver, volume_type)
            self.assertEqual(expected, getstripe(
                option, self.driver.local_path(volume)), specs)

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

    def _volume_in(self, volume_type, ost_pool, **kwargs):
        volume = test_utils.create_volume(
            self.ctxt, host='%s.%s' % (self.pool_host(), ost_pool), size=1,
            volume_type_id=volume_type.id, status='creating', **kwargs)
        volume.update(self.driver.create_volume(volume))
        volume.status = 'available'
        volume.save()
        return objects.Volume.get_by_id(self.ctxt, volume.id)

    def _clone_into(self, ost_pool, source):
        clone = test_utils.create_volume(
            self.ctxt, host='%s.%s' % (self.pool_host(), ost_pool), size=1,
            volume_type_id=source.volume_type_id, status='creating')
        clone.update(self.driver.create_cloned_volume(clone, source))
        return objects.Volume.get_by_id(self.ctxt, clone.id)

    def _ost_pools(self, volume):
        # The images of the volume; its .info (metadata) has no layout.
        return [getstripe('-p', path)
                for path in self.driver._volume_files(volume)
                if not path.endswith('.info')]

    def test_clone_across_pools(self):
        # Reported, the scheduler sends a clone (and the image cache's) to
        # the clone's own pool: a copy with that pool's layout.
        self.driver._update_volume_stats()
        self.assertIs(True,
                      self.driver.get_volume_stats()['clone_across_pools'])
        for provisioning, snapshots in (('thick', 0), ('thin', 1)):
            volume_type = self.make_volume_type(
                provisioning, **{'provisioning:type': provisioning})
            source = self._volume_in(volume_type, 'ssd')
            self.write(self.driver, source, MiB, 0x5a)
            for _index in range(snapshots):
                self.make_snapshot(self.driver, source)
                self.write(self.driver, source, 3 * MiB, 0xa5)
            before = self.digest(self.driver, source)
            clone = self._clone_into('hdd', source)
            self.assertEqual(['hdd'], self._ost_pools(clone))
            self.assertEqual(['ssd'] * (1 + snapshots),
                             self._ost_pools(source))
            self.assertEqual(before, self.digest(self.driver, clone))
            self.assertEqual(before, self.digest(self.driver, source))

    def test_ost_pool_property(self):
        pooled = self.make_volume_type('pooled', **{
            'provisioning:type': 'thick', 'lustre:ost_pool': 'hdd'})
        volume = self._volume_in(pooled, 'hdd')
        self.assertEqual('hdd',
                         getstripe('-p', self.driver.local_path(volume)))


class CloneAcrossFileSystemsTestCase(FunctionalTestCase):
    """A clone into a pool of another share, on another file system."""

    def test_clone_to_another_file_system(self):
        other = self.add_fs()
        os.makedirs(os.path.join(self.emulator.backing_dir(other), 'cinder'))
        other_share = '%s:/%s/cinder' % (MGS, other)
        driver = self.make_driver(extra_shares=[other_share])
        thick = self.make_volume_type('thick',
                                      **{'provisioning:type': 'thick'})
        source = self.make_volume(driver, thick)
        self.write(driver, source, 2 * MiB, 0x3c)
        clone = test_utils.create_volume(
            self.ctxt, host='node1@lustre#%s/cinder' % other, size=1,
            volume_type_id=thick.id, status='creating')
        clone.update(driver.create_cloned_volume(clone, source))
        self.assertEqual(other_share, clone.provider_location)
        self.assertEqual(
            driver._get_mount_point_for_share(other_share),
            os.path.dirname(driver.local_path(clone)))
        self.assertEqual(self.digest(driver, source),
                         self.digest(driver, clone))


class CapacityTestCase(FunctionalTestCase):
    """The driver's own capacity check, on lfs df and the database."""

    def setUp(self):
        super().setUp()
        # 4 OSTs of 2G: an 8G pool, not over-subscribed.
        self.driver = self.make_driver(max_over_subscription_ratio='1.0')
        self.thin = self.make_volume_type('thin',
                                          **{'provisioning:type': 'thin'})

    def test_volume_fills_an_empty_pool(self):
        # The volume is in the database before the driver creates it: it
        # is not counted twice (6G + 6G would not fit in 8G).
        volume = self.make_volume(self.driver, self.thin, size=6)
        self.assertEqual([volume.name], self.share_files(self.driver))

    def test_snapshots_count_as_provisioned(self):
        # A 2G volume and three snapshots provision 8G: no room for 1G.
        volume = self.make_volume(self.driver, self.thin, size=2)
        for _index in range(3):
            self.make_snapshot(self.driver, volume)
        self.driver._update_volume_stats()
        [pool] = self.driver.get_volume_stats()['pools']
        self.assertEqual(8.0, pool['provisioned_capacity_gb'])
        before = self.share_files(self.driver)
        refused = test_utils.create_volume(
            self.ctxt, host=self.pool_host(), size=1,
            volume_type_id=self.thin.id, status='creating')
        self.assertRaises(lustre_client.LustreNoSuitableShareFound,
                          self.driver.create_volume, refused)
        self.assertEqual(before, self.share_files(self.driver))


def quota_check(fsname):
    """The emulator's verdict on the file system's project quotas."""
    return subprocess.run([EMULATOR, 'quota-check', fsname],
                          capture_output=True, text=True)


class ProjectQuotaAndRetypeTestCase(FunctionalTestCase):
    """Per-volume project quotas and retype with lfs migrate."""

    def setUp(self):
        super().setUp()
        self.driver = self.make_driver(lustre_project_quotas=True)
        self.mnt = self.driver._get_mount_point_for_share(self.share)

    def _quota_row(self, project_id):
        report = run('lfs', 'quota', '-p', str(project_id), self.mnt)
        return report.split('grace', 2)[-1].split()

    def test_quota_set_enforced_and_cleared(self):
        thick = self.make_volume_type('thick',
                                      **{'provisioning:type': 'thick'})
        volume = self.make_volume(self.driver, thick)
        self.driver._update_volume_stats()
        self.assertTrue(all(pool['lustre_project_quotas'] for pool in
                            self.driver.get_volume_stats()['pools']))
        project_id = int(volume.admin_metadata['lustre_project_id'])
        path = self.driver.local_path(volume)
        listing = run('lfs', 'project', path).split()
        self.assertEqual(str(project_id), listing[0])
        row = self._quota_row(project_id)
        limit = int(row[3])
        self.assertGreaterEqual(limit, 1024 * 1024)
        self.assertEqual(0, quota_check(self.fsname).returncode)
        # Writing past the volume's size, into a file of its project, is
        # what the kernel would refuse: the emulator reports the excess.
        extra = path + '.grow'
        with open(extra, 'wb') as f:
            f.write(b'\1' * (64 * MiB))
        run('lfs', 'project', '-p', str(project_id), extra)
        self.assertEqual(122, quota_check(self.fsname).returncode)
        self.assertTrue(self._quota_row(project_id)[1].endswith('*'))
        os.unlink(extra)
        self.assertEqual(0, quota_check(self.fsname).returncode)
        self.driver.delete_volume(volume)
        self.assertEqual('0', self._quota_row(project_id)[3])

    def test_snapshot_raises_limit_and_carries_project(self):
        thin = self.make_volume_type('thin', **{'provisioning:type': 'thin'})
        volume = self.make_volume(self.driver, thin)
        project_id = volume.admin_metadata['lustre_project_id']
        before = int(self._quota_row(project_id)[3])
        self.make_snapshot(self.driver, volume)
        self.assertEqual(2 * before, int(self._quota_row(project_id)[3]))
        for path in self.driver._volume_files(volume):
            self.assertEqual(project_id, run('lfs', 'project',
                                             path).split()[0])

    def test_restore_target_keeps_project(self):
        # A qcow2 volume becomes a raw file for a restore: the new file is
        # in the volume's project, under the volume's limit.
        thin = self.make_volume_type('thin', **{'provisioning:type': 'thin'})
        volume = self.make_volume(self.driver, thin)
        self.assertEqual('qcow2', self.volume_format(volume))
        project_id = volume.admin_metadata['lustre_project_id']
        volume.status = 'restoring-backup'
        self.driver.initialize_connection(volume, {})
        self.assertEqual('raw', self.volume_format(volume))
        path = self.driver.local_path(volume)
        self.assertEqual(project_id, run('lfs', 'project', path).split()[0])
        limit = int(self._quota_row(project_id)[3])
        self.assertGreaterEqual(limit, 1024 * 1024)
        self.assertLess(limit, 2 * 1024 * 1024)

    def test_retype_migrates_layout(self):
        one = self.make_volume_type('one', **{'provisioning:type': 'thin',
                                              'lustre:stripe_count': '1'})
        two = self.make_volume_type('two', **{'provisioning:type': 'thin',
                                              'lustre:stripe_count': '2'})
        volume = self.make_volume(self.driver, one)
        self.make_snapshot(self.driver, volume)
        volume = objects.Volume.get_by_id(self.ctxt, volume.id)
        diff, _same = volume_types.volume_types_diff(self.ctxt, one.id,
                                                     two.id)
        new_type = objects.VolumeType.get_by_id(self.ctxt, two.id)
        paths = self.driver._volume_images(volume)
        result = self.driver.retype(self.ctxt, volume, new_type, diff,
                                    {'host': volume.host})
        if self.driver._lfs.migrate_keeps_holes:
            self.assertEqual((True, None), result)
            self.assertEqual(['2'] * len(paths),
                             [getstripe('-c', path) for path in paths])
        else:
            # Before 2.15 lfs migrate fills holes: the thin volume's
            # sparse files are left to Cinder's generic migration.
            self.assertEqual((False, None), result)
            self.assertEqual(['1'] * len(paths),
                             [getstripe('-c', path) for path in paths])

    def test_retype_attached_refused(self):
        one = self.make_volume_type('one', **{'lustre:stripe_count': '1'})
        two = self.make_volume_type('two', **{'lustre:stripe_count': '2'})
        volume = self.make_volume(self.driver, one)
        volume.attach_status = 'attached'
        diff, _same = volume_types.volume_types_diff(self.ctxt, one.id,
                                                     two.id)
        new_type = objects.VolumeType.get_by_id(self.ctxt, two.id)
        self.assertRaises(exception.InvalidVolume, self.driver.retype,
                          self.ctxt, volume, new_type, diff,
                          {'host': volume.host})
        self.assertEqual('1', getstripe('-c',
                                        self.driver.local_path(volume)))


class ManilaCoexistenceTestCase(FunctionalTestCase):
    """Project ids on a file system Manila's Lustre driver also uses."""

    def setUp(self):
        super().setUp()
        self.driver = self.make_driver(lustre_project_quotas=True)
        self.thick = self.make_volume_type('thick',
                                           **{'provisioning:type': 'thick'})
        # Manila mounts the whole file system and keeps its shares in a
        # directory of its own, outside Cinder's share.
        self.root = os.path.join(self.mount_base, 'manila-view')
        os.makedirs(self.root)
        run('mount', '-t', 'lustre', '%s:/%s' % (MGS, self.fsname), self.root)
        self.mnt = self.driver._get_mount_point_for_share(self.share)

    def _derived_id(self, volume_id):
        """The id the driver tries first for a volume."""
        low, high = self.driver._quotas.id_range()
        return low + int(volume_id.replace('-', '')[:8], 16) % (
            high - low + 1)

    def _limit(self, project_id):
        report = run('lfs', 'quota', '-p', str(project_id), self.mnt)
        return report.split('grace', 2)[-1].split()[3]

    def test_default_range_is_clear_of_manila(self):
        low, high = self.driver._quotas.id_range()
        self.assertTrue(high < 10000 or low > 60000, (low, high))
        self.assertEqual((lustre_quota.PROJECT_ID_MIN,
                          lustre_quota.PROJECT_ID_MAX), (low, high))

    def test_id_with_files_outside_the_share_is_skipped(self):
        volume_id = str(uuid.uuid4())
        taken = self._derived_id(volume_id)
        share = os.path.join(self.root, 'manila', 'share-1')
        os.makedirs(share)
        run('lfs', 'project', '-p', str(taken), '-s', share)
        data = os.path.join(share, 'data')
        with open(data, 'wb') as f:
            f.write(b'\1' * MiB)
        volume = self.make_volume(self.driver, self.thick, id=volume_id)
        chosen = int(volume.admin_metadata['lustre_project_id'])
        self.assertNotEqual(taken, chosen)
        self.assertEqual(str(chosen), run(
            'lfs', 'project', self.driver.local_path(volume)).split()[0])
        # Manila's files keep their project, and it gets no limit of ours.
        self.assertEqual(str(taken), run('lfs', 'project', data).split()[0])
        self.assertEqual('0', self._limit(taken))

    def test_id_with_a_limit_only_is_skipped_and_kept(self):
        # A share Manila created, its quota set, nothing written yet.
        volume_id = str(uuid.uuid4())
        taken = self._derived_id(volume_id)
        run('lfs', 'setquota', '-p', str(taken), '-B', '10G', self.root)
        volume = self.make_volume(self.driver, self.thick, id=volume_id)
        self.assertNotEqual(
            taken, int(volume.admin_metadata['lustre_project_id']))
        self.driver.delete_volume(volume)
        self.assertEqual(str(10 * 1024 * 1024), self._limit(taken))
