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

"""The two sides of initialize_connection, against each other.

The connection_info the driver really returns (for a share with mount
options of its own in the shares file) is handed to the connector of the
os-brick companion, as cinder-backup and Cinder's host-assisted copies do
on a host that has not mounted the share yet. The mount it runs must
succeed on the emulator with the share's options applied: the emulator
logs every mount.lustre attempt with its options (state/mount.log), and
the kernel shows the VFS ones in /proc/mounts.
"""

import json
import os

from base import FunctionalTestCase
from base import run

from cinder.volume import volume_utils

OPTIONS = 'noatime,user_xattr'


class ConnectionInfoTestCase(FunctionalTestCase):

    def _mount_log(self, mount_point):
        root = os.environ.get('LUSTRE_EMULATOR_ROOT',
                              '/var/lib/lustre-emulator')
        with open(os.path.join(root, 'state', 'mount.log')) as f:
            entries = [json.loads(line) for line in f if line.strip()]
        return [entry for entry in entries
                if entry.get('target') == mount_point]

    @staticmethod
    def _proc_mount_options(mount_point):
        with open('/proc/mounts') as f:
            for line in f:
                fields = line.split()
                if fields[1] == mount_point:
                    return fields[3].split(',')
        return None

    def test_os_brick_mounts_with_the_share_options(self):
        driver = self.make_driver(share_options=OPTIONS)
        volume_type = self.make_volume_type('thin',
                                            **{'provisioning:type': 'thin'})
        volume = self.make_volume(driver, volume_type)
        conn = driver.initialize_connection(volume, {})
        mount_point = driver._get_mount_point_for_share(self.share)
        # The driver mounted the share with its options itself.
        self.assertIn('noatime', self._proc_mount_options(mount_point))
        # Another host (cinder-backup's) has not mounted the share.
        run('umount', mount_point)
        self.assertIsNone(self._proc_mount_options(mount_point))
        attempts = len(self._mount_log(mount_point))

        connector = volume_utils.brick_get_connector(
            conn['driver_volume_type'], conn=conn)
        # The companion's connector, mounting with mount -t lustre.
        self.assertEqual('lustre', connector._remotefsclient._mount_type)
        device = connector.connect_volume(conn['data'])
        self.addCleanup(connector.disconnect_volume, conn['data'], None)

        self.assertEqual(os.path.join(mount_point, volume.name),
                         device['path'])
        [entry] = self._mount_log(mount_point)[attempts:]
        self.assertEqual(0, entry['result'], entry)
        for option in OPTIONS.split(','):
            self.assertIn(option, entry['options'])
        self.assertIn('noatime', self._proc_mount_options(mount_point))
        self.assertTrue(os.path.isfile(device['path']))
