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

"""congress-consumer: options, their mapping to driver args, the command."""

import json
import logging
import os
import signal
import socket
import threading
import time
import urllib.error
import urllib.request
import uuid

import fixtures
from oslo_config import cfg
import sqlalchemy as sa
import testtools

from oslo_publish_tables import fixture as backends
from publish_tables_demo import schema as m

from congress_consumer.cmd import consumer
from congress_consumer.datasources import http_push
from congress_consumer import exceptions
from congress_consumer import opts
from congress_consumer.replication import driver as driver_mod


class ConfTestCase(testtools.TestCase):

    def make_conf(self, text=''):
        """A private ConfigOpts parsed from a config file with ``text``."""
        path = self.useFixture(fixtures.TempDir()).join('consumer.conf')
        with open(path, 'w') as f:
            f.write(text)
        conf = cfg.ConfigOpts()
        consumer.register_opts(conf)
        conf([], project='congress-consumer-tests',
             default_config_files=[path], default_config_dirs=[])
        return conf


class OptsTest(ConfTestCase):

    def test_list_opts(self):
        groups = opts.list_opts()
        self.assertEqual(['consumer', 'datasource_nova', 'subscriptions',
                          'metrics'],
                         [getattr(g, 'name', g) for g, _ in groups])
        self.assertEqual(['datasources', 'api_host', 'api_port',
                          'enable_push', 'push_max_body_bytes',
                          'auth_strategy', 'api_paste_config'],
                         [o.dest for o in groups[0][1]])
        self.assertEqual(
            ['driver', 'tables', 'push_token', 'columns', 'topic', 'pool',
             'transport_url', 'control_exchange', 'snapshot_source',
             'snapshot_topic',
             'database_url', 'outbox_schema', 'exclude_columns',
             'gap_timeout', 'producer_timeout',
             'tombstone_ttl', 'chunk_rows', 'gc_freeze', 'verify_interval',
             'verify_rows_per_second', 'verify_chunk_rows', 'signing_key',
             'signing_key_id',
             'previous_signing_key', 'previous_signing_key_id',
             'require_signature', 'max_clock_skew', 'min_resync_interval',
             'translators', 'notification_topics',
             'exchange', 'poll_time', 'rpc_topic', 'actions', 'action_args',
             'rpc_timeout', 'driver_args'],
            [o.dest for o in groups[1][1]])
        secret = {o.dest for o in groups[1][1] if o.secret}
        self.assertEqual({'transport_url', 'database_url', 'push_token',
                          'signing_key', 'previous_signing_key'}, secret)
        self.assertEqual({'connection', 'signing_key'},
                         {o.dest for o in groups[2][1] if o.secret})
        # Copies: the generator may not change the options in use.
        self.assertIsNot(opts.CONSUMER_OPTS[0], groups[0][1][0])

    def test_consumer_defaults(self):
        conf = self.make_conf()
        self.assertEqual([], conf.consumer.datasources)
        self.assertEqual('127.0.0.1', conf.consumer.api_host)
        self.assertEqual(8780, conf.consumer.api_port)
        self.assertFalse(conf.consumer.enable_push)
        self.assertEqual(1024 * 1024, conf.consumer.push_max_body_bytes)

    def test_datasource_groups_registered_at_runtime(self):
        conf = self.make_conf('[consumer]\ndatasources = nova, neutron\n'
                              '[datasource_nova]\ntables = instances\n'
                              '[datasource_neutron]\ntables = ports\n')
        self.assertEqual(['nova', 'neutron'], consumer.datasource_names(conf))
        self.assertNotIn('datasource_nova', conf)
        self.assertEqual(['instances'],
                         consumer.driver_args(conf, 'nova')['tables'])
        self.assertEqual(['ports'],
                         consumer.driver_args(conf, 'neutron')['tables'])
        self.assertIn('datasource_nova', conf)


class DriverArgsTest(ConfTestCase):

    def args(self, section, name='nova'):
        conf = self.make_conf('[datasource_%s]\n%s' % (name, section))
        return consumer.driver_args(conf, name)

    def test_defaults(self):
        self.assertEqual(
            {'tables': ['instances', 'compute_nodes'],
             'topic': 'publish_tables', 'snapshot_source': 'rpc',
             'snapshot_topic': 'publish_tables_snapshot',
             'gap_timeout': 5.0, 'producer_timeout': 30.0,
             'tombstone_ttl': 600.0, 'chunk_rows': 5000,
             'gc_freeze': True, 'verify_interval': 600.0,
             'verify_rows_per_second': 20000.0, 'verify_chunk_rows': 1000,
             'max_clock_skew': 300.0, 'min_resync_interval': 10.0},
            self.args('tables = instances, compute_nodes\n'))

    def test_every_option(self):
        self.assertEqual(
            {'tables': ['instances', 'tags'],
             'columns': {'instances': ['uuid', 'host'], 'tags': ['tag']},
             'topic': 'nova_tables', 'pool': 'congress',
             'transport_url': 'rabbit://u:p@h:5672/',
             'control_exchange': 'nova',
             'snapshot_source': 'database',
             'snapshot_topic': 'nova_snapshots',
             'database_url': 'mysql+pymysql://ro:pw@db/nova',
             'outbox_schema': 'nova_outbox',
             'gap_timeout': 2.5, 'producer_timeout': 60.0,
             'tombstone_ttl': 120.0, 'chunk_rows': 100,
             'gc_freeze': False, 'verify_interval': 0.0,
             'verify_rows_per_second': 500.0, 'verify_chunk_rows': 50,
             'max_clock_skew': 60.0, 'min_resync_interval': 0.0},
            self.args('tables = instances,tags\n'
                      'columns = instances.uuid,instances.host,tags.tag\n'
                      'topic = nova_tables\npool = congress\n'
                      'transport_url = rabbit://u:p@h:5672/\n'
                      'control_exchange = nova\n'
                      'snapshot_source = database\n'
                      'snapshot_topic = nova_snapshots\n'
                      'database_url = mysql+pymysql://ro:pw@db/nova\n'
                      'outbox_schema = nova_outbox\n'
                      'gap_timeout = 2.5\nproducer_timeout = 60\n'
                      'tombstone_ttl = 120\nchunk_rows = 100\n'
                      'gc_freeze = false\nverify_interval = 0\n'
                      'verify_rows_per_second = 500\n'
                      'verify_chunk_rows = 50\nmax_clock_skew = 60\n'
                      'min_resync_interval = 0\n'))

    def assert_error(self, section, expected, name='nova'):
        exc = self.assertRaises(exceptions.ConfigError, self.args, section,
                                name)
        self.assertIsInstance(exc, exceptions.CongressConsumerError)
        self.assertIn(expected, str(exc))
        return exc

    def test_unknown_option_is_an_error(self):
        exc = self.assert_error('tables = instances\nresync_interval = 60\n',
                                '[datasource_nova] resync_interval = '
                                "'60': no such option")
        self.assertIn('consumer.conf', str(exc))

    def test_misspelt_option_is_an_error(self):
        self.assert_error('tables = instances\npol = congress\n',
                          "[datasource_nova] pol = 'congress'")

    def test_bad_float(self):
        self.assert_error('tables = instances\ngap_timeout = soon\n',
                          "[datasource_nova] gap_timeout = 'soon': ")

    def test_bad_choice(self):
        self.assert_error('tables = instances\nsnapshot_source = nfs\n',
                          "[datasource_nova] snapshot_source = 'nfs': ")

    def test_not_positive(self):
        self.assert_error('tables = instances\nproducer_timeout = 0\n',
                          '[datasource_nova] producer_timeout = 0.0: must '
                          'be greater than 0')

    def test_no_float_option_takes_nan_or_infinity(self):
        for option in ('gap_timeout', 'producer_timeout', 'tombstone_ttl',
                       'max_clock_skew', 'min_resync_interval'):
            for value in ('nan', 'inf', '-inf', '1e400'):
                self.assert_error('tables = instances\n%s = %s\n'
                                  % (option, value),
                                  "[datasource_nova] %s = " % option)

    def test_float_options_are_bounded(self):
        self.assert_error('tables = instances\ngap_timeout = 1e9\n',
                          '[datasource_nova] gap_timeout = ')
        self.assert_error('tables = instances\nmax_clock_skew = -1\n',
                          '[datasource_nova] max_clock_skew = ')

    def test_no_tables(self):
        self.assert_error('topic = x\n', '[datasource_nova] tables = '
                          "'': list at least one published table")

    def test_bad_columns(self):
        self.assert_error('tables = instances\ncolumns = uuid\n',
                          "[datasource_nova] columns = 'uuid': expected "
                          "table.column")
        self.assert_error('tables = instances\ncolumns = tags.tag\n',
                          "[datasource_nova] columns = 'tags.tag': table "
                          "tags is not listed in tables")

    def test_exclude_columns(self):
        args = self.args('tables = instances\nsnapshot_source = database\n'
                         'database_url = sqlite://\n'
                         'exclude_columns = instances.user_data\n')
        self.assertEqual(['instances.user_data'], args['exclude_columns'])
        self.assert_error('tables = instances\nexclude_columns = tags.tag\n',
                          "[datasource_nova] exclude_columns = 'tags.tag': "
                          "expected table.column of a listed table")

    def test_database_source_needs_url(self):
        self.assert_error('tables = instances\nsnapshot_source = database\n',
                          "[datasource_nova] database_url = '': required "
                          "by snapshot_source = database")

    def test_bad_datasource_names(self):
        for names in ('a b', 'nova,nova', 'x/y'):
            conf = self.make_conf('[consumer]\ndatasources = %s\n' % names)
            exc = self.assertRaises(exceptions.ConfigError,
                                    consumer.datasource_names, conf)
            self.assertIn('[consumer] datasources = ', str(exc))

    def test_mask(self):
        self.assertEqual('rabbit://u:***@h:5672/, mysql://ro:***@db/x',
                         consumer.mask('rabbit://u:p@h:5672/, '
                                       'mysql://ro:pw@db/x'))
        self.assertEqual('rabbit://u:***@h1,u:***@h2/',
                         consumer.mask('rabbit://u:p1@h1,u:p2@h2/'))


def _free_port():
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


class ConsumerTest(ConfTestCase):
    """The command on a database snapshot source and fake:// messaging."""

    def setUp(self):
        super().setUp()
        db = self.useFixture(backends.DatabaseFixture('sqlite'))
        engine = sa.create_engine(db.url)
        m.create(engine)
        self.uuids = sorted(str(uuid.uuid4()) for _ in range(3))
        with engine.begin() as conn:
            conn.execute(sa.insert(m.Instance.__table__),
                         [{'uuid': u, 'host': 'h%d' % i, 'deleted': 0}
                          for i, u in enumerate(self.uuids)])
        engine.dispose()
        self.db_url = db.url
        self.port = _free_port()
        self.text = ('[DEFAULT]\ntransport_url = fake://\n'
                     '[consumer]\ndatasources = nova\n'
                     'api_port = %d\n'
                     '[datasource_nova]\ntables = instances\n'
                     'columns = instances.uuid,instances.host\n'
                     'snapshot_source = database\n'
                     'database_url = %s\n'
                     'transport_url = fake://user:Sup3rS3cret@/\n'
                     % (self.port, self.db_url))
        self.useFixture(fixtures.MockPatch(
            'congress_consumer.cmd.consumer.logging.setup'))
        self.log = self.useFixture(fixtures.FakeLogger(level=logging.DEBUG))

    def get(self, path):
        url = 'http://127.0.0.1:%d%s' % (self.port, path)
        with urllib.request.urlopen(url, timeout=5) as resp:
            return json.loads(resp.read())

    def test_build_drivers(self):
        conf = self.make_conf(self.text)
        drivers = consumer.build_drivers(conf)
        self.addCleanup(drivers['nova'].stop)
        driver = drivers['nova']
        self.assertIsInstance(driver, driver_mod.PublishTablesDriver)
        self.assertEqual('nova', driver.name)
        self.assertEqual(consumer.driver_args(conf, 'nova'), driver.args)
        self.assertEqual(('uuid', 'host'),
                         driver.get_column_names('instances'))

    def test_consumer_serves_the_replica(self):
        conf = self.make_conf(self.text.replace(
            'api_port = %d' % self.port, 'api_port = 0'))
        service = consumer.Consumer(conf, consumer.build_drivers(conf))
        service.start()
        self.addCleanup(service.stop)
        self.assertTrue(service.drivers['nova'].wait_live(20))
        url = service.url + '/v1/data-sources/nova/tables/instances/rows'
        with urllib.request.urlopen(url, timeout=5) as resp:
            rows = json.loads(resp.read())['results']
        self.assertEqual([[u, 'h%d' % i] for i, u in enumerate(self.uuids)],
                         sorted(r['data'] for r in rows))
        service.stop()
        self.assertIsNone(service.server)

    def test_stop_goes_on_past_a_failure(self):
        conf = self.make_conf(self.text.replace(
            'api_port = %d' % self.port, 'api_port = 0'))
        service = consumer.Consumer(conf, consumer.build_drivers(conf))
        service.start()
        self.addCleanup(service.stop)
        server, driver = service.server, service.drivers['nova']
        stop_server, stop_driver = server.stop, driver.stop
        stopped = []

        def failing_server_stop():
            stopped.append('server')
            stop_server()
            raise RuntimeError('boom')

        def driver_stop():
            stopped.append('nova')
            stop_driver()

        server.stop, driver.stop = failing_server_stop, driver_stop
        service.stop()  # does not raise
        self.assertEqual(['server', 'nova'], stopped)
        self.assertIsNone(service.server)
        self.assertIn('stopping the API server failed', self.log.output)

    def test_consumer_serves_subscriptions(self):
        subs_db = self.useFixture(backends.DatabaseFixture('sqlite')).url
        conf = self.make_conf(self.text.replace(
            'api_port = %d' % self.port, 'api_port = 0') +
            '[subscriptions]\nconnection = %s\nrepublish = nova\n'
            % subs_db)
        service = consumer.Consumer(conf, consumer.build_drivers(conf))
        service.start()
        self.addCleanup(service.stop)
        self.assertTrue(service.drivers['nova'].wait_live(20))
        self.assertEqual(['nova'], list(service.subscriptions.republishers))
        body = json.dumps({'subscriber_id': 'w', 'subscriber_topic': 'w',
                           'datasource': 'nova', 'table': 'instances',
                           'filters': [{'column': 'host', 'value': 'h1'}],
                           'initial_rows': True}).encode()
        request = urllib.request.Request(
            service.url + '/v1/subscriptions', data=body, method='POST',
            headers={'Content-Type': 'application/json'})
        with urllib.request.urlopen(request, timeout=5) as resp:
            self.assertEqual(201, resp.status)
            created = json.loads(resp.read())
        self.assertEqual([self.uuids[1]],
                         [r['uuid'] for r in created['rows']])
        service.stop()
        self.assertIsNone(service.subscriptions)
        # The registry kept it: a restarted consumer lists it.
        service = consumer.Consumer(conf, consumer.build_drivers(conf))
        service.start()
        self.addCleanup(service.stop)
        with urllib.request.urlopen(service.url + '/v1/subscriptions',
                                    timeout=5) as resp:
            listed = json.loads(resp.read())['results']
        self.assertEqual(['w'], [s['subscriber_id'] for s in listed])

    def test_push_datasources_can_be_subscribed(self):
        subs_db = self.useFixture(backends.DatabaseFixture('sqlite')).url
        text = self.text.replace('datasources = nova',
                                 'datasources = nova,alarms\n'
                                 'enable_push = true')
        text = text.replace('api_port = %d' % self.port, 'api_port = 0')
        text += ('[datasource_alarms]\ndriver = push\n'
                 'tables = alarms\ncolumns = alarms.id,alarms.state\n'
                 'push_token = T0ken\n'
                 '[subscriptions]\nconnection = %s\nrepublish = alarms\n'
                 % subs_db)
        conf = self.make_conf(text)
        service = consumer.Consumer(conf, consumer.build_drivers(conf))
        service.start()
        self.addCleanup(service.stop)
        self.assertEqual(['alarms', 'nova'],
                         sorted(service.subscriptions.syncs))
        self.assertEqual(['alarms'],
                         sorted(service.subscriptions.republishers))

        def call(method, path, body, **headers):
            request = urllib.request.Request(
                service.url + path, data=json.dumps(body).encode(),
                method=method, headers=dict(
                    headers, **{'Content-Type': 'application/json'}))
            with urllib.request.urlopen(request, timeout=5) as resp:
                return resp.status, json.loads(resp.read())

        status, answer = call('POST', '/v1/subscriptions', {
            'subscriber_id': 'a', 'subscriber_topic': 'a',
            'datasource': 'alarms', 'table': 'alarms',
            'filters': [{'column': 'state', 'value': 'alarm'}],
            'initial_rows': True})
        self.assertEqual((201, []), (status, answer['rows']))
        call('PUT', '/v1/data-sources/alarms/tables/alarms/rows',
             [['a1', 'alarm'], ['a2', 'ok']], **{'X-Auth-Token': 'T0ken'})
        with urllib.request.urlopen(
                service.url + '/v1/subscriptions/a?rows=1',
                timeout=5) as resp:
            shown = json.loads(resp.read())
        self.assertEqual([{'id': 'a1', 'state': 'alarm'}], shown['rows'])
        self.assertEqual(1, shown['seq'])

    def test_republish_signing_key_too_short(self):
        conf = self.make_conf(self.text + '[subscriptions]\nrepublish = '
                              'nova\nsigning_key = Sh0rtKey\n')
        service = consumer.Consumer(conf, consumer.build_drivers(conf))
        exc = self.assertRaises(exceptions.ConfigError, service.start)
        self.assertIn("[subscriptions] signing_key = '***'", str(exc))
        self.assertNotIn('Sh0rtKey', str(exc))
        self.assertIsNone(service.server)

    def test_subscriptions_need_a_good_database_url(self):
        conf = self.make_conf(self.text + '[subscriptions]\nconnection = '
                              'nosuch://u:Sup3rS3cret@db/subs\n')
        service = consumer.Consumer(conf, consumer.build_drivers(conf))
        exc = self.assertRaises(exceptions.ConfigError, service.start)
        self.assertIn('[subscriptions] connection = ***', str(exc))
        self.assertNotIn('Sup3rS3cret', str(exc))
        self.assertIsNone(service.server)

    def test_push_datasource_served_when_enabled(self):
        text = self.text.replace('datasources = nova',
                                 'datasources = nova,alarms\n'
                                 'enable_push = true')
        text += ('[datasource_alarms]\ndriver = push\n'
                 'tables = alarms\ncolumns = alarms.id,alarms.state\n'
                 'push_token = T0ken\n')
        conf = self.make_conf(text.replace('api_port = %d' % self.port,
                                           'api_port = 0'))
        service = consumer.Consumer(conf, consumer.build_drivers(conf))
        self.assertIsInstance(service.drivers['alarms'],
                              http_push.HttpPushDriver)
        service.start()
        self.addCleanup(service.stop)
        url = service.url + '/v1/data-sources/alarms/tables/alarms/rows'

        def put(token):
            request = urllib.request.Request(
                url, data=json.dumps([['a1', 'ok']]).encode(), method='PUT',
                headers={'Content-Type': 'application/json',
                         'X-Auth-Token': token})
            try:
                with urllib.request.urlopen(request, timeout=5) as resp:
                    return resp.status
            except urllib.error.HTTPError as exc:
                return exc.code

        self.assertEqual(401, put('wrong'))
        self.assertEqual(200, put('T0ken'))
        with urllib.request.urlopen(url, timeout=5) as resp:
            self.assertEqual([{'data': ['a1', 'ok']}],
                             json.loads(resp.read())['results'])
        self.assertNotIn('T0ken', self.log.output)

    def test_push_datasource_options(self):
        conf = self.make_conf('[datasource_alarms]\ndriver = push\n'
                              'tables = alarms\ncolumns = alarms.id\n'
                              'push_token = T0ken\n')
        self.assertEqual({'tables': ['alarms'], 'columns': {'alarms': ['id']},
                          'push_token': 'T0ken'},
                         consumer.push_driver_args(conf, 'alarms'))
        for section, expected in (
                ('tables = alarms\ncolumns = alarms.id\n',
                 '[datasource_alarms] push_token = \'\': required'),
                ('tables = alarms,hosts\ncolumns = alarms.id\n'
                 'push_token = x\n', 'needs the columns of table hosts'),
                ('columns = alarms.id\npush_token = x\n',
                 'list at least one table')):
            conf = self.make_conf('[datasource_alarms]\ndriver = push\n'
                                  + section)
            exc = self.assertRaises(exceptions.ConfigError,
                                    consumer.build_driver, conf, 'alarms')
            self.assertIn(expected, str(exc))

    def test_bad_database_url_is_masked(self):
        conf = self.make_conf(self.text.replace(
            'database_url = %s' % self.db_url,
            'database_url = nosuch://ro:Sup3rS3cret@db/nova'))
        exc = self.assertRaises(exceptions.ConfigError,
                                consumer.build_drivers, conf)
        self.assertIn('[datasource_nova] database_url = ***', str(exc))
        self.assertNotIn('Sup3rS3cret', str(exc))

    def test_main_fails_with_the_option_named(self):
        path = self.useFixture(fixtures.TempDir()).join('bad.conf')
        with open(path, 'w') as f:
            f.write(self.text.replace('snapshot_source = database',
                                      'snapshot_source = disk'))
        status = consumer.main(['--config-file', path],
                               conf=cfg.ConfigOpts())
        self.assertEqual(1, status)
        self.assertIn("[datasource_nova] snapshot_source = 'disk'",
                      self.log.output)

    def test_main_serves_until_sigterm(self):
        path = self.useFixture(fixtures.TempDir()).join('consumer.conf')
        with open(path, 'w') as f:
            f.write(self.text)
        seen = {}

        def client():
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                try:
                    listing = self.get('/v1/data-sources')
                except OSError:
                    time.sleep(0.1)
                    continue
                # The API answers, so main's signal handlers are in place.
                seen['listing'] = listing
                if listing['results'][0]['status'] == 'LIVE':
                    seen['rows'] = self.get(
                        '/v1/data-sources/nova/tables/instances/rows')
                    break
                time.sleep(0.1)
            if 'listing' in seen:
                os.kill(os.getpid(), signal.SIGTERM)

        thread = threading.Thread(target=client, daemon=True)
        thread.start()
        status = consumer.main(['--config-file', path],
                               conf=cfg.ConfigOpts())
        thread.join(5)
        self.assertEqual(0, status)
        self.assertEqual([{'id': 'nova', 'name': 'nova',
                           'driver': 'publish_tables', 'status': 'LIVE',
                           'enabled': True,
                           'description': driver_mod.PublishTablesDriver
                           .DRIVER_INFO['description']}],
                         seen['listing']['results'])
        self.assertEqual([[u, 'h%d' % i] for i, u in enumerate(self.uuids)],
                         sorted(r['data'] for r in seen['rows']['results']))
        self.assertIn('signal %d received' % signal.SIGTERM, self.log.output)
        self.assertIn('transport_url', self.log.output)  # options logged
        self.assertNotIn('Sup3rS3cret', self.log.output)
        self.assertRaises(OSError, self.get, '/v1/data-sources')  # stopped


class SharedQueueTest(ConfTestCase):
    """Two datasources never read one queue (each would miss messages)."""

    TEXT = ('[consumer]\ndatasources = a,b\n'
            '[datasource_a]\ntables = instances\n%s'
            '[datasource_b]\ntables = instances\n%s')

    def test_same_topic_without_pool_is_refused(self):
        conf = self.make_conf(self.TEXT % ('', ''))
        exc = self.assertRaises(consumer.ConfigError,
                                consumer.build_drivers, conf)
        self.assertIn('[datasource_a] pool and [datasource_b] pool',
                      str(exc))
        self.assertIn('publish_tables.info', str(exc))

    def test_same_pool_reads_queues_of_their_own(self):
        conf = self.make_conf(self.TEXT % ('pool = congress\n',
                                           'pool = congress\n'))
        drivers = consumer.build_drivers(conf)
        for driver in drivers.values():
            self.addCleanup(driver.stop)
        self.assertEqual(
            ['congress.a', 'congress.b'],
            sorted(d.receiver.pool for d in drivers.values()))

    def test_other_topics_without_pool_are_fine(self):
        conf = self.make_conf(self.TEXT % ('topic = nova\n', ''))
        drivers = consumer.build_drivers(conf)
        for driver in drivers.values():
            self.addCleanup(driver.stop)
        self.assertEqual({'a', 'b'}, set(drivers))

    def test_unknown_consumer_option_is_an_error(self):
        conf = self.make_conf('[consumer]\ndatasources = a\napi_prot = 1\n'
                              '[datasource_a]\ntables = instances\n')
        exc = self.assertRaises(consumer.ConfigError,
                                consumer.build_drivers, conf)
        self.assertIn("[consumer] api_prot = '1': no such option", str(exc))
