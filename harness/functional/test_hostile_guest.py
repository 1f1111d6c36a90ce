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

"""A hostile guest: every operation, whatever the guest wrote.

A guest owns every byte of its disk. Here it writes, at offset 0, what
makes qemu-img follow a file of the host when it guesses the format: a
qcow2 header whose backing file is a host file (the canary), a qcow2
header whose data file is a host file (the victim), a LUKS header, a VMDK
descriptor whose extent is the canary; or benign bytes, the sanity case
that proves the harness. Raw volumes get the bytes in their file, qcow2
volumes in their guest-visible data (qemu-io); with snapshots, in the base
and again in the active overlay. Then the operations run in turn on that
volume, the guest writing the payload again into each new overlay: after
each, the host files must be unread and unchanged (atime, size, mtime,
SHA-256); at the end, no file of the shares, the conversion directory or
an uploaded image holds host bytes, and every volume (the source, its
snapshots, whatever the operations made) holds the bytes its guest wrote.

Attached (test_online_snapshots), snapshots are taken and deleted
through the fake Nova, the guest writing the payload into each overlay
Nova moves it to. Backups (full, then incremental, restored) read and
write whole volumes: with the online cases they run each payload once,
over the four kinds of volume.

Copy to image is not in the sequence: it reads a host file (issue 23).

Test ids: test_<operations>_<n>_<kind>_<snapshots>_<payload> (ddt), kind
qcow2 (thin) or rawthick.
"""

import os

from base import GiB
from base import run
import ddt
from hostile import craft_payloads
from hostile import find_bytes
from hostile import HostFiles
from hostile import HostileTestCase
from hostile import qemu_json

# In this order on one volume: copies first, then what changes it.
OPERATIONS = ('attach', 'snapshot_create', 'clone', 'copy_to_image',
              'volume_from_snapshot_thin', 'volume_from_snapshot_thick',
              'retype', 'revert', 'extend',
              'snapshot_delete')
HOSTILE = ('backing_file', 'data_file', 'luks', 'vmdk')
VOLUMES = [(kind, snapshots) for kind in ('qcow2', 'rawthick')
           for snapshots in (0, 2)]
SEQUENCES = [(kind, snapshots, payload)
             for kind, snapshots in VOLUMES
             for payload in HOSTILE + ('benign',)
             # The sanity case once: it proves the witnesses.
             if payload != 'benign' or (kind, snapshots) == ('qcow2', 2)]
# Attached: Nova moves the guest to each new overlay, where it writes the
# payload again, between the driver's steps.
ONLINE = ('snapshot_create_online', 'snapshot_delete_online')
# Each payload once, each kind of volume once.
BACKUPS = [VOLUMES[i] + (HOSTILE[i],) for i in range(len(HOSTILE))]


@ddt.ddt
class HostileGuestTestCase(HostileTestCase):

    @ddt.data(*SEQUENCES)
    @ddt.unpack
    def test_operations(self, kind, snapshots, payload):
        volume = self.prepare(kind, snapshots, payload)
        self.run_sequence(volume, OPERATIONS)

    @ddt.data(*BACKUPS)
    @ddt.unpack
    def test_online_snapshots(self, kind, snapshots, payload):
        volume = self.prepare(kind, snapshots, payload, attached=True)
        self.run_sequence(volume, ONLINE)

    @ddt.data(*BACKUPS)
    @ddt.unpack
    def test_backup_restore(self, kind, snapshots, payload):
        volume = self.prepare(kind, snapshots, payload)
        self.run_sequence(volume, ('backup',))

    def test_payloads_are_live(self):
        # Each payload, in a raw file that qemu-img is let guess, makes it
        # follow the host file: the weapons are real.
        host = HostFiles(os.path.join(self.tmp, 'live-host'))
        payloads = craft_payloads(os.path.join(self.tmp, 'live-craft'), host)
        host.plant()
        expect = {'backing_file': ('qcow2', 'backing-filename',
                                   host.canary),
                  'data_file': ('qcow2', 'data-file', host.victim),
                  'vmdk': ('vmdk', 'filename', host.canary),
                  'luks': ('luks', None, None),
                  'benign': ('raw', None, None)}
        for payload, (fmt, key, target) in expect.items():
            scratch = os.path.join(self.tmp, 'disk-' + payload)
            with open(scratch, 'wb') as f:
                f.truncate(GiB)
                f.write(payloads[payload])
            info = qemu_json(scratch)
            self.assertEqual(fmt, info['format'], payload)
            if payload == 'backing_file':
                self.assertEqual(target, info[key])
            elif payload == 'data_file':
                self.assertEqual(
                    target, info['format-specific']['data'][key])
            elif payload == 'vmdk':
                self.assertEqual(
                    target,
                    info['format-specific']['data']['extents'][0][key])
            if target:
                # Converted with a guessed format: the host's bytes.
                out = os.path.join(self.tmp, 'live-out', payload)
                os.makedirs(os.path.dirname(out), exist_ok=True)
                run('qemu-img', 'convert', '-O', 'raw', scratch, out)
                self.assertNotEqual([], find_bytes([os.path.dirname(out)],
                                                   host.needles()), payload)
                os.unlink(out)
            os.unlink(scratch)
