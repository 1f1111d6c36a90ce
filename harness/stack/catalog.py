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

"""Register the stack's service users, services and endpoints in keystone.

Idempotent, standard library only, one process: with the openstack CLI
the same ~40 calls cost minutes on a loaded 2-core machine.  Credentials
come from the OS_* variables (admin) and STACK_SERVICE_PASSWORD;
STACK_NOVA adds nova, neutron and placement.

    catalog.py HOST
"""

import json
import os
import sys
import urllib.error
import urllib.request


class Keystone:
    def __init__(self, url):
        self.url = url.rstrip('/')
        self.token = None

    def call(self, method, path, body=None):
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.url + path, data=data,
                                     method=method)
        req.add_header('Content-Type', 'application/json')
        if self.token:
            req.add_header('X-Auth-Token', self.token)
        with urllib.request.urlopen(req, timeout=30) as resp:
            raw = resp.read()
            if path == '/auth/tokens':
                self.token = resp.headers['X-Subject-Token']
            return json.loads(raw) if raw else {}

    def login(self, user, password, project):
        self.call('POST', '/auth/tokens', {'auth': {
            'identity': {'methods': ['password'], 'password': {'user': {
                'name': user, 'domain': {'id': 'default'},
                'password': password}}},
            'scope': {'project': {'name': project,
                                  'domain': {'id': 'default'}}}}})

    def find(self, collection, **filters):
        query = '&'.join('%s=%s' % kv for kv in filters.items())
        items = self.call('GET', '/%s?%s' % (collection, query))[collection]
        return items[0] if items else None

    def ensure(self, collection, body, **filters):
        """The first item matching filters, created from body if none."""
        found = self.find(collection, **filters)
        if found:
            return found, False
        member = collection[:-1]
        made = self.call('POST', '/' + collection, {member: body})[member]
        return made, True


def main(host):
    ks = Keystone(os.environ['OS_AUTH_URL'])
    ks.login(os.environ['OS_USERNAME'], os.environ['OS_PASSWORD'],
             os.environ['OS_PROJECT_NAME'])
    password = os.environ['STACK_SERVICE_PASSWORD']

    project, _ = ks.ensure('projects', {'name': 'service',
                                        'domain_id': 'default'},
                           name='service', domain_id='default')
    roles = {}
    for name in ('admin', 'member', 'reader', 'service'):
        roles[name], _ = ks.ensure('roles', {'name': name}, name=name)
    users = ['cinder', 'glance']
    endpoints = [
        ('image', 'glance', 'http://%s:9292' % host),
        ('volumev3', 'cinderv3', 'http://%s:8776/v3/%%(project_id)s' % host),
        ('block-storage', 'cinder',
         'http://%s:8776/v3/%%(project_id)s' % host),
    ]
    if os.environ.get('STACK_NOVA'):
        users += ['nova', 'neutron', 'placement']
        endpoints += [
            ('compute', 'nova', 'http://%s:8774/v2.1' % host),
            ('placement', 'placement', 'http://%s:8778' % host),
            ('network', 'neutron', 'http://%s:9696' % host),
        ]
    for name in users:
        user, made = ks.ensure('users', {'name': name, 'password': password,
                                         'domain_id': 'default'},
                               name=name, domain_id='default')
        if not made:
            ks.call('PATCH', '/users/' + user['id'],
                    {'user': {'password': password}})
        for role in ('admin', 'service'):
            ks.call('PUT', '/projects/%s/users/%s/roles/%s'
                    % (project['id'], user['id'], roles[role]['id']))
        print('user %s: admin, service in project service' % name)

    for stype, name, url in endpoints:
        service, _ = ks.ensure('services', {'type': stype, 'name': name,
                                            'enabled': True}, type=stype)
        for iface in ('public', 'internal', 'admin'):
            ks.ensure('endpoints', {'service_id': service['id'],
                                    'interface': iface, 'url': url,
                                    'region_id': 'RegionOne',
                                    'enabled': True},
                      service_id=service['id'], interface=iface)
        print('service %s (%s): %s' % (stype, name, url))
    return 0


if __name__ == '__main__':
    try:
        sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else '127.0.0.1'))
    except urllib.error.HTTPError as e:
        print('%s %s: %s' % (e.code, e.url, e.read().decode(errors='replace')),
              file=sys.stderr)
        sys.exit(1)
