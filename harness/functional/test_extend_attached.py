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

"""Extending an attached volume under a running qemu.

The guest's qemu is qemu-system-x86_64, stopped before its first
instruction (-S), with the volume's chain opened as libvirt would (every
node explicit) under a virtio-blk device: it takes qemu's locks on the
files and the permissions a guest's disk takes. The guest writes through
that device (the monitor's qemu-io). Nova's part, libvirt's
virDomainBlockResize, is QMP block_resize; Cinder's part is the driver's
extend_volume and then what the volume manager records (the new size).
The guest's data is checked after, and the grown image is attached again
(the driver's size check passes).
"""

import json
import os
import socket
import subprocess
import time
import uuid

from base import FunctionalTestCase
from base import GiB
from base import MiB
from base import run

from cinder import exception
from cinder import objects
from cinder.tests.unit import utils as test_utils

NODE = 'vol'
DEVICE = 'vdev'


class Qemu(object):
    """A guest's qemu holding a volume's chain, with its QMP monitor."""

    def __init__(self, tmp, chain):
        self.qmp = os.path.join(tmp, 'qmp.sock')
        self.log = os.path.join(tmp, 'qemu.log')
        node = dict(chain.node(), **{'node-name': NODE})
        with open(self.log, 'wb') as log:
            self.proc = subprocess.Popen(
                ['qemu-system-x86_64', '-machine', 'q35,accel=tcg',
                 '-nodefaults', '-display', 'none', '-S',
                 '-blockdev', json.dumps(node),
                 '-device', 'virtio-blk-pci,drive=%s,id=%s' % (NODE, DEVICE),
                 '-qmp', 'unix:%s,server=on,wait=off' % self.qmp],
                stdout=log, stderr=subprocess.STDOUT)
        for _i in range(300):
            if os.path.exists(self.qmp):
                break
            if self.proc.poll() is not None:
                raise AssertionError(self.output())
            time.sleep(0.1)
        else:
            raise AssertionError('qemu did not start: %s' % self.output())
        self.sock = socket.socket(socket.AF_UNIX)
        self.sock.connect(self.qmp)
        self.stream = self.sock.makefile('rw')
        self.stream.readline()
        self.execute('qmp_capabilities')

    def execute(self, command, **arguments):
        self.stream.write(json.dumps({'execute': command,
                                      'arguments': arguments}) + '\n')
        self.stream.flush()
        while True:
            reply = json.loads(self.stream.readline())
            if 'error' in reply:
                raise AssertionError('%s: %s' % (command, reply['error']))
            if 'return' in reply:
                return reply['return']

    def write(self, byte, offset, length=MiB):
        """The guest writes, through its disk (output in the log)."""
        self.execute('human-monitor-command', **{
            'command-line': 'qemu-io -d %s/virtio-backend "write -P %d %d '
                            '%d"' % (DEVICE, byte, offset, length)})

    def disk_size(self):
        """The size of the disk the guest sees."""
        for block in self.execute('query-block'):
            if block.get('inserted', {}).get('node-name') == NODE:
                return block['inserted']['image']['virtual-size']
        raise AssertionError('no disk %s' % NODE)

    def block_resize(self, size):
        """What Nova's libvirt driver does: virDomainBlockResize."""
        self.execute('block_resize', **{'node-name': NODE, 'size': size})

    def output(self):
        with open(self.log) as f:
            return f.read()

    def stop(self):
        if self.proc.poll() is None:
            self.execute('quit')
            self.proc.wait(30)
            self.sock.close()


class ExtendAttachedTestCase(FunctionalTestCase):

    def setUp(self):
        super().setUp()
        self.driver = self.make_driver()
        self.types = {
            'thin': self.make_volume_type(
                'thin', **{'provisioning:type': 'thin'}),
            'thick': self.make_volume_type(
                'thick', **{'provisioning:type': 'thick'}),
        }

    def _attached(self, kind, snapshot=False):
        """A volume with guest data, attached to a running qemu."""
        volume = self.make_volume(self.driver, self.types[kind])
        self.write(self.driver, volume, 0, 0xa1)
        if snapshot:
            self.make_snapshot(self.driver, volume)
        test_utils.attach_volume(self.ctxt, volume.id, str(uuid.uuid4()),
                                 'node1', '/dev/vdb')
        volume = objects.Volume.get_by_id(self.ctxt, volume.id)
        qemu = Qemu(self.tmp, self.chain(self.driver, volume))
        self.addCleanup(qemu.stop)
        qemu.write(0xa2, GiB - MiB)
        return volume, qemu

    def _virtual_size(self, volume):
        """What the active image's header says (read by the driver)."""
        chain = self.chain(self.driver, volume)
        return self.driver._reader.header(chain.active).virtual_size

    def _nova_completes(self, volume, qemu):
        """Nova grows the disk in qemu; Cinder records the new size."""
        self.assertEqual(GiB, qemu.disk_size())
        qemu.block_resize(2 * GiB)
        self.assertEqual(2 * GiB, qemu.disk_size())
        qemu.write(0xa3, 2 * GiB - MiB)
        volume.size = 2
        volume.save()

    def _assert_guest_data(self, volume, qemu):
        """What the guest wrote, before and after, is in the files."""
        qemu.stop()
        output = qemu.output()
        self.assertEqual(2, output.count('wrote %d/%d bytes' % (MiB, MiB)),
                         output)
        self.assertEqual(2 * GiB, self._virtual_size(volume))
        filename = self.chain(self.driver, volume).filename()
        for check in ('read -P 0xa1 0 %d' % MiB,
                      'read -P 0xa2 %d %d' % (GiB - MiB, MiB),
                      'read -P 0 %d %d' % (GiB, MiB),
                      'read -P 0xa3 %d %d' % (2 * GiB - MiB, MiB)):
            out = run('qemu-io', '-r', '-c', check, filename)
            self.assertNotIn('Pattern verification failed', out)
        # Attached again: the grown image is the size Cinder recorded.
        self.driver.initialize_connection(volume, {})

    def test_raw_grown_by_cinder_under_qemu(self):
        volume, qemu = self._attached('thick')
        path = self.driver.local_path(volume)
        # qemu-img could not: the guest's qemu holds the file.
        self.assertNotEqual(0, subprocess.run(
            ['qemu-img', 'resize', '-f', 'raw', path, '2G'],
            capture_output=True).returncode)
        self.driver.extend_volume(volume, 2)
        self.assertEqual(2 * GiB, os.path.getsize(path))
        # Thick: the new part is allocated too.
        self.assertGreaterEqual(os.stat(path).st_blocks * 512, 2 * GiB)
        self._nova_completes(volume, qemu)
        self._assert_guest_data(volume, qemu)

    def _left_to_qemu(self, kind, snapshot):
        volume, qemu = self._attached(kind, snapshot)
        files = {path: os.path.getsize(path) for path in (
            image.path for image in self.chain(self.driver, volume).images)}
        self.assertRaises(exception.ExtendVolumeCompletionRequired,
                          self.driver.extend_volume, volume, 2)
        # Cinder wrote nothing under the running qemu.
        self.assertEqual(files, {path: os.path.getsize(path)
                                 for path in files})
        self.assertEqual(GiB, self._virtual_size(volume))
        self._nova_completes(volume, qemu)
        self._assert_guest_data(volume, qemu)
        return volume

    def test_qcow2_grown_by_qemu(self):
        self._left_to_qemu('thin', snapshot=False)

    def test_overlay_grown_by_qemu_base_frozen(self):
        volume = self._left_to_qemu('thick', snapshot=True)
        base = self.chain(self.driver, volume).images[-1]
        self.assertEqual(('raw', GiB), (base.fmt, os.path.getsize(base.path)))
