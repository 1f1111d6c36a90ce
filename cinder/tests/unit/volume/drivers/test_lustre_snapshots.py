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

"""Unit tests of Lustre snapshots, clones and revert (lustre_snapshots).

qemu-img, dd and cp run for real on the test's files, as in test_lustre.
"""

import errno
import json
import logging
import os
from unittest import mock

import ddt
import fixtures
from oslo_concurrency import processutils as putils
from oslo_utils import units

from cinder import context
from cinder.db import api as db_api
from cinder import exception
from cinder import objects
from cinder.objects import fields
from cinder.tests.unit import fake_constants as fake
from cinder.tests.unit.volume.drivers import test_lustre
from cinder.volume.drivers import lustre
from cinder.volume.drivers import lustre_client
from cinder.volume.drivers import lustre_images
from cinder.volume.drivers import lustre_snapshots
from cinder.volume.drivers import remotefs

SHARE = test_lustre.SHARE
SHARE2 = test_lustre.SHARE2
POOL = test_lustre.POOL
POOL2 = test_lustre.POOL2
HOST = test_lustre.HOST
PASSPHRASE = test_lustre.PASSPHRASE
CHUNK = test_lustre.CHUNK
GUEST_BEFORE = test_lustre.GUEST_BEFORE
_run = test_lustre._run

# The reports Cinder's API takes from Nova (os-update_snapshot_status), by
# the snapshot's status.
_API_STATUS_UPDATES = {
    fields.SnapshotStatus.CREATING: (fields.SnapshotStatus.CREATING,
                                     fields.SnapshotStatus.AVAILABLE,
                                     fields.SnapshotStatus.ERROR),
    fields.SnapshotStatus.DELETING: (fields.SnapshotStatus.DELETING,
                                     fields.SnapshotStatus.ERROR_DELETING),
}


class _SnapshotsTestBase(test_lustre.LustreTestBase):
    """A Nova, and volumes with one snapshot."""

    def _nova(self):
        """A Nova that merges as libvirt does and reports it done."""
        self.driver._nova = mock.Mock()
        self.driver._nova.delete_volume_snapshot.side_effect = (
            lambda ctxt, snapshot_id, info: self._libvirt_merge(info))
        self.mock_object(remotefs.db, 'snapshot_get',
                         return_value={'status': 'deleting',
                                       'progress': '90%'})
        return self.driver._nova

    def _libvirt_merge(self, delete_info):
        """What Nova's libvirt driver does to the files for a deletion."""
        with open(self._path('volume-%s.info' %
                             delete_info['volume_id'])) as f:
            info = json.load(f)
        target = delete_info['merge_target_file']
        merged = delete_info['file_to_merge']
        if target is None:
            # Pull: what is above `merged` into the active image, whose
            # backing file becomes `merged` (none: everything).
            _run('qemu-img', 'rebase', '-f', 'qcow2',
                 *(('-F', self._format_of(merged)) if merged else ()),
                 '-b', merged or '', self._path(info['active']))
            return
        # Commit `merged` into the image below it, then rebase the image
        # above it onto that image.
        _run('qemu-img', 'commit', '-f', 'qcow2', self._path(merged))
        above = next(name for name in self._chain_names(info['active'])
                     if self._backing_of(name) == merged)
        _run('qemu-img', 'rebase', '-u', '-f', 'qcow2', '-F',
             self._format_of(target), '-b', target, self._path(above))

    def _image_info(self, name):
        return json.loads(_run('qemu-img', 'info', '-U', '--output=json',
                               self._path(name)))

    def _format_of(self, name):
        return self._image_info(name)['format']

    def _backing_of(self, name):
        return self._image_info(name).get('backing-filename')

    def _chain_names(self, name):
        while name:
            yield name
            name = self._backing_of(name)

    def _snapshot_chain(self, volume, base_fmt='raw', **kwargs):
        """A volume with one snapshot, whose guest wrote before and after.

        The snapshot's data is the base's (GUEST_BEFORE at 0); the write
        after it (0x50 at CHUNK) is the overlay's.
        """
        self._chain_files(volume, [fake.SNAPSHOT_ID], base_fmt=base_fmt,
                          **kwargs)
        return self._snapshot(volume)

    def _attached_clone_source(self):
        """An in-use raw volume being backed up, its backup view, a Nova.

        The fake Nova reports its work as Cinder's API takes it
        (os-update_snapshot_status): a report the API would refuse changes
        nothing and is recorded in ``nova.refused``.
        """
        src = self._volume(volume_format='raw')
        self._chain_files(src)
        self._attach(src)
        src.status = 'backing-up'
        src.volume_attachment.obj_reset_changes(recursive=True)
        volume = self._volume(id=fake.VOLUME2_ID)
        self._make_backup_view(volume)
        nova = self.driver._nova = mock.Mock(refused=[])
        nova.create_volume_snapshot.side_effect = (
            lambda ctxt, volume_id, info: self._nova_reports(
                nova, info['snapshot_id'], 'creating'))
        self.mock_object(remotefs, 'time')
        self.mock_object(objects.VolumeAttachment, 'save', autospec=True,
                         side_effect=lambda att: att.obj_reset_changes())
        return src, volume, nova

    @staticmethod
    def _nova_reports(nova, snapshot_id, status):
        """What Nova sends Cinder's API once it has done its part."""
        ctxt = context.get_admin_context()
        current = db_api.snapshot_get(ctxt, snapshot_id).status
        if status not in _API_STATUS_UPDATES.get(current, ()):
            nova.refused.append((current, status))
            return
        db_api.snapshot_update(ctxt, snapshot_id,
                               {'status': status, 'progress': '90%'})

    def _merge_into_active(self, volume):
        """Nova's merge: the active overlay pulls in what is below it."""
        active = self._read_info(volume)['active']
        _run('qemu-img', 'rebase', '-f', 'qcow2', '-b', '',
             self._path(active))


@ddt.ddt
class LustreSnapshotTestCase(_SnapshotsTestBase):

    @ddt.data('create_snapshot', 'create_volume_from_snapshot',
              'create_cloned_volume', 'revert_to_snapshot',
              '_copy_volume_from_snapshot')
    def test_snapshots_disabled(self, operation):
        self.override_config('lustre_snapshot_support', False)
        volume = self._volume()
        new_volume = self._volume(id=fake.VOLUME2_ID)
        snapshot = self._snapshot(volume)
        self._chain_files(volume, guest_data=False)
        mock_create = self.mock_object(self.driver, '_create_snapshot')
        args = {'create_snapshot': (snapshot,),
                'create_volume_from_snapshot': (new_volume, snapshot),
                'create_cloned_volume': (new_volume, volume),
                'revert_to_snapshot': (self.context, volume, snapshot),
                '_copy_volume_from_snapshot': (snapshot, new_volume, 1)}
        exc = self.assertRaises(exception.VolumeDriverException,
                                getattr(self.driver, operation),
                                *args[operation])
        self.assertIn('lustre_snapshot_support', str(exc))
        mock_create.assert_not_called()
        self._execute.assert_not_called()
        self.assertEqual([volume.name], os.listdir(self.mnt))

    def test_create_snapshot_offline(self):
        volume = self._volume()
        self._chain_files(volume)
        snapshot = self._snapshot(volume)
        self.driver.create_snapshot(snapshot)
        new = '%s.%s' % (volume.name, snapshot.id)
        self.assertEqual({'active': new, snapshot.id: new},
                         self._read_info(volume))
        info = self._info_of(self._path(new), 'qcow2')
        # The backing file by its name in the same directory (the share
        # is mounted elsewhere on compute hosts), in its recorded format.
        self.assertEqual(volume.name, info['backing-filename'])
        self.assertEqual('raw', info['backing-filename-format'])
        self.assertEqual(units.Gi, info['virtual-size'])
        self.assertEqual('qcow2', volume.admin_metadata['format'])
        self.assertEqual('raw', volume.admin_metadata['base_format'])
        self._assert_guest_view([(self._path(new), 'qcow2'),
                                 (self._path(volume.name), 'raw')], 1)
        # qemu-img did not open the base to make the overlay.
        self.assertEqual(['create'], self._qemu_img())

    def test_create_snapshot_of_raw_volume_holding_a_qcow2_header(self):
        # Finding 12: the guest of a raw volume wrote a qcow2 header that
        # names a host file. The overlay records the base as raw, as Cinder
        # knows it, not as what a probe of the guest's bytes would say:
        # the chain never reaches the host file.
        volume = self._volume()
        self._chain_files(volume, guest_data=False)
        base = self._path(volume.name)
        header = self._forged_qcow2(backing=self.host_file)
        self._write_raw(base, header)
        snapshot = self._snapshot(volume)
        self.driver.create_snapshot(snapshot)
        new = self._path('%s.%s' % (volume.name, snapshot.id))
        self.assertEqual('raw',
                         self._info_of(new, 'qcow2')[
                             'backing-filename-format'])
        self.assertEqual(header, self._guest_read(
            [(new, 'qcow2'), (base, 'raw')], [0], len(header))[0])
        self._assert_host_file_unread(base, new)

    def test_create_snapshot_with_layout(self):
        volume = self._volume(extra_specs={'lustre:stripe_count': '2'})
        self._chain_files(volume, guest_data=False)
        snapshot = self._snapshot(volume)
        self.driver.create_snapshot(snapshot)
        new = self._path('%s.%s' % (volume.name, snapshot.id))
        self.assertEqual(mock.call('lfs', 'setstripe', '-c', '2', '--', new,
                                   run_as_root=True),
                         self._execute.call_args_list[0])

    def test_create_snapshot_never_overwrites(self):
        # A file where the new overlay goes (an overlay a failed online
        # snapshot left, with a guest's writes in it) is not replaced.
        volume = self._volume()
        self._chain_files(volume, guest_data=False)
        snapshot = self._snapshot(volume)
        path = self._touch('%s.%s' % (volume.name, snapshot.id), 'guest')
        exc = self.assertRaises(lustre_client.LustreException,
                                self.driver.create_snapshot, snapshot)
        self.assertIn('already exists', str(exc))
        with open(path) as f:
            self.assertEqual('guest', f.read())
        self.assertEqual([], self._qemu_img())
        self.assertFalse(os.path.exists(self._path(volume.name + '.info')))

    def test_create_snapshot_failure_removes_the_new_overlay(self):
        volume = self._volume(extra_specs={'lustre:stripe_count': '2'})
        self._chain_files(volume, guest_data=False)
        snapshot = self._snapshot(volume)
        new = self._path('%s.%s' % (volume.name, snapshot.id))

        def execute(*cmd, **kwargs):
            if cmd[0] == 'lfs':
                open(new, 'w').close()
            if cmd[:2] == ('qemu-img', 'create'):
                raise putils.ProcessExecutionError(stderr='No space left')
            return self._execute_side_effect(*cmd, **kwargs)
        self._execute.side_effect = execute
        self.assertRaises(putils.ProcessExecutionError,
                          self.driver.create_snapshot, snapshot)
        self.assertEqual([volume.name], os.listdir(self.mnt))

    @ddt.data('true', 'false')
    def test_temporary_snapshot_secure_file_operations(self, secure):
        # With secure file operations (which refuse snapshots, not clones
        # through a temporary snapshot), the overlay is owned like its
        # backing file.
        self.override_config('nas_secure_file_operations', secure)
        self.driver = self._make_driver()
        volume = self._volume()
        self._chain_files(volume, guest_data=False)
        self.driver._create_snapshot(self._snapshot(volume))
        new = self._path('%s.%s' % (volume.name, fake.SNAPSHOT_ID))
        self.assertEqual(
            [mock.call('chown', '--reference=%s' % self._path(volume.name),
                       new, run_as_root=True)] if secure == 'true' else [],
            self._commands('chown'))

    def test_create_snapshot_online(self):
        volume = self._volume()
        self._chain_files(volume)
        self._attach(volume)
        snapshot = self._snapshot(volume)
        self.driver._nova = mock.Mock()
        mock_get = self.mock_object(
            remotefs.db, 'snapshot_get',
            return_value={'status': fields.SnapshotStatus.CREATING,
                          'progress': '90%'})
        mock_attachment_save = self.mock_object(objects.VolumeAttachment,
                                                'save')
        self.driver.create_snapshot(snapshot)
        new = '%s.%s' % (volume.name, snapshot.id)
        self.driver._nova.create_volume_snapshot.assert_called_once_with(
            snapshot.obj_context, volume.id,
            {'type': 'qcow2', 'new_file': new, 'snapshot_id': snapshot.id})
        mock_get.assert_called_once_with(snapshot.obj_context, snapshot.id)
        self.assertEqual({'active': new, snapshot.id: new},
                         self._read_info(volume))
        connection_info = volume.volume_attachment[0].connection_info
        self.assertEqual(new, connection_info['name'])
        self.assertEqual('qcow2', connection_info['format'])
        mock_attachment_save.assert_called_once_with()
        # The overlay Nova switched the guest to: on the raw base, as raw.
        info = self._info_of(self._path(new), 'qcow2')
        self.assertEqual((volume.name, 'raw'), (
            info['backing-filename'], info['backing-filename-format']))

    @ddt.data(False, True)
    def test_create_snapshot_secure_file_operations_refused(self, attached):
        # With secure file operations qemu-img runs as the cinder user,
        # which cannot read what libvirt gave to qemu (an attached
        # volume's active image, whose mode is 0600 here): refused as the
        # NFS driver refuses it, before anything is written.
        self.override_config('nas_secure_file_operations', 'true')
        self.driver = self._make_driver()
        self.mock_object(self.driver._mounter, 'ensure_mounted')
        self.driver.set_nas_security_options(False)
        self.assertFalse(self.driver._execute_as_root)
        volume = self._volume(volume_format='raw')
        self._chain_files(volume, guest_data=False)
        os.chmod(self._path(volume.name), 0o600)
        if attached:
            self._attach(volume)
        self.driver._nova = mock.Mock()
        snapshot = self._snapshot(volume)
        before = sorted(os.listdir(self.mnt))
        self._execute.reset_mock()
        exc = self.assertRaises(exception.VolumeDriverException,
                                self.driver.create_snapshot, snapshot)
        self.assertIn('nas_secure_file_operations', str(exc))
        self.assertEqual(before, sorted(os.listdir(self.mnt)))
        self._execute.assert_not_called()
        self.driver._nova.create_volume_snapshot.assert_not_called()

    @ddt.data(('true', True, True), ('true', False, False),
              ('false', True, False))
    @ddt.unpack
    def test_do_setup_secure_file_operations_warns_of_snapshots(
            self, operations, snapshots, warned):
        self.override_config('nas_secure_file_operations', operations)
        self.override_config('lustre_snapshot_support', snapshots)
        self.driver = self._make_driver()
        self.mock_object(self.driver._mounter, 'ensure_mounted')
        mock_warn = self.mock_object(lustre.LOG, 'warning')
        self.driver.do_setup(self.context)
        self.assertEqual(warned, any('snapshots' in c.args[0]
                                     for c in mock_warn.call_args_list))

    def test_clone_secure_file_operations_allowed(self):
        # Only snapshots are refused: a clone (and a backup, made from a
        # clone) of a volume that is not attached reads files the cinder
        # user owns.
        self.override_config('nas_secure_file_operations', 'true')
        self.driver = self._make_driver()
        self.mock_object(self.driver._mounter, 'ensure_mounted')
        self.driver.set_nas_security_options(False)
        self.override_config('lustre_qcow2_volumes', False)
        src = self._volume(volume_format='raw', status='available')
        self._chain_files(src, guest_data=False)
        volume = self._volume(id=fake.VOLUME2_ID)
        self.driver.create_cloned_volume(volume, src)
        self._execute.assert_any_call(
            'cp', '--sparse=always', '--', self._path(src.name),
            self._path(volume.name), run_as_root=False)

    @ddt.data(0, 1, 2)
    def test_create_snapshot_multiattach_refused(self, attachments):
        # A multiattach volume stays the one raw file its guests share: a
        # snapshot would make a qcow2 overlay its active image.
        volume = self._volume(multiattach=True)
        self._chain_files(volume, guest_data=False)
        if attachments:
            self._attach(volume, count=attachments)
        snapshot = self._snapshot(volume)
        exc = self.assertRaises(exception.InvalidVolume,
                                self.driver.create_snapshot, snapshot)
        self.assertIn('multiattach', str(exc))
        self.assertEqual([volume.name], os.listdir(self.mnt))
        self._execute.assert_not_called()

    @ddt.data(0, 1)
    def test_create_snapshot_allowed(self, attachments):
        volume = self._volume()
        if attachments:
            self._attach(volume, count=attachments)
        snapshot = self._snapshot(volume)
        mock_create = self.mock_object(self.driver, '_create_snapshot')
        self.driver.create_snapshot(snapshot)
        mock_create.assert_called_once_with(snapshot)

    def _delete_online(self, volume, to_merge, merge_target,
                       snapshot_id=fake.SNAPSHOT_ID):
        """Delete an attached volume's snapshot; Nova is asked to merge."""
        self._attach(volume)
        snapshot = self._snapshot(volume, id=snapshot_id)
        nova = self._nova()
        self.driver.delete_snapshot(snapshot)
        nova.delete_volume_snapshot.assert_called_once_with(
            snapshot._context, snapshot.id,
            {'file_to_merge': to_merge, 'merge_target_file': merge_target,
             'type': 'qcow2', 'volume_id': volume.id})

    def test_delete_snapshot_online(self):
        volume = self._volume()
        info = self._chain_files(volume, [fake.SNAPSHOT_ID])
        snap = info['active']
        self._delete_online(volume, None, None)
        # Nova pulled the base into the active overlay: the base is gone.
        self.assertEqual({'active': snap}, self._read_info(volume))
        self._execute.assert_any_call('rm', '-f', '--',
                                      self._path(volume.name),
                                      run_as_root=True)
        self.assertEqual(sorted([snap, volume.name + '.info']),
                         sorted(os.listdir(self.mnt)))
        self.assertEqual('qcow2', volume.admin_metadata['base_format'])
        # The driver itself merged nothing: Nova does, in the guest's qemu.
        self.assertEqual([], self._qemu_img())

    def test_delete_snapshot_online_waits_for_merge_on_share(self):
        # Nova reported the merge done before its block job ended (libvirt
        # lists no job just after starting one; seen on the stack): the
        # base file, still the backing file of the guest's active image,
        # was deleted. It is deleted once the active image's header no
        # longer names it.
        volume = self._volume()
        info = self._chain_files(volume, [fake.SNAPSHOT_ID])
        self._attach(volume)
        snapshot = self._snapshot(volume)
        asked = []
        self._nova().delete_volume_snapshot.side_effect = (
            lambda ctxt, snapshot_id, delete_info: asked.append(delete_info))
        sleep = self.mock_object(lustre_snapshots, 'time').sleep
        # The block job ends while the driver waits for the third time.
        sleep.side_effect = lambda secs: (
            sleep.call_count == 3 and self._libvirt_merge(asked[0]))
        backing_at_rm = []

        def execute(*cmd, **kwargs):
            if cmd[0] == 'rm' and cmd[-1] == self._path(volume.name):
                backing_at_rm.append(self._backing_of(info['active']))
            return self._execute_side_effect(*cmd, **kwargs)
        self._execute.side_effect = execute

        self.driver.delete_snapshot(snapshot)
        # Pauses that grow, as remotefs's while it waits for Nova.
        self.assertEqual([mock.call(1), mock.call(2), mock.call(5)],
                         sleep.call_args_list)
        self.assertEqual([None], backing_at_rm)
        self.assertEqual({'active': info['active']}, self._read_info(volume))

    def test_delete_snapshot_online_merge_never_seen(self):
        # Nova reports the merge done and its job never changes the chain:
        # nothing is deleted, the .info file is as it was, and the error
        # says which file is kept.
        volume = self._volume()
        info = self._chain_files(volume, [fake.SNAPSHOT_ID])
        self._attach(volume)
        self._nova().delete_volume_snapshot.side_effect = None
        sleep = self.mock_object(lustre_snapshots, 'time').sleep
        self.mock_object(lustre_snapshots, '_MERGE_TIMEOUT', 10)

        exc = self.assertRaises(exception.RemoteFSException,
                                self.driver.delete_snapshot,
                                self._snapshot(volume))
        self.assertIn(volume.name, str(exc))
        self.assertEqual([mock.call(1), mock.call(2), mock.call(5),
                          mock.call(10)], sleep.call_args_list)
        self.assertEqual(info, self._read_info(volume))
        self.assertEqual([], self._commands('rm'))
        self._assert_guest_view([(self._path(info['active']), 'qcow2'),
                                 (self._path(volume.name), 'raw')], 2,
                                overlays=1)

    def test_delete_snapshot_online_backing_format_unknown(self):
        # Nova pulled the base into the active image, whose header now
        # names a backing file without its format: what is below it cannot
        # be told, so the base may still be in the chain and is kept.
        volume = self._volume()
        info = self._chain_files(volume, [fake.SNAPSHOT_ID])
        self._attach(volume)

        def forge(ctxt, snapshot_id, delete_info):
            active = self._path(info['active'])
            _run('qemu-img', 'rebase', '-u', '-f', 'qcow2', '-b',
                 'volume-%s' % fake.VOLUME2_ID, '-F', 'raw', active)
            with open(active, 'r+b') as f:
                header = f.read(65536)
                # The backing format extension becomes the end of them.
                f.seek(header.index(b'\xe2\x79\x2a\xca'))
                f.write(bytes(4))
        self._nova().delete_volume_snapshot.side_effect = forge
        self.mock_object(lustre_snapshots, 'time')
        self.mock_object(lustre_snapshots, '_MERGE_TIMEOUT', 1)

        exc = self.assertRaises(exception.RemoteFSException,
                                self.driver.delete_snapshot,
                                self._snapshot(volume))
        self.assertIn(volume.name, str(exc))
        self.assertEqual(info, self._read_info(volume))
        self.assertEqual([], self._commands('rm'))
        self.assertTrue(os.path.exists(self._path(volume.name)))

    def test_delete_snapshot_online_not_active(self):
        volume = self._volume()
        info = self._chain_files(volume, [fake.SNAPSHOT_ID,
                                          fake.SNAPSHOT2_ID])
        snap1, snap2 = info[fake.SNAPSHOT_ID], info[fake.SNAPSHOT2_ID]
        self._delete_online(volume, snap1, volume.name)
        self.assertEqual({'active': snap2, fake.SNAPSHOT2_ID: snap2},
                         self._read_info(volume))
        self.assertFalse(os.path.exists(self._path(snap1)))
        self.assertTrue(os.path.exists(self._path(volume.name)))

    def test_delete_snapshot_online_newest_of_two(self):
        # The active overlay's snapshot: Nova pulls the overlay below into
        # it; that overlay's snapshot is then recorded as the active file.
        volume = self._volume()
        info = self._chain_files(volume, [fake.SNAPSHOT_ID,
                                          fake.SNAPSHOT2_ID])
        snap1, snap2 = info[fake.SNAPSHOT_ID], info[fake.SNAPSHOT2_ID]
        self._delete_online(volume, volume.name, None, fake.SNAPSHOT2_ID)
        self.assertEqual({'active': snap2, fake.SNAPSHOT_ID: snap2},
                         self._read_info(volume))
        self.assertFalse(os.path.exists(self._path(snap1)))
        self.assertTrue(os.path.exists(self._path(snap2)))

    def test_delete_snapshot_forged_info_refused(self):
        volume = self._volume()
        snapshot = self._snapshot(volume)
        self._touch('volume-%s' % fake.VOLUME2_ID)
        self._write_info(volume, {'active': volume.name,
                                  snapshot.id: 'volume-%s' % fake.VOLUME2_ID})
        self.assertRaises(exception.RemoteFSException,
                          self.driver.delete_snapshot, snapshot)
        self._execute.assert_not_called()
        self.assertTrue(os.path.exists(
            self._path('volume-%s' % fake.VOLUME2_ID)))

    @ddt.data(False, True)
    def test_delete_snapshot_unrecorded_overlay_kept(self, attached):
        # Finding 2: the .info file does not name the snapshot, but its
        # overlay exists: cinder-volume died before recording it, or an
        # online snapshot failed after Nova moved the guest onto it. Then
        # the overlay holds the guest's latest writes: it is kept, and the
        # snapshot is deleted from Cinder only.
        volume = self._volume()
        self._chain_files(volume)
        self._write_info(volume, {'active': volume.name})
        overlay = self._image('%s.%s' % (volume.name, fake.SNAPSHOT_ID),
                              'qcow2', 1, volume.name, 'raw')
        chain = [(overlay, 'qcow2'), (self._path(volume.name), 'raw')]
        self._guest_write(chain, 0x50, CHUNK)
        if attached:
            self._attach(volume)
        snapshot = self._snapshot(volume)
        nova = self._nova()
        mock_warn = self.mock_object(lustre_snapshots.LOG, 'warning')
        self.driver.delete_snapshot(snapshot)
        self.assertEqual(sorted([volume.name, volume.name + '.info',
                                 os.path.basename(overlay)]),
                         sorted(os.listdir(self.mnt)))
        self._assert_guest_view(chain, 2, overlays=1)
        self.assertEqual([], self._commands('rm'))
        nova.delete_volume_snapshot.assert_not_called()
        mock_warn.assert_called_once()
        self.assertIn(overlay, mock_warn.call_args.args[1]['path'])

    def test_delete_snapshot_unrecorded_empty_overlay_deleted(self):
        # cinder-volume died after making the overlay, before recording
        # it, and no guest ever wrote to it (the volume is detached, the
        # overlay's L1 table empty): it is provably unused, and deleted.
        volume = self._volume()
        self._chain_files(volume)
        self._write_info(volume, {'active': volume.name})
        overlay = self._image('%s.%s' % (volume.name, fake.SNAPSHOT_ID),
                              'qcow2', 1, volume.name, 'raw')
        self.driver.delete_snapshot(self._snapshot(volume))
        self.assertEqual(sorted([volume.name, volume.name + '.info']),
                         sorted(os.listdir(self.mnt)))
        self.assertEqual([mock.call('rm', '-f', '--', overlay,
                                    run_as_root=True)],
                         self._commands('rm'))
        self._assert_guest_view([(self._path(volume.name), 'raw')], 1,
                                overlays=0)

    @ddt.data('attached', 'not_qcow2', 'link')
    def test_delete_snapshot_unrecorded_overlay_not_provably_unused(
            self, case):
        # An empty overlay of an attached volume may be the guest's active
        # file; a file that is not a qcow2 image, or a link, is nothing the
        # driver made: all are kept.
        volume = self._volume()
        self._chain_files(volume)
        self._write_info(volume, {'active': volume.name})
        name = '%s.%s' % (volume.name, fake.SNAPSHOT_ID)
        if case == 'attached':
            self._image(name, 'qcow2', 1, volume.name, 'raw')
            self._attach(volume)
        elif case == 'not_qcow2':
            self._touch(name, 'guest bytes')
        else:
            os.symlink(self.host_file, self._path(name))
        self._nova()
        mock_warn = self.mock_object(lustre_snapshots.LOG, 'warning')
        self.driver.delete_snapshot(self._snapshot(volume))
        self.assertTrue(os.path.lexists(self._path(name)))
        self.assertEqual([], self._commands('rm'))
        self.assertIn(self._path(name), str(mock_warn.call_args_list))
        self._assert_host_file_unread()

    def test_create_snapshot_replaces_empty_unrecorded_overlay(self):
        # A snapshot retried after cinder-volume died between making the
        # overlay and recording it: the unused overlay is made again.
        volume = self._volume()
        self._chain_files(volume)
        self._write_info(volume, {'active': volume.name})
        name = '%s.%s' % (volume.name, fake.SNAPSHOT_ID)
        self._image(name, 'qcow2', 1, volume.name, 'raw')
        self.driver.create_snapshot(self._snapshot(volume))
        self.assertEqual({'active': name, fake.SNAPSHOT_ID: name},
                         self._read_info(volume))
        self.assertEqual(['create'], self._qemu_img())
        self._assert_guest_view([(self._path(name), 'qcow2'),
                                 (self._path(volume.name), 'raw')], 1,
                                overlays=0)

    def test_delete_snapshot_lists_no_chain_by_qemu_img(self):
        # The base class's chain listing runs qemu-img info: a snapshot
        # between two others is committed from the checked chain.
        volume = self._volume()
        info = self._chain_files(volume, [fake.SNAPSHOT_ID,
                                          fake.SNAPSHOT2_ID],
                                 guest_data=False)
        listing = self.mock_object(remotefs.RemoteFSSnapDriverBase,
                                   '_get_backing_chain_for_path')
        self.driver.delete_snapshot(self._snapshot(volume))
        listing.assert_not_called()
        self.qemu_img_info.assert_not_called()
        snap2 = info[fake.SNAPSHOT2_ID]
        self.assertEqual({'active': snap2, fake.SNAPSHOT2_ID: snap2},
                         self._read_info(volume))

    @ddt.data('plain', 'qcow2_header_in_raw_base')
    def test_delete_snapshot_offline_keeps_overlay_until_forgotten(
            self, guest):
        # The committed overlay is deleted only after the .info file
        # stops naming it: a death in between leaves a consistent volume.
        volume = self._volume()
        info = self._chain_files(volume, [fake.SNAPSHOT_ID])
        snap, base = self._path(info['active']), self._path(volume.name)
        header = self._forged_qcow2(backing=self.host_file)
        if guest != 'plain':
            # Under the snapshot, the raw base holds a qcow2 header naming
            # a host file: committing into it must write it as raw.
            self._write_raw(base, header, 2 * CHUNK)
        snapshot = self._snapshot(volume)
        infos = []

        def execute(*cmd, **kwargs):
            if cmd[0] == 'rm':
                infos.append(self._read_info(volume))
            return self._execute_side_effect(*cmd, **kwargs)
        self._execute.side_effect = execute
        self.driver.delete_snapshot(snapshot)
        self.assertEqual(['commit'], self._qemu_img())
        self.assertEqual([mock.call('rm', '-f', '--', snap,
                                    run_as_root=True)], self._commands('rm'))
        # When the overlay went, the .info file no longer named it.
        self.assertEqual([{'active': volume.name}], infos)
        self.assertEqual(sorted([volume.name, volume.name + '.info']),
                         sorted(os.listdir(self.mnt)))
        # The guest's writes after the snapshot are in the base now, the
        # base is raw again, as recorded.
        self._assert_guest_view([(base, 'raw')], 2, overlays=1)
        self.assertEqual({'format': 'raw', 'base_format': 'raw'},
                         dict(volume.admin_metadata))
        if guest != 'plain':
            with open(base, 'rb') as f:
                f.seek(2 * CHUNK)
                self.assertEqual(header, f.read(len(header)))
            self._assert_host_file_unread(base)

    def test_delete_snapshot_offline_oldest_of_two(self):
        # The overlay below the active one is committed into the base, and
        # the active overlay is pointed at the base, as raw.
        volume = self._volume()
        info = self._chain_files(volume, [fake.SNAPSHOT_ID,
                                          fake.SNAPSHOT2_ID])
        snap2 = info[fake.SNAPSHOT2_ID]
        snapshot = self._snapshot(volume)
        self.driver.delete_snapshot(snapshot)
        self.assertEqual(['commit', 'rebase'], self._qemu_img())
        self.assertEqual({'active': snap2, fake.SNAPSHOT2_ID: snap2},
                         self._read_info(volume))
        self.assertEqual(sorted([volume.name, snap2, volume.name + '.info']),
                         sorted(os.listdir(self.mnt)))
        header = self._info_of(self._path(snap2), 'qcow2')
        self.assertEqual((volume.name, 'raw'), (
            header['backing-filename'], header['backing-filename-format']))
        base = (self._path(volume.name), 'raw')
        # The second snapshot's data (the base now) and the guest's view.
        self._assert_guest_view([base], 2)
        self._assert_guest_view([(self._path(snap2), 'qcow2'), base], 3)
        self.assertEqual({'format': 'qcow2', 'base_format': 'raw'},
                         dict(volume.admin_metadata))

    def test_delete_snapshot_offline_newest_of_two(self):
        volume = self._volume()
        info = self._chain_files(volume, [fake.SNAPSHOT_ID,
                                          fake.SNAPSHOT2_ID])
        snap1 = info[fake.SNAPSHOT_ID]
        self.driver.delete_snapshot(self._snapshot(volume,
                                                   id=fake.SNAPSHOT2_ID))
        self.assertEqual(['commit'], self._qemu_img())
        self.assertEqual({'active': snap1, fake.SNAPSHOT_ID: snap1},
                         self._read_info(volume))
        self.assertEqual(sorted([volume.name, snap1, volume.name + '.info']),
                         sorted(os.listdir(self.mnt)))
        self._assert_guest_view([(self._path(snap1), 'qcow2'),
                                 (self._path(volume.name), 'raw')], 3)

    def test_delete_snapshot_offline_encrypted(self):
        self._key_manager()
        volume = self._volume(encryption_key_id=fake.ENCRYPTION_KEY_ID)
        self._chain_files(volume, [fake.SNAPSHOT_ID], base_fmt='qcow2',
                          size=64 * units.Mi)
        self.driver.delete_snapshot(self._snapshot(volume))
        self.assertEqual(sorted([volume.name, volume.name + '.info']),
                         sorted(os.listdir(self.mnt)))
        self._assert_guest_view([(self._path(volume.name), 'qcow2')], 2,
                                encrypted=True, overlays=1)
        self.assertEqual('qcow2', volume.admin_metadata['format'])

    def test_delete_snapshot_already_out_of_chain(self):
        # cinder-volume died after rebasing the image above the snapshot,
        # before writing the .info file: running the deletion again only
        # forgets the snapshot and deletes its overlay.
        volume = self._volume()
        info = self._chain_files(volume, [fake.SNAPSHOT_ID,
                                          fake.SNAPSHOT2_ID])
        snap1, snap2 = info[fake.SNAPSHOT_ID], info[fake.SNAPSHOT2_ID]
        _run('qemu-img', 'rebase', '-u', '-f', 'qcow2', '-b', volume.name,
             '-F', 'raw', self._path(snap2))
        snapshot = self._snapshot(volume)
        self.driver.delete_snapshot(snapshot)
        self.assertEqual({'active': snap2, fake.SNAPSHOT2_ID: snap2},
                         self._read_info(volume))
        self.assertEqual([mock.call('rm', '-f', '--', self._path(snap1),
                                    run_as_root=True)],
                         self._commands('rm'))
        self.assertEqual([], self._qemu_img())
        self.assertEqual(sorted([volume.name, snap2, volume.name + '.info']),
                         sorted(os.listdir(self.mnt)))

    def test_delete_snapshot_overlay_without_data(self):
        # The snapshot's overlay has no backing file (Nova pulled the base
        # into it): it is the active image and holds everything; the
        # snapshot is forgotten, the active image never deleted.
        volume = self._volume()
        overlay = '%s.%s' % (volume.name, fake.SNAPSHOT_ID)
        self._image(overlay, 'qcow2')
        self._write_info(volume, {'active': overlay,
                                  fake.SNAPSHOT_ID: overlay})
        volume.admin_metadata = {'format': 'qcow2', 'base_format': 'qcow2'}
        self.driver.delete_snapshot(self._snapshot(volume))
        self.assertEqual({'active': overlay}, self._read_info(volume))
        self.assertTrue(os.path.exists(self._path(overlay)))
        self.assertEqual([], self._commands('rm'))

    @ddt.data('create_snapshot', 'delete_snapshot')
    def test_snapshot_operations_mount_the_share_first(self, operation):
        # On a stale mount the .info file would seem missing: a deletion
        # would report success having deleted nothing.
        volume = self._volume()
        snapshot = self._snapshot(volume)
        self._write_info(volume, {'active': volume.name})
        self.mock_ensure_mounted.side_effect = OSError(errno.EIO, 'stale')
        self.assertRaises(OSError, getattr(self.driver, operation),
                          snapshot)
        self.mock_ensure_mounted.assert_called_once_with(
            volume.provider_location)
        self._execute.assert_not_called()

    def test_delete_snapshot_unknown_without_overlay(self):
        volume = self._volume()
        snapshot = self._snapshot(volume)
        self._write_info(volume, {'active': volume.name})
        self._touch(volume.name)
        self.driver.delete_snapshot(snapshot)
        self._execute.assert_not_called()
        self.assertEqual(sorted([volume.name, volume.name + '.info']),
                         sorted(os.listdir(self.mnt)))

    def test_copy_volume_from_snapshot(self):
        src = self._volume()
        snapshot = self._snapshot_chain(src)
        dest = self._volume(id=fake.VOLUME2_ID, size=3,
                            extra_specs={'provisioning:type': 'thick'})
        self.driver._copy_volume_from_snapshot(snapshot, dest, 3)
        dest_path = self._path(dest.name)
        # Raw to raw: a sparse copy of the base file, no qemu-img convert;
        # grown to the new volume's size, and its blocks allocated.
        self.assertEqual(
            [mock.call('cp', '--sparse=always', '--', self._path(src.name),
                       dest_path, run_as_root=True)], self._commands('cp'))
        self.assertEqual(['resize'], self._qemu_img())
        self._assert_plain_image(dest_path, 'raw', 3)
        # The snapshot's data: not what the guest wrote after it.
        self._assert_guest_view([(dest_path, 'raw')], 1)
        self.assertEqual([mock.call('fallocate', '-l', '3G', dest_path,
                                    run_as_root=True)],
                         self._commands('fallocate'))

    @ddt.data(('raw', False), ('raw', True), ('qcow2', False),
              ('qcow2', True))
    @ddt.unpack
    def test_copy_volume_from_snapshot_recorded_base_format(
            self, base_format, qcow2_copy):
        # The base under the overlay is read in the format recorded for it
        # (base_format), although the volume's format is qcow2 now: a raw
        # base is copied or converted as raw, a qcow2 base as qcow2.
        self.override_config('lustre_qcow2_volumes', qcow2_copy)
        src = self._volume()
        snapshot = self._snapshot_chain(src, base_format)
        self.assertEqual({'format': 'qcow2', 'base_format': base_format},
                         dict(src.admin_metadata))
        dest = self._volume(id=fake.VOLUME2_ID)
        self.driver._copy_volume_from_snapshot(snapshot, dest, 1)
        dest_path = self._path(dest.name)
        copy_format = 'qcow2' if qcow2_copy else 'raw'
        self.assertEqual(copy_format, self._written_format(dest_path))
        self._assert_guest_view([(dest_path, copy_format)], 1)
        self._assert_plain_image(dest_path, copy_format, 1)
        plain = base_format == 'raw' and not qcow2_copy
        self.assertEqual(['cp'] if plain else [],
                         [c.args[0] for c in self._commands('cp')])
        self.assertEqual([] if plain else ['convert'], self._qemu_img())

    def test_copy_volume_from_snapshot_base_not_in_recorded_format(self):
        # The record says qcow2, the file is raw (a guest's bytes): it is
        # refused, never probed for what it might be.
        src = self._volume()
        snapshot = self._snapshot_chain(src, 'raw')
        src.admin_metadata['base_format'] = 'qcow2'
        _run('qemu-img', 'rebase', '-u', '-f', 'qcow2', '-b', src.name,
             '-F', 'qcow2', self._path('%s.%s' % (src.name, snapshot.id)))
        exc = self.assertRaises(lustre_images.UnsafeImage,
                                self.driver._copy_volume_from_snapshot,
                                snapshot, self._volume(id=fake.VOLUME2_ID),
                                1)
        self.assertIn('not a qcow2 image', str(exc))
        self.assertEqual([], self._qemu_img())
        self.assertFalse(os.path.exists(self._path(
            'volume-%s' % fake.VOLUME2_ID)))

    def test_copy_volume_from_snapshot_of_an_older_snapshot(self):
        src = self._volume()
        self._chain_files(src, [fake.SNAPSHOT_ID, fake.SNAPSHOT2_ID])
        newer = self._snapshot(src, id=fake.SNAPSHOT2_ID)
        dest = self._volume(id=fake.VOLUME2_ID)
        self.driver._copy_volume_from_snapshot(newer, dest, 1)
        # The newer snapshot's data is the older overlay on the base: what
        # the guest wrote before it, not after.
        dest_path = self._path(dest.name)
        self._assert_plain_image(dest_path, 'qcow2', 1)
        self._assert_guest_view([(dest_path, 'qcow2')], 2)

    def test_copy_volume_from_snapshot_missing_base_file(self):
        src = self._volume()
        snapshot = self._snapshot_chain(src)
        os.unlink(self._path(src.name))
        dest = self._volume(id=fake.VOLUME2_ID,
                            extra_specs={'provisioning:type': 'thick'})
        exc = self.assertRaises(lustre_images.UnsafeImage,
                                self.driver._copy_volume_from_snapshot,
                                snapshot, dest, 1)
        self.assertIn('does not exist', str(exc))
        self.assertEqual([], self._commands('cp') + self._commands('qemu-img'))
        self.assertFalse(os.path.exists(self._path(dest.name)))

    def test_copy_volume_from_snapshot_to_qcow2_converts(self):
        # Finding 1a: a raw volume whose guest wrote a qcow2 header naming
        # a host file as its backing file; a thin (qcow2) volume made from
        # its snapshot holds the guest's bytes, and not one of the host
        # file's: qemu-img converts the base as raw, as recorded.
        src = self._volume()
        snapshot = self._snapshot_chain(src)
        header = self._forged_qcow2(backing=self.host_file)
        self._write_raw(self._path(src.name), header)
        dest = self._volume(id=fake.VOLUME2_ID,
                            extra_specs={'provisioning:type': 'thin'})
        self.driver._copy_volume_from_snapshot(snapshot, dest, 1)
        dest_path = self._path(dest.name)
        self._assert_host_file_unread(dest_path)
        self._assert_plain_image(dest_path, 'qcow2', 1)
        self.assertEqual(header, self._guest_read(
            [(dest_path, 'qcow2')], [0], len(header))[0])
        self.assertEqual(['convert'], self._qemu_img())
        self.assertEqual([], self._commands('cp'))

    @ddt.data('symlink', 'fifo', 'hardlink')
    def test_copy_volume_from_snapshot_refuses_a_link(self, kind):
        src = self._volume()
        snapshot = self._snapshot_chain(src)
        path = self._path(src.name)
        self._point_at_host_file(path, kind)
        dest = self._volume(id=fake.VOLUME2_ID, size=3,
                            extra_specs={'provisioning:type': 'thick'})
        self.assertRaises(lustre_images.UnsafeImage,
                          self.driver._copy_volume_from_snapshot,
                          snapshot, dest, 3)
        self.assertEqual([], self._commands('cp') + self._commands('qemu-img'))
        self._assert_host_file_unread()

    @ddt.data(
        # new volume's specs, qcow2 option, raw view, multiattach,
        # format written
        ({'provisioning:type': 'thin'}, True, False, False, 'qcow2'),
        ({'provisioning:type': 'thin'}, False, False, False, 'raw'),
        ({'provisioning:type': 'thick'}, True, False, False, 'raw'),
        ({'provisioning:type': 'thin'}, True, True, False, 'raw'),
        (None, True, False, False, 'qcow2'),
        # Finding 3: a multiattach volume is raw, however it is made.
        ({'provisioning:type': 'thin'}, True, False, True, 'raw'),
        (None, True, False, True, 'raw'),
    )
    @ddt.unpack
    def test_copy_volume_from_snapshot_format(self, specs, qcow2, raw_view,
                                              multiattach, volume_format):
        self.override_config('lustre_qcow2_volumes', qcow2)
        src = self._volume()
        snapshot = self._snapshot_chain(src)
        dest = self._volume(id=fake.VOLUME2_ID, extra_specs=specs,
                            multiattach=multiattach)
        if raw_view:
            self._make_backup_view(dest)
        self.driver._copy_volume_from_snapshot(snapshot, dest, 1)
        dest_path = self._path(dest.name)
        self.assertEqual(volume_format, self._written_format(dest_path))
        self._assert_plain_image(dest_path, volume_format, 1)
        self._assert_guest_view([(dest_path, volume_format)], 1)

    def test_copy_volume_from_snapshot_with_layout(self):
        src = self._volume()
        snapshot = self._snapshot_chain(src)
        dest = self._volume(id=fake.VOLUME2_ID,
                            extra_specs={'lustre:ost_pool': 'fast'})
        self.driver._copy_volume_from_snapshot(snapshot, dest, 1)
        self.assertEqual(
            mock.call('lfs', 'setstripe', '-p', 'fast', '--',
                      self._path(dest.name), run_as_root=True),
            self._setstripes()[0])
        # An existing destination file (made by create with its layout)
        # keeps its layout: it is written in place.
        inode = os.stat(self._path(dest.name)).st_ino
        self._execute.reset_mock()
        self.driver._copy_volume_from_snapshot(snapshot, dest, 1)
        self.assertEqual([], self._commands('lfs'))
        self.assertEqual(inode, os.stat(self._path(dest.name)).st_ino)
        self._assert_guest_view([(self._path(dest.name), 'qcow2')], 1)

    @ddt.data('volume-%s' % fake.VOLUME2_ID, '../x', 'x/../../y')
    def test_copy_volume_from_snapshot_forged_overlay(self, name):
        src = self._volume(volume_format='raw')
        snapshot = self._snapshot(src)
        self._write_info(src, {'active': src.name, snapshot.id: name})
        dest = self._volume(id=fake.VOLUME3_ID)
        self.assertRaises(exception.RemoteFSException,
                          self.driver._copy_volume_from_snapshot,
                          snapshot, dest, 1)
        self._execute.assert_not_called()

    @ddt.data('no_backing', 'unrecorded')
    def test_copy_volume_from_snapshot_no_data(self, case):
        # The snapshot's overlay has no backing file (Nova pulled the base
        # into it), or the .info file does not record the snapshot.
        src = self._volume()
        snapshot = self._snapshot(src)
        snap = '%s.%s' % (src.name, snapshot.id)
        self._image(snap, 'qcow2')
        self._write_info(src, {'active': snap, snapshot.id: snap}
                         if case == 'no_backing' else {'active': snap})
        src.admin_metadata = {'format': 'qcow2', 'base_format': 'raw'}
        exc = self.assertRaises(exception.InvalidSnapshot,
                                self.driver._copy_volume_from_snapshot,
                                snapshot, self._volume(id=fake.VOLUME2_ID),
                                1)
        self.assertIn('records no data', str(exc))
        self.assertEqual([], self._qemu_img())

    def test_copy_volume_from_snapshot_encrypted(self):
        self._key_manager()
        src = self._volume(encryption_key_id=fake.ENCRYPTION_KEY_ID)
        snapshot = self._snapshot_chain(src, 'qcow2', size=64 * units.Mi)
        dest = self._volume(id=fake.VOLUME2_ID,
                            encryption_key_id=fake.ENCRYPTION_KEY_ID)
        passphrases = []

        def execute(*cmd, **kwargs):
            for arg in cmd:
                if arg.startswith('secret,'):
                    path = arg.split('file=')[1]
                    self.assertEqual(
                        os.path.join(self.tempdir, 'conversion'),
                        os.path.dirname(path))
                    with open(path) as f:
                        passphrases.append(f.read())
            return self._execute_side_effect(*cmd, **kwargs)
        self._execute.side_effect = execute
        logs = self.useFixture(fixtures.FakeLogger(level=logging.DEBUG))
        self.driver._copy_volume_from_snapshot(
            snapshot, dest, 1, fake.ENCRYPTION_KEY_ID,
            fake.ENCRYPTION_KEY_ID)
        # The passphrase is in no log message, even at debug level.
        self.assertNotIn(PASSPHRASE, logs.output)
        # The copy is a LUKS container under the new volume's key, of the
        # volume's size, holding the snapshot's data.
        dest_path = self._path(dest.name)
        self.assertEqual(['convert', 'resize'], self._qemu_img())
        self.assertEqual([PASSPHRASE] * 3, passphrases)
        self.assertEqual(units.Gi,
                         self._info_of(dest_path, 'luks')['virtual-size'])
        self._assert_guest_view([(dest_path, 'raw')], 1, encrypted=True)
        self.assertNotIn(bytes([GUEST_BEFORE]) * CHUNK,
                         self._data_of(dest_path))
        # The passphrase files are gone.
        self.assertEqual([], os.listdir(os.path.join(self.tempdir,
                                                     'conversion')))

    @ddt.data((None, fake.ENCRYPTION_KEY_ID), (fake.ENCRYPTION_KEY_ID, None))
    @ddt.unpack
    def test_copy_volume_from_snapshot_encryption_mismatch(self, src_key,
                                                           new_key):
        src = self._volume(encryption_key_id=src_key)
        self._chain_files(src, [fake.SNAPSHOT_ID], guest_data=False,
                          size=64 * units.Mi)
        snapshot = self._snapshot(src)
        dest = self._volume(id=fake.VOLUME2_ID, encryption_key_id=new_key)
        self.assertRaises(exception.InvalidVolume,
                          self.driver._copy_volume_from_snapshot,
                          snapshot, dest, 1, src_key, new_key)
        self.assertEqual([], self._qemu_img())
        self.assertFalse(os.path.exists(self._path(dest.name)))

    def test_create_volume_from_snapshot(self):
        src = self._volume()
        snapshot = self._snapshot_chain(src)
        volume = self._volume(id=fake.VOLUME2_ID, provider_location=None,
                              size=2,
                              extra_specs={'provisioning:type': 'thick'})
        self.mock_object(self.driver, '_ensure_shares_mounted')
        self.mock_object(self.driver, '_find_share', return_value=SHARE)
        self.assertEqual({'provider_location': SHARE},
                         self.driver.create_volume_from_snapshot(volume,
                                                                 snapshot))
        dest_path = self._path(volume.name)
        self._execute.assert_any_call('cp', '--sparse=always', '--',
                                      self._path(src.name), dest_path,
                                      run_as_root=True)
        self.assertEqual(['resize'], self._qemu_img())
        self._execute.assert_any_call('fallocate', '-l', '2G', dest_path,
                                      run_as_root=True)
        self.assertEqual('raw', volume.admin_metadata['format'])
        self._assert_plain_image(dest_path, 'raw', 2)
        self._assert_guest_view([(dest_path, 'raw')], 1)

    @ddt.data(({'provisioning:type': 'thin'}, False, 'qcow2'),
              ({'provisioning:type': 'thick'}, False, 'raw'),
              ({'provisioning:type': 'thin'}, True, 'raw'),
              (None, True, 'raw'))
    @ddt.unpack
    def test_create_volume_from_snapshot_records_format(self, specs,
                                                        multiattach,
                                                        volume_format):
        src = self._volume()
        snapshot = self._snapshot_chain(src)
        volume = self._volume(id=fake.VOLUME2_ID, provider_location=None,
                              extra_specs=specs, multiattach=multiattach)
        self.mock_object(self.driver, '_ensure_shares_mounted')
        self.mock_object(self.driver, '_find_share', return_value=SHARE)
        self.driver.create_volume_from_snapshot(volume, snapshot)
        dest_path = self._path(volume.name)
        self.assertEqual(volume_format, self._written_format(dest_path))
        self.assertEqual(volume_format, volume.admin_metadata['format'])
        self._assert_guest_view([(dest_path, volume_format)], 1)

    def test_create_volume_from_snapshot_bad_status(self):
        src = self._volume()
        snapshot = self._snapshot_chain(src)
        snapshot.status = 'error'
        volume = self._volume(id=fake.VOLUME2_ID, provider_location=None)
        self.assertRaises(exception.InvalidSnapshot,
                          self.driver.create_volume_from_snapshot, volume,
                          snapshot)
        self._execute.assert_not_called()


@ddt.ddt
class LustreCloneTestCase(_SnapshotsTestBase):

    def _clone(self, volume, src):
        """Clone for real; the source is found in the database by id."""
        self.mock_object(objects.Volume, 'get_by_id', return_value=src)
        self.mock_object(self.driver, '_ensure_share_mounted')
        src.obj_reset_changes()
        return self.driver.create_cloned_volume(volume, src)

    @ddt.data(
        # source type and format, clone type, clone multiattach, clone a
        # backup view, format of the clone
        ({'provisioning:type': 'thick'}, 'raw',
         {'provisioning:type': 'thin'}, False, False, 'qcow2'),
        ({'provisioning:type': 'thin'}, 'qcow2',
         {'provisioning:type': 'thick'}, False, False, 'raw'),
        ({'provisioning:type': 'thick'}, 'raw', None, False, False, 'qcow2'),
        # Finding 3: a multiattach clone of a thin volume is raw.
        ({'provisioning:type': 'thin'}, 'qcow2',
         {'provisioning:type': 'thin'}, True, False, 'raw'),
        ({'provisioning:type': 'thin'}, 'qcow2',
         {'provisioning:type': 'thin'}, False, True, 'raw'),
    )
    @ddt.unpack
    def test_create_cloned_volume_records_format(self, src_specs, src_format,
                                                 clone_specs, multiattach,
                                                 raw_view, volume_format):
        # Finding 4: the clone's file is in the format of the clone's own
        # type and flags, never its source's: they differ in every row.
        src = self._volume(extra_specs=src_specs)
        self._chain_files(src, base_fmt=src_format)
        volume = self._volume(id=fake.VOLUME2_ID, extra_specs=clone_specs,
                              multiattach=multiattach)
        if raw_view:
            self._make_backup_view(volume)
        self.assertEqual({'provider_location': SHARE},
                         self._clone(volume, src))
        path = self._path(volume.name)
        self.assertEqual(volume_format, self._written_format(path))
        self.assertEqual(volume_format, volume.admin_metadata['format'])
        self._assert_plain_image(path, volume_format, 1)
        self._assert_guest_view([(path, volume_format)], 1)
        thick = (clone_specs or {}).get('provisioning:type') == 'thick'
        self.assertEqual(volume_format == 'raw' and thick,
                         bool(self._commands('fallocate')))
        # The source is as it was: one file, no snapshot left over.
        self.assertEqual(sorted([src.name, volume.name, src.name + '.info']),
                         sorted(os.listdir(self.mnt)))
        self.assertEqual({'active': src.name}, self._read_info(src))

    def test_create_cloned_volume_own_layout_and_pool(self):
        # Finding 4: a thick clone of a thin volume, scheduled to the hdd
        # OST pool, is a raw file of the clone's size, striped as its own
        # type says, in the OST pool of its own Cinder pool.
        self._ost_pool_driver()
        src = self._volume(extra_specs={'provisioning:type': 'thin',
                                        'lustre:stripe_count': '1'},
                           host=HOST + '#' + POOL + '.ssd')
        self._chain_files(src, [fake.SNAPSHOT_ID])
        volume = self._volume(id=fake.VOLUME2_ID, size=2,
                              extra_specs={'provisioning:type': 'thick',
                                           'lustre:stripe_count': '4'},
                              host=HOST + '#' + POOL + '.hdd')
        self._clone(volume, src)
        path = self._path(volume.name)
        self.assertEqual(mock.call('lfs', 'setstripe', '-c', '4', '-p',
                                   'hdd', '--', path, run_as_root=True),
                         self._setstripes()[0])
        self.assertEqual('raw', self._written_format(path))
        self._assert_plain_image(path, 'raw', 2)
        self._execute.assert_any_call('fallocate', '-l', '2G', path,
                                      run_as_root=True)
        self._assert_guest_view([(path, 'raw')], 2)
        self.assertEqual({'format': 'raw'}, dict(volume.admin_metadata))

    @ddt.data(0, 1)
    def test_create_cloned_volume_across_pools(self, snapshots):
        # Scheduled to a pool of another file system (clone_across_pools,
        # as the image cache clones): the clone is written there.
        src = self._volume(host=HOST + '#' + POOL)
        self._chain_files(src, [fake.SNAPSHOT_ID][:snapshots])
        volume = self._volume(id=fake.VOLUME2_ID, host=HOST + '#' + POOL2,
                              provider_location=None)
        update = self._clone(volume, src)
        self.assertEqual({'provider_location': SHARE2}, update)
        path = self._path(volume.name, self.mnt2)
        self._assert_guest_view([(path, self._written_format(path))],
                                snapshots + 1, overlays=snapshots)
        self.assertNotIn(volume.name, os.listdir(self.mnt))
        self.assertEqual([volume.name], os.listdir(self.mnt2))
        self.assertTrue(self._stats_with(lambda *cmd, **kwargs: None)[
            'clone_across_pools'])

    def test_create_cloned_volume_attached_waits_for_nova_merge(self):
        # The backup of an in-use volume clones it through a temporary
        # online snapshot, deleted online after the copy. Nova reports both
        # its creation and its deletion done with progress 90%: the
        # deletion took the creation's report for Nova's and deleted the
        # base file while Nova still pulled it into the active overlay; the
        # next snapshot found the base gone (stack: Tempest's incremental
        # backup of an in-use volume).
        src, volume, nova = self._attached_clone_source()
        base = self._path(src.name)
        events = []
        merging = []
        nova.delete_volume_snapshot.side_effect = (
            lambda ctxt, snapshot_id, info: (
                events.append('merge requested'),
                merging.append(snapshot_id)))
        snapshot_get = db_api.snapshot_get

        def poll(ctxt, snapshot_id):
            # Nova's merge (a pull of the base into the active overlay)
            # ends after the driver's first look at the snapshot.
            if merging and merging[0] == 'polled':
                merging.clear()
                self._merge_into_active(src)
                self._nova_reports(nova, snapshot_id, 'deleting')
                events.append('merged')
            elif merging:
                merging[0] = 'polled'
            return snapshot_get(ctxt, snapshot_id)
        self.mock_object(remotefs.db, 'snapshot_get', side_effect=poll)

        def execute(*cmd, **kwargs):
            if cmd[0] == 'rm' and cmd[-1] == base:
                events.append('base deleted')
            return self._execute_side_effect(*cmd, **kwargs)
        self._execute.side_effect = execute

        self._clone(volume, src)
        self.assertEqual(['merge requested', 'merged', 'base deleted'],
                         events)
        self.assertEqual([], nova.refused)
        active = self._read_info(src)['active']
        self.assertEqual(sorted([active, src.name + '.info']),
                         sorted(name for name in os.listdir(self.mnt)
                                if name.startswith(src.name)))

    def test_create_cloned_volume_attached_copy_failure_reported(self):
        # A failed copy from the temporary online snapshot: Nova merges it
        # and the driver waits, and the copy's error is what is raised (the
        # deletion of a snapshot still "creating" was refused after Nova
        # had been asked to merge it, hiding the error and leaving the
        # snapshot in the .info file and the database).
        src, volume, nova = self._attached_clone_source()
        nova.delete_volume_snapshot.side_effect = (
            lambda ctxt, snapshot_id, info: (
                self._merge_into_active(src),
                self._nova_reports(nova, snapshot_id, 'deleting')))
        self.mock_object(self.driver, '_copy_volume_from_snapshot',
                         side_effect=putils.ProcessExecutionError(
                             stderr='copy failed'))

        exc = self.assertRaises(putils.ProcessExecutionError,
                                self._clone, volume, src)
        self.assertIn('copy failed', str(exc))
        self.assertEqual(1, nova.delete_volume_snapshot.call_count)
        self.assertEqual([], nova.refused)
        info = self._read_info(src)
        self.assertEqual(['active'], list(info))
        self.assertEqual([], objects.SnapshotList.get_all_for_volume(
            self.context, src.id).objects)

    def test_create_cloned_volume_copy_and_cleanup_failure(self):
        # When the temporary snapshot cannot be deleted either, the copy's
        # error is still the one raised; the snapshot is left for the
        # operator in error_deleting.
        src = self._volume()
        self._chain_files(src, [fake.SNAPSHOT_ID], base_fmt='qcow2')
        volume = self._volume(id=fake.VOLUME2_ID)
        self.mock_object(self.driver, '_copy_volume_from_snapshot',
                         side_effect=putils.ProcessExecutionError(
                             stderr='copy failed'))
        self.mock_object(self.driver, '_delete_snapshot',
                         side_effect=exception.RemoteFSException(
                             'delete failed'))

        exc = self.assertRaises(putils.ProcessExecutionError,
                                self._clone, volume, src)
        self.assertIn('copy failed', str(exc))
        [temp] = [snap for snap in objects.SnapshotList.get_all_for_volume(
            self.context, src.id) if snap.id != fake.SNAPSHOT_ID]
        self.assertEqual(fields.SnapshotStatus.ERROR_DELETING, temp.status)

    def test_create_cloned_volume_general_path_failure_removes_file(self):
        # Finding 10: a failed copy leaves no file of the clone, and the
        # temporary snapshot of the source is gone again.
        src = self._volume()
        info = self._chain_files(src, [fake.SNAPSHOT_ID], base_fmt='qcow2')
        volume = self._volume(id=fake.VOLUME2_ID)

        def execute(*cmd, **kwargs):
            if cmd[:2] == ('qemu-img', 'convert'):
                open(cmd[-1], 'w').close()
                raise putils.ProcessExecutionError(stderr='No space left')
            return self._execute_side_effect(*cmd, **kwargs)
        self._execute.side_effect = execute
        self.assertRaises(putils.ProcessExecutionError, self._clone,
                          volume, src)
        self.assertEqual(sorted([src.name, info['active'],
                                 src.name + '.info']),
                         sorted(os.listdir(self.mnt)))
        self.assertEqual(info, self._read_info(src))
        self._assert_guest_view([(self._path(info['active']), 'qcow2'),
                                 (self._path(src.name), 'qcow2')], 2,
                                overlays=1)

    def _raw_clone_setup(self, src_specs=None, size=2, **src_kwargs):
        """A plain raw source of 1G and a raw clone of size GiB."""
        self.override_config('lustre_qcow2_volumes', False)
        src = self._volume(extra_specs=src_specs, **src_kwargs)
        self._chain_files(src)
        volume = self._volume(id=fake.VOLUME2_ID, size=size,
                              extra_specs=src_specs)
        return src, volume

    def test_create_cloned_volume_raw_is_a_sparse_copy(self):
        src, volume = self._raw_clone_setup({'lustre:stripe_count': '2'})
        self.assertEqual({'provider_location': SHARE},
                         self.driver.create_cloned_volume(volume, src))
        dest = self._path(volume.name)
        # No temporary snapshot, no qemu-img but to grow the copy: the
        # source's file is copied as it is into the clone's striped file.
        self.qemu_img_info.assert_not_called()
        self.assertEqual(
            [mock.call('lfs', 'setstripe', '-c', '2', '--', dest,
                       run_as_root=True),
             mock.call('cp', '--sparse=always', '--', self._path(src.name),
                       dest, run_as_root=True)],
            [c for c in self._execute.call_args_list
             if c.args[0] in ('lfs', 'cp')])
        self.assertEqual(['resize'], self._qemu_img())
        self._assert_plain_image(dest, 'raw', 2)
        self._assert_guest_view([(dest, 'raw')], 1)
        self.assertEqual('raw', volume.admin_metadata['format'])
        self.assertEqual(SHARE, volume.provider_location)
        # The source was not touched: no overlay, no .info file.
        self.assertEqual(sorted([src.name, volume.name]),
                         sorted(os.listdir(self.mnt)))

    def test_create_cloned_volume_raw_thick_is_preallocated(self):
        src, volume = self._raw_clone_setup({'provisioning:type': 'thick'},
                                            size=1)
        self.driver.create_cloned_volume(volume, src)
        dest = self._path(volume.name)
        self.assertEqual(['cp', 'fallocate', 'chmod'],
                         [c.args[0] for c in self._execute.call_args_list])
        self._execute.assert_any_call('fallocate', '-l', '1G', dest,
                                      run_as_root=True)
        self._assert_guest_view([(dest, 'raw')], 1)

    @ddt.data('plain', 'snapshots', 'attached', 'source_key', 'clone_key',
              'qcow2', 'qcow2_source', 'multiattach_qcow2')
    def test_can_clone_by_copy(self, reason):
        src, volume = self._raw_clone_setup()
        if reason == 'snapshots':
            snap = '%s.%s' % (src.name, fake.SNAPSHOT_ID)
            self._write_info(src, {'active': snap, fake.SNAPSHOT_ID: snap})
        elif reason == 'attached':
            src.attach_status = fields.VolumeAttachStatus.ATTACHED
        elif reason == 'source_key':
            src.encryption_key_id = fake.ENCRYPTION_KEY_ID
        elif reason == 'clone_key':
            volume.encryption_key_id = fake.ENCRYPTION_KEY_ID
        elif reason == 'qcow2':
            self.override_config('lustre_qcow2_volumes', True)
        elif reason == 'multiattach_qcow2':
            # A multiattach clone is raw even where thin volumes are qcow2.
            self.override_config('lustre_qcow2_volumes', True)
            volume.multiattach = True
        elif reason == 'qcow2_source':
            src.admin_metadata = {'format': 'qcow2'}
        self.assertEqual(reason in ('plain', 'multiattach_qcow2'),
                         self.driver._can_clone_by_copy(volume, src))
        self._execute.assert_not_called()

    def test_create_cloned_volume_raw_refuses_existing_file(self):
        src, volume = self._raw_clone_setup()
        self._touch(volume.name, content='keep')
        self.assertRaises(lustre_client.LustreException,
                          self.driver.create_cloned_volume, volume, src)
        self._execute.assert_not_called()
        with open(self._path(volume.name)) as f:
            self.assertEqual('keep', f.read())

    def test_create_cloned_volume_raw_refuses_oversized_source(self):
        src, volume = self._raw_clone_setup()
        self._sparse_file(src.name, units.Gi + 1)
        self.assertRaises(exception.InvalidVolume,
                          self.driver.create_cloned_volume, volume, src)
        self._execute.assert_not_called()
        self.assertFalse(os.path.lexists(self._path(volume.name)))

    def test_create_cloned_volume_raw_refuses_bad_status(self):
        src, volume = self._raw_clone_setup(status='error')
        self.assertRaises(exception.InvalidVolume,
                          self.driver.create_cloned_volume, volume, src)
        self._execute.assert_not_called()

    @ddt.data('symlink', 'fifo', 'hardlink')
    def test_create_cloned_volume_raw_refuses_a_link(self, kind):
        src, volume = self._raw_clone_setup()
        path = self._path(src.name)
        self._point_at_host_file(path, kind)
        self.assertRaises(lustre_images.UnsafeImage,
                          self.driver.create_cloned_volume, volume, src)
        self.assertEqual([], self._commands('cp') + self._commands('qemu-img'))
        self.assertFalse(os.path.lexists(self._path(volume.name)))
        self._assert_host_file_unread()

    def test_create_cloned_volume_raw_failed_layout_removes_nothing(self):
        src, volume = self._raw_clone_setup({'lustre:stripe_count': '2'})
        self._execute.side_effect = putils.ProcessExecutionError(
            stderr='lfs setstripe: Invalid argument')
        self.assertRaises(putils.ProcessExecutionError,
                          self.driver.create_cloned_volume, volume, src)
        # Nothing was created, so nothing is removed.
        self.assertEqual(['lfs'], [c.args[0]
                                   for c in self._execute.call_args_list])
        self.assertEqual([src.name], os.listdir(self.mnt))

    def test_create_cloned_volume_raw_failed_copy_is_removed(self):
        src, volume = self._raw_clone_setup({'lustre:stripe_count': '2'})
        dest = self._path(volume.name)

        def execute(*cmd, **kwargs):
            if cmd[0] == 'lfs':
                open(dest, 'w').close()
            if cmd[0] == 'cp':
                raise putils.ProcessExecutionError(stderr='No space left')
            return self._execute_side_effect(*cmd, **kwargs)
        self._execute.side_effect = execute
        self.assertRaises(putils.ProcessExecutionError,
                          self.driver.create_cloned_volume, volume, src)
        self.assertEqual(mock.call('rm', '-f', '--', dest, run_as_root=True),
                         self._execute.call_args_list[-1])
        self.assertEqual([src.name], os.listdir(self.mnt))


class LustreRevertTestCase(_SnapshotsTestBase):

    def test_revert_to_snapshot(self):
        volume = self._volume()
        snapshot = self._snapshot_chain(volume)
        snap = self._path('%s.%s' % (volume.name, snapshot.id))
        infos = []

        def execute(*cmd, **kwargs):
            # At every step the .info file names a complete image.
            infos.append((self._read_info(volume), os.path.exists(snap)))
            return self._execute_side_effect(*cmd, **kwargs)
        self._execute.side_effect = execute
        self.driver.revert_to_snapshot(self.context, volume, snapshot)
        self.assertEqual({(json.dumps(self._read_info(volume)), True)},
                         {(json.dumps(i), e) for i, e in infos})
        self.assertEqual(
            [mock.call('mv', '-f', '--', snap + '.revert', snap,
                       run_as_root=True)], self._commands('mv'))
        self.assertEqual([], self._commands('rm'))
        # The guest's writes after the snapshot are gone; the new overlay
        # is on the base, as raw.
        self._assert_guest_view([(snap, 'qcow2'),
                                 (self._path(volume.name), 'raw')], 1)
        info = self._info_of(snap, 'qcow2')
        self.assertEqual((volume.name, 'raw'), (
            info['backing-filename'], info['backing-filename-format']))
        self.assertEqual(sorted([volume.name, volume.name + '.info',
                                 os.path.basename(snap)]),
                         sorted(os.listdir(self.mnt)))

    def test_revert_to_snapshot_failure_keeps_the_overlay(self):
        volume = self._volume()
        snapshot = self._snapshot_chain(volume)
        snap = self._path('%s.%s' % (volume.name, snapshot.id))
        self._touch(os.path.basename(snap) + '.revert', 'left by a crash')

        def execute(*cmd, **kwargs):
            if cmd[:2] == ('qemu-img', 'create'):
                raise putils.ProcessExecutionError(stderr='No space left')
            return self._execute_side_effect(*cmd, **kwargs)
        self._execute.side_effect = execute
        self.assertRaises(putils.ProcessExecutionError,
                          self.driver.revert_to_snapshot, self.context,
                          volume, snapshot)
        # The leftover of an earlier attempt went; the overlay is intact.
        self.assertFalse(os.path.exists(snap + '.revert'))
        self._assert_guest_view([(snap, 'qcow2'),
                                 (self._path(volume.name), 'raw')], 2)

    def test_revert_to_snapshot_not_latest(self):
        volume = self._volume()
        self._chain_files(volume, [fake.SNAPSHOT_ID, fake.SNAPSHOT2_ID])
        snapshot = self._snapshot(volume)
        self.assertRaises(exception.InvalidSnapshot,
                          self.driver.revert_to_snapshot, self.context,
                          volume, snapshot)
        self._execute.assert_not_called()

    def test_revert_to_snapshot_without_data(self):
        volume = self._volume()
        snap = '%s.%s' % (volume.name, fake.SNAPSHOT_ID)
        self._image(snap, 'qcow2')
        self._write_info(volume, {'active': snap, fake.SNAPSHOT_ID: snap})
        volume.admin_metadata = {'format': 'qcow2', 'base_format': 'raw'}
        self.assertRaises(exception.InvalidSnapshot,
                          self.driver.revert_to_snapshot, self.context,
                          volume, self._snapshot(volume))
        self.assertEqual([], self._qemu_img())
