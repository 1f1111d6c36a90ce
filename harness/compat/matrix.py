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

"""The change's unit tests against each Cinder release of releases.txt.

For every release: a fresh venv (uv) with ``cinder==RELEASE`` and
requirements.txt, pinned by ``constraints/<series>.txt``; the change laid
over it (``OVERLAY_PACKAGES=cinder harness/overlay.py apply``); the
change's unit test modules run by name (run_units.py); the venv deleted.
Results go to results.json (one record per release) and are printed as a
table; the driver docs summarise them.

Usage::

    matrix.py run [--results FILE] [RELEASE...]
                                      default: every release of releases.txt;
                                      OVERLAY_EXTRA_PATCHES (overlay.py) is
                                      passed on and recorded
    matrix.py table [--results FILE]  print results.json as an RST table
    matrix.py constraints SERIES UPPER_CONSTRAINTS
                                      re-resolve constraints/<SERIES>.txt for
                                      the newest release of SERIES within
                                      that series' upper-constraints.txt
                                      (openstack/requirements)

``uv`` is the one installed next to the interpreter (tox -e compat) or
found on PATH.  Standard library only.
"""

import argparse
import datetime
import json
import os
import shutil
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
RELEASES = os.path.join(HERE, 'releases.txt')
REQUIREMENTS = os.path.join(HERE, 'requirements.txt')
RESULTS = os.path.join(HERE, 'results.json')
WORK = os.path.join(REPO, 'harness', 'state', 'compat')
# tox -e compat installs uv next to the interpreter; elsewhere, from PATH.
UV = os.path.join(os.path.dirname(sys.executable), 'uv')
if not os.path.exists(UV):
    UV = 'uv'
MODULES = (
    'cinder.tests.unit.volume.drivers.test_lustre',
    'cinder.tests.unit.volume.drivers.test_lustre_performance',
    'cinder.tests.unit.backup.drivers.test_backup_lustre',
)


def releases():
    """[(release, series)] in file order."""
    found = []
    with open(RELEASES, encoding='utf-8') as f:
        for line in f:
            line = line.split('#', 1)[0].split()
            if line:
                found.append((line[0], line[1]))
    return found


def constraints_file(series):
    return os.path.join(HERE, 'constraints', '%s.txt' % series)


def sh(*cmd, env=None, cwd=None, timeout=1800):
    """Run a command; return (exit status, combined output)."""
    proc = subprocess.run(cmd, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True, env=env,
                          cwd=cwd, timeout=timeout)
    return proc.returncode, proc.stdout


def _unpinned(python, pins):
    """Installed distributions the series' constraints do not pin."""
    rc, out = sh(UV, 'pip', 'freeze', '--python', python)
    pinned = {line.split('==')[0].lower().replace('_', '-')
              for line in pins}
    names = [line.split('==')[0] for line in out.splitlines()
             if '==' in line]
    return sorted(n for n in names
                  if n.lower().replace('_', '-') not in pinned
                  and n.lower() != 'cinder')


def run_release(release, series, keep=False):
    """Install, overlay and test one release; return its record."""
    record = {'release': release, 'series': series}
    start = time.monotonic()
    venv = os.path.join(WORK, 'cinder-%s' % release)
    python = os.path.join(venv, 'bin', 'python')
    shutil.rmtree(venv, ignore_errors=True)
    os.makedirs(WORK, exist_ok=True)
    try:
        rc, out = sh(UV, 'venv', '--quiet', '--python', sys.executable,
                     venv)
        if rc:
            record.update(status='venv failed', detail=out[-2000:])
            return record
        pins = constraints_file(series)
        rc, out = sh(UV, 'pip', 'install', '--quiet', '--python', python,
                     '-c', pins, '-r', REQUIREMENTS, 'cinder==%s' % release)
        if rc:
            record.update(status='install failed', detail=out[-2000:])
            return record
        with open(pins, encoding='utf-8') as f:
            lines = [line.strip() for line in f if '==' in line]
        record['unpinned'] = _unpinned(python, lines)
        env = dict(os.environ, OVERLAY_PACKAGES='cinder')
        if env.get('OVERLAY_EXTRA_PATCHES'):
            record['extra_patches'] = env['OVERLAY_EXTRA_PATCHES']
        rc, out = sh(python, os.path.join(REPO, 'harness', 'overlay.py'),
                     'apply', env=env)
        if rc:
            record.update(status='overlay failed', detail=out[-2000:])
            return record
        # From a neutral directory: nothing of the repository on sys.path.
        rc, out = sh(python, os.path.join(HERE, 'run_units.py'), *MODULES,
                     env=dict(os.environ, PYTHONDONTWRITEBYTECODE='1'),
                     cwd=WORK)
        try:
            summary = json.loads(out.strip().splitlines()[-1])
        except (ValueError, IndexError):
            record.update(status='run failed', detail=out[-2000:])
            return record
        record.update(summary)
        record['status'] = 'pass' if not summary['failed'] else 'fail'
        return record
    finally:
        record['seconds'] = round(time.monotonic() - start)
        if not keep:
            shutil.rmtree(venv, ignore_errors=True)


def load_results(path=RESULTS):
    if os.path.exists(path):
        with open(path, encoding='utf-8') as f:
            return json.load(f)
    return {}


def save_results(results, path=RESULTS):
    with open(path + '.new', 'w', encoding='utf-8') as f:
        json.dump(results, f, indent=1, sort_keys=True)
        f.write('\n')
    os.replace(path + '.new', path)


def table(results):
    """The results as an RST table, the main failure of each release."""
    rows = [('Cinder', 'Series', 'Passed', 'Failed', 'Why')]
    order = [r for r, _s in releases()]
    for release in sorted(results, key=order.index):
        rec = results[release]
        if rec['status'] in ('pass', 'fail'):
            why = '-'
            if rec['reasons']:
                reason, n = rec['reasons'][0]
                why = '%d x %s' % (n, reason if len(reason) < 100
                                   else reason[:97] + '...')
                if n < rec['failed']:
                    why += ', %d other' % (rec['failed'] - n)
            rows.append((release, rec['series'], str(rec['passed']),
                         str(rec['failed']), why))
        else:
            rows.append((release, rec['series'], '-', '-', rec['status']))
    widths = [max(len(row[i]) for row in rows) for i in range(5)]
    rule = '  '.join('=' * w for w in widths)
    lines = [rule, '  '.join(c.ljust(w) for c, w in zip(rows[0], widths))
             .rstrip(), rule]
    lines += ['  '.join(c.ljust(w) for c, w in zip(row, widths)).rstrip()
              for row in rows[1:]]
    lines.append(rule)
    return '\n'.join(lines)


def cmd_run(args):
    wanted = releases()
    if args.releases:
        unknown = set(args.releases) - {r for r, _s in wanted}
        if unknown:
            sys.exit('not in releases.txt: %s' % ', '.join(sorted(unknown)))
        series = dict(wanted)
        wanted = [(r, series[r]) for r in args.releases]
    results = load_results(args.results)
    for release, series in wanted:
        print('== cinder %s (%s)' % (release, series), flush=True)
        record = run_release(release, series, keep=args.keep)
        record['date'] = datetime.date.today().isoformat()
        results[release] = record
        save_results(results, args.results)
        reasons = ''.join('\n   %d x %s' % (n, reason)
                          for reason, n in record.get('reasons', []))
        print('   %s: %s passed, %s failed in %d s%s'
              % (record['status'], record.get('passed', '-'),
                 record.get('failed', '-'), record['seconds'], reasons),
              flush=True)
        if record.get('detail'):
            print(record['detail'])
    print(table({r: results[r] for r, _s in wanted}))
    # The matrix records results; a release that fails is a finding, not
    # an error of this command.
    return 0


def cmd_constraints(args):
    newest = [r for r, s in releases() if s == args.series]
    if not newest:
        sys.exit('no release of series %s in releases.txt' % args.series)
    output = constraints_file(args.series)
    reqs = os.path.join(WORK, 'requirements-%s.txt' % args.series)
    os.makedirs(WORK, exist_ok=True)
    with open(REQUIREMENTS, encoding='utf-8') as f:
        text = f.read()
    with open(reqs, 'w', encoding='utf-8') as f:
        f.write(text + '\ncinder==%s\n' % newest[-1])
    rc, out = sh(UV, 'pip', 'compile', '--quiet', '--no-header',
                 '--no-annotate', '--python', sys.executable,
                 '--python-platform', 'x86_64-unknown-linux-gnu',
                 '-c', args.upper_constraints, reqs)
    if rc:
        sys.exit(out)
    pins = [line for line in out.splitlines()
            if '==' in line and not line.startswith('cinder==')]
    with open(output, 'w', encoding='utf-8') as f:
        f.write('# Generated by harness/compat/matrix.py constraints from\n'
                '# requirements.txt + cinder==%s within the %s\n'
                '# upper-constraints of openstack/requirements (Python %s);\n'
                '# do not edit by hand.\n'
                % (newest[-1], args.series, sys.version.split()[0]))
        f.write('\n'.join(pins) + '\n')
    print('wrote %s (%d pins)' % (output, len(pins)))
    return 0


def main():
    parser = argparse.ArgumentParser(
        description=__doc__.split('\n\n')[0],
        formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest='command', required=True)
    run = sub.add_parser('run')
    run.add_argument('releases', nargs='*')
    run.add_argument('--keep', action='store_true',
                     help='keep the venvs (under harness/state/compat)')
    run.add_argument('--results', default=RESULTS,
                     help='record the results there (default: %(default)s)')
    table_cmd = sub.add_parser('table')
    table_cmd.add_argument('--results', default=RESULTS)
    cons = sub.add_parser('constraints')
    cons.add_argument('series')
    cons.add_argument('upper_constraints')
    args = parser.parse_args()
    if args.command == 'run':
        return cmd_run(args)
    if args.command == 'table':
        print(table(load_results(args.results)))
        return 0
    return cmd_constraints(args)


if __name__ == '__main__':
    sys.exit(main())
