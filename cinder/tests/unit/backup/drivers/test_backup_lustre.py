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
"""Tests for the Lustre backup driver.

The mount is mocked; the backups are real: the POSIX/chunked driver writes
them into a temporary directory that stands for the mounted share.
"""

import errno
import hashlib
import itertools
import json
import mmap
import os
import re
import shutil
import stat
import tempfile
import threading
import time
from unittest import mock

import ddt
from eventlet import patcher
import fixtures
from oslo_concurrency import processutils as putils
from oslo_config import cfg
from oslo_utils import timeutils
from oslo_utils import units
import tenacity

from cinder.backup import chunkeddriver
from cinder.backup.drivers import lustre
from cinder.backup.drivers import posix
from cinder import context
from cinder.db import api as db
from cinder import exception
from cinder import interface
from cinder.interface import backup_driver
from cinder import objects
from cinder.objects import fields
from cinder.tests.unit import fake_constants as fake
from cinder.tests.unit import test
from cinder.tests.unit.volume.drivers import test_lustre_images
from cinder.tests.unit.volume.drivers import test_lustre_rootwrap
from cinder import utils
from cinder.volume.drivers import lustre_client
from cinder.volume import volume_utils

CONF = cfg.CONF

SHARE = '10.0.0.1@tcp:10.0.0.2@tcp:/testfs/backup'
EGID = 1234
OTHER_GID = 4321
MOUNT_POINT_BASE = '/fake/backup_mount'
# Data objects of a backup, as named by the chunked driver.
OBJECT_RE = re.compile(r'-[0-9]{5}$')
_REAL_MOUNTER = lustre_client.LustreMounter


class LustreBackupDriverTestBase(test.TestCase):
    """Mocks the mount and the commands; the share is a temporary dir."""

    def setUp(self):
        super().setUp()
        self.ctxt = context.get_admin_context()
        # Named as LustreMounter names mount points: the rootwrap filters
        # allow commands under such a name only.
        self.mount_point = os.path.join(
            self.useFixture(fixtures.TempDir()).path, '0123456789abcdef' * 2)
        os.mkdir(self.mount_point)
        self.backup_dir = os.path.join(self.mount_point, 'cinder-backup')
        self.override_config('backup_lustre_share', SHARE)
        self.override_config('backup_lustre_mount_point_base',
                             MOUNT_POINT_BASE)
        self.mock_execute = self.mock_object(utils, 'execute')
        self.mock_mounter_cls = self.mock_object(lustre_client,
                                                 'LustreMounter')
        self.mounter = self.mock_mounter_cls.return_value
        self.mounter.ensure_mounted.return_value = self.mount_point
        self.mock_log = self.mock_object(lustre, 'LOG')
        # Layouts set by one test must not hide the lfs call of the next.
        self.mock_object(lustre.LustreBackupDriver, '_layouts_applied',
                         set())
        self.addCleanup(self._check_root_commands)

    def _check_root_commands(self):
        """Every command run as root is one the rootwrap filters allow."""
        self.assertEqual([], [
            c.args for c in self.mock_execute.call_args_list
            if c.kwargs.get('run_as_root') and
            not test_lustre_rootwrap.allowed(c.args)])

    def _commands(self):
        return [c.args for c in self.mock_execute.call_args_list]


@ddt.ddt
class LustreBackupDriverSetupTestCase(LustreBackupDriverTestBase):
    """Options, mount, permissions and layout: everything but the data."""

    def test_get_driver_options(self):
        names = [opt.name for opt in
                 lustre.LustreBackupDriver.get_driver_options()]

        self.assertEqual(
            ['backup_lustre_share', 'backup_lustre_mount_point_base',
             'backup_lustre_mount_options', 'backup_lustre_mount_attempts',
             'backup_lustre_stripe_count', 'backup_lustre_stripe_size'] +
            [opt.name for opt in posix.posixbackup_service_opts], names)
        for opt in lustre.lustrebackup_service_opts:
            self.assertGreater(len(opt.help), 20, opt.name)

    def test_option_defaults(self):
        opts = {opt.name: opt for opt in lustre.lustrebackup_service_opts}

        self.assertEqual('$state_path/backup_mount',
                         opts['backup_lustre_mount_point_base'].default)
        self.assertEqual('flock', CONF.backup_lustre_mount_options)
        self.assertEqual(3, CONF.backup_lustre_mount_attempts)
        self.assertIsNone(CONF.backup_lustre_stripe_count)
        self.assertIsNone(CONF.backup_lustre_stripe_size)

    def test_options_in_default_group(self):
        for opt in lustre.lustrebackup_service_opts:
            self.assertIn(opt.name, CONF)

    def test_mount_attempts_minimum(self):
        self.assertRaises(ValueError, self.override_config,
                          'backup_lustre_mount_attempts', 0)

    def test_init_mounts_share(self):
        self.override_config('backup_lustre_mount_attempts', 5)
        self.override_config('backup_lustre_mount_options', 'flock,noatime')

        driver = lustre.LustreBackupDriver(self.ctxt)

        self.mock_mounter_cls.assert_called_once_with(
            utils.get_root_helper(), utils.execute, MOUNT_POINT_BASE,
            'flock,noatime', 5)
        self.mounter.ensure_mounted.assert_called_once_with(SHARE)
        self.assertEqual(self.backup_dir, driver.backup_path)
        driver.check_for_setup_error()

    def test_share_missing(self):
        self.override_config('backup_lustre_share', None)

        driver = lustre.LustreBackupDriver(self.ctxt)

        self.mock_mounter_cls.assert_not_called()
        self.assertNotEqual(self.mount_point, driver.backup_path)
        exc = self.assertRaises(exception.InvalidConfigurationValue,
                                driver.check_for_setup_error)
        self.assertEqual('backup_lustre_share', exc.kwargs['option'])
        self.assertIn('backup_lustre_share', str(exc))

    @ddt.data('fakehost@nfs:/fake/export',
              '10.0.0.1@tcp:/fsnametoolong',
              '10.0.0.1@tcp:/testfs/../etc',
              '10.0.0.1@tcp:testfs',
              '10.0.0.1@tcp:/testfs/a b')
    def test_share_malformed(self, share):
        self.override_config('backup_lustre_share', share)

        driver = lustre.LustreBackupDriver(self.ctxt)

        self.mock_mounter_cls.assert_not_called()
        exc = self.assertRaises(exception.InvalidConfigurationValue,
                                driver.check_for_setup_error)
        self.assertEqual('backup_lustre_share', exc.kwargs['option'])
        self.assertEqual(share, exc.kwargs['value'])
        self.assertIn('backup_lustre_share', str(exc))
        self.assertIn(share, str(exc))

    def test_mount_options_malformed(self):
        self.override_config('backup_lustre_mount_options', 'flock,-o rw')

        driver = lustre.LustreBackupDriver(self.ctxt)

        self.mock_mounter_cls.assert_not_called()
        exc = self.assertRaises(exception.InvalidConfigurationValue,
                                driver.check_for_setup_error)
        self.assertEqual('backup_lustre_mount_options', exc.kwargs['option'])

    @ddt.data('1000', '100K', '0', '4G', '4096M', '4X', '-1M', '4 M', 'M')
    def test_stripe_size_invalid(self, size):
        self.override_config('backup_lustre_stripe_size', size)

        driver = lustre.LustreBackupDriver(self.ctxt)

        self.mock_mounter_cls.assert_not_called()
        self.assertEqual([], self._commands())
        exc = self.assertRaises(exception.InvalidConfigurationValue,
                                driver.check_for_setup_error)
        self.assertEqual('backup_lustre_stripe_size', exc.kwargs['option'])
        self.assertEqual(size, exc.kwargs['value'])

    @ddt.data(('64K', '64K'), ('64k', '64K'), ('4M', '4M'),
              ('1048576', '1M'), ('4032M', '4032M'), ('1g', '1G'),
              ('010M', '10M'))
    @ddt.unpack
    def test_stripe_size_valid(self, size, passed):
        # lfs reads 010M as octal: sizes reach it in decimal, with a unit.
        self.override_config('backup_lustre_stripe_size', size)

        driver = lustre.LustreBackupDriver(self.ctxt)

        driver.check_for_setup_error()
        self.mock_execute.assert_called_once_with(
            'lfs', 'setstripe', '-S', passed, '--', self.backup_dir,
            run_as_root=True, timeout=60, on_execute=mock.ANY)

    def test_stripe_count_zero_invalid(self):
        self.override_config('backup_lustre_stripe_count', 0)

        driver = lustre.LustreBackupDriver(self.ctxt)

        self.mock_mounter_cls.assert_not_called()
        self.mock_execute.assert_not_called()
        exc = self.assertRaises(exception.InvalidConfigurationValue,
                                driver.check_for_setup_error)
        self.assertEqual('backup_lustre_stripe_count', exc.kwargs['option'])
        self.assertEqual(0, exc.kwargs['value'])

    @ddt.data(-2, 2001)
    def test_stripe_count_out_of_range(self, count):
        self.assertRaises(ValueError, self.override_config,
                          'backup_lustre_stripe_count', count)

    def _real_mounter(self):
        """The real LustreMounter; what mount does is up to the test."""
        self.override_config('backup_lustre_mount_point_base',
                             self.useFixture(fixtures.TempDir()).path)
        self.mock_object(lustre_client, 'LustreMounter', _REAL_MOUNTER)
        mounts = {}
        self.mock_object(lustre_client, 'read_mount_points',
                         side_effect=lambda: dict(mounts))
        return mounts

    def _mount_commands(self):
        return [c for c in self._commands() if c[:1] == ('timeout',)]

    @ddt.data(1, 3)
    def test_mount_retried_then_failing(self, attempts):
        self.override_config('backup_lustre_mount_attempts', attempts)
        self._real_mounter()
        self.mock_execute.side_effect = putils.ProcessExecutionError(
            stderr='mount.lustre: mount 10.0.0.1@tcp failed: '
                   'Input/output error')

        exc = self.assertRaises(lustre_client.LustreException,
                                lustre.LustreBackupDriver, self.ctxt)

        mounts = self._mount_commands()
        self.assertEqual(attempts, len(mounts))
        self.assertEqual(('mount', '-t', 'lustre', '-o', 'flock', SHARE),
                         mounts[-1][4:-1])
        self.assertEqual([mock.call(n) for n in range(1, attempts)],
                         tenacity.nap.sleep.call_args_list)
        self.assertIn('Input/output error', str(exc))

    def test_mount_retried_then_succeeding(self):
        mounts = self._real_mounter()
        failures = [putils.ProcessExecutionError()]

        def mount(*cmd, **kwargs):
            if failures:
                raise failures.pop()
            mounts[cmd[-1]] = 'lustre'
            return '', ''
        self.mock_execute.side_effect = mount
        self.mock_object(lustre.LustreBackupDriver, '_is_writable',
                         return_value=True)
        self.mock_object(lustre.LustreBackupDriver, '_make_directory')

        driver = lustre.LustreBackupDriver(self.ctxt)

        self.assertEqual(2, len(self._mount_commands()))
        self.assertEqual([os.path.join(mount_point, 'cinder-backup')
                          for mount_point in mounts], [driver.backup_path])
        self.assertTrue(driver.backup_path.startswith(
            CONF.backup_lustre_mount_point_base + '/'))
        tenacity.nap.sleep.assert_called_once_with(1)

    @mock.patch('os.getegid', return_value=EGID)
    @mock.patch.object(utils, 'get_file_mode')
    @mock.patch.object(utils, 'get_file_gid')
    @ddt.data((EGID, 0o750, ['chmod']),
              (OTHER_GID, 0o770, ['chgrp']),
              (OTHER_GID, 0o700, ['chgrp', 'chmod']),
              (EGID, 0o760, ['chmod']))
    @ddt.unpack
    def test_not_writable_top_directory_fixed(self, gid, mode, commands,
                                              mock_gid, mock_mode,
                                              mock_getegid):
        mock_gid.return_value = gid
        mock_mode.return_value = mode
        mock_writable = self.mock_object(
            lustre.LustreBackupDriver, '_is_writable',
            side_effect=[False, True])

        lustre.LustreBackupDriver(self.ctxt)

        expected = {
            'chgrp': mock.call('chgrp', str(EGID), self.backup_dir,
                               root_helper=utils.get_root_helper(),
                               run_as_root=True),
            'chmod': mock.call('chmod', 'g+wx', self.backup_dir,
                               root_helper=utils.get_root_helper(),
                               run_as_root=True)}
        self.assertEqual([expected[c] for c in commands],
                         self.mock_execute.call_args_list)
        for args in self._commands():
            self.assertNotIn('-R', args)
            self.assertEqual(self.backup_dir, args[-1])
        mock_gid.assert_called_once_with(self.backup_dir)
        mock_mode.assert_called_once_with(self.backup_dir)
        self.assertEqual(2, mock_writable.call_count)

    @mock.patch.object(utils, 'get_file_mode')
    @mock.patch.object(utils, 'get_file_gid')
    def test_writable_top_directory_untouched(self, mock_gid, mock_mode):
        mock_access = self.mock_object(os, 'access', return_value=True)

        driver = lustre.LustreBackupDriver(self.ctxt)

        mock_access.assert_called_once_with(self.backup_dir,
                                            os.W_OK | os.X_OK)
        self.mock_execute.assert_not_called()
        mock_gid.assert_not_called()
        mock_mode.assert_not_called()
        self.assertEqual(self.backup_dir, driver.backup_path)

    @mock.patch('os.getegid', return_value=EGID)
    @mock.patch.object(utils, 'get_file_mode', return_value=0o770)
    @mock.patch.object(utils, 'get_file_gid', return_value=EGID)
    def test_still_not_writable(self, mock_gid, mock_mode, mock_getegid):
        self.mock_object(lustre.LustreBackupDriver, '_is_writable',
                         return_value=False)

        exc = self.assertRaises(lustre_client.LustreException,
                                lustre.LustreBackupDriver, self.ctxt)

        self.assertIn(self.backup_dir, str(exc))
        self.mock_execute.assert_not_called()

    def test_is_writable(self):
        self.assertTrue(
            lustre.LustreBackupDriver._is_writable(self.mount_point))
        self.assertFalse(lustre.LustreBackupDriver._is_writable(
            os.path.join(self.mount_point, 'missing')))

    @ddt.data((4, '4M', ['-c', '4', '-S', '4M']),
              (-1, None, ['-c', '-1']),
              (None, '1M', ['-S', '1M']))
    @ddt.unpack
    def test_layout_set(self, count, size, args):
        self.override_config('backup_lustre_stripe_count', count)
        self.override_config('backup_lustre_stripe_size', size)

        lustre.LustreBackupDriver(self.ctxt)

        # Within the default time limit of lfs commands.
        self.mock_execute.assert_called_once_with(
            'lfs', 'setstripe', *args, '--', self.backup_dir,
            run_as_root=True, timeout=60, on_execute=mock.ANY)

    def test_layout_not_asked(self):
        lustre.LustreBackupDriver(self.ctxt)

        self.mock_execute.assert_not_called()

    def test_layout_set_once_per_process(self):
        self.override_config('backup_lustre_stripe_count', 2)

        lustre.LustreBackupDriver(self.ctxt)
        lustre.LustreBackupDriver(self.ctxt)
        self.override_config('backup_lustre_stripe_count', 8)
        lustre.LustreBackupDriver(self.ctxt)

        self.assertEqual(
            [('lfs', 'setstripe', '-c', '2', '--', self.backup_dir),
             ('lfs', 'setstripe', '-c', '8', '--', self.backup_dir)],
            self._commands())

    @ddt.data(OSError(errno.ENOENT, 'No such file or directory'),
              putils.ProcessExecutionError(
                  exit_code=96,
                  stderr='/usr/bin/cinder-rootwrap: Executable not found: '
                         'lfs (filter match = lfs)'))
    def test_lfs_missing_logged_not_fatal(self, error):
        self.override_config('backup_lustre_stripe_count', 4)
        self.mock_execute.side_effect = error

        driver = lustre.LustreBackupDriver(self.ctxt)
        lustre.LustreBackupDriver(self.ctxt)

        self.assertEqual(self.backup_dir, driver.backup_path)
        # Warned once, not on every backup operation.
        self.assertEqual(1, self.mock_execute.call_count)
        self.mock_log.warning.assert_called_once()
        message = self.mock_log.warning.call_args[0][0]
        self.assertIn('lfs', message)
        self.assertIn('backup_lustre_stripe_count', message)
        self.assertIn('backup_lustre_stripe_size', message)
        driver.check_for_setup_error()

    @ddt.data((OSError(errno.EACCES, 'Permission denied'),
               'Permission denied'),
              (putils.ProcessExecutionError(
                  exit_code=22, stderr='lfs setstripe: invalid stripe size'),
               'invalid stripe size'),
              (putils.ProcessExecutionError(
                  exit_code=99, stderr='Unauthorized command: lfs'),
               'Unauthorized command'))
    @ddt.unpack
    def test_lfs_failure_raised(self, error, text):
        self.override_config('backup_lustre_stripe_size', '4M')
        self.mock_execute.side_effect = error

        exc = self.assertRaises(lustre_client.LustreException,
                                lustre.LustreBackupDriver, self.ctxt)
        self.assertRaises(lustre_client.LustreException,
                          lustre.LustreBackupDriver, self.ctxt)

        self.assertIn('backup_lustre_stripe_size', str(exc))
        self.assertIn(self.backup_dir, str(exc))
        self.assertIn(text, str(exc))
        self.mock_log.warning.assert_not_called()
        # Not remembered as applied: the next operation tries again.
        self.assertEqual(2, self.mock_execute.call_count)

    def test_backup_directory_of_its_own(self):
        # Layout, group and mode go to a directory of the share, never to
        # its top directory: on a file system's root a layout set there
        # would be the default of the whole file system.
        self.override_config('backup_lustre_stripe_count', 2)
        top_mode = os.stat(self.mount_point).st_mode

        driver = lustre.LustreBackupDriver(self.ctxt)

        self.assertEqual(self.backup_dir, driver.backup_path)
        self.assertTrue(os.path.isdir(self.backup_dir))
        self.assertEqual(top_mode, os.stat(self.mount_point).st_mode)
        self.assertEqual(
            [('lfs', 'setstripe', '-c', '2', '--', self.backup_dir)],
            self._commands())

    def test_backup_directory_made_as_root(self):
        # The service may not write to the share's top directory.
        real_mkdir = os.mkdir
        self.mock_object(os, 'mkdir', side_effect=PermissionError)
        self.mock_execute.side_effect = lambda *args, **kwargs: (
            real_mkdir(args[1]))
        self.mock_object(lustre.LustreBackupDriver, '_make_writable')

        driver = lustre.LustreBackupDriver(self.ctxt)

        self.mock_execute.assert_called_once_with(
            'mkdir', self.backup_dir, root_helper=utils.get_root_helper(),
            run_as_root=True)
        self.assertEqual(self.backup_dir, driver.backup_path)

    @ddt.data('link', 'file')
    def test_backup_directory_not_a_directory(self, kind):
        # Another client of the file system put a link to the share's
        # root there (or a file): as root, chgrp, chmod and lfs setstripe
        # would follow the link.
        self.override_config('backup_lustre_stripe_count', 2)
        self.mock_object(lustre.LustreBackupDriver, '_is_writable',
                         return_value=False)
        if kind == 'link':
            os.symlink(self.mount_point, self.backup_dir)
        else:
            with open(self.backup_dir, 'w'):
                pass

        exc = self.assertRaises(lustre_client.LustreException,
                                lustre.LustreBackupDriver, self.ctxt)

        self.assertIn(self.backup_dir, str(exc))
        self.assertEqual([], self._commands())

    def test_backup_directory_made_meanwhile(self):
        # Another backup service made it first.
        real_mkdir = os.mkdir

        def made_meanwhile(path):
            real_mkdir(path)
            raise FileExistsError(errno.EEXIST, 'File exists', path)
        self.mock_object(os, 'mkdir', side_effect=made_meanwhile)
        self.mock_object(lustre.LustreBackupDriver, '_make_writable')

        driver = lustre.LustreBackupDriver(self.ctxt)

        self.assertEqual(self.backup_dir, driver.backup_path)
        self.mock_execute.assert_not_called()

    @ddt.data(
        # backup_file_size, stripe size, stripe count, hash block: chunk
        (None, None, None, 32 * 1024, 32 * units.Mi),
        (None, '4M', 3, 32 * 1024, 36 * units.Mi),
        (None, '4M', -1, 32 * 1024, 32 * units.Mi),
        (None, None, 4, 3 * units.Mi, 36 * units.Mi),
        (None, None, None, 3 * units.Mi, 33 * units.Mi),
        (64 * 1024, '4M', 3, 32 * 1024, 64 * 1024))
    @ddt.unpack
    def test_object_size(self, file_size, stripe_size, stripe_count, block,
                         chunk):
        if file_size:
            self.override_config('backup_file_size', file_size)
        self.override_config('backup_lustre_stripe_size', stripe_size)
        self.override_config('backup_lustre_stripe_count', stripe_count)
        self.override_config('backup_sha_block_size_bytes', block)

        driver = lustre.LustreBackupDriver(self.ctxt)

        self.assertEqual(chunk, driver.chunk_size_bytes)
        self.assertEqual(0, driver.zero_object_bytes % chunk)
        self.assertGreater(driver.zero_object_bytes, units.Gi - chunk)
        self.assertLessEqual(driver.zero_object_bytes, units.Gi)

    def test_compliance_decorator(self):
        self.assertIn(lustre.LustreBackupDriver, interface._backup_register)
        self.assertTrue(issubclass(lustre.LustreBackupDriver,
                                   backup_driver.BackupDriver))


@ddt.ddt
class LustreBackupDriverDataTestCase(LustreBackupDriverTestBase):
    """Real chunked backups, incremental backups, restores and deletes."""

    def setUp(self):
        super().setUp()
        # Keep backup notifications from leaking into other tests.
        self.mock_object(volume_utils, 'notify_about_backup_usage')
        self.override_config('backup_file_size', 8 * 1024)
        self.override_config('backup_sha_block_size_bytes', 1024)
        self.override_config('backup_enable_progress_timer', False)
        self.volume_file = tempfile.NamedTemporaryFile()
        self.addCleanup(self.volume_file.close)
        self.volume_id = db.volume_create(
            self.ctxt, {'id': fake.VOLUME_ID, 'size': 1,
                        'status': 'available',
                        'volume_type_id': self.vt['id']})['id']

    def _write(self, data, offset=0):
        self.volume_file.seek(offset)
        self.volume_file.write(data)
        self.volume_file.flush()

    def _volume_sha256(self):
        with open(self.volume_file.name, 'rb') as f:
            return hashlib.sha256(f.read()).hexdigest()

    def _backup(self, backup_id, parent_id=None):
        db.backup_create(self.ctxt, {
            'id': backup_id, 'size': 1, 'container': None,
            'volume_id': self.volume_id, 'parent_id': parent_id,
            'user_id': fake.USER_ID, 'project_id': fake.PROJECT_ID,
            'status': fields.BackupStatus.CREATING})
        backup = objects.Backup.get_by_id(self.ctxt, backup_id)
        self.volume_file.seek(0)
        lustre.LustreBackupDriver(self.ctxt).backup(backup, self.volume_file)
        return objects.Backup.get_by_id(self.ctxt, backup_id)

    def _restore_sha256(self, backup):
        backup.status = fields.BackupStatus.RESTORING
        backup.save()
        with tempfile.NamedTemporaryFile() as restored:
            lustre.LustreBackupDriver(self.ctxt).restore(
                backup, self.volume_id, restored, True)
            restored.flush()
            with open(restored.name, 'rb') as f:
                return hashlib.sha256(f.read()).hexdigest()

    def _stored_files(self):
        return [os.path.join(root, name)
                for root, _dirs, names in os.walk(self.mount_point)
                for name in names]

    def test_full_and_incremental_backup_restore(self):
        self.override_config('backup_compression_algorithm', 'none')
        self._write(os.urandom(64 * 1024))
        full_sha = self._volume_sha256()
        full = self._backup(fake.BACKUP_ID)
        self.assertEqual(3, len(full.container.split('/')))
        self.assertTrue(all(f.startswith(self.mount_point + '/')
                            for f in self._stored_files()))
        full_files = set(self._stored_files())

        self._write(os.urandom(1024), offset=16 * 1024)
        self._write(os.urandom(1024), offset=40 * 1024)
        incremental_sha = self._volume_sha256()
        incremental = self._backup(fake.BACKUP2_ID, parent_id=fake.BACKUP_ID)

        # The incremental backup stored only the two changed objects.
        driver = lustre.LustreBackupDriver(self.ctxt)
        objects_of = driver._read_metadata(incremental)['objects']
        self.assertEqual([16 * 1024, 40 * 1024],
                         [meta['offset'] for obj in objects_of
                          for meta in obj.values()])
        self.assertNotEqual(full_sha, incremental_sha)
        self.assertEqual(full_sha, self._restore_sha256(full))
        self.assertEqual(incremental_sha,
                         self._restore_sha256(incremental))

        lustre.LustreBackupDriver(self.ctxt).delete_backup(incremental)
        self.assertEqual(full_files, set(self._stored_files()))
        self.assertEqual(full_sha, self._restore_sha256(full))

    def test_delete_backup(self):
        self._write(os.urandom(16 * 1024))
        backup = self._backup(fake.BACKUP_ID)
        self.assertNotEqual([], self._stored_files())

        lustre.LustreBackupDriver(self.ctxt).delete_backup(backup)

        self.assertEqual([], self._stored_files())

    def test_backup_directories_group_writable(self):
        self._write(os.urandom(1024))
        backup = self._backup(fake.BACKUP_ID)

        container = os.path.join(self.backup_dir, backup.container)
        self.assertEqual(stat.S_IRWXU | stat.S_IRWXG,
                         stat.S_IMODE(os.stat(container).st_mode))

    @ddt.data('zlib', 'gzip', 'bz2', 'bzip2', 'zstd', 'ZSTD',
              'none', 'off', 'no')
    def test_backup_restore_compression(self, algorithm):
        self.override_config('backup_compression_algorithm', algorithm)
        # Compressible: repeated text with some random bytes.
        self._write((b'lustre backup ' * 2048)[:24 * 1024] +
                    os.urandom(2 * 1024))
        sha = self._volume_sha256()

        backup = self._backup(fake.BACKUP_ID)

        driver = lustre.LustreBackupDriver(self.ctxt)
        metadata = driver._read_metadata(backup)['objects']
        used = {meta['compression'] for obj in metadata
                for meta in obj.values()}
        stored = sum(os.path.getsize(f) for f in self._stored_files()
                     if OBJECT_RE.search(f))
        if algorithm in ('none', 'off', 'no'):
            self.assertEqual({'none'}, used)
            self.assertEqual(26 * 1024, stored)
        else:
            self.assertIn(algorithm.lower(), used)
            self.assertLess(stored, 26 * 1024)
        self.assertEqual(sha, self._restore_sha256(backup))

    def test_no_md5_recorded(self):
        # Nothing reads it back, and it costs more than reading the data.
        self._write(os.urandom(20 * 1024))
        backup = self._backup(fake.BACKUP_ID)

        objects_of = lustre.LustreBackupDriver(self.ctxt)._read_metadata(
            backup)['objects']

        self.assertEqual(3, len(objects_of))
        for obj in objects_of:
            self.assertEqual({'offset', 'length', 'compression'},
                             set(list(obj.values())[0]))

    def _events(self):
        """Record the windows read and the objects stored, in order."""
        events = []
        lock = threading.Lock()
        driver_cls = lustre.LustreBackupDriver
        read_window = driver_cls._read_window
        put_object = driver_cls._put_object

        def read(driver, fd, offset, size, *args):
            window = read_window(driver, fd, offset, size, *args)
            with lock:
                events.append(('read', offset))
            return window

        def put(driver, backup, container, piece, *args):
            events.append(('store', piece.offset))
            return put_object(driver, backup, container, piece, *args)

        self.mock_object(driver_cls, '_read_window', read)
        self.mock_object(driver_cls, '_put_object', put)
        return events

    @ddt.data(False, True)
    def test_windows_hashed_while_the_next_is_read(self, threading_mode):
        # Eight windows of 8 KiB: when one is stored, the next two have
        # been read (they are hashed meanwhile), but no more: a backup
        # holds at most five windows, whatever the size of the volume.
        self.mock_object(utils, 'concurrency_mode_threading',
                         return_value=threading_mode)
        self._write(os.urandom(64 * 1024))
        events = self._events()

        with mock.patch.object(chunkeddriver.mmap, 'mmap',
                               wraps=mmap.mmap) as allocate:
            self._backup(fake.BACKUP_ID)

        reads_before = [len([e for e in events[:index] if e[0] == 'read'])
                        for index, event in enumerate(events)
                        if event[0] == 'store']
        self.assertEqual([3, 4, 5, 6, 7, 8, 8, 8], reads_before)
        # Five buffers, read into in turn: read, hashed (two), being
        # stored (two).
        self.assertEqual(5, allocate.call_count)
        self.assertEqual(self._volume_sha256(),
                         self._restore_sha256(objects.Backup.get_by_id(
                             self.ctxt, fake.BACKUP_ID)))

    @ddt.data(False, True)
    def test_objects_stored_while_the_next_windows_are_read(
            self, threading_mode):
        # Eight windows of 8 KiB, an object each: the store of each one
        # waits until the reading of the window two after it has begun,
        # which only a backup that stores in a thread of its own lets
        # happen (it would wait forever in the thread that reads).
        self.mock_object(utils, 'concurrency_mode_threading',
                         return_value=threading_mode)
        self._write(os.urandom(64 * 1024))
        reading = [False] * 8
        overlapped = []
        driver_cls = lustre.LustreBackupDriver
        read_window = driver_cls._read_window
        get_object_writer = driver_cls._get_object_writer

        def read(driver, fd, offset, *args):
            reading[offset // 8192] = True
            return read_window(driver, fd, offset, *args)

        def writer(driver, container, name, *args, **kwargs):
            index = (int(name[-5:]) - 1 if OBJECT_RE.search(name)
                     else len(reading))
            if index + 2 < len(reading):
                # Polled (reads may run in native threads, stores in
                # green ones) and bounded, so that a backup that cannot
                # overlap fails the assertion below instead of hanging.
                for _poll in range(0 if False in overlapped else 1000):
                    if reading[index + 2]:
                        break
                    time.sleep(0.01)
                overlapped.append(reading[index + 2])
            return get_object_writer(driver, container, name, *args,
                                     **kwargs)

        self.mock_object(driver_cls, '_read_window', read)
        self.mock_object(driver_cls, '_get_object_writer', writer)

        backup = self._backup(fake.BACKUP_ID)

        self.assertEqual([True] * 6, overlapped)
        self.assertEqual(self._volume_sha256(), self._restore_sha256(backup))

    def test_native_threads_stop_when_told(self):
        # Under native threads, the threads of an executor a backup or a
        # restore leaves stop as soon as it does: threads that wait a
        # second for more work before they look (futurist's) would add
        # a second to every backup and restore for each executor. Joined
        # for half of that second, so that a thread that never stops
        # fails the test instead of hanging it.
        self.mock_object(utils, 'concurrency_mode_threading',
                         return_value=True)
        before = set(threading.enumerate())
        executor = lustre.LustreBackupDriver._executor(2)
        executor.submit(time.sleep, 0).result()
        workers = set(threading.enumerate()) - before

        executor.shutdown(wait=False)
        for worker in workers:
            worker.join(timeout=0.5)

        self.assertEqual(1, len(workers))
        self.assertEqual([], [worker for worker in workers
                              if worker.is_alive()])

    def test_three_objects_stored_at_once(self):
        # Eight windows of 8 KiB, an object each: the file of the third
        # object is created while the first is still being stored, so
        # that the writes and syncs of three objects keep the cores and
        # the disk busy. The wait is bounded: a backup that stores fewer
        # objects at a time fails the assertion below instead of hanging.
        self._write(os.urandom(64 * 1024))
        native = patcher.original('threading')
        created = [native.Event() for _index in range(8)]
        overlapped = []
        get_object_writer = posix.PosixBackupDriver.get_object_writer

        def writer(driver, container, name, *args, **kwargs):
            if OBJECT_RE.search(name):
                index = int(name[-5:]) - 1
                created[index].set()
                if index == 0:
                    overlapped.append(created[2].wait(timeout=5))
            return get_object_writer(driver, container, name, *args,
                                     **kwargs)

        self.mock_object(posix.PosixBackupDriver, 'get_object_writer',
                         writer)

        backup = self._backup(fake.BACKUP_ID)

        self.assertEqual([True], overlapped)
        self.assertEqual(self._volume_sha256(), self._restore_sha256(backup))

    def test_window_not_read_into_a_buffer_being_stored(self):
        # An incremental backup of eight windows of 8 KiB where only the
        # first changed: while its object is stored, the windows after it
        # store nothing, and the fifth after it is read into its buffer,
        # which must wait until that object is stored. The wait is
        # bounded: the store waits a second for that read, which never
        # comes in that time, instead of hanging.
        self.override_config('backup_compression_algorithm', 'none')
        self._write(os.urandom(64 * 1024))
        self._backup(fake.BACKUP_ID)
        self._write(os.urandom(1024))
        sha256 = self._volume_sha256()
        native = patcher.original('threading')
        reused = native.Event()
        read_while_stored = []
        read_window = lustre.LustreBackupDriver._read_window
        get_object_writer = posix.PosixBackupDriver.get_object_writer

        def read(driver, fd, offset, *args):
            if offset == 5 * 8192:
                reused.set()
            return read_window(driver, fd, offset, *args)

        def writer(driver, container, name, *args, **kwargs):
            if OBJECT_RE.search(name):
                read_while_stored.append(reused.wait(timeout=1))
            return get_object_writer(driver, container, name, *args,
                                     **kwargs)

        self.mock_object(lustre.LustreBackupDriver, '_read_window', read)
        self.mock_object(posix.PosixBackupDriver, 'get_object_writer',
                         writer)

        incremental = self._backup(fake.BACKUP2_ID, parent_id=fake.BACKUP_ID)

        self.assertEqual([False], read_while_stored)
        self.assertEqual(sha256, self._restore_sha256(incremental))

    def test_object_files_created_in_native_threads(self):
        # Each object is stored in one native thread call, the creation of
        # its file included: under eventlet, in the service's thread, that
        # creation (on Lustre, a round trip to the metadata server) would
        # stop every green thread of the service until it returned.
        self._write(os.urandom(64 * 1024))
        native = patcher.original('threading')
        creators = []
        get_object_writer = posix.PosixBackupDriver.get_object_writer

        def writer(driver, container, name, *args, **kwargs):
            if OBJECT_RE.search(name):
                creators.append(native.get_ident())
            return get_object_writer(driver, container, name, *args,
                                     **kwargs)

        self.mock_object(posix.PosixBackupDriver, 'get_object_writer',
                         writer)

        backup = self._backup(fake.BACKUP_ID)

        self.assertEqual(8, len(creators))
        self.assertNotIn(native.get_ident(), creators)
        self.assertEqual(self._volume_sha256(), self._restore_sha256(backup))

    def test_backup_files_synced_when_written(self):
        # A Lustre client keeps what is written in its cache after close:
        # each file of a backup is on the disk once it is written whole.
        self._write(os.urandom(64 * 1024))
        synced = {}
        fsync = os.fsync

        def record(fd):
            synced[os.readlink('/proc/self/fd/%d' % fd)] = os.fstat(
                fd).st_size
            fsync(fd)

        self.mock_object(os, 'fsync', record)

        self._backup(fake.BACKUP_ID)

        files = self._stored_files()
        # Eight objects, the sha256 file and the metadata.
        self.assertEqual(10, len(files))
        self.assertEqual({path: os.path.getsize(path) for path in files},
                         synced)

    def test_failed_write_closes_without_sync(self):
        sync = self.mock_object(os, 'fsync')
        file = mock.MagicMock()
        file.write.side_effect = OSError(errno.EIO, 'Input/output error')

        def store():
            with lustre._SyncedWriter(file) as writer:
                writer.write(b'data')

        self.assertRaises(OSError, store)
        file.__exit__.assert_called_once()
        sync.assert_not_called()
        file.flush.assert_not_called()

    @ddt.data('-00003', '_sha256file')
    def test_failed_store_fails_the_backup(self, failing):
        # An object (written in a store thread), or the sha256 file.
        self._write(os.urandom(64 * 1024))
        get_object_writer = lustre.LustreBackupDriver._get_object_writer

        def writer(driver, container, name, *args, **kwargs):
            if name.endswith(failing):
                raise OSError(errno.ENOSPC, 'No space left on device')
            return get_object_writer(driver, container, name, *args,
                                     **kwargs)

        self.mock_object(lustre.LustreBackupDriver, '_get_object_writer',
                         writer)

        self.assertRaises(OSError, self._backup, fake.BACKUP_ID)
        # No metadata: nothing restores a backup that lacks a file.
        self.assertEqual([], [f for f in self._stored_files()
                              if f.endswith('_metadata')])

    def _clock(self, step):
        """The clock of the status checks, `step` seconds on each look."""
        now = iter(itertools.count(1000, step))
        self.mock_object(timeutils, 'now', side_effect=lambda: next(now))

    def _status_queries(self):
        """Count the status queries of the backups (wrap refresh)."""
        return self.mock_object(objects.Backup, 'refresh', autospec=True,
                                side_effect=objects.Backup.refresh)

    def _delete_when_stored(self):
        """Mark the backup deleted once its first object is stored."""
        put = lustre.LustreBackupDriver._put_object

        def put_then_delete(driver, backup, *args):
            put(driver, backup, *args)
            db.backup_update(self.ctxt, backup.id,
                             {'status': fields.BackupStatus.DELETING})

        self.mock_object(lustre.LustreBackupDriver, '_put_object',
                         put_then_delete)

    def test_cancelled_backup_stops_reading(self):
        # Two seconds between two windows: the backup asks before each.
        self._clock(2)
        self._write(os.urandom(64 * 1024))
        events = self._events()
        self._delete_when_stored()

        self._backup(fake.BACKUP_ID)

        # The first window stored, the next two read (and dropped), then
        # the backup saw its status and deleted what it had stored.
        self.assertEqual([('read', 0), ('read', 8192), ('read', 16384),
                          ('store', 0)], events)
        self.assertEqual([], self._stored_files())

    @ddt.data((0, 2), (2, 8 + 1 + 1))
    @ddt.unpack
    def test_backup_asks_its_status_once_a_second(self, step, queries):
        # Eight windows: within a second, one query before the first and
        # one before the metadata is written; with seconds between them,
        # one before each window, at the end, and before the metadata.
        self._clock(step)
        self._write(os.urandom(64 * 1024))
        refresh = self._status_queries()

        backup = self._backup(fake.BACKUP_ID)

        self.assertEqual(queries, refresh.call_count)
        self.assertEqual(8, backup.object_count)

    def test_backup_deleted_after_its_last_query_leaves_nothing(self):
        # Deleted once the first window is stored, within the second of
        # the query before it: every window is stored, then the backup
        # asks before writing its metadata and deletes what it stored.
        self._clock(0)
        self._write(os.urandom(64 * 1024))
        events = self._events()
        self._delete_when_stored()

        self._backup(fake.BACKUP_ID)

        self.assertEqual(8, events.count(('store', mock.ANY)))
        self.assertEqual([], self._stored_files())

    def test_restore_asks_its_status_once_a_second(self):
        # Eight objects restored within a second: one query.
        self._write(os.urandom(64 * 1024))
        backup = self._backup(fake.BACKUP_ID)
        sha256 = self._volume_sha256()
        self._clock(0)
        refresh = self._status_queries()

        self.assertEqual(sha256, self._restore_sha256(backup))

        self.assertEqual(1, refresh.call_count)

    def test_restore_cancelled_seen_a_second_later(self):
        # The backup's status changes once the first object is read; the
        # next query, a second later, stops the restore.
        self._write(os.urandom(64 * 1024))
        backup = self._backup(fake.BACKUP_ID)
        self._clock(2)
        read_object = lustre.LustreBackupDriver._read_object

        def read_then_cancel(driver, *args):
            db.backup_update(self.ctxt, backup.id,
                             {'status': fields.BackupStatus.AVAILABLE})
            return read_object(driver, *args)

        self.mock_object(lustre.LustreBackupDriver, '_read_object',
                         read_then_cancel)

        self.assertRaises(exception.BackupRestoreCancel,
                          self._restore_sha256, backup)

    def test_sparse_volume_round_trip(self):
        # A 64 MiB volume with 1.5 MiB of data: its holes are not read,
        # they are one object of zeros each (the one after the data at
        # 8 MiB too, though it starts inside an object's chunk), and a
        # restore into an emptied file gives back every byte, and the
        # size.
        self.override_config('backup_file_size', 4 * units.Mi)
        self.override_config('backup_sha_block_size_bytes', 64 * 1024)
        self.override_config('backup_compression_algorithm', 'none')
        self.volume_file.truncate(64 * units.Mi)
        self._write(os.urandom(units.Mi), offset=8 * units.Mi)
        self._write(os.urandom(units.Mi // 2), offset=63 * units.Mi)
        sha = self._volume_sha256()

        with mock.patch.object(os, 'preadv', wraps=os.preadv) as preadv:
            backup = self._backup(fake.BACKUP_ID)

        self.assertEqual(3 * units.Mi // 2,
                         sum(len(c.args[1][0]) for c in preadv.mock_calls))
        driver = lustre.LustreBackupDriver(self.ctxt)
        self.assertEqual(
            [(0, 8 * units.Mi), (8 * units.Mi, units.Mi),
             (9 * units.Mi, 54 * units.Mi), (63 * units.Mi, units.Mi)],
            [(meta['offset'], meta['length'])
             for obj in driver._read_metadata(backup)['objects']
             for meta in obj.values()])
        self.assertEqual(sha, self._restore_sha256(backup))

    def test_objects_read_while_the_last_is_written(self):
        self._write(os.urandom(64 * 1024))
        backup = self._backup(fake.BACKUP_ID)
        events = []
        objects_to_restore = lustre.LustreBackupDriver._objects_to_restore
        write_volume = chunkeddriver._write_volume

        def to_restore(driver, *args):
            for name_and_metadata in objects_to_restore(driver, *args):
                events.append('read')
                yield name_and_metadata

        def write(volume_is_new, volume_file, offset, data):
            events.append('write')
            return write_volume(volume_is_new, volume_file, offset, data)

        self.mock_object(lustre.LustreBackupDriver, '_objects_to_restore',
                         to_restore)
        self.mock_object(chunkeddriver, '_write_volume', write)

        with mock.patch.object(chunkeddriver.mmap, 'mmap',
                               wraps=mmap.mmap) as allocate:
            self.assertEqual(self._volume_sha256(),
                             self._restore_sha256(backup))

        # Two buffers, read into in turn.
        self.assertEqual(2, allocate.call_count)
        # Eight objects: the next one is read before one is written.
        self.assertEqual([2, 3, 4, 5, 6, 7, 8, 8],
                         [events[:index].count('read')
                          for index, event in enumerate(events)
                          if event == 'write'])

    @mock.patch.object(chunkeddriver, '_SYNC_BYTES', 16 * 1024)
    def test_volume_synced_while_the_next_objects_are_written(self):
        # Eight objects of 8 KiB, a sync every second one: the first sync,
        # asked for once two objects are written, waits until the third
        # is (a bounded wait: a restore that syncs in the thread that
        # writes fails the assertion below instead of hanging), and
        # restore returns once every sync is done. The third may be
        # written before the sync's thread starts: it is still written
        # while the sync was pending.
        self._write(os.urandom(64 * 1024))
        backup = self._backup(fake.BACKUP_ID)
        native = patcher.original('threading')
        written = native.Event()
        events = []
        overlapped = []
        fsync = os.fsync
        write_volume = chunkeddriver._write_volume

        def write(volume_is_new, volume_file, offset, data):
            events.append('write')
            if events.count('write') == 3:
                written.set()
            return write_volume(volume_is_new, volume_file, offset, data)

        def sync(fd):
            events.append('sync')
            if not overlapped:
                overlapped.append(written.wait(timeout=5))
            fsync(fd)
            events.append('synced')

        self.mock_object(chunkeddriver, '_write_volume', write)
        self.mock_object(os, 'fsync', sync)
        backup.status = fields.BackupStatus.RESTORING
        backup.save()
        with tempfile.NamedTemporaryFile() as restored:
            lustre.LustreBackupDriver(self.ctxt).restore(
                backup, self.volume_id, restored, True)
            done = list(events)
            with open(restored.name, 'rb') as f:
                self.assertEqual(self._volume_sha256(),
                                 hashlib.sha256(f.read()).hexdigest())

        self.assertEqual([True], overlapped)
        self.assertEqual((8, 4, 4), tuple(
            done.count(event) for event in ('write', 'sync', 'synced')))
        self.assertEqual('synced', done[-1])


# Runs a command for real (qemu-img, qemu-io, dd): its (out, err).
_run = test_lustre_images.execute


@ddt.ddt
class LustreBackupChangesTestCase(LustreBackupDriverTestBase):
    """What an incremental backup from snapshots knows did not change.

    A real chain made with qemu-img in a directory that stands for the
    volume share: a raw base, the overlay of snapshot S1 (writes after
    S1), that of S2 (after S2); the copy of S2's data the volume driver
    makes for a backup, beside them.
    """

    SIZE = 8 * units.Mi

    def setUp(self):
        super().setUp()
        self.mock_execute.side_effect = self._execute
        self.directory = self.useFixture(fixtures.TempDir()).path
        self.volume = self._volume()
        self.name = self.volume.name
        self.copy = self._volume(display_name='backup-vol-x')
        self.s1, self.s2 = fake.SNAPSHOT_ID, fake.SNAPSHOT2_ID
        self.info = {'active': self._file(self.s2),
                     self.s1: self._file(self.s1),
                     self.s2: self._file(self.s2)}
        base = self._path(self.name)
        _run('qemu-img', 'create', '-f', 'raw', base, str(self.SIZE))
        self._guest(base, 'raw', 'write -P 0x11 0 4M')
        self._overlay(self.s1, self.name, 'raw')
        # Written after S1: 64 KiB at 1 MiB, zeros over 3 MiB.
        self._guest(self._path(self._file(self.s1)), 'qcow2',
                    'write -P 0x22 1M 64k', 'write -z 3M 128k')
        self._overlay(self.s2, self._file(self.s1), 'qcow2')
        # Written after S2: not in S2's data, not counted.
        self._guest(self._path(self._file(self.s2)), 'qcow2',
                    'write -P 0x33 6M 64k')
        self._write_info(self.info)
        self.device_path = self._path(self.copy.name)
        _run('qemu-img', 'convert', '-O', 'raw', self._chain_below(self.s2),
             self.device_path)
        self.device = open(self.device_path, 'rb')
        self.addCleanup(self.device.close)
        self.parent = self._backup_record(fake.BACKUP_ID, self.s1)
        self.backup = self._backup_record(fake.BACKUP2_ID, self.s2,
                                          parent_id=self.parent.id,
                                          temp_volume_id=self.copy.id)
        self.driver = lustre.LustreBackupDriver(self.ctxt)

    @staticmethod
    def _execute(*cmd, **kwargs):
        # Nothing is mounted: only the image commands run.
        if cmd[0] not in ('qemu-img', 'dd'):
            return '', ''
        return test_lustre_images.execute(*cmd, **kwargs)

    def _volume(self, **kwargs):
        volume = objects.Volume(context=self.ctxt, size=1,
                                status='available', **kwargs)
        volume.create()
        return volume

    def _file(self, snapshot_id):
        return '%s.%s' % (self.name, snapshot_id)

    def _path(self, name):
        return os.path.join(self.directory, name)

    @staticmethod
    def _guest(path, fmt, *commands):
        args = ['qemu-io', '-f', fmt]
        for command in commands:
            args += ['-c', command]
        _run(*args, path)

    def _overlay(self, snapshot_id, backing, backing_fmt):
        _run('qemu-img', 'create', '-f', 'qcow2', '-u', '-b', backing,
             '-F', backing_fmt, self._path(self._file(snapshot_id)),
             str(self.SIZE))

    def _chain_below(self, snapshot_id):
        """S's data: the chain below its overlay, as a json: filename."""
        node = {'driver': 'raw', 'file': {'driver': 'file',
                                          'filename': self._path(self.name)}}
        if snapshot_id == self.s2:
            node = {'driver': 'qcow2', 'backing': node,
                    'file': {'driver': 'file', 'filename': self._path(
                        self._file(self.s1))}}
        return 'json:' + json.dumps(node)

    def _write_info(self, info):
        with open(self._path(self.name + '.info'), 'w') as f:
            json.dump(info, f)

    def _backup_record(self, backup_id, snapshot_id, **kwargs):
        values = dict(id=backup_id, size=1, container=None,
                      volume_id=self.volume.id, snapshot_id=snapshot_id,
                      user_id=fake.USER_ID, project_id=fake.PROJECT_ID,
                      status=fields.BackupStatus.AVAILABLE)
        values.update(kwargs)
        db.backup_create(self.ctxt, values)
        return objects.Backup.get_by_id(self.ctxt, backup_id)

    def _unchanged(self):
        return self.driver._unchanged_ranges(self.backup, self.device)

    def _assert_cannot_tell(self, reason):
        self.assertEqual([], self._unchanged())
        self.mock_log.info.assert_called_once()
        self.assertIn(reason, str(self.mock_log.info.call_args[0][1][
            'reason']))

    def _maps(self):
        return [c.args[-1] for c in self.mock_execute.call_args_list
                if c.args[:2] == ('qemu-img', 'map')]

    def test_unchanged_ranges(self):
        # S1's overlay holds what changed: its data and its zero cluster.
        self.assertEqual([(0, units.Mi), (units.Mi + 64 * units.Ki,
                                          3 * units.Mi),
                          (3 * units.Mi + 128 * units.Ki, self.SIZE)],
                         self._unchanged())
        # S1's overlay alone, its backing file never opened.
        maps = self._maps()
        self.assertEqual(1, len(maps))
        self.assertEqual({'driver': 'qcow2', 'backing': None,
                          'file': {'driver': 'file', 'filename': self._path(
                              self._file(self.s1))}},
                         json.loads(maps[0][len('json:'):]))
        # What is said unchanged is: S1's data and S2's copy agree there.
        s1_copy = self._path('s1-copy')
        _run('qemu-img', 'convert', '-O', 'raw', self._chain_below(self.s1),
             s1_copy)
        with open(s1_copy, 'rb') as old:
            old_data = old.read()
        new_data = self.device.read()
        for start, end in self._unchanged():
            self.assertEqual(old_data[start:end], new_data[start:end])
        self.assertNotEqual(old_data, new_data)

    def test_changes_at_both_ends(self):
        self._guest(self._path(self._file(self.s1)), 'qcow2',
                    'write -P 0x44 0 64k', 'write -P 0x44 %d 64k' % (
                        self.SIZE - 64 * units.Ki))
        self.assertEqual([(64 * units.Ki, units.Mi),
                          (units.Mi + 64 * units.Ki, 3 * units.Mi),
                          (3 * units.Mi + 128 * units.Ki,
                           self.SIZE - 64 * units.Ki)], self._unchanged())

    def test_same_snapshot_unchanged_whole(self):
        self.backup.snapshot_id = self.s1
        self.backup.save()
        # The copy of S2 stands for that of S1: no overlay in between.
        self.assertEqual([(0, self.SIZE)], self._unchanged())
        self.assertEqual([], self._maps())

    def test_incremental_backup_reads_what_changed(self):
        # Through the chunked driver: only S1's overlay's clusters are
        # read, and the restore is S2's data.
        self.override_config('backup_compression_algorithm', 'none')
        self.override_config('backup_file_size', units.Mi)
        self.override_config('backup_enable_progress_timer', False)
        self.parent.destroy()
        self.backup.destroy()
        self.mock_object(volume_utils, 'notify_about_backup_usage')
        full = self._backup_record(fake.BACKUP3_ID, self.s1,
                                   status=fields.BackupStatus.CREATING)
        s1_copy = self._path('s1-copy')
        _run('qemu-img', 'convert', '-O', 'raw', self._chain_below(self.s1),
             s1_copy)
        with open(s1_copy, 'rb') as f:
            lustre.LustreBackupDriver(self.ctxt).backup(full, f)
        full.status = fields.BackupStatus.AVAILABLE
        full.save()
        incremental = self._backup_record(
            fake.BACKUP4_ID, self.s2, parent_id=full.id,
            temp_volume_id=self.copy.id,
            status=fields.BackupStatus.CREATING)

        with mock.patch.object(os, 'preadv', wraps=os.preadv) as preadv:
            lustre.LustreBackupDriver(self.ctxt).backup(incremental,
                                                        self.device)

        # The 64 KiB written after S1; its zeros are a hole of the copy.
        self.assertEqual(64 * units.Ki,
                         sum(len(c.args[1][0]) for c in preadv.mock_calls))
        incremental.status = fields.BackupStatus.RESTORING
        incremental.save()
        with tempfile.NamedTemporaryFile() as restored:
            lustre.LustreBackupDriver(self.ctxt).restore(
                incremental, self.volume.id, restored, True)
            restored.flush()
            with open(restored.name, 'rb') as f:
                self.device.seek(0)
                self.assertEqual(self.device.read(), f.read())

    def test_not_from_snapshot(self):
        self.backup.snapshot_id = None
        self.backup.save()
        self._assert_cannot_tell('made from snapshots')

    def test_parent_not_from_snapshot(self):
        self.parent.snapshot_id = None
        self.parent.save()
        self._assert_cannot_tell('made from snapshots')

    def test_parent_of_another_volume(self):
        self.parent.volume_id = self.copy.id
        self.parent.save()
        self._assert_cannot_tell('another volume')

    def test_encrypted_volume(self):
        self.volume.encryption_key_id = fake.ENCRYPTION_KEY_ID
        self.volume.save()
        self._assert_cannot_tell('encrypted anew')

    def test_file_without_path(self):
        self.device = mock.Mock(spec=['fileno'])
        self._assert_cannot_tell('no path')

    def test_file_replaced_by_link(self):
        os.rename(self.device_path, self.device_path + '.old')
        os.symlink(self.device_path + '.old', self.device_path)
        self._assert_cannot_tell('is not the regular file read')

    def test_file_not_the_copy(self):
        self.backup.temp_volume_id = self._volume().id
        self._assert_cannot_tell('not the temporary copy')

    def test_copy_found_in_database(self):
        # The backup given to the driver may predate the copy's record.
        self.backup.temp_volume_id = None
        self.assertEqual(3, len(self._unchanged()))

    def test_no_copy_recorded(self):
        self.backup.temp_volume_id = None
        self.backup.save()
        self._assert_cannot_tell('not the temporary copy')

    @ddt.data('not json', '[]', '{"snap": "%(name)s.snap"}',
              '{"active": "%(name)s", "x": "../%(name)s.x"}',
              '{"active": "%(name)s", "x": "other"}')
    def test_info_invalid(self, content):
        with open(self._path(self.name + '.info'), 'w') as f:
            f.write(content % {'name': self.name})
        self.assertEqual([], self._unchanged())
        self.mock_log.info.assert_called_once()

    def test_info_missing(self):
        os.unlink(self._path(self.name + '.info'))
        self._assert_cannot_tell('does not exist')

    @ddt.data('s1', 's2')
    def test_snapshot_gone(self, which):
        del self.info[getattr(self, which)]
        self._write_info(self.info)
        self._assert_cannot_tell('no longer names')

    def test_backup_of_older_snapshot(self):
        # The parent is of S2, this backup of S1: what changed is below
        # S2's overlay, not above it.
        self.parent.snapshot_id, self.backup.snapshot_id = self.s2, self.s1
        self.parent.save()
        self.backup.save()
        self._assert_cannot_tell('does not reach')
        self.assertEqual([], self._maps())

    def test_overlay_not_named(self):
        # S2's overlay on a copy of S1's that the .info file does not name.
        shutil.copy(self._path(self._file(self.s1)),
                    self._path(self.name + '.other'))
        _run('qemu-img', 'rebase', '-u', '-f', 'qcow2', '-b',
             self.name + '.other', '-F', 'qcow2',
             self._path(self._file(self.s2)))
        self._assert_cannot_tell('is not a snapshot overlay')

    def test_chain_loops(self):
        _run('qemu-img', 'rebase', '-u', '-f', 'qcow2', '-b', self._file(
            self.s2), '-F', 'qcow2', self._path(self._file(self.s1)))
        self.info[fake.SNAPSHOT3_ID] = self.name + '.old'
        self._write_info(self.info)
        self.parent.snapshot_id = fake.SNAPSHOT3_ID
        self.parent.save()
        self._assert_cannot_tell('is not a snapshot overlay')

    @ddt.data(('-b', ''), ('-b', '/elsewhere/%(name)s', '-F', 'raw'))
    def test_backing_file_elsewhere(self, options):
        _run('qemu-img', 'rebase', '-u', '-f', 'qcow2',
             *[option % {'name': self.name} for option in options],
             self._path(self._file(self.s1)))
        self._assert_cannot_tell('does not reach')

    def test_backing_file_by_absolute_path(self):
        _run('qemu-img', 'rebase', '-u', '-f', 'qcow2', '-b',
             self._path(self._file(self.s1)), '-F', 'qcow2',
             self._path(self._file(self.s2)))
        self.assertEqual(3, len(self._unchanged()))

    def test_overlay_not_a_regular_file(self):
        path = self._path(self._file(self.s1))
        os.rename(path, path + '.real')
        os.symlink(path + '.real', path)
        self._assert_cannot_tell('not a regular file')

    def test_overlay_of_another_size(self):
        _run('qemu-img', 'resize', '-f', 'qcow2',
             self._path(self._file(self.s1)), str(2 * self.SIZE))
        self._assert_cannot_tell('is not the size of the volume copy')

    @ddt.data(([{'start': 0, 'length': 8 * units.Mi, 'depth': 0,
                 'zero': True, 'data': False}], 'not a list of allocated'),
              ([{'start': 0, 'length': units.Mi, 'present': False},
                {'start': 2 * units.Mi, 'length': units.Mi,
                 'present': True}], 'not a list of allocated'),
              ([{'start': 0, 'length': units.Mi, 'present': True}],
               'does not cover'))
    @ddt.unpack
    def test_map_not_understood(self, extents, reason):
        execute = self.mock_execute.side_effect

        def fake_map(*cmd, **kwargs):
            if cmd[:2] == ('qemu-img', 'map'):
                return json.dumps(extents), ''
            return execute(*cmd, **kwargs)
        self.mock_execute.side_effect = fake_map
        self._assert_cannot_tell(reason)

    def test_map_failing(self):
        execute = self.mock_execute.side_effect

        def failing_map(*cmd, **kwargs):
            if cmd[:2] == ('qemu-img', 'map'):
                raise putils.ProcessExecutionError(stderr='locked')
            return execute(*cmd, **kwargs)
        self.mock_execute.side_effect = failing_map

        self.assertEqual([], self._unchanged())
        self.assertIsInstance(self.mock_log.info.call_args[0][1]['reason'],
                              putils.ProcessExecutionError)

    @ddt.data('info', 'file')
    def test_chain_changed_while_mapped(self, what):
        execute = self.mock_execute.side_effect
        path = self._path(self._file(self.s1))

        def change_then_map(*cmd, **kwargs):
            if cmd[:2] == ('qemu-img', 'map'):
                if what == 'info':
                    self._write_info(dict(self.info, active=self.name))
                else:
                    shutil.copy(path, path + '.new')
                    os.rename(path + '.new', path)
            return execute(*cmd, **kwargs)
        self.mock_execute.side_effect = change_then_map
        self._assert_cannot_tell('changed while they were read')
