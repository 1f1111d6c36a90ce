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

"""LustreDriver through cinderlib, without any Cinder service.

One volume's lifecycle, as a script using ``cinderlib.Backend`` would run
it, on a file system of the Lustre emulator: stats, create, local attach
(os-brick's connector for the connection's ``lustre`` type, from the
companion change), write, snapshot, volume from snapshot, clone, extend,
read back, detach, delete.  cinderlib keeps its objects in sqlite, so the
driver finds a clone's source snapshots as it would in Cinder.

The steps are test methods run in name order by one worker
(``stestr run --serial``): each one says what works, and a step whose
predecessor failed fails saying so.  Data goes in and out through the
attached path in the format the connection reports (qemu-io, qemu-img),
as a guest would see it.  Run as root: the emulator mounts.
"""

import hashlib
import importlib.util
import os
import re
import shutil
import subprocess
import sys
import tempfile
import unittest
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
HARNESS = os.path.dirname(HERE)
REPO = os.path.dirname(HARNESS)
EMULATOR = os.path.join(HARNESS, 'emulator', 'lustre-emulator')
EMULATOR_ROOT = '/var/lib/lustre-emulator'
ROOTWRAP_PATCH = os.path.join(REPO, 'patches', 'tree',
                              '0010-rootwrap-volume-filters-lustre.patch')
DRIVER = 'cinder.volume.drivers.lustre.LustreDriver'
MGS = '10.0.0.1@tcp'
MiB = 1024 * 1024
GiB = 1024 * MiB
# Two writes a guest makes: one before the snapshot, one after it.
BEFORE = (0, 0xa1)
AFTER = (8 * MiB, 0xb2)


def run(*cmd):
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode:
        raise AssertionError('%s exited %d: %s%s' % (
            ' '.join(cmd), proc.returncode, proc.stdout, proc.stderr))
    return proc.stdout


def lustre_filters():
    """The rootwrap filters the change adds (patches/tree/0010), as a file.

    cinder-rootwrap runs everything the driver runs as root, as in a real
    deployment; the change's own filters come from its patch so that they
    cannot drift from it.
    """
    lines = ['[Filters]']
    with open(ROOTWRAP_PATCH, encoding='utf-8') as f:
        for line in f:
            if re.match(r'\+[\w.-]+: \w+Filter, ', line):
                lines.append(line[1:].rstrip())
    if len(lines) == 1:
        raise AssertionError('no filters found in %s' % ROOTWRAP_PATCH)
    return '\n'.join(lines) + '\n'


def _emulated_mounts():
    """The module harness/functional/emulated_mounts.py."""
    spec = importlib.util.spec_from_file_location(
        'emulated_mounts', os.path.join(HARNESS, 'functional',
                                        'emulated_mounts.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class State(object):
    """What the steps hand on to each other."""
    backend = None
    volume = None
    snapshot = None
    from_snapshot = None
    clone = None
    views = {}


class CinderlibLifecycleTestCase(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        if os.geteuid() != 0:
            raise AssertionError('the emulator mounts file systems: run as '
                                 'root')
        # The emulator's mounts show the type of a real client's (lustre).
        mounts = _emulated_mounts()
        cls.addClassCleanup(mounts.install())
        cls.tmp = tempfile.mkdtemp(prefix='cinderlib-lustre-')
        cls.addClassCleanup(shutil.rmtree, cls.tmp, ignore_errors=True)
        cls.fsname = 'cl' + uuid.uuid4().hex[:6]
        run(EMULATOR, 'add-fs', cls.fsname, '--osts', '2',
            '--ost-size', '8G')
        # Class cleanups run even when setUpClass fails, last first.
        cls.addClassCleanup(subprocess.run,
                            [EMULATOR, 'remove-fs', cls.fsname], check=False)
        cls.addClassCleanup(mounts.unmount_below, cls.tmp)
        cls.backing = os.path.join(EMULATOR_ROOT, 'fs', cls.fsname, 'root')
        os.makedirs(os.path.join(cls.backing, 'cinder'))
        cls.share = '%s:/%s/cinder' % (MGS, cls.fsname)
        cls.mount_base = os.path.join(cls.tmp, 'mnt')
        shares = os.path.join(cls.tmp, 'lustre_shares')
        with open(shares, 'w') as f:
            f.write('%s\n' % cls.share)
        State.backend = cls._backend(shares)

    @classmethod
    def _backend(cls, shares):
        # Imported here: cinderlib configures Cinder at import time.
        import cinderlib

        venv = sys.prefix
        filters = os.path.join(cls.tmp, 'rootwrap.d')
        os.makedirs(filters)
        with open(os.path.join(filters, 'lustre.filters'), 'w') as f:
            f.write(lustre_filters())
        rootwrap = os.path.join(cls.tmp, 'rootwrap.conf')
        with open(rootwrap, 'w') as f:
            f.write('[DEFAULT]\nfilters_path = %s\nexec_dirs = %s\n'
                    'use_syslog = False\n' % (
                        ','.join([os.path.join(venv, 'etc', 'cinder',
                                               'rootwrap.d'),
                                  os.path.join(venv, 'etc', 'os-brick',
                                               'rootwrap.d'),
                                  filters]),
                        ','.join([os.path.join(venv, 'bin'), '/sbin',
                                  '/usr/sbin', '/bin', '/usr/bin',
                                  '/usr/local/bin', '/usr/local/sbin'])))
        cinderlib.setup(
            # Memory persistence cannot serve a remotefs driver: its fake
            # database lacks what RemoteFSSnapDriver.do_setup needs.
            persistence_config={
                'storage': 'db',
                'connection': 'sqlite:///%s/cinderlib.sqlite' % cls.tmp},
            file_locks_path=os.path.join(cls.tmp, 'locks'),
            # sudo's secure_path would hide the venv's cinder-rootwrap; we
            # are root already, so the helper only has to find it on PATH.
            root_helper='env',
            disable_logs=True,
            state_path=cls.tmp,
            rootwrap_config=rootwrap,
            image_conversion_dir=os.path.join(cls.tmp, 'conversion'))
        cls._rows_before_driver()
        return cinderlib.Backend(
            volume_driver=DRIVER,
            volume_backend_name='lustre',
            lustre_shares_config=shares,
            lustre_mount_point_base=cls.mount_base,
            nas_secure_file_operations=False,
            nas_secure_file_permissions=False)

    @staticmethod
    def _rows_before_driver():
        """Work around cinderlib 5.2.0 writing a volume's row too late.

        Cinder's API writes a volume's database row before the volume
        manager calls the driver, and drivers rely on it: a remotefs
        driver records the volume's format with volume.save() while
        creating it (RemoteFSDriver._do_create_volume does, so the NFS
        driver too, and LustreDriver). cinderlib 5.2.0 writes the row only
        after the driver returns, so that save() fails: "group changed"
        (cinderlib's new objects carry every field as a pending change),
        and without those, on the missing row. Here cinderlib writes the row
        when it starts creating a volume (create, clone, from snapshot),
        as Cinder does; the driver is untouched.
        """
        import cinderlib

        start = cinderlib.Backend._start_creating_volume.__func__

        def _start_creating_volume(cls, volume):
            start(cls, volume)
            volume.save()

        cinderlib.Backend._start_creating_volume = classmethod(
            _start_creating_volume)

    # --- helpers ----------------------------------------------------------

    def need(self, *names):
        for name in names:
            if getattr(State, name) is None:
                self.fail('an earlier step did not make the %s' % name)

    def attached(self, volume):
        """Attach locally; return (connection, path, format)."""
        conn = volume.attach()
        data = conn.conn_info['data']
        self.assertEqual('lustre', conn.conn_info['driver_volume_type'])
        self.assertEqual(self.share, data['export'])
        # os-brick's connector for 'lustre' (the os-brick companion).
        self.assertEqual('RemoteFsConnector', type(conn.connector).__name__)
        self.assertEqual('lustre', conn.connector._remotefsclient._mount_type)
        path = conn.path
        self.assertTrue(os.path.isfile(path), path)
        # os-brick mounted the share where the driver has it.
        self.assertTrue(path.startswith(self.mount_base + '/'), path)
        return conn, path, data['format']

    def write(self, volume, offset, byte):
        conn, path, fmt = self.attached(volume)
        try:
            run('qemu-io', '-f', fmt, '-c',
                'write -P %d %d %d' % (byte, offset, MiB), path)
        finally:
            volume.detach()

    def view(self, volume):
        """SHA-256 of what a guest reads from the volume, and its size."""
        conn, path, fmt = self.attached(volume)
        try:
            raw = os.path.join(self.tmp, 'view.raw')
            run('qemu-img', 'convert', '-f', fmt, '-O', 'raw', path, raw)
            digest = hashlib.sha256()
            with open(raw, 'rb') as f:
                for block in iter(lambda: f.read(4 * MiB), b''):
                    digest.update(block)
            size = os.path.getsize(raw)
            os.unlink(raw)
            return digest.hexdigest(), size
        finally:
            volume.detach()

    def expected(self, size, *writes):
        """The digest of a volume of size bytes after the given writes."""
        digest = hashlib.sha256()
        chunks = sorted(writes)
        position = 0
        zero = bytes(4 * MiB)
        for offset, byte in chunks + [(size, None)]:
            while position < offset:
                n = min(len(zero), offset - position)
                digest.update(zero[:n])
                position += n
            if byte is not None:
                digest.update(bytes([byte]) * MiB)
                position += MiB
        return digest.hexdigest()

    def files(self):
        return sorted(os.listdir(os.path.join(self.backing, 'cinder')))

    # --- the lifecycle, in name order ------------------------------------

    def test_01_stats(self):
        stats = State.backend.stats(refresh=True)
        self.assertEqual('lustre', stats['storage_protocol'])
        self.assertEqual('lustre', stats['volume_backend_name'])
        pools = stats['pools']
        self.assertEqual(['%s/cinder' % self.fsname],
                         [p['pool_name'] for p in pools])
        # 2 OSTs of 8 GiB, as lfs df reports them; ldiskfs keeps about
        # 6% of each OST from users, so less than that is available.
        self.assertAlmostEqual(16, pools[0]['total_capacity_gb'], delta=0.5)
        self.assertAlmostEqual(15, pools[0]['free_capacity_gb'], delta=0.5)

    def test_02_create(self):
        State.volume = State.backend.create_volume(size=1, name='cl-vol')
        self.assertEqual('available', State.volume.status)
        self.assertEqual(self.share, State.volume.provider_location)
        self.assertIn('volume-%s' % State.volume.id, self.files())

    def test_03_attach_write_read(self):
        self.need('volume')
        self.write(State.volume, *BEFORE)
        digest, size = self.view(State.volume)
        self.assertEqual(GiB, size)
        self.assertEqual(self.expected(GiB, BEFORE), digest)
        State.views['before'] = digest
        # Detached: cinderlib keeps no connection of the volume.
        self.assertEqual([], State.volume.connections)

    def test_04_snapshot(self):
        self.need('volume')
        State.snapshot = State.volume.create_snapshot(name='cl-snap')
        self.assertEqual('available', State.snapshot.status)
        # The guest writes on after the snapshot, into its overlay.
        self.write(State.volume, *AFTER)
        digest, _size = self.view(State.volume)
        self.assertEqual(self.expected(GiB, BEFORE, AFTER), digest)
        State.views['after'] = digest
        self.assertIn('volume-%s.%s' % (State.volume.id, State.snapshot.id),
                      self.files())

    def test_05_volume_from_snapshot(self):
        self.need('snapshot')
        State.from_snapshot = State.snapshot.create_volume(name='cl-fsnap')
        self.assertEqual('available', State.from_snapshot.status)
        digest, _size = self.view(State.from_snapshot)
        self.assertEqual(State.views['before'], digest)

    def test_06_clone(self):
        self.need('volume')
        State.clone = State.volume.clone(name='cl-clone')
        self.assertEqual('available', State.clone.status)
        digest, _size = self.view(State.clone)
        self.assertEqual(State.views['after'], digest)
        # The source still reads the same.
        self.assertEqual(State.views['after'], self.view(State.volume)[0])

    def test_07_extend(self):
        self.need('volume')
        self.assertEqual(2 * GiB, State.volume.extend(2))
        self.assertEqual(2, State.volume.size)
        digest, size = self.view(State.volume)
        self.assertEqual(2 * GiB, size)
        self.assertEqual(self.expected(2 * GiB, BEFORE, AFTER), digest)

    def test_08_connect_disconnect(self):
        self.need('volume')
        conn, _path, _fmt = self.attached(State.volume)
        self.assertEqual(1, len(State.volume.connections))
        self.assertTrue(conn.attached)
        State.volume.detach()
        self.assertFalse(conn.attached)
        self.assertEqual([], State.volume.connections)

    def test_09_delete(self):
        self.need('volume', 'snapshot', 'from_snapshot', 'clone')
        for volume in (State.clone, State.from_snapshot):
            volume.delete()
        State.snapshot.delete()
        State.volume.delete()
        self.assertEqual([], [f for f in self.files()
                              if not f.startswith('.')])
        self.assertEqual([], State.backend.volumes)
