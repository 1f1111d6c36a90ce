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

"""``tox -e bench [-- --quick]``: LustreDriver vs NfsDriver vs bare tools.

Sets up the Lustre emulator (idempotent), installs the bind-mounting
mount.nfs helper for the run only (never over an existing one), runs
bench_case.Bench with Cinder's test database, removes what it created and
writes results.{md,json,png} under --results.  Needs root.
"""

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
import unittest

BENCH = os.path.dirname(os.path.abspath(__file__))
HARNESS = os.path.dirname(BENCH)
EMULATOR = os.path.join(HARNESS, 'emulator', 'lustre-emulator')
EMULATOR_ROOT = os.environ.get('LUSTRE_EMULATOR_ROOT',
                               '/var/lib/lustre-emulator')
STEPS = ('thick', 'stats', 'copies', 'backup', 'incremental',
         'incremental_snapshots', 'incremental_snapshots_dense',
         'active_active')


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--quick', action='store_true',
                        help='CI sizes (a few minutes on 2 cores)')
    parser.add_argument('--results', default=None,
                        help='output folder (default: results/quick or '
                             'results/full under harness/bench)')
    parser.add_argument('--runs', type=int, help='runs per figure')
    parser.add_argument('--thick-gib', type=int,
                        help='thick volume size (default: 100 GiB or the '
                             'largest that fits in half the free disk)')
    parser.add_argument('--stats-counts', help='e.g. 100,1000,10000')
    parser.add_argument('--copy-gib', type=int)
    parser.add_argument('--copy-written-mib', type=int)
    parser.add_argument('--big-gib', type=int,
                        help='size of the large sparse volume backed up '
                             '(same data written as --copy-written-mib)')
    parser.add_argument('--aa-ops', type=int)
    parser.add_argument('--only', help='comma list of ' + ','.join(STEPS))
    parser.add_argument('--no-profile', action='store_true')
    parser.add_argument('--rerun', action='store_true',
                        help='with --only: replace the figures of those '
                             'steps in the results already in the results '
                             'folder (other jobs disturbed them), noting '
                             'when and under what load')
    return parser.parse_args(argv)


def free_gib(path):
    usage = shutil.disk_usage(path)
    return usage.free // 1024 ** 3


def params_of(args, workdir):
    quick = args.quick
    half_free = max(1, free_gib(EMULATOR_ROOT) // 2)
    counts = args.stats_counts or ('100,1000' if quick
                                   else '100,1000,10000')
    return dict(
        quick=quick,
        workdir=workdir,
        runs=args.runs or 3,
        thick_gib=args.thick_gib or (2 if quick else min(100, half_free)),
        stats_counts=[int(c) for c in counts.split(',')],
        copy_gib=args.copy_gib or (1 if quick else 4),
        copy_written_mib=args.copy_written_mib or (256 if quick else 1024),
        big_gib=args.big_gib or (16 if quick else 64),
        changed_percent=5,
        aa_ops=args.aa_ops or (20 if quick else 50),
        compressions=['none'] if quick else ['none', 'zstd'],
        profile=not args.no_profile,
        only=args.only.split(',') if args.only else None,
    )


def output(*cmd):
    try:
        return subprocess.run(cmd, capture_output=True, text=True,
                              check=False).stdout.strip()
    except OSError:
        return None


def meminfo_gib():
    with open('/proc/meminfo') as f:
        kib = int(f.readline().split()[1])
    return round(kib / 1024 ** 2, 1)


def cpu_model():
    with open('/proc/cpuinfo') as f:
        for line in f:
            if line.startswith('model name'):
                return line.split(':', 1)[1].strip()
    return platform.processor()


def package_version(name):
    from importlib import metadata
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def machine():
    """What produced the numbers."""
    df = output('df', '-T', '-h', EMULATOR_ROOT).splitlines()[-1].split()
    return {
        'nproc': os.cpu_count(),
        'cpu': cpu_model(),
        'memory_gib': meminfo_gib(),
        'disk': {'device': df[0], 'fstype': df[1], 'size': df[2],
                 'free': df[4], 'path': EMULATOR_ROOT},
        'kernel': platform.release(),
        'os': output('sh', '-c', '. /etc/os-release; echo $PRETTY_NAME'),
        'python': platform.python_version(),
        'cinder': package_version('cinder'),
        'os-brick': package_version('os-brick'),
        'qemu-img': output('qemu-img', '--version').splitlines()[0],
        'lfs': output('lfs', '--version'),
        'lfs_path': os.path.realpath(shutil.which('lfs') or 'lfs'),
        'coreutils': output('fallocate', '--version').splitlines()[0],
        'malloc_arena_max': os.environ.get('MALLOC_ARENA_MAX'),
        'change': {
            'commit': output('git', '-C', HARNESS, 'rev-parse', 'HEAD'),
            'uncommitted': output('git', '-C', HARNESS, 'status',
                                  '--short', '--', '../cinder').split('\n'),
        },
    }


def run_bench(params):
    """Run the Bench test case; return its results (or exit on failure)."""
    sys.path[:0] = [os.path.join(HARNESS, 'functional'), BENCH]
    os.environ['OS_TEST_TIMEOUT'] = '0'
    out = os.path.join(params['workdir'], 'samples.json')
    os.environ['BENCH_OUT'] = out
    os.environ['BENCH_PARAMS'] = json.dumps(params)
    import bench_case
    suite = unittest.defaultTestLoader.loadTestsFromTestCase(
        bench_case.Bench)
    result = unittest.TextTestRunner(verbosity=2, buffer=False).run(suite)
    if not result.wasSuccessful():
        sys.exit('the benchmark failed (see above)')
    with open(out) as f:
        return json.load(f)


def use_own_lfs():
    """Run this checkout's emulated lfs, whatever /usr/local/bin holds.

    setup points the global links at the checkout that ran it last; on a
    shared machine another checkout may do so during the run and change
    what is measured.  The drivers find lfs on PATH.
    """
    bindir = tempfile.mkdtemp(prefix='lustre-bench-bin-')
    os.symlink(os.path.join(HARNESS, 'emulator', 'lfs'),
               os.path.join(bindir, 'lfs'))
    os.environ['PATH'] = bindir + os.pathsep + os.environ['PATH']
    return bindir


def main(argv):
    args = parse_args(argv)
    if args.rerun and not args.only:
        sys.exit('--rerun replaces the figures of the steps of --only')
    if os.geteuid() != 0:
        sys.exit('the benchmark mounts file systems: run it as root')
    import nfs_helper
    import report
    results_dir = args.results or os.path.join(
        BENCH, 'results', 'quick' if args.quick else 'full')
    subprocess.run([EMULATOR, 'setup'], check=True,
                   stdout=subprocess.DEVNULL)
    bindir = use_own_lfs()
    installed = nfs_helper.install()
    workdir = tempfile.mkdtemp(prefix='lustre-bench-')
    machine_info = machine()
    started = time.time()
    load_before = os.getloadavg()
    try:
        params = params_of(args, workdir)
        print('bench parameters: %s' % json.dumps(params))
        samples = run_bench(params)
    finally:
        removed = nfs_helper.remove(installed)
        shutil.rmtree(workdir, ignore_errors=True)
        shutil.rmtree(bindir, ignore_errors=True)
    meta = {
        'machine': machine_info,
        'load_average': {'before': load_before, 'after': os.getloadavg()},
        'started': time.strftime('%Y-%m-%d %H:%M:%S %Z',
                                 time.localtime(started)),
        'wall_seconds': round(time.time() - started, 1),
        'mount_nfs_helper': {'installed': installed,
                             'removed_after': removed,
                             'preexisting': installed is None},
        'params': {k: v for k, v in params.items() if k != 'workdir'},
    }
    if args.rerun:
        meta, samples = report.merge_rerun(results_dir, meta, samples)
    report.write(results_dir, meta, samples)
    print(open(os.path.join(results_dir, 'results.md')).read())


if __name__ == '__main__':
    sys.path.insert(0, BENCH)
    main(sys.argv[1:])
