#!/usr/bin/env python3
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

"""A ``mount.nfs`` that bind-mounts, for cinder's NFS drivers in the bench.

``mount -t nfs HOST:/PATH DIR -o OPTS`` makes util-linux run
``/sbin/mount.nfs HOST:/PATH DIR -o OPTS``; this helper bind-mounts PATH
(a local directory, the emulator's backing directory) on DIR instead.  Run
without arguments (what NfsDriver.do_setup does to see that the client is
installed) it prints its usage and exits 1, like the real one.

``install()`` puts a symlink to this file at /sbin/mount.nfs only if
nothing is there, and ``remove()`` removes it only if it is still that
symlink: an installed NFS client is never replaced.
"""

import os
import subprocess
import sys

HELPER = '/sbin/mount.nfs'
SELF = os.path.abspath(__file__)


def install():
    """Install the helper; return what was installed (None: nothing)."""
    if os.path.lexists(HELPER):
        return None
    os.symlink(SELF, HELPER)
    return {'path': HELPER, 'symlink_to': SELF}


def remove(installed):
    """Remove the helper if this run installed it and it is unchanged."""
    if not installed:
        return False
    if os.path.islink(HELPER) and os.readlink(HELPER) == SELF:
        os.unlink(HELPER)
        return True
    return False


def main(argv):
    if len(argv) < 2:
        sys.stderr.write('usage: mount.nfs remotetarget dir [-rvVwfnsh] '
                         '[-o nfsoptions]\n')
        return 1
    source, target = argv[0], argv[1]
    path = source.split(':', 1)[1] if ':' in source else source
    return subprocess.run(['mount', '--bind', path, target]).returncode


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
