"""CI's short run of the fault-injection suite (``tools/faults/run.py``).

Every scenario of direct mode (killed producers and consumer, RabbitMQ
cut off, duplicated and reordered delivery, all at once), and in durable
mode a killed producer, a killed relay and everything at once, run on
PostgreSQL and MariaDB with real producer processes, the real
``congress-consumer`` and ``publish-tables-agent``; the suite compares
the consumer's replica with the database row for row and exits 1 if any
row diverges.
"""

import os
import subprocess
import sys

import testtools

from oslo_publish_tables.tests import backends

REPO = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.dirname(os.path.abspath(__file__)))))
SUITE = os.path.join(REPO, 'tools', 'faults', 'run.py')


class FaultSuiteTest(testtools.TestCase):

    def test_quick_suite_converges_row_for_row(self):
        for service in (backends.RABBIT, backends.POSTGRESQL,
                        backends.MYSQL):
            backends.require(service)
        result = subprocess.run(
            [sys.executable, SUITE, '--quick', '--durable-scenarios',
             'kill-producer,kill-agent,everything'], capture_output=True,
            text=True, timeout=1200)
        self.addDetail('suite-output', testtools.content.text_content(
            result.stdout + result.stderr))
        self.assertEqual(0, result.returncode, result.stdout[-3000:])
        lines = [line for line in result.stdout.splitlines()
                 if ' divergent of ' in line]
        # 6 direct and 3 durable scenarios on each server database
        self.assertEqual(18, len(lines), result.stdout[-3000:])
        for line in lines:
            self.assertIn(': 0 divergent of ', line)
            self.assertNotIn(' of 0 rows', line)
