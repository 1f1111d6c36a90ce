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

"""What the functional tests share: the emulator, drivers, guest I/O.

The tests run the real LustreDriver and LustreBackupDriver as an operator
configures them, on shares that the Lustre emulator serves (mount -t
lustre through util-linux, lfs), with the real qemu-img and qemu-io and
Cinder's test database. Nothing of the drivers' own code is mocked. They
need root, for mount.
"""

# cinder.context imports oslo.service (through oslo.messaging), which then
# settles on its eventlet backend for good: choose eventlet or native
# threads from OS_CINDER_DISABLE_EVENTLET_PATCHING first, as
# cinder/tests/unit/__init__.py and upstream's functional tests do.
from cinder import monkey_patch
monkey_patch.patch()

import contextlib  # noqa: I100
import hashlib
import os
import socket
import subprocess
import tempfile
import threading
import time
import uuid

import emulated_mounts
import fixtures
from os_brick import privileged as brick_privileged
from oslo_db.sqlalchemy import enginefacade
from oslo_utils import imageutils
import tooz

from cinder.backup.drivers import lustre as lustre_backup
from cinder import context
from cinder import coordination
from cinder import db
from cinder import objects
from cinder.objects import fields
from cinder import privsep as cinder_privsep
from cinder.tests.unit import fake_constants as fake
from cinder.tests.unit.image import fake as fake_image
from cinder.tests.unit import test
from cinder.tests.unit import utils as test_utils
from cinder import utils
from cinder.volume import configuration as conf
from cinder.volume import driver
from cinder.volume.drivers import lustre
from cinder.volume import volume_utils

HARNESS = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EMULATOR = os.path.join(HARNESS, 'emulator', 'lustre-emulator')
MGS = '10.0.0.1@tcp'
ETCD = '/usr/bin/etcd'
MiB = 1024 * 1024
GiB = 1024 * MiB


def run(*cmd, **kwargs):
    """Run a command, failing the test with its output if it fails.

    qemu 7.2 fails to time LUKS key derivation on a busy host ("Unable to
    get accurate CPU usage"), as the driver knows: tried again, as there.
    """
    for _attempt in range(20):
        proc = subprocess.run(cmd, capture_output=True, text=True, **kwargs)
        if 'accurate CPU usage' not in proc.stderr:
            break
    if proc.returncode:
        raise AssertionError('%s exited %d: %s%s' % (
            ' '.join(cmd), proc.returncode, proc.stdout, proc.stderr))
    return proc.stdout


class Emulator(object):
    """The Lustre emulator's command line, as the tests use it.

    ``$LUSTRE_EMULATOR_VERSION`` (a profile such as 2.12 or 2.17, or a
    release such as 2.15.4) is the Lustre version the file systems are
    created with: tox -e functional runs the newest profile, tox -e
    functional-oldest the oldest.  Unset: the emulator's default.
    """

    def add_fs(self, osts=4, ost_size='2G', pools=()):
        """Add a fresh file system; return its name (at most 8 chars)."""
        fsname = 'f' + uuid.uuid4().hex[:7]
        cmd = [EMULATOR, 'add-fs', fsname, '--osts', str(osts),
               '--ost-size', ost_size]
        for pool in pools:
            cmd += ['--pool', pool]
        version = os.environ.get('LUSTRE_EMULATOR_VERSION')
        if version:
            cmd += ['--version', version]
        run(*cmd)
        return fsname

    def backing_dir(self, fsname):
        root = os.environ.get('LUSTRE_EMULATOR_ROOT',
                              '/var/lib/lustre-emulator')
        return os.path.join(root, 'fs', fsname, 'root')

    def remove_fs(self, fsname):
        run(EMULATOR, 'remove-fs', fsname)

    def fault(self, *args):
        run(EMULATOR, 'fault', *args)


def guest_write(path, fmt, offset, data_byte, length=MiB):
    """Write a pattern into a volume file as an attached guest would."""
    run('qemu-io', '-f', fmt, '-c',
        'write -P %d %d %d' % (data_byte, offset, length), path)


def guest_digest(path, fmt=None):
    """SHA-256 of the bytes a guest sees in an image (its raw view)."""
    with tempfile.TemporaryDirectory() as tmp:
        raw = os.path.join(tmp, 'raw')
        cmd = ['qemu-img', 'convert', '-O', 'raw']
        if fmt:
            cmd += ['-f', fmt]
        run(*cmd + [path, raw])
        return file_digest(raw)


def image_info(path):
    """qemu-img info of a file a test made, its format found by qemu-img.

    Only for files whose content the test wrote itself: the drivers never
    let qemu-img guess a format.
    """
    return imageutils.QemuImgInfo(
        run('qemu-img', 'info', '-U', '--output=json', path), format='json')


def file_digest(path):
    digest = hashlib.sha256()
    with open(path, 'rb') as f:
        for block in iter(lambda: f.read(4 * MiB), b''):
            digest.update(block)
    return digest.hexdigest()


# Cinder's test database is an in-memory SQLite that every thread reaches
# through one connection (oslo.db gives it a StaticPool).  Green threads
# never switch inside a transaction; native threads
# (OS_CINDER_DISABLE_EVENTLET_PATCHING=True) do, and then one thread's
# BEGIN, COMMIT or reset-on-return lands in another's transaction on that
# connection.  A real deployment has a connection per thread: here a
# thread holds the database for each outermost oslo.db transaction scope,
# from checkout to return.  (Pool checkout/checkin events cannot pair
# this: a StaticPool shares one record between overlapping checkouts and
# skips checkin events.)
_DB_LOCK = threading.RLock()
_transaction_scope = enginefacade._TransactionContextManager._transaction_scope


@contextlib.contextmanager
def _serialized_transaction_scope(self, context):
    with _DB_LOCK, _transaction_scope(self, context) as resource:
        yield resource


class FunctionalTestCase(test.TestCase):
    """A real LustreDriver on an emulated Lustre file system."""

    # Real locks: the tests take them from two driver instances.
    MOCK_TOOZ = False

    def setUp(self):
        super().setUp()
        if os.geteuid() != 0:
            self.fail('the functional tests mount file systems: run them '
                      'as root')
        self.useFixture(fixtures.MonkeyPatch(
            'oslo_db.sqlalchemy.enginefacade._TransactionContextManager.'
            '_transaction_scope', _serialized_transaction_scope))
        # Run privileged helpers (format inspection) in this process, as
        # root, instead of through a privsep daemon.
        for pctxt in (cinder_privsep.sys_admin_pctxt,
                      brick_privileged.default):
            pctxt.set_client_mode(False)
            self.addCleanup(pctxt.set_client_mode, True)
        self.ctxt = context.get_admin_context()
        # The emulator's mounts show the type of a real client's (lustre).
        self.addCleanup(emulated_mounts.install())
        self.emulator = Emulator()
        self.tmp = self.useFixture(fixtures.TempDir()).path
        self.fsname = self.add_fs(pools=getattr(self, 'OST_POOLS', ()),
                                  ost_size=getattr(self, 'OST_SIZE', '2G'))
        os.makedirs(os.path.join(self.emulator.backing_dir(self.fsname),
                                 'cinder'))
        self.share = '%s:/%s/cinder' % (MGS, self.fsname)
        self.mount_base = os.path.join(self.tmp, 'mnt')
        self.override_config('volume_dd_blocksize', '1M')
        self.override_config('image_conversion_dir',
                             os.path.join(self.tmp, 'conversion'))
        self.override_config('state_path', self.tmp)

    def add_fs(self, **kwargs):
        """A fresh emulated file system, deleted with its data at the end."""
        fsname = self.emulator.add_fs(**kwargs)
        self.addCleanup(self.emulator.remove_fs, fsname)
        # Cleanups run last first: unmount before the file system goes.
        self.addCleanup(self._unmount_all)
        return fsname

    def _unmount_all(self):
        emulated_mounts.unmount_below(self.mount_base)

    def lock_on_etcd(self):
        """Cinder's locks on an etcd of our own, as in the A/A stack."""
        if not os.path.exists(ETCD):
            self.fail('%s is missing (apt-get install etcd-server)' % ETCD)
        etcd = Etcd(self.tmp)
        self.addCleanup(etcd.stop)
        coordination.COORDINATOR.stop()
        self.override_config('backend_url', etcd.url, group='coordination')
        coordination.COORDINATOR.start()
        self.addCleanup(self._stop_coordinator)
        return etcd

    def stop_etcd(self, etcd):
        """Take the coordination back end away until the test ends."""
        etcd.stop()
        # tooz's heartbeat retries until the back end is back, and with
        # native threads stopping the coordinator waits for it: etcd comes
        # back before the coordinator stops (cleanups run last first).
        self.addCleanup(etcd.start)

    @staticmethod
    def _stop_coordinator():
        """Leave a coordinator whose backend is gone, as a service would."""
        try:
            coordination.COORDINATOR.stop()
        except tooz.ToozError:
            coordination.COORDINATOR.coordinator = None
            coordination.COORDINATOR.started = False

    def make_driver(self, host='node1@lustre', cluster_name=None,
                    share_options=None, extra_shares=(), **opts):
        """A LustreDriver configured as cinder.conf would, set up."""
        shares = os.path.join(self.tmp, 'lustre_shares')
        line = self.share
        if share_options:
            line += ' -o ' + share_options
        with open(shares, 'w') as f:
            f.write('# Lustre shares for the functional tests\n%s\n' %
                    '\n'.join((line,) + tuple(extra_shares)))
        config = conf.Configuration(driver.volume_opts,
                                    config_group='lustre-functional')
        config.append_config_values(lustre.LustreDriver.get_driver_options())
        settings = dict(lustre_shares_config=shares,
                        lustre_mount_point_base=self.mount_base,
                        nas_secure_file_operations='false',
                        nas_secure_file_permissions='false',
                        volume_backend_name='lustre')
        settings.update(opts)
        for name, value in settings.items():
            self.override_config(name, value, group='lustre-functional')
        lustre_driver = lustre.LustreDriver(configuration=config, db=db,
                                            host=host,
                                            cluster_name=cluster_name)
        lustre_driver.do_setup(self.ctxt)
        lustre_driver.check_for_setup_error()
        return lustre_driver

    def pool_host(self, host='node1@lustre'):
        return '%s#%s/cinder' % (host, self.fsname)

    def make_volume_type(self, name, **extra_specs):
        return test_utils.create_volume_type(self.ctxt, name=name,
                                             extra_specs=extra_specs)

    def make_volume(self, driver, volume_type, size=1, **kwargs):
        """Create a volume record and the volume through the driver."""
        volume = test_utils.create_volume(
            self.ctxt, host=self.pool_host(), size=size,
            volume_type_id=volume_type.id, status='creating', **kwargs)
        update = driver.create_volume(volume)
        volume.update(update)
        volume.status = 'available'
        volume.save()
        return objects.Volume.get_by_id(self.ctxt, volume.id)

    def snapshot_record(self, volume, ctxt=None):
        """A snapshot record in 'creating', as the API hands it over."""
        ctxt = ctxt or self.ctxt
        snapshot = test_utils.create_snapshot(ctxt, volume.id,
                                              status='creating')
        return objects.Snapshot.get_by_id(ctxt, snapshot.id)

    def make_snapshot(self, driver, volume, ctxt=None):
        snapshot = self.snapshot_record(volume, ctxt)
        driver.create_snapshot(snapshot)
        snapshot.status = 'available'
        snapshot.save()
        return snapshot

    @contextlib.contextmanager
    def attached_here(self, driver, volume):
        """The path of a volume attached on this host, as cinder-backup."""
        conn = driver.initialize_connection(volume, {})
        connector = volume_utils.brick_get_connector(
            conn['driver_volume_type'], conn=conn)
        device = connector.connect_volume(conn['data'])
        try:
            yield device['path']
        finally:
            connector.disconnect_volume(conn['data'], None)

    def attach_as_nova(self, driver, volume):
        """Attach a volume to an instance, as Nova would record it."""
        conn = driver.initialize_connection(volume, {})
        volume = test_utils.attach_volume(self.ctxt, volume,
                                          fake.INSTANCE_ID, 'node1',
                                          '/dev/vdb')
        attachment = volume.volume_attachment[0]
        attachment.connection_info = conn['data']
        attachment.save()
        volume.status = 'in-use'
        volume.save()
        return objects.Volume.get_by_id(self.ctxt, volume.id)

    def back_up(self, driver, volume, parent=None, backup_driver=None):
        """Back a volume up as the backup manager does.

        Returns the backup and whether the driver backed up a snapshot.
        """
        previous_status = volume.status
        volume.status = 'backing-up'
        volume.previous_status = previous_status
        volume.save()
        backup = test_utils.create_backup(
            self.ctxt, volume_id=volume.id, container='c-%s' % volume.id,
            parent_id=parent.id if parent else None,
            status=fields.BackupStatus.CREATING)
        try:
            device, is_snapshot = driver.get_backup_device(self.ctxt, backup)
            backup_driver = (backup_driver or
                             lustre_backup.LustreBackupDriver(self.ctxt))
            with self.attached_here(driver, device) as path:
                with open(path, 'rb') as f:
                    backup_driver.backup(backup, utils.tpool_wrap(f))
            if device.id != volume.id:
                driver.delete_volume(device)
                device.destroy()
        finally:
            volume = objects.Volume.get_by_id(self.ctxt, volume.id)
            volume.status = previous_status
            volume.save()
        backup = objects.Backup.get_by_id(self.ctxt, backup.id)
        backup.status = fields.BackupStatus.AVAILABLE
        backup.save()
        return backup, is_snapshot

    def volume_format(self, volume):
        volume = objects.Volume.get_by_id(self.ctxt, volume.id)
        return volume.admin_metadata['format']

    def active_path(self, driver, volume):
        return driver._local_path_active_image(
            objects.Volume.get_by_id(self.ctxt, volume.id))

    def chain(self, driver, volume):
        """The volume's checked chain, as the driver sees it."""
        return driver._chain(objects.Volume.get_by_id(self.ctxt, volume.id))

    def digest(self, driver, volume):
        """What a guest attached to the volume would read, hashed.

        qemu-img reads the chain the driver checked, each image in its
        recorded format: a guest's header is data, not a format.
        """
        return guest_digest(self.chain(driver, volume).filename())

    def write(self, driver, volume, offset, data_byte, length=MiB):
        """Write into the volume through its active image, as a guest."""
        active = self.chain(driver, volume).active
        guest_write(active.path, active.fmt, offset, data_byte, length)

    def share_files(self, driver):
        """Every file on the share, but the driver's own marker files."""
        mount_point = driver._get_mount_point_for_share(self.share)
        return sorted(name for name in os.listdir(mount_point)
                      if not name.startswith('.cinder'))


class ImageService(fake_image._FakeImageService):
    """Cinder's fake image service, keeping the data of an update too.

    Uploading a volume stores the image with update(); the fake keeps data
    only on create(), which is not enough to read the image back. Nor does
    it pretend to cache images in temporary files (a mock): Cinder's own
    TemporaryImages is used.
    """

    def __init__(self):
        super().__init__()
        self.temp_images = None

    def update(self, context, image_id, metadata, data=None, **kwargs):
        image = super().update(context, image_id, metadata, **kwargs)
        if data is not None:
            self._imagedata[image_id] = data.read()
            image['size'] = len(self._imagedata[image_id])
        return image


def tree_state(root):
    """Every entry under a directory: type, size, mtime, mode, hash.

    Two states compare equal only if no file or directory was created,
    removed, written, truncated, touched or made a link.
    """
    state = {}
    for directory, dirs, files in os.walk(root):
        for name in dirs + files:
            path = os.path.join(directory, name)
            st = os.lstat(path)
            entry = (oct(st.st_mode), st.st_size, st.st_mtime_ns)
            if os.path.islink(path):
                entry += (os.readlink(path),)
            elif name in files and os.path.isfile(path):
                entry += (file_digest(path),)
            state[os.path.relpath(path, root)] = entry
    return state


def free_port():
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


class Etcd(object):
    """An etcd of our own: private ports and data dir; stopped by PID."""

    def __init__(self, data_dir):
        self.port = free_port()
        self.peer_url = 'http://127.0.0.1:%d' % free_port()
        self.data_dir = data_dir
        self.url = 'etcd3+http://127.0.0.1:%d' % self.port
        self.start()

    def start(self):
        """Start it (again: same ports, same data)."""
        client = 'http://127.0.0.1:%d' % self.port
        self.log = open(os.path.join(self.data_dir, 'etcd.log'), 'a')
        self.proc = subprocess.Popen(
            [ETCD, '--name', 'stress', '--data-dir',
             os.path.join(self.data_dir, 'etcd'),
             '--listen-client-urls', client,
             '--advertise-client-urls', client,
             '--listen-peer-urls', self.peer_url,
             '--initial-advertise-peer-urls', self.peer_url,
             '--initial-cluster', 'stress=%s' % self.peer_url],
            stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                socket.create_connection(('127.0.0.1', self.port),
                                         timeout=1).close()
                return
            except OSError:
                time.sleep(0.2)
        self.stop()
        raise AssertionError('etcd did not start; see %s' % self.log.name)

    def stop(self):
        """Stop exactly the etcd we started."""
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
