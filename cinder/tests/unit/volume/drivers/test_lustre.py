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

"""Unit tests for the Lustre volume driver."""

import atexit
import errno
import hashlib
import io
import json
import os
import shutil
import tempfile
from unittest import mock

import ddt
import eventlet
import fixtures
from os_brick.initiator.connectors import remotefs as brick_remotefs
from os_brick.remotefs import remotefs as remotefs_brick
from oslo_concurrency import processutils as putils
from oslo_utils import units
import tenacity

from cinder import context
from cinder import coordination
from cinder.db import api as db_api
from cinder import exception
from cinder.image import image_utils
from cinder import objects
from cinder.objects import fields
from cinder import privsep as cinder_privsep
from cinder.tests.unit import fake_constants as fake
from cinder.tests.unit import fake_snapshot
from cinder.tests.unit import fake_volume
from cinder.tests.unit import test
from cinder.tests.unit import utils as test_utils
from cinder.tests.unit.volume.drivers import test_lustre_client as lfs_out
from cinder.volume import configuration as conf
from cinder.volume import driver as base_driver
from cinder.volume.drivers import lustre
from cinder.volume.drivers import lustre_client
from cinder.volume.drivers import lustre_files
from cinder.volume.drivers import lustre_images
from cinder.volume.drivers import lustre_pools
from cinder.volume.drivers import remotefs
from cinder.volume import volume_utils

SHARE = '192.168.1.10@tcp:/testfs'
SHARE2 = '192.168.1.11@o2ib,192.168.1.12@o2ib:192.168.1.13@o2ib:/lfs2/cinder'
SHARE2_OPTS = 'user_xattr,noatime'
POOL = 'testfs'
POOL2 = 'lfs2/cinder'
HOST = 'host@lustre'

# lfs df (1K blocks): 100 GiB of OSTs, 30 GiB used, 70 GiB available, in
# the rows of v2_12_9 to v2_16_1 lustre/utils/lfs.c showdf().
LFS_DF = lfs_out.lfs_df(100, 70, mount_point='/mnt')
# lfs getstripe -d of a directory without a default layout (2.12).
GETSTRIPE_D = lfs_out.GETSTRIPE_2_12_NONE
DF = ('Filesystem 1-blocks Used Available Capacity Mounted on\n'
      '192.168.1.10@tcp:/testfs 107374182400 32212254720 75161927680 '
      '30% /mnt\n')
# The OST pools of the test file systems (lfs pool_list).
FS_POOLS = ('ssd', 'hdd', 'all', 'flash', 'fast', 'a')
# The quota of a 1G volume without snapshots, in KiB.
LIMIT_1G = 1048576 + 4096 + 1024


def _lfs_df(total_gb, available_gb, osts=(0, 1)):
    """The lfs df report of an OST pool of two OSTs (1K blocks)."""
    return lfs_out.lfs_df(total_gb, available_gb, osts, mount_point='/mnt')


class KeyObject(object):
    def get_encoded(self):
        return b'asdf'


# The passphrase of KeyObject's key, as the driver writes it to qemu-img.
PASSPHRASE = b'asdf'.hex()

# The commands the tests carry out for real, on files in their temporary
# directory: what qemu-img, dd and cp do to images is tested by running
# them, not by asserting how they were called.
_REAL_COMMANDS = ('qemu-img', 'dd', 'cp', 'mv', 'rm', 'truncate')

# What a guest writes into its volume (qemu-io patterns), 64 KiB each.
GUEST_BEFORE = 0x41      # before the first snapshot
GUEST_BETWEEN = 0x42     # between the first and the second snapshot
GUEST_AFTER = 0x43       # after the last snapshot
CHUNK = 64 * units.Ki
HOST_SECRET = b'HOST-FILE-SECRET'


def _luks_timing_failed(proc):
    """Whether qemu failed to time a LUKS key derivation, nothing else.

    Making a LUKS header times PBKDF2 on the CPU; qemu 7.2 fails that on
    this (virtual, coarse-clocked) machine about half the time ("Unable
    to get accurate CPU usage"): qemu's benchmark, not what is tested, so
    the command runs again.
    """
    return b'accurate CPU usage' in proc.stderr


def plain_subprocess():
    """The subprocess module with the original os, select and time.

    The tests run commands as plain processes: with eventlet's monkey
    patching, subprocess waits in the hub, and a greenlet switch while the
    driver waits for qemu-img loses coverage's trace of the driver's next
    lines (tox.ini's coverage does not set concurrency = eventlet).
    """
    module = eventlet.patcher.original('subprocess')
    for name in ('os', 'select', 'selectors', 'time', 'threading'):
        setattr(module, name, eventlet.patcher.original(name))
    return module


_real_subprocess = plain_subprocess()

# Encrypted images made once per test process (see LustreTestBase._image).
_LUKS_TEMPLATES = {}


def _luks_template_dir():
    if not hasattr(_luks_template_dir, 'path'):
        # Not in tempfile's directory, which each test replaces.
        _luks_template_dir.path = tempfile.mkdtemp(
            prefix='lustre-luks-', dir=os.environ.get('TMPDIR', '/tmp'))
        atexit.register(shutil.rmtree, _luks_template_dir.path, True)
    return _luks_template_dir.path


def _fast_luks(cmd):
    """A qemu-img command that makes a LUKS header, with 10 ms of PBKDF2.

    qemu-img's default is 2 s of key derivation for every later open of
    the image: on a loaded machine of two cores a test would take
    minutes. Only the cost of the key derivation changes, not what is
    encrypted, with what key, nor anything the tests check.
    """
    if cmd[0] != 'qemu-img' or cmd[1] not in ('create', 'convert'):
        return cmd
    cmd = list(cmd)
    for index, arg in enumerate(cmd[:-1]):
        if arg == '-o' and 'key-secret=' in cmd[index + 1]:
            prefix = 'encrypt.' if 'encrypt.' in cmd[index + 1] else ''
            cmd[index + 1] += ',%siter-time=10' % prefix
    return tuple(cmd)


def _subprocess(cmd):
    for _attempt in range(20):
        proc = _real_subprocess.run(cmd, capture_output=True)
        if not _luks_timing_failed(proc):
            break
    return proc


def _run(*cmd):
    """Run a command of the test itself (not of the driver)."""
    proc = _subprocess(cmd)
    if proc.returncode:
        raise AssertionError('%s failed: %s' % (cmd, proc.stderr.decode()))
    return proc.stdout


class DriverTestBase(test.TestCase):
    """The options and shares file of a driver test, in a temporary dir."""

    SHARES = '%s\n%s -o %s\n' % (SHARE, SHARE2, SHARE2_OPTS)

    def setUp(self):
        super().setUp()
        self.context = context.get_admin_context()
        self.tempdir = self.useFixture(fixtures.TempDir()).path
        self.shares_file = os.path.join(self.tempdir, 'lustre_shares')
        self._write_shares(self.SHARES)
        self.configuration = conf.Configuration(None)
        for opts in (lustre.lustre_opts, remotefs.nas_opts,
                     remotefs.volume_opts, base_driver.volume_opts):
            self.configuration.append_config_values(opts)
        self.override_config('lustre_shares_config', self.shares_file)
        self.override_config('lustre_mount_point_base',
                             os.path.join(self.tempdir, 'mnt'))
        self.override_config('nas_secure_file_permissions', 'false')
        self.override_config('nas_secure_file_operations', 'false')
        self.override_config('max_over_subscription_ratio', 1.0)
        self.override_config('reserved_percentage', 0)
        # Saved nowhere, but forgotten as changes as a real save does: the
        # temporary snapshot of a clone refuses to save a changed volume.
        self.mock_object(objects.Volume, 'save', autospec=True,
                         side_effect=lambda vol: vol.obj_reset_changes())

    def _write_shares(self, text):
        with open(self.shares_file, 'w') as f:
            f.write(text)

    def _commands(self, name):
        return [c for c in self._execute.call_args_list
                if lfs_out.unwrapped(c.args)[0] == name]

    def _count_queries(self):
        """Wrap the database sums the driver may call; return the mocks."""
        return {name: self.mock_object(db_api, name,
                                       wraps=getattr(db_api, name))
                for name in ('volume_data_get_for_host',
                             'get_snapshot_summary', 'get_volume_summary',
                             'service_get_all', 'volume_get_all')}

    @staticmethod
    def _counts(mocks):
        return {name: query.call_count for name, query in mocks.items()}

    def _temp_backup_device(self, volume, backup):
        """get_backup_device: a temporary volume, backing up, recorded."""
        device, is_snapshot = self.driver.get_backup_device(self.context,
                                                            backup)
        self.assertFalse(is_snapshot)
        self.assertNotEqual(volume.id, device.id)
        self.assertEqual(device.id, backup.temp_volume_id)
        self.assertEqual(fields.VolumeStatus.BACKING_UP, device.status)
        return device


class LustreTestBase(DriverTestBase):
    """Driver built on a real temporary mount point base, mocks at the edges.

    ``_execute`` is a mock (every command the driver runs is recorded);
    qemu-img, dd, cp, mv, rm and truncate are carried out for real, on the
    files of the temporary share. /proc/mounts and lfs are mocked;
    image_utils' qemu-img info (which only managing uses) and the format
    inspector run for real, without root.
    """

    def setUp(self):
        super(LustreTestBase, self).setUp()
        self.override_config('lustre_mount_options', 'flock')
        self.override_config('lustre_mount_attempts', 3)
        self.override_config('lustre_sparsed_volumes', True)
        self.override_config('lustre_qcow2_volumes', True)
        self.override_config('lustre_snapshot_support', True)
        self.override_config('volume_dd_blocksize', '1M')
        self.override_config('image_conversion_dir',
                             os.path.join(self.tempdir, 'conversion'))
        self.mock_read_mounts = self.mock_object(
            lustre_client, 'read_mount_points', return_value={})
        self.mock_object(remotefs_brick.RemoteFsClient, '_read_mounts',
                         return_value={})
        # image_utils runs qemu-img info as root through rootwrap, and the
        # format inspector through privsep: both run here, unprivileged.
        self.mock_object(image_utils.utils, 'execute',
                         side_effect=self._unprivileged_execute)
        self.qemu_img_info = self.mock_object(
            image_utils, 'qemu_img_info', wraps=image_utils.qemu_img_info)
        self.mock_object(cinder_privsep.sys_admin_pctxt, 'client_mode',
                         False)
        # A file outside the share that a hostile guest points its image
        # at: it must never be read into a volume nor changed.
        self.host_file = os.path.join(self.tempdir, 'host-secret')
        with open(self.host_file, 'wb') as f:
            f.write(HOST_SECRET * (CHUNK // len(HOST_SECRET)))
        self.host_state = self._host_file_state()
        self.driver = self._make_driver()
        self.mnt = self.driver._get_mount_point_for_share(SHARE)
        self.mnt2 = self.driver._get_mount_point_for_share(SHARE2)
        os.makedirs(self.mnt)
        os.makedirs(self.mnt2)

    @staticmethod
    def _unprivileged_execute(*cmd, **kwargs):
        """cinder.utils.execute of image_utils, run by the test's user."""
        proc = _subprocess(cmd)
        if proc.returncode:
            raise putils.ProcessExecutionError(
                exit_code=proc.returncode, cmd=' '.join(cmd),
                stdout=proc.stdout.decode(errors='replace'),
                stderr=proc.stderr.decode(errors='replace'))
        return proc.stdout.decode(), proc.stderr.decode()

    def _execute_side_effect(self, *cmd, **kwargs):
        """Run the commands the tests make real; lfs answers as 2.15.4."""
        if cmd[:2] == ('lfs', '--version'):
            return 'lfs 2.15.4\n', ''
        if cmd[:2] == ('lfs', 'pool_list'):
            return 'Pools from testfs:\n%s' % ''.join(
                'testfs.%s\n' % pool for pool in FS_POOLS), ''
        if cmd[:2] == ('lfs', 'setstripe') and os.path.isdir(
                os.path.dirname(cmd[-1])):
            # lfs setstripe makes an empty file with the layout.
            open(cmd[-1], 'a').close()
            return '', ''
        if cmd[0] == 'fallocate':
            # Preallocated for real, a thick volume's GiBs would take
            # their room on the test's disk: the file only gets its size.
            path = cmd[-1]
            with open(path, 'ab') as f:
                f.truncate(max(os.path.getsize(path),
                               int(cmd[2][:-1]) * units.Gi))
            return '', ''
        if cmd[:2] == ('dd', 'if=/dev/zero'):
            # Writing a thick volume's zeros for real costs a GiB of I/O:
            # the file gets its size, sparse; the command is recorded.
            count = int(cmd[4][len('count='):])
            with open(cmd[2][len('of='):], 'ab') as f:
                f.truncate(count * units.Mi)
            return '', ''
        if cmd[0] not in _REAL_COMMANDS:
            return '', ''
        proc = _subprocess(_fast_luks(cmd))
        if proc.returncode:
            raise putils.ProcessExecutionError(
                exit_code=proc.returncode, cmd=' '.join(cmd),
                stdout=proc.stdout.decode(errors='replace'),
                stderr=proc.stderr.decode(errors='replace'))
        if kwargs.get('binary'):
            return proc.stdout, proc.stderr
        return proc.stdout.decode(), proc.stderr.decode()

    def _make_driver(self, **kwargs):
        self._execute = mock.Mock(side_effect=self._execute_side_effect)
        execute = lfs_out.time_limited(self, self._execute)
        self.time_limits = execute.limits
        drv = lustre.LustreDriver(execute=execute,
                                  configuration=self.configuration,
                                  host=HOST, **kwargs)
        # Cinder's test database: provisioned capacity is summed there.
        drv.db = db_api
        drv._load_shares_config()
        drv._mounted_shares = [SHARE, SHARE2]
        return drv

    def _volume(self, extra_specs=None, volume_format=None, **kwargs):
        values = {'id': fake.VOLUME_ID, 'size': 1,
                  'provider_location': SHARE, 'host': HOST + '#' + POOL}
        values.update(kwargs)
        volume = fake_volume.fake_volume_obj(self.context, **values)
        volume.volume_type = (
            fake_volume.fake_volume_type_obj(self.context,
                                             extra_specs=extra_specs)
            if extra_specs is not None else None)
        if volume_format:
            volume.admin_metadata = {'format': volume_format}
        return volume

    def _snapshot(self, volume, **kwargs):
        """A snapshot of a volume whose share is mounted (and healthy)."""
        values = {'id': fake.SNAPSHOT_ID, 'volume_id': volume.id,
                  'volume_size': volume.size, 'status': 'available'}
        values.update(kwargs)
        snapshot = fake_snapshot.fake_snapshot_obj(self.context, **values)
        snapshot.volume = volume
        self.mock_ensure_mounted = self.mock_object(
            self.driver, '_ensure_share_mounted')
        return snapshot

    def _attach(self, volume, count=1):
        ids = [fake.ATTACHMENT_ID, fake.ATTACHMENT2_ID][:count]
        volume.volume_attachment = objects.VolumeAttachmentList(
            objects=[objects.VolumeAttachment(
                context=self.context, id=attachment_id, volume_id=volume.id,
                attach_status=fields.VolumeAttachStatus.ATTACHED,
                connection_info={}) for attachment_id in ids])
        volume.attach_status = fields.VolumeAttachStatus.ATTACHED
        volume.status = 'in-use'

    @staticmethod
    def _make_backup_view(volume):
        """Make a volume what the backup manager's temporary copies are."""
        volume.use_quota = False
        volume.display_name = 'backup-vol-%s' % fake.VOLUME_ID

    def _path(self, name, mount_point=None):
        return os.path.join(mount_point or self.mnt, name)

    def _touch(self, name, content='data', mount_point=None):
        path = self._path(name, mount_point)
        with open(path, 'w') as f:
            f.write(content)
        return path

    def _sparse_file(self, name, size):
        path = self._path(name)
        with open(path, 'w') as f:
            f.truncate(size)
        return path

    def _mount_point(self, volume):
        return self.driver._get_mount_point_for_share(
            volume.provider_location)

    def _secret_args(self):
        """qemu's --object of the secret 'sec0': the tests' passphrase."""
        key_file = os.path.join(self.tempdir, 'test-key')
        if not os.path.exists(key_file):
            with open(key_file, 'w') as f:
                f.write(PASSPHRASE)
        return ['--object', 'secret,id=sec0,format=raw,file=%s' % key_file]

    def _image(self, name, fmt='raw', size_gb=1, backing=None,
               backing_fmt=None, mount_point=None, encrypted=False,
               size=None):
        """A real image: a sparse raw file, or a qcow2 file or overlay.

        Encrypted, a raw image is a LUKS container and a qcow2 image has
        LUKS inside, both under PASSPHRASE (with 10 ms of key derivation
        rather than 2 s, to keep the tests fast).
        """
        path = self._path(name, mount_point)
        size = size or size_gb * units.Gi
        if fmt == 'raw' and not encrypted:
            with open(path, 'wb') as f:
                f.truncate(size)
            return path
        if not encrypted:
            cmd = ['qemu-img', 'create', '-f', 'qcow2']
            if backing:
                cmd += ['-u', '-b', backing, '-F', backing_fmt]
            _run(*cmd, path, str(size))
            return path
        # Every LUKS header qemu-img makes costs a PBKDF2 benchmark of
        # half a second of CPU (many times that on a loaded machine): the
        # test's encrypted images are copies of one per format and size.
        _run('cp', '--sparse=always', self._luks_template(fmt, size), path)
        if backing:
            _run('qemu-img', 'rebase', *self._secret_args(), '--image-opts',
                 '-u', '-b', backing, '-F', backing_fmt,
                 'driver=qcow2,encrypt.key-secret=sec0,file.filename=' + path)
        return path

    def _luks_template(self, fmt, size):
        key = (fmt, size)
        if key not in _LUKS_TEMPLATES:
            path = os.path.join(_luks_template_dir(), '%s-%d' % key)
            opts = ('key-secret=sec0,iter-time=10' if fmt == 'raw' else
                    'encrypt.format=luks,encrypt.key-secret=sec0,'
                    'encrypt.iter-time=10')
            _run('qemu-img', 'create', *self._secret_args(), '-f',
                 'luks' if fmt == 'raw' else 'qcow2', '-o', opts, path,
                 str(size))
            _LUKS_TEMPLATES[key] = path
        return _LUKS_TEMPLATES[key]

    def _chain_files(self, volume, snapshot_ids=(), base_fmt='raw',
                     guest_data=True, size=None):
        """Real files of a volume: its base and an overlay per snapshot.

        The .info file and the format records are what the driver would
        have left; returns the .info contents. The images are of the
        volume's size, or of ``size`` bytes (encrypted copies write every
        byte: a small image keeps them fast). With guest_data, the guest
        wrote GUEST_BEFORE at 0 before the first snapshot, and 0x50 + k at
        (k + 1) * CHUNK after snapshot k (into the overlay made for it):
        _assert_guest_view tells which of those writes a file holds.
        """
        mount_point = self._mount_point(volume)
        encrypted = bool(volume.encryption_key_id)
        self._image(volume.name, base_fmt, volume.size,
                    mount_point=mount_point, encrypted=encrypted, size=size)
        chain = [(self._path(volume.name, mount_point), base_fmt)]
        if guest_data:
            self._guest_write(chain, GUEST_BEFORE, 0, encrypted)
        backing = volume.name
        backing_fmt = 'luks' if encrypted and base_fmt == 'raw' else base_fmt
        info = {'active': volume.name}
        for index, snapshot_id in enumerate(snapshot_ids):
            name = '%s.%s' % (volume.name, snapshot_id)
            self._image(name, 'qcow2', volume.size, backing, backing_fmt,
                        mount_point=mount_point, encrypted=encrypted,
                        size=size)
            info[snapshot_id] = info['active'] = name
            backing, backing_fmt = name, 'qcow2'
            chain.insert(0, (self._path(name, mount_point), 'qcow2'))
            if guest_data:
                self._guest_write(chain, 0x50 + index, (index + 1) * CHUNK,
                                  encrypted)
        volume.admin_metadata = {'format': base_fmt}
        if snapshot_ids:
            self._write_info(volume, info)
            volume.admin_metadata = {'format': 'qcow2',
                                     'base_format': base_fmt}
        return info

    @staticmethod
    def _json(chain, encrypted=False):
        """A chain ((path, format), top first) as a qemu json: filename.

        Every node is explicit, as in the driver, but written here on its
        own: the tests read files the way a guest's qemu would.
        """
        node = None
        for path, fmt in reversed(chain):
            driver = 'luks' if encrypted and fmt == 'raw' else fmt
            new = {'driver': driver,
                   'file': {'driver': 'file', 'filename': path}}
            if encrypted:
                new['key-secret' if driver == 'luks' else
                    'encrypt.key-secret'] = 'sec0'
            if fmt == 'qcow2':
                new['backing'] = node
            node = new
        return 'json:' + json.dumps(node)

    def _guest_write(self, chain, pattern, offset, encrypted=False):
        """The guest writes CHUNK bytes of a pattern at an offset."""
        _run('qemu-io', *self._secret_args(), '-c',
             'write -P %d %d %d' % (pattern, offset, CHUNK),
             self._json(chain, encrypted))

    def _guest_read(self, chain, offsets, length=CHUNK, encrypted=False):
        """What the guest reads from a chain at each of the offsets.

        One qemu-io for all of them: opening an encrypted image derives
        its key, which takes seconds for a LUKS header qemu-img made.
        """
        commands = []
        for offset in offsets:
            commands += ['-c', 'read -v %d %d' % (offset, length)]
        out = _run('qemu-io', *self._secret_args(), '-r', *commands,
                   self._json(chain, encrypted)).decode()
        reads = [bytearray()]
        for line in out.splitlines():
            address, sep, dump = line.partition(':  ')
            if sep and len(address) == 8:
                reads[-1] += bytes.fromhex(dump[:16 * 3])
            elif line.startswith('read '):
                reads.append(bytearray())
        return [bytes(data) for data in reads[:-1]]

    def _assert_guest_view(self, chain, layers, encrypted=False,
                           overlays=2):
        """The chain shows the guest writes of ``layers`` images.

        layers=1: the base's data only (what the first snapshot holds);
        layers=k+1: also what was written after snapshots 1..k.
        """
        expected = [GUEST_BEFORE]
        for index in range(overlays):
            expected.append(0x50 + index if layers > index + 1 else 0)
        self.assertEqual(
            [(CHUNK, [byte]) for byte in expected],
            [self._summary(data) for data in self._guest_read(
                chain, [offset * CHUNK for offset in range(overlays + 1)],
                encrypted=encrypted)])

    @staticmethod
    def _summary(data):
        """Bytes read, as their length and the distinct values in them."""
        return len(data), sorted(set(data))

    @staticmethod
    def _info_of(path, fmt):
        """qemu-img info of a file, read in the format it should have."""
        return json.loads(_run('qemu-img', 'info', '--output=json', '-U',
                               '-f', fmt, path))

    def _qemu_img(self):
        """The qemu-img subcommands the driver ran, in order."""
        return [c.args[1] for c in self._commands('qemu-img')]

    def _forged_qcow2(self, **opts):
        """A qcow2 image's bytes that name a backing or a data file.

        What a guest can write at offset 0 of a raw volume: qemu-img
        guessing the format would follow the reference to the host file.
        """
        path = os.path.join(self.tempdir, 'forged.qcow2')
        if os.path.exists(path):
            os.unlink(path)
        cmd = ['qemu-img', 'create', '-f', 'qcow2']
        if 'backing' in opts:
            cmd += ['-u', '-b', opts['backing'], '-F', 'raw']
        data_file = opts.get('data_file')
        if data_file:
            # Made with a decoy of the same length, which qemu-img creates
            # (it would truncate the real one), then renamed in the bytes.
            decoy = os.path.join(os.path.dirname(data_file),
                                 'd' * len(os.path.basename(data_file)))
            cmd += ['-o', 'data_file=%s' % decoy]
        _run(*cmd, path, '1G')
        with open(path, 'rb') as f:
            data = f.read()
        if data_file:
            os.unlink(decoy)
            data = data.replace(decoy.encode(), data_file.encode())
        return data

    def _write_raw(self, path, data, offset=0):
        """The guest of a raw volume writes bytes into its file."""
        with open(path, 'r+b') as f:
            f.seek(offset)
            f.write(data)

    def _host_file_state(self):
        st = os.stat(self.host_file)
        with open(self.host_file, 'rb') as f:
            return st.st_size, st.st_mtime_ns, hashlib.sha256(
                f.read()).hexdigest()

    @staticmethod
    def _data_of(path):
        """The data of a sparse file, hole by hole skipped."""
        chunks = []
        with open(path, 'rb') as f:
            end = os.fstat(f.fileno()).st_size
            offset = 0
            while offset < end:
                try:
                    offset = os.lseek(f.fileno(), offset, os.SEEK_DATA)
                except OSError:
                    break
                hole = os.lseek(f.fileno(), offset, os.SEEK_HOLE)
                f.seek(offset)
                chunks.append(f.read(hole - offset))
                offset = hole
        return b''.join(chunks)

    def _assert_host_file_unread(self, *paths):
        """No byte of the host file is in these files, and it is unchanged."""
        for path in paths:
            self.assertNotIn(HOST_SECRET, self._data_of(path), path)
        self.assertEqual(self.host_state, self._host_file_state())

    def _point_at_host_file(self, path, kind):
        """Make path a symlink, FIFO or hard link (of the host file)."""
        if os.path.lexists(path):
            os.unlink(path)
        if kind == 'symlink':
            os.symlink(self.host_file, path)
        elif kind == 'fifo':
            os.mkfifo(path)
        else:
            os.link(self.host_file, path)

    def _write_info(self, volume, info):
        path = self._path(volume.name + '.info')
        with open(path, 'w') as f:
            f.write(info if isinstance(info, str) else json.dumps(info))
        return path

    def _read_info(self, volume):
        with open(self._path(volume.name + '.info')) as f:
            return json.load(f)

    def _setstripes(self):
        return [c for c in self._commands('lfs') if c.args[1] == 'setstripe']

    def _provision(self, size_gb, pool=POOL, host=HOST, **kwargs):
        """A volume of size_gb in a pool, in the database."""
        return test_utils.create_volume(
            self.context, size=size_gb,
            host=volume_utils.append_host(host, pool), **kwargs)

    def _capacity(self, available_gb, total_gb, provisioned_gb=0,
                  share=None):
        """Report capacity figures; provision each pool in the database."""
        def available(s, ost_pool=None):
            if share is None or s == share:
                return available_gb * units.Gi, total_gb * units.Gi
            return 0, 0
        self.mock_object(self.driver, '_get_available_capacity',
                         side_effect=available)
        if provisioned_gb:
            for pool in self.driver._pools:
                self._provision(provisioned_gb, pool)

    def _ost_pool_driver(self, ost_pools=('testfs.ssd', 'testfs.hdd')):
        self.override_config('lustre_ost_pools', list(ost_pools))
        self.driver = self._make_driver()
        return self.driver

    def _stats_with(self, execute):
        self.mock_object(self.driver._mounter, 'ensure_mounted')

        def answer(*cmd, **kwargs):
            result = execute(*cmd, **kwargs)
            if result is not None:
                return result
            if cmd[:2] == ('lfs', 'df'):
                return LFS_DF, ''
            if cmd[:2] == ('lfs', 'getstripe'):
                return GETSTRIPE_D, ''
            return self._execute_side_effect(*cmd, **kwargs)
        self._execute.side_effect = answer
        return self.driver.get_volume_stats(refresh=True)

    @staticmethod
    def _written_format(path):
        """The format a copy was written in: qcow2 by its magic, or raw."""
        with open(path, 'rb') as f:
            return 'qcow2' if f.read(4) == b'QFI\xfb' else 'raw'

    def _key_manager(self):
        """The key manager gives every key id KeyObject's key.

        And every encrypted volume type is LUKS with aes-xts-plain64.
        """
        os.makedirs(os.path.join(self.tempdir, 'conversion'), exist_ok=True)
        keymgr = mock.Mock()
        keymgr.get.return_value = KeyObject()
        self.mock_object(lustre_files.key_manager, 'API', return_value=keymgr)
        self.mock_object(volume_utils, 'check_encryption_provider',
                         return_value={'cipher': 'aes-xts-plain64',
                                       'key_size': 256, 'provider': 'luks'})
        return keymgr

    def _assert_plain_image(self, path, fmt, size_gb):
        """A file of one image: no backing file, no data file, full size."""
        info = self._info_of(path, fmt)
        self.assertNotIn('backing-filename', info)
        self.assertNotIn('data-file', info.get('format-specific', {}).get(
            'data', {}))
        self.assertEqual(size_gb * units.Gi, info['virtual-size'])


@ddt.ddt
class LustreDriverTestCase(LustreTestBase):
    """Test case for the Lustre volume driver."""

    # ------------------------------------------------------------------
    # Driver attributes and options
    # ------------------------------------------------------------------

    def test_driver_attributes(self):
        self.assertEqual('1.0.0', lustre.LustreDriver.VERSION)
        self.assertEqual('Lustre_CI', lustre.LustreDriver.CI_WIKI_NAME)
        self.assertEqual('lustre', lustre.LustreDriver.driver_volume_type)
        self.assertEqual('lustre', lustre.LustreDriver.driver_prefix)
        self.assertTrue(lustre.LustreDriver.SUPPORTS_ACTIVE_ACTIVE)
        self.assertEqual('1.0.0', self.driver.get_version())
        self.assertTrue(self.driver._supports_encryption)
        # Nothing in Cinder reads it: the stats say sparse_copy_volume.
        self.assertFalse(hasattr(self.driver, '_sparse_copy_volume_data'))
        self.assertTrue(issubclass(lustre.LustreDriver,
                                   remotefs.RemoteFSSnapDriverDistributed))
        self.assertTrue(issubclass(lustre.LustreDriver,
                                   remotefs.RemoteFSManageableVolumesMixin))
        self.assertTrue(issubclass(lustre.LustreDriver,
                                   remotefs.RevertToSnapshotMixin))

    def test_get_driver_options(self):
        # Only the options the driver uses: of the NAS options, not the
        # share (nas_host, nas_share_path, nas_mount_options) nor login.
        names = [opt.name
                 for opt in lustre.LustreDriver.get_driver_options()]
        self.assertEqual([opt.name for opt in lustre.lustre_opts] +
                         ['nas_secure_file_operations',
                          'nas_secure_file_permissions'], names)
        for name in ('lustre_shares_config', 'lustre_mount_point_base',
                     'lustre_mount_options', 'lustre_mount_attempts',
                     'lustre_sparsed_volumes', 'lustre_qcow2_volumes',
                     'lustre_snapshot_support', 'lustre_project_quotas'):
            self.assertIn(name, names)

    @ddt.data(('lustre_shares_config', '/etc/cinder/lustre_shares'),
              ('lustre_mount_point_base', '$state_path/mnt'),
              ('lustre_mount_options', 'flock'),
              ('lustre_mount_attempts', 3),
              ('lustre_sparsed_volumes', True),
              ('lustre_qcow2_volumes', True),
              ('lustre_snapshot_support', True),
              ('lustre_project_quotas', False))
    @ddt.unpack
    def test_option_defaults(self, name, default):
        opt = next(o for o in lustre.lustre_opts if o.name == name)
        self.assertEqual(default, opt.default)
        self.assertGreater(len(opt.help), 20)

    def test_migrate_volume_is_there(self):
        volume = self._volume()
        self.assertEqual((False, None),
                         self.driver.migrate_volume(self.context, volume,
                                                    {'host': 'other'}))
        self._execute.assert_not_called()

    def test_validate_connector(self):
        self.assertIsNone(self.driver.validate_connector({}))

    # ------------------------------------------------------------------
    # Shares file
    # ------------------------------------------------------------------

    @ddt.data(
        ('10.0.0.1@tcp:/testfs', 'testfs', None),
        ('10.0.0.1@tcp:/testfs/', 'testfs', None),
        ('mgs1@tcp0:/fs_1-a', 'fs_1-a', None),
        ('0@lo:/lustre', 'lustre', None),
        ('10.0.0.1@o2ib1,10.0.1.1@tcp:/testfs', 'testfs', None),
        ('10.0.0.1@tcp:10.0.0.2@tcp:/testfs/vols', 'testfs/vols', None),
        ('10.0.0.1@tcp,10.1.0.1@o2ib:10.0.0.2@tcp,10.1.0.2@o2ib:/fs/a/b.c',
         'fs/a/b.c', None),
        ('mgs.example.com@tcp:/testfs -o user_xattr,noatime', 'testfs',
         'user_xattr,noatime'),
        ('10.0.0.1@tcp:/testfs   -o   localflock', 'testfs', 'localflock'),
        ('\t10.0.0.1@tcp:/fsname12/sub_dir\t', 'fsname12/sub_dir', None),
        # Without @NET a NID is on tcp0; IPv6 NIDs need Lustre 2.17.
        ('10.0.0.1:/testfs', 'testfs', None),
        ('mgs1:mgs2:/testfs/vols', 'testfs/vols', None),
        ('2001:db8::1@tcp:2001:db8::2@tcp:/testfs', 'testfs', None),
    )
    @ddt.unpack
    def test_load_shares_config_valid(self, line, name, options):
        self._write_shares(line + '\n')
        self.driver._load_shares_config()
        address = line.split()[0]
        self.assertEqual({address: options}, self.driver.shares)
        share = self.driver._share_objects[address]
        self.assertEqual(name, share.name)
        # Without lustre_ost_pools, a share is one Cinder pool named after
        # its path in Lustre.
        self.assertEqual({name: lustre_pools.LustrePool(name, address)},
                         self.driver._pools)

    def test_load_shares_config_comments_and_blanks(self):
        self._write_shares('# Lustre shares\n\n   \n%s\n  # %s\n'
                           '%s -o %s\n' % (SHARE, 'x', SHARE2, SHARE2_OPTS))
        self.driver._load_shares_config()
        self.assertEqual({SHARE: None, SHARE2: SHARE2_OPTS},
                         self.driver.shares)
        self.assertEqual(
            {POOL: lustre_pools.LustrePool(POOL, SHARE),
             POOL2: lustre_pools.LustrePool(POOL2, SHARE2)},
            self.driver._pools)

    def test_load_shares_config_explicit_file(self):
        other = os.path.join(self.tempdir, 'other_shares')
        with open(other, 'w') as f:
            f.write('10.9.9.9@tcp:/other\n')
        self.driver._load_shares_config(other)
        self.assertEqual({'10.9.9.9@tcp:/other': None}, self.driver.shares)

    def test_load_shares_config_empty(self):
        self._write_shares('# nothing\n')
        self.driver._load_shares_config()
        self.assertEqual({}, self.driver.shares)
        self.assertEqual({}, self.driver._share_objects)

    @ddt.data(
        '/testfs',                                    # no MGS
        '10.0.0.1@tcp:/',                             # no fsname
        '10.0.0.1@tcp:',                              # no fsname
        '10.0.0.1@tcp',                               # no fsname
        '10.0.0.1@o2ib9x:/testfs',                    # bad net number
        '10.0.0.1@:/testfs',                          # NID without net
        '@tcp:/testfs',                               # NID without host
        '10.0.0.1@tcp,:/testfs',                      # empty NID
        '10.0.0.1@tcp::10.0.0.2@tcp:/testfs',         # empty failover
        '10.0.0.1@TCP:/testfs',                       # bad net name
        '10.0.0.1@tcp:/testfs;reboot',                # shell metacharacter
        '10.0.0.1@tcp:/testfs$(reboot)',              # shell metacharacter
        '10.0.0.1@tcp:/test`id`',                     # shell metacharacter
        '10.0.0.1@tcp:/testfs|cat',                   # shell metacharacter
        '10.0.0.1@tcp:/testfs&&x',                    # shell metacharacter
        '10.0.0.1@tcp:/my fs',                        # space
        '10.0.0.1@tcp:testfs',                        # relative path
        '10.0.0.1@tcp:/testfs/../etc',                # ..
        '10.0.0.1@tcp:/testfs/./x',                   # .
        '10.0.0.1@tcp:/testfs/..',                    # ..
        '10.0.0.1@tcp:/ninechars',                    # fsname > 8 chars
        '10.0.0.1@tcp://testfs',                      # empty component
        '10.0.0.1@tcp:/testfs -o',                    # -o without options
        '10.0.0.1@tcp:/testfs noatime',               # not -o OPTS
        '10.0.0.1@tcp:/testfs -O noatime',            # not -o OPTS
        '10.0.0.1@tcp:/testfs -o a -o b',             # two -o
        '10.0.0.1@tcp:/testfs --bind /',              # other option
        '10.0.0.1@tcp:/testfs -o noatime;reboot',     # bad option
        '10.0.0.1@tcp:/testfs -o ro,,rw',             # empty option
        '10.0.0.1@tcp:/testfs -o "ro"',               # quotes
    )
    def test_load_shares_config_invalid_line(self, line):
        self._write_shares('# comment\n\n%s\n%s\n' % (SHARE, line))
        self.driver.shares = {'kept': None}
        exc = self.assertRaises(exception.InvalidConfigurationValue,
                                self.driver._load_shares_config)
        self.assertIn(self.shares_file, str(exc))
        self.assertIn('line 4', str(exc))
        self.assertEqual({'kept': None}, self.driver.shares)

    @ddt.data(
        (SHARE, SHARE),                                       # twice
        (SHARE, SHARE + ' -o noatime'),                       # twice
        (SHARE, '192.168.1.99@tcp:/testfs'),                  # same fs path
        ('10.0.0.1@tcp:/fs/a', '10.0.0.2@tcp:/fs/a/'),        # same fs path
    )
    @ddt.unpack
    def test_load_shares_config_duplicate(self, first, second):
        self._write_shares('%s\n%s\n' % (first, second))
        exc = self.assertRaises(exception.InvalidConfigurationValue,
                                self.driver._load_shares_config)
        self.assertIn(self.shares_file, str(exc))
        self.assertIn('line 2', str(exc))

    # ------------------------------------------------------------------
    # Mount points and mounting
    # ------------------------------------------------------------------

    def test_local_path_is_in_its_share_mount_point(self):
        volume = self._volume()
        path = self.driver.local_path(volume)
        mount_point = self.driver._get_mount_point_for_share(SHARE)
        self.assertEqual(os.path.join(mount_point, volume.name), path)
        self.assertEqual(mount_point, os.path.dirname(path))
        self.assertTrue(mount_point.startswith(self.driver.base + os.sep))
        volume2 = self._volume(id=fake.VOLUME2_ID, provider_location=SHARE2)
        self.assertEqual(os.path.join(self.mnt2, volume2.name),
                         self.driver.local_path(volume2))

    def test_get_mount_point_for_share(self):
        for share in (SHARE, SHARE2):
            expected = os.path.join(
                os.path.realpath(os.path.join(self.tempdir, 'mnt')),
                hashlib.md5(share.encode('utf-8'),
                            usedforsecurity=False).hexdigest())
            self.assertEqual(expected,
                             self.driver._get_mount_point_for_share(share))
            # Stable: the same share always gets the same mount point.
            self.assertEqual(expected,
                             self._make_driver()._get_mount_point_for_share(
                                 share))
        self.assertNotEqual(self.driver._get_mount_point_for_share(SHARE),
                            self.driver._get_mount_point_for_share(SHARE2))

    def test_mount_point_base_is_resolved(self):
        real = os.path.join(self.tempdir, 'real')
        os.makedirs(real)
        link = os.path.join(self.tempdir, 'link')
        os.symlink(real, link)
        self.override_config('lustre_mount_point_base', link + '//')
        drv = self._make_driver()
        self.assertEqual(real, drv.base)
        self.assertEqual(real, drv._get_mount_point_base())
        self.assertEqual(real, os.path.dirname(
            drv._get_mount_point_for_share(SHARE)))

    def _mounted_after_mount(self):
        """/proc/mounts lists mount points once 'mount' ran for them."""
        mounted = set()

        def execute(*cmd, **kwargs):
            if lfs_out.unwrapped(cmd)[0] == 'mount':
                mounted.add(cmd[-1])
            return '', ''
        self._execute.side_effect = execute
        self.mock_read_mounts.side_effect = (
            lambda: {mp: 'lustre' for mp in mounted})
        return mounted

    def test_mount_lustre(self):
        self._mounted_after_mount()
        self.driver._ensure_share_mounted(SHARE2)
        self.assertEqual(
            [mock.call('timeout', '-k', '2', '120', 'mount', '-t', 'lustre',
                       '-o', 'flock,' + SHARE2_OPTS, SHARE2, self.mnt2,
                       root_helper=mock.ANY, run_as_root=True)],
            self._execute.call_args_list)

    @ddt.data((None, SHARE, []),
              ('flock', SHARE, ['-o', 'flock']),
              (None, SHARE2, ['-o', SHARE2_OPTS]),
              ('localflock,noatime', SHARE2,
               ['-o', 'localflock,noatime,' + SHARE2_OPTS]))
    @ddt.unpack
    def test_mount_options(self, options, share, expected):
        self.override_config('lustre_mount_options', options)
        self.driver = self._make_driver()
        self._mounted_after_mount()
        mount_point = self.driver._get_mount_point_for_share(share)
        self.driver._ensure_share_mounted(share)
        self.assertEqual(('mount', '-t', 'lustre', *expected, share,
                          mount_point),
                         lfs_out.unwrapped(self._execute.call_args.args))

    def test_mount_timeouts_from_options(self):
        self.override_config('lustre_mount_timeout', 7)
        self.override_config('lustre_umount_timeout', 12)
        self.override_config('lustre_lfs_timeout', 9)
        drv = self._make_driver()
        self._mounted_after_mount()
        drv._ensure_share_mounted(SHARE)
        drv._lfs.version()
        self.assertEqual(
            [(('timeout', '-k', '2', '7', 'mount', '-t', 'lustre', '-o',
               'flock', SHARE, self.mnt), 10),
             (('lfs', '--version'), 9)],
            self.time_limits)
        self.assertEqual(12, drv._mounter.umount_timeout)

    def test_mount_lustre_should_reraise_exception_on_failure(self):
        self._execute.side_effect = putils.ProcessExecutionError(
            stderr='mount.lustre: mount 192.168.1.10@tcp:/testfs at /mnt '
                   'failed: Input/output error')
        exc = self.assertRaises(lustre_client.LustreException,
                                self.driver._ensure_share_mounted, SHARE)
        self.assertIn('Input/output error', str(exc))
        self.assertIn(SHARE, str(exc))
        self.assertEqual(3, len(self._commands('mount')))
        self.assertEqual([mock.call(1), mock.call(2)],
                         tenacity.nap.sleep.call_args_list)

    def test_ensure_share_mounted(self):
        mounted = self._mounted_after_mount()
        self.driver._ensure_share_mounted(SHARE)
        self.assertEqual({self.mnt}, mounted)
        self.assertEqual(1, len(self._commands('mount')))
        # Mounted now: the next call neither mounts nor unmounts.
        self._execute.reset_mock()
        self.driver._ensure_share_mounted(SHARE)
        self._execute.assert_not_called()

    def test_ensure_share_mounted_already_mounted(self):
        self.mock_read_mounts.return_value = {self.mnt: 'lustre'}
        self.driver._ensure_share_mounted(SHARE)
        self._execute.assert_not_called()

    def test_ensure_share_mounted_refuses_other_file_system(self):
        # Something else is mounted where the share belongs: nothing is
        # mounted over it, and the driver does not use it.
        self.mock_read_mounts.return_value = {self.mnt: 'nfs4'}
        exc = self.assertRaises(lustre_client.LustreNotLustreMount,
                                self.driver._ensure_share_mounted, SHARE)
        self.assertIn(self.mnt, str(exc))
        self.assertIn('nfs4', str(exc))
        self._execute.assert_not_called()

    def test_ensure_shares_mounted_should_save_mounting_successfully(self):
        mock_mount = self.mock_object(self.driver._mounter, 'ensure_mounted')
        self.driver._mounted_shares = []
        self.driver._ensure_shares_mounted()
        self.assertEqual([SHARE, SHARE2], self.driver._mounted_shares)
        self.assertEqual([mock.call(SHARE, None),
                          mock.call(SHARE2, SHARE2_OPTS)],
                         mock_mount.call_args_list)

    def test_ensure_shares_mounted_should_not_save_mounting_with_error(self):
        def mount(share, options):
            if share == SHARE2:
                raise lustre_client.LustreException(msg='mount failed')
        self.mock_object(self.driver._mounter, 'ensure_mounted',
                         side_effect=mount)
        self.driver._ensure_shares_mounted()
        self.assertEqual([SHARE], self.driver._mounted_shares)

    def test_refresh_mounts(self):
        # Each refresh reads the shares file again: a share removed from it
        # is no longer used, a new one is mounted.
        mounted = self._mounted_after_mount()
        self.driver._ensure_shares_mounted()
        self.assertEqual([SHARE, SHARE2], self.driver._mounted_shares)
        self.assertEqual({self.mnt, self.mnt2}, mounted)
        new_share = '192.168.1.20@tcp:/newfs'
        self._write_shares('%s\n' % new_share)
        self.driver._ensure_shares_mounted()
        self.assertEqual([new_share], self.driver._mounted_shares)
        self.assertIn(self.driver._get_mount_point_for_share(new_share),
                      mounted)
        self.assertEqual({'newfs': lustre_pools.LustrePool('newfs',
                                                           new_share)},
                         self.driver._pools)

    def test_refresh_mounts_with_excp(self):
        mounted = self._mounted_after_mount()
        execute = self._execute.side_effect

        def failing(*cmd, **kwargs):
            if lfs_out.unwrapped(cmd)[0] == 'mount' and cmd[-2] == SHARE:
                raise putils.ProcessExecutionError(stderr='no route to host')
            return execute(*cmd, **kwargs)
        self._execute.side_effect = failing
        self.driver._ensure_shares_mounted()
        self.assertEqual([SHARE2], self.driver._mounted_shares)
        self.assertEqual({self.mnt2}, mounted)
        # The failing share was tried as many times as configured.
        self.assertEqual(3, len([c for c in self._commands('mount')
                                 if c.args[-2] == SHARE]))

    def test_refresh_mounts_bad_shares_file_raises(self):
        self._write_shares('10.0.0.1@tcp:/bad;rm\n')
        self.assertRaises(exception.InvalidConfigurationValue,
                          self.driver._ensure_shares_mounted)
        self._execute.assert_not_called()

    # ------------------------------------------------------------------
    # Setup
    # ------------------------------------------------------------------

    def test_do_mount(self):
        mounted = self._mounted_after_mount()
        self.driver._mounted_shares = []
        self.driver.do_setup(self.context)
        self.assertEqual([SHARE, SHARE2], self.driver._mounted_shares)
        self.assertEqual({self.mnt, self.mnt2}, mounted)
        self.assertEqual(2, len(self._commands('mount')))
        self.assertIsNotNone(self.driver._nova)

    @ddt.data(None, '', '/does/not/exist')
    def test_do_setup_missing_shares_config(self, path):
        self.override_config('lustre_shares_config', path)
        exc = self.assertRaises(exception.InvalidConfigurationValue,
                                self.driver.do_setup, self.context)
        self.assertIn('lustre_shares_config', str(exc))
        self._execute.assert_not_called()

    def test_do_setup_shares_config_is_directory(self):
        self.override_config('lustre_shares_config', self.tempdir)
        self.assertRaises(exception.InvalidConfigurationValue,
                          self.driver.do_setup, self.context)

    def test_do_setup_invalid_nas_option(self):
        self.override_config('nas_secure_file_operations', 'maybe')
        self.assertRaises(exception.InvalidConfigurationValue,
                          self.driver.do_setup, self.context)

    def test_do_setup_no_share_mounted(self):
        self.mock_object(self.driver._mounter, 'ensure_mounted',
                         side_effect=lustre_client.LustreException(msg='x'))
        self.assertRaises(lustre_client.LustreNoSharesMounted,
                          self.driver.do_setup, self.context)

    @ddt.data(
        # new install, indicator file exists, expected value
        (True, False, 'true'),
        (True, True, 'true'),
        (False, True, 'true'),
        (False, False, 'false'),
        (None, False, 'false'),
    )
    @ddt.unpack
    def test_do_setup_nas_security_auto(self, new_install, indicator,
                                        expected):
        self.override_config('nas_secure_file_permissions', 'auto')
        self.override_config('nas_secure_file_operations', 'auto')
        self.driver = self._make_driver(is_vol_db_empty=new_install)
        self.mock_object(self.driver._mounter, 'ensure_mounted')
        indicator_path = self._path('.cinderSecureEnvIndicator')
        if indicator:
            self._touch('.cinderSecureEnvIndicator')
        self.driver.do_setup(self.context)
        self.assertEqual(expected,
                         self.driver.configuration.nas_secure_file_permissions)
        self.assertEqual(expected,
                         self.driver.configuration.nas_secure_file_operations)
        self.assertEqual(expected == 'false', self.driver._execute_as_root)
        self.assertEqual(expected == 'true', os.path.isfile(indicator_path))
        self.assertEqual(expected == 'true',
                         self.driver.secure_file_operations_enabled())
        if new_install and not indicator:
            self._execute.assert_any_call('chmod', '640', indicator_path,
                                          run_as_root=True)

    @ddt.data(('true', 'true', False), ('false', 'false', True),
              ('true', 'false', True), ('false', 'true', False))
    @ddt.unpack
    def test_do_setup_nas_security_explicit(self, permissions, operations,
                                            as_root):
        self.override_config('nas_secure_file_permissions', permissions)
        self.override_config('nas_secure_file_operations', operations)
        self.mock_object(self.driver._mounter, 'ensure_mounted')
        self.driver.do_setup(self.context)
        self.assertEqual(permissions,
                         self.driver.configuration.nas_secure_file_permissions)
        self.assertEqual(as_root, self.driver._execute_as_root)
        self.assertFalse(os.path.exists(
            self._path('.cinderSecureEnvIndicator')))

    def _lfs_version(self, version):
        """Make lfs --version print this (an exception: raise it)."""
        def execute(*cmd, **kwargs):
            if cmd[:2] == ('lfs', '--version'):
                if isinstance(version, Exception):
                    raise version
                return 'lfs %s\n' % version, ''
            return self._execute_side_effect(*cmd, **kwargs)
        self._execute.side_effect = execute
        self.mock_object(self.driver._mounter, 'ensure_mounted')

    @ddt.data('2.9.0', '2.10.8', '2.11.0')
    def test_do_setup_refuses_old_lustre_client(self, version):
        # 2.9 prints "filesystem summary:", 2.10 has no lfs project, 2.11
        # no default quotas: the parsers read 2.12 to 2.17.
        self._lfs_version(version)
        exc = self.assertRaises(exception.VolumeDriverException,
                                self.driver.do_setup, self.context)
        self.assertIn(version, str(exc))
        self.assertIn('2.12', str(exc))

    @ddt.data('2.12.9', '2.17.0', 'unknown')
    def test_do_setup_supported_lustre_client(self, version):
        self._lfs_version(version)
        self.driver.do_setup(self.context)
        self._execute.assert_any_call('lfs', '--version')

    @ddt.data(OSError(errno.ENOENT, 'No such file or directory'),
              putils.ProcessExecutionError(exit_code=1))
    def test_do_setup_lfs_version_unreadable_warns(self, error):
        self._lfs_version(error)
        mock_warn = self.mock_object(lustre.LOG, 'warning')
        self.driver.do_setup(self.context)
        self.assertIn('lfs --version', mock_warn.call_args_list[0].args[0])

    def test_check_for_setup_error(self):
        self.assertIsNone(self.driver.check_for_setup_error())
        self.driver._mounted_shares = []
        self.assertRaises(lustre_client.LustreNoSharesMounted,
                          self.driver.check_for_setup_error)

    # ------------------------------------------------------------------
    # Create
    # ------------------------------------------------------------------

    def _create(self, volume):
        self.mock_object(self.driver, '_ensure_shares_mounted')
        self.mock_object(self.driver, '_find_share', return_value=SHARE)
        self.assertEqual({'provider_location': SHARE},
                         self.driver.create_volume(volume))
        return self._path(volume.name)

    def test_create_thin_volume(self):
        volume = self._volume(extra_specs={'provisioning:type': 'thin'},
                              provider_location=None)
        path = self._create(volume)
        self.assertEqual(
            [mock.call('qemu-img', 'create', '-f', 'qcow2',
                       '-o', 'preallocation=metadata', path, '1G',
                       run_as_root=True),
             mock.call('chmod', 'ugo+rw', path, run_as_root=True)],
            self._execute.call_args_list)
        self.assertEqual('qcow2', volume.admin_metadata['format'])
        self.assertEqual(SHARE, volume.provider_location)
        objects.Volume.save.assert_called_once_with(volume)
        # The file is what was recorded: a qcow2 image of the volume's
        # size, on nothing.
        self._assert_plain_image(path, 'qcow2', 1)
        self.assertEqual('qcow2', self.driver.initialize_connection(
            volume, {})['data']['format'])

    def test_create_thick_fallocate_volume(self):
        volume = self._volume(extra_specs={'provisioning:type': 'thick'},
                              size=3, provider_location=None)
        path = self._create(volume)
        # The share's first thick volume: is its first MiB preallocated?
        self.assertEqual(
            [mock.call('fallocate', '-l', '1M', path, run_as_root=True),
             mock.call('fallocate', '-l', '3G', path, run_as_root=True),
             mock.call('chmod', 'ugo+rw', path, run_as_root=True)],
            self._execute.call_args_list)
        self.assertEqual('raw', volume.admin_metadata['format'])
        # Then the share is known to preallocate.
        self._execute.reset_mock()
        path = self._path('vol2')
        self.driver._create_regular_file(path, 2)
        self.assertEqual(
            [mock.call('fallocate', '-l', '2G', path, run_as_root=True)],
            self._execute.call_args_list)

    def test_create_thick_dd_volume(self):
        def execute(*cmd, **kwargs):
            if cmd[0] == 'fallocate':
                raise putils.ProcessExecutionError(
                    stderr='fallocate: fallocate failed: Operation not '
                           'supported')
            return self._execute_side_effect(*cmd, **kwargs)
        self._execute.side_effect = execute
        volume = self._volume(extra_specs={'provisioning:type': 'thick'},
                              size=2, provider_location=None)
        path = self._create(volume)
        self._execute.assert_any_call('dd', 'if=/dev/zero', 'of=%s' % path,
                                      'bs=1M', 'count=2048',
                                      run_as_root=True)
        self.assertEqual(['fallocate', 'dd', 'chmod'],
                         [c.args[0] for c in self._execute.call_args_list])
        self.assertEqual('raw', volume.admin_metadata['format'])

    @ddt.data('fallocate: fallocate failed: Operation not supported',
              'fallocate: fallocate failed: Unknown error 524',
              # The message is translated: nothing is read from it.
              'fallocate: fallocate a échoué: Opération non supportée',
              'fallocate: fallocate fehlgeschlagen: Die Operation wird '
              'nicht unterstützt',
              '', None)
    def test_create_thick_fallocate_unsupported(self, stderr):
        def execute(*cmd, **kwargs):
            if cmd[0] == 'fallocate':
                raise putils.ProcessExecutionError(stderr=stderr)
            return '', ''
        self._execute.side_effect = execute
        path = self._path('vol')
        self.driver._create_regular_file(path, 1)
        self.assertEqual(
            [mock.call('fallocate', '-l', '1M', path, run_as_root=True),
             mock.call('dd', 'if=/dev/zero', 'of=%s' % path, 'bs=1M',
                       'count=1024', run_as_root=True)],
            self._execute.call_args_list)
        # Zeros could be written where fallocate failed: the share cannot
        # preallocate, and is not asked again; another share is.
        self._execute.reset_mock()
        path = self._path('vol2')
        self.driver._create_regular_file(path, 1)
        self.assertEqual(['dd'], [c.args[0] for c in
                                  self._execute.call_args_list])
        self._execute.reset_mock()
        path = self._path('vol', self.mnt2)
        self.driver._create_regular_file(path, 1)
        self.assertEqual(['fallocate', 'dd'], [
            c.args[0] for c in self._execute.call_args_list])

    def test_create_thick_nothing_writable(self):
        # fallocate fails, and so does writing zeros: the share may well
        # preallocate once it has room again, so it is asked next time.
        error = putils.ProcessExecutionError(stderr='No space left')
        self._execute.side_effect = error
        path = self._path('vol')
        for _attempt in range(2):
            self.assertRaises(putils.ProcessExecutionError,
                              self.driver._create_regular_file, path, 1)
        self.assertEqual(['fallocate', 'dd'] * 2,
                         [c.args[0] for c in self._execute.call_args_list])

    @ddt.data('fallocate: fallocate failed: No space left on device',
              'fallocate: fallocate failed: Input/output error',
              'fallocate: fallocate failed: Disk quota exceeded',
              '', None)
    def test_create_thick_fallocate_error_reraised(self, stderr):
        # Once a share is known to preallocate, a failed fallocate is an
        # error, never a reason to write zeros.
        self.driver._create_regular_file(self._path('first'), 1)
        volume = self._volume(extra_specs={'provisioning:type': 'thick'},
                              provider_location=None)
        path = self._path(volume.name)

        def execute(*cmd, **kwargs):
            if cmd[0] == 'fallocate':
                # A partial file is left behind by the failed command.
                self._touch(volume.name)
                raise putils.ProcessExecutionError(stderr=stderr)
            return self._execute_side_effect(*cmd, **kwargs)
        self._execute.side_effect = execute
        self.mock_object(self.driver, '_ensure_shares_mounted')
        self.mock_object(self.driver, '_find_share', return_value=SHARE)
        self.assertRaises(putils.ProcessExecutionError,
                          self.driver.create_volume, volume)
        self.assertEqual([], self._commands('dd'))
        self._execute.assert_called_with('rm', '-f', '--', path,
                                         run_as_root=True)
        self.assertFalse(os.path.lexists(path))
        objects.Volume.save.assert_not_called()

    @ddt.data(
        # extra specs, sparsed option, qcow2 option, multiattach,
        # command, format
        ({}, True, True, False, 'qemu-img', 'qcow2'),
        ({}, True, False, False, 'truncate', 'raw'),
        ({}, False, True, False, 'fallocate', 'raw'),
        ({}, False, False, False, 'fallocate', 'raw'),
        (None, True, True, False, 'qemu-img', 'qcow2'),
        ({'other': 'spec'}, False, True, False, 'fallocate', 'raw'),
        ({'provisioning:type': 'thin'}, False, True, False, 'qemu-img',
         'qcow2'),
        ({'provisioning:type': 'thin'}, True, False, False, 'truncate',
         'raw'),
        ({'provisioning:type': 'thick'}, True, True, False, 'fallocate',
         'raw'),
        ({}, True, True, True, 'truncate', 'raw'),
        ({'provisioning:type': 'thin'}, True, True, True, 'truncate', 'raw'),
        ({'provisioning:type': 'thick'}, True, True, True, 'fallocate',
         'raw'),
    )
    @ddt.unpack
    def test_create_volume_format(self, specs, sparsed, qcow2, multiattach,
                                  command, volume_format):
        self.override_config('lustre_sparsed_volumes', sparsed)
        self.override_config('lustre_qcow2_volumes', qcow2)
        volume = self._volume(extra_specs=specs, multiattach=multiattach,
                              provider_location=None, size=2)
        path = self._create(volume)
        first = self._execute.call_args_list[0]
        self.assertEqual(command, first.args[0])
        self.assertIn(path, first.args)
        self.assertEqual(volume_format, volume.admin_metadata['format'])
        if command == 'truncate':
            self.assertEqual(mock.call('truncate', '-s', '2G', path,
                                       run_as_root=True), first)

    @ddt.data(
        # The rows of _new_file_format's table, in its order: the volume's
        # type, qcow2 option, sparsed option, backup view, encrypted,
        # multiattach; the format of a created file, of a copied one.
        ({'provisioning:type': 'thin'}, True, True, True, False, False,
         'raw', 'raw'),
        ({'provisioning:type': 'thin'}, True, True, True, True, False,
         'raw', 'raw'),
        ({'provisioning:type': 'thin'}, True, True, False, True, False,
         'qcow2', 'raw'),
        ({'provisioning:type': 'thick'}, True, True, False, True, False,
         'qcow2', 'raw'),
        ({'provisioning:type': 'thin'}, True, True, False, False, True,
         'raw', 'raw'),
        (None, True, True, False, False, True, 'raw', 'raw'),
        ({'provisioning:type': 'thin'}, True, True, False, False, False,
         'qcow2', 'qcow2'),
        (None, True, True, False, False, False, 'qcow2', 'qcow2'),
        ({}, True, True, False, False, False, 'qcow2', 'qcow2'),
        ({'provisioning:type': 'thin'}, True, False, False, False, False,
         'qcow2', 'qcow2'),
        # Anything else: raw.
        ({'provisioning:type': 'thin'}, False, True, False, False, False,
         'raw', 'raw'),
        ({'provisioning:type': 'thick'}, True, True, False, False, False,
         'raw', 'raw'),
        (None, True, False, False, False, False, 'raw', 'raw'),
    )
    @ddt.unpack
    def test_file_format(self, specs, qcow2, sparsed, backup_view,
                         encrypted, multiattach, created, copied):
        self.override_config('lustre_qcow2_volumes', qcow2)
        self.override_config('lustre_sparsed_volumes', sparsed)
        volume = self._volume(
            extra_specs=specs, multiattach=multiattach,
            encryption_key_id=fake.ENCRYPTION_KEY_ID if encrypted else None)
        if backup_view:
            self._make_backup_view(volume)
        self.assertEqual(created, self.driver._new_file_format(volume))
        self.assertEqual(copied,
                         self.driver._new_file_format(volume, copied=True))

    def test_file_format_is_the_volume_own(self):
        # A volume's format follows its own type and flags only: a clone
        # or a copy never inherits its source's (findings 3 and 4). The
        # decision reads nothing but the volume it is given.
        thick = self._volume(extra_specs={'provisioning:type': 'thick'})
        thin = self._volume(id=fake.VOLUME2_ID,
                            extra_specs={'provisioning:type': 'thin'})
        shared = self._volume(id=fake.VOLUME3_ID,
                              extra_specs={'provisioning:type': 'thin'},
                              multiattach=True)
        self.assertEqual(['raw', 'qcow2', 'raw'],
                         [self.driver._new_file_format(v, copied=True)
                          for v in (thick, thin, shared)])
        self._execute.assert_not_called()

    @ddt.data(('raw', {'provisioning:type': 'thin'}),
              ('qcow2', {'provisioning:type': 'thick'}),
              ('qcow2', {'provisioning:type': 'thin'}),
              ('raw', {'provisioning:type': 'thick'}))
    @ddt.unpack
    def test_generic_migration_copies_what_a_guest_sees(self, source_format,
                                                        target_specs):
        # Cinder's generic migration creates the target, attaches both
        # volumes and copies the source's file into the target's up to the
        # volume's size (dd iflag=count_bytes). A qcow2 file copied so read
        # as the target's format, and lost its tail (metadata
        # preallocation makes it longer than the volume): the source is
        # made one raw file when attached for the copy, the target is raw.
        source = self._volume(
            volume_format=source_format, provider_location=SHARE2,
            status='maintenance', migration_status='migrating')
        path = self._path(source.name, self.mnt2)
        _run('qemu-img', 'create', '-f', source_format, '-o',
             'preallocation=metadata' if source_format == 'qcow2' else
             'preallocation=off', path, '1G')
        chain = [(path, source_format)]
        offsets = [0, units.Gi - CHUNK]
        for pattern, offset in zip((0x61, 0x62), offsets):
            self._guest_write(chain, pattern, offset)
        target = self._volume(
            id=fake.VOLUME2_ID, extra_specs=target_specs,
            provider_location=None, migration_status='target:' + source.id)
        target_path = self._create(target)
        self.assertEqual('raw', target.admin_metadata['format'])
        self.mock_object(self.driver, '_ensure_share_mounted')

        data = self.driver.initialize_connection(source, {})['data']

        self.assertEqual(('raw', source.name), (data['format'], data['name']))
        self.assertEqual('raw', self.driver._recorded_format(source))
        with open(self._path(data['name'], self.mnt2), 'rb') as src, \
                open(target_path, 'r+b') as dst:
            shutil.copyfileobj(io.BytesIO(src.read(source.size * units.Gi)),
                               dst)
        self.assertEqual([(CHUNK, [0x61]), (CHUNK, [0x62])],
                         [self._summary(read) for read in self._guest_read(
                             [(target_path, 'raw')], offsets)])

    def test_migration_source_attached_is_left_to_nova(self):
        # An attached volume is migrated by Nova, which copies what its
        # guest sees: the source's file stays as it is.
        source = self._volume(volume_format='qcow2',
                              migration_status='migrating')
        self._chain_files(source, base_fmt='qcow2')
        self._attach(source)
        self.assertEqual(
            'qcow2',
            self.driver.initialize_connection(source, {})['data']['format'])

    @ddt.data(({'format': 'raw'}, 'raw'), ({'format': 'qcow2'}, 'qcow2'),
              ({'format': 'qcow2', 'base_format': 'raw'}, 'raw'),
              ({'format': 'raw', 'base_format': 'qcow2'}, 'qcow2'),
              ({}, None), ({'format': 'vmdk'}, None),
              ({'format': 'qcow2', 'base_format': 'luks'}, None))
    @ddt.unpack
    def test_recorded_format(self, metadata, fmt):
        # The base file's format: as Cinder recorded it, never guessed.
        volume = self._volume()
        volume.admin_metadata = metadata
        if fmt:
            self.assertEqual(fmt, self.driver._recorded_format(volume))
        else:
            self.assertRaises(lustre_images.UnsafeImage,
                              self.driver._recorded_format, volume)

    @ddt.data('thinn', 'THICK', '', 'dedup', 'thin ')
    def test_create_volume_invalid_provisioning_type(self, prov):
        volume = self._volume(extra_specs={'provisioning:type': prov},
                              provider_location=None)
        self.mock_object(self.driver, '_ensure_shares_mounted')
        self.mock_object(self.driver, '_find_share', return_value=SHARE)
        exc = self.assertRaises(exception.InvalidVolumeType,
                                self.driver.create_volume, volume)
        self.assertIn('provisioning:type', str(exc))
        self.assertEqual([], self._commands('qemu-img') +
                         self._commands('truncate') +
                         self._commands('fallocate'))
        objects.Volume.save.assert_not_called()

    def test_create_volume_never_overwrites(self):
        volume = self._volume(provider_location=None)
        path = self._touch(volume.name, 'precious')
        self.mock_object(self.driver, '_ensure_shares_mounted')
        self.mock_object(self.driver, '_find_share', return_value=SHARE)
        exc = self.assertRaises(lustre_client.LustreException,
                                self.driver.create_volume, volume)
        self.assertIn('already exists', str(exc))
        self._execute.assert_not_called()
        with open(path) as f:
            self.assertEqual('precious', f.read())

    def test_create_volume_never_overwrites_symlink(self):
        volume = self._volume(provider_location=None)
        os.symlink('/nonexistent', self._path(volume.name))
        self.mock_object(self.driver, '_ensure_shares_mounted')
        self.mock_object(self.driver, '_find_share', return_value=SHARE)
        self.assertRaises(lustre_client.LustreException,
                          self.driver.create_volume, volume)
        self._execute.assert_not_called()
        self.assertTrue(os.path.islink(self._path(volume.name)))

    def test_create_volume_should_ensure_lustre_mounted(self):
        manager = mock.Mock()
        self.mock_object(self.driver, '_ensure_shares_mounted',
                         manager.ensure)
        self.mock_object(self.driver, '_find_share', manager.find)
        manager.find.return_value = SHARE2
        self.mock_object(self.driver, '_do_create_volume', manager.create)
        volume = self._volume(provider_location=None)
        self.assertEqual({'provider_location': SHARE2},
                         self.driver.create_volume(volume))
        self.assertEqual([mock.call.ensure(), mock.call.find(volume),
                          mock.call.create(volume)], manager.mock_calls)

    def test_create_volume_mounts_the_shares(self):
        mounted = self._mounted_after_mount()
        self._capacity(50, 100)
        volume = self._volume(provider_location=None, host=HOST)
        self.driver.create_volume(volume)
        self.assertEqual({self.mnt, self.mnt2}, mounted)
        self.assertIn(volume.provider_location, (SHARE, SHARE2))

    def test_create_encrypted_volume(self):
        volume = self._volume(encryption_key_id=fake.ENCRYPTION_KEY_ID,
                              provider_location=None, size=2)
        encryption = {'cipher': 'aes-xts-plain64', 'key_size': 256,
                      'provider': 'luks'}
        self._key_manager()
        mock_check = self.mock_object(volume_utils,
                                      'check_encryption_provider',
                                      return_value=encryption)
        path = self._create(volume)
        mock_check.assert_called_once_with(volume, volume.obj_context)
        self.assertEqual('qcow2', volume.admin_metadata['format'])
        self.assertEqual(['create'], self._qemu_img())
        self.assertIn('encrypt.format=luks,encrypt.key-secret=sec0,'
                      'encrypt.cipher-alg=aes-256,encrypt.cipher-mode=xts,'
                      'encrypt.ivgen-alg=plain64',
                      self._commands('qemu-img')[0].args)
        self.assertEqual(mock.call('chmod', 'ugo+rw', path,
                                   run_as_root=True),
                         self._execute.call_args)
        # A guest reads zeros through the volume's key.
        self.assertEqual([(CHUNK, [0])], [
            self._summary(data) for data in self._guest_read(
                [(path, 'qcow2')], [0], encrypted=True)])

    @ddt.data(('true', '660'), ('false', 'ugo+rw'))
    @ddt.unpack
    def test_create_volume_permissions(self, secure, mode):
        self.override_config('nas_secure_file_permissions', secure)
        volume = self._volume(provider_location=None)
        path = self._create(volume)
        self._execute.assert_called_with('chmod', mode, path,
                                         run_as_root=True)

    def test_create_volume_secure_operations_not_as_root(self):
        self.driver._execute_as_root = False
        volume = self._volume(provider_location=None)
        self._create(volume)
        for call in self._execute.call_args_list:
            self.assertFalse(call.kwargs['run_as_root'])

    @ddt.data(
        ({'lustre:stripe_count': '4'}, ['-c', '4']),
        ({'lustre:stripe_count': '-1', 'lustre:stripe_size': '4M'},
         ['-c', '-1', '-S', '4096K']),
        ({'lustre:ost_pool': 'flash'}, ['-p', 'flash']),
        ({'lustre:layout': '64M:1,-1:4', 'lustre:ost_pool': 'ssd'},
         ['-E', '65536K', '-c', '1', '-p', 'ssd',
          '-E', '-1', '-c', '4', '-p', 'ssd']),
    )
    @ddt.unpack
    def test_create_volume_with_layout(self, specs, args):
        volume = self._volume(extra_specs=specs, provider_location=None)
        path = self._create(volume)
        calls = self._execute.call_args_list
        setstripe = mock.call('lfs', 'setstripe', *args, '--', path,
                              run_as_root=True)
        self.assertEqual([setstripe], self._commands('lfs')[-1:])
        # The file is created with its layout before anything writes it.
        self.assertEqual('qemu-img',
                         calls[calls.index(setstripe) + 1].args[0])

    @ddt.data({'lustre:stripe_count': '0'},
              {'lustre:stripe_count': '2001'},
              {'lustre:stripe_size': '100K'},
              {'lustre:ost_pool': 'bad pool'},
              {'lustre:layout': '1G:1'},
              {'lustre:layout': '1M:1:4M,-1:1'},
              {'lustre:layout': '512K:1,-1:1'},
              {'lustre:stripes': '2'},
              {'lustre:layout': '-1:1', 'lustre:stripe_count': '2'})
    def test_create_volume_with_bad_layout(self, specs):
        volume = self._volume(extra_specs=specs, provider_location=None)
        self.mock_object(self.driver, '_ensure_shares_mounted')
        self.mock_object(self.driver, '_find_share', return_value=SHARE)
        self.assertRaises(exception.InvalidVolumeType,
                          self.driver.create_volume, volume)
        self._execute.assert_not_called()

    @ddt.data({'lustre:ost_pool': 'nosuch'},
              {'lustre:layout': '64M:1,-1:4', 'lustre:ost_pool': 'nosuch'})
    def test_create_volume_unknown_ost_pool_refused(self, specs):
        # lfs setstripe 2.15 (plain) and before 2.16 (PFL) accept an
        # unknown pool and put the file's objects on any OST.
        volume = self._volume(extra_specs=specs, provider_location=None)
        self.mock_object(self.driver, '_ensure_shares_mounted')
        self.mock_object(self.driver, '_find_share', return_value=SHARE)
        exc = self.assertRaises(lustre_client.LustreException,
                                self.driver.create_volume, volume)
        self.assertIn('nosuch', str(exc))
        self.assertEqual([mock.call('lfs', 'pool_list', self.mnt)],
                         self._execute.call_args_list)
        self.assertFalse(os.path.lexists(self._path(volume.name)))

    # ------------------------------------------------------------------
    # Delete and the .info file
    # ------------------------------------------------------------------

    def _volume_with_snapshots(self):
        volume = self._volume()
        snap1 = '%s.%s' % (volume.name, fake.SNAPSHOT_ID)
        snap2 = '%s.%s' % (volume.name, fake.SNAPSHOT2_ID)
        for name in (volume.name, snap1, snap2):
            self._touch(name)
        self._write_info(volume, {'active': snap2, fake.SNAPSHOT_ID: snap1,
                                  fake.SNAPSHOT2_ID: snap2})
        return volume

    def test_delete_volume(self):
        volume = self._volume_with_snapshots()
        # Files that are not the volume's own.
        others = ['volume-%s' % fake.VOLUME2_ID,
                  'volume-%s.info' % fake.VOLUME2_ID,
                  '%s.tmp-snap-%s' % (volume.name, fake.SNAPSHOT_ID),
                  'unrelated.img']
        for name in others:
            self._touch(name)
        mock_mount = self.mock_object(self.driver, '_ensure_share_mounted')
        self.driver.delete_volume(volume)
        mock_mount.assert_called_once_with(SHARE)
        self.assertEqual(sorted(others), sorted(os.listdir(self.mnt)))
        self.assertEqual(4, len(self._commands('rm')))
        for call in self._commands('rm'):
            self.assertEqual(('rm', '-f', '--'), call.args[:3])

    def test_delete_volume_without_snapshots(self):
        volume = self._volume()
        self._touch(volume.name)
        self._touch('volume-%s' % fake.VOLUME2_ID)
        self.mock_object(self.driver, '_ensure_share_mounted')
        self.driver.delete_volume(volume)
        self.assertEqual(['volume-%s' % fake.VOLUME2_ID],
                         os.listdir(self.mnt))
        self._execute.assert_called_once_with(
            'rm', '-f', '--', self._path(volume.name), run_as_root=True)

    def test_delete_volume_missing_files(self):
        # Nothing to delete is fine: no file is named that is not there.
        volume = self._volume()
        self.mock_object(self.driver, '_ensure_share_mounted')
        self.driver.delete_volume(volume)
        self._execute.assert_not_called()

    def test_delete_volume_base_merged_away(self):
        # Nova pulled the base into the active overlay: only the files
        # there are deleted, and lfs project is not given a missing one.
        volume = self._volume()
        overlay = '%s.%s' % (volume.name, fake.SNAPSHOT_ID)
        self._touch(overlay)
        info_path = self._write_info(volume, {'active': overlay})
        self.mock_object(self.driver, '_ensure_share_mounted')
        self.assertEqual([self._path(overlay), info_path],
                         self.driver._volume_files(volume))
        self.driver.delete_volume(volume)
        self.assertEqual([], os.listdir(self.mnt))
        self.assertEqual(2, len(self._commands('rm')))

    def test_delete_volume_unnamed_bottom_of_chain(self):
        # Nova pulled the base into the oldest overlay, and a snapshot was
        # taken since: that overlay is the bottom of the chain, named by no
        # .info entry, and still the volume's own file.
        volume = self._volume()
        bottom = '%s.%s' % (volume.name, fake.SNAPSHOT_ID)
        top = '%s.%s' % (volume.name, fake.SNAPSHOT2_ID)
        self._image(bottom, 'qcow2')
        self._image(top, 'qcow2', 1, bottom, 'qcow2')
        self._write_info(volume, {'active': top, fake.SNAPSHOT2_ID: top})
        volume.admin_metadata = {'format': 'qcow2', 'base_format': 'qcow2'}
        others = self._touch('volume-%s' % fake.VOLUME2_ID)
        self.mock_object(self.driver, '_ensure_share_mounted')
        self.driver.delete_volume(volume)
        self.assertEqual([os.path.basename(others)], os.listdir(self.mnt))

    def test_delete_volume_forged_chain_deletes_only_named_files(self):
        # The active overlay names another volume's file as its backing:
        # only the files the .info file names are deleted.
        volume = self._volume()
        info = self._chain_files(volume, [fake.SNAPSHOT_ID],
                                 guest_data=False)
        other = self._touch('volume-%s' % fake.VOLUME2_ID)
        _run('qemu-img', 'rebase', '-u', '-f', 'qcow2', '-b',
             os.path.basename(other), '-F', 'raw',
             self._path(info['active']))
        self.mock_object(self.driver, '_ensure_share_mounted')
        mock_warn = self.mock_object(lustre.LOG, 'warning')
        self.driver.delete_volume(volume)
        self.assertEqual([os.path.basename(other)], os.listdir(self.mnt))
        mock_warn.assert_called_once()

    @ddt.data(None, '')
    def test_delete_volume_without_provider_location(self, location):
        volume = self._volume(provider_location=location)
        mock_mount = self.mock_object(self.driver, '_ensure_share_mounted')
        self.driver.delete_volume(volume)
        mock_mount.assert_not_called()
        self._execute.assert_not_called()

    @ddt.data(
        '{"active": "../%(vol)s"}',
        '{"active": "%(vol)s", "%(snap)s": "sub/%(vol)s.x"}',
        '{"active": "%(vol)s", "%(snap)s": "%(vol)s/%(snap)s"}',
        '{"active": "/etc/passwd"}',
        '{"active": "volume-%(other)s"}',
        '{"active": "%(vol)s", "%(snap)s": "volume-%(other)s.%(snap)s"}',
        '{"active": "%(vol)s.info"}',
        '{"active": "%(vol)s", "%(snap)s": "%(vol)s.x.info"}',
        '{"active": "%(vol)sX"}',
        '{"active": ""}',
        '{"active": 5}',
        '{"active": null}',
        '{"active": ["%(vol)s"]}',
        '{"%(snap)s": "%(vol)s.%(snap)s"}',
        '["%(vol)s"]',
        '"%(vol)s"',
        'not json',
        '{"active": "%(vol)s"',
        '{}',
        '[]',
        'null',
        '""',
        '0',
    )
    def test_delete_volume_corrupt_info(self, content):
        volume = self._volume()
        other = 'volume-%s' % fake.VOLUME2_ID
        names = sorted([volume.name, other, other + '.' + fake.SNAPSHOT_ID,
                        volume.name + '.info', volume.name + '.x.info',
                        volume.name + 'X'])
        for name in names:
            self._touch(name)
        self._write_info(volume, content % {'vol': volume.name,
                                            'snap': fake.SNAPSHOT_ID,
                                            'other': fake.VOLUME2_ID})
        self.mock_object(self.driver, '_ensure_share_mounted')
        self.assertRaises(exception.RemoteFSException,
                          self.driver.delete_volume, volume)
        self._execute.assert_not_called()
        self.assertEqual(names, sorted(os.listdir(self.mnt)))

    def test_read_info_file(self):
        volume = self._volume()
        snap = '%s.%s' % (volume.name, fake.SNAPSHOT_ID)
        info = {'active': snap, fake.SNAPSHOT_ID: snap}
        path = self._write_info(volume, info)
        self.assertEqual(info, self.driver._read_info_file(path))
        self.assertEqual(snap, self.driver.get_active_image_from_info(volume))
        self.assertEqual(self._path(snap),
                         self.driver._local_path_active_image(volume))

    def test_read_info_file_missing(self):
        volume = self._volume()
        path = self._path(volume.name + '.info')
        self.assertEqual({}, self.driver._read_info_file(
            path, empty_if_missing=True))
        exc = self.assertRaises(exception.RemoteFSException,
                                self.driver._read_info_file, path)
        self.assertIn('does not exist', str(exc))
        self.assertEqual(volume.name,
                         self.driver.get_active_image_from_info(volume))

    def test_write_info_file(self):
        volume = self._volume()
        path = self._write_info(volume, {'active': volume.name})
        snap = '%s.%s' % (volume.name, fake.SNAPSHOT_ID)
        info = {'active': snap, fake.SNAPSHOT_ID: snap}
        self.driver._write_info_file(path, info)
        self.assertEqual(info, self._read_info(volume))
        # Nothing but the .info file: no temporary file left over.
        self.assertEqual([volume.name + '.info'], os.listdir(self.mnt))
        chmod = self._commands('chmod')
        self.assertEqual(1, len(chmod))
        self.assertEqual('ugo+rw', chmod[0].args[1])
        tmp_path = chmod[0].args[2]
        self.assertTrue(tmp_path.startswith(path + '.'))
        self.assertTrue(tmp_path.endswith('.tmp'))
        self.assertEqual(self.mnt, os.path.dirname(tmp_path))

    def test_write_info_file_new(self):
        volume = self._volume()
        path = self._path(volume.name + '.info')
        self.driver._write_info_file(path, {'active': volume.name})
        self.assertEqual({'active': volume.name}, self._read_info(volume))
        self.assertEqual([volume.name + '.info'], os.listdir(self.mnt))

    def test_write_info_file_without_active(self):
        volume = self._volume()
        path = self._path(volume.name + '.info')
        self.assertRaises(exception.RemoteFSException,
                          self.driver._write_info_file, path,
                          {fake.SNAPSHOT_ID: volume.name})
        self.assertEqual([], os.listdir(self.mnt))

    @ddt.data('replace', 'fsync')
    def test_write_info_file_failure_keeps_old_file(self, failing):
        volume = self._volume()
        old = {'active': volume.name}
        path = self._write_info(volume, old)
        self.mock_object(lustre.os, failing,
                         side_effect=OSError(errno.EIO, 'I/O error'))
        self.assertRaises(OSError, self.driver._write_info_file, path,
                          {'active': volume.name + '.x'})
        self.assertEqual(old, self._read_info(volume))
        self.assertEqual([volume.name + '.info'], os.listdir(self.mnt))

    def test_write_info_file_failure_after_replace(self):
        volume = self._volume()
        path = self._write_info(volume, {'active': volume.name})
        real_replace = os.replace

        def replace(src, dst):
            real_replace(src, dst)
            raise OSError(errno.EIO, 'I/O error')
        self.mock_object(lustre.os, 'replace', side_effect=replace)
        self.assertRaises(OSError, self.driver._write_info_file, path,
                          {'active': volume.name + '.x'})
        self.assertEqual({'active': volume.name + '.x'},
                         self._read_info(volume))
        self.assertEqual([volume.name + '.info'], os.listdir(self.mnt))

    def test_write_info_file_unserializable(self):
        volume = self._volume()
        path = self._path(volume.name + '.info')
        self.assertRaises(TypeError, self.driver._write_info_file, path,
                          {'active': object()})
        self.assertEqual([], os.listdir(self.mnt))

    def test_write_info_file_directory_not_writable(self):
        # Root does not get permission errors: mock os.access.
        real_access = os.access
        self.mock_object(
            lustre.os, 'access',
            side_effect=lambda p, m: (False if p == self.mnt
                                      else real_access(p, m)))
        volume = self._volume()
        path = self._path(volume.name + '.info')
        self.driver._write_info_file(path, {'active': volume.name})
        self.assertEqual({'active': volume.name}, self._read_info(volume))
        self._execute.assert_any_call('truncate', '-s0', path,
                                      run_as_root=True)
        self._execute.assert_any_call('chmod', 'ugo+rw', path,
                                      run_as_root=True)

    # ------------------------------------------------------------------
    # Attach
    # ------------------------------------------------------------------

    @ddt.data(('raw', SHARE, None), ('qcow2', SHARE, None),
              ('raw', SHARE2, SHARE2_OPTS), ('qcow2', SHARE2, SHARE2_OPTS))
    @ddt.unpack
    def test_initialize_connection_formats(self, volume_format, share,
                                           options):
        volume = self._volume(provider_location=share, size=2)
        self._chain_files(volume, base_fmt=volume_format, guest_data=False)
        expected_data = {'export': share, 'name': volume.name,
                         'format': volume_format}
        if options:
            # As os-brick's mount wants them: the flags, not bare options.
            expected_data['options'] = '-o ' + options
        self.assertEqual(
            {'driver_volume_type': 'lustre', 'data': expected_data,
             'mount_point_base': self.driver.base},
            self.driver.initialize_connection(volume, {}))
        # The format is the recorded one; a qcow2 header is read without
        # following links (a raw file's size is its virtual size).
        self.assertEqual({'dd'} if volume_format == 'qcow2' else set(),
                         {c.args[0] for c in self._execute.call_args_list})
        self.qemu_img_info.assert_not_called()

    def test_initialize_connection_options_mount_with_os_brick(self):
        # The two sides of the interface against each other: the data the
        # driver returns, given to os-brick's remotefs connector (with the
        # Lustre mount client), mounts with the share's options.
        volume = self._volume(provider_location=SHARE2)
        self._chain_files(volume, guest_data=False)
        data = self.driver.initialize_connection(volume, {})['data']
        execute = mock.Mock(return_value=('', ''))
        connector = brick_remotefs.RemoteFsConnector(
            'nfs', 'sudo', execute=execute,
            conn={'mount_point_base': self.driver.base})
        connector._remotefsclient = lustre_client.make_remotefs_client(
            'sudo', execute, self.driver.base, None)
        path = connector.connect_volume(data)['path']
        self.assertEqual(self.driver.local_path(volume), path)
        execute.assert_any_call('mount', '-t', 'lustre', '-o', SHARE2_OPTS,
                                SHARE2, self.mnt2, root_helper='sudo',
                                run_as_root=True, check_exit_code=0)

    def test_initialize_connection(self):
        volume = self._volume(size=2)
        info = self._chain_files(volume, [fake.SNAPSHOT_ID])
        snap = info['active']
        header = self.mock_object(lustre_images.ImageReader, 'header',
                                  autospec=True,
                                  side_effect=lustre_images.ImageReader.header)
        conn = self.driver.initialize_connection(volume, {})
        # Each image of the chain is read once.
        self.assertEqual(2, header.call_count)
        self.assertEqual({'export': SHARE, 'name': snap, 'format': 'qcow2'},
                         conn['data'])
        self.assertEqual('lustre', conn['driver_volume_type'])
        self.assertEqual(self.driver.base, conn['mount_point_base'])
        # Under the volume's lock: a clone of it is copied in one piece.
        coordination.Coordinator.get_lock.assert_called_with(
            'lustre-%s' % volume.id)
        # A size beyond the volume's is refused.
        _run('qemu-img', 'resize', '-f', 'qcow2', self._path(snap),
             str(2 * units.Gi + 512))
        exc = self.assertRaises(exception.InvalidVolume,
                                self.driver.initialize_connection, volume, {})
        self.assertIn('virtual size', str(exc))
        # And so is an active image that is not qcow2 (a raw file with a
        # guest's bytes in place of the overlay).
        os.unlink(self._path(snap))
        self._image(snap, 'raw', 2)
        exc = self.assertRaises(lustre_images.UnsafeImage,
                                self.driver.initialize_connection, volume, {})
        self.assertIn('not a qcow2 image', str(exc))

    @ddt.data('vmdk', 'vpc', 'vhdx', 'qed')
    def test_initialize_connection_refuses_format(self, image_format):
        # An overlay replaced by an image of another format, which qemu
        # would follow to its own references, is refused: it is read as
        # the qcow2 it must be.
        volume = self._volume()
        info = self._chain_files(volume, [fake.SNAPSHOT_ID])
        os.unlink(self._path(info['active']))
        _run('qemu-img', 'create', '-f', image_format,
             self._path(info['active']), '1G')
        exc = self.assertRaises(lustre_images.UnsafeImage,
                                self.driver.initialize_connection, volume,
                                {})
        self.assertIn('not a qcow2 image', str(exc))

    @ddt.data('vmdk', 'luks', 'iso', '')
    def test_initialize_connection_refuses_recorded_format(self,
                                                           image_format):
        volume = self._volume()
        self._chain_files(volume, guest_data=False)
        volume.admin_metadata = {'format': image_format}
        exc = self.assertRaises(lustre_images.UnsafeImage,
                                self.driver.initialize_connection, volume,
                                {})
        self.assertIn('not recorded', str(exc))
        self._execute.assert_not_called()

    @ddt.data(('raw', 1, units.Gi + 1), ('raw', 1, 2 * units.Gi),
              ('raw', 2, 3 * units.Gi), ('raw', 1, 1024 * units.Gi),
              ('qcow2', 1, units.Gi + 512), ('qcow2', 2, 3 * units.Gi))
    @ddt.unpack
    def test_initialize_connection_refuses_virtual_size(self, fmt, size,
                                                        vsize):
        volume = self._volume(size=size, volume_format=fmt)
        path = self._image(volume.name, fmt, 1)
        _run('qemu-img', 'resize', '-f', fmt, path, str(vsize))
        self.assertRaises(exception.InvalidVolume,
                          self.driver.initialize_connection, volume, {})

    @ddt.data(('raw', 1, units.Gi), ('raw', 2, units.Gi),
              ('raw', 2, 2 * units.Gi - 512), ('qcow2', 2, units.Gi),
              ('qcow2', 1, units.Gi))
    @ddt.unpack
    def test_initialize_connection_accepts_virtual_size(self, fmt, size,
                                                        vsize):
        volume = self._volume(size=size, volume_format=fmt)
        path = self._image(volume.name, fmt, 1)
        _run('qemu-img', 'resize', '-f', fmt, '--shrink', path, str(vsize))
        self.assertEqual(
            fmt,
            self.driver.initialize_connection(volume, {})['data']['format'])

    def test_initialize_connection_no_format_metadata(self):
        # A volume whose format Cinder did not record is not guessed from
        # its file, which the guest writes.
        volume = self._volume()
        self._image(volume.name, 'qcow2')
        exc = self.assertRaises(lustre_images.UnsafeImage,
                                self.driver.initialize_connection, volume, {})
        self.assertIn('not recorded', str(exc))
        self._execute.assert_not_called()
        self.qemu_img_info.assert_not_called()

    @ddt.data('/etc/shadow', '../other/volume-x', 'sub/volume-x',
              'volume-%s' % fake.VOLUME2_ID)
    def test_initialize_connection_forged_backing_file(self, backing):
        # The active overlay names a backing file that is not the
        # volume's: refused before anything opens it.
        volume = self._volume()
        info = self._chain_files(volume, [fake.SNAPSHOT_ID])
        _run('qemu-img', 'rebase', '-u', '-f', 'qcow2', '-b', backing,
             *(['-F', 'raw'] if backing else []), self._path(info['active']))
        self.assertRaises(lustre_images.UnsafeImage,
                          self.driver.initialize_connection, volume, {})
        self.assertEqual(['dd'], [c.args[0]
                                  for c in self._execute.call_args_list])

    def test_initialize_connection_chain_loop(self):
        volume = self._volume()
        info = self._chain_files(volume, [fake.SNAPSHOT_ID,
                                          fake.SNAPSHOT2_ID])
        snap1 = info[fake.SNAPSHOT_ID]
        _run('qemu-img', 'rebase', '-u', '-f', 'qcow2', '-b', info['active'],
             '-F', 'qcow2', self._path(snap1))
        exc = self.assertRaises(lustre_images.UnsafeImage,
                                self.driver.initialize_connection, volume, {})
        self.assertIn('loops', str(exc))

    @ddt.data('symlink', 'fifo', 'hardlink')
    def test_initialize_connection_refuses_non_regular_file(self, kind):
        volume = self._volume()
        self._chain_files(volume, guest_data=False)
        path = self._path(volume.name)
        self._point_at_host_file(path, kind)
        self.assertRaises(lustre_images.UnsafeImage,
                          self.driver.initialize_connection, volume, {})
        self._assert_host_file_unread()

    # ------------------------------------------------------------------
    # Restore target and backups
    # ------------------------------------------------------------------

    def test_initialize_connection_restore_qcow2_made_raw(self):
        volume = self._volume(size=2,
                              status=fields.VolumeStatus.RESTORING_BACKUP)
        self._chain_files(volume, base_fmt='qcow2')
        path = self._path(volume.name)
        conn = self.driver.initialize_connection(volume, {})
        self.assertEqual('raw', conn['data']['format'])
        self.assertEqual(
            [mock.call('rm', '-f', '--', path, run_as_root=True),
             mock.call('truncate', '-s', '2G', path, run_as_root=True),
             mock.call('chmod', 'ugo+rw', path, run_as_root=True)],
            self._execute.call_args_list)
        self.assertEqual('raw', volume.admin_metadata['format'])
        # An empty raw file of the volume's size, for the backup's bytes.
        self.assertEqual(2 * units.Gi, os.path.getsize(path))
        self.assertEqual(b'', self._data_of(path))

    @ddt.data(({'provisioning:type': 'thin'}, [('truncate', '-s', '2G')]),
              ({'provisioning:type': 'thick'}, [('fallocate', '-l', '1M'),
                                                ('fallocate', '-l', '2G')]))
    @ddt.unpack
    def test_initialize_connection_restore_after_online_delete(
            self, specs, commands):
        # Nova deletes the last snapshot of an attached volume by pulling
        # the base into the overlay, which stays active without snapshots.
        volume = self._volume(extra_specs=specs, size=2,
                              status=fields.VolumeStatus.RESTORING_BACKUP)
        overlay = '%s.%s' % (volume.name, fake.SNAPSHOT_ID)
        self._image(overlay, 'qcow2', 2)
        info_path = self._write_info(volume, {'active': overlay})
        volume.admin_metadata = {'format': 'qcow2', 'base_format': 'qcow2'}
        conn = self.driver.initialize_connection(volume, {})
        path = self._path(volume.name)
        self.assertEqual({'export': SHARE, 'name': volume.name,
                          'format': 'raw'}, conn['data'])
        # The base file is gone: only the files there are deleted.
        self.assertEqual(
            [mock.call('rm', '-f', '--', self._path(overlay),
                       run_as_root=True),
             mock.call('rm', '-f', '--', info_path, run_as_root=True)] +
            [mock.call(*command + (path,), run_as_root=True)
             for command in commands] +
            [mock.call('chmod', 'ugo+rw', path, run_as_root=True)],
            [c for c in self._execute.call_args_list if c.args[0] != 'dd'])
        self.assertEqual({'format': 'raw', 'base_format': 'raw'},
                         volume.admin_metadata)
        self.assertEqual([volume.name], os.listdir(self.mnt))

    def test_initialize_connection_restore_keeps_layout(self):
        volume = self._volume(extra_specs={'lustre:stripe_count': '4'},
                              status=fields.VolumeStatus.RESTORING_BACKUP)
        self._chain_files(volume, base_fmt='qcow2', guest_data=False)
        self.driver.initialize_connection(volume, {})
        self.assertEqual(1, len(self._commands('lfs')))
        self.assertIn('-c', self._commands('lfs')[0].args)

    def test_initialize_connection_restore_raw_untouched(self):
        volume = self._volume(status=fields.VolumeStatus.RESTORING_BACKUP)
        self._chain_files(volume)
        self.driver.initialize_connection(volume, {})
        self._execute.assert_not_called()
        objects.Volume.save.assert_not_called()
        self._assert_guest_view([(self._path(volume.name), 'raw')], 1)

    def test_initialize_connection_restore_with_snapshots_refused(self):
        volume = self._volume(status=fields.VolumeStatus.RESTORING_BACKUP)
        self._chain_files(volume, [fake.SNAPSHOT_ID])
        before = sorted(os.listdir(self.mnt))
        exc = self.assertRaises(exception.InvalidVolume,
                                self.driver.initialize_connection, volume,
                                {})
        self.assertIn('snapshots', str(exc))
        self._execute.assert_not_called()
        self.assertEqual(before, sorted(os.listdir(self.mnt)))

    def _backup(self, volume, snapshot_id=None):
        backup = mock.Mock(volume_id=volume.id, snapshot_id=snapshot_id,
                           temp_volume_id=None)
        self.mock_object(objects.Volume, 'get_by_id', return_value=volume)
        return backup

    def test_backup_volume(self):
        # A raw volume without snapshots is handed to cinder-backup as it
        # is: the attached file is the volume's own raw file, whose bytes
        # are the guest's.
        volume = self._volume(size=2)
        self._chain_files(volume)
        backup = self._backup(volume)
        mock_clone = self.mock_object(self.driver,
                                      '_create_temp_cloned_volume')
        device, is_snapshot = self.driver.get_backup_device(self.context,
                                                            backup)
        self.assertIs(volume, device)
        self.assertFalse(is_snapshot)
        mock_clone.assert_not_called()
        self.assertIsNone(backup.temp_volume_id)
        conn = self.driver.initialize_connection(device, {})
        self.assertEqual({'export': SHARE, 'name': volume.name,
                          'format': 'raw'}, conn['data'])
        with open(self._path(conn['data']['name']), 'rb') as f:
            self.assertEqual(bytes([GUEST_BEFORE]) * CHUNK, f.read(CHUNK))

    @ddt.data(('qcow2', False), ('raw', True), ('qcow2', True))
    @ddt.unpack
    def test_backup_volume_from_raw_copy(self, volume_format, snapshots):
        volume = self._volume(volume_format=volume_format)
        if snapshots:
            snap = '%s.%s' % (volume.name, fake.SNAPSHOT_ID)
            self._write_info(volume, {'active': snap, fake.SNAPSHOT_ID: snap})
        backup = self._backup(volume)
        temp = self._volume(id=fake.VOLUME2_ID)
        mock_clone = self.mock_object(self.driver,
                                      '_create_temp_cloned_volume',
                                      return_value=temp)
        self.assertEqual((temp, False),
                         self.driver.get_backup_device(self.context, backup))
        mock_clone.assert_called_once_with(
            self.context, volume, status=fields.VolumeStatus.BACKING_UP)
        self.assertEqual(temp.id, backup.temp_volume_id)
        backup.save.assert_called_once_with()

    def _backup_device(self, volume):
        """The device cinder-backup reads, as the volume manager makes it.

        A temporary volume in the database, cloned by the driver.
        """
        volume.volume_type_id = self.vt['id']
        # As loaded from the database: no unsaved changes.
        volume.obj_reset_changes()
        backup = self._backup(volume)
        self.mock_object(self.driver, '_ensure_share_mounted')
        device = self._temp_backup_device(volume, backup)
        self.assertEqual('raw', device.admin_metadata['format'])
        # cinder-backup attaches it.
        conn = self.driver.initialize_connection(device, {})
        self.assertEqual({'export': SHARE, 'name': device.name,
                          'format': 'raw'}, conn['data'])
        return self.driver.local_path(device)

    @ddt.data(0, 2)
    def test_backup_thin_volume_is_raw_copy_of_guest_data(self, snapshots):
        # A thin (qcow2) volume whose guest wrote a qcow2 header naming a
        # host file as its data file (finding 1b): the backup's raw copy
        # holds the guest's bytes, and the host file is neither read nor
        # grown (nothing resizes the copy guessing its format).
        volume = self._volume()
        info = self._chain_files(volume, [fake.SNAPSHOT_ID,
                                          fake.SNAPSHOT2_ID][:snapshots],
                                 base_fmt='qcow2')
        chain = [(self._path(name), 'qcow2') for name in
                 [info.get(fake.SNAPSHOT2_ID), info.get(fake.SNAPSHOT_ID),
                  volume.name] if name]
        header = self._forged_qcow2(data_file=self.host_file)
        _run('qemu-io', '-c', 'write -s %s 0 %d' % (
            self._write_tmp(header), len(header)), self._json(chain))
        path = self._backup_device(volume)
        self._assert_host_file_unread(path)
        with open(path, 'rb') as f:
            self.assertEqual(header, f.read(len(header)))
        self.assertEqual(units.Gi, os.path.getsize(path))
        # The source is as it was: its chain, its .info file.
        self.assertEqual(info if snapshots else {},
                         self._read_info(volume) if snapshots else {})

    def _encrypted_backup(self):
        """The backup device of an encrypted volume, with a snapshot."""
        self._key_manager()
        volume = self._volume(encryption_key_id=fake.ENCRYPTION_KEY_ID)
        self._chain_files(volume, [fake.SNAPSHOT_ID], base_fmt='qcow2',
                          size=64 * units.Mi)
        return self._backup_device(volume)

    def test_backup_encrypted_volume(self):
        # Finding 6: the backup's copy of an encrypted volume is a LUKS
        # container under the volume's own key (cinder-backup stores
        # encrypted volumes encrypted), of the volume's size.
        path = self._encrypted_backup()
        with open(path, 'rb') as f:
            self.assertEqual(b'LUKS\xba\xbe', f.read(6))
        self._assert_guest_view([(path, 'raw')], 2, encrypted=True)
        self.assertEqual(units.Gi, self._info_of(path, 'luks')[
            'virtual-size'])
        self.assertNotIn(PASSPHRASE.encode(), self._data_of(path))

    def test_restore_encrypted_volume_round_trip(self):
        # The backup's bytes written into a restore target, as
        # cinder-backup writes them, give the guest its data back.
        path = self._encrypted_backup()
        target = self._volume(id=fake.VOLUME3_ID,
                              encryption_key_id=fake.ENCRYPTION_KEY_ID,
                              status=fields.VolumeStatus.RESTORING_BACKUP)
        self._chain_files(target, base_fmt='qcow2', guest_data=False,
                          size=64 * units.Mi)
        conn = self.driver.initialize_connection(target, {})
        self.assertEqual({'export': SHARE, 'name': target.name,
                          'format': 'raw'}, conn['data'])
        _run('cp', '--sparse=always', path, self._path(target.name))
        target.status = 'available'
        self.driver.initialize_connection(target, {})
        self._assert_guest_view([(self._path(target.name), 'raw')], 2,
                                encrypted=True)

    def _write_tmp(self, data):
        path = os.path.join(self.tempdir, 'tmp-data')
        with open(path, 'wb') as f:
            f.write(data)
        return path

    def test_backup_volume_from_snapshot(self):
        volume = self._volume(volume_format='qcow2')
        backup = self._backup(volume, snapshot_id=fake.SNAPSHOT_ID)
        snapshot = self._snapshot(volume)
        self.mock_object(objects.Snapshot, 'get_by_id',
                         return_value=snapshot)
        temp = self._volume(id=fake.VOLUME2_ID)
        mock_temp = self.mock_object(self.driver,
                                     '_create_temp_volume_from_snapshot',
                                     return_value=temp)
        mock_clone = self.mock_object(self.driver,
                                      '_create_temp_cloned_volume')
        self.assertEqual((temp, False),
                         self.driver.get_backup_device(self.context, backup))
        mock_temp.assert_called_once_with(
            self.context, volume, snapshot,
            status=fields.VolumeStatus.BACKING_UP)
        mock_clone.assert_not_called()

    @ddt.data(True, False, None)
    def test_backup_use_temp_snapshot(self, configured):
        self.override_config('backup_use_temp_snapshot', configured)
        self.assertFalse(self.driver.backup_use_temp_snapshot())

    def test_backup_manager_temp_volume_is_raw(self):
        # The volume manager's own temporary volume, as it makes it, is
        # written raw; the thin volume it copies would be qcow2.
        volume = self._volume(extra_specs={'provisioning:type': 'thin'})
        volume.volume_type_id = volume.volume_type.id
        self.mock_object(objects.Volume, 'create')
        temp = self.driver._create_temp_volume(self.context, volume)
        temp.volume_type = volume.volume_type
        self.assertEqual('raw',
                         self.driver._new_file_format(temp, copied=True))
        self.assertEqual('qcow2',
                         self.driver._new_file_format(volume, copied=True))

    @ddt.data(
        # use_quota, display name, a backup view
        (False, 'backup-vol-%s' % fake.VOLUME_ID, True),
        (True, 'backup-vol-%s' % fake.VOLUME_ID, False),
        (False, 'migration-target', False),
        (False, None, False),
        (True, None, False),
    )
    @ddt.unpack
    def test_is_backup_view(self, use_quota, name, view):
        volume = self._volume(id=fake.VOLUME2_ID, use_quota=use_quota,
                              display_name=name)
        self.assertEqual(view, self.driver._is_backup_view(volume))

    # ------------------------------------------------------------------
    # Images
    # ------------------------------------------------------------------

    def _fetch_writes(self, size_gb=1, data_size_gb=None):
        """A fetch_to_volume_format that writes an image of size_gb.

        As image_utils does, in the volume's format into its file, with
        GUEST_BEFORE at 0.
        """
        def fetch(ctxt, service, image_id, dest, fmt, blocksize, **kwargs):
            os.unlink(dest)
            self._image(os.path.basename(dest), fmt, size_gb)
            self._guest_write([(dest, fmt)], GUEST_BEFORE, 0)
        return self.mock_object(image_utils, 'fetch_to_volume_format',
                                side_effect=fetch)

    @ddt.data('qcow2', 'raw')
    def test_copy_image_to_volume(self, volume_format):
        volume = self._volume(size=2)
        self._chain_files(volume, base_fmt=volume_format, guest_data=False)
        mock_fetch = self._fetch_writes(1)
        image_service = mock.Mock()
        self.driver.copy_image_to_volume(self.context, volume, image_service,
                                         fake.IMAGE_ID)
        path = self._path(volume.name)
        mock_fetch.assert_called_once_with(
            self.context, image_service, fake.IMAGE_ID, path, volume_format,
            '1M', size=2, run_as_root=True, disable_sparse=False)
        # The image is grown to the volume's size, in the volume's format.
        self._assert_plain_image(path, volume_format, 2)
        self._assert_guest_view([(path, volume_format)], 1)
        self.assertEqual(['resize'], self._qemu_img())

    def test_copy_image_to_volume_format_not_recorded(self):
        volume = self._volume(size=2)
        self._image(volume.name)
        mock_fetch = self._fetch_writes(1)
        self.assertRaises(lustre_images.UnsafeImage,
                          self.driver.copy_image_to_volume, self.context,
                          volume, mock.Mock(), fake.IMAGE_ID)
        mock_fetch.assert_not_called()

    @ddt.data('symlink', 'fifo', 'hardlink')
    def test_copy_image_to_volume_refuses_a_link(self, kind):
        volume = self._volume(volume_format='raw')
        path = self._path(volume.name)
        self._point_at_host_file(path, kind)
        mock_fetch = self._fetch_writes(1)
        self.assertRaises(lustre_images.UnsafeImage,
                          self.driver.copy_image_to_volume, self.context,
                          volume, mock.Mock(), fake.IMAGE_ID)
        mock_fetch.assert_not_called()
        self._assert_host_file_unread()

    @ddt.data(
        # extra specs, format, preallocated
        ({'provisioning:type': 'thick'}, 'raw', True),
        ({'provisioning:type': 'thin'}, 'raw', False),
        ({'provisioning:type': 'thick'}, 'qcow2', False),
    )
    @ddt.unpack
    def test_copy_image_to_volume_preallocation(self, specs, volume_format,
                                                preallocated):
        volume = self._volume(extra_specs=specs, size=2)
        self._chain_files(volume, base_fmt=volume_format, guest_data=False)
        self._fetch_writes(1)
        self.driver.copy_image_to_volume(self.context, volume, mock.Mock(),
                                         fake.IMAGE_ID)
        self.assertEqual(
            [mock.call('fallocate', '-l', '2G', self._path(volume.name),
                       run_as_root=True)] if preallocated else [],
            self._commands('fallocate'))

    def test_copy_image_to_volume_wrong_size(self):
        # qemu-img reports success, the image did not grow: refused.
        volume = self._volume(size=2)
        self._chain_files(volume, guest_data=False)
        self._fetch_writes(1)

        def execute(*cmd, **kwargs):
            if cmd[:2] == ('qemu-img', 'resize'):
                return '', ''
            return self._execute_side_effect(*cmd, **kwargs)
        self._execute.side_effect = execute
        exc = self.assertRaises(exception.ImageUnacceptable,
                                self.driver.copy_image_to_volume,
                                self.context, volume, mock.Mock(),
                                fake.IMAGE_ID)
        self.assertIn(fake.IMAGE_ID, str(exc))
        self.assertIn(str(units.Gi), str(exc))

    def test_copy_image_to_volume_unsafe_image(self):
        # image_utils refuses an image that fails the format inspector's
        # safety check with a bare Invalid: the driver says what it is.
        volume = self._volume(size=1)
        self._chain_files(volume, guest_data=False)
        self.mock_object(image_utils, 'fetch_to_volume_format',
                         side_effect=exception.Invalid(reason='unsafe'))
        exc = self.assertRaises(exception.ImageUnacceptable,
                                self.driver.copy_image_to_volume,
                                self.context, volume, mock.Mock(),
                                fake.IMAGE_ID)
        self.assertIn(fake.IMAGE_ID, str(exc))
        self.assertIn('safety check', str(exc))
        self.assertIsInstance(exc.__cause__, exception.Invalid)
        self.assertEqual([], self._qemu_img())

    def test_copy_image_to_volume_too_big_unchanged(self):
        # image_utils (not mocked) reports an image that fills the image
        # conversion directory as ImageTooBig, an Invalid too: it is not
        # relabelled as a failed format check.
        volume = self._volume(volume_format='raw', size=1)
        self._chain_files(volume, guest_data=False)
        image_service = mock.Mock(temp_images=None)
        image_service.show.return_value = {
            'id': fake.IMAGE_ID, 'disk_format': 'raw',
            'container_format': 'bare', 'size': units.Mi}
        image_service.download.side_effect = IOError(
            errno.ENOSPC, 'No space left on device')
        exc = self.assertRaises(exception.ImageTooBig,
                                self.driver.copy_image_to_volume,
                                self.context, volume, image_service,
                                fake.IMAGE_ID)
        self.assertIn('image_conversion_dir', str(exc))
        self.assertNotIn('safety check', str(exc))
        image_service.download.assert_called_once()
        self.assertEqual([], self._qemu_img())

    @ddt.data(exception.InvalidVolume(reason='x'),
              exception.ImageUnacceptable(image_id=fake.IMAGE_ID,
                                          reason='x'))
    def test_copy_image_to_volume_other_invalid_unchanged(self, error):
        volume = self._volume(volume_format='raw', size=1)
        self._chain_files(volume, guest_data=False)
        self.mock_object(image_utils, 'fetch_to_volume_format',
                         side_effect=error)
        exc = self.assertRaises(exception.Invalid,
                                self.driver.copy_image_to_volume,
                                self.context, volume, mock.Mock(),
                                fake.IMAGE_ID)
        self.assertIs(error, exc)

    def _copy_volume_to_image(self, volume, disk_format='raw'):
        """Upload a volume; return what was uploaded.

        That is: the path uploaded, its format and the guest's view of it
        (as _summary gives it).
        """
        os.makedirs(os.path.join(self.tempdir, 'conversion'), exist_ok=True)
        uploaded = []
        encrypted = bool(volume.encryption_key_id)

        def upload(ctxt, service, meta, path, vol, volume_format,
                   run_as_root):
            fmt = self._written_format(path)
            view = [self._summary(data) for data in self._guest_read(
                [(path, fmt)], [0, CHUNK, 2 * CHUNK], encrypted=encrypted)]
            uploaded.append((path, fmt, view))
        mock_upload = self.mock_object(volume_utils, 'upload_volume',
                                       side_effect=upload)
        image_service = mock.Mock()
        image_meta = {'id': fake.IMAGE_ID, 'disk_format': disk_format}
        self.driver.copy_volume_to_image(self.context, volume, image_service,
                                         image_meta)
        # Already in the image's disk format: upstream converts nothing.
        mock_upload.assert_called_once_with(
            self.context, image_service, image_meta, uploaded[0][0], volume,
            volume_format=disk_format, run_as_root=True)
        # A temporary copy is gone after the upload.
        self.assertEqual([], os.listdir(os.path.join(self.tempdir,
                                                     'conversion')))
        return uploaded[0]

    @staticmethod
    def _view(layers, overlays=2):
        """What _assert_guest_view expects, as _copy_volume_to_image says."""
        return [(CHUNK, [GUEST_BEFORE])] + [
            (CHUNK, [0x50 + index if layers > index + 1 else 0])
            for index in range(overlays)]

    def test_copy_volume_to_image_raw_image(self):
        # A raw volume without snapshots: its own file is uploaded.
        volume = self._volume()
        self._chain_files(volume)
        path, fmt, view = self._copy_volume_to_image(volume)
        self.assertEqual((self._path(volume.name), 'raw', self._view(1)),
                         (path, fmt, view))
        self.assertEqual([], self._qemu_img())

    def test_copy_volume_to_image_qcow2_image(self):
        # A qcow2 volume: what the guest sees, converted to a raw file.
        volume = self._volume()
        self._chain_files(volume, base_fmt='qcow2')
        path, fmt, view = self._copy_volume_to_image(volume)
        self.assertNotEqual(self._path(volume.name), path)
        self.assertEqual(('raw', self._view(1)), (fmt, view))
        self.assertEqual(['convert'], self._qemu_img())

    @ddt.data('raw', 'qcow2')
    def test_copy_volume_to_image_with_snapshot(self, base_format):
        volume = self._volume()
        self._chain_files(volume, [fake.SNAPSHOT_ID, fake.SNAPSHOT2_ID],
                          base_fmt=base_format)
        path, fmt, view = self._copy_volume_to_image(volume)
        self.assertEqual(('raw', self._view(3)), (fmt, view))
        self.assertEqual(['convert'], self._qemu_img())

    def test_copy_volume_to_image_qcow2_header_in_raw_base(self):
        # The guest of a raw volume with a snapshot wrote a qcow2 header
        # naming a host file: the image holds the guest's bytes, not one
        # of the host file's.
        volume = self._volume()
        self._chain_files(volume, [fake.SNAPSHOT_ID], guest_data=False)
        header = self._forged_qcow2(backing=self.host_file)
        self._write_raw(self._path(volume.name), header)
        os.makedirs(os.path.join(self.tempdir, 'conversion'))
        uploaded = []

        def upload(ctxt, service, meta, path, vol, volume_format,
                   run_as_root):
            with open(path, 'rb') as f:
                uploaded.append(f.read(len(header)))
            self._assert_host_file_unread(path)
        self.mock_object(volume_utils, 'upload_volume', side_effect=upload)
        self.driver.copy_volume_to_image(
            self.context, volume, mock.Mock(),
            {'id': fake.IMAGE_ID, 'disk_format': 'raw'})
        self.assertEqual([header], uploaded)

    def test_copy_volume_to_image_vmdk_descriptor_to_qcow2(self):
        # The guest of a raw volume wrote a vmdk descriptor whose extent
        # is a host file; uploaded as qcow2, the image holds the guest's
        # bytes: upstream's conversion, which guesses, never runs.
        volume = self._volume()
        self._chain_files(volume, guest_data=False)
        descriptor = ('# Disk DescriptorFile\nversion=1\nCID=fffffffe\n'
                      'parentCID=ffffffff\ncreateType="monolithicFlat"\n'
                      'RW 128 FLAT "%s" 0\n' % self.host_file).encode()
        self._write_raw(self._path(volume.name), descriptor)
        _path, fmt, view = self._copy_volume_to_image(volume, 'qcow2')
        self.assertEqual('qcow2', fmt)
        self.assertEqual(self._summary(descriptor +
                                       bytes(CHUNK - len(descriptor))),
                         view[0])
        self._assert_host_file_unread()

    @ddt.data(({'disk_format': 'qcow2'}, True),
              ({'disk_format': 'raw', 'container_format': 'compressed'},
               False))
    @ddt.unpack
    def test_copy_volume_to_image_refused(self, meta, encrypted):
        volume = self._volume(encryption_key_id=fake.ENCRYPTION_KEY_ID
                              if encrypted else None)
        self._chain_files(volume, guest_data=False, size=64 * units.Mi)
        mock_upload = self.mock_object(volume_utils, 'upload_volume')
        self.assertRaises(exception.ImageUnacceptable,
                          self.driver.copy_volume_to_image, self.context,
                          volume, mock.Mock(), dict(meta, id=fake.IMAGE_ID))
        mock_upload.assert_not_called()
        self.assertEqual([], self._qemu_img())

    def test_copy_volume_to_image_encrypted(self):
        # An encrypted volume is uploaded as a LUKS container under its
        # own key, never decrypted.
        self._key_manager()
        volume = self._volume(encryption_key_id=fake.ENCRYPTION_KEY_ID)
        self._chain_files(volume, [fake.SNAPSHOT_ID], base_fmt='qcow2',
                          size=64 * units.Mi)
        path, fmt, view = self._copy_volume_to_image(volume)
        self.assertEqual(('raw', self._view(2, overlays=1) + [
            (CHUNK, [0])]), (fmt, view))
        # One convert (tried again only if qemu could not time LUKS).
        self.assertEqual({'convert'}, set(self._qemu_img()))

    def test_recorded_format_of_a_volume_its_owner_asked_for(self):
        # An extend asked by the volume's owner (Tempest's user) loads
        # the volume without its admin metadata: the record is read.
        volume = test_utils.create_volume(self.context, size=1,
                                          user_id=fake.USER_ID,
                                          project_id=fake.PROJECT_ID)
        db_api.volume_admin_metadata_update(self.context, volume.id,
                                            {'format': 'qcow2'}, False)
        owner = context.RequestContext(fake.USER_ID, fake.PROJECT_ID,
                                       is_admin=False)
        loaded = objects.Volume.get_by_id(owner, volume.id)
        self.assertEqual({}, loaded.admin_metadata)
        self.assertEqual('qcow2', self.driver._recorded_format(loaded))
