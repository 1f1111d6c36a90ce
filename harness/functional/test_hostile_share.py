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

"""A hostile share: whoever else can write the file system.

Every compute host mounts the share, so any of them can change a volume's
files between two driver operations. Here, with another tenant's volume
on the same share, one volume's file is replaced: its base file without
snapshots (base0, raw thick) or its active overlay under two snapshots
(top2, qcow2) becomes a symbolic link to a host file or to the other
volume's file, a hard link to the other volume's file, or a FIFO; or the
active overlay's backing file is rewritten to a host file, the other
volume or itself (a loop). Then the operations run in turn on it.

Each must refuse with a Cinder exception (the driver's UnsafeImage is a
VolumeDriverException) and touch nothing: the tampered file is left as it
was, the host files are unread and unchanged, the other volume's file is
unchanged and its bytes appear nowhere else, no host bytes appear on the
shares or in an image, and nothing hangs (a watchdog kills what blocks and
fails the case). Delete alone may succeed, if it touched nothing else.
The sanity cases (untampered) run the same operations on the same
volumes, which must all succeed and keep the guest's bytes.

Test ids: test_<tampered|untampered>_<n>_<tamper>_<target> (ddt).
"""

import json
import os
import stat
import subprocess

from base import MiB
from base import run
import ddt
from hostile import find_bytes
from hostile import HostileTestCase

from cinder import exception

REPLACEMENTS = ('symlink_host', 'symlink_other', 'hardlink_other', 'fifo')
CHAIN = ('chain_host', 'chain_other', 'chain_loop')
# target: (volume kind, snapshots, the file tampered with)
TARGETS = {'base0': ('rawthick', 0, 'base'),
           'top2': ('qcow2', 2, 'active')}
# In this order; delete last.
OPERATIONS = ('attach', 'extend', 'snapshot_create', 'snapshot_delete',
              'clone', 'volume_from_snapshot', 'copy_to_image', 'backup',
              'retype', 'revert', 'delete')
TAMPERED = ([(tamper, 'base0') for tamper in REPLACEMENTS] +
            [(tamper, 'top2') for tamper in REPLACEMENTS + CHAIN])


def may_succeed(tamper, operation):
    """Whether an operation may succeed on a tampered share.

    Delete only removes the volume's own names. Retype (a layout change)
    moves the objects of the files .info names with lfs migrate, and hands
    no chain to qemu-img: a forged backing file is not its business. Both
    are still held to the witnesses.
    """
    return operation == 'delete' or (operation == 'retype' and
                                     tamper in CHAIN)


@ddt.ddt
class HostileShareTestCase(HostileTestCase):

    def prepare_share(self, target):
        kind, snapshots, _file = TARGETS[target]
        volume = self.prepare(kind, snapshots, 'benign')
        # Another tenant's volume on the same share, with its own bytes.
        self.other = self.new_volume(self.types['thick'])
        self.other_bytes = os.urandom(64 * 1024)
        self.guest_writes(self.other, 100 * MiB, self.other_bytes)
        return self.vol(volume)

    def tamper(self, how, target, volume):
        """Change the share as another client would; return the path."""
        other_path = self.driver.local_path(self.other)
        path = self.active(volume)[0] if TARGETS[target][2] == 'active' \
            else self.driver.local_path(volume)
        if how in CHAIN:
            backing = {'chain_host': (self.host.canary, 'raw'),
                       'chain_other': (self.other.name, 'raw'),
                       'chain_loop': (os.path.basename(path), 'qcow2')}[how]
            run('qemu-img', 'rebase', '-q', '-u', '-f', 'qcow2', '-b',
                backing[0], '-F', backing[1], path)
            return path
        os.unlink(path)
        if how == 'symlink_host':
            os.symlink(self.host.canary, path)
        elif how == 'symlink_other':
            os.symlink(other_path, path)
        elif how == 'hardlink_other':
            os.link(other_path, path)
        elif how == 'fifo':
            os.mkfifo(path)
            self.fifos.append(path)
        return path

    def attach_problems(self, volume, conn):
        """What Nova would open, if it is not the volume's own chain."""
        directory = self.driver._local_volume_dir(volume)
        name, fmt = conn['data']['name'], conn['data']['format']
        problems, seen = [], set()
        while name:
            path = os.path.join(directory, name)
            if (os.path.basename(name) != name or
                    not name.startswith(volume.name) or name in seen):
                return ['attach hands Nova a chain through %r' % name]
            seen.add(name)
            st = os.lstat(path)
            if not stat.S_ISREG(st.st_mode) or st.st_nlink != 1:
                return ['attach hands Nova %s, which is %s with %d links' %
                        (name, stat.filemode(st.st_mode), st.st_nlink)]
            if fmt != 'qcow2':
                break
            proc = subprocess.run(['qemu-img', 'info', '--output=json', '-f',
                                   'qcow2', '--force-share', path],
                                  capture_output=True, text=True)
            if proc.returncode:
                return ['attach hands Nova %s as qcow2, which it is not: %s'
                        % (name, proc.stderr.strip())]
            header = json.loads(proc.stdout)
            name = header.get('backing-filename')
            fmt = header.get('backing-filename-format')
        return problems

    def _call(self, operation, volume, conns):
        if operation == 'attach':
            return lambda: conns.append(  # noqa: E731
                self.driver.initialize_connection(self.vol(volume), {}))
        if operation == 'delete':
            return lambda: self.driver.delete_volume(  # noqa: E731
                self.vol(volume))
        if operation == 'volume_from_snapshot':
            return lambda: self.op_volume_from_snapshot_thin(  # noqa: E731
                self.vol(volume))
        if operation == 'backup':
            return lambda: self.backup_and_restore(  # noqa: E731
                self.vol(volume))
        return lambda: getattr(self, 'op_' + operation)(  # noqa: E731
            self.vol(volume))

    @staticmethod
    def file_state(path, operation=None):
        st = os.lstat(path)
        state = (stat.filemode(st.st_mode), st.st_ino, st.st_nlink,
                 st.st_size, st.st_mtime_ns)
        if operation == 'delete':
            return state[:2] + state[3:]
        return state

    @ddt.data(*TAMPERED)
    @ddt.unpack
    def test_tampered(self, tamper, target):
        volume = self.prepare_share(target)
        self.fifos = []
        tampered = self.tamper(tamper, target, volume)
        # The tampered volume's guest cannot write into a link or FIFO.
        self.guest_running = False
        other_path = self.driver.local_path(self.other)
        problems = []
        for operation in OPERATIONS:
            other_before = self.file_state(other_path)
            tampered_before = self.file_state(tampered)
            conns = []
            error, dog = self.run_operation(
                self._call(operation, volume, conns), fifos=self.fifos)
            found = self.step_problems(None, dog)
            if error is None:
                if operation == 'attach':
                    found += self.attach_problems(volume, conns[0])
                elif not may_succeed(tamper, operation):
                    found.append('SUCCEEDED on a tampered share (%s at %s):'
                                 ' it must refuse' % (tamper, target))
            elif not isinstance(error, exception.CinderException):
                found.append('UNCLEAR ERROR: not a Cinder exception: %s: '
                             '%s\n%s' % (type(error).__name__, error,
                                         self.error_trace))
            if operation == 'delete':
                # Deleting the tampered name of a hard link leaves the
                # other volume's file, one link less.
                other_before = other_before[:2] + other_before[3:]
            if self.file_state(other_path, operation) != other_before:
                found.append("the OTHER volume's file changed: %s -> %s" % (
                    other_before, self.file_state(other_path, operation)))
            if (operation != 'delete' and
                    self.file_state(tampered) != tampered_before):
                found.append('the tampered file changed: %s -> %s' % (
                    tampered_before, self.file_state(tampered)))
            problems += ['%s: %s' % (operation, why) for why in found]
            if dog.fired:
                break
        # Only the other volume's bytes are known; outputs are scanned.
        self.models = {self.other.id: self.models[self.other.id]}
        self.files = []
        problems += self.final_problems()
        if problems:
            self.fail('\n'.join(problems))

    @ddt.data(*TARGETS)
    def test_untampered(self, target):
        """The sanity case: the same operations, all done, bytes kept."""
        volume = self.prepare_share(target)
        problems = []
        for operation in OPERATIONS[:-1]:
            conns = []
            error, dog = self.run_operation(
                self._call(operation, volume, conns))
            found = self.step_problems(error, dog)
            if operation == 'attach' and conns:
                found += self.attach_problems(volume, conns[0])
            problems += ['%s: %s' % (operation, why) for why in found]
        problems += self.final_problems()
        if problems:
            self.fail('\n'.join(problems))

    def backup_and_restore(self, volume):
        self.use_backup_share()
        self.restore(self.backup(volume), self.models[volume.id].guest)

    def leaks(self):
        """Host bytes, and the other volume's bytes outside its file."""
        found = super().leaks()
        other = os.lstat(self.driver.local_path(self.other))
        needle = {'other@0': self.other_bytes[:48]}
        for path, key in find_bytes(self.host_roots(), needle):
            if os.lstat(path).st_ino != other.st_ino:
                found.append('OTHER VOLUME\'S BYTES (%s) in %s' % (key,
                                                                   path))
        for image_id, data in self.image_service._imagedata.items():
            if needle['other@0'] in data:
                found.append('OTHER VOLUME\'S BYTES in image %s' % image_id)
        return found
