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

"""The whole volume lifecycle on an emulated Lustre, data checked by hash.

Each step writes known data into volumes through their active image, as
an attached guest would, and checks what a guest would read back.
"""

import os
import threading
import uuid

from base import file_digest
from base import FunctionalTestCase
from base import GiB
from base import guest_digest
from base import guest_write
from base import image_info
from base import ImageService
from base import MiB
from base import run

from cinder import context
from cinder import coordination
from cinder import exception
from cinder import objects
from cinder.tests.unit import utils as test_utils


class VolumeLifecycleTestCase(FunctionalTestCase):

    def setUp(self):
        super().setUp()
        self.driver = self.make_driver()
        self.thin = self.make_volume_type('thin',
                                          **{'provisioning:type': 'thin'})
        self.thick = self.make_volume_type('thick',
                                           **{'provisioning:type': 'thick'})

    def _snapshot_chain(self, volume_type):
        """Volume with two snapshots; the guest view after each write."""
        volume = self.make_volume(self.driver, volume_type)
        self.write(self.driver, volume, 0, 0xa1)
        self.write(self.driver, volume, 512 * MiB, 0xa2)
        views = [self.digest(self.driver, volume)]
        snaps = []
        for byte in (0xb1, 0xc1):
            snaps.append(self.make_snapshot(self.driver, volume))
            self.assertEqual(views[-1], self.digest(self.driver, volume))
            self.write(self.driver, volume, 8 * MiB, byte)
            views.append(self.digest(self.driver, volume))
        self.assertEqual(3, len(set(views)))
        return volume, snaps, views

    def _from_snapshot(self, snapshot, volume_type):
        volume = test_utils.create_volume(
            self.ctxt, host=self.pool_host(), size=snapshot.volume_size,
            volume_type_id=volume_type.id, status='creating')
        volume.update(self.driver.create_volume_from_snapshot(volume,
                                                              snapshot))
        volume.status = 'available'
        volume.save()
        return objects.Volume.get_by_id(self.ctxt, volume.id)

    def test_thin_volume_is_qcow2(self):
        volume = self.make_volume(self.driver, self.thin)
        info = image_info(self.driver.local_path(volume))
        self.assertEqual('qcow2', info.file_format)
        self.assertEqual(GiB, info.virtual_size)
        self.assertEqual('qcow2', self.volume_format(volume))

    def test_thick_volume_is_preallocated_raw(self):
        volume = self.make_volume(self.driver, self.thick, size=2)
        path = self.driver.local_path(volume)
        self.assertEqual(2 * GiB, os.path.getsize(path))
        self.assertGreaterEqual(os.stat(path).st_blocks * 512, 2 * GiB)
        self.assertEqual('raw', self.volume_format(volume))

    def test_snapshots_clone_and_volume_from_snapshot(self):
        for volume_type in (self.thin, self.thick):
            volume, snaps, views = self._snapshot_chain(volume_type)
            for snapshot, view in zip(snaps, views):
                copy = self._from_snapshot(snapshot, volume_type)
                self.assertEqual(view, self.digest(self.driver, copy))
                self._assert_thick_allocated(copy, volume_type)
            clone = test_utils.create_volume(
                self.ctxt, host=self.pool_host(), size=1,
                volume_type_id=volume_type.id, status='creating')
            volume = objects.Volume.get_by_id(self.ctxt, volume.id)
            clone.update(self.driver.create_cloned_volume(clone, volume))
            clone.save()
            self.assertEqual(views[-1], self.digest(self.driver, clone))
            self._assert_thick_allocated(clone, volume_type)
            # The source is unchanged, snapshots and all.
            self.assertEqual(views[-1], self.digest(self.driver, volume))

    def _assert_thick_allocated(self, volume, volume_type):
        """A thick copy has no holes, whatever the copy left."""
        if volume_type is self.thick:
            path = self.driver.local_path(volume)
            self.assertGreaterEqual(os.stat(path).st_blocks * 512,
                                    volume.size * GiB)

    def test_delete_snapshot_in_the_middle_keeps_data(self):
        volume, snaps, views = self._snapshot_chain(self.thin)
        self.driver.delete_snapshot(snaps[0])
        self.assertEqual(views[-1], self.digest(self.driver, volume))
        later = self._from_snapshot(snaps[1], self.thin)
        self.assertEqual(views[1], self.digest(self.driver, later))
        self.driver.delete_snapshot(snaps[1])
        self.assertEqual(views[-1], self.digest(self.driver, volume))
        self.assertEqual(self.driver.local_path(volume),
                         self.active_path(self.driver, volume))

    def test_revert_to_snapshot(self):
        volume, snaps, views = self._snapshot_chain(self.thin)
        self.driver.revert_to_snapshot(self.ctxt, volume, snaps[1])
        self.assertEqual(views[1], self.digest(self.driver, volume))

    def test_extend(self):
        for volume_type in (self.thin, self.thick):
            volume, _snaps, views = self._snapshot_chain(volume_type)
            before = self._first_gib_digest(volume)
            self.driver.extend_volume(volume, 2)
            volume.size = 2
            volume.save()
            info = image_info(self.active_path(self.driver, volume))
            self.assertEqual(2 * GiB, info.virtual_size)
            self.assertEqual(before, self._first_gib_digest(volume))
            base_info = image_info(self.driver.local_path(volume))
            self.assertEqual(GiB, base_info.virtual_size)

    def _first_gib_digest(self, volume):
        raw = os.path.join(self.tmp, 'first-gib')
        run('qemu-img', 'convert', '-O', 'raw',
            self.active_path(self.driver, volume), raw)
        os.truncate(raw, GiB)
        digest = file_digest(raw)
        os.unlink(raw)
        return digest

    def test_attach_info_and_exploit_check(self):
        volume = self.make_volume(self.driver, self.thin)
        conn = self.driver.initialize_connection(volume, {})
        self.assertEqual('lustre', conn['driver_volume_type'])
        self.assertEqual('qcow2', conn['data']['format'])
        self.assertEqual(volume.name, conn['data']['name'])
        # A guest (or anyone) grows the qcow2 behind Cinder's back.
        run('qemu-img', 'resize', self.driver.local_path(volume), '2G')
        self.assertRaises(exception.InvalidVolume,
                          self.driver.initialize_connection, volume, {})

    def test_delete_everything_leaves_nothing(self):
        volume, snaps, _views = self._snapshot_chain(self.thin)
        copy = self._from_snapshot(snaps[0], self.thick)
        self.assertGreater(len(self.share_files(self.driver)), 3)
        for snapshot in reversed(snaps):
            self.driver.delete_snapshot(snapshot)
        for vol in (volume, copy):
            self.driver.delete_volume(vol)
        self.assertEqual([], self.share_files(self.driver))

    def test_manage_existing_and_unmanage(self):
        mount_point = self.driver._get_mount_point_for_share(self.share)
        legacy = os.path.join(mount_point, 'legacy.img')
        run('qemu-img', 'create', '-f', 'qcow2', legacy, '1G')
        guest_write(legacy, 'qcow2', 0, 0x5a)
        expected = guest_digest(legacy)
        volume = test_utils.create_volume(
            self.ctxt, host=self.pool_host(), size=1,
            volume_type_id=self.thin.id, status='managing')
        ref = {'source-name': '%s/legacy.img' % self.share}
        self.assertEqual(
            1, self.driver.manage_existing_get_size(volume, ref))
        volume.update(self.driver.manage_existing(volume, ref))
        volume.save()
        self.assertFalse(os.path.exists(legacy))
        self.assertEqual(expected, self.digest(self.driver, volume))
        self.assertEqual('qcow2', self.volume_format(volume))
        self.driver.unmanage(volume)
        self.assertTrue(os.path.exists(self.driver.local_path(volume)))

    def test_manage_existing_refuses_symlink_and_escape(self):
        mount_point = self.driver._get_mount_point_for_share(self.share)
        outside = os.path.join(self.tmp, 'host-file')
        with open(outside, 'w') as f:
            f.write('not a volume')
        os.symlink(outside, os.path.join(mount_point, 'link.img'))
        volume = test_utils.create_volume(
            self.ctxt, host=self.pool_host(), size=1,
            volume_type_id=self.thin.id, status='managing')
        for name in ('link.img', '../../host-file'):
            self.assertRaises(exception.ManageExistingInvalidReference,
                              self.driver.manage_existing, volume,
                              {'source-name': '%s/%s' % (self.share, name)})
        with open(outside) as f:
            self.assertEqual('not a volume', f.read())
        self.assertTrue(os.path.islink(os.path.join(mount_point,
                                                    'link.img')))

    def test_copy_volume_to_image_and_back(self):
        image_service = ImageService()
        for disk_format in ('raw', 'qcow2'):
            volume, _snaps, views = self._snapshot_chain(self.thin)
            image_id = str(uuid.uuid4())
            image_meta = {'id': image_id, 'name': 'from-' + volume.id,
                          'disk_format': disk_format,
                          'container_format': 'bare', 'status': 'queued',
                          'visibility': 'private', 'protected': False,
                          'properties': {}}
            image_service.create(self.ctxt, dict(image_meta))
            self.driver.copy_volume_to_image(self.ctxt, volume,
                                             image_service, image_meta)
            image_file = os.path.join(self.tmp, 'image-' + disk_format)
            with open(image_file, 'wb') as f:
                image_service.download(self.ctxt, image_id, f)
            self.assertEqual(
                disk_format,
                image_info(image_file).file_format)
            self.assertEqual(views[-1], guest_digest(image_file))
            image_service.update(self.ctxt, image_id,
                                 {'status': 'active',
                                  'size': os.path.getsize(image_file)})
            for volume_type in (self.thin, self.thick):
                copy = self.make_volume(self.driver, volume_type)
                self.driver.copy_image_to_volume(self.ctxt, copy,
                                                 image_service, image_id)
                copy = objects.Volume.get_by_id(self.ctxt, copy.id)
                self.assertEqual(views[-1], self.digest(self.driver, copy))
                path = self.driver.local_path(copy)
                info = image_info(path)
                self.assertEqual(self.volume_format(copy), info.file_format)
                if volume_type is self.thick:
                    # Writing the image left holes; a thick volume has none.
                    self.assertGreaterEqual(os.stat(path).st_blocks * 512,
                                            copy.size * GiB)

    def test_stats(self):
        self.make_volume(self.driver, self.thick, size=1)
        self.driver._update_volume_stats()
        stats = self.driver.get_volume_stats()
        self.assertEqual('lustre', stats['storage_protocol'])
        [pool] = stats['pools']
        self.assertEqual('%s/cinder' % self.fsname, pool['pool_name'])
        self.assertGreater(pool['total_capacity_gb'], 0)
        self.assertLess(pool['free_capacity_gb'], pool['total_capacity_gb'])
        self.assertEqual(1.0, pool['provisioned_capacity_gb'])


class ActiveActiveTestCase(FunctionalTestCase):
    """Two drivers of one cluster on the same share, at the same time."""

    def test_two_services_share_one_file_system(self):
        drivers = [self.make_driver(host='node%d@lustre' % i,
                                    cluster_name='cluster@lustre')
                   for i in (1, 2)]
        thin = self.make_volume_type('thin', **{'provisioning:type': 'thin'})
        volumes = [self.make_volume(drivers[i % 2], thin) for i in range(4)]
        errors = []

        def work(driver, volume):
            # A service of its own: its own request context.
            ctxt = context.get_admin_context()
            volume = objects.Volume.get_by_id(ctxt, volume.id)
            try:
                snapshot = self.make_snapshot(driver, volume, ctxt)
                # The volume is detached: nothing writes to it while a
                # service works on its files, so the "guest" takes the
                # volume's lock too.
                with coordination.COORDINATOR.get_lock(
                        'lustre-%s' % volume.id):
                    self.write(driver, volume, 0, 0x42)
                driver.delete_snapshot(snapshot)
            except Exception as exc:  # reported below
                errors.append(exc)

        # Each volume is worked on by both services at once.
        threads = [threading.Thread(target=work, args=(driver, volume))
                   for volume in volumes for driver in drivers]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        self.assertEqual([], errors)
        for volume in volumes:
            self.assertEqual(drivers[0].local_path(volume),
                             self.active_path(drivers[1], volume))
            drivers[1].delete_volume(volume)
        self.assertEqual([], self.share_files(drivers[0]))
