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

"""A broker outage never blocks commits and never silently loses data."""

import threading

from oslo_config import cfg
import sqlalchemy as sa
import testtools

from oslo_publish_tables import fixture as backends
from oslo_publish_tables.protocol import envelope
from oslo_publish_tables import publisher
from oslo_publish_tables import sender as sender_mod
from oslo_publish_tables.tests import capture_fixture
from oslo_publish_tables import transport as transport_mod
from publish_tables_demo import schema as demo_schema
from publish_tables_demo import workload as demo_workload

DEAD_BROKER = 'rabbit://guest:guest@127.0.0.1:1/'


class _Recorder(object):
    """Stands in for the broker once it is back."""

    def __init__(self):
        self.payloads = []

    def send(self, event_type, payload):
        self.payloads.append(envelope.parse(payload))


class BrokerOutageTest(testtools.TestCase):

    def test_rabbit_transport_reports_failure(self):
        conf = cfg.ConfigOpts()
        conf([])
        transport = transport_mod.NotificationTransport(
            conf, 'pt_outage', 'test', transport_url=DEAD_BROKER)
        self.addCleanup(transport.close)
        self.assertRaises(transport_mod.SendError, transport.send,
                          envelope.EVENT_BATCH, {'records': []})

    def test_commits_continue_and_overflow_becomes_a_gap(self):
        db = self.useFixture(backends.DatabaseFixture('sqlite'))
        engine = sa.create_engine(db.url)
        self.addCleanup(engine.dispose)
        demo_schema.create(engine)
        conf = capture_fixture.make_conf(tables=['instances'])
        dead = transport_mod.NotificationTransport(
            conf, 'pt_outage', 'test', transport_url=DEAD_BROKER)
        self.addCleanup(dead.close)
        sender = sender_mod.Sender(dead, spool_size=20,
                                   max_retry_interval=0.05,
                                   shutdown_timeout=2)
        self.addCleanup(sender.stop)
        publisher.install(engine, conf, submit=sender.submit)
        self.addCleanup(publisher.uninstall, engine)
        workload = demo_workload.Workload(engine, seed=3)
        done = threading.Event()

        def write():
            for _ in range(40):
                workload.create()
            done.set()

        threading.Thread(target=write, daemon=True).start()
        self.assertTrue(done.wait(60), 'commits blocked during the outage')
        self.assertEqual(40, sender.last_seq)
        self.assertEqual(20, sender.stats['dropped'])
        self.assertGreater(sender.stats['send_failures'], 0)
        back = _Recorder()
        sender.transport = back  # the broker is back
        self.assertTrue(sender.flush(10))
        delivered = [r.seq for b in back.payloads for r in b.records]
        self.assertEqual(list(range(1, 21)), delivered)  # nothing lost
        # the dropped records keep their numbers: consumers see the gap
        self.assertEqual(40, back.payloads[-1].last_seq)
