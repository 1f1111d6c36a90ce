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

"""What the hostile-guest and hostile-share suites attack with and watch.

* HostFiles: files outside the share (a canary with known bytes, a victim
  for data files) whose reads (atime), changes (size, mtime, SHA-256) and
  neighbours (new or removed entries) are witnessed;
* payloads: what a guest writes at offset 0 of its disk, crafted with the
  real qemu-img: a qcow2 header whose backing file is the canary, a qcow2
  header whose data file is the victim, a LUKS header, a VMDK descriptor
  whose extent is the canary, and benign bytes for the sanity cases;
* GuestDisk: what the guest wrote, kept apart from the volume, as the
  oracle its views are compared with;
* Watchdog: a driver call that blocks (a FIFO, a device) fails the case
  instead of the run;
* Nova: the online snapshot calls of Nova, done to the files with
  qemu-img as libvirt would, formats taken from the qcow2 headers.
"""

import collections
import hashlib
import json
import os
import signal
import stat
import subprocess
import time
import traceback
import uuid

from base import FunctionalTestCase
from base import GiB
from base import ImageService
from base import MGS
from base import MiB
from base import run
from eventlet import patcher

from cinder.backup.drivers import lustre as lustre_backup
from cinder import exception
from cinder import objects
from cinder.objects import fields
from cinder.tests.unit import utils as test_utils
from cinder.volume import volume_types

# The suites run monkey-patched by eventlet: the watchdog must be a real
# thread, which runs while the test's thread is blocked in a system call,
# and must use the real os calls (green ones would wait in a hub of its
# own, for ever).
_real_threading = patcher.original('threading')
_real_os = patcher.original('os')

HOST_FILE_SIZE = 64 * 1024
# Bytes of a host file looked for in outputs: three slices of it.
NEEDLE = 48
PAYLOADS = ('benign', 'backing_file', 'data_file', 'luks', 'vmdk')


def qemu_json(*args):
    """qemu-img info of an image read as the format given, never probed."""
    return json.loads(run('qemu-img', 'info', '--output=json',
                          '--force-share', *args))


class HostFiles(object):
    """Files outside the share that no volume operation may touch.

    Reads are seen through atime: the files' atime is set older than their
    mtime, so with relatime (or strictatime) any read updates it. The
    harness itself reads them with O_NOATIME.
    """

    def __init__(self, directory):
        self.dir = directory
        os.makedirs(directory, exist_ok=True)
        self.canary = os.path.join(directory, 'canary')
        self.victim = os.path.join(directory, 'victim')
        self.contents = {}
        self.baseline = None

    def plant(self):
        """Write the files with fresh random bytes; take the baseline."""
        day = 24 * 3600 * 10 ** 9
        now = time.time_ns()
        for path in (self.canary, self.victim):
            if os.path.lexists(path):
                os.unlink(path)
            data = os.urandom(HOST_FILE_SIZE)
            with open(path, 'wb') as f:
                f.write(data)
            os.utime(path, ns=(now - 3 * day, now - 2 * day))
            self.contents[os.path.basename(path)] = data
        self.baseline = self.state()

    def state(self):
        state = {}
        for name in sorted(os.listdir(self.dir)):
            path = os.path.join(self.dir, name)
            st = os.lstat(path)
            entry = {'mode': oct(st.st_mode), 'size': st.st_size,
                     'mtime': st.st_mtime_ns, 'atime': st.st_atime_ns}
            if stat.S_ISREG(st.st_mode):
                entry['sha256'] = _digest_noatime(path)
            state[name] = entry
        return state

    def violations(self):
        """What happened to the host files since plant(), in words."""
        now = self.state()
        found = []
        for name in sorted(set(now) | set(self.baseline)):
            old, new = self.baseline.get(name), now.get(name)
            if old is None:
                found.append('host file %s was created' % name)
            elif new is None:
                found.append('host file %s was removed' % name)
            else:
                if new['atime'] != old['atime']:
                    found.append('host file %s was READ (atime changed)'
                                 % name)
                changed = [key for key in ('mode', 'size', 'mtime', 'sha256')
                           if new.get(key) != old.get(key)]
                if changed:
                    found.append('host file %s was WRITTEN (%s: %s -> %s)'
                                 % (name, ', '.join(changed),
                                    [old.get(k) for k in changed],
                                    [new.get(k) for k in changed]))
        return found

    def needles(self):
        needles = {}
        for name, data in self.contents.items():
            for at in (0, len(data) // 2 + 13, len(data) - NEEDLE):
                needles['%s@%d' % (name, at)] = data[at:at + NEEDLE]
        return needles


def _digest_noatime(path):
    digest = hashlib.sha256()
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NOATIME)
    with os.fdopen(fd, 'rb') as f:
        for block in iter(lambda: f.read(4 * MiB), b''):
            digest.update(block)
    return digest.hexdigest()


def _data_segments(fd, size):
    """(offset, length) of the data of a file, holes skipped."""
    offset = 0
    while offset < size:
        try:
            start = os.lseek(fd, offset, os.SEEK_DATA)
        except OSError:
            return
        end = os.lseek(fd, start, os.SEEK_HOLE)
        yield start, end - start
        offset = end


def _regular_files(roots):
    for root in roots:
        for directory, _dirs, files in os.walk(root):
            for name in files:
                path = os.path.join(directory, name)
                st = os.lstat(path)
                if stat.S_ISREG(st.st_mode):
                    yield path, st


def evict(roots):
    """Drop the page cache of every file under roots (after writing it).

    A read of a preallocated (unwritten) extent leaves zero pages cached,
    and SEEK_DATA then reports them as data: qemu-img compare and the
    byte search would read whole thick volumes again and again.
    """
    for path, _st in _regular_files(roots):
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NOATIME)
        try:
            os.fdatasync(fd)
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        finally:
            os.close(fd)


_ZEROS = bytes(8 * MiB + NEEDLE)


def find_bytes(roots, needles):
    """[(path, needle name)] for every regular file holding a needle.

    Links are not followed and files are read with O_NOATIME: the search
    itself must not read a host file or mark one read.
    """
    found = []
    step = 8 * MiB
    for path, st in _regular_files(roots):
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NOATIME)
        try:
            hits = set()
            for start, length in _data_segments(fd, st.st_size):
                for pos in range(start, start + length, step):
                    block = os.pread(fd, min(step + NEEDLE,
                                             start + length - pos), pos)
                    if block == _ZEROS[:len(block)]:
                        continue
                    hits.update(key for key, needle in needles.items()
                                if needle in block)
            found += [(path, key) for key in sorted(hits)]
        finally:
            os.close(fd)
    return found


# -- payloads ---------------------------------------------------------------

_LUKS = {}


def _luks_header(workdir):
    """A LUKS header (key slots included).

    qemu-img spends seconds timing its key derivation (and under load may
    fail to): the header, which names no path, is made once per machine
    and kept in the temporary directory for every later process.
    """
    if 'header' in _LUKS:
        return _LUKS['header']
    # Not tempfile.gettempdir(): the tests give each test a temporary
    # directory of its own.
    cache = '/tmp/lustre-functional-luks-header.bin'
    try:
        with open(cache, 'rb') as f:
            header = f.read()
        if header.startswith(b'LUKS\xba\xbe'):
            _LUKS['header'] = header
            return header
    except OSError:
        pass
    path = os.path.join(workdir, 'luks.img')
    for _attempt in range(5):
        proc = subprocess.run(
            ['qemu-img', 'create', '-q', '-f', 'luks', '--object',
             'secret,id=s0,data=guest-secret', '-o',
             'key-secret=s0,iter-time=100', path, '16M'],
            capture_output=True, text=True)
        if not proc.returncode:
            break
    else:
        raise AssertionError('qemu-img could not make a LUKS image: %s'
                             % proc.stderr)
    info = qemu_json('-f', 'luks', path)
    offset = info['format-specific']['data']['payload-offset']
    with open(path, 'rb') as f:
        header = f.read(offset)
    os.unlink(path)
    tmp = '%s.%d' % (cache, os.getpid())
    with open(tmp, 'wb') as f:
        f.write(header)
    os.replace(tmp, cache)
    _LUKS['header'] = header
    return header


def craft_payloads(workdir, host):
    """Every payload, as bytes a guest writes at offset 0 of its disk.

    Call before host.plant(): making the data-file image creates the
    victim file, which plant() then replaces by its known bytes.
    """
    os.makedirs(workdir, exist_ok=True)
    payloads = {}
    path = os.path.join(workdir, 'payload')

    # Smaller than any volume: a resize of the image grows what it names.
    def image_bytes(*create_args, size=str(HOST_FILE_SIZE)):
        if os.path.lexists(path):
            os.unlink(path)
        run('qemu-img', 'create', '-q', *create_args + (path, size))
        with open(path, 'rb') as f:
            return f.read()

    payloads['backing_file'] = image_bytes(
        '-f', 'qcow2', '-u', '-b', host.canary, '-F', 'raw')
    payloads['data_file'] = image_bytes(
        '-f', 'qcow2', '-o', 'data_file=%s,data_file_raw=on' % host.victim)
    # A monolithicFlat descriptor names its extent file; point it at the
    # canary, as a guest that writes the descriptor chooses.
    descriptor = image_bytes('-f', 'vmdk', '-o',
                             'subformat=monolithicFlat').decode()
    extent = [line for line in descriptor.splitlines()
              if line.startswith('RW ')]
    if len(extent) != 1:
        raise AssertionError('unexpected VMDK descriptor: %s' % descriptor)
    payloads['vmdk'] = descriptor.replace(
        extent[0], 'RW %d FLAT "%s" 0' % (HOST_FILE_SIZE // 512,
                                          host.canary)).encode()
    for leftover in os.listdir(workdir):
        os.unlink(os.path.join(workdir, leftover))
    payloads['luks'] = _luks_header(workdir)
    # Benign: bytes no format recognises, as long as a qcow2 header.
    payloads['benign'] = (b'benign guest bytes ' * 16384)[:len(
        payloads['backing_file'])]
    return payloads


# -- the guest and its oracle -----------------------------------------------

class GuestDisk(object):
    """What a guest wrote to its disk: the oracle of every view of it."""

    def __init__(self, size=GiB, writes=()):
        self.size = size
        self.writes = list(writes)

    def copy(self):
        return GuestDisk(self.size, self.writes)

    def record(self, offset, data):
        self.writes.append((offset, data))

    def oracle(self, path, size=None):
        """Write the raw disk the guest expects into path; return path."""
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.ftruncate(fd, size or self.size)
            for offset, data in self.writes:
                os.pwrite(fd, data, offset)
        finally:
            os.close(fd)
        return path


def write_into(path, fmt, offset, data, scratch):
    """Write bytes into an image as its guest does.

    Raw: straight into the file; qcow2: through qemu-io, into the data the
    guest sees.
    """
    if fmt == 'raw':
        fd = os.open(path, os.O_WRONLY | os.O_NOFOLLOW)
        try:
            os.pwrite(fd, data, offset)
            os.fsync(fd)
        finally:
            os.close(fd)
        return
    src = os.path.join(scratch, 'guest-write')
    with open(src, 'wb') as f:
        f.write(data)
    run('qemu-io', '-f', fmt, '-c',
        'write -q -s %s %d %d' % (src, offset, len(data)), path)
    os.unlink(src)


def compare_view(path, fmt, oracle, size):
    """None if the image, read as fmt, shows exactly the oracle; else why."""
    proc = subprocess.run(['qemu-img', 'info', '--output=json', '-f', fmt,
                           path], capture_output=True, text=True)
    if proc.returncode:
        return 'cannot be read as %s: %s' % (fmt, proc.stderr.strip())
    vsize = json.loads(proc.stdout)['virtual-size']
    if vsize != size:
        return 'virtual size %d, expected %d' % (vsize, size)
    proc = subprocess.run(['qemu-img', 'compare', '-f', fmt, '-F', 'raw',
                           path, oracle], capture_output=True, text=True)
    if proc.returncode == 0:
        return None
    if proc.returncode == 1:
        return 'data differs from what the guest wrote: %s' % (
            proc.stdout.strip())
    return 'qemu-img compare failed: %s%s' % (proc.stdout, proc.stderr)


# -- hangs ------------------------------------------------------------------

def _descendants(pid):
    children = {}
    for entry in os.listdir('/proc'):
        if not entry.isdigit():
            continue
        try:
            with open('/proc/%s/stat' % entry) as f:
                fields = f.read().rsplit(')', 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(entry))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


# Where a process or thread sleeps when a FIFO blocks it (/proc/*/wchan).
_FIFO_WAITS = {'wait_for_partner', 'pipe_read', 'pipe_write',
               'anon_pipe_read', 'anon_pipe_write', 'pipe_wait'}


def _wchan(path):
    try:
        with open(path) as f:
            return f.read().strip()
    except OSError:
        return None


class Watchdog(object):
    """Turn a hang of a driver call into a failure of the case.

    A call hangs when this process (a thread) or a process it started
    sleeps on a FIFO for `stuck` seconds, when it runs one command line
    `repeats` times (a loop that never ends), when one command runs for
    `longest` seconds (qemu-img opening a backing chain that loops), or
    when it runs over `timeout` (a slow machine makes backups slow, not
    hung). Then a real thread
    kills the processes the call started (by PID: only this process's
    descendants) and opens the FIFOs the case planted (read-write,
    non-blocking) so that an open() or read() of the call's own thread
    returns; `fired` tells the test.
    """

    def __init__(self, timeout, fifos=(), stuck=10, repeats=40, longest=60):
        self.timeout = timeout
        self.stuck = stuck
        self.repeats = repeats
        self.longest = longest
        self.fifos = list(fifos)
        self.fired = None
        self._done = _real_threading.Event()

    def __enter__(self):
        self._thread = _real_threading.Thread(target=self._watch,
                                              daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._done.set()
        self._thread.join()
        return False

    def _fifo_sleepers(self):
        me = os.getpid()
        sleepers = set()
        for tid in os.listdir('/proc/%d/task' % me):
            if _wchan('/proc/%d/task/%s/wchan' % (me, tid)) in _FIFO_WAITS:
                sleepers.add(('thread', int(tid)))
        for pid in _descendants(me):
            wchan = _wchan('/proc/%d/wchan' % pid)
            if wchan in _FIFO_WAITS:
                sleepers.add((wchan, pid))
            try:
                with open('/proc/%d/cmdline' % pid, 'rb') as f:
                    command = f.read()
            except OSError:
                continue
            self._commands.setdefault(command, set()).add(pid)
            self._started.setdefault((pid, command), time.monotonic())
        return sleepers

    def _watch(self):
        deadline = time.monotonic() + self.timeout
        since = {}
        self._commands = {}
        self._started = {}
        while not self._done.wait(0.2):
            now = time.monotonic()
            sleepers = self._fifo_sleepers()
            since = {key: since.get(key, now) for key in sleepers}
            stuck = [key for key, t in since.items()
                     if now - t >= self.stuck]
            spinning = [cmd for cmd, pids in self._commands.items()
                        if len(pids) >= self.repeats]
            alive = set(_descendants(os.getpid()))
            running = [cmd for (pid, cmd), t in self._started.items()
                       if pid in alive and now - t >= self.longest]
            if stuck:
                self.fired = 'blocked on a FIFO for %ds: %s' % (
                    self.stuck, ', '.join('%s %s' % key for key in stuck))
            elif spinning:
                self.fired = 'spins: ran %r %d times or more' % (
                    spinning[0].replace(b'\0', b' ').decode(errors='replace'),
                    self.repeats)
            elif running:
                self.fired = 'ran one command for %ds: %r' % (
                    self.longest,
                    running[0].replace(b'\0', b' ').decode(errors='replace'))
            elif now > deadline:
                self.fired = 'ran over %ds' % self.timeout
            if self.fired:
                break
        else:
            return
        for _round in range(60):
            for pid in _descendants(os.getpid()):
                try:
                    _real_os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            for fifo in self.fifos:
                try:
                    fd = _real_os.open(fifo, os.O_RDWR | os.O_NONBLOCK)
                except OSError:
                    continue
                try:
                    while _real_os.read(fd, 65536):
                        pass
                except OSError:
                    pass
                _real_os.close(fd)
            if self._done.wait(0.5):
                return


# -- Nova -------------------------------------------------------------------

class Nova(object):
    """Nova's assisted snapshots of an attached volume, done to the files.

    Creating: the guest moves to the new overlay (and writes into it:
    after_create). Deleting: blockRebase (pull, the snapshot's file is the
    active one) as qemu-img rebase, blockCommit (an older snapshot) as
    qemu-img commit of the overlay into the file below it and an unsafe
    rebase of the overlay above. Like libvirt, it takes each backing file's
    format from the qcow2 header that names it.
    """

    def __init__(self, driver, after_create=None, after_delete=None):
        self.driver = driver
        self.after_create = after_create
        self.after_delete = after_delete
        self.created = []
        self.deleted = []

    @staticmethod
    def _report(ctxt, snapshot_id, status):
        # As Nova does through os-update_snapshot_status.
        snapshot = objects.Snapshot.get_by_id(ctxt, snapshot_id)
        snapshot.status = status
        snapshot.progress = '90%'
        snapshot.save()

    def _dir(self, ctxt, volume_id):
        volume = objects.Volume.get_by_id(ctxt, volume_id)
        return volume, self.driver._local_volume_dir(volume)

    def create_volume_snapshot(self, ctxt, volume_id, create_info):
        _volume, directory = self._dir(ctxt, volume_id)
        self.created.append(create_info['new_file'])
        if self.after_create:
            self.after_create(os.path.join(directory,
                                           create_info['new_file']))
        self._report(ctxt, create_info['snapshot_id'],
                     fields.SnapshotStatus.CREATING)

    def delete_volume_snapshot(self, ctxt, snapshot_id, delete_info):
        volume, directory = self._dir(ctxt, delete_info['volume_id'])
        with open(self.driver._local_path_volume_info(volume)) as f:
            info = json.load(f)
        active = os.path.join(directory, info['active'])
        if delete_info['merge_target_file'] is None:
            # blockRebase: pull the file under the active one into it.
            below = qemu_json('-f', 'qcow2', active)
            cmd = ['qemu-img', 'rebase', '-q', '-f', 'qcow2']
            new_base = delete_info['file_to_merge']
            if new_base:
                base_path = os.path.join(directory,
                                         below['backing-filename'])
                fmt = qemu_json('-f', 'qcow2', base_path)[
                    'backing-filename-format']
                cmd += ['-b', new_base, '-F', fmt]
            else:
                cmd += ['-b', '']
            run(*cmd + [active])
        else:
            # blockCommit of an older overlay into the file below it.
            top = os.path.join(directory, delete_info['file_to_merge'])
            fmt = qemu_json('-f', 'qcow2', top)['backing-filename-format']
            higher = [name for name in set(info.values())
                      if name != delete_info['file_to_merge'] and
                      qemu_json('-f', 'qcow2', os.path.join(
                          directory, name)).get('backing-filename') ==
                      delete_info['file_to_merge']]
            run('qemu-img', 'commit', '-q', '-f', 'qcow2', '-d', top)
            for name in higher:
                run('qemu-img', 'rebase', '-q', '-u', '-f', 'qcow2', '-b',
                    delete_info['merge_target_file'], '-F', fmt,
                    os.path.join(directory, name))
        self.deleted.append(delete_info)
        if self.after_delete:
            self.after_delete(active)
        self._report(ctxt, snapshot_id, fields.SnapshotStatus.DELETING)


# -- the test case the suites share -----------------------------------------

# Volume kinds: (provisioning:type, lustre_qcow2_volumes, file format).
KINDS = {
    'qcow2': ('thin', True, 'qcow2'),
    'rawthick': ('thick', True, 'raw'),
    'rawthin': ('thin', False, 'raw'),
}
# A driver call that takes longer than this is hung (one blocked on a
# FIFO is found much sooner).
OPERATION_TIMEOUT = 300
PAYLOAD_OFFSET = 0
# Where the guest writes its other data (none overlaps a payload).
MARK_OFFSETS = (300 * MiB, 5 * MiB, 6 * MiB, 7 * MiB, 600 * MiB, 700 * MiB,
                800 * MiB, 900 * MiB)
MARK = 64 * 1024


class Model(object):
    """A volume as its guest knows it: the truth the views are held to."""

    def __init__(self, fmt, guest):
        # The format the harness made the base file in (never probed).
        self.fmt = fmt
        self.guest = guest
        # snapshot id -> (Snapshot, GuestDisk at the snapshot)
        self.snaps = collections.OrderedDict()


class HostileTestCase(FunctionalTestCase):
    """Real drivers, real qemu-img, a hostile guest or share, witnesses.

    A case runs one operation (op_*) under a watchdog, then reports every
    violation at once: a hang, a host file read, written, created or
    removed, host bytes found in any file of the shares or an image, an
    operation that failed, and every volume whose data (active image and
    snapshots), recorded format or chain formats differ from what its
    guest wrote.
    """

    # Room for a thick volume, its thick copies and an lfs migrate of
    # each on one OST.
    OST_SIZE = '8G'

    def setUp(self):
        super().setUp()
        self.host = HostFiles(os.path.join(self.tmp, 'host'))
        self.payloads = craft_payloads(os.path.join(self.tmp, 'craft'),
                                       self.host)
        self.host.plant()
        self.scratch = os.path.join(self.tmp, 'scratch')
        os.makedirs(self.scratch)
        self.image_service = ImageService()
        self.types = {
            'thin': self.make_volume_type('thin',
                                          **{'provisioning:type': 'thin'}),
            'thick': self.make_volume_type('thick',
                                           **{'provisioning:type': 'thick'}),
        }
        self.models = {}
        # (label, path, format, GuestDisk): files checked outside volumes.
        self.files = []
        # What an operation found wrong without failing.
        self.op_problems = []
        self.backup_root = None
        self.marks = 0
        self.payload = 'benign'
        # Whether the guests write between the steps of an operation.
        self.guest_running = True

    # -- volumes and their guests -------------------------------------------

    def use_kind(self, kind):
        provisioning, qcow2, fmt = KINDS[kind]
        self.driver = self.make_driver(lustre_qcow2_volumes=qcow2)
        self.type = self.types[provisioning]
        self.fmt = fmt

    def format_of_type(self, volume_type):
        """The format a new volume of a type has (the driver's rule)."""
        thin = volume_types.get_volume_type_extra_specs(
            volume_type.id).get('provisioning:type') == 'thin'
        return ('qcow2' if thin and
                self.driver.configuration.lustre_qcow2_volumes else 'raw')

    def vol(self, volume):
        return objects.Volume.get_by_id(self.ctxt, volume.id)

    def new_volume(self, volume_type=None, guest=None):
        volume_type = volume_type or self.type
        volume = self.make_volume(self.driver, volume_type,
                                  size=guest.size // GiB if guest else 1)
        self.models[volume.id] = Model(self.format_of_type(volume_type),
                                       guest or GuestDisk())
        return volume

    def new_record(self, volume_type=None, status='creating', size=1):
        volume = test_utils.create_volume(
            self.ctxt, host=self.pool_host(), size=size,
            volume_type_id=(volume_type or self.type).id, status=status)
        return objects.Volume.get_by_id(self.ctxt, volume.id)

    def adopt(self, volume, update, fmt, guest):
        """A volume a driver call wrote: save its update, model it."""
        volume.update(update or {})
        volume.status = 'available'
        volume.save()
        self.models[volume.id] = Model(fmt, guest.copy())
        return self.vol(volume)

    def info(self, volume):
        path = self.driver._local_path_volume_info(volume)
        if not os.path.lexists(path):
            return {}
        with open(path) as f:
            return json.load(f)

    def active(self, volume):
        """The active image and its format, from .info and the model."""
        name = self.info(volume).get('active', volume.name)
        fmt = self.models[volume.id].fmt if name == volume.name else 'qcow2'
        return os.path.join(self.driver._local_volume_dir(volume), name), fmt

    def guest_writes(self, volume, offset, data, path=None):
        if not self.guest_running:
            return
        active, fmt = self.active(volume)
        if path and path != active:
            fmt = 'qcow2'
        write_into(path or active, fmt, offset, data, self.scratch)
        self.models[volume.id].guest.record(offset, data)

    def guest_payload(self, volume, path=None):
        self.guest_writes(volume, PAYLOAD_OFFSET,
                          self.payloads[self.payload], path)

    def guest_mark(self, volume, path=None):
        self.marks += 1
        self.guest_writes(volume, MARK_OFFSETS[self.marks % len(
            MARK_OFFSETS)], bytes([self.marks]) * MARK, path)

    def snapshot(self, volume):
        model = self.models[volume.id]
        view = model.guest.copy()
        snapshot = self.make_snapshot(self.driver, self.vol(volume))
        model.snaps[snapshot.id] = (snapshot, view)
        return snapshot

    def delete_snapshot(self, volume, snapshot_id):
        snapshot, _view = self.models[volume.id].snaps[snapshot_id]
        snapshot = objects.Snapshot.get_by_id(self.ctxt, snapshot.id)
        snapshot.status = fields.SnapshotStatus.DELETING
        snapshot.save()
        self.driver.delete_snapshot(snapshot)
        del self.models[volume.id].snaps[snapshot_id]
        snapshot.destroy()

    def attach(self, volume):
        """Attach as Nova would; Nova then moves the guest along."""
        volume_id = self.attach_as_nova(self.driver, self.vol(volume)).id

        def moved_on(path):
            # The guest writes into its new overlay, header and all.
            volume = objects.Volume.get_by_id(self.ctxt, volume_id)
            self.guest_payload(volume, path)
            self.guest_mark(volume, path)

        self.driver._nova = Nova(self.driver, after_create=moved_on,
                                 after_delete=moved_on)
        return self.vol(volume)

    def prepare(self, kind, snapshots, payload, attached=False):
        """A volume whose guest wrote the payload, with its snapshots.

        Taking the snapshots and attaching are driver operations too: if
        one fails, the case fails with the verdict on that step.
        """
        self.use_kind(kind)
        self.payload = payload
        volume = self.new_volume()
        self.guest_payload(volume)
        self.guest_mark(volume)

        def snapshots_and_attach():
            for _i in range(snapshots):
                self.snapshot(volume)
                self.guest_mark(volume)
            if snapshots:
                # Into the active overlay too.
                self.guest_payload(volume)
            if attached:
                self.attach(volume)

        error, dog = self.run_operation(snapshots_and_attach)
        if error is not None or dog.fired:
            self.op_problems.append(
                'PREPARING the case (%d snapshots%s) failed; the operation '
                'did not run' % (snapshots, ', attach' if attached else ''))
            self.verdict(error, dog)
        return self.vol(volume)

    # -- the verdict ----------------------------------------------------------

    def run_operation(self, operation, *args, fifos=()):
        """Run a driver operation under a watchdog: (exception, watchdog)."""
        error = None
        evict(self.host_roots())
        with Watchdog(OPERATION_TIMEOUT, fifos) as dog:
            try:
                operation(*args)
            except Exception as exc:
                error = exc
                self.error_trace = traceback.format_exc()
        return error, dog

    def oracle(self, guest, size=None):
        return guest.oracle(os.path.join(self.scratch, 'oracle-%s' %
                                         uuid.uuid4().hex), size)

    def host_roots(self):
        roots = [self.emulator.backing_dir(self.fsname),
                 os.path.join(self.tmp, 'conversion')]
        if self.backup_root:
            roots.append(self.backup_root)
        return roots

    def leaks(self):
        """Host bytes anywhere on the shares, the conversion dir, images."""
        needles = self.host.needles()
        found = ['HOST BYTES (%s) in %s' % (key, path)
                 for path, key in find_bytes(self.host_roots(), needles)]
        for image_id, data in self.image_service._imagedata.items():
            found += ['HOST BYTES (%s) in image %s' % (key, image_id)
                      for key, needle in needles.items() if needle in data]
        return found

    def check_volume(self, volume_id):
        """How a volume differs from what its guest wrote, in words."""
        model = self.models[volume_id]
        try:
            volume = objects.Volume.get_by_id(self.ctxt, volume_id)
        except exception.VolumeNotFound:
            return ['volume %s: record gone' % volume_id]
        label = 'volume %s' % volume.name
        directory = self.driver._local_volume_dir(volume)
        problems = []
        path, fmt = self.active(volume)
        try:
            recorded = self.driver._chain(volume).active.fmt
        except exception.VolumeDriverException as exc:
            recorded = 'refused: %s' % exc
        if recorded != fmt:
            problems.append('%s: format recorded %r, its active image %s '
                            'is %s' % (label, recorded,
                                       os.path.basename(path), fmt))
        # Every overlay must declare the true format of the file below it.
        name, seen = os.path.basename(path), set()
        while name != volume.name and name not in seen:
            seen.add(name)
            header = qemu_json('-f', 'qcow2', os.path.join(directory, name))
            backing = header.get('backing-filename')
            if not backing:
                break
            if os.path.basename(backing) != backing or not backing.startswith(
                    volume.name):
                problems.append('%s: %s has backing file %r' % (
                    label, name, backing))
                break
            truth = model.fmt if backing == volume.name else 'qcow2'
            declared = header.get('backing-filename-format')
            if declared != truth:
                problems.append('%s: %s declares its backing file %s as %s,'
                                ' which is %s' % (label, name, backing,
                                                  declared, truth))
            name = backing
        why = compare_view(path, fmt, self.oracle(model.guest),
                           model.guest.size)
        if why:
            problems.append('%s (active %s): %s' % (
                label, os.path.basename(path), why))
        info = self.info(volume)
        for snapshot_id, (_snap, view) in model.snaps.items():
            overlay = info.get(snapshot_id)
            if not overlay:
                problems.append('%s: snapshot %s is gone from .info' % (
                    label, snapshot_id))
                continue
            header = qemu_json('-f', 'qcow2', os.path.join(directory,
                                                           overlay))
            backing = header.get('backing-filename')
            if not backing or os.path.basename(backing) != backing:
                problems.append('%s: snapshot overlay %s has backing %r' % (
                    label, overlay, backing))
                continue
            why = compare_view(os.path.join(directory, backing),
                               header.get('backing-filename-format'),
                               self.oracle(view), view.size)
            if why:
                problems.append('%s: snapshot %s (%s): %s' % (
                    label, snapshot_id, backing, why))
        return problems

    def step_problems(self, error, dog, refusals=()):
        """What one step did wrong that the witnesses see at once."""
        problems = []
        if dog.fired:
            problems.append('HANG: the operation %s' % dog.fired)
        problems += self.host.violations()
        # Each violation is told once, by the step that did it.
        self.host.baseline = self.host.state()
        if error is not None and not isinstance(error, refusals):
            problems.append('operation failed: %s: %s\n%s' % (
                type(error).__name__, error, self.error_trace))
        problems += self.op_problems
        self.op_problems = []
        return problems

    def final_problems(self):
        """Host bytes anywhere, and every volume and file against its guest."""
        evict(self.host_roots())
        problems = self.leaks()
        for volume_id in list(self.models):
            problems += self.check_volume(volume_id)
        for label, path, fmt, guest in self.files:
            why = compare_view(path, fmt, self.oracle(guest), guest.size)
            if why:
                problems.append('%s: %s' % (label, why))
        return problems

    def verdict(self, error, dog, refusals=()):
        """Fail with every violation found, host files first."""
        problems = self.step_problems(error, dog, refusals)
        problems += self.final_problems()
        if problems:
            self.fail('\n'.join(problems))

    def run_sequence(self, volume, operations, refusals=None):
        """Run operations in turn on a volume; fail naming every problem.

        The host files are checked after each step (the step is named);
        the volumes and every byte of the shares once, at the end.
        """
        problems = []
        for operation in operations:
            error, dog = self.run_operation(
                getattr(self, 'op_' + operation), self.vol(volume))
            problems += ['%s: %s' % (operation, problem) for problem in
                         self.step_problems(error, dog, (refusals or {}).get(
                             operation, ()))]
            if dog.fired:
                break
        problems += self.final_problems()
        if problems:
            self.fail('\n'.join(problems))

    # -- operations -----------------------------------------------------------

    def op_attach(self, volume):
        conn = self.driver.initialize_connection(volume, {})
        path, fmt = self.active(volume)
        got = (conn['data']['name'], conn['data']['format'])
        if got != (os.path.basename(path), fmt):
            self.op_problems.append(
                'initialize_connection gives %s as %s; the active image is '
                '%s, %s' % (got + (os.path.basename(path), fmt)))

    def op_snapshot_create(self, volume):
        self.snapshot(volume)
        self.guest_mark(volume)
        self.guest_payload(volume)

    def _ensure_snapshot(self, volume):
        if not self.models[volume.id].snaps:
            self.snapshot(volume)
            self.guest_mark(volume)
            self.guest_payload(volume)

    def op_snapshot_delete(self, volume):
        """Delete every snapshot, oldest first; the guest writes between."""
        self._ensure_snapshot(volume)
        for snapshot_id in list(self.models[volume.id].snaps):
            self.delete_snapshot(self.vol(volume), snapshot_id)
            self.guest_mark(volume)
            self.guest_payload(volume)

    def op_snapshot_create_online(self, volume):
        self.op_snapshot_create(volume)
        if not self.driver._nova.created:
            self.op_problems.append('the snapshot was not taken online '
                                    'through Nova')

    def op_snapshot_delete_online(self, volume):
        self.op_snapshot_delete(volume)
        if not self.driver._nova.deleted:
            self.op_problems.append('no snapshot was deleted online '
                                    'through Nova')

    def op_clone(self, volume):
        model = self.models[volume.id]
        clone = self.new_record(size=volume.size)
        update = self.driver.create_cloned_volume(clone, self.vol(volume))
        self.adopt(clone, update, self.format_of_type(self.type), model.guest)

    def _from_snapshot(self, volume, target_type):
        self._ensure_snapshot(volume)
        snapshot_id = next(iter(self.models[volume.id].snaps))
        snapshot, view = self.models[volume.id].snaps[snapshot_id]
        snapshot = objects.Snapshot.get_by_id(self.ctxt, snapshot_id)
        copy = self.new_record(target_type, size=snapshot.volume_size)
        update = self.driver.create_volume_from_snapshot(copy, snapshot)
        self.adopt(copy, update, self.format_of_type(target_type), view)

    def op_volume_from_snapshot_thin(self, volume):
        self._from_snapshot(volume, self.types['thin'])

    def op_volume_from_snapshot_thick(self, volume):
        self._from_snapshot(volume, self.types['thick'])

    def op_extend(self, volume):
        self.driver.extend_volume(volume, 2)
        volume.size = 2
        volume.save()
        self.models[volume.id].guest.size = 2 * GiB

    def op_copy_to_image(self, volume):
        image_id = str(uuid.uuid4())
        meta = {'id': image_id, 'name': 'upload', 'disk_format': 'qcow2',
                'container_format': 'bare', 'status': 'queued',
                'visibility': 'private', 'protected': False,
                'properties': {}}
        self.image_service.create(self.ctxt, dict(meta))
        self.driver.copy_volume_to_image(self.ctxt, volume,
                                         self.image_service, meta)
        path = os.path.join(self.scratch, 'image-' + image_id)
        with open(path, 'wb') as f:
            f.write(self.image_service._imagedata[image_id])
        self.files.append(('image uploaded as qcow2', path, 'qcow2',
                           self.models[volume.id].guest.copy()))

    def op_retype(self, volume):
        """A layout change: in place, lfs migrate of every image."""
        old = volume.volume_type
        new = self.make_volume_type(
            'striped-' + uuid.uuid4().hex[:6],
            **dict(volume_types.get_volume_type_extra_specs(old.id),
                   **{'lustre:stripe_count': '2'}))
        diff, _same = volume_types.volume_types_diff(self.ctxt, old.id,
                                                     new.id)
        done, _update = self.driver.retype(
            self.ctxt, volume, volume_types.get_volume_type(self.ctxt, new.id),
            diff, {'host': volume.host})
        # Before 2.15 lfs migrate fills holes: the driver leaves a sparse
        # volume to Cinder's generic migration (returns False), by design.
        if not done and self.driver._lfs.migrate_keeps_holes:
            self.op_problems.append('retype of the layout was not done '
                                    'in place')

    def op_revert(self, volume):
        self._ensure_snapshot(volume)
        model = self.models[volume.id]
        snapshot_id, (_snapshot, view) = list(model.snaps.items())[-1]
        snapshot = objects.Snapshot.get_by_id(self.ctxt, snapshot_id)
        self.driver.revert_to_snapshot(self.ctxt, volume, snapshot)
        model.guest = view.copy()

    # -- backups --------------------------------------------------------------

    def use_backup_share(self):
        if self.backup_root:
            return
        backup_fs = self.add_fs(osts=2, ost_size='4G')
        self.override_config('backup_lustre_share',
                             '%s:/%s' % (MGS, backup_fs))
        self.override_config('backup_lustre_mount_point_base',
                             os.path.join(self.mount_base, 'backup'))
        self.override_config('backup_compression_algorithm', 'zstd')
        self.backup_root = self.emulator.backing_dir(backup_fs)

    def backup(self, volume, parent=None):
        """Back a volume up the way the backup manager does."""
        return self.back_up(self.driver, self.vol(volume), parent)[0]

    def restore(self, backup, guest):
        """Restore onto a new volume of the type; model it as restored."""
        target = self.new_volume(guest=guest)
        del self.models[target.id]
        backup.status = fields.BackupStatus.RESTORING
        backup.save()
        target.status = 'restoring-backup'
        target.save()
        with self.attached_here(self.driver, target) as path:
            with open(path, 'r+b') as f:
                lustre_backup.LustreBackupDriver(self.ctxt).restore(
                    backup, target.id, f, True)
        backup.status = fields.BackupStatus.AVAILABLE
        backup.save()
        # A restore target is made raw for the backup's bytes.
        self.adopt(target, {}, 'raw', guest)

    def op_backup(self, volume):
        """Full backup, guest writes, incremental; restore that."""
        self.use_backup_share()
        model = self.models[volume.id]
        full = self.backup(volume)
        self.guest_mark(volume)
        self.guest_payload(volume)
        incremental_view = model.guest.copy()
        incremental = self.backup(volume, parent=full)
        # The incremental's restore reads the full backup's chunks too.
        self.restore(incremental, incremental_view)
