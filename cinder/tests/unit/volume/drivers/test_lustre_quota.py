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

"""Unit tests for the Lustre volume driver's project quotas."""

import errno
import os
from unittest import mock

import ddt
from oslo_concurrency import processutils as putils
from oslo_utils import units

from cinder import exception
from cinder.objects import fields
from cinder.tests.unit import fake_constants as fake
from cinder.tests.unit.volume.drivers import test_lustre
from cinder.tests.unit.volume.drivers import test_lustre_client as lfs_out
from cinder.volume.drivers import lustre_client
from cinder.volume.drivers import lustre_quota
from cinder.volume.drivers import remotefs

SHARE = test_lustre.SHARE
SHARE2 = test_lustre.SHARE2
POOL = test_lustre.POOL
LIMIT_1G = test_lustre.LIMIT_1G


@ddt.ddt
class LustreProjectQuotaTestCase(test_lustre.LustreTestBase):
    """Per-volume project quotas."""

    def setUp(self):
        super().setUp()
        self.mock_object(lustre_client.LustreMounter, 'ensure_mounted')
        self.override_config('lustre_project_quotas', True)
        self.driver = self._make_driver()
        # The file system: project ids in use, block limits set (KiB), the
        # default project quota's block limit, the client's version.
        self.used_ids = set()
        self.limits = {}
        self.default_limit = 0
        self.version = '2.15.4'
        self.quota_error = None

    def _execute_side_effect(self, *cmd, **kwargs):
        if cmd[:2] == ('lfs', '--version'):
            return 'lfs %s\n' % self.version, ''
        if cmd[:2] == ('lfs', 'setquota'):
            self.limits[int(cmd[3])] = int(cmd[5][:-1])
        if cmd[:2] == ('lfs', 'quota'):
            if self.quota_error:
                raise self.quota_error
            if cmd[2] == '-P':
                return lfs_out.QUOTA_DEFAULTS_2_17.replace(
                    lfs_out.MNT, cmd[-1]).replace(
                    '10485760', str(self.default_limit)), ''
            return self._quota(int(cmd[3]), cmd[-1]), ''
        return super()._execute_side_effect(*cmd, **kwargs)

    def _quota(self, project_id, mount_point):
        """What lfs quota -p prints of an id, in self.version's format."""
        if project_id in self.used_ids:
            figures = dict(kbytes=1100000, block_hard=1053696, files=2,
                           exceeded=True)
        else:
            figures = dict(block_hard=self.limits.get(project_id,
                                                      self.default_limit))
        if self.version.startswith('2.17'):
            return lfs_out.quota_2_17('<unknown>', project_id, mount_point,
                                      **figures)
        return lfs_out.quota_2_15(
            project_id, mount_point,
            default_block=project_id not in self.limits and
            project_id not in self.used_ids, **figures)

    def _setup(self):
        self.mock_object(remotefs.RemoteFSDriver, 'do_setup')
        self.mock_object(self.driver, 'set_nas_security_options')
        self.driver.do_setup(self.context)
        self._execute.reset_mock()

    def _quota_commands(self):
        return [c for c in self._execute.call_args_list
                if c.args[:2] in (('lfs', 'quota'), ('lfs', 'setquota'),
                                  ('lfs', 'project'))]

    @staticmethod
    def _with_id(volume, project_id='77'):
        volume.admin_metadata = dict(volume.admin_metadata or {},
                                     lustre_project_id=project_id)
        return volume

    def _first_id(self, volume):
        # The default range starts at 2^24.
        return (1 << 24) + int(volume.id[:8], 16)

    def test_probe_disabled(self):
        self.override_config('lustre_project_quotas', False)
        self.driver = self._make_driver()
        mock_warn = self.mock_object(lustre_quota.LOG, 'warning')
        self._setup()
        self.assertEqual(set(), self.driver._quotas.shares)
        self.assertEqual([], self._commands('lfs'))
        mock_warn.assert_not_called()

    def test_probe_supported(self):
        self._setup()
        self.assertEqual({SHARE, SHARE2}, self.driver._quotas.shares)
        self._capacity(50, 100)
        stats = self.driver._get_pool_stats(
            self.driver._pools[POOL], None, lustre_client.LfsDf(1, 1))
        self.assertTrue(stats['lustre_project_quotas'])

    @ddt.data(putils.ProcessExecutionError(stderr='Operation not supported'),
              OSError(errno.ENOENT, 'No such file or directory'))
    def test_probe_missing_warns_once(self, error):
        self.quota_error = error
        mock_warn = self.mock_object(lustre_quota.LOG, 'warning')
        self._setup()
        self.assertEqual(set(), self.driver._quotas.shares)
        mock_warn.assert_called_once()
        self.assertIn(SHARE2, mock_warn.call_args.args[1])
        self.quota_error = None
        volume = self._volume(volume_format='raw')
        self._touch(volume.name)
        self.driver.delete_volume(volume)
        self.assertEqual([], self._quota_commands())

    def test_probe_one_share_missing(self):
        def execute(*cmd, **kwargs):
            if cmd[:2] == ('lfs', 'quota') and cmd[-1] == self.mnt2:
                raise lustre_client.LustreException(msg='no table')
            return self._execute_side_effect(*cmd, **kwargs)
        self.mock_object(remotefs.RemoteFSDriver, 'do_setup')
        self.mock_object(self.driver, 'set_nas_security_options')
        self._execute.side_effect = execute
        self.driver.do_setup(self.context)
        self.assertEqual({SHARE}, self.driver._quotas.shares)

    def _do_setup(self):
        self.mock_object(remotefs.RemoteFSDriver, 'do_setup')
        self.mock_object(self.driver, 'set_nas_security_options')
        self.driver.do_setup(self.context)

    def test_probe_sets_and_clears_a_limit(self):
        # Reading a quota proves neither the right to set one (root, the
        # nodemap's admin and quota_ops) nor that the file system has
        # project quotas: the probe sets one on a free id, and clears it.
        self._do_setup()
        top = str((1 << 24) + (1 << 30) - 1)    # the default range's top
        expected = []
        for mnt in (self.mnt, self.mnt2):
            expected += [
                mock.call('lfs', 'quota', '-p', top, mnt, run_as_root=True),
                mock.call('lfs', 'setquota', '-p', top, '-B', '1024K', mnt,
                          run_as_root=True),
                mock.call('lfs', 'quota', '-p', top, mnt, run_as_root=True),
                mock.call('lfs', 'setquota', '-p', top, '-B', '0K', mnt,
                          run_as_root=True)]
        self.assertEqual(expected, self._quota_commands())
        self.assertEqual({SHARE, SHARE2}, self.driver._quotas.shares)

    def test_probe_skips_taken_ids(self):
        # The probe starts from the top of the range and wraps around.
        self.used_ids = {lustre_quota.PROJECT_ID_MAX}
        self._do_setup()
        self.assertEqual({lustre_quota.PROJECT_ID_MIN: 0}, self.limits)

    @ddt.data(putils.ProcessExecutionError(stderr='Permission denied.',
                                           exit_code=1),
              putils.ProcessExecutionError(
                  stderr='prj quotas are not enabled.', exit_code=3))
    def test_probe_setting_refused(self, error):
        def execute(*cmd, **kwargs):
            if cmd[:2] == ('lfs', 'setquota'):
                raise error
            return self._execute_side_effect(*cmd, **kwargs)
        self._execute.side_effect = execute
        mock_warn = self.mock_object(lustre_quota.LOG, 'warning')
        self._do_setup()
        self.assertEqual(set(), self.driver._quotas.shares)
        self.assertIn(error.stderr, mock_warn.call_args.args[1])

    def test_probe_limit_not_kept(self):
        def execute(*cmd, **kwargs):
            if cmd[:2] == ('lfs', 'setquota'):
                return '', ''
            return self._execute_side_effect(*cmd, **kwargs)
        self._execute.side_effect = execute
        mock_warn = self.mock_object(lustre_quota.LOG, 'warning')
        self._do_setup()
        self.assertEqual(set(), self.driver._quotas.shares)
        self.assertIn('a block limit of 0K', mock_warn.call_args.args[1])

    def test_probe_lustre_2_17(self):
        # 2.17 titles a project "<unknown>" (or its /etc/projid name).
        self.version = '2.17.0'
        self._do_setup()
        self.assertEqual({SHARE, SHARE2}, self.driver._quotas.shares)

    @ddt.data('2.12.9', '2.15.4', '2.16.1', '2.17.0')
    def test_create_volume_with_default_project_quota(self, version):
        # Every id without limits of its own shows the default project
        # quota's: marked by lfs up to 2.15, compared with lfs quota -P
        # after. Only ids with usage or limits of their own are taken.
        self.version = version
        self.default_limit = 10485760
        self._setup()
        volume = self._volume()
        self.used_ids = {self._first_id(volume)}
        self.driver._apply_project_quota(volume)
        self.assertEqual(str(self._first_id(volume) + 1),
                         volume.admin_metadata['lustre_project_id'])
        defaults = [c for c in self._quota_commands() if c.args[2] == '-P']
        self.assertEqual(int(version >= '2.16'), len(defaults))

    def test_project_id_range(self):
        self.override_config('lustre_project_id_min', 70000)
        self.override_config('lustre_project_id_max', 70009)
        self.driver = self._make_driver()
        self._setup()
        volume = self._volume()
        self.driver._apply_project_quota(volume)
        seed = int(volume.id.replace('-', '')[:8], 16)
        self.assertEqual(str(70000 + seed % 10),
                         volume.admin_metadata['lustre_project_id'])

    def test_project_id_range_all_taken(self):
        self.override_config('lustre_project_id_min', 70000)
        self.override_config('lustre_project_id_max', 70002)
        self.driver = self._make_driver()
        self._setup()
        self.used_ids = {70000, 70001, 70002}
        self.assertRaises(lustre_client.LustreException,
                          self.driver._apply_project_quota, self._volume())
        self.assertEqual(3, len(self._commands('lfs')))

    def test_project_id_range_inverted_refused(self):
        self.override_config('lustre_project_id_min', 70000)
        self.override_config('lustre_project_id_max', 69999)
        self.driver = self._make_driver()
        exc = self.assertRaises(exception.InvalidConfigurationValue,
                                self._do_setup)
        self.assertIn('lustre_project_id_min', str(exc))

    def test_project_id_range_overlapping_manila_warned(self):
        self.override_config('lustre_project_id_min', 50000)
        self.override_config('lustre_project_id_max', 99999)
        self.driver = self._make_driver()
        mock_warn = self.mock_object(lustre_quota.LOG, 'warning')
        self._do_setup()
        self.assertIn('Manila', mock_warn.call_args.args[0])

    def test_project_id_range_default_clear_of_manila(self):
        self.assertGreater(lustre_quota.PROJECT_ID_MIN, 60000)
        self.assertEqual(
            (lustre_quota.PROJECT_ID_MIN, lustre_quota.PROJECT_ID_MAX),
            (self.driver.configuration.lustre_project_id_min,
             self.driver.configuration.lustre_project_id_max))

    def test_create_volume_sets_project_and_limit(self):
        self._setup()
        volume = self._volume(extra_specs={'provisioning:type': 'thin'})
        self.driver._do_create_volume(volume)
        prj = self._first_id(volume)
        self.assertEqual(str(prj), volume.admin_metadata['lustre_project_id'])
        self.assertEqual(
            [mock.call('lfs', 'quota', '-p', str(prj), self.mnt,
                       run_as_root=True),
             mock.call('lfs', 'setquota', '-p', str(prj), '-B',
                       '%dK' % LIMIT_1G, self.mnt, run_as_root=True),
             mock.call('lfs', 'project', '-p', str(prj), '--',
                       self._path(volume.name), run_as_root=True)],
            self._quota_commands())

    def test_restore_target_keeps_project(self):
        # A qcow2 volume is made a raw file for a restore: the new file
        # gets the volume's project id, under a limit of one image.
        self._setup()
        volume = self._with_id(self._volume(
            volume_format='qcow2', size=2,
            status=fields.VolumeStatus.RESTORING_BACKUP))
        snap = '%s.%s' % (volume.name, fake.SNAPSHOT_ID)
        self._image(volume.name, 'qcow2', 2)
        self._image(snap, 'qcow2', 2, backing=volume.name,
                    backing_fmt='qcow2')
        self._write_info(volume, {'active': snap})
        self.driver.initialize_connection(volume, {})
        # The overlay and the .info file are gone; an empty raw file of
        # the volume's size is left for the backup's bytes.
        self.assertEqual([volume.name], os.listdir(self.mnt))
        self.assertEqual(b'', self._data_of(self._path(volume.name)))
        self.assertEqual(
            [mock.call('lfs', 'setquota', '-p', '77', '-B',
                       '%dK' % (2 * 1048576 + 2 * 4096 + 1024), self.mnt,
                       run_as_root=True),
             mock.call('lfs', 'project', '-p', '77', '--',
                       self._path(volume.name), run_as_root=True)],
            self._quota_commands())

    def test_create_volume_id_collision_takes_next(self):
        self._setup()
        volume = self._volume()
        self._chain_files(volume, guest_data=False)
        self.used_ids = {self._first_id(volume), self._first_id(volume) + 1}
        self.driver._apply_project_quota(volume)
        self.assertEqual(str(self._first_id(volume) + 2),
                         volume.admin_metadata['lustre_project_id'])
        self.assertEqual(3, len(self._commands('lfs')) - 2)

    def test_create_volume_no_free_id(self):
        self._setup()
        volume = self._volume(extra_specs={'provisioning:type': 'thin'})
        self.used_ids = {self._first_id(volume) + n
                         for n in range(lustre_quota.PROJECT_ID_PROBES)}
        self.assertRaises(lustre_client.LustreException,
                          self.driver._do_create_volume, volume)
        self.assertNotIn('lustre_project_id', volume.admin_metadata)
        self.assertEqual([], self._commands('setquota'))

    def test_create_volume_project_fails_cleans_up(self):
        self._setup()
        volume = self._volume(extra_specs={'provisioning:type': 'thin'})
        self._touch(volume.name)
        os.remove(self._path(volume.name))

        def execute(*cmd, **kwargs):
            if cmd[:2] == ('lfs', 'project'):
                raise putils.ProcessExecutionError(stderr='EPERM')
            return self._execute_side_effect(*cmd, **kwargs)
        self._execute.side_effect = execute
        self.assertRaises(putils.ProcessExecutionError,
                          self.driver._do_create_volume, volume)
        self.assertFalse(os.path.exists(self._path(volume.name)))
        prj = self._first_id(volume)
        self.assertEqual(
            mock.call('lfs', 'setquota', '-p', str(prj), '-B', '0K',
                      self.mnt, run_as_root=True),
            self._quota_commands()[-1])

    def test_share_without_quota_untouched(self):
        self._setup()
        self.driver._quotas.shares = {SHARE2}
        volume = self._volume()
        self.driver._apply_project_quota(volume)
        self.assertEqual([], self._quota_commands())

    def test_snapshot_raises_limit_and_tags_overlay(self):
        self._setup()
        volume = self._volume()
        snap = self._chain_files(volume, [fake.SNAPSHOT_ID],
                                 guest_data=False)['active']
        self._with_id(volume)
        self.driver._apply_project_quota(volume)
        self.assertEqual(
            [mock.call('lfs', 'setquota', '-p', '77', '-B',
                       '%dK' % (2 * LIMIT_1G), self.mnt, run_as_root=True),
             mock.call('lfs', 'project', '-p', '77', '--',
                       self._path(volume.name), self._path(snap),
                       self._path(volume.name + '.info'), run_as_root=True)],
            self._quota_commands())

    def test_create_and_delete_snapshot_apply(self):
        self._setup()
        volume = self._volume()
        self._chain_files(volume, guest_data=False)
        snapshot = self._snapshot(volume)
        mock_apply = self.mock_object(self.driver, '_apply_project_quota')
        self.driver.create_snapshot(snapshot)
        self.driver._revert_to_snapshot(self.context, volume, snapshot)
        self.driver.delete_snapshot(snapshot)
        self.assertEqual([mock.call(volume)] * 3, mock_apply.call_args_list)
        self.assertEqual(sorted([volume.name, volume.name + '.info']),
                         sorted(os.listdir(self.mnt)))

    def test_extend_raises_limit_before_resize(self):
        self._setup()
        volume = self._volume(extra_specs={'provisioning:type': 'thick'})
        self._chain_files(volume, guest_data=False)
        self._with_id(volume)
        self._capacity(50, 100)
        self.driver.extend_volume(volume, 3)
        self.assertEqual(
            mock.call('lfs', 'setquota', '-p', '77', '-B',
                      '%dK' % (3 * 1048576 + 3 * 4096 + 1024), self.mnt,
                      run_as_root=True),
            self._execute.call_args_list[0])
        self.assertEqual(['lfs', 'lfs', 'qemu-img', 'fallocate'],
                         [c.args[0] for c in self._execute.call_args_list])
        self.assertEqual(3 * units.Gi,
                         os.path.getsize(self._path(volume.name)))

    def test_delete_clears_limit(self):
        self._setup()
        volume = self._with_id(self._volume())
        self._touch(volume.name)
        self.driver.delete_volume(volume)
        self.assertEqual([mock.call('lfs', 'setquota', '-p', '77', '-B',
                                    '0K', self.mnt, run_as_root=True)],
                         self._quota_commands())

    def test_delete_clear_fails_warns(self):
        self._setup()
        volume = self._with_id(self._volume())
        self._touch(volume.name)
        self.quota_error = None

        def execute(*cmd, **kwargs):
            if cmd[:2] == ('lfs', 'setquota'):
                raise putils.ProcessExecutionError(stderr='quotactl failed')
            return self._execute_side_effect(*cmd, **kwargs)
        self._execute.side_effect = execute
        mock_warn = self.mock_object(lustre_quota.LOG, 'warning')
        self.driver.delete_volume(volume)
        self.assertFalse(os.path.exists(self._path(volume.name)))
        mock_warn.assert_called_once()

    def test_unmanage_releases_limit(self):
        self._setup()
        volume = self._with_id(self._volume())
        self.driver.unmanage(volume)
        self.assertEqual([mock.call('lfs', 'setquota', '-p', '77', '-B',
                                    '0K', self.mnt, run_as_root=True)],
                         self._quota_commands())

    def test_clone_and_manage_apply_to_their_share(self):
        self._setup()
        mock_apply = self.mock_object(self.driver, '_apply_project_quota')
        self.override_config('lustre_qcow2_volumes', False)
        volume = self._volume(id=fake.VOLUME2_ID, provider_location=None)
        src = self._volume()
        self._chain_files(src, guest_data=False)
        self.driver._create_cloned_volume(volume, src, self.context)
        self.assertEqual(SHARE, volume.provider_location)
        mock_apply.assert_called_once_with(volume)
        managed = self._volume(id=fake.VOLUME3_ID, provider_location=None)
        self._touch('image.img')
        mock_apply.reset_mock()
        self.driver.manage_existing(managed,
                                    {'source-name': SHARE + '/image.img'})
        self.assertEqual(SHARE, managed.provider_location)
        mock_apply.assert_called_once_with(managed)

    @ddt.data((1, 0, LIMIT_1G), (1, 1, LIMIT_1G), (1, 3, 3 * LIMIT_1G),
              (2, 1, 2 * 1048576 + 2 * 4096 + 1024))
    @ddt.unpack
    def test_limit_kib(self, size_gb, images, limit):
        # The size per image, with room for qcow2 metadata and .info.
        self.assertEqual(limit, lustre_quota.limit_kib(size_gb, images))

    def test_project_id_recorded(self):
        self.assertIsNone(lustre_quota.project_id(self._volume()))
        self.assertEqual(77, lustre_quota.project_id(
            self._with_id(self._volume())))
