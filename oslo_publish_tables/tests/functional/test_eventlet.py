"""The sender works in an eventlet-monkeypatched process (green threads)."""

import json
import os
import subprocess
import sys

import testtools

from oslo_publish_tables import fixture as backends

try:
    import eventlet  # noqa: F401
except ImportError:
    eventlet = None


class EventletTest(testtools.TestCase):

    def test_publishes_from_green_threads(self):
        if eventlet is None:
            self.skipTest('eventlet is not installed')
        db = self.useFixture(backends.DatabaseFixture('sqlite'))
        root = os.path.dirname(os.path.dirname(os.path.dirname(
            os.path.dirname(os.path.abspath(__file__)))))
        out = subprocess.run(
            [sys.executable, '-m',
             'oslo_publish_tables.tests.functional.eventlet_producer',
             db.url], capture_output=True, text=True, timeout=120,
            cwd=root, check=True)
        result = json.loads(out.stdout.strip().splitlines()[-1])
        self.assertTrue(result['flushed'])
        self.assertGreater(result['last_seq'], 10)
        self.assertEqual(list(range(1, result['last_seq'] + 1)),
                         result['seqs'])
