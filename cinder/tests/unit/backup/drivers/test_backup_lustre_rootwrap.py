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

"""The rootwrap filters of the Lustre backup driver, read by oslo.rootwrap."""

from unittest import mock

import ddt

from cinder.backup.drivers import lustre as backup_lustre
from cinder.tests.unit import test
from cinder.tests.unit.volume.drivers import test_lustre_rootwrap as rootwrap
from cinder.volume.drivers import lustre_client

MNT = rootwrap.MNT
BACKUP_DIR = MNT + '/' + backup_lustre.BACKUP_DIRECTORY


@ddt.ddt
class LustreBackupRootwrapFiltersTestCase(test.TestCase):
    """What the Lustre backup driver may run as root, and what it may not."""

    @ddt.data((None, None), (4, None), (None, '4M'), (-1, '1048576'))
    @ddt.unpack
    def test_backup_directory_layout(self, count, size):
        execute = mock.Mock(return_value=('', ''))
        lustre_client.Lfs(execute).setstripe(
            BACKUP_DIR, stripe_count=count, stripe_size=size,
            run_as_root=True)
        commands = [c.args for c in execute.call_args_list
                    if c.kwargs.get('run_as_root')]
        self.assertNotEqual([], commands)
        self.assertEqual([], [cmd for cmd in commands
                              if not rootwrap.allowed(cmd)])

    def test_backup_directory_made(self):
        self.assertTrue(rootwrap.allowed(('mkdir', BACKUP_DIR)))

    @ddt.data(
        ('mkdir', MNT),
        ('mkdir', MNT + '/cinder-backupx'),
        ('mkdir', MNT + '/volume-1/cinder-backup'),
        ('mkdir', '/etc/cinder-backup'),
        ('mkdir', 'relative/' + BACKUP_DIR),
        ('mkdir', MNT + '/../../../../..' + BACKUP_DIR),
        ('mkdir', '/..' + BACKUP_DIR),
        ('mkdir', '-p', BACKUP_DIR),
        ('mkdir', '-m', '777', BACKUP_DIR),
        ('mkdir', BACKUP_DIR, '/etc/x'),
        ('mkdir', '--', BACKUP_DIR),
    )
    def test_dangerous_commands_refused(self, cmd):
        self.assertFalse(rootwrap.allowed(cmd))
