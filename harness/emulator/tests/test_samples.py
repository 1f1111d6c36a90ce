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

"""The committed per-version samples are what the profiles print.

tests/data/samples/<version>/*.txt are rendered by tests/samples.py; the
driver's unit tests read them as each version's output.  This renders
them again and compares, with the masks of test_transcript for what
depends on the run (sizes in use, object ids and placement), so a
change of a format shows up here and the samples are regenerated with
``python3 -m tests.samples write``.
"""

import os
import shutil
import unittest

from tests import samples
from tests import test_transcript


def read(version: str, name: str) -> dict:
    """A sample file back into command, status, stderr and stdout."""
    with open(samples.path(version, name), encoding='utf-8') as handle:
        lines = handle.read().split('\n')
    head = [ln for ln in lines if ln.startswith('# ')]
    body = lines[len(head):]
    return {
        'command': head[0][2:],
        'rc': int([h for h in head if h.startswith('# exit status: ')][0]
                  .split(': ')[1]),
        'err': [h[len('# stderr| '):] for h in head
                if h.startswith('# stderr| ')],
        'out': body[:-1] if body and body[-1] == '' else body,
    }


@unittest.skipUnless(os.geteuid() == 0 and shutil.which('unshare'),
                     'needs root and unshare (private mount namespace)')
class TestSamples(unittest.TestCase):
    """Each profile renders its committed samples."""

    def check(self, version: str) -> None:
        results = samples.render(version)
        names = sorted(s.name for s in samples.SCENARIO
                       if isinstance(s, samples.Sample))
        on_disk = sorted(n[:-4] for n in os.listdir(
            os.path.join(samples.SAMPLES, version)))
        self.assertEqual(names, on_disk)
        for name in names:
            want = read(version, name)
            got = results[name]
            out = got['out'].split('\n')[:-1] if got['out'] else []
            cmd = want['command']
            with self.subTest(version=version, sample=name):
                self.assertEqual(test_transcript.mask(cmd, want['out']),
                                 test_transcript.mask(cmd, out))
                self.assertEqual(want['err'],
                                 got['err'].split('\n')[:-1])
                self.assertEqual(want['rc'], got['rc'])

    def test_2_12(self) -> None:
        self.check('2.12')

    def test_2_14(self) -> None:
        self.check('2.14')

    def test_2_15(self) -> None:
        self.check('2.15')

    def test_2_16(self) -> None:
        self.check('2.16')

    def test_2_17(self) -> None:
        self.check('2.17')
