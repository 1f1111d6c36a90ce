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

"""A volume's image files, checked, and the only qemu-img calls made on them.

Nothing here knows Lustre: this is the remotefs snapshot chain (a base file
and the qcow2 overlays a ``.info`` file names), handled as the two
adversaries of the driver's threat model require. A guest writes every byte
of a raw file and of a qcow2 file's data area; any client of the file
system can replace a file between two operations. So:

* a format is never guessed: a base file has the format Cinder recorded
  for it, an overlay is qcow2 because Cinder made it so;
* a file is used only if it is a regular file with a single link; headers
  are read without following links and without blocking (``dd
  iflag=nofollow,nonblock``), and parsed here, in Python;
* the chain is walked from the overlays' headers and every name checked
  against the ``.info`` file before qemu-img runs; qemu-img is then given
  each image of the chain with its format and file (a ``json:`` filename),
  so it follows no reference that a file holds.

What remains is the window between a check and qemu-img opening the path:
a client that can swap files at that exact moment could still substitute
a file (see the driver documentation's threat model).
"""

from __future__ import annotations

import dataclasses
import json
import os
import stat
import struct
from typing import Callable, Optional, Sequence  # noqa: H301

from oslo_concurrency import processutils
from oslo_log import log as logging
from oslo_utils import units
import tenacity

from cinder import exception
from cinder.i18n import _
from cinder.image import image_utils
from cinder import utils
from cinder.volume import throttling

LOG = logging.getLogger(__name__)

RAW = 'raw'
QCOW2 = 'qcow2'
FORMATS = (RAW, QCOW2)

# The id of the --object secret holding a volume's passphrase.
_SECRET = 'sec0'
_NEW_SECRET = 'sec1'

# qemu's docs/interop/qcow2.txt: the header fields and extensions we use.
_QCOW2_MAGIC = b'QFI\xfb'
_QCOW2_HEADER = struct.Struct('>4sIQIIQI')
_QCOW2_L1 = struct.Struct('>IQ')
_QCOW2_L1_OFFSET = 36
_QCOW2_V3_HEADER = struct.Struct('>QQQII')
_EXT = struct.Struct('>II')
_EXT_BACKING_FORMAT = 0xe2792aca
_EXT_DATA_FILE = 0x44415441
_INCOMPAT_DATA_FILE = 1 << 2
# dirty, corrupt, external data file, compression type, extended L2.
_INCOMPAT_KNOWN = 0x1f
_MAX_CLUSTER_BITS = 21
# The LUKS1 header (cryptsetup's on-disk format): payload offset, sectors.
_LUKS_MAGIC = b'LUKS\xba\xbe'
# qemu (7.2, Debian 12's) times LUKS key derivation on the thread's CPU
# clock before it writes a LUKS header, and fails when the clock has not
# moved: on a busy host, a third of the attempts or more, at times twenty
# in a row within a fraction of a second, and seven in a row over 6.3 s
# (a pause doubling from 0.1 s) once in a CI run. Attempts are many and
# their pauses grow slowly, by a fifth: 15 s over all attempts.
_LUKS_TIMING_FAILED = 'Unable to get accurate CPU usage'
_LUKS_ATTEMPTS = 20
_LUKS_PAUSE_SECONDS = 0.1
_LUKS_PAUSE_GROWTH = 1.2
_LUKS_PAYLOAD = struct.Struct('>I')
_LUKS_PAYLOAD_OFFSET = 104
# Enough for a header, its extensions and backing name at the default
# cluster size; a larger cluster is read again as far as it needs.
_HEADER_BYTES = 64 * units.Ki


class UnsafeImage(exception.VolumeDriverException):
    message = _('Refusing to use %(path)s: %(reason)s.')


@dataclasses.dataclass(frozen=True)
class Image:
    """One file of a volume, with the format qemu-img reads it in.

    An encrypted raw image is a LUKS container: qemu reads it with its
    ``luks`` driver, a qcow2 one with its own LUKS encryption.
    """

    path: str
    fmt: str
    encrypted: bool = False

    @property
    def name(self) -> str:
        return os.path.basename(self.path)

    @property
    def driver(self) -> str:
        """The qemu block driver that shows what the guest sees."""
        return 'luks' if self.encrypted and self.fmt == RAW else self.fmt

    def node(self, backing: Optional[dict] = None,
             secret: str = _SECRET) -> dict:
        """This image as a qemu block node; a qcow2 node gets ``backing``.

        A qcow2 node always names its backing, None included: qemu then
        never opens the backing file its header names.
        """
        node: dict = {'driver': self.driver,
                      'file': {'driver': 'file', 'filename': self.path}}
        if self.encrypted:
            key = 'key-secret' if self.driver == 'luks' else \
                'encrypt.key-secret'
            node[key] = secret
        if self.fmt == QCOW2:
            node['backing'] = backing
        return node


@dataclasses.dataclass(frozen=True)
class Chain:
    """A volume's active image and the images below it, top first."""

    images: tuple[Image, ...]
    # What the active image holds, when the chain was read from the share.
    active_header: Optional[Header] = dataclasses.field(default=None,
                                                        compare=False)

    @property
    def active(self) -> Image:
        return self.images[0]

    def below(self, name: str) -> Chain:
        """The chain from the image named ``name`` down."""
        for index, image in enumerate(self.images):
            if image.name == name:
                return Chain(self.images[index:])
        raise UnsafeImage(path=name, reason=_(
            'it is not in the chain of the active image'))

    def backing_of(self, name: str) -> Optional[Image]:
        below = self.below(name).images
        return below[1] if len(below) > 1 else None

    def names(self) -> list[str]:
        return [image.name for image in self.images]

    def node(self, secret: str = _SECRET) -> dict:
        node: Optional[dict] = None
        for image in reversed(self.images):
            node = image.node(node, secret)
        assert node is not None
        return node

    def filename(self, secret: str = _SECRET) -> str:
        """The chain as a qemu ``json:`` filename, every node explicit."""
        return 'json:' + json.dumps(self.node(secret), sort_keys=True)


@dataclasses.dataclass(frozen=True)
class Header:
    """What the first cluster of an image says about it."""

    virtual_size: int
    backing_file: Optional[str] = None
    backing_format: Optional[str] = None
    encrypted: bool = False
    data_file: bool = False
    # Where the L1 table is and how many entries it has (qcow2).
    l1_table: tuple[int, int] = (0, 0)


def check_regular(path: str) -> os.stat_result:
    """lstat a volume file: a regular file with one link, or refuse it.

    A symbolic link, a FIFO or a device node planted in the share, or a
    hard link to another volume's file, is never read, copied or resized.
    """
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        raise UnsafeImage(path=path, reason=_('it does not exist'))
    if not stat.S_ISREG(st.st_mode):
        raise UnsafeImage(path=path, reason=_('it is not a regular file'))
    if st.st_nlink != 1:
        raise UnsafeImage(path=path, reason=_(
            'it has %d links; a volume file has one') % st.st_nlink)
    return st


def parse_qcow2_header(path: str, data: bytes) -> Optional[Header]:
    """Parse a qcow2 header; None if ``data`` does not start with one."""
    if len(data) < _QCOW2_HEADER.size or not data.startswith(_QCOW2_MAGIC):
        return None
    (_magic, version, backing_offset, backing_size, cluster_bits, size,
     crypt_method) = _QCOW2_HEADER.unpack_from(data)
    if version not in (2, 3) or not 9 <= cluster_bits <= _MAX_CLUSTER_BITS:
        raise UnsafeImage(path=path, reason=_('its qcow2 header is invalid'))
    header_length, incompatible = 72, 0
    if version == 3:
        incompatible, _compat, _autoclear, _refcount, header_length = (
            _QCOW2_V3_HEADER.unpack_from(data, 72))
    if incompatible & ~_INCOMPAT_KNOWN:
        raise UnsafeImage(path=path, reason=_(
            'its qcow2 header has features qemu-img may not know'))
    backing_format, data_file = None, bool(
        incompatible & _INCOMPAT_DATA_FILE)
    offset = header_length
    while offset + _EXT.size <= len(data):
        ext_type, length = _EXT.unpack_from(data, offset)
        offset += _EXT.size
        if ext_type == 0:
            break
        value = data[offset:offset + length]
        if ext_type == _EXT_BACKING_FORMAT:
            backing_format = value.decode('ascii', 'replace')
        elif ext_type == _EXT_DATA_FILE:
            data_file = True
        offset += (length + 7) & ~7
    backing_file = None
    if backing_offset:
        end = backing_offset + backing_size
        if end > min(len(data), 1 << cluster_bits):
            raise UnsafeImage(path=path, reason=_(
                'its backing file name lies outside its first cluster'))
        backing_file = data[backing_offset:end].decode('utf-8', 'replace')
    l1_size, l1_offset = _QCOW2_L1.unpack_from(data, _QCOW2_L1_OFFSET)
    return Header(virtual_size=size, backing_file=backing_file,
                  backing_format=backing_format,
                  encrypted=crypt_method != 0, data_file=data_file,
                  l1_table=(l1_offset, l1_size))


def luks_payload_offset(data: bytes) -> Optional[int]:
    """The bytes before a LUKS1 container's payload; None if not LUKS."""
    if not data.startswith(_LUKS_MAGIC) or len(data) < 108:
        return None
    return _LUKS_PAYLOAD.unpack_from(data, _LUKS_PAYLOAD_OFFSET)[0] * 512


class ImageReader(object):
    """Reads what images say about themselves, never following a link."""

    def __init__(self, execute: Callable, run_as_root: bool) -> None:
        self._execute = execute
        self.run_as_root = run_as_root

    def _read(self, path: str, nbytes: int, offset: int = 0) -> bytes:
        """Bytes of a file, read as root if the files are root's.

        dd opens with O_NOFOLLOW and O_NONBLOCK: a link swapped in after
        the lstat fails the read, and a FIFO cannot block it.
        """
        out, _err = self._execute(
            'dd', 'if=%s' % path, 'bs=%d' % nbytes, 'count=1',
            'skip=%d' % offset, 'iflag=nofollow,nonblock,fullblock,'
            'skip_bytes', 'status=none',
            run_as_root=self.run_as_root, binary=True)
        return out

    def holds_data(self, image: Image) -> bool:
        """Whether a qcow2 image has ever had a cluster written.

        A guest's first write to an image allocates an L2 table, which
        sets an entry of the L1 table: an overlay whose L1 table is all
        zeros holds nothing, whatever wrote to it.
        """
        offset, entries = self.header(image).l1_table
        if not entries:
            return False
        table = self._read(image.path, entries * 8, offset)
        return table != bytes(entries * 8)

    def header(self, image: Image) -> Header:
        """What ``image`` holds, in the format it is known to have."""
        st = check_regular(image.path)
        if image.fmt == RAW:
            if not image.encrypted:
                return Header(virtual_size=st.st_size)
            offset = luks_payload_offset(self._read(image.path, 512))
            if offset is None:
                raise UnsafeImage(path=image.path, reason=_(
                    'it is not the LUKS container of an encrypted volume'))
            return Header(virtual_size=st.st_size - offset, encrypted=True)
        data = self._read(image.path, _HEADER_BYTES)
        if data.startswith(_QCOW2_MAGIC) and len(data) == _HEADER_BYTES:
            # The backing file name may be anywhere in the first cluster.
            cluster_bits = struct.unpack_from('>I', data, 20)[0]
            if _HEADER_BYTES < 1 << min(cluster_bits, _MAX_CLUSTER_BITS):
                data = self._read(image.path, 1 << cluster_bits)
        header = parse_qcow2_header(image.path, data)
        if header is None:
            raise UnsafeImage(path=image.path, reason=_(
                'it is not a qcow2 image'))
        if header.data_file:
            raise UnsafeImage(path=image.path, reason=_(
                'it names an external data file'))
        if header.encrypted != image.encrypted:
            raise UnsafeImage(path=image.path, reason=_(
                'its encryption is not that of its volume'))
        return header

    def chain(self, directory: str, volume_name: str, info: dict,
              base: Image) -> Chain:
        """Walk a volume's chain from its active image, checking each step.

        Overlays must be named in ``info`` (the .info file), must be qcow2
        and must name as backing file an image of the same volume, in the
        same directory, in the format that image has; no image twice.
        The walk ends at the base file, or at an overlay with no backing
        file: Nova pulls the base into the active image when the oldest
        snapshot of an attached volume is deleted, and that overlay stays
        the bottom of the chain, unnamed by the .info file once the next
        snapshot is taken.
        """
        overlays = set(info.values()) - {volume_name}
        name = info.get('active', volume_name)
        images: list[Image] = []
        active_header: Optional[Header] = None
        while True:
            if name in (image.name for image in images):
                raise UnsafeImage(path=os.path.join(directory, name),
                                  reason=_('the chain loops'))
            if name == volume_name:
                header = self.header(base)
                return Chain((*images, base), active_header or header)
            unnamed = name not in overlays
            if unnamed and not (images and
                                name.startswith(volume_name + '.')):
                raise UnsafeImage(path=os.path.join(directory, name),
                                  reason=_('the .info file does not name it'))
            image = Image(os.path.join(directory, name), QCOW2,
                          base.encrypted)
            header = self.header(image)
            active_header = active_header or header
            images.append(image)
            if header.backing_file is None:
                return Chain(tuple(images), active_header)
            if unnamed:
                raise UnsafeImage(path=image.path, reason=_(
                    'the .info file does not name it, and it is not the '
                    'bottom of the chain'))
            name = self._backing_name(image, header, directory)
            expected = base.driver if name == volume_name else QCOW2
            if name in overlays | {volume_name} and \
                    header.backing_format not in (None, expected):
                raise UnsafeImage(path=image.path, reason=_(
                    'its backing file is recorded as %(fmt)s, not '
                    '%(expected)s') % {'fmt': header.backing_format,
                                       'expected': expected})

    @staticmethod
    def _backing_name(image: Image, header: Header, directory: str) -> str:
        """The backing file's name, if it is in the image's directory."""
        backing = header.backing_file or ''
        if os.path.isabs(backing) and os.path.dirname(backing) == directory:
            backing = os.path.basename(backing)
        if not backing or os.path.basename(backing) != backing or \
                backing in ('.', '..'):
            raise UnsafeImage(path=image.path, reason=_(
                'its backing file %r is not in its directory') % backing)
        return backing


def _luks_timing_failed(
        failure: type | tuple[type, ...]) -> tenacity.retry_base:
    """Retry a failure of that type whose stderr says LUKS timing failed."""
    return tenacity.retry_if_exception(
        lambda exc: isinstance(exc, failure) and
        _LUKS_TIMING_FAILED in (getattr(exc, 'stderr', None) or ''))


class QemuImg(object):
    """Every qemu-img command the driver runs, each naming every format.

    Images are given as :class:`Image` or :class:`Chain` values, never as
    bare paths: there is no way to call qemu-img here without saying what
    each file is.
    """

    def __init__(self, execute: Callable, run_as_root: bool) -> None:
        self._execute = execute
        self.run_as_root = run_as_root

    @utils.retry(processutils.ProcessExecutionError,
                 interval=_LUKS_PAUSE_SECONDS, retries=_LUKS_ATTEMPTS,
                 backoff_rate=_LUKS_PAUSE_GROWTH,
                 retry=_luks_timing_failed)
    def _run(self, *args: str, prefix: Sequence[str] = ()) -> None:
        """Run qemu-img; again, after a pause, when LUKS timing fails."""
        self._execute(*prefix, 'qemu-img', *args, run_as_root=self.run_as_root)

    @staticmethod
    def _secrets(*files: Optional[str]) -> list[str]:
        args: list[str] = []
        for secret, path in zip((_SECRET, _NEW_SECRET), files):
            if path:
                args += ['--object',
                         'secret,id=%s,format=raw,file=%s' % (secret, path)]
        return args

    def create(self, path: str, size_gb: int,
               passphrase_file: Optional[str] = None,
               encrypt_opts: str = '') -> None:
        """A new qcow2 image of a volume, with LUKS inside if keyed."""
        opts = 'preallocation=metadata'
        if passphrase_file:
            opts = 'encrypt.format=luks,encrypt.key-secret=%s%s' % (
                _SECRET, encrypt_opts)
        self._run('create', *self._secrets(passphrase_file), '-f', QCOW2,
                  '-o', opts, path, '%dG' % size_gb)

    def create_overlay(self, path: str, backing: Image, size_gb: int,
                       passphrase_file: Optional[str] = None,
                       encrypt_opts: str = '') -> None:
        """A qcow2 overlay of ``backing`` (a name in the same directory).

        ``-u``: the backing file is not opened to make it.
        """
        opts = 'backing_fmt=%s' % backing.driver
        if passphrase_file:
            opts += ',encrypt.format=luks,encrypt.key-secret=%s%s' % (
                _SECRET, encrypt_opts)
        self._run('create', *self._secrets(passphrase_file), '-f', QCOW2,
                  '-u', '-b', backing.name, '-o', opts, path,
                  '%dG' % size_gb)

    def rebase_unsafe(self, image: Image, backing: Optional[Image],
                      passphrase_file: Optional[str] = None) -> None:
        """Point an overlay's header at another backing file (or none)."""
        args = ['-b', backing.name, '-F', backing.driver] if backing \
            else ['-b', '']
        self._run('rebase', *self._secrets(passphrase_file), '-u', *args,
                  Chain((image,)).filename())

    def commit(self, chain: Chain,
               passphrase_file: Optional[str] = None) -> None:
        """Write the chain's top image into the image below it.

        ``-d``: the committed image is kept; the caller deletes it once
        nothing names it.
        """
        self._run('commit', *self._secrets(passphrase_file), '-d',
                  chain.filename())

    def resize(self, image: Image, size_gb: int,
               passphrase_file: Optional[str] = None) -> None:
        self._run('resize', *self._secrets(passphrase_file),
                  Chain((image,)).filename(), '%dG' % size_gb)

    def convert(self, source: Chain, dest: str, out_format: str,
                passphrase_file: Optional[str] = None,
                new_passphrase_file: Optional[str] = None,
                out_opts: Sequence[str] = ()) -> None:
        """Write what a guest sees in ``source`` into a new ``dest``.

        An encrypted destination is a LUKS container (``out_format``
        'luks') keyed with ``new_passphrase_file``.
        """
        args = ['convert', *self._secrets(passphrase_file,
                                          new_passphrase_file),
                '-O', out_format]
        if new_passphrase_file:
            args += ['-o', 'key-secret=%s' % _NEW_SECRET]
        for opt in out_opts:
            args += ['-o', opt]
        throttle = throttling.Throttle.get_default()
        with throttle.subcommand(source.active.path, dest) as throttle_cmd:
            self._run(*args, source.filename(), dest,
                      prefix=throttle_cmd['prefix'])

    @staticmethod
    def encrypt_options(cipher: str, key_size: int) -> str:
        """The ``encrypt.*`` create options of a volume type's cipher."""
        spec = image_utils.decode_cipher(cipher, key_size)
        return (',encrypt.cipher-alg=%(cipher_alg)s,'
                'encrypt.cipher-mode=%(cipher_mode)s,'
                'encrypt.ivgen-alg=%(ivgen_alg)s' % spec)
