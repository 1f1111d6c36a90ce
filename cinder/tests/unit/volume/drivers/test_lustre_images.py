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

"""Tests of the Lustre driver's image chain, on real files with qemu-img.

What qemu-img does with an image is qemu-img's behaviour: these tests make
real images with it, forge the headers a guest or another client of the
file system could write, and run the module's commands for real.
"""

import ast
import inspect
import json
import os
import struct
import subprocess
import sys

import ddt
import fixtures
from oslo_concurrency import processutils as putils
from oslo_utils import units
import tenacity

from cinder.tests.unit import test
from cinder.volume import driver as base_driver
from cinder.volume.drivers import lustre
from cinder.volume.drivers import lustre_files
from cinder.volume.drivers import lustre_images as images
from cinder.volume.drivers import remotefs

MiB = units.Mi


def execute(*cmd, **kwargs):
    """Run a command as the driver's execute would, without root."""
    proc = subprocess.run(cmd, capture_output=True)
    if proc.returncode:
        raise putils.ProcessExecutionError(
            exit_code=proc.returncode, cmd=' '.join(cmd),
            stderr=proc.stderr.decode(errors='replace'))
    if kwargs.get('binary'):
        return proc.stdout, proc.stderr
    return proc.stdout.decode(), proc.stderr.decode()


def qemu_img(*args):
    return luks_retry(lambda: subprocess.run(
        ('qemu-img',) + args, check=True, capture_output=True,
        text=True).stdout)


def luks_retry(call):
    """Call, again if qemu's LUKS key-slot timing failed.

    Making a LUKS header times PBKDF2 on the CPU; on a loaded machine
    qemu 7.2 sometimes fails it ("Unable to get accurate CPU usage").
    That is qemu's benchmark, not what these tests check. Failures come
    in bursts (twenty in 0.2 s seen in CI): more attempts than the
    driver makes, the pause growing by 0.05 s.
    """
    failures = (subprocess.CalledProcessError, putils.ProcessExecutionError)
    retrying = tenacity.Retrying(
        retry=images._luks_timing_failed(failures),
        stop=tenacity.stop_after_attempt(20),
        wait=tenacity.wait_incrementing(0.05, 0.05), reraise=True)
    try:
        return retrying(call)
    except failures as exc:
        # CalledProcessError does not show what qemu said.
        raise AssertionError('%s\nstderr: %s' % (exc, exc.stderr))


def qemu_io(path, fmt, command):
    subprocess.run(['qemu-io', '-f', fmt, '-c', command, path], check=True,
                   capture_output=True)


class ImagesTestBase(test.TestCase):

    def setUp(self):
        super().setUp()
        self.dir = self.useFixture(fixtures.TempDir()).path
        # Outside the share: what a hostile image must never reach.
        self.host = self.useFixture(fixtures.TempDir()).path
        self.secret = os.path.join(self.host, 'secret')
        with open(self.secret, 'wb') as f:
            f.write(b'HOST-SECRET' * 100000)
        self.reader = images.ImageReader(execute, False)
        self.qemu_img = images.QemuImg(execute, False)

    def path(self, name):
        return os.path.join(self.dir, name)

    def raw(self, name, size=units.Gi):
        path = self.path(name)
        with open(path, 'wb') as f:
            f.truncate(size)
        return images.Image(path, 'raw')

    def overlay(self, name, backing, backing_fmt='raw', size='1G'):
        path = self.path(name)
        qemu_img('create', '-f', 'qcow2', '-u', '-b', backing, '-F',
                 backing_fmt, path, size)
        return images.Image(path, 'qcow2')

    def hostile_header(self, fmt='qcow2', **opts):
        """The first bytes of an image that names the host's secret."""
        path = os.path.join(self.host, 'hostile.' + fmt)
        if fmt == 'qcow2':
            options = ','.join('%s=%s' % item for item in opts.items())
            qemu_img('create', '-f', 'qcow2', '-o', options, path, '1G')
        else:
            with open(path, 'w') as f:
                f.write('# Disk DescriptorFile\nversion=1\nCID=fffffffe\n'
                        'parentCID=ffffffff\ncreateType="monolithicFlat"\n'
                        'RW 2048 FLAT "%s" 0\n' % self.secret)
        with open(path, 'rb') as f:
            return f.read(65536)

    def guest_writes(self, image, data, offset=0):
        """A guest writes ``data`` at ``offset`` of the disk it sees."""
        payload = os.path.join(self.host, 'payload')
        with open(payload, 'wb') as f:
            f.write(data)
        qemu_io(image.path, image.fmt,
                'write -s %s %d %d' % (payload, offset, len(data)))
        os.unlink(payload)


@ddt.ddt
class CheckRegularTestCase(ImagesTestBase):

    def test_regular_file(self):
        image = self.raw('volume-1', 4096)
        self.assertEqual(4096, images.check_regular(image.path).st_size)

    @ddt.data('symlink', 'hardlink', 'fifo', 'directory', 'missing')
    def test_refused(self, kind):
        path = self.path('volume-1')
        if kind == 'symlink':
            os.symlink(self.secret, path)
        elif kind == 'hardlink':
            os.link(self.raw('volume-2').path, path)
        elif kind == 'fifo':
            os.mkfifo(path)
        elif kind == 'directory':
            os.mkdir(path)
        self.assertRaises(images.UnsafeImage, images.check_regular, path)


@ddt.ddt
class HeaderTestCase(ImagesTestBase):

    @ddt.data('1.1', '0.10')
    def test_overlay(self, compat):
        self.raw('volume-1')
        path = self.path('volume-1.snap')
        qemu_img('create', '-f', 'qcow2', '-o', 'compat=%s' % compat, '-u',
                 '-b', 'volume-1', '-F', 'raw', path, '2G')
        header = self.reader.header(images.Image(path, 'qcow2'))
        self.assertEqual((2 * units.Gi, 'volume-1', 'raw', False, False),
                         (header.virtual_size, header.backing_file,
                          header.backing_format, header.encrypted,
                          header.data_file))

    def test_raw_is_never_read(self):
        # A raw file is what its guest wrote: only its size is used.
        image = self.raw('volume-1')
        self.guest_writes(image, self.hostile_header(
            backing_file=self.secret, backing_fmt='raw'))
        self.mock_object(self.reader, '_read')
        self.assertEqual(images.Header(virtual_size=units.Gi),
                         self.reader.header(image))
        self.reader._read.assert_not_called()

    def test_not_qcow2(self):
        image = self.raw('volume-1.snap')
        self.assertRaisesRegex(images.UnsafeImage, 'not a qcow2 image',
                               self.reader.header,
                               images.Image(image.path, 'qcow2'))

    def test_data_file_refused(self):
        path = self.path('volume-1')
        qemu_img('create', '-f', 'qcow2', '-o',
                 'data_file=%s' % os.path.join(self.host, 'victim'), path,
                 '1G')
        self.assertRaisesRegex(images.UnsafeImage, 'external data file',
                               self.reader.header,
                               images.Image(path, 'qcow2'))

    def test_unknown_incompatible_feature_refused(self):
        path = self.path('volume-1')
        qemu_img('create', '-f', 'qcow2', path, '1G')
        with open(path, 'r+b') as f:
            f.seek(72)
            f.write(struct.pack('>Q', 1 << 40))
        self.assertRaisesRegex(images.UnsafeImage, 'features',
                               self.reader.header,
                               images.Image(path, 'qcow2'))

    @ddt.data((4, 1), (20, 31))
    @ddt.unpack
    def test_invalid_header_refused(self, offset, value):
        # A version qemu-img 7.2 does not know, or clusters of 2 GiB.
        path = self.path('volume-1')
        qemu_img('create', '-f', 'qcow2', path, '1G')
        with open(path, 'r+b') as f:
            f.seek(offset)
            f.write(struct.pack('>I', value))
        self.assertRaisesRegex(images.UnsafeImage, 'header is invalid',
                               self.reader.header,
                               images.Image(path, 'qcow2'))

    def test_extensions_end_with_the_data(self):
        # Extensions that run to the end of what was read, without their
        # end marker, end there.
        path = self.path('volume-1')
        qemu_img('create', '-f', 'qcow2', path, '3G')
        with open(path, 'rb') as f:
            data = f.read(112 + 6)
        header = images.parse_qcow2_header(path, data)
        self.assertEqual((3 * units.Gi, None, None),
                         (header.virtual_size, header.backing_file,
                          header.backing_format))

    def test_backing_name_outside_first_cluster_refused(self):
        path = self.overlay('volume-1.snap', 'volume-1').path
        with open(path, 'r+b') as f:
            f.seek(8)
            f.write(struct.pack('>Q', 65536 - 4))
        self.assertRaisesRegex(images.UnsafeImage, 'first cluster',
                               self.reader.header,
                               images.Image(path, 'qcow2'))

    def test_large_cluster_reads_as_far_as_needed(self):
        self.raw('volume-1')
        path = self.path('volume-1.snap')
        qemu_img('create', '-f', 'qcow2', '-o', 'cluster_size=2M', '-u',
                 '-b', 'volume-1', '-F', 'raw', path, '1G')
        with open(path, 'r+b') as f:
            # Move the backing name past the first 64 KiB of the cluster.
            f.seek(8)
            offset, size = struct.unpack('>QI', f.read(12))
            f.seek(offset)
            name = f.read(size)
            f.seek(offset)
            f.write(b'\0' * size)
            f.seek(MiB)
            f.write(name)
            f.seek(8)
            f.write(struct.pack('>Q', MiB))
        header = self.reader.header(images.Image(path, 'qcow2'))
        self.assertEqual('volume-1', header.backing_file)

    def test_encrypted_raw_is_a_luks_container(self):
        path = self.path('volume-1')
        qemu_img('create', '--object',
                 'secret,id=s0,data=passphrase', '-f', 'luks', '-o',
                 'key-secret=s0', path, '1G')
        image = images.Image(path, 'raw', encrypted=True)
        header = self.reader.header(image)
        self.assertEqual(units.Gi, header.virtual_size)
        self.assertTrue(header.encrypted)
        self.assertRaisesRegex(
            images.UnsafeImage, 'LUKS', self.reader.header,
            images.Image(self.raw('volume-2').path, 'raw', encrypted=True))

    def test_encryption_must_match(self):
        path = self.path('volume-1')
        qemu_img('create', '--object', 'secret,id=s0,data=x', '-f', 'qcow2',
                 '-o', 'encrypt.format=luks,encrypt.key-secret=s0,'
                 'encrypt.iter-time=10', path, '1G')
        self.assertRaisesRegex(images.UnsafeImage, 'encryption',
                               self.reader.header,
                               images.Image(path, 'qcow2'))
        self.assertTrue(self.reader.header(
            images.Image(path, 'qcow2', encrypted=True)).encrypted)

    def test_holds_data(self):
        self.raw('volume-1')
        overlay = self.overlay('volume-1.a', 'volume-1', size='64G')
        self.assertFalse(self.reader.holds_data(overlay))
        # A write far into the image: its L1 entry is not the first.
        self.guest_writes(overlay, b'x', offset=40 * units.Gi)
        self.assertTrue(self.reader.holds_data(overlay))

    def test_empty_image_holds_no_data(self):
        # Of size 0, an image has no L1 table to read.
        path = self.path('volume-1')
        qemu_img('create', '-f', 'qcow2', path, '0')
        self.mock_object(self.reader, '_read', wraps=self.reader._read)
        self.assertFalse(self.reader.holds_data(images.Image(path, 'qcow2')))
        self.assertEqual(1, self.reader._read.call_count)

    def test_fifo_does_not_block_the_read(self):
        # Swapped in after the check: dd opens it without blocking.
        path = self.path('volume-1.snap')
        os.mkfifo(path)
        self.assertEqual(b'', self.reader._read(path, 512))

    def test_link_swapped_in_fails_the_read(self):
        path = self.path('volume-1.snap')
        os.symlink(self.secret, path)
        self.assertRaises(putils.ProcessExecutionError, self.reader._read,
                          path, 512)


class ChainTestCase(ImagesTestBase):

    def setUp(self):
        super().setUp()
        self.base = self.raw('volume-1')
        self.info = {'active': 'volume-1'}

    def add_overlay(self, snapshot_id, fmt='raw'):
        name = 'volume-1.%s' % snapshot_id
        self.overlay(name, self.info['active'],
                     'qcow2' if self.info['active'] != 'volume-1' else fmt)
        self.info[snapshot_id] = self.info['active'] = name
        return self.path(name)

    def chain(self):
        return self.reader.chain(self.dir, 'volume-1', self.info, self.base)

    def test_base_only(self):
        self.assertEqual(['volume-1'], self.chain().names())

    def test_overlays_top_first(self):
        self.add_overlay('a')
        self.add_overlay('b')
        chain = self.chain()
        self.assertEqual(['volume-1.b', 'volume-1.a', 'volume-1'],
                         chain.names())
        self.assertEqual(['qcow2', 'qcow2', 'raw'],
                         [image.fmt for image in chain.images])
        self.assertEqual('volume-1.a', chain.backing_of('volume-1.b').name)
        self.assertIsNone(chain.backing_of('volume-1'))
        self.assertEqual(['volume-1.a', 'volume-1'],
                         chain.below('volume-1.a').names())
        self.assertRaises(images.UnsafeImage, chain.below, 'volume-1.x')

    def test_base_pulled_into_the_active_image(self):
        path = self.add_overlay('a')
        qemu_img('rebase', '-u', '-f', 'qcow2', '-b', '', path)
        os.unlink(self.base.path)
        self.assertEqual(['volume-1.a'], self.chain().names())

    def test_unnamed_bottom_after_an_online_merge(self):
        # Nova pulled the base into overlay a; a later snapshot b made a
        # the bottom of the chain, which the .info file no longer names.
        path = self.add_overlay('a')
        qemu_img('rebase', '-u', '-f', 'qcow2', '-b', '', path)
        os.unlink(self.base.path)
        self.add_overlay('b')
        del self.info['a']
        self.assertEqual(['volume-1.b', 'volume-1.a'],
                         self.chain().names())

    def test_unnamed_image_above_the_bottom_refused(self):
        self.add_overlay('a')
        self.add_overlay('b')
        del self.info['a']
        self.assertRaisesRegex(images.UnsafeImage, 'not the bottom',
                               self.chain)

    def test_unnamed_file_of_another_volume_refused(self):
        path = self.add_overlay('a')
        self.overlay('volume-2.x', 'volume-1')
        qemu_img('rebase', '-u', '-f', 'qcow2', '-b', 'volume-2.x', '-F',
                 'qcow2', path)
        self.assertRaisesRegex(images.UnsafeImage, 'does not name',
                               self.chain)

    def test_loop_refused(self):
        path = self.add_overlay('a')
        self.add_overlay('b')
        qemu_img('rebase', '-u', '-f', 'qcow2', '-b', 'volume-1.b', '-F',
                 'qcow2', path)
        self.assertRaisesRegex(images.UnsafeImage, 'loops', self.chain)

    def test_name_not_in_info_refused(self):
        path = self.add_overlay('a')
        self.overlay('volume-1.x', 'volume-1')
        qemu_img('rebase', '-u', '-f', 'qcow2', '-b', 'volume-1.x', '-F',
                 'qcow2', path)
        self.assertRaisesRegex(images.UnsafeImage, 'does not name',
                               self.chain)

    def test_backing_outside_the_directory_refused(self):
        path = self.add_overlay('a')
        qemu_img('rebase', '-u', '-f', 'qcow2', '-b', self.secret, '-F',
                 'raw', path)
        self.assertRaisesRegex(images.UnsafeImage, 'not in its directory',
                               self.chain)

    def test_backing_by_absolute_path_in_the_directory(self):
        path = self.add_overlay('a')
        qemu_img('rebase', '-u', '-f', 'qcow2', '-b', self.base.path, '-F',
                 'raw', path)
        self.assertEqual(['volume-1.a', 'volume-1'], self.chain().names())

    def test_backing_of_another_volume_refused(self):
        self.raw('volume-2')
        path = self.add_overlay('a')
        qemu_img('rebase', '-u', '-f', 'qcow2', '-b', 'volume-2', '-F',
                 'raw', path)
        self.assertRaisesRegex(images.UnsafeImage, 'does not name',
                               self.chain)

    def test_backing_format_mismatch_refused(self):
        path = self.add_overlay('a')
        qemu_img('rebase', '-u', '-f', 'qcow2', '-b', 'volume-1', '-F',
                 'qcow2', path)
        self.assertRaisesRegex(images.UnsafeImage, 'recorded as qcow2',
                               self.chain)

    def test_overlay_swapped_for_a_link_refused(self):
        path = self.add_overlay('a')
        os.unlink(path)
        os.symlink(self.secret, path)
        self.assertRaisesRegex(images.UnsafeImage, 'not a regular file',
                               self.chain)

    def test_overlay_hard_link_to_another_volume_refused(self):
        path = self.add_overlay('a')
        os.unlink(path)
        other = self.overlay('volume-2.a', 'volume-1')
        os.link(other.path, path)
        self.assertRaisesRegex(images.UnsafeImage, 'links', self.chain)

    def test_base_swapped_for_a_fifo_refused(self):
        self.add_overlay('a')
        os.unlink(self.base.path)
        os.mkfifo(self.base.path)
        self.assertRaisesRegex(images.UnsafeImage, 'not a regular file',
                               self.chain)

    def test_overlay_replaced_by_raw_data_refused(self):
        # A raw file holding a qcow2 header that names a host file.
        path = self.add_overlay('a')
        with open(path, 'wb') as f:
            f.write(self.hostile_header(backing_file=self.secret,
                                        backing_fmt='raw'))
        self.assertRaisesRegex(images.UnsafeImage, 'not in its directory',
                               self.chain)

    def test_overlay_replaced_by_vmdk_refused(self):
        path = self.add_overlay('a')
        with open(path, 'wb') as f:
            f.write(self.hostile_header('vmdk'))
        self.assertRaisesRegex(images.UnsafeImage, 'not a qcow2 image',
                               self.chain)

    def test_chain_filename_names_every_node(self):
        self.add_overlay('a')
        node = json.loads(self.chain().filename()[len('json:'):])
        self.assertEqual(
            {'driver': 'qcow2',
             'file': {'driver': 'file',
                      'filename': self.path('volume-1.a')},
             'backing': {'driver': 'raw',
                         'file': {'driver': 'file',
                                  'filename': self.base.path}}}, node)


@ddt.ddt
class QemuImgTestCase(ImagesTestBase):
    """The commands, run on images a hostile guest has written."""

    PAYLOADS = ('backing', 'data_file', 'vmdk', 'luks')

    def payload(self, kind):
        if kind == 'backing':
            return self.hostile_header(backing_file=self.secret,
                                       backing_fmt='raw')
        if kind == 'data_file':
            victim = os.path.join(self.host, 'victim')
            open(victim, 'wb').close()
            return self.hostile_header(data_file=victim)
        if kind == 'vmdk':
            return self.hostile_header('vmdk')
        path = os.path.join(self.host, 'luks')
        qemu_img('create', '--object', 'secret,id=s0,data=x', '-f', 'luks',
                 '-o', 'key-secret=s0,iter-time=10', path, '16M')
        with open(path, 'rb') as f:
            return f.read(MiB)

    def host_state(self):
        result = {}
        for name in sorted(os.listdir(self.host)):
            path = os.path.join(self.host, name)
            with open(path, 'rb') as f:
                result[name] = (os.stat(path).st_size, f.read())
        return result

    def assertNoHostBytes(self, path):
        with open(path, 'rb') as f:
            self.assertNotIn(b'HOST-SECRET', f.read())

    @ddt.idata((payload, base_fmt, out)
               for payload in PAYLOADS
               for base_fmt in ('raw', 'qcow2')
               for out in ('raw', 'qcow2'))
    @ddt.unpack
    def test_convert_copies_what_the_guest_wrote(self, kind, base_fmt, out):
        if base_fmt == 'raw':
            base = self.raw('volume-1', 64 * MiB)
        else:
            path = self.path('volume-1')
            qemu_img('create', '-f', 'qcow2', path, '64M')
            base = images.Image(path, 'qcow2')
        data = self.payload(kind)
        self.guest_writes(base, data)
        overlay = self.overlay('volume-1.a', 'volume-1', base_fmt, '64M')
        self.guest_writes(overlay, b'LATER', offset=32 * MiB)
        before = self.host_state()
        chain = self.reader.chain(self.dir, 'volume-1',
                                  {'active': 'volume-1.a',
                                   'a': 'volume-1.a'}, base)
        dest = self.path('volume-2')
        self.qemu_img.convert(chain, dest, out)
        raw = self.path('check')
        qemu_img('convert', '-f', out, '-O', 'raw', dest, raw)
        with open(raw, 'rb') as f:
            self.assertEqual(data, f.read(len(data)))
            f.seek(32 * MiB)
            self.assertEqual(b'LATER', f.read(5))
        self.assertNoHostBytes(raw)
        self.assertEqual(before, self.host_state())

    @ddt.data(*PAYLOADS)
    def test_resize_touches_only_the_image(self, kind):
        base = self.raw('volume-1', 64 * MiB)
        self.guest_writes(base, self.payload(kind))
        before = self.host_state()
        self.qemu_img.resize(base, 1)
        self.assertEqual(units.Gi, os.stat(base.path).st_size)
        self.assertEqual(before, self.host_state())

    @ddt.data(*PAYLOADS)
    def test_commit_into_a_hostile_base(self, kind):
        base = self.raw('volume-1', 64 * MiB)
        data = self.payload(kind)
        self.guest_writes(base, data)
        overlay = self.overlay('volume-1.a', 'volume-1', 'raw', '64M')
        self.guest_writes(overlay, b'LATER', offset=32 * MiB)
        before = self.host_state()
        chain = self.reader.chain(self.dir, 'volume-1',
                                  {'active': 'volume-1.a',
                                   'a': 'volume-1.a'}, base)
        self.qemu_img.commit(chain)
        with open(base.path, 'rb') as f:
            self.assertEqual(data, f.read(len(data)))
            f.seek(32 * MiB)
            self.assertEqual(b'LATER', f.read(5))
        self.assertEqual(64 * MiB, os.stat(base.path).st_size)
        self.assertEqual(before, self.host_state())

    def test_create_overlay_does_not_open_its_backing(self):
        # A FIFO would block qemu-img if it opened it.
        os.mkfifo(self.path('volume-1'))
        self.qemu_img.create_overlay(self.path('volume-1.a'),
                                     images.Image(self.path('volume-1'),
                                                  'raw'), 1)
        header = self.reader.header(images.Image(self.path('volume-1.a'),
                                                 'qcow2'))
        self.assertEqual(('volume-1', 'raw'),
                         (header.backing_file, header.backing_format))

    def test_rebase_unsafe(self):
        self.raw('volume-1')
        overlay = self.overlay('volume-1.a', 'volume-1')
        self.qemu_img.rebase_unsafe(overlay, None)
        self.assertIsNone(self.reader.header(overlay).backing_file)
        other = self.overlay('volume-1.b', 'volume-1')
        self.qemu_img.rebase_unsafe(overlay, other)
        self.assertEqual(('volume-1.b', 'qcow2'),
                         (self.reader.header(overlay).backing_file,
                          self.reader.header(overlay).backing_format))

    def test_encrypted_copy_rekeys(self):
        old, new = (os.path.join(self.host, name) for name in ('k1', 'k2'))
        for path, key in ((old, 'one'), (new, 'two')):
            with open(path, 'w') as f:
                f.write(key)
        src = self.path('volume-1')
        qemu_img('create', '--object', 'secret,id=s0,file=%s' % old, '-f',
                 'qcow2', '-o', 'encrypt.format=luks,encrypt.key-secret=s0,'
                 'encrypt.iter-time=10', src, '64M')
        subprocess.run(
            ['qemu-io', '--object', 'secret,id=s0,file=%s' % old,
             '--image-opts', '-c', 'write -P 7 0 1M',
             'driver=qcow2,encrypt.key-secret=s0,file.filename=%s' % src],
            check=True, capture_output=True)
        chain = images.Chain((images.Image(src, 'qcow2', True),))
        dest = self.path('volume-2')
        luks_retry(lambda: self.qemu_img.convert(
            chain, dest, 'luks', passphrase_file=old,
            new_passphrase_file=new, out_opts=('iter-time=10',)))
        self.assertEqual(64 * MiB, self.reader.header(
            images.Image(dest, 'raw', True)).virtual_size)
        out = subprocess.run(
            ['qemu-io', '--object', 'secret,id=s0,file=%s' % new,
             '--image-opts', '-c', 'read -P 7 0 1M',
             'driver=luks,key-secret=s0,file.filename=%s' % dest],
            check=True, capture_output=True, text=True).stdout
        self.assertNotIn('Pattern verification failed', out)


@ddt.ddt
class LuksTimingTestCase(ImagesTestBase):
    """qemu 7.2 fails to time LUKS key derivation on a busy host."""

    def setUp(self):
        super().setUp()
        self.pauses = []
        self.mock_object(tenacity.nap, 'sleep', self.pauses.append)

    def _failing(self, failures, stderr):
        """An execute whose first qemu-img runs fail as qemu's do."""
        calls = []

        def run(*cmd, **kwargs):
            calls.append(cmd)
            if len(calls) <= failures:
                raise putils.ProcessExecutionError(
                    exit_code=1, stderr='qemu-img: %s\n' % stderr)
            return execute(*cmd, **kwargs)
        return images.QemuImg(run, False), calls

    def test_timing_failure_tried_again(self):
        self.raw('volume-1')
        qemu_img, calls = self._failing(2, 'Unable to get accurate CPU usage')
        path = self.path('volume-1.snap')
        qemu_img.create_overlay(path, images.Image(self.path('volume-1'),
                                                   'raw'), 1)
        self.assertEqual(3, len(calls))
        self.assertEqual(1, len(set(calls)))
        # Failures come in bursts: each attempt waits longer.
        self.assertEqual([0.1, 0.12], [round(p, 3) for p in self.pauses])
        self.assertEqual('volume-1', self.reader.header(
            images.Image(path, 'qcow2')).backing_file)

    @ddt.data((30, 'Unable to get accurate CPU usage',
               [round(0.1 * 1.2 ** n, 3) for n in range(19)]),
              (1, 'No space left on device', []))
    @ddt.unpack
    def test_other_or_lasting_failure_raised(self, failures, stderr, pauses):
        self.raw('volume-1')
        qemu_img, calls = self._failing(failures, stderr)
        self.assertRaises(putils.ProcessExecutionError,
                          qemu_img.create_overlay, self.path('volume-1.snap'),
                          images.Image(self.path('volume-1'), 'raw'), 1)
        self.assertEqual(len(pauses) + 1, len(calls))
        self.assertEqual(pauses, [round(p, 3) for p in self.pauses])


class QemuImgCallsTestCase(test.TestCase):
    """No code path of the driver runs qemu-img without naming formats.

    The driver's own modules call qemu-img only through lustre_images, and
    an inherited method that runs qemu-img without a format is reachable
    from no entry point of the driver: every caller is overridden.
    """

    # The modules of LustreDriver's own methods: the class and its mixins.
    DRIVER_MODULES = tuple(dict.fromkeys(
        sys.modules[cls.__module__] for cls in lustre.LustreDriver.__mro__
        if cls.__module__.startswith(lustre.__name__)))
    # What image_utils calls may stay, and why.
    ALLOWED = {
        # Managing: a file Cinder never wrote, named by the format
        # inspector, which refuses backing and data files (_qemu_img_info).
        ('lustre_manage', 'get_image_format'),
        # Writes a Glance image, which image_utils inspects itself, into a
        # volume whose format is given.
        ('lustre', 'fetch_to_volume_format'),
        # The argument list of the encrypted formats, no image read.
        ('lustre_images', 'decode_cipher'),
        # Format names and the operator's option, no image read.
        ('lustre', 'fixup_disk_format'),
        ('lustre', 'check_image_conversion_disable'),
    }
    # Inherited methods that run qemu-img and stay reachable, and why.
    INHERITED = {
        # Called only by the driver's _qemu_img_info, with the format it
        # has found (managing) and no backing file allowed.
        '_qemu_img_info_base',
        # Writes a Glance image into an encrypted volume attached as a
        # device: image_utils inspects the image; no volume file is read.
        '_copy_image_data_to_volume',
    }
    QEMU_CALLS = {'qemu_img_info', 'convert_image', 'resize_image',
                  'get_image_format', 'fetch_to_raw', 'fetch_to_volume_format',
                  '_qemu_img_info'}

    @staticmethod
    def _tree(module):
        return ast.parse(inspect.getsource(module))

    def test_no_qemu_img_outside_lustre_images(self):
        for module in self.DRIVER_MODULES + (lustre_files,):
            for node in ast.walk(self._tree(module)):
                if isinstance(node, ast.Constant):
                    self.assertNotEqual('qemu-img', node.value)

    def test_image_utils_calls(self):
        for module in self.DRIVER_MODULES + (lustre_files, images):
            name = module.__name__.rsplit('.', 1)[-1]
            for node in ast.walk(self._tree(module)):
                if (isinstance(node, ast.Call) and
                        isinstance(node.func, ast.Attribute) and
                        isinstance(node.func.value, ast.Name) and
                        node.func.value.id == 'image_utils' and
                        node.func.attr not in ('temporary_file',)):
                    self.assertIn((name, node.func.attr), self.ALLOWED)

    @classmethod
    def _runs_qemu_img(cls, node):
        for sub in ast.walk(node):
            if isinstance(sub, ast.Constant) and sub.value == 'qemu-img':
                return True
            if (isinstance(sub, ast.Attribute) and
                    sub.attr in cls.QEMU_CALLS):
                return True
        return False

    @staticmethod
    def _self_refs(node):
        return {sub.attr for sub in ast.walk(node)
                if isinstance(sub, ast.Attribute) and
                isinstance(sub.value, ast.Name) and sub.value.id == 'self'}

    def _inherited_methods(self):
        """(name, node) of every upstream method LustreDriver runs as is."""
        driver = lustre.LustreDriver
        for module in (remotefs, base_driver):
            for cls in ast.walk(self._tree(module)):
                if not isinstance(cls, ast.ClassDef):
                    continue
                for node in cls.body:
                    if not isinstance(node, ast.FunctionDef):
                        continue
                    impl = inspect.getattr_static(driver, node.name, None)
                    impl = getattr(impl, '__func__', impl)
                    impl = inspect.unwrap(impl) if callable(impl) else impl
                    if (getattr(impl, '__module__', None) ==
                            module.__name__ and
                            getattr(impl, '__qualname__', None) ==
                            '%s.%s' % (cls.name, node.name)):
                        yield node.name, node

    def test_inherited_qemu_img_calls_are_unreachable(self):
        inherited = dict(self._inherited_methods())
        own = set().union(*(self._self_refs(self._tree(module))
                            for module in self.DRIVER_MODULES))
        live = {name for name in inherited
                if not name.startswith('_') or name in own}
        while True:
            more = {ref for name in live
                    for ref in self._self_refs(inherited[name])
                    if ref in inherited} - live
            if not more:
                break
            live |= more
        unsafe = {name for name in live
                  if self._runs_qemu_img(inherited[name])}
        self.assertEqual(set(), unsafe - self.INHERITED)
        # The list of exceptions stays true.
        self.assertEqual(set(), self.INHERITED - unsafe)
