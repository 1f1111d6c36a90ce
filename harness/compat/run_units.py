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

"""Run test modules by name and print one JSON summary on stdout.

Run by the interpreter of a release's venv (harness/compat/matrix.py):
the modules are loaded by name, so no test discovery imports the rest of
upstream's test tree (and its test requirements).  Each failure or error
is reduced to its exception's last line, so that the matrix can say why
tests fail, grouped, instead of how many.
"""

import collections
import json
import sys
import traceback
import unittest


class _Result(unittest.TestResult):

    def __init__(self):
        super().__init__()
        self.passed = 0
        self.reasons = collections.Counter()
        self.failed_ids = []

    def addSuccess(self, test):
        super().addSuccess(test)
        self.passed += 1

    def _record(self, test, err):
        # testtools wraps the test's exception and its details in one
        # _StringException whose text ends with the real exception line.
        text = ''.join(traceback.format_exception_only(err[0], err[1]))
        lines = [line.strip() for line in text.splitlines() if line.strip()]
        reason = (lines[-1] if lines else err[0].__name__)[:200]
        self.reasons[reason] += 1
        self.failed_ids.append(test.id())

    def addFailure(self, test, err):
        super().addFailure(test, err)
        self._record(test, err)

    def addError(self, test, err):
        super().addError(test, err)
        self._record(test, err)


def main(modules):
    suite = unittest.defaultTestLoader.loadTestsFromNames(modules)
    result = _Result()
    suite.run(result)
    print(json.dumps({
        'run': result.testsRun,
        'passed': result.passed,
        'failed': len(result.failures) + len(result.errors),
        'skipped': len(result.skipped),
        'reasons': result.reasons.most_common(),
        'failed_ids': sorted(result.failed_ids),
    }))
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
