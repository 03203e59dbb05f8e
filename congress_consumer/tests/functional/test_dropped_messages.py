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

"""Garbage published raw to a consumer's RabbitMQ queue is counted.

oslo.messaging drops some messages before any endpoint sees them (a body
it cannot decode, a wrong content type, a broken envelope, an unknown
priority). Each kind is published with kombu straight to the queue of a
LIVE datasource; each must be logged with the datasource's name, counted
in its status and in its Prometheus metrics, and replication must go on.
"""

import json
import logging
import pickle

import fixtures
import kombu
from prometheus_client import core
from prometheus_client import exposition
import testtools

from oslo_publish_tables import fixture as backends
from oslo_publish_tables.protocol import envelope

from congress_consumer import metrics as consumer_metrics
from congress_consumer.replication import queues
from congress_consumer.tests.functional import test_queues

JSON = 'application/json'
# (body, content type, the reason it is discarded for)
GARBAGE = [
    (b'\x00\xffnot json at all', JSON, 'undecodable'),
    (b'{"truncated": ', JSON, 'undecodable'),
    (b'[1, 2, 3]', JSON, 'undecodable'),
    (b'"a string"', JSON, 'undecodable'),
    (b'plain text', 'text/plain', 'undecodable'),
    (pickle.dumps({'priority': 'info'}), 'application/x-python-serialize',
     'undecodable'),
    (json.dumps({'oslo.version': '9.0', 'oslo.message': '{}'}).encode(),
     JSON, 'undecodable'),
    (json.dumps({'oslo.version': '2.0', 'oslo.message': '{{'}).encode(),
     JSON, 'undecodable'),
    (b'{"no": "priority"}', JSON, 'unknown_priority'),
    (b'{"priority": "bogus", "event_type": "x", "payload": {}}', JSON,
     'unknown_priority'),
    (b'{"priority": 5, "payload": {}}', JSON, 'unknown_priority'),
    (b'{"priority": "info", "event_type": "other.event", "payload": {}}',
     JSON, 'unknown_event'),
    (json.dumps({'priority': 'info', 'event_type': envelope.EVENT_BATCH,
                 'payload': {'v': 'x'}}).encode(), JSON, 'malformed'),
]


class DroppedMessagesTest(testtools.TestCase):

    def setUp(self):
        super().setUp()
        self.rabbit = self.useFixture(backends.RabbitFixture())
        self.conf = test_queues._conf()

    driver = test_queues.QueuesTest.driver
    send = test_queues.QueuesTest.send
    names = test_queues.QueuesTest.names
    wait_for = test_queues.QueuesTest.wait_for

    def test_garbage_on_the_queue_is_logged_and_counted(self):
        topic = self.rabbit.topic
        # A pool of its own: queue names are global on the broker.
        driver = self.driver('nova', topic, topic)
        log = self.useFixture(fixtures.FakeLogger(level='WARNING'))
        amqp_url = 'amqp' + self.rabbit.transport_url[len('rabbit'):]
        queue = queues.pool_of('nova', topic)
        with kombu.Connection(amqp_url) as conn:
            producer = conn.Producer()
            for body, content_type, _ in GARBAGE:
                producer.publish(body, routing_key=queue,
                                 content_type=content_type,
                                 content_encoding='binary',
                                 exchange='')
        self.wait_for(driver, len(GARBAGE))
        self.send(topic, ['after'])  # replication goes on
        self.wait_for(driver, len(GARBAGE) + 1)
        self.assertEqual(['after'], self.names(driver))

        expected = {}
        for _, _, reason in GARBAGE:
            expected['discarded:' + reason] = \
                expected.get('discarded:' + reason, 0) + 1
        discarded = driver.get_status()['discarded']
        self.assertEqual(len(GARBAGE), discarded['discarded'])
        self.assertEqual(expected, {k: v for k, v in discarded.items()
                                    if k != 'discarded'})
        text = _text(consumer_metrics.collector({'nova': driver}))
        for key, count in expected.items():
            self.assertIn('congress_consumer_datasource_discarded_total{'
                          'datasource="nova",reason="%s"} %.1f'
                          % (key.split(':')[1], count), text.splitlines())
        lines = [line for line in log.output.splitlines()
                 if 'discarded' in line]
        new = set(r for _, _, r in GARBAGE) - {'malformed', 'unknown_event'}
        for reason in new:
            self.assertTrue([line for line in lines if reason in line],
                            reason)
        self.assertTrue(all(line.startswith('datasource nova: ')
                            for line in lines), lines)
        self.assertNotIn('Failed to process message', log.output)
        self.assertNotIn('Unknown priority', log.output)

    def test_the_log_filter_is_removed_with_the_last_receiver(self):
        driver = self.driver('nova', self.rabbit.topic, self.rabbit.topic)
        rabbit_log = 'oslo.messaging._drivers.impl_rabbit'
        self.assertTrue(logging.getLogger(rabbit_log).filters)
        driver.stop()
        self.assertEqual([], logging.getLogger(rabbit_log).filters)


def _text(collector):
    registry = core.CollectorRegistry(auto_describe=False)
    registry.register(collector)
    return exposition.generate_latest(registry).decode()
