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

"""The files of a Lustre volume: which are its own, how they are read and
copied, and the passphrases that open encrypted ones.

Any host that mounts a share can put a link, a FIFO or a forged name where
a volume's file is expected: nothing here follows a link or trusts a name
it has not checked.
"""

from __future__ import annotations

import binascii
import contextlib
import os
import tempfile
from typing import Any, Callable, Iterator, Optional  # noqa: H301

from castellan import key_manager
from oslo_config import cfg

from cinder import context
from cinder.i18n import _
from cinder.volume.drivers import lustre_client
from cinder.volume.drivers import lustre_images as images
from cinder.volume import volume_utils

CONF = cfg.CONF


def is_own_file_name(volume_name: str, name: Any) -> bool:
    """Whether a .info name is a plain file name of the volume's own."""
    return (isinstance(name, str) and os.path.basename(name) == name and
            (name == volume_name or name.startswith(volume_name + '.')) and
            not name.endswith('.info'))


def own_file_path(directory: str, volume_name: str, name: Any) -> str:
    """The path of a file a volume's .info names; refuse any other."""
    if not is_own_file_name(volume_name, name):
        raise lustre_client.LustreException(msg=_(
            '%(dir)s/%(vol)s.info names %(name)r, which is not a file of '
            'that volume; the .info file may be corrupt') % {
            'dir': directory, 'vol': volume_name, 'name': name})
    return os.path.join(directory, name)


def has_snapshots(info: dict) -> bool:
    """Whether a volume's .info file names a snapshot, not only 'active'."""
    return bool(set(info) - {'active'})


def read_text(path: str) -> str:
    """Read a small regular file without following a link or blocking."""
    images.check_regular(path)
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    with os.fdopen(fd) as f:
        return f.read()


def sparse_copy(execute: Callable, src_path: str, dest_path: str,
                run_as_root: bool) -> None:
    """Copy a raw image, keeping holes and the target's layout."""
    images.check_regular(src_path)
    if os.path.lexists(dest_path):
        images.check_regular(dest_path)
    # Into the existing target, created with its Lustre layout: cp
    # writes into it rather than replacing it.
    execute('cp', '--sparse=always', '--', src_path, dest_path,
            run_as_root=run_as_root)


@contextlib.contextmanager
def passphrase_file(ctxt: context.RequestContext,
                    key_id: Optional[str]) -> Iterator[Optional[str]]:
    """A private file holding a key's passphrase; None without a key."""
    if not key_id:
        yield None
        return
    key = key_manager.API(CONF).get(ctxt, key_id)
    passphrase = binascii.hexlify(key.get_encoded()).decode('utf-8')
    with tempfile.NamedTemporaryFile(
            mode='w', prefix='luks_',
            dir=volume_utils.image_conversion_dir()) as f:
        f.write(passphrase)
        f.flush()
        yield f.name


def volume_passphrase(volume: Any) -> contextlib.AbstractContextManager:
    """passphrase_file of a volume's own key."""
    return passphrase_file(volume.obj_context, volume.encryption_key_id)


def encrypt_options(volume: Any) -> str:
    """qemu-img's options for a new image of the volume's encryption."""
    if not volume.encryption_key_id:
        return ''
    encryption = volume_utils.check_encryption_provider(
        volume, volume.obj_context)
    return images.QemuImg.encrypt_options(encryption['cipher'],
                                          encryption['key_size'])
