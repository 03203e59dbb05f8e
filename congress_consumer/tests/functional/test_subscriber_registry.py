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

"""The subscriber registry over RabbitMQ and a real HTTP client.

A producer database is replicated over RabbitMQ; subscriptions are made
through the REST API served on a real socket (``http.client``), and each
subscriber listens on its own RabbitMQ topic. What a subscriber rebuilds
from its notifications is compared row for row with the producer's
filtered table.
"""

import configparser
import datetime
import http.client
import json
import os
import threading
import time
import uuid

from oslo_config import cfg
import oslo_messaging
from oslo_messaging import conffixture
from oslo_utils import timeutils
import testtools
import testtools.content

from oslo_publish_tables import fixture as backends
from oslo_publish_tables.protocol import codec
from oslo_publish_tables import publisher

from congress_consumer.api import wsgi
from congress_consumer.replication import driver as driver_mod
from congress_consumer.replication import snapshots
from congress_consumer.subscriptions import api as api_mod
from congress_consumer.subscriptions import delivery
from congress_consumer.subscriptions import republisher as rep_mod
from congress_consumer.subscriptions import service as service_mod
from congress_consumer.tests.functional import test_subscriptions as base
from congress_consumer.tests import pipeline

SNIPPETS = os.path.join(os.path.dirname(__file__), '..', '..', '..', 'doc',
                        'source', '_snippets', 'subscriptions')


def snippet(name):
    """A request body of the user guide (_snippets/subscriptions)."""
    with open(os.path.join(SNIPPETS, name)) as f:
        return json.load(f)


def decoded(rows):
    return {(r['id'],): r for r in map(codec.decode_row, rows)}


class RegistryOverRabbitTest(testtools.TestCase):

    def setUp(self):
        super().setUp()
        self.p = self.useFixture(pipeline.Pipeline('sqlite', rabbit=True))
        conffixture.ConfFixture(self.p.conf)
        service_mod.register_opts(self.p.conf)
        self.p.conf.set_override('connection', self.useFixture(
            backends.DatabaseFixture('sqlite')).url, 'subscriptions')
        self.p.conf.set_override('check_queues', False, 'subscriptions')
        self.transport = self.p.new_transport()
        self.subs = self.start_service()
        base._run(self.p.producer.engine, 20, seed=1)
        self.assertEqual([], self.p.converge())

    def start_service(self):
        subs = service_mod.Subscriptions(
            self.p.conf, {'nova': self.p.driver}, transport=self.transport)
        subs.start()
        self.addCleanup(subs.stop)
        app = wsgi.API({'nova': self.p.driver},
                       extra_routes=api_mod.SubscriptionsAPI(subs).routes())
        server = wsgi.serve(app, '127.0.0.1', 0)
        self.addCleanup(server.server_close)
        self.addCleanup(server.shutdown)
        self.port = server.server_address[1]
        return subs

    def request(self, method, path, body=None, headers=None):
        conn = http.client.HTTPConnection('127.0.0.1', self.port, timeout=30)
        self.addCleanup(conn.close)
        data = None if body is None else json.dumps(body).encode()
        all_headers = {'Content-Type': 'application/json'}
        all_headers.update(headers or {})
        conn.request(method, path, body=data, headers=all_headers)
        resp = conn.getresponse()
        raw = resp.read()
        return resp.status, (json.loads(raw) if raw else None), resp

    def topic(self):
        """A subscriber topic whose RabbitMQ queues are deleted after."""
        return self.useFixture(backends.RabbitFixture()).topic

    def listen(self, topic):
        collector = base.Collector(self.transport, topic)
        self.addCleanup(collector.stop)
        return collector

    def settle(self, collector, sid, earlier=()):
        """Wait until ``sid`` got every notification of this epoch.

        The listener's threads may hand them over in any order.
        ``earlier`` are messages received by an earlier listener.
        """
        self.assertEqual([], self.p.converge())
        epoch = self.subs.publisher.epoch
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            with collector.lock:
                got = sorted(p['seq'] for _, p in
                             list(earlier) + collector.messages
                             if p['epoch'] == epoch)
            last = self.subs.publisher._by_id[sid].seq
            if got == list(range(1, last + 1)) and \
                    not self.subs.publisher._queue:
                return
            time.sleep(0.05)
        self.fail('%s: got seq %s of %d' % (sid, got, last))

    def expected(self, match, table='instances'):
        return {k: r for k, r in self.p.db_rows(table).items() if match(r)}

    @staticmethod
    def rebuild(messages, view=None):
        """A subscriber's view from one epoch's notifications."""
        view = dict(view or {})
        for event_type, payload in sorted(messages,
                                          key=lambda m: m[1]['seq']):
            if event_type == delivery.EVENT_DELTA:
                key = (codec.decode_row(payload['pk'])['id'],)
                if payload['op'] == 'delete':
                    view.pop(key, None)
                else:
                    view[key] = codec.decode_row(payload['row'])
            else:
                view = decoded(payload['rows'])
        return view


class UpdateTest(RegistryOverRabbitTest):
    """PUT and POST-upsert; the latest rows on insert and update."""

    def test_put_replaces_the_filter_and_notifies_the_latest_rows(self):
        topic = self.topic()
        collector = self.listen(topic)
        body = dict(snippet('subscription-notify.json'),
                    subscriber_topic=topic)
        status, created, resp = self.request('POST', '/v1/subscriptions',
                                             body)
        self.assertEqual(201, status, created)
        self.assertTrue(resp.getheader('Location').endswith(
            '/v1/subscriptions/w-notify'))
        self.assertTrue(collector.wait_seq(1))
        event, first = collector.messages[0]  # nothing else sent yet
        self.assertEqual((delivery.EVENT_SNAPSHOT, 'subscribe', 1),
                         (event, first['reason'], first['seq']))
        self.assertEqual(self.expected(lambda r: r['host'] == 'host1'),
                         decoded(first['rows']))
        change = snippet('subscription-update.json')
        status, updated, _ = self.request(
            'PUT', '/v1/subscriptions/w-notify',
            dict(change, subscriber_topic=topic))
        self.assertEqual(200, status, updated)
        self.assertEqual(change['filters'], updated['filters'])
        self.assertEqual(created['created_at'], updated['created_at'])
        self.assertTrue(collector.wait_seq(2))
        _, second = collector.messages[1]
        self.assertEqual('update', second['reason'])
        host2 = (lambda r: r['host'] == 'host2')
        self.assertEqual(self.expected(host2), decoded(second['rows']))
        base._run(self.p.producer.engine, 60, seed=2)
        self.settle(collector, 'w-notify')
        seqs = sorted(p['seq'] for _, p in collector.messages)
        self.assertEqual(list(range(1, len(seqs) + 1)), seqs)
        self.assertGreater(len(seqs), 2)
        self.assertEqual(self.expected(host2), self.rebuild(
            [m for m in collector.messages if m[1]['seq'] > 1]))

    def test_post_upserts_only_when_asked(self):
        topic = self.topic()
        body = {'subscriber_id': 'u', 'subscriber_topic': topic,
                'datasource': 'nova', 'table': 'instances'}
        self.assertEqual(201, self.request('POST', '/v1/subscriptions',
                                           body)[0])
        moved = dict(body, table='tags')
        self.assertEqual(409, self.request('POST', '/v1/subscriptions',
                                           moved)[0])
        status, info, _ = self.request('POST', '/v1/subscriptions',
                                       dict(moved, upsert=True))
        self.assertEqual((200, 'tags'), (status, info['table']), info)
        self.assertEqual('tags', self.subs.registry.get('u').table)
        fresh = dict(body, subscriber_id='v', upsert=True)
        self.assertEqual(201, self.request('POST', '/v1/subscriptions',
                                           fresh)[0])

    def test_put_errors(self):
        body = {'subscriber_topic': 't', 'datasource': 'nova',
                'table': 'instances'}
        self.assertEqual(404, self.request(
            'PUT', '/v1/subscriptions/nobody', body)[0])
        self.assertEqual(201, self.request(
            'POST', '/v1/subscriptions', dict(body, subscriber_id='a'))[0])
        for bad in (dict(body, subscriber_id='b'), dict(body, notify=1),
                    dict(body, filters=[{'column': 'nope', 'value': 1}]),
                    [body]):
            status, answer, _ = self.request('PUT', '/v1/subscriptions/a',
                                             bad)
            self.assertEqual(400, status, answer)
        self.assertEqual('t', self.subs.registry.get('a').subscriber_topic)


class OnapFieldsTest(RegistryOverRabbitTest):
    """ONAP's fields are accepted, kept and echoed."""

    def test_onap_fields_are_kept_and_request_id_echoed(self):
        body = dict(snippet('subscription-onap.json'),
                    subscriber_topic=self.topic())
        status, info, resp = self.request('POST', '/v1/subscriptions', body)
        self.assertEqual(201, status, info)
        onap = {k: body[k] for k in ('ONAPName', 'ONAPComponent',
                                     'ONAPInstance', 'requestId')}
        self.assertEqual(onap, {k: info.get(k) for k in onap})
        self.assertEqual(body['requestId'],
                         resp.getheader('X-ONAP-RequestID'))
        del onap['requestId']  # per request, not kept
        status, shown, _ = self.request('GET',
                                        '/v1/subscriptions/pdp-apex-1')
        self.assertEqual(onap, {k: shown.get(k) for k in onap})
        self.assertNotIn('requestId', shown)
        self.subs.stop()
        self.start_service()  # kept in the registry's database
        shown = self.request('GET', '/v1/subscriptions/pdp-apex-1')[1]
        self.assertEqual(onap, {k: shown.get(k) for k in onap})
        status, info, resp = self.request(
            'PUT', '/v1/subscriptions/pdp-apex-1',
            dict(body, ONAPInstance='apex-pdp-1', requestId=None),
            headers={'X-ONAP-RequestID': 'r-2'})
        self.assertEqual(400, status, info)  # requestId must be a string
        del body['requestId']
        status, info, resp = self.request(
            'PUT', '/v1/subscriptions/pdp-apex-1',
            dict(body, ONAPInstance='apex-pdp-1'),
            headers={'X-ONAP-RequestID': 'r-2'})
        self.assertEqual((200, 'apex-pdp-1', 'r-2'),
                         (status, info['ONAPInstance'], info['requestId']))
        self.assertEqual('r-2', resp.getheader('X-ONAP-RequestID'))

    def test_an_older_registry_table_gets_the_new_column(self):
        import sqlalchemy as sa

        from congress_consumer.subscriptions import registry as registry_mod
        url = self.useFixture(backends.DatabaseFixture('sqlite')).url
        engine = sa.create_engine(url)
        old = sa.MetaData()
        sa.Table(registry_mod.TABLE.name, old,
                 *[c.copy() for c in registry_mod.TABLE.columns
                   if c.name != 'onap'])
        old.create_all(engine)
        engine.dispose()
        registry = registry_mod.Registry(url)
        self.addCleanup(registry.close)
        registry.add(registry_mod.Subscription(
            'o', 't', 'nova', 'instances', onap={'ONAPName': 'Policy'}))
        self.assertEqual({'ONAPName': 'Policy'}, registry.get('o').onap)


def big_vm(row):
    return (row['host'] or '').startswith('host') and \
        row['memory_mb'] is not None and row['memory_mb'] >= 1024


def busy_node(row):
    return row['vcpus_used'] is not None and 4 <= row['vcpus_used'] < 12


class FiltersTest(RegistryOverRabbitTest):
    """AND, prefix and range; several tables; types checked."""

    def test_and_prefix_range_over_two_tables(self):
        topic = self.topic()
        collector = self.listen(topic)
        body = dict(snippet('subscription-filters.json'),
                    subscriber_topic=topic)
        status, info, _ = self.request('POST', '/v1/subscriptions', body)
        self.assertEqual(201, status, info)
        self.assertEqual(['instances', 'compute_nodes'], info['tables'])
        self.assertEqual(body['filters'], info['filters'])
        views = {t: decoded(info['rows'][t]) for t in info['tables']}
        base._run(self.p.producer.engine, 120, seed=8)
        self.settle(collector, 'big-vms')
        seqs = sorted(p['seq'] for _, p in collector.messages)
        self.assertEqual(list(range(1, len(seqs) + 1)), seqs)
        for table in info['tables']:
            views[table] = self.rebuild(
                [m for m in collector.messages if m[1]['table'] == table],
                views[table])
        expected = {'instances': self.expected(big_vm),
                    'compute_nodes': self.expected(busy_node,
                                                   'compute_nodes')}
        for table, rows in expected.items():
            self.assertTrue(rows, table)
            self.assertLess(len(rows), len(self.p.db_rows(table)), table)
        self.assertEqual(expected, views)

    def test_a_value_that_cannot_match_the_column_is_a_400(self):
        good = {'subscriber_id': 't', 'subscriber_topic': 't',
                'datasource': 'nova', 'tables': ['instances', 'tags']}
        for filters, text in [
                ([{'column': 'memory_mb', 'value': 'lots',
                   'table': 'instances'}], 'a number column'),
                ([{'column': 'host', 'range': {'gt': 3},
                   'table': 'instances'}], 'a text column'),
                ([{'column': 'memory_mb', 'prefix': '1',
                   'table': 'instances'}], 'prefix on'),
                ([{'column': 'host', 'value': 'h'}], "no column 'host' in "
                 "tags")]:
            status, answer, _ = self.request(
                'POST', '/v1/subscriptions', dict(good, filters=filters))
            self.assertEqual(400, status, answer)
            self.assertIn(text, answer['error']['message'])
        for tables in (['instances', 'instances'], [], 'tags',
                       ['instances', 'ports']):
            status, answer, _ = self.request(
                'POST', '/v1/subscriptions', dict(good, tables=tables))
            self.assertEqual(404 if 'ports' in tables else 400, status,
                             answer)
        self.assertEqual([], self.subs.registry.list())


class RestartTest(RegistryOverRabbitTest):
    """After a restart every subscriber learns what changed meanwhile."""

    def test_subscribers_learn_what_changed_while_the_consumer_was_down(self):
        collectors, views, filters = {}, {}, {
            'live': [{'column': 'deleted', 'value': 0}],
            'host2': [{'column': 'host', 'value': 'host2'}]}
        for sid, spec in filters.items():
            topic = self.topic()
            collectors[sid] = self.listen(topic)
            status, info, _ = self.request('POST', '/v1/subscriptions', {
                'subscriber_id': sid, 'subscriber_topic': topic,
                'datasource': 'nova', 'table': 'instances',
                'filters': spec, 'initial_rows': True})
            self.assertEqual(201, status, info)
            views[sid] = decoded(info['rows'])
        base._run(self.p.producer.engine, 30, seed=2)
        for sid, collector in collectors.items():
            self.settle(collector, sid)
        # The consumer goes down: its subscriptions and its replica.
        self.subs.stop()
        self.p.driver.stop()
        before = {sid: self.rebuild(c.messages, views[sid])
                  for sid, c in collectors.items()}
        base._run(self.p.producer.engine, 60, seed=3)
        # A new consumer: a new driver loads its replica from a snapshot.
        self.p.driver = self.p.new_driver()
        self.subs = self.start_service()
        self.assertEqual([], self.p.converge())
        epoch = self.subs.publisher.epoch
        for sid, collector in collectors.items():
            self.settle(collector, sid)
            new = [m for m in collector.messages if m[1]['epoch'] == epoch]
            first = min(new, key=lambda m: m[1]['seq'])
            self.assertEqual((delivery.EVENT_SNAPSHOT, 'restart', 1),
                             (first[0], first[1]['reason'], first[1]['seq']))
            field, value = filters[sid][0]['column'], \
                filters[sid][0]['value']
            expected = self.expected(lambda r: r[field] == value)
            self.assertNotEqual(expected, before[sid])  # changed meanwhile
            self.assertEqual(expected, self.rebuild(new))


class ExpiryTest(RegistryOverRabbitTest):
    """Stale subscriptions are deleted after expire_after."""

    def test_stale_subscription_expires(self):
        self.p.conf.set_override('stale_timeout', 60, 'subscriptions')
        self.p.conf.set_override('expire_after', 300, 'subscriptions')
        for sid in ('old', 'fresh'):
            body = {'subscriber_id': sid, 'subscriber_topic': self.topic(),
                    'datasource': 'nova', 'table': 'instances'}
            self.assertEqual(201, self.request('POST', '/v1/subscriptions',
                                               body)[0])
        now = timeutils.utcnow()
        self.assertEqual([], self.subs.check_stale(now))
        later = now + datetime.timedelta(seconds=400)
        self.subs.registry.ack('fresh', later -
                               datetime.timedelta(seconds=100))
        self.assertEqual(['fresh'], self.subs.check_stale(later))
        self.assertEqual(1, self.subs.expired)
        self.assertEqual(404, self.request('GET',
                                           '/v1/subscriptions/old')[0])
        self.assertNotIn('old', self.subs.publisher)
        self.assertEqual(['fresh'], [s['subscriber_id'] for s in
                                     self.request('GET',
                                                  '/v1/subscriptions')[1][
                                         'results']])


class DurableTest(RegistryOverRabbitTest):
    """durable = true: durable queues, persistent messages."""

    def setUp(self):
        self.exchange = 'pt_test_subs_%s' % uuid.uuid4().hex[:12]
        self.addCleanup(self._delete_exchange)
        super().setUp()

    def start_service(self):
        """The consumer with the guide's consumer-durable.conf."""
        snippet = configparser.ConfigParser()
        snippet.read(os.path.join(SNIPPETS, 'consumer-durable.conf'))
        section = snippet['subscriptions']
        self.assertEqual('congress_subscriptions',
                         section['durable_exchange'])
        self.p.conf.set_override('durable', section.getboolean('durable'),
                                 'subscriptions')
        self.p.conf.set_override('expire_after',
                                 section.getfloat('expire_after'),
                                 'subscriptions')
        # An exchange of this test's own, deleted after it.
        self.p.conf.set_override('durable_exchange', self.exchange,
                                 'subscriptions')
        return super().start_service()

    def _amqp(self):
        import kombu
        return kombu.Connection('amqp' + self.p.transport_url[6:],
                                connect_timeout=5)

    def _delete_exchange(self):
        with self._amqp() as conn, conn.channel() as channel:
            channel.exchange_delete(self.exchange)

    def durable_listener(self, topic):
        """A subscriber configured with the guide's subscriber-durable.conf.

        On this test's exchange instead of the snippet's.
        """
        conf = cfg.ConfigOpts()
        conf(['--config-file', os.path.join(SNIPPETS,
                                            'subscriber-durable.conf')],
             project='subscriber', default_config_files=[],
             default_config_dirs=[])
        transport = oslo_messaging.get_notification_transport(
            conf, url=self.p.transport_url)
        self.addCleanup(transport.cleanup)
        self.assertEqual(('congress_subscriptions', True),
                         (conf.control_exchange,
                          conf.oslo_messaging_rabbit.amqp_durable_queues))
        collector = base.Collector.__new__(base.Collector)
        collector.messages, collector.lock = [], threading.Lock()
        collector.listener = oslo_messaging.get_notification_listener(
            transport, [oslo_messaging.Target(topic=topic,
                                              exchange=self.exchange)],
            [collector], executor='threading')
        collector.listener.start()
        self.addCleanup(collector.stop)
        return collector

    def test_durable_queue_and_persistent_messages(self):
        topic = self.topic()
        collector = self.durable_listener(topic)
        body = {'subscriber_id': 'd', 'subscriber_topic': topic,
                'datasource': 'nova', 'table': 'instances', 'notify': True}
        self.assertEqual(201, self.request('POST', '/v1/subscriptions',
                                           body)[0])
        self.assertTrue(collector.wait_seq(1))
        collector.stop()
        base._run(self.p.producer.engine, 20, seed=4)
        self.assertEqual([], self.p.converge())
        queue = topic + '.info'
        with self._amqp() as conn:
            with conn.channel() as channel:
                # A non-durable declare of the queue is refused: durable.
                self.assertRaises(conn.channel_errors, channel.queue_declare,
                                  queue=queue, durable=False)
            with conn.channel() as channel:
                message = None
                deadline = time.monotonic() + 10
                while message is None and time.monotonic() < deadline:
                    message = channel.basic_get(queue)
                    time.sleep(0.05)
                self.assertIsNotNone(message)
                self.assertEqual(2, message.properties['delivery_mode'])
                channel.basic_reject(message.delivery_tag, requeue=True)
        back = self.durable_listener(topic)
        self.settle(back, 'd', collector.messages)
        seqs = sorted(p['seq'] for _, p in collector.messages +
                      back.messages)
        self.assertEqual(list(range(1, len(seqs) + 1)), seqs)


class StatusTest(RegistryOverRabbitTest):
    """Congress's status fields report what happens."""

    def status(self):
        status, body, _ = self.request('GET',
                                       '/v1/data-sources/nova/status')
        self.assertEqual(200, status, body)
        return body

    def test_number_of_updates_last_updated_and_subscribers(self):
        first = self.status()
        tables = first['tables'].values()
        self.assertEqual(sum(t['applied'] + t['snapshots'] for t in tables),
                         first['number_of_updates'])
        self.assertGreater(first['number_of_updates'], len(tables))
        self.assertIsNotNone(first['last_updated'])
        self.assertEqual(0, first['subscribers'])
        for sid, tables in (('a', ['instances']),
                            ('b', ['instances', 'tags'])):
            self.assertEqual(201, self.request('POST', '/v1/subscriptions', {
                'subscriber_id': sid, 'subscriber_topic': self.topic(),
                'datasource': 'nova', 'tables': tables})[0])
        base._run(self.p.producer.engine, 20, seed=5)
        self.assertEqual([], self.p.converge())
        second = self.status()
        self.assertEqual(2, second['subscribers'])
        self.assertGreater(second['number_of_updates'],
                           first['number_of_updates'])
        self.assertGreater(
            datetime.datetime.fromisoformat(second['last_updated']),
            datetime.datetime.fromisoformat(first['last_updated']))
        self.assertEqual(sum(t['applied'] + t['snapshots']
                             for t in second['tables'].values()),
                         second['number_of_updates'])
        self.assertEqual(204, self.request('DELETE',
                                           '/v1/subscriptions/a')[0])
        self.assertEqual(1, self.status()['subscribers'])
        self.subs.stop()
        self.assertEqual(0, self.p.driver.get_status()['subscribers'])


class RepublisherStopTest(testtools.TestCase):
    """A downstream replica of a stopped republisher is not LIVE."""

    def _republished(self):
        """(pipeline, republishing service, LIVE downstream copy)."""
        p = self.useFixture(pipeline.Pipeline('sqlite', rabbit=True))
        conffixture.ConfFixture(p.conf)
        service_mod.register_opts(p.conf)
        rabbit = self.useFixture(backends.RabbitFixture())
        prefix = rabbit.topic
        topic, rpc_topic = rep_mod.topics(prefix, 'nova')
        for queue in (topic, topic + '.info', rpc_topic,
                      rpc_topic + '.test', topic + '_copy'):
            rabbit.add_queue(queue)
        for name, value in (('republish', ['nova']),
                            ('topic_prefix', prefix),
                            ('heartbeat_interval', 0.5)):
            p.conf.set_override(name, value, 'subscriptions')
        transport = p.new_transport()
        rpc = oslo_messaging.get_rpc_transport(p.conf, url=p.transport_url)
        self.addCleanup(rpc.cleanup)
        subs = service_mod.Subscriptions(
            p.conf, {'nova': p.driver}, transport=transport,
            rpc_transport=rpc, server='test')
        subs.start()
        self.addCleanup(subs.stop)
        base._run(p.producer.engine, 20, seed=1)
        self.assertEqual([], p.converge())
        copy = driver_mod.PublishTablesDriver(
            'nova-copy', dict(tables=p.tables, topic=topic, gap_timeout=0.5,
                              producer_timeout=3.0, pool=topic + '_copy'),
            conf=p.conf, transport=p.new_transport(),
            snapshot_source=snapshots.RpcSnapshotSource(rpc, rpc_topic,
                                                        timeout=10))
        copy.start()
        self.addCleanup(copy.stop)
        self.assertEqual([], p.converge(driver=copy, timeout=30))
        states = {t['state'] for t in copy.get_status()['tables'].values()}
        self.assertEqual({'LIVE'}, states)
        return p, subs, copy

    def _assert_goes_stale(self, copy, since):
        deadline = since + 60
        while time.monotonic() < deadline:
            tables = copy.get_status()['tables'].values()
            if 'LIVE' not in {t['state'] for t in tables}:
                break
            time.sleep(0.1)
        took = time.monotonic() - since
        self.addDetail('seconds_to_not_live',
                       testtools.content.text_content('%.2f' % took))
        status = copy.get_status()
        self.assertTrue(status['stale'], status)
        for table in status['tables'].values():
            self.assertNotEqual('LIVE', table['state'])
            self.assertFalse(table['caught_up'])

    def test_downstream_goes_stale_when_the_republisher_stops(self):
        p, subs, copy = self._republished()
        stopped = time.monotonic()
        subs.stop()  # the upstream stops republishing
        base._run(p.producer.engine, 10, seed=2)  # its source changes on
        self._assert_goes_stale(copy, stopped)

    def test_downstream_goes_stale_when_the_upstream_does(self):
        p, subs, copy = self._republished()
        stopped = time.monotonic()
        # The source's producer dies (no goodbye, no more capture): the
        # upstream replica goes STALE, and the republisher, still
        # running, must stop vouching for it.
        p.producer.sender.goodbye = False
        p.producer.sender.stop()
        publisher.uninstall(p.producer.engine)
        base._run(p.producer.engine, 10, seed=2)  # unseen changes
        self._assert_goes_stale(copy, stopped)
        self.assertTrue(p.driver.get_status()['stale'])
