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

    def test_a_sending_child_from_green_threads(self):
        # sending = process: the pipe to the child is green I/O.
        if eventlet is None:
            self.skipTest('eventlet is not installed')
        db = self.useFixture(backends.DatabaseFixture('sqlite'))
        rabbit = self.useFixture(backends.RabbitFixture())
        root = os.path.dirname(os.path.dirname(os.path.dirname(
            os.path.dirname(os.path.abspath(__file__)))))
        out = subprocess.run(
            [sys.executable, '-m',
             'oslo_publish_tables.tests.functional.eventlet_producer',
             db.url, rabbit.transport_url, rabbit.topic],
            capture_output=True, text=True, timeout=120, cwd=root,
            check=True)
        result = json.loads(out.stdout.strip().splitlines()[-1])
        self.assertTrue(result['flushed'])
        self.assertGreater(result['last_seq'], 10)
        self.assertEqual(result['last_seq'], result['stats']['records'])
        self.assertNotIn('send_failures', result['stats'])
