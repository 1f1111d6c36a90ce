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

"""Stack-level timings: volume and backup create, CLI to ``available``.

With the stack up (``tox -e stack``; hold ``flock /tmp/stack.lock``),
creates ``--count`` volumes one after the other with ``openstack volume
create`` and times each from the start of the command to the volume's
``available`` status, then backs each one up with ``openstack volume
backup create`` and times that the same way.  The time the command itself
took (the CLI's start-up and the API call) is recorded apart.  Status is
polled through the REST API every 0.2 s (the CLI costs seconds a call).
Writes timings.json and timings.md under ``--results`` with p50, p95,
min and max, the machine and its load; every resource it made
(``timings-*``) is deleted afterwards, untimed.  The project's volume and
backup quotas are raised to hold ``--count`` of each first.  Standard
library only.
"""

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
STATE = os.environ.get('STACK_STATE',
                       os.path.join(REPO, 'harness', 'state', 'stack'))
VENV = os.environ.get('STACK_VENV', os.path.join(REPO, '.tox', 'stack'))
PREFIX = 'timings-'
POLL = 0.2


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--count', type=int, default=50)
    parser.add_argument('--size', type=int, default=1, help='GiB')
    parser.add_argument('--type', default=None,
                        help='volume type (default: the default type)')
    parser.add_argument('--timeout', type=int, default=600,
                        help='seconds one resource may take')
    parser.add_argument('--results',
                        default=os.path.join(HERE, 'results'))
    return parser.parse_args(argv)


def openrc_env():
    """The environment of admin-openrc, with the stack's venv on PATH."""
    env = dict(os.environ)
    with open(os.path.join(STATE, 'admin-openrc')) as f:
        for line in f:
            line = line.strip()
            if line.startswith('export ') and '=' in line:
                key, value = line[len('export '):].split('=', 1)
                if key != 'PATH':
                    env[key] = value.strip('"\'')
    env['PATH'] = os.path.join(VENV, 'bin') + os.pathsep + env['PATH']
    return env


class Api(object):
    """Just enough of the Cinder REST API to poll statuses."""

    def __init__(self, env):
        body = {'auth': {
            'identity': {'methods': ['password'], 'password': {'user': {
                'name': env['OS_USERNAME'], 'password': env['OS_PASSWORD'],
                'domain': {'name': env['OS_USER_DOMAIN_NAME']}}}},
            'scope': {'project': {
                'name': env['OS_PROJECT_NAME'],
                'domain': {'name': env['OS_PROJECT_DOMAIN_NAME']}}}}}
        request = urllib.request.Request(
            env['OS_AUTH_URL'].rstrip('/') + '/auth/tokens',
            data=json.dumps(body).encode(),
            headers={'Content-Type': 'application/json'})
        with urllib.request.urlopen(request, timeout=30) as response:
            self.token = response.headers['X-Subject-Token']
            token = json.load(response)['token']
        self.project = token['project']['id']
        self.base = None
        for service in token['catalog']:
            if service['type'] in ('volumev3', 'block-storage'):
                for endpoint in service['endpoints']:
                    if endpoint['interface'] == 'public':
                        self.base = endpoint['url'].rstrip('/')
        if not self.base:
            sys.exit('no volumev3 endpoint in the catalog')

    def get(self, path):
        request = urllib.request.Request(
            self.base + path, headers={'X-Auth-Token': self.token,
                                       'OpenStack-API-Version': 'volume 3.0'})
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.load(response)

    def find(self, collection, name):
        items = self.get('/%s?name=%s' % (collection, name))[collection]
        return items[0]['id'] if items else None


def cli(env, *args, output=True):
    """Run the openstack CLI; return its output as JSON (or None)."""
    argv = ('openstack',) + args + (('-f', 'json') if output else ())
    done = subprocess.run(argv, env=env, capture_output=True, text=True)
    if done.returncode:
        raise RuntimeError('%s: %s' % (' '.join(argv), done.stderr.strip()))
    return json.loads(done.stdout) if output and done.stdout.strip() else None


def raise_quotas(env, api, count, size):
    """Make room for count volumes and backups of size GiB.

    The default project quota (10 volumes, 10 backups) would stop the
    run at the eleventh volume; the stack is a test stack, wiped after.
    """
    room = count + 20
    cli(env, 'quota', 'set', '--volumes', str(room),
        '--gigabytes', str(room * size), '--snapshots', str(room),
        '--backups', str(room), '--backup-gigabytes', str(room * size),
        api.project, output=False)


def wait_for(api, collection, item_id, want, timeout):
    """Poll until the resource reaches want; fail on an error state."""
    key = collection[:-1]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = api.get('/%s/%s' % (collection, item_id))[key]['status']
        if status == want:
            return
        if status.startswith('error'):
            raise RuntimeError('%s %s: %s' % (key, item_id, status))
        time.sleep(POLL)
    raise RuntimeError('%s %s: not %s after %d s' % (key, item_id, want,
                                                     timeout))


def timed(env, api, collection, args, timeout):
    """(total, cli) seconds from the command to available."""
    start = time.monotonic()
    item = cli(env, *args)
    returned = time.monotonic() - start
    wait_for(api, collection, item['id'], 'available', timeout)
    return time.monotonic() - start, returned, item['id']


def percentile(samples, pct):
    """Nearest-rank percentile."""
    ordered = sorted(samples)
    rank = max(1, -(-pct * len(ordered) // 100))
    return ordered[int(rank) - 1]


def summary(samples):
    return {'p50': statistics.median(samples),
            'p95': percentile(samples, 95),
            'min': min(samples), 'max': max(samples),
            'count': len(samples)}


def cleanup(env, api, timeout):
    """Delete every timings-* backup, then volume; wait until gone."""
    for collection, kind in (('backups', ('volume', 'backup')),
                             ('volumes', ('volume',))):
        ids = [item['id'] for item in api.get('/%s' % collection)[collection]
               if (item.get('name') or '').startswith(PREFIX)]
        for item_id in ids:
            subprocess.run(('openstack',) + kind + ('delete', '--force',
                                                    item_id),
                           env=env, check=False, capture_output=True)
        deadline = time.monotonic() + timeout
        while ids and time.monotonic() < deadline:
            left = {item['id'] for item in
                    api.get('/%s' % collection)[collection]}
            ids = [i for i in ids if i in left]
            time.sleep(1)


def machine():
    with open('/proc/meminfo') as f:
        mem = int(f.readline().split()[1]) / 1024 ** 2
    return {'nproc': os.cpu_count(), 'memory_gib': round(mem, 1),
            'kernel': platform.release(),
            'python': platform.python_version()}


def markdown(result):
    lines = ['# Stack timings', '',
             'Produced by `harness/stack/timings.py --count %d --size %d` '
             'on %s, %s cores, %s GiB RAM, kernel %s; load average %s '
             'before, %s after.  Volumes and backups one after the other; '
             'each time runs from the start of the `openstack` command to '
             '`available` (the command alone: "cli").' % (
                 result['params']['count'], result['params']['size'],
                 result['started'], result['machine']['nproc'],
                 result['machine']['memory_gib'],
                 result['machine']['kernel'],
                 '/'.join('%.2f' % x for x in result['load']['before']),
                 '/'.join('%.2f' % x for x in result['load']['after'])),
             '', 'Samples: %d volume creates, %d backup creates of %d asked.'
             % (len(result['samples']['volume create']),
                len(result['samples']['backup create']),
                result['params']['count']),
             '', '| operation | p50 (s) | p95 (s) | min | max | n |',
             '|---|---|---|---|---|---|']
    for key, stats in result['summary'].items():
        lines.append('| %s | %.2f | %.2f | %.2f | %.2f | %d |' % (
            key, stats['p50'], stats['p95'], stats['min'], stats['max'],
            stats['count']))
    return '\n'.join(lines) + '\n'


def save(args, result, samples):
    """Write what is measured so far (an interrupted run keeps it)."""
    result['samples'] = samples
    result['summary'] = {k: summary(v) for k, v in samples.items() if v}
    result['load']['after'] = os.getloadavg()
    os.makedirs(args.results, exist_ok=True)
    with open(os.path.join(args.results, 'timings.json'), 'w') as f:
        json.dump(result, f, indent=1, sort_keys=True)
    text = markdown(result)
    with open(os.path.join(args.results, 'timings.md'), 'w') as f:
        f.write(text)
    return text


def main(argv):
    args = parse_args(argv)
    env = openrc_env()
    api = Api(env)
    result = {'started': time.strftime('%Y-%m-%d %H:%M:%S %Z'),
              'machine': machine(),
              'load': {'before': os.getloadavg()}, 'params': vars(args)}
    samples = {'volume create': [], 'volume create (cli)': [],
               'backup create': [], 'backup create (cli)': []}
    cleanup(env, api, args.timeout)
    raise_quotas(env, api, args.count, args.size)
    try:
        volumes = []
        for i in range(args.count):
            create = ['volume', 'create', '--size', str(args.size),
                      '%svol-%02d' % (PREFIX, i)]
            if args.type:
                create[2:2] = ['--type', args.type]
            total, returned, vol_id = timed(env, api, 'volumes', create,
                                            args.timeout)
            samples['volume create'].append(total)
            samples['volume create (cli)'].append(returned)
            volumes.append(vol_id)
            save(args, result, samples)
            print('volume %2d: %.2f s (cli %.2f s)' % (i, total, returned))
        for i, vol_id in enumerate(volumes):
            total, returned, _id = timed(
                env, api, 'backups',
                ['volume', 'backup', 'create', '--name',
                 '%sbackup-%02d' % (PREFIX, i), vol_id], args.timeout)
            samples['backup create'].append(total)
            samples['backup create (cli)'].append(returned)
            save(args, result, samples)
            print('backup %2d: %.2f s (cli %.2f s)' % (i, total, returned))
    finally:
        print(save(args, result, samples))
        cleanup(env, api, args.timeout)


if __name__ == '__main__':
    main(sys.argv[1:])
