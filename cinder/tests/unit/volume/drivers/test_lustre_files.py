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

"""Tests of lustre_files: a volume's own files, copies and passphrases."""

import os
from unittest import mock

import ddt

from cinder.tests.unit import fake_constants as fake
# The module, never its classes: stestr would run them twice.
from cinder.tests.unit.volume.drivers import test_lustre
from cinder.volume.drivers import lustre_client
from cinder.volume.drivers import lustre_files as files
from cinder.volume.drivers import lustre_images as images
from cinder.volume import volume_utils


@ddt.ddt
class LustreFilesTestCase(test_lustre.LustreTestBase):

    @ddt.data(('volume-1', True), ('volume-1.snap', True),
              ('volume-1.tmp-snap-x', True), ('volume-1.info', False),
              ('volume-1.x.info', False), ('volume-1X', False),
              ('volume-2', False), ('../volume-1', False),
              ('volume-1/x', False), ('sub/volume-1.x', False),
              ('/volume-1', False), ('', False), (5, False), (None, False),
              (['volume-1'], False))
    @ddt.unpack
    def test_is_own_file_name(self, name, own):
        self.assertEqual(own, files.is_own_file_name('volume-1', name))

    def test_own_file_path(self):
        self.assertEqual(os.path.join(self.mnt, 'volume-1.snap'),
                         files.own_file_path(self.mnt, 'volume-1',
                                             'volume-1.snap'))
        exc = self.assertRaises(lustre_client.LustreException,
                                files.own_file_path, self.mnt, 'volume-1',
                                'volume-2')
        self.assertIn('volume-1.info names', str(exc))

    @ddt.data(({}, False), ({'active': 'volume-1'}, False),
              ({'active': 'volume-1.snap', 'snap': 'volume-1'}, True))
    @ddt.unpack
    def test_has_snapshots(self, info, snapshots):
        self.assertEqual(snapshots, files.has_snapshots(info))

    def test_read_text(self):
        path = self._touch('volume-1.info', '{"active": "volume-1"}')
        self.assertEqual('{"active": "volume-1"}', files.read_text(path))

    @ddt.data('symlink', 'fifo', 'missing')
    def test_read_text_refuses(self, kind):
        # A link is not followed, and a FIFO would block the service.
        path = self._path('volume-1.info')
        if kind == 'symlink':
            os.symlink(self.host_file, path)
        elif kind == 'fifo':
            os.mkfifo(path)
        self.assertRaises(images.UnsafeImage, files.read_text, path)
        self._assert_host_file_unread()

    def test_sparse_copy(self):
        src = self._image('volume-1', 'raw')
        dest = self._touch('volume-2', '')
        with open(src, 'r+b') as f:
            f.write(b'guest')
        files.sparse_copy(self._execute, src, dest, True)
        self._execute.assert_called_once_with(
            'cp', '--sparse=always', '--', src, dest, run_as_root=True)
        # Into the file there, holes kept.
        self.assertEqual(os.path.getsize(src), os.path.getsize(dest))
        self.assertLess(os.stat(dest).st_blocks * 512, 1024 * 1024)
        with open(dest, 'rb') as f:
            self.assertEqual(b'guest', f.read(5))

    @ddt.data('source', 'target')
    def test_sparse_copy_refuses_link(self, end):
        src, dest = self._path('volume-1'), self._path('volume-2')
        self._touch('volume-2' if end == 'source' else 'volume-1')
        os.symlink(self.host_file, src if end == 'source' else dest)
        self.assertRaises(images.UnsafeImage, files.sparse_copy,
                          self._execute, src, dest, True)
        self._execute.assert_not_called()
        self._assert_host_file_unread()

    def test_passphrase_file(self):
        os.makedirs(os.path.join(self.tempdir, 'conversion'), exist_ok=True)
        keymgr = mock.Mock()
        keymgr.get.return_value = test_lustre.KeyObject()
        self.mock_object(files.key_manager, 'API', return_value=keymgr)
        with files.passphrase_file(self.context, fake.ENCRYPTION_KEY_ID) \
                as path:
            with open(path) as f:
                self.assertEqual(test_lustre.PASSPHRASE, f.read())
            self.assertEqual(os.path.join(self.tempdir, 'conversion'),
                             os.path.dirname(path))
        keymgr.get.assert_called_once_with(self.context,
                                           fake.ENCRYPTION_KEY_ID)
        self.assertFalse(os.path.exists(path))
        with files.passphrase_file(self.context, None) as path:
            self.assertIsNone(path)
        keymgr.get.assert_called_once()

    def test_volume_passphrase(self):
        volume = self._volume()
        with files.volume_passphrase(volume) as path:
            self.assertIsNone(path)

    def test_encrypt_options(self):
        check = self.mock_object(
            volume_utils, 'check_encryption_provider',
            return_value={'cipher': 'aes-xts-plain64', 'key_size': 256})
        self.assertEqual('', files.encrypt_options(self._volume()))
        check.assert_not_called()
        volume = self._volume(encryption_key_id=fake.ENCRYPTION_KEY_ID)
        self.assertEqual(
            images.QemuImg.encrypt_options('aes-xts-plain64', 256),
            files.encrypt_options(volume))
        check.assert_called_once_with(volume, volume.obj_context)
