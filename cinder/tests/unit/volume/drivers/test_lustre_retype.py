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

"""Retyping Lustre volumes in place (lustre_retype).

lfs is mocked with real output; qemu-img runs for real on the test's files,
as in test_lustre.
"""

import os
from unittest import mock

import ddt
from oslo_concurrency import processutils as putils
from oslo_utils import units

from cinder import exception
from cinder.tests.unit import fake_constants as fake
from cinder.tests.unit.volume.drivers import test_lustre
from cinder.tests.unit.volume.drivers import test_lustre_client as lfs_out
from cinder.volume.drivers import lustre_client
from cinder.volume.drivers import lustre_images


@ddt.ddt
class LustreRetypeTestCase(test_lustre.LustreTestBase):
    """Retype between layouts with lfs migrate."""

    def setUp(self):
        super().setUp()
        self.mock_object(lustre_client.LustreMounter, 'ensure_mounted')
        # What the share's directory has as default layout, the version
        # of lfs, and the lfs df of the share.
        self.getstripe = test_lustre.GETSTRIPE_D
        self.version = '2.15.4'
        self.df = test_lustre.LFS_DF

    def _execute_side_effect(self, *cmd, **kwargs):
        answers = {'getstripe': self.getstripe, 'df': self.df,
                   '--version': 'lfs %s\n' % self.version}
        if cmd[0] == 'lfs' and cmd[1] in answers:
            return answers[cmd[1]], ''
        return super()._execute_side_effect(*cmd, **kwargs)

    def _retype(self, volume, new_specs, diff_specs, host=None, **diff):
        new_type = {'extra_specs': new_specs}
        full_diff = {'encryption': {}, 'qos_specs': {},
                     'extra_specs': diff_specs}
        full_diff.update(diff)
        return self.driver.retype(self.context, volume, new_type, full_diff,
                                  {'host': host or volume.host})

    def _migrations(self):
        return [c for c in self._execute.call_args_list
                if c.args[:2] == ('lfs', 'migrate')]

    def test_retype_migrates_base_and_overlays(self):
        volume = self._volume(extra_specs={'lustre:stripe_count': '1'})
        snap = self._chain_files(volume, [fake.SNAPSHOT_ID],
                                 guest_data=False)['active']
        result = self._retype(volume, {'lustre:stripe_count': '4'},
                              {'lustre:stripe_count': ('1', '4')})
        self.assertEqual((True, None), result)
        self.assertEqual(
            [mock.call('lfs', 'migrate', '-c', '4', '--', self._path(name),
                       run_as_root=True) for name in (volume.name, snap)],
            self._migrations())

    @ddt.data('symlink', 'hardlink')
    def test_retype_refuses_a_link(self, kind):
        # lfs migrate rewrites a file in place: never one that a link
        # makes another volume's or the host's.
        volume = self._volume(extra_specs={'lustre:stripe_count': '1'})
        snap = self._chain_files(volume, [fake.SNAPSHOT_ID],
                                 guest_data=False)['active']
        os.unlink(self._path(snap))
        if kind == 'symlink':
            os.symlink(self.host_file, self._path(snap))
        else:
            os.link(self.host_file, self._path(snap))
        self.assertRaises(lustre_images.UnsafeImage, self._retype, volume,
                          {'lustre:stripe_count': '4'},
                          {'lustre:stripe_count': ('1', '4')})
        self.assertEqual([], self._commands('lfs'))

    def test_retype_to_type_without_layout_uses_default(self):
        volume = self._volume(extra_specs={'lustre:stripe_count': '4'})
        self._chain_files(volume, guest_data=False)
        self._execute.side_effect = lambda *cmd, **kw: (
            (test_lustre.GETSTRIPE_D, '') if 'getstripe' in cmd
            else self._execute_side_effect(*cmd, **kw))
        result = self._retype(volume, {}, {'lustre:stripe_count': ('4',
                                                                   None)})
        self.assertEqual((True, None), result)
        self.assertEqual(
            [mock.call('lfs', 'migrate', '-c', '1', '-S', '1024K', '--',
                       self._path(volume.name), run_as_root=True)],
            self._migrations())

    def test_retype_to_type_without_layout_keeps_pfl_default(self):
        # Real 2.17.0 PFL default: every component, not the first one
        # flattened over the whole file (-c 1 -S 1024K).
        self.getstripe = lfs_out.GETSTRIPE_2_17_PFL
        volume = self._volume(extra_specs={'lustre:stripe_count': '4'})
        self._touch(volume.name)
        self.assertEqual((True, None), self._retype(
            volume, {}, {'lustre:stripe_count': ('4', None)}))
        self.assertEqual(
            [mock.call('lfs', 'migrate', '-E', '65536K', '-c', '1', '-S',
                       '1024K', '-p', 'fast', '-E', '-1', '-c', '2', '-S',
                       '4096K', '-p', 'fast', '--', self._path(volume.name),
                       run_as_root=True)],
            self._migrations())

    @ddt.data(lfs_out.GETSTRIPE_2_15_DOM, lfs_out.GETSTRIPE_2_17_DOM,
              lfs_out.GETSTRIPE_2_15_SEL, '')
    def test_retype_default_lfs_migrate_cannot_express(self, getstripe):
        # Data on the MDT (which DoM would flatten into -c 0), a
        # self-extending layout, or none read: a generic migration
        # writes a new file, which gets the directory's default.
        self.getstripe = getstripe
        volume = self._volume(extra_specs={'lustre:stripe_count': '4'})
        self._touch(volume.name)
        self.assertEqual((False, None), self._retype(
            volume, {}, {'lustre:stripe_count': ('4', None)}))
        self.assertEqual([], self._migrations())

    @ddt.data(('2.12.9', False), ('2.14.0', False), ('2.15.4', True),
              ('2.17.0', True))
    @ddt.unpack
    def test_retype_sparse_file_where_migrate_fills_holes(self, version,
                                                          in_place):
        # lfs migrate writes every hole before 2.15 (LU-13397): a thin
        # volume would become as large as its size, and need that room.
        self.version = version
        volume = self._volume(extra_specs={}, volume_format='raw')
        self._sparse_file(volume.name, units.Gi)
        self.assertEqual((in_place, None), self._retype(
            volume, {'lustre:stripe_count': '2'},
            {'lustre:stripe_count': (None, '2')}))
        self.assertEqual(int(in_place), len(self._migrations()))

    @ddt.data('2.14.0', '2.17.0')
    def test_retype_file_without_holes_before_2_15(self, version):
        self.version = version
        volume = self._volume(extra_specs={}, volume_format='qcow2')
        self._touch(volume.name)
        self.assertEqual((True, None), self._retype(
            volume, {'lustre:stripe_count': '2'},
            {'lustre:stripe_count': (None, '2')}))
        self.assertEqual(1, len(self._migrations()))

    @ddt.data(('2.14.0', {}, []),
              ('2.17.0', {'lustre:ost_pool': 'ssd'}, ['--pool', 'testfs.ssd']))
    @ddt.unpack
    def test_retype_without_room_for_a_copy_refused(self, version, specs,
                                                    pool_args):
        # lfs migrate writes the new copy before it drops the old one:
        # the space of the new layout must hold it.
        self.version = version
        self.df = test_lustre._lfs_df(100, 0)
        volume = self._volume(extra_specs={}, volume_format='raw')
        self._touch(volume.name, content='x' * 8192)
        specs = dict(specs, **{'lustre:stripe_count': '2'})
        exc = self.assertRaises(
            exception.InvalidVolume, self._retype, volume, specs,
            {key: (None, value) for key, value in specs.items()})
        self.assertIn('lfs migrate needs', str(exc))
        self.assertEqual([], self._migrations())
        self.assertEqual(mock.call('lfs', 'df', '--lazy', *pool_args,
                                   self.mnt),
                         self._commands('lfs')[-1])

    def test_retype_attached_refused(self):
        volume = self._volume(extra_specs={})
        self._attach(volume)
        exc = self.assertRaises(exception.InvalidVolume, self._retype,
                                volume, {'lustre:stripe_count': '2'},
                                {'lustre:stripe_count': (None, '2')})
        self.assertIn('attached', str(exc))
        self.assertEqual([], self._commands('lfs'))

    @ddt.data({'lustre:stripe_count': '0'}, {'lustre:bogus': '1'})
    def test_retype_invalid_specs(self, specs):
        volume = self._volume(extra_specs={})
        exc = self.assertRaises(
            exception.InvalidVolumeType, self._retype, volume, specs,
            {key: (None, value) for key, value in specs.items()})
        self.assertIn(list(specs)[0], str(exc))
        self.assertEqual([], self._commands('lfs'))

    def test_retype_ost_pool_contradicting_pool_refused(self):
        self.override_config('lustre_ost_pools', ['testfs.ssd'])
        self.driver = self._make_driver()
        volume = self._volume(host=test_lustre.HOST + '#testfs.ssd',
                              extra_specs={})
        self.assertRaises(exception.InvalidVolumeType, self._retype, volume,
                          {'lustre:ost_pool': 'hdd'},
                          {'lustre:ost_pool': (None, 'hdd')})

    @ddt.data(
        ({'provisioning:type': 'thick'},
         {'provisioning:type': ('thin', 'thick')}, {}),
        ({}, {}, {'encryption': {'cipher': ('a', 'b')}}),
    )
    @ddt.unpack
    def test_retype_falls_back(self, specs, diff_specs, diff):
        volume = self._volume(extra_specs={'provisioning:type': 'thin'})
        self.assertEqual((False, None),
                         self._retype(volume, specs, diff_specs, **diff))
        self.assertEqual([], self._commands('lfs'))

    def test_retype_other_pool_falls_back(self):
        volume = self._volume(extra_specs={})
        self.assertEqual((False, None), self._retype(
            volume, {'lustre:stripe_count': '2'},
            {'lustre:stripe_count': (None, '2')},
            host=test_lustre.HOST + '#' + test_lustre.POOL2))
        self.assertEqual([], self._commands('lfs'))

    def _retype_multiattach(self, volume, to=True):
        specs = {'multiattach': '<is> True'} if to else {}
        change = (None, '<is> True') if to else ('<is> True', None)
        return self._retype(volume, specs, {'multiattach': change})

    def test_retype_to_multiattach_makes_one_raw_file(self):
        # A thin volume is a qcow2 file; guests share only a raw one.
        # Cinder retypes multiattach in place (migration policy never).
        volume = self._volume()
        self._chain_files(volume, base_fmt='qcow2')
        path = self._path(volume.name)
        self.assertEqual((True, None), self._retype_multiattach(volume))
        self.assertEqual('raw', self._written_format(path))
        self.assertNotIn('backing-filename', self._info_of(path, 'raw'))
        self._assert_guest_view([(path, 'raw')], 1)
        self.assertEqual([volume.name], os.listdir(self.mnt))
        self.assertEqual('raw', volume.admin_metadata['format'])
        self.assertEqual(['convert'], self._qemu_img())

    def test_retype_to_multiattach_after_online_merge(self):
        # Nova merged the last snapshot into the active overlay: that
        # overlay, unnamed base below it, is what is rewritten.
        volume = self._volume()
        self._chain_files(volume, [fake.SNAPSHOT_ID])
        overlay = '%s.%s' % (volume.name, fake.SNAPSHOT_ID)
        test_lustre._run('qemu-img', 'rebase', '-b', '', '-f', 'qcow2',
                         self._path(overlay))
        os.unlink(self._path(volume.name))
        self._write_info(volume, {'active': overlay})
        self.assertEqual((True, None), self._retype_multiattach(volume))
        path = self._path(volume.name)
        self._assert_guest_view([(path, 'raw')], 2, overlays=1)
        self.assertEqual([volume.name], os.listdir(self.mnt))

    def test_retype_to_multiattach_raw_unchanged(self):
        volume = self._volume()
        self._chain_files(volume)
        self.assertEqual((True, None), self._retype_multiattach(volume))
        self._execute.assert_not_called()

    def test_retype_from_multiattach_unchanged(self):
        volume = self._volume(multiattach=True)
        self._chain_files(volume)
        self.assertEqual((True, None),
                         self._retype_multiattach(volume, to=False))
        self._execute.assert_not_called()

    def test_retype_to_multiattach_with_snapshots_refused(self):
        volume = self._volume()
        self._chain_files(volume, [fake.SNAPSHOT_ID], guest_data=False)
        before = sorted(os.listdir(self.mnt))
        exc = self.assertRaises(exception.InvalidVolume,
                                self._retype_multiattach, volume)
        self.assertIn('snapshots', str(exc))
        self.assertEqual(before, sorted(os.listdir(self.mnt)))
        self.assertEqual([], self._qemu_img())

    def test_retype_to_multiattach_failed_copy_keeps_the_volume(self):
        volume = self._volume()
        self._chain_files(volume, base_fmt='qcow2')

        def execute(*cmd, **kwargs):
            if cmd[:2] == ('qemu-img', 'convert'):
                raise putils.ProcessExecutionError(stderr='No space left')
            return self._execute_side_effect(*cmd, **kwargs)
        self._execute.side_effect = execute
        self.assertRaises(putils.ProcessExecutionError,
                          self._retype_multiattach, volume)
        path = self._path(volume.name)
        self.assertEqual([volume.name], os.listdir(self.mnt))
        self.assertEqual('qcow2', self._written_format(path))
        self._assert_guest_view([(path, 'qcow2')], 1, overlays=0)

    def test_retype_provisioning_default_made_explicit(self):
        # Unset and 'thin' are the same with lustre_sparsed_volumes.
        volume = self._volume(extra_specs=None)
        self._chain_files(volume, guest_data=False)
        self.assertEqual((True, None), self._retype(
            volume, {'provisioning:type': 'thin', 'lustre:stripe_count': '2'},
            {'provisioning:type': (None, 'thin'),
             'lustre:stripe_count': (None, '2')}))
        self.assertEqual(1, len(self._migrations()))

    def test_retype_qos_only(self):
        volume = self._volume(extra_specs={})
        self.assertEqual((True, None), self._retype(
            volume, {}, {}, qos_specs={'read_iops_sec': (None, '100')}))
        self._execute.assert_not_called()
