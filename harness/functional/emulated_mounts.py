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

"""The emulator's mounts as the drivers see a Lustre client's.

A real Lustre client mount shows the type ``lustre`` in /proc/mounts, and
the drivers refuse a mount point that shows another
(``LustreMounter.is_mounted``). The emulator's mount.lustre bind-mounts a
directory (and a stale mount is a FUSE mount), so its mounts show the type
of that directory's file system instead; no user-space program can mount a
file system of type ``lustre``. Every process that runs the drivers on the
emulator therefore reads the mount table through ``emulated``: a mount
that is the emulator's reads as ``lustre``, every other mount keeps its
type, so a foreign file system at a mount point is still refused. The
emulator's mounts are the bind mounts of its backing directories and its
stale (``fuse.lustre``) mounts, as /proc/self/mountinfo shows them, and the
mount points its records name (a backing directory may be a tmpfs of its
own, whose bind mount mountinfo cannot tell from another tmpfs).

``install()`` does it in this process (the functional tests, the
benchmarks, cinderlib). ``python emulated_mounts.py SERVICE ARGS...`` runs
``cinder-SERVICE`` (volume, backup) with it, for the stack.
``unmount_below()`` takes down what a test mounted, for all three.
"""

import importlib
import json
import os
import re
import subprocess
import sys

ROOT = os.environ.get('LUSTRE_EMULATOR_ROOT', '/var/lib/lustre-emulator')
_ESCAPE_RE = re.compile(r'\\([0-3][0-7]{2})')


def _unescape(field):
    return _ESCAPE_RE.sub(lambda match: chr(int(match.group(1), 8)), field)


def emulator_mount_points():
    """The mount points of the emulator's mounts, in this namespace."""
    found = set()
    backing = os.path.join(ROOT, 'fs') + '/'
    with open('/proc/self/mountinfo', encoding='utf-8',
              errors='surrogateescape') as f:
        for line in f:
            mount, _sep, source = line.partition(' - ')
            fields = mount.split()
            if (_unescape(fields[3]).startswith(backing) or
                    source.split()[:1] == ['fuse.lustre']):
                found.add(_unescape(fields[4]))
    try:
        with open(os.path.join(ROOT, 'state', 'mounts.json'),
                  encoding='utf-8') as f:
            found.update(json.load(f))
    except FileNotFoundError:
        pass
    return found


def _mount_points():
    """The mount points of /proc/self/mounts, in mount order."""
    with open('/proc/self/mounts', encoding='utf-8',
              errors='surrogateescape') as f:
        return [_unescape(line.split()[1]) for line in f]


def unmount_below(directory):
    """Unmount (lazily) every mount below directory, the last first."""
    prefix = directory.rstrip('/') + '/'
    for mount_point in reversed(_mount_points()):
        # Mounts stacked on one mount point: one umount each.
        while (mount_point.startswith(prefix) and
               mount_point in _mount_points() and
               subprocess.run(['umount', '-l', mount_point],
                              check=False).returncode == 0):
            pass


def emulated(read_mount_points):
    """read_mount_points, with the emulator's mounts of type lustre."""
    def read(*args, **kwargs):
        mounts = read_mount_points(*args, **kwargs)
        for mount_point in emulator_mount_points() & set(mounts):
            mounts[mount_point] = 'lustre'
        return mounts
    return read


def install():
    """Read the mount table through ``emulated``; return the undo."""
    from cinder.volume.drivers import lustre_client

    original = lustre_client.read_mount_points
    lustre_client.read_mount_points = emulated(original)
    return lambda: setattr(lustre_client, 'read_mount_points', original)


def main(argv):
    service = argv[1]
    # First, as its console script does: it patches eventlet on import.
    module = importlib.import_module('cinder.cmd.%s' % service)
    install()
    sys.argv = ['cinder-%s' % service] + argv[2:]
    return module.main()


if __name__ == '__main__':
    sys.exit(main(sys.argv))
