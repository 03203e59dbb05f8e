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

"""Queues on a real RabbitMQ: each replica reads its own, none piles up.

* Two datasources that copy the same ``pool`` into their sections read
  queues of their own: neither sees the other's messages.
* The producers do not declare ``<topic>.info``: with pooled consumers
  nobody reads it, and it would keep every message for ever.
"""

import time

import kombu
from oslo_config import cfg
import oslo_messaging
from oslo_messaging import conffixture  # noqa: F401
import testtools

from oslo_publish_tables import fixture as backends
from oslo_publish_tables.protocol import envelope
from oslo_publish_tables import transport as transport_mod

from congress_consumer.replication import driver as driver_mod
from congress_consumer.tests.unit.replication import \
    test_receiver_driver as helpers


def _conf():
    conf = cfg.ConfigOpts()
    conf([], project='queues-test', default_config_files=[],
         default_config_dirs=[])
    oslo_messaging.conffixture.ConfFixture(conf)
    return conf


def _producer(n, topic):
    return {'id': '%s-%d' % (topic, n), 'host': 'h', 'pid': n,
            'started': 1}


class QueuesTest(testtools.TestCase):

    def setUp(self):
        super().setUp()
        self.rabbit = self.useFixture(backends.RabbitFixture())
        self.conf = _conf()

    def driver(self, name, topic, pool):
        self.rabbit.add_queue('%s.%s' % (pool, name))
        source = helpers.FakeSource({'instances': (1, ['id', 'name'], [])})
        driver = driver_mod.PublishTablesDriver(
            name, {'tables': 'instances', 'topic': topic, 'pool': pool,
                   'transport_url': self.rabbit.transport_url},
            conf=self.conf, snapshot_source=source)
        self.addCleanup(driver.stop)
        driver.start()
        self.assertTrue(driver.wait_live(20))
        return driver

    def send(self, topic, names):
        sender = transport_mod.NotificationTransport(
            self.conf, topic, 'publish_tables.test',
            transport_url=self.rabbit.transport_url)
        self.addCleanup(sender.close)
        for seq, name in enumerate(names, 1):
            payload = helpers._payload(
                seq, 1000 + seq,
                helpers._change('instances', 'insert', seq, name=name),
                producer=_producer(1, topic))
            sender.send(envelope.EVENT_BATCH, payload)

    def names(self, driver):
        return sorted(r['name'] for r in
                      driver.sync.replicas['instances'].rows.values())

    def wait_for(self, driver, count):
        deadline = time.monotonic() + 20
        while (driver.receiver.received < count
               and time.monotonic() < deadline):
            time.sleep(0.05)
        time.sleep(0.3)  # anything more that was coming has come

    def test_same_pool_in_two_datasources(self):
        topic_a = self.rabbit.topic + '_a'
        topic_b = self.rabbit.topic + '_b'
        a = self.driver('a', topic_a, 'congress')
        b = self.driver('b', topic_b, 'congress')
        self.send(topic_a, ['a%d' % i for i in range(10)])
        self.send(topic_b, ['b%d' % i for i in range(10)])
        self.wait_for(a, 10)
        self.wait_for(b, 10)
        self.assertEqual(sorted('a%d' % i for i in range(10)),
                         self.names(a))
        self.assertEqual(sorted('b%d' % i for i in range(10)),
                         self.names(b))

    def test_no_default_queue_fills_up_behind_pooled_consumers(self):
        topic = self.rabbit.topic
        driver = self.driver('nova', topic, 'congress')
        self.send(topic, ['vm%d' % i for i in range(5)])
        self.wait_for(driver, 5)
        self.assertEqual(5, len(self.names(driver)))
        amqp_url = 'amqp' + self.rabbit.transport_url[len('rabbit'):]
        with kombu.Connection(amqp_url) as conn:
            channel = conn.channel()
            try:
                name, messages, _consumers = channel.queue_declare(
                    queue='%s.info' % topic, passive=True)
            except conn.channel_errors:
                return  # no such queue: nothing can pile up
            finally:
                conn.release()
            self.fail('queue %s exists with %d messages and no reader'
                      % (name, messages))
