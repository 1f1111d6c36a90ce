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

"""Cinder's Lustre client adapter, with and without the os-brick companion.

Run in the shared Cinder venv (``tox -e os-brick-cinder``), where
harness/overlay.py has laid the os-brick companion over os-brick 7.1.1 and
kept the pristine ``remotefs.py`` beside it as ``remotefs.py.lustre-orig``.
``make_remotefs_client`` must pick os-brick's own client there, and its
fallback for stock os-brick (loaded here from the pristine copy) must mount
exactly the same way.
"""

import importlib.machinery
import importlib.util
import os
import unittest
from unittest import mock

from os_brick import exception as brick_exception
from os_brick.remotefs import remotefs

from cinder.volume.drivers import lustre_client

SHARE = '192.0.2.10@tcp:192.0.2.11@tcp:/testfs/cinder'
BASE = '/var/lib/cinder/mnt'
OPTIONS = 'flock'


def _stock_remotefs():
    """os-brick 7.1.1's remotefs module as released (no Lustre)."""
    path = remotefs.__file__ + '.lustre-orig'
    if not os.path.exists(path):
        raise unittest.SkipTest('the os-brick companion is not laid over '
                                'os-brick (no %s)' % path)
    loader = importlib.machinery.SourceFileLoader(
        'os_brick_stock_remotefs', path)
    spec = importlib.util.spec_from_loader(loader.name, loader)
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    return module


class CinderLustreAdapterTestCase(unittest.TestCase):

    def _mount_calls(self, client):
        execute = mock.Mock(return_value=('', ''))
        client.set_execute(execute)
        with mock.patch.object(client, '_read_mounts', return_value={}):
            client.mount(SHARE)
        return execute.call_args_list

    def _make(self):
        return lustre_client.make_remotefs_client(
            'sudo', mock.sentinel.execute, BASE, OPTIONS)

    def test_companion_client_is_used(self):
        client = self._make()

        self.assertIs(remotefs.RemoteFsClient, type(client))
        self.assertEqual('lustre', client._mount_type)
        self.assertEqual(BASE, client.get_mount_base())
        mount_point = client.get_mount_point(SHARE)
        self.assertEqual(BASE, os.path.dirname(mount_point))
        self.assertEqual(
            [mock.call('mkdir', '-p', mount_point, check_exit_code=0),
             mock.call('mount', '-t', 'lustre', '-o', OPTIONS, SHARE,
                       mount_point, root_helper='sudo', run_as_root=True,
                       check_exit_code=0)],
            self._mount_calls(client))

    def test_stock_os_brick_falls_back_and_mounts_alike(self):
        stock = _stock_remotefs()
        self.assertRaises(brick_exception.ProtocolNotSupported,
                          stock.RemoteFsClient, 'lustre', 'sudo',
                          lustre_mount_point_base=BASE)

        with mock.patch.object(lustre_client, 'remotefs_brick', stock):
            fallback = self._make()

        self.assertIsInstance(fallback, lustre_client._LustreRemoteFsClient)
        companion = self._make()
        self.assertEqual(companion.get_mount_point(SHARE),
                         fallback.get_mount_point(SHARE))
        self.assertEqual(self._mount_calls(companion),
                         self._mount_calls(fallback))


if __name__ == '__main__':
    unittest.main()
