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

"""Test fixtures: a temporary emulator root per test case."""

import os
import shutil
import subprocess
import tempfile
import typing
import unittest

from lustre_emu import common

HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TOOLS = {name: os.path.join(HERE, name)
         for name in ('lfs', 'mount.lustre', 'lustre-emulator')}


class Result(typing.NamedTuple):
    """A finished command."""

    rc: int
    out: str
    err: str


class EmulatorTestCase(unittest.TestCase):
    """Creates ``testfs`` and ``scratch`` in a fresh root; cleans up."""

    def setUp(self) -> None:
        super().setUp()
        self.tmp = tempfile.mkdtemp(prefix='lustre-emu-test-')
        self.addCleanup(self._cleanup_tmp)
        self.root = os.path.join(self.tmp, 'root')
        old = os.environ.get('LUSTRE_EMULATOR_ROOT')
        os.environ['LUSTRE_EMULATOR_ROOT'] = self.root
        self.addCleanup(self._restore_env, old)
        self.run_ok('lustre-emulator', 'setup', '--no-install')
        self.fsroot = common.backing_root('testfs')

    @staticmethod
    def _restore_env(old: typing.Optional[str]) -> None:
        if old is None:
            os.environ.pop('LUSTRE_EMULATOR_ROOT', None)
        else:
            os.environ['LUSTRE_EMULATOR_ROOT'] = old

    def _cleanup_tmp(self) -> None:
        """Detach anything still mounted under the test dir, then rm."""
        real = os.path.realpath(self.tmp)
        for entry in reversed(common.mountinfo()):
            if entry['mountpoint'].startswith(real + '/'):
                try:
                    common.sys_umount(entry['mountpoint'],
                                      common.MNT_DETACH)
                except OSError:
                    pass
        shutil.rmtree(self.tmp, ignore_errors=True)

    def run_tool(self, tool: str, *args: str) -> Result:
        """Run one of the emulator's commands."""
        cmd = [TOOLS.get(tool, tool)] + list(args)
        proc = subprocess.run(cmd, capture_output=True, text=True,
                              timeout=60, env=dict(os.environ))
        return Result(proc.returncode, proc.stdout, proc.stderr)

    def run_ok(self, tool: str, *args: str) -> str:
        """Run a command that must succeed; return its stdout."""
        res = self.run_tool(tool, *args)
        self.assertEqual(0, res.rc, '%s %s: %s' % (tool, args, res.err))
        return res.out

    def lfs(self, *args: str) -> str:
        """Run lfs successfully."""
        return self.run_ok('lfs', *args)

    def path(self, *parts: str) -> str:
        """A path inside testfs's backing directory."""
        return os.path.join(self.fsroot, *parts)

    def write(self, path: str, mib: int) -> None:
        """Write real (non-sparse) data."""
        with open(path, 'ab') as handle:
            for _ in range(mib):
                handle.write(b'\x5a' * 1048576)
            handle.flush()
            os.fsync(handle.fileno())
