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

"""Filtered subscriptions end to end: REST API, registry, delivery.

A producer database is replicated by a driver; subscribers register
through the REST API and listen on their own topic (fake:// transport).
The tests rebuild each subscriber's view from what it received and
compare it row for row with the filtered producer table.
"""

import datetime
import json
import threading
import time

import fixtures
from oslo_config import cfg
import oslo_messaging
from oslo_messaging import conffixture
from oslo_utils import timeutils
import testtools
import webob

from oslo_publish_tables import fixture as backends
from oslo_publish_tables.protocol import codec
from publish_tables_demo import workload as demo_workload

from congress_consumer.api import wsgi
from congress_consumer.subscriptions import api as api_mod
from congress_consumer.subscriptions import delivery
from congress_consumer.subscriptions import registry as registry_mod
from congress_consumer.subscriptions import service as service_mod
from congress_consumer.tests import pipeline


class Collector(object):
    """A notification listener on one topic keeping every payload."""

    def __init__(self, transport, topic):
        self.messages = []
        self.lock = threading.Lock()
        self.listener = oslo_messaging.get_notification_listener(
            transport, [oslo_messaging.Target(topic=topic)], [self],
            executor='threading')
        self.listener.start()

    def info(self, ctxt, publisher_id, event_type, payload, metadata):
        with self.lock:
            self.messages.append((event_type, payload))

    def stop(self):
        self.listener.stop()
        self.listener.wait()

    def wait_seq(self, seq, timeout=10.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                if self.messages and self.messages[-1][1]['seq'] >= seq:
                    return True
            time.sleep(0.02)
        return False


def _run(engine, steps, seed):
    workload = demo_workload.Workload(engine, seed=seed)
    for _ in range(steps):
        workload.step()


class SubscriptionsTest(testtools.TestCase):
    """The producer is on SQLite; the registry on each backend."""

    backend = 'sqlite'

    def setUp(self):
        super().setUp()
        self.p = self.useFixture(pipeline.Pipeline('sqlite'))
        conffixture.ConfFixture(self.p.conf)
        service_mod.register_opts(self.p.conf)
        self.db_url = self.useFixture(backends.DatabaseFixture(
            self.backend)).url
        self.p.conf.set_override('connection', self.db_url, 'subscriptions')
        self.p.conf.set_override('stale_timeout', 60, 'subscriptions')
        self.subs = self.start_service()
        _run(self.p.producer.engine, 20, seed=1)
        self.assertEqual([], self.p.converge())

    def start_service(self):
        subs = service_mod.Subscriptions(
            self.p.conf, {'nova': self.p.driver}, transport=self.p._shared)
        subs.start()
        self.addCleanup(subs.stop)
        self.app = wsgi.API(
            {'nova': self.p.driver},
            extra_routes=api_mod.SubscriptionsAPI(subs).routes())
        return subs

    def request(self, method, path, body=None, raw=None):
        req = webob.Request.blank(path, method=method)
        if body is not None or raw is not None:
            req.body = raw if raw is not None else json.dumps(body).encode()
            req.content_type = 'application/json'
        resp = req.get_response(self.app)
        return resp.status_int, (resp.json if resp.body else None)

    def subscribe(self, sid, filters, payload='delta', topic=None):
        topic = topic or 'sub_' + sid
        collector = Collector(self.p._shared, topic)
        self.addCleanup(collector.stop)
        status, body = self.request('POST', '/v1/subscriptions', {
            'subscriber_id': sid, 'subscriber_topic': topic,
            'datasource': 'nova', 'table': 'instances',
            'filters': filters, 'payload': payload, 'initial_rows': True})
        self.assertEqual(201, status, body)
        return body, collector

    def expected(self, match):
        return {k: r for k, r in self.p.db_rows('instances').items()
                if match(r)}

    def settle(self, collector):
        """Wait until the subscriber got every notification sent."""
        self.assertEqual([], self.p.converge())
        deadline = time.monotonic() + 10
        while self.subs.publisher._queue and time.monotonic() < deadline:
            time.sleep(0.02)
        time.sleep(0.2)
        seq = max([m[1]['seq'] for m in collector.messages] or [0])
        self.assertTrue(collector.wait_seq(seq))

    def test_filtered_deltas_rebuild_the_filtered_table(self):
        filters = [{'column': 'host', 'value': ['host1', 'host2']},
                   {'column': 'vm_state', 'value': 'error'}]
        body, collector = self.subscribe('w1', filters)
        self.assertEqual(0, body['seq'])
        view = {}
        for row in body['rows']:
            row = codec.decode_row(row)
            view[(row['id'],)] = row
        _run(self.p.producer.engine, 80, seed=2)
        self.settle(collector)
        seqs = [payload['seq'] for _, payload in collector.messages]
        self.assertEqual(list(range(1, len(seqs) + 1)), seqs)
        self.assertTrue(seqs)
        for event_type, payload in collector.messages:
            self.assertEqual(delivery.EVENT_DELTA, event_type)
            key = (codec.decode_row(payload['pk'])['id'],)
            if payload['op'] == 'delete':
                view.pop(key, None)
            else:
                view[key] = codec.decode_row(payload['row'])

        def match(row):
            return row['host'] in ('host1', 'host2') or \
                row['vm_state'] == 'error'

        expected = self.expected(match)
        self.assertTrue(expected)
        self.assertLess(len(expected), len(self.p.db_rows('instances')))
        self.assertEqual(expected, view)

    def test_snapshot_payload_is_the_latest_matching_rows(self):
        body, collector = self.subscribe(
            's1', [{'column': 'vm_state', 'value': ['active', 'stopped']}],
            payload='snapshot')
        _run(self.p.producer.engine, 60, seed=3)
        self.settle(collector)
        event_type, last = collector.messages[-1]
        self.assertEqual(delivery.EVENT_SNAPSHOT, event_type)
        view = {}
        for row in last['rows']:
            row = codec.decode_row(row)
            view[(row['id'],)] = row
        self.assertEqual(self.expected(
            lambda r: r['vm_state'] in ('active', 'stopped')), view)

    def test_unsubscribe_stops_delivery(self):
        _, collector = self.subscribe('u1', [])
        _run(self.p.producer.engine, 10, seed=4)
        self.settle(collector)
        received = len(collector.messages)
        self.assertGreater(received, 0)
        self.assertEqual((204, None),
                         self.request('DELETE', '/v1/subscriptions/u1'))
        _run(self.p.producer.engine, 20, seed=5)
        self.assertEqual([], self.p.converge())
        time.sleep(0.3)
        self.assertEqual(received, len(collector.messages))
        self.assertEqual((200, {'results': []}),
                         self.request('GET', '/v1/subscriptions'))
        self.assertEqual(404, self.request('DELETE',
                                           '/v1/subscriptions/u1')[0])

    def test_registry_survives_a_restart(self):
        _, collector = self.subscribe('r1', [{'column': 'host',
                                              'value': 'host3'}])
        self.subs.stop()
        again = self.start_service()
        status, body = self.request('GET', '/v1/subscriptions/r1?rows=1')
        self.assertEqual(200, status, body)
        self.assertTrue(body['served'])
        self.assertEqual(1, body['seq'])  # the restart notification
        self.assertEqual(again.publisher.epoch, body['epoch'])
        view = {}
        for row in body['rows']:
            row = codec.decode_row(row)
            view[(row['id'],)] = row
        self.assertEqual(self.expected(lambda r: r['host'] == 'host3'),
                         view)
        before = len(collector.messages)
        _run(self.p.producer.engine, 60, seed=6)
        self.settle(collector)
        self.assertGreater(len(collector.messages), before)
        new = [p for _, p in collector.messages if p['epoch'] ==
               again.publisher.epoch]
        self.assertEqual(list(range(1, len(new) + 1)),
                         [p['seq'] for p in new])
        self.assertEqual('restart', new[0]['reason'])

    def test_list_and_show(self):
        self.subscribe('a', [{'column': 'host', 'value': 'host1'}],
                       payload='snapshot')
        status, body = self.request('GET', '/v1/subscriptions')
        self.assertEqual(200, status)
        [sub] = body['results']
        self.assertEqual({'subscriber_id': 'a', 'subscriber_topic': 'sub_a',
                          'datasource': 'nova', 'table': 'instances',
                          'tables': ['instances'],
                          'filters': [{'column': 'host', 'value': 'host1'}],
                          'payload': 'snapshot', 'stale': False,
                          'served': True},
                         {k: v for k, v in sub.items()
                          if k not in ('created_at', 'last_ack_at')})
        self.assertEqual((200, sub),
                         self.request('GET', '/v1/subscriptions/a'))

    def test_bad_requests(self):
        good = {'subscriber_id': 'x', 'subscriber_topic': 't',
                'datasource': 'nova', 'table': 'instances'}

        def post(**changes):
            body = dict(good, **changes)
            for key in [k for k, v in changes.items() if v is None]:
                del body[key]
            return self.request('POST', '/v1/subscriptions', body)

        cases = [
            (400, post(subscriber_id=None)),
            (400, post(subscriber_topic='')),
            (400, post(table=7)),
            (400, post(payload='everything')),
            (400, post(initial_rows='yes')),
            (400, post(color='red')),
            (400, post(filters={'host': 'h1'})),
            (400, post(filters=[{'column': 'host'}])),
            (400, post(filters=[{'column': 'host', 'value': []}])),
            (400, post(filters=[{'column': 'host', 'value': {'a': 1}}])),
            (400, post(filters=[{'column': 'no_such', 'value': 1}])),
            (404, post(datasource='neutron')),
            (404, post(table='ports')),
            (400, self.request('POST', '/v1/subscriptions', raw=b'{x')),
            (400, self.request('POST', '/v1/subscriptions', [good])),
            (404, self.request('GET', '/v1/subscriptions/x')),
            (404, self.request('POST', '/v1/subscriptions/x/ack')),
            (405, self.request('PUT', '/v1/subscriptions')),
        ]
        for expected, (status, body) in cases:
            self.assertEqual(expected, status, body)
            self.assertIn('message', body['error'])
        self.assertEqual(201, post()[0])
        status, body = post(subscriber_topic='other')
        self.assertEqual(409, status)
        self.assertIn('already exists', body['error']['message'])
        self.assertEqual('t', self.subs.registry.get('x').subscriber_topic)
        # Nothing half-registered by the refused requests.
        self.assertEqual(['x'], [s.subscriber_id
                                 for s in self.subs.registry.list()])

    def test_stale_subscriber_is_reported_until_it_acks(self):
        self.subscribe('old', [])
        self.subscribe('fresh', [])
        now = timeutils.utcnow()
        self.assertEqual([], self.subs.check_stale(now))
        later = now + datetime.timedelta(seconds=120)
        past = later - datetime.timedelta(seconds=30)
        self.subs.registry.ack('fresh', past)
        logs = self.useFixture(fixtures.FakeLogger(
            name='congress_consumer.subscriptions.service'))
        self.assertEqual(['old'], self.subs.check_stale(later))
        self.assertEqual(['old'], self.subs.check_stale(later))
        self.assertEqual(1, logs.output.count('is stale'))  # reported once
        stale = {s['subscriber_id']: s['stale']
                 for s in self.subs.list()}
        self.assertEqual({'old': False, 'fresh': False}, stale)
        self.assertEqual((204, None),
                         self.request('POST', '/v1/subscriptions/old/ack'))
        self.assertEqual([], self.subs.check_stale(
            timeutils.utcnow() + datetime.timedelta(seconds=30)))


backends.for_each_backend(SubscriptionsTest)


class RabbitQueueProbeTest(testtools.TestCase):
    """Stale detection through the subscriber's RabbitMQ queue."""

    def setUp(self):
        super().setUp()
        self.rabbit = self.useFixture(backends.RabbitFixture())
        self.conf = cfg.ConfigOpts()
        service_mod.register_opts(self.conf)
        self.conf([], default_config_files=[])
        # Registers [oslo_messaging_notifications] on the conf.
        self.transport = self.rabbit.notification_transport(self.conf)
        self.conf.set_override('transport_url', self.rabbit.transport_url,
                               'oslo_messaging_notifications')
        self.conf.set_override('stale_timeout', 60, 'subscriptions')
        self.queue = self.rabbit.topic + '.info'
        url = self.useFixture(backends.DatabaseFixture('sqlite')).url
        self.registry = registry_mod.Registry(url)
        self.addCleanup(self.registry.close)
        self.probe = service_mod.QueueProbe.for_conf(self.conf)
        self.subs = service_mod.Subscriptions(
            self.conf, {}, transport=self.transport, registry=self.registry)

    def wait_consumers(self, count):
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            status = self.probe.status(self.queue)
            if status is not None and status[1] == count:
                return status
            time.sleep(0.1)
        self.fail('%s never had %d consumers: %s'
                  % (self.queue, count, status))

    def test_queue_consumers_are_signs_of_life(self):
        self.assertIsInstance(self.probe, service_mod.QueueProbe)
        self.assertIsInstance(self.subs.probe, service_mod.QueueProbe)
        self.assertEqual(self.probe.url, self.subs.probe.url)
        self.assertIsNone(self.probe.status(self.queue))  # not declared
        old = datetime.datetime(2020, 1, 1)
        self.registry.add(registry_mod.Subscription(
            'q', self.rabbit.topic, 'nova', 'instances',
            created_at=old, last_ack_at=old))
        self.assertEqual(['q'], self.subs.check_stale())  # no queue
        collector = Collector(self.transport, self.rabbit.topic)
        self.wait_consumers(1)
        self.assertEqual([], self.subs.check_stale())  # consumed: alive
        self.assertGreater(self.registry.get('q').last_ack_at, old)
        collector.stop()
        self.assertEqual((0, 0), self.wait_consumers(0))
        later = timeutils.utcnow() + datetime.timedelta(seconds=120)
        self.assertEqual(['q'], self.subs.check_stale(later))

    def test_a_url_without_host_probes_the_local_broker(self):
        # 'rabbit://' is oslo.messaging's localhost:5672 as guest.
        self.assertEqual('amqp:///', service_mod.QueueProbe('rabbit://').url)
        self.assertEqual('amqp://u:p@h1:5672/vh', service_mod.QueueProbe(
            'rabbit://u:p@h1:5672,u:p@h2:5672/vh').url)
        if self.rabbit.transport_url == backends.DEFAULT_URLS['rabbit']:
            self.assertIsNone(service_mod.QueueProbe('rabbit://').status(
                self.queue))  # asked, and not declared

    def test_no_probe_without_rabbit(self):
        self.conf.set_override('transport_url', 'fake://',
                               'oslo_messaging_notifications')
        self.assertIsNone(service_mod.QueueProbe.for_conf(self.conf))


class RabbitDeliveryTest(testtools.TestCase):
    """Over RabbitMQ: notifications wait in the subscriber's queue."""

    def test_subscriber_down_then_back_gets_everything_in_order(self):
        p = self.useFixture(pipeline.Pipeline('postgresql', rabbit=True))
        conffixture.ConfFixture(p.conf)
        service_mod.register_opts(p.conf)
        p.conf.set_override('connection', self.useFixture(
            backends.DatabaseFixture('postgresql')).url, 'subscriptions')
        rabbit = self.useFixture(backends.RabbitFixture())
        transport = p.new_transport()
        subs = service_mod.Subscriptions(
            p.conf, {'nova': p.driver}, transport=transport,
            probe=service_mod.QueueProbe(rabbit.transport_url))
        subs.start()
        self.addCleanup(subs.stop)
        _run(p.producer.engine, 20, seed=1)
        self.assertEqual([], p.converge())
        collector = Collector(transport, rabbit.topic)
        sub, seq, rows, _ = subs.subscribe({
            'subscriber_id': 'r', 'subscriber_topic': rabbit.topic,
            'datasource': 'nova', 'table': 'instances',
            # Live rows: a soft delete (deleted = id) leaves the filter.
            'filters': [{'column': 'deleted', 'value': 0}],
            'initial_rows': True})
        self.assertEqual(0, seq)
        view = {(r['id'],): r for r in rows['instances']}
        _run(p.producer.engine, 20, seed=2)
        self.assertEqual([], p.converge())
        collector.stop()  # the subscriber goes away; its queue stays
        _run(p.producer.engine, 40, seed=3)
        self.assertEqual([], p.converge())
        deadline = time.monotonic() + 10
        while subs.publisher._queue and time.monotonic() < deadline:
            time.sleep(0.05)
        self.assertEqual(0, len(subs.publisher._queue))
        sent = subs.publisher.stats['sent']
        self.assertGreater(sent, len(collector.messages))
        messages, consumers = subs.probe.status(rabbit.topic + '.info')
        self.assertEqual(0, consumers)
        self.assertEqual(sent - len(collector.messages), messages)
        back = Collector(transport, rabbit.topic)
        self.addCleanup(back.stop)
        self.assertTrue(back.wait_seq(sent))
        payloads = [m for _, m in collector.messages + back.messages]
        self.assertEqual(list(range(1, sent + 1)),
                         [m['seq'] for m in payloads])
        for payload in payloads:
            key = (codec.decode_row(payload['pk'])['id'],)
            if payload['op'] == 'delete':
                view.pop(key, None)
            else:
                view[key] = codec.decode_row(payload['row'])
        expected = {k: r for k, r in p.db_rows('instances').items()
                    if r['deleted'] == 0}
        self.assertTrue(expected)
        self.assertEqual(expected, view)
        self.assertEqual({'insert', 'update', 'delete'},
                         {m['op'] for m in payloads})
