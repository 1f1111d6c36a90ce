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

"""Stale mounts made of a FUSE filesystem whose daemon is gone or failing.

An evicted Lustre client fails every access to the mount point with
ENOTCONN, ESHUTDOWN ("Cannot send after transport endpoint shutdown")
or EIO.  A bind mount cannot do that, so the fault:

1. lazily detaches the bind mount (``umount2(MNT_DETACH)``);
2. opens ``/dev/fuse`` and mounts a FUSE filesystem (type
   ``fuse.lustre``, source = the share string) on the same mount point
   with plain mount(2) through ctypes -- no libfuse, no fusepy;
3. for ENOTCONN closes the only ``/dev/fuse`` descriptor at once: that
   is exactly what the kernel sees when a FUSE daemon dies, the
   connection is aborted and every stat() gets ENOTCONN;
   for any other errno it forks a tiny daemon that answers FUSE_INIT
   and then fails every request with that errno.  The daemon exits by
   itself when the mount goes away (read() returns ENODEV).
"""

import errno
import json
import os
import select
import signal
import struct
import time
import typing

from lustre_emu import common

FUSE_INIT = 26
FUSE_FORGET = 2
FUSE_BATCH_FORGET = 42
FUSE_INTERRUPT = 36
IN_HEADER = struct.Struct('<IIQQIIIHH')     # 40 bytes
OUT_HEADER = struct.Struct('<IiQ')          # 16 bytes
INIT_OUT = struct.Struct('<IIIIHHIIHHI7I')  # 64 bytes


def _serve(fd: int, code: int,
           deadline: typing.Optional[float] = None) -> bool:
    """FUSE request loop: answer INIT, fail everything else.

    Return True when ``deadline`` passed (the client reconnects), False
    when the mount went away.
    """
    while True:
        if deadline is not None:
            left = deadline - time.monotonic()
            if left <= 0:
                return True
            try:
                ready, _w, _x = select.select([fd], [], [], left)
            except InterruptedError:
                continue
            if not ready:
                continue
        try:
            buf = os.read(fd, 1 << 17)
        except OSError as exc:
            if exc.errno in (errno.EINTR, errno.EAGAIN, errno.ENOENT):
                continue
            return False                # ENODEV: unmounted
        if len(buf) < IN_HEADER.size:
            continue
        _len, opcode, unique = IN_HEADER.unpack_from(buf)[:3]
        if opcode in (FUSE_FORGET, FUSE_BATCH_FORGET, FUSE_INTERRUPT):
            continue
        if opcode == FUSE_INIT:
            body = INIT_OUT.pack(7, 31, 0, 0, 1, 1, 4096, 1, 1, 0, 0,
                                 *([0] * 7))
            reply = OUT_HEADER.pack(OUT_HEADER.size + len(body), 0,
                                    unique) + body
        else:
            reply = OUT_HEADER.pack(OUT_HEADER.size, -code, unique)
        try:
            os.write(fd, reply)
        except OSError:
            pass


def reconnect(mountpoint: str, backing: str,
              options: typing.List[str]) -> None:
    """Put the share back in place of the failing FUSE mount.

    What a Lustre client does by itself after an eviction: its imports
    reconnect and new operations work again.  The record loses its stale
    state.
    """
    from lustre_emu import share as share_mod
    opts = share_mod.parse_options(','.join(options), sloppy=True)
    with common.locked():
        records = common.read_json(common.mounts_path(), {})
        rec = records.get(mountpoint)
        if rec is None or not rec.get('stale'):
            return
        common.sys_umount(mountpoint, common.MNT_DETACH)
        common.sys_mount(backing, mountpoint, None, common.MS_BIND)
        if opts.flags:
            common.sys_mount(backing, mountpoint, None, common.MS_REMOUNT |
                             common.MS_BIND | opts.flags)
        rec['stale'] = None
        records[mountpoint] = rec
        common.write_json(common.mounts_path(), records)
    with open(os.path.join(common.state_dir(), 'mount.log'), 'a',
              encoding='utf-8') as handle:
        handle.write(json.dumps({'reconnected': mountpoint,
                                 'time': time.time()}) + '\n')


def _spawn_daemon(fd: int, code: int,
                  heal: typing.Optional[dict] = None) -> int:
    """Double-fork a daemon serving ``fd``; return its pid."""
    rfd, wfd = os.pipe()
    pid = os.fork()
    if pid == 0:                        # first child
        try:
            os.setsid()
            grandchild = os.fork()
            if grandchild:
                os.write(wfd, b'%d' % grandchild)
                os._exit(0)
            os.close(rfd)
            os.close(wfd)
            devnull = os.open(os.devnull, os.O_RDWR)
            for std in (0, 1, 2):
                os.dup2(devnull, std)
            os.closerange(3, fd)
            os.closerange(fd + 1, 65536)
            if heal is None:
                _serve(fd, code)
            elif _serve(fd, code, heal['deadline']):
                os.environ['LUSTRE_EMULATOR_ROOT'] = heal['root']
                reconnect(heal['mountpoint'], heal['backing'],
                          heal['options'])
        finally:
            os._exit(0)
    os.close(wfd)
    data = os.read(rfd, 32)
    os.close(rfd)
    os.waitpid(pid, 0)
    return int(data)


def make_stale(mountpoint: str, source: str, code: int,
               reconnect_after: typing.Optional[float] = None,
               backing: str = '', options: typing.Optional[list] = None,
               root: str = '') -> typing.Optional[int]:
    """Replace the bind mount at ``mountpoint`` by a dead FUSE mount.

    Return the pid of the failing daemon, or None for ENOTCONN.  With
    ``reconnect_after`` (an eviction) the daemon puts the share back
    after that many seconds, as a client that reconnects.
    """
    fd = os.open('/dev/fuse', os.O_RDWR | os.O_CLOEXEC)
    try:
        common.sys_umount(mountpoint, common.MNT_DETACH)
        common.sys_mount(
            source, mountpoint, 'fuse.lustre',
            common.MS_NOSUID | common.MS_NODEV,
            'fd=%d,rootmode=40000,user_id=0,group_id=0,allow_other' % fd)
        if reconnect_after is not None:
            return _spawn_daemon(fd, code, {
                'deadline': time.monotonic() + reconnect_after,
                'mountpoint': mountpoint, 'backing': backing,
                'options': options or [], 'root': root})
        if code == errno.ENOTCONN:
            return None
        return _spawn_daemon(fd, code)
    finally:
        os.close(fd)


def kill_daemon(pid: typing.Optional[int]) -> None:
    """Stop a failing daemon if it still runs (it is ours: we forked it)."""
    if not pid:
        return
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    for _ in range(50):
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.02)
