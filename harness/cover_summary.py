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

"""Per-file line and branch coverage of the change (tox -e cover).

Reads the JSON report that `coverage json` wrote and prints, for every
module of the change (harness/overlay.py modules), its statement and branch
percentages separately; a module no test imported is listed as such.
Exits 1 if a module of the change was never imported.
"""

import json
import os
import sys

import overlay


def main(path):
    with open(path, encoding='utf-8') as f:
        files = json.load(f)['files']
    missing = 0
    print('%-40s %14s %16s' % ('module of the change', 'lines', 'branches'))
    for module in overlay.change_modules():
        rel = module.replace('.', '/') + '.py'
        data = files.get(rel)
        if data is None:
            missing += 1
            print('%-40s %s' % (rel, 'not imported by any test'))
            continue
        s = data['summary']
        print('%-40s %5.1f%% %3d/%-3d %5.1f%% %3d/%-3d' % (
            rel,
            s['percent_statements_covered'], s['covered_lines'],
            s['num_statements'],
            s['percent_branches_covered'], s['covered_branches'],
            s['num_branches']))
    return 1 if missing else 0


if __name__ == '__main__':
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else 'cover/coverage.json'))
