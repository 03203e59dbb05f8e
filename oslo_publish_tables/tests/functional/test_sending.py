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

"""``sending = process``: notifications go out through a child process."""

import os
import signal
import threading
import time

from oslo_config import cfg
import oslo_messaging
import testtools

from oslo_publish_tables.capture import listeners
from oslo_publish_tables import fixture as backends
from oslo_publish_tables.protocol import envelope
from oslo_publish_tables import publisher
from oslo_publish_tables import sender as sender_mod
from oslo_publish_tables import sending
from oslo_publish_tables import transport as transport_mod


class _Collect(object):
    def __init__(self):
        self.payloads = []
        self.event = threading.Event()

    def info(self, ctxt, publisher_id, event_type, payload, metadata):
        self.payloads.append((publisher_id, event_type, payload))
        self.event.set()


def _draft(n):
    change = envelope.Change('instances', 'update', {'id': n},
                             {'id': n, 'vm_state': 'active'}, ('vm_state',))
    return listeners.Draft('txn', 1700000000000000 + n, txn='t%d' % n,
                           changes=[change])


class ProcessTransportTest(testtools.TestCase):

    def setUp(self):
        super().setUp()
        self.rabbit = self.useFixture(backends.RabbitFixture())
        self.conf = cfg.ConfigOpts()
        publisher.register_opts(self.conf)
        self.conf([], default_config_files=[])
        listen = oslo_messaging.get_notification_transport(
            self.conf, url=self.rabbit.transport_url)
        self.addCleanup(listen.cleanup)
        self.collect = _Collect()
        listener = oslo_messaging.get_notification_listener(
            listen, [oslo_messaging.Target(topic=self.rabbit.topic)],
            [self.collect], executor='threading')
        listener.start()
        self.addCleanup(listener.wait)
        self.addCleanup(listener.stop)
        self.transport = sending.make_transport(
            self.conf, self.rabbit.topic, 'publish_tables.test',
            'messagingv2', self.rabbit.transport_url, 'process')
        self.addCleanup(self.transport.close)

    def received_seqs(self, count, timeout=20):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            seqs = [r.seq for _, _, p in list(self.collect.payloads)
                    for r in envelope.parse(p).records]
            if len(seqs) >= count:
                return seqs
            time.sleep(0.02)
        return seqs

    def test_records_arrive_unchanged_through_the_child(self):
        self.assertIsInstance(self.transport, sending.ProcessTransport)
        sender = sender_mod.Sender(self.transport, heartbeat_interval=30,
                                   shutdown_timeout=5)
        for n in range(1, 6):
            sender.submit(_draft(n))
        self.assertTrue(sender.flush(20))
        self.assertEqual([1, 2, 3, 4, 5], sorted(self.received_seqs(5)))
        self.assertNotEqual(os.getpid(), self.transport.pid)
        batch = envelope.parse(self.collect.payloads[0][2])
        change = batch.records[0].changes[0]
        self.assertEqual(('instances', 'update', {'id': 1}),
                         (change.table, change.op, change.pk))
        self.assertEqual('publish_tables.test', self.collect.payloads[0][0])
        sender.stop()

    def test_a_killed_child_is_restarted_and_nothing_is_lost(self):
        sender = sender_mod.Sender(self.transport, heartbeat_interval=30,
                                   shutdown_timeout=5,
                                   max_retry_interval=0.1)
        sender.submit(_draft(1))
        self.assertTrue(sender.flush(20))
        first = self.transport.pid
        os.kill(first, signal.SIGKILL)
        for n in range(2, 5):
            sender.submit(_draft(n))
        self.assertTrue(sender.flush(30))
        self.assertEqual([1, 2, 3, 4], sorted(set(self.received_seqs(4))))
        self.assertNotEqual(first, self.transport.pid)
        sender.stop()

    def test_a_bad_transport_is_a_send_error(self):
        transport = sending.ProcessTransport(
            self.conf, 'topic', 'publish_tables.test',
            transport_url='nosuchdriver://')
        self.addCleanup(transport.close)
        exc = self.assertRaises(transport_mod.SendError, transport.send,
                                envelope.EVENT_HEARTBEAT, {})
        self.assertIn('did not start', str(exc))
