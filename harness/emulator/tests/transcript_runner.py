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

"""Replay a transcript's commands on the emulator, in its own namespace.

Run by tests/test_transcript.py as
``unshare -m --propagation private python3 transcript_runner.py IN OUT``:
in that private mount namespace it puts a tmpfs on /mnt (so the
transcript's /mnt/lustre and /mnt/x are used verbatim), an overlay on
/usr/sbin holding this checkout's mount.lustre (util-linux runs
/sbin/mount.lustre), a bin directory with this checkout's lfs first in
PATH, mounts the share as the transcript's client did, then runs each
command with ``bash -c`` and records stdout, stderr and the exit status.
Nothing of this is visible outside the namespace.

IN: {"emulator": dir, "root": emulator root, "setup": [[lustre-emulator
     args], ...], "source": share, "mountpoint": dir, "mkdirs": [...],
     "mkdirs_after_mount": [...], "commands": [command or null (= the
     mount table), ...]}
OUT: [{"command", "out", "err", "rc"} | {"mounts": [lines]}, ...]
"""

import json
import os
import subprocess
import sys
import tempfile


def run(*cmd: str, **kwargs) -> subprocess.CompletedProcess:
    """Run a setup command; stop with its output if it fails."""
    proc = subprocess.run(cmd, capture_output=True, text=True, **kwargs)
    if proc.returncode:
        sys.stderr.write('%s: rc=%d %s%s' % (' '.join(cmd), proc.returncode,
                                             proc.stdout, proc.stderr))
        sys.exit(1)
    return proc


def private_tools(emulator: str, scratch: str) -> str:
    """mount.lustre in /sbin (an overlay) and lfs first in PATH."""
    upper = os.path.join(scratch, 'sbin-upper')
    work = os.path.join(scratch, 'sbin-work')
    os.makedirs(upper)
    os.makedirs(work)
    run('mount', '-t', 'overlay', 'overlay', '-o',
        'lowerdir=/usr/sbin,upperdir=%s,workdir=%s' % (upper, work),
        '/usr/sbin')
    helper = '/usr/sbin/mount.lustre'
    if os.path.lexists(helper):
        os.unlink(helper)
    os.symlink(os.path.join(emulator, 'mount.lustre'), helper)
    bindir = os.path.join(scratch, 'bin')
    os.makedirs(bindir)
    os.symlink(os.path.join(emulator, 'lfs'), os.path.join(bindir, 'lfs'))
    return bindir


def main() -> int:
    """Set up, replay, write the results."""
    with open(sys.argv[1], encoding='utf-8') as handle:
        job = json.load(handle)
    scratch = tempfile.mkdtemp(prefix='transcript-ns-')
    bindir = private_tools(job['emulator'], scratch)
    run('mount', '-t', 'tmpfs', 'tmpfs', '/mnt')
    for path in job['mkdirs']:
        os.makedirs(path, exist_ok=True)
    env = dict(os.environ, LUSTRE_EMULATOR_ROOT=job['root'],
               PATH='%s:%s' % (bindir, os.environ.get('PATH', '/usr/bin')),
               LC_ALL='C')
    # The file system (and the loop mount of a zfs-like one) is made in
    # this namespace too: it goes away with it.
    for args in job.get('setup', []):
        run(os.path.join(job['emulator'], 'lustre-emulator'), *args,
            env=env)
    run('mount', '-t', 'lustre', job['source'], job['mountpoint'], env=env)
    for path in job.get('mkdirs_after_mount', []):
        os.makedirs(path, exist_ok=True)
    results = []
    for command in job['commands']:
        if command is None:
            proc = run(os.path.join(job['emulator'], 'lustre-emulator'),
                       'proc-mounts', env=env)
            results.append({'mounts': proc.stdout.splitlines()})
            continue
        proc = subprocess.run(['bash', '-c', command], capture_output=True,
                              text=True, env=env, cwd='/')
        results.append({'command': command, 'out': proc.stdout,
                        'err': proc.stderr, 'rc': proc.returncode})
    subprocess.run(['umount', job['mountpoint']], env=env,
                   capture_output=True)
    subprocess.run([os.path.join(job['emulator'], 'lustre-emulator'),
                    'teardown'], env=env, capture_output=True)
    with open(sys.argv[2], 'w', encoding='utf-8') as handle:
        json.dump(results, handle, indent=1)
    return 0


if __name__ == '__main__':
    sys.exit(main())
