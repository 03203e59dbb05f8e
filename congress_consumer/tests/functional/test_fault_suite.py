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

"""CI's short run of the fault-injection suite (``tools/faults/run.py``).

Every scenario of direct mode (killed producers and consumer, RabbitMQ
cut off, duplicated and reordered delivery, rows changed behind the
capture's back that verification must repair, all at once), and in durable
and relayed mode a killed relay and everything at once (which includes
a producer killed while the broker is cut off), run on PostgreSQL and
on MariaDB
with real producer processes, the real ``congress-consumer`` and
``publish-tables-agent``; the suite compares the consumer's replica with
the database row for row and exits 1 if any row diverges.
"""

import os
import subprocess
import sys

import testtools

from oslo_publish_tables import fixture as backends

REPO = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.dirname(os.path.abspath(__file__)))))
SUITE = 'tools.faults.run'


class FaultSuiteTest(testtools.TestCase):
    """One test per database, so that test workers run them side by side."""

    def _run_quick_suite(self, backend):
        for service in (backends.RABBIT, backend):
            backends.require(service)
        result = subprocess.run(
            [sys.executable, '-m', SUITE, '--quick', '--backends', backend,
             '--delivery', 'direct,durable,relayed',
             '--durable-scenarios', 'kill-agent,everything'],
            capture_output=True, text=True, timeout=900, cwd=REPO)
        self.addDetail('suite-output', testtools.content.text_content(
            result.stdout + result.stderr))
        self.assertEqual(0, result.returncode, result.stdout[-3000:])
        lines = [line for line in result.stdout.splitlines()
                 if ' divergent of ' in line]
        # 7 direct, 2 durable and 2 relayed scenarios
        self.assertEqual(11, len(lines), result.stdout[-3000:])
        for line in lines:
            self.assertIn(': 0 divergent of ', line)
            self.assertNotIn(' of 0 rows', line)

    def test_quick_suite_converges_row_for_row_postgresql(self):
        self._run_quick_suite(backends.POSTGRESQL)

    def test_quick_suite_converges_row_for_row_mariadb(self):
        self._run_quick_suite(backends.MYSQL)
