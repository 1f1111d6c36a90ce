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

"""The host side of the guest's disk protocol (harness/stack/guest/init).

    lga.py sha ORIGIN GEN         the sha the guest reports for that state
    lga.py reports [--after SEQ_BOOT] < console log
                                  the guest's reports as JSON lines

Standard library only: the stack's lifecycle runs it with python3.
"""

import hashlib
import json
import re
import sys

REGION_BYTES = 1 << 20
HEADER_BYTES = 512

REPORT = re.compile(
    r'LGA seq=(?P<seq>\d+) boot=(?P<boot>\d+) (?P<event>\w+) '
    r'dev=(?P<dev>\S+) serial=(?P<serial>\S+) origin=(?P<origin>\S+) '
    r'gen=(?P<gen>\S+) verified=(?P<verified>\S+) sha=(?P<sha>\S+)')
READY = re.compile(r'LGA ready boot=(?P<boot>\d+) mode=(?P<mode>\w+)')


def header(origin: str, gen: int) -> bytes:
    text = b'LGA1 origin=%s gen=%d\n' % (origin.encode(), gen)
    return text.ljust(HEADER_BYTES, b'\0')


def region(origin: str, k: int) -> bytes:
    line = b'lga origin=%s region=%d\n' % (origin.encode(), k)
    return (line * (REGION_BYTES // len(line) + 1))[:REGION_BYTES]


def expected_sha(origin: str, gen: int) -> str:
    """sha256 of header + regions 1..gen, as the guest computes it."""
    digest = hashlib.sha256(header(origin, gen))
    for k in range(1, gen + 1):
        digest.update(region(origin, k))
    return digest.hexdigest()


def reports(text: str) -> list:
    """The guest's reports and boot markers, in console order."""
    found = []
    for line in text.splitlines():
        match = REPORT.search(line)
        if match:
            item = match.groupdict()
            item['kind'] = 'report'
            found.append(item)
            continue
        match = READY.search(line)
        if match:
            item = match.groupdict()
            item['kind'] = 'ready'
            found.append(item)
    return found


def main(argv: list) -> int:
    if len(argv) == 3 and argv[0] == 'sha':
        print(expected_sha(argv[1], int(argv[2])))
        return 0
    if argv and argv[0] == 'reports':
        for item in reports(sys.stdin.read()):
            print(json.dumps(item))
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
