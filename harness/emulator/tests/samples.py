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

"""Per-version samples of what lfs and mount.lustre print.

``python3 -m tests.samples write`` (root; from harness/emulator) renders
them into tests/data/samples/<version>/<name>.txt by running a fixed
scenario on each profile in a private mount namespace (the file system
``lustre`` mounted on /mnt/lustre, as tests/transcript_runner.py does);
tests/test_samples.py renders them again and compares.  Each file starts
with ``# `` header lines: the command, the profile, the lustre-release
tag and functions the format comes from, the exit status and any
standard error (``# stderr| LINE``); the rest is standard output,
verbatim.  The driver's unit tests can parse them as real output of
each version.
"""

import json
import os
import subprocess
import sys
import tempfile
import typing

from lustre_emu import versions

HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SAMPLES = os.path.join(HERE, 'tests', 'data', 'samples')
TAGS = {'2.12': 'v2_12_9', '2.14': 'v2_14_0', '2.15': 'v2_15_4',
        '2.16': 'v2_16_1', '2.17': 'v2_17_0'}
EMU = os.path.join(HERE, 'lustre-emulator')
M = '/mnt/lustre'

DF = 'lustre/utils/lfs.c lfs_df(), mntdf(), showdf()'
GETSTRIPE = ('lustre/utils/liblustreapi.c lov_dump_user_lmm_header(), '
             'lov_dump_user_lmm_v1v3(), lov_dump_comp_v1()')
SETSTRIPE = ('lustre/utils/lfs.c lfs_setstripe_internal(), '
             'liblustreapi.c llapi_file_open_param(), '
             'liblustreapi_layout.c llapi_layout_file_open()')
QUOTA = 'lustre/utils/lfs.c lfs_quota(), print_quota_title(), print_quota()'
MOUNT = 'lustre/utils/mount_lustre.c main(), mount_utils.c'


class Sample(typing.NamedTuple):
    """One sample: its file name, the command and where its format is."""

    name: str
    command: str
    source: str


# Commands that prepare the next samples (not samples themselves).
Step = str

SCENARIO: typing.List[typing.Union[Sample, Step]] = [
    Sample('df', 'lfs df %s' % M, DF),
    Sample('df-h', 'lfs df -h %s' % M, DF + ', COOK'),
    Sample('df-i', 'lfs df -i %s' % M, DF),
    Sample('df-pool', 'lfs df --pool lustre.fast %s' % M, DF),
    Sample('df-pool-unknown', 'lfs df --pool lustre.nosuch %s' % M, DF),
    Sample('df-lazy', 'lfs df --lazy %s' % M, DF),
    Sample('df-not-lustre', 'lfs df /etc', DF),
    Sample('df-missing-path', 'lfs df /mnt/nosuch', DF),
    '%s fault ost lustre 1 --errno EIO' % EMU,
    Sample('df-statfs-error', 'lfs df %s' % M, DF),
    '%s fault ost lustre 1 --clear-ost' % EMU,
    '%s fault ost lustre 0 --state Df' % EMU,
    Sample('df-state-flags', 'lfs df %s' % M, DF + ', oss_names[]'),
    Sample('df-state-flags-v', 'lfs df -v %s' % M, DF + ', oss_names[]'),
    '%s fault ost lustre 0 --clear-ost' % EMU,
    Sample('getstripe-d-none', 'lfs getstripe -d %s/none' % M, GETSTRIPE +
           ', cb_getstripe()'),
    'lfs setstripe -c 2 -S 1M -p fast %s/plain' % M,
    Sample('getstripe-d-plain', 'lfs getstripe -d %s/plain' % M, GETSTRIPE),
    'lfs setstripe -E 64M -c 1 -S 1M -E -1 -c 2 -S 4M %s/pfl' % M,
    Sample('getstripe-d-pfl', 'lfs getstripe -d %s/pfl' % M, GETSTRIPE),
    'lfs setstripe -E 1M -L mdt -E -1 -c 2 %s/dom' % M,
    Sample('getstripe-d-dom', 'lfs getstripe -d %s/dom' % M, GETSTRIPE),
    'lfs setstripe -c 2 -p fast %s/none/plain' % M,
    Sample('getstripe-file-plain', 'lfs getstripe %s/none/plain' % M,
           GETSTRIPE),
    'lfs setstripe -E 64M -c 1 -S 1M -E -1 -c 2 -S 4M %s/none/pfl' % M,
    Sample('getstripe-file-pfl', 'lfs getstripe %s/none/pfl' % M,
           GETSTRIPE + ', lov_dump_comp_v1_entry()'),
    Sample('getstripe-file-yaml', 'lfs getstripe -y %s/none/pfl' % M,
           GETSTRIPE + ', lov_dump_comp_v1_header()'),
    Sample('getstripe-c', 'lfs getstripe -c %s/none/plain' % M, GETSTRIPE),
    Sample('setstripe-unknown-pool',
           'lfs setstripe -c 1 -p nosuch %s/none/x' % M, SETSTRIPE +
           ', llapi_stripe_param_verify()'),
    Sample('setstripe-pfl-unknown-pool',
           'lfs setstripe -E 4M -c 1 -S 1M -p nosuch -E -1 %s/none/y' % M,
           SETSTRIPE + ', llapi_layout_sanity_cb()'),
    Sample('setstripe-pfl-misaligned',
           'lfs setstripe -E 1M -c 1 -S 4M -E -1 %s/none/z' % M,
           SETSTRIPE + ', llapi_layout_sanity_perror(); '
           'lustre/lod/lod_lov.c lod_verify_striping()'),
    Sample('setstripe-count-2001', 'lfs setstripe -c 2001 %s/none/w' % M,
           SETSTRIPE + ', llapi_stripe_limit_check()'),
    Sample('setstripe-existing', 'lfs setstripe -c 1 %s/none/plain' % M,
           SETSTRIPE),
    Sample('migrate-missing', 'lfs migrate -c 1 %s/none/nosuch' % M,
           'lustre/utils/lfs.c lfs_migrate(), migrate_open_files()'),
    'lfs project -p 1002 %s/none/plain' % M,
    'dd if=/dev/zero of=%s/none/plain bs=1M count=3 conv=fsync '
    'status=none' % M,
    'lfs setquota -p 1002 -B 2M %s' % M,
    Sample('quota-over', 'lfs quota -p 1002 %s' % M, QUOTA),
    'lfs setquota -P -B 10G %s' % M,
    Sample('quota-default', 'lfs quota -p 2000 %s' % M, QUOTA +
           ', get_print_quota()/print_one_quota()'),
    Sample('quota-root', 'lfs quota -p 0 %s' % M, QUOTA),
    Sample('quota-show-default', 'lfs quota -P %s' % M, QUOTA),
    '%s set lustre.project_quota off' % EMU,
    Sample('quota-disabled', 'lfs quota -p 1002 %s' % M, QUOTA +
           ', get_print_quota()'),
    Sample('setquota-disabled', 'lfs setquota -p 1002 -B 1G %s' % M,
           'lustre/utils/lfs.c lfs_setquota()'),
    Sample('version', 'lfs --version', 'lustre/utils/lfs.c'),
    Sample('mount-no-fs', 'mount -t lustre 10.0.0.1@tcp:/nosuchfs /mnt/x',
           MOUNT),
    Sample('mount-mgs-unreachable',
           'mount -t lustre 10.0.0.9@tcp:/lustre /mnt/x', MOUNT),
    Sample('mount-bad-option',
           'mount -t lustre -o nosuchopt 10.0.0.1@tcp:/lustre /mnt/x',
           MOUNT + ' ; lustre/llite/llite_lib.c ll_options()'),
    Sample('mount-ipv6', 'mount -t lustre 2001:db8::1@tcp:/lustre /mnt/x '
           '&& umount /mnt/x', MOUNT + ' convert_hostnames()'),
]


def render(version: str) -> typing.Dict[str, dict]:
    """Run the scenario on one profile; {sample name: result}."""
    commands: typing.List[typing.Optional[str]] = [
        s.command if isinstance(s, Sample) else s for s in SCENARIO]
    with tempfile.TemporaryDirectory(prefix='samples-') as tmp:
        root = os.path.join(tmp, 'root')
        os.makedirs(root)
        with open(os.path.join(root, 'config.json'), 'w') as handle:
            json.dump({'version': version,
                       'mgs': {'hosts': ['10.0.0.1', '2001:db8::1'],
                               'down': []}}, handle)
        job = {
            'emulator': HERE, 'root': root,
            'setup': [['setup', '--no-install', '--version', version],
                      ['add-fs', 'lustre', '--osts', '2', '--ost-size',
                       '4G', '--mdt-size', '1G', '--pool', 'fast:1',
                       '--version', version]],
            'source': '10.0.0.1@tcp:/lustre', 'mountpoint': M,
            'mkdirs': [M, '/mnt/x'],
            'mkdirs_after_mount': ['%s/%s' % (M, d) for d in
                                   ('none', 'plain', 'pfl', 'dom')],
            'commands': commands,
        }
        job_path = os.path.join(tmp, 'job.json')
        out_path = os.path.join(tmp, 'out.json')
        with open(job_path, 'w') as handle:
            json.dump(job, handle)
        proc = subprocess.run(
            ['unshare', '-m', '--propagation', 'private', sys.executable,
             os.path.join(HERE, 'tests', 'transcript_runner.py'), job_path,
             out_path], capture_output=True, text=True, timeout=600)
        if proc.returncode:
            raise RuntimeError('scenario failed: %s%s' % (proc.stdout,
                                                          proc.stderr))
        with open(out_path) as handle:
            results = json.load(handle)
    return {s.name: r for s, r in zip(SCENARIO, results)
            if isinstance(s, Sample)}


def text(version: str, sample: Sample, result: dict) -> str:
    """A sample file's content."""
    full = versions.canonical(version)
    head = ['# %s' % sample.command,
            '# Lustre %s (emulator profile %s); format read in '
            'lustre-release %s %s' % (full, version, TAGS[version],
                                      sample.source),
            '# exit status: %d' % result['rc']]
    head += ['# stderr| %s' % line for line in
             result['err'].split('\n')[:-1]]
    head.append('# stdout follows (sizes in use, object ids and FIDs are '
                'the emulator\'s)')
    return '\n'.join(head) + '\n' + result['out']


def path(version: str, name: str) -> str:
    """Where a sample lives."""
    return os.path.join(SAMPLES, version, name + '.txt')


def write() -> None:
    """Render every profile's samples into tests/data/samples/."""
    for version in TAGS:
        results = render(version)
        os.makedirs(os.path.join(SAMPLES, version), exist_ok=True)
        for sample in SCENARIO:
            if isinstance(sample, Sample):
                with open(path(version, sample.name), 'w') as handle:
                    handle.write(text(version, sample,
                                      results[sample.name]))


if __name__ == '__main__':
    if sys.argv[1:] != ['write']:
        sys.exit('usage: python3 -m tests.samples write')
    write()
