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

"""publish-tables-agent serves snapshots to RpcSnapshotSource clients."""

import logging
import uuid

import fixtures
from oslo_config import cfg
import oslo_messaging
from oslo_messaging import conffixture  # noqa: F401
import sqlalchemy as sa
import testtools

from oslo_publish_tables.cmd import agent as agent_mod
from oslo_publish_tables import fixture as backends
from oslo_publish_tables.protocol import codec
from oslo_publish_tables.protocol import signing
from oslo_publish_tables.protocol import snapshot_requests as requests
from oslo_publish_tables.protocol import snapshot_rpc
from oslo_publish_tables.snapshot import service as service_mod
from publish_tables_demo import schema as m

from congress_consumer.replication import authentication
from congress_consumer.replication import driver as driver_mod
from congress_consumer.replication import snapshots


def _conf(**publish_tables):
    conf = cfg.ConfigOpts()
    agent_mod.register_opts(conf)
    conf([], project='publish-tables-agent-tests', default_config_files=[],
         default_config_dirs=[])
    for name, value in publish_tables.items():
        conf.set_override(name, value, 'publish_tables')
    # oslo.messaging registers some options it reads (tracing) on
    # cfg.CONF only; its test fixture registers them on our conf too.
    oslo_messaging.conffixture.ConfFixture(conf)
    return conf


class DatabaseUrlTest(testtools.TestCase):

    def url(self, connection):
        conf = _conf()
        conf.set_override('connection', connection, 'database')
        return agent_mod.database_url(conf)

    def test_plugin_removed(self):
        self.assertEqual(
            ('mysql+pymysql://nova:s3cret@db/nova?charset=utf8', None),
            self.url('mysql+pymysql://nova:s3cret@db/nova?charset=utf8'
                     '&plugin=publish_tables'))

    def test_other_plugins_and_config_file(self):
        url, config_file = self.url(
            'sqlite:////tmp/x.db?plugin=other&plugin=publish_tables'
            '&publish_tables_config=/etc/nova/api.conf')
        self.assertEqual('sqlite:////tmp/x.db?plugin=other', url)
        self.assertEqual('/etc/nova/api.conf', config_file)

    def test_no_connection(self):
        exc = self.assertRaises(agent_mod.exceptions.ConfigError,
                                agent_mod.database_url, _conf())
        self.assertIn('[database] connection', str(exc))


class AgentTest(testtools.TestCase):
    """The agent's RPC server and a consumer's client on one transport."""

    rabbit = False
    signing_key = None

    def setUp(self):
        super().setUp()
        db = self.useFixture(backends.DatabaseFixture('sqlite'))
        self.engine = sa.create_engine(db.url)
        self.addCleanup(self.engine.dispose)
        m.create(self.engine)
        self.uuids = [str(uuid.uuid4()) for _ in range(7)]
        with self.engine.begin() as conn:
            conn.execute(sa.insert(m.Instance.__table__), [
                {'uuid': u, 'hostname': 'vm%d' % i, 'memory_mb': 512 * i,
                 'deleted': 0} for i, u in enumerate(self.uuids)])
            conn.execute(sa.insert(m.Tag.__table__), [
                {'resource_id': self.uuids[0], 'tag': 'a'},
                {'resource_id': self.uuids[0], 'tag': 'b'}])
        self.topic = 'publish_tables_snapshot'
        self.conf = _conf(tables=['instances', 'tags'],
                          exclude_columns=['instances.user_data'],
                          snapshot_chunk_rows=3)
        if self.signing_key:
            self.conf.set_override('signing_key', self.signing_key,
                                   'publish_tables')
            self.conf.set_override('signing_key_id', 'k1', 'publish_tables')
        # The service's own URL: the plugin is not installed here, so the
        # agent fails unless it removes it.
        self.conf.set_override(
            'connection', backends.add_query(db.url, plugin='publish_tables'),
            'database')
        if self.rabbit:
            rabbit = self.useFixture(backends.RabbitFixture())
            self.topic = rabbit.topic
            rabbit.add_queue('%s.%s' % (self.topic, 'agent-test'))
            self.conf.set_override('snapshot_topic', self.topic,
                                   'publish_tables')
            self.conf.set_override('transport_url', rabbit.transport_url,
                                   'publish_tables')
            server_transport = None  # made by the agent from the conf
            self.client_transport = oslo_messaging.get_rpc_transport(
                self.conf, url=rabbit.transport_url)
            self.addCleanup(self.client_transport.cleanup)
        else:
            # fake:// keeps messages per transport object: share one.
            server_transport = oslo_messaging.get_rpc_transport(
                self.conf, url='fake://')
            self.addCleanup(server_transport.cleanup)
            self.client_transport = server_transport
        self.agent = agent_mod.Agent(self.conf, transport=server_transport,
                                     server_name='agent-test')
        self.agent.start()
        self.addCleanup(self.agent.stop)
        # With a key the agent serves only requests signed with it.
        self.source = snapshots.RpcSnapshotSource(
            self.client_transport, self.topic, timeout=20,
            signer=signing.Signer('k1', self.signing_key)
            if self.signing_key else None)

    def db_rows(self, table):
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(m.Base.metadata.tables[table]))
            return [dict(r._mapping) for r in rows]

    def snapshot(self, table):
        snap = self.source.open(table)
        rows, pages = [], 0
        while True:
            page = self.source.fetch(snap['id'], 100)
            pages += 1
            rows.extend(codec.decode_row(r) for r in page['rows'])
            if page['done']:
                return snap, rows, pages

    def test_snapshot_has_the_rows(self):
        snap, rows, pages = self.snapshot('instances')
        self.assertEqual(['id'], snap['pk'])
        self.assertNotIn('user_data', snap['columns'])
        self.assertIsInstance(snap['ts'], int)
        self.assertEqual(4, pages)  # 3 + 3 + 1 rows, then done
        expected = [{k: v for k, v in r.items() if k != 'user_data'}
                    for r in self.db_rows('instances')]
        key = (lambda r: r['id'])
        self.assertEqual(sorted(expected, key=key), sorted(rows, key=key))

    def test_composite_key_table(self):
        snap, rows, _pages = self.snapshot('tags')
        self.assertEqual(['resource_id', 'tag'], snap['pk'])
        self.assertEqual(sorted(self.db_rows('tags'), key=repr),
                         sorted(rows, key=repr))

    def test_unpublished_table_is_refused(self):
        # RabbitMQ: RemoteError; fake://: the exception itself.
        self.assertRaises((oslo_messaging.RemoteError,
                           agent_mod.exceptions.SnapshotError),
                          self.source.open, 'services')

    def test_driver_syncs_through_the_agent(self):
        driver = driver_mod.PublishTablesDriver(
            'nova', {'tables': ['instances'], 'topic': self.topic + '_n',
                     'columns': {'instances': ['uuid', 'hostname']}},
            conf=self.conf, transport=self.client_transport,
            snapshot_source=self.source)
        driver.start()
        self.addCleanup(driver.stop)
        self.assertTrue(driver.wait_live(20))
        self.assertEqual(
            sorted((r['uuid'], r['hostname'])
                   for r in self.db_rows('instances')),
            sorted(r['data'] for r in driver.get_row_data('instances')))

    def test_driver_verifies_and_repairs_through_the_agent(self):
        driver = driver_mod.PublishTablesDriver(
            'nova', {'tables': ['instances', 'tags'],
                     'topic': self.topic + '_n', 'verify_chunk_rows': 2,
                     'verify_interval': 0, 'gap_timeout': 0.1},
            conf=self.conf, transport=self.client_transport,
            snapshot_source=self.source)
        driver.start()
        self.addCleanup(driver.stop)
        self.assertTrue(driver.wait_live(20))
        with self.engine.begin() as conn:  # no plugin: nothing published
            conn.execute(sa.update(m.Instance.__table__).where(
                m.Instance.__table__.c.uuid == self.uuids[3]).values(
                    hostname='changed'))
            conn.execute(sa.delete(m.Tag.__table__))
        found = driver.verify()
        self.assertEqual(1, len(found['instances']['repairs']))
        self.assertEqual([{'added': 0, 'changed': 1, 'removed': 0}],
                         [{k: r[k] for k in ('added', 'changed', 'removed')}
                          for r in found['instances']['repairs']])
        self.assertEqual(2, sum(r['removed']
                                for r in found['tags']['repairs']))
        with driver.sync.lock:
            held = {r['uuid']: r['hostname'] for r in
                    driver.sync.replicas['instances'].rows.values()}
        self.assertEqual('changed', held[self.uuids[3]])
        self.assertEqual(0, len(driver.sync.replicas['tags'].rows))
        status = driver.get_status()['tables']['instances']['verification']
        self.assertEqual(1, status['rows_changed'])
        self.assertEqual(4, status['chunks_checked'])  # 7 rows / 2
        self.assertEqual([], driver.verify()['instances']['mismatched'])

    def test_an_agent_of_rpc_1_0_says_it_cannot_verify(self):
        if self.rabbit:
            self.skipTest('one fake:// run shows the version check')

        class OldEndpoint(service_mod.SnapshotEndpoint):
            target = oslo_messaging.Target(
                namespace=snapshot_rpc.NAMESPACE, version='1.0')

        topic = self.topic + '_old'
        transport = self.agent.transport or self.client_transport
        old = oslo_messaging.get_rpc_server(
            transport, oslo_messaging.Target(topic=topic, server='old'),
            [OldEndpoint(self.agent.service)], executor='threading',
            access_policy=oslo_messaging.DefaultRPCAccessPolicy)
        old.start()
        self.addCleanup(old.wait)
        self.addCleanup(old.stop)
        source = snapshots.RpcSnapshotSource(self.client_transport, topic,
                                             timeout=20)
        driver = driver_mod.PublishTablesDriver(
            'nova', {'tables': ['tags'], 'topic': self.topic + '_n',
                     'verify_interval': 0},
            conf=self.conf, transport=self.client_transport,
            snapshot_source=source)
        driver.start()
        self.addCleanup(driver.stop)
        self.assertTrue(driver.wait_live(20))  # 1.0 snapshots still work
        found = driver.verify()['tags']
        self.assertFalse(found['verified'])
        self.assertIn('older than RPC version 1.1', found['reason'])

    def test_stop_closes_open_snapshots(self):
        snap = self.source.open('instances')
        self.assertEqual(1, len(self.agent.service.snapshots))
        service = self.agent.service
        self.agent.stop()
        self.assertEqual(0, len(service.snapshots))
        self.assertIsNone(self.agent.server)
        self.assertIsNotNone(snap['id'])


class AgentRabbitTest(AgentTest):
    rabbit = True


class SignedAgentTest(AgentTest):
    """A signing agent: checked replies; consumers without a key too.

    The tests inherited from :class:`AgentTest` read the signed replies
    with a source that signs its requests but checks no reply.
    """

    signing_key = 'agent-signing-key-0123456789'

    def checked_source(self, key=None, key_id='k1'):
        verifier = signing.Verifier([(key_id, key or self.signing_key)])
        return snapshots.RpcSnapshotSource(
            self.client_transport, self.topic, timeout=20,
            authenticator=authentication.SnapshotAuthenticator(verifier),
            signer=signing.Signer('k1', self.signing_key))

    def test_a_caller_without_the_key_reads_nothing(self):
        for signer in (None, signing.Signer('k1', 'not-the-key-0123456789')):
            source = snapshots.RpcSnapshotSource(
                self.client_transport, self.topic, timeout=20,
                signer=signer)
            # RabbitMQ sends back a RemoteError, fake:// the exception.
            exc = self.assertRaises(
                (oslo_messaging.RemoteError, requests.RequestRefused),
                source.open, 'instances')
            self.assertEqual('RequestRefused',
                             getattr(exc, 'exc_type', type(exc).__name__))
        self.assertEqual(0, len(self.agent.service.snapshots))

    def test_checked_snapshot_has_the_rows(self):
        self.source = self.checked_source()
        snap, rows, pages = self.snapshot('instances')
        self.assertNotIn(signing.FIELD, snap)
        self.assertEqual(len(self.uuids), len(rows))
        self.assertEqual({'verified:k1': 1 + pages},
                         self.source.authenticator.status())

    def test_checked_verification(self):
        self.source = self.checked_source()
        self.test_driver_verifies_and_repairs_through_the_agent()
        counts = self.source.authenticator.status()
        self.assertEqual(['verified:k1'], list(counts))

    def test_checksum_reply_for_another_position_fails_verifying(self):
        self.source = self.checked_source()
        call = self.source._call

        def replaying(request, **kwargs):
            reply = call(request, **kwargs)
            if request['method'] == 'checksum':
                # A reply signed for the first page, checked for the next.
                replaying.first = replaying.first or dict(request)
                return call(replaying.first, **kwargs)
            return reply

        replaying.first = None
        self.source._call = replaying
        driver = driver_mod.PublishTablesDriver(
            'nova', {'tables': ['instances'], 'topic': self.topic + '_n',
                     'verify_interval': 0, 'verify_chunk_rows': 2},
            conf=self.conf, transport=self.client_transport,
            snapshot_source=self.source)
        driver.start()
        self.addCleanup(driver.stop)
        self.assertTrue(driver.wait_live(20))
        found = driver.verify()['instances']
        self.assertFalse(found['verified'])
        self.assertIn('another request', found['reason'])
        self.assertIn(authentication.WRONG_REQUEST,
                      self.source.authenticator.status())

    def test_wrong_key_fails_the_snapshot(self):
        self.source = self.checked_source(key='another-key-0123456789abc')
        exc = self.assertRaises(signing.SignatureError, self.source.open,
                                'instances')
        self.assertEqual(signing.INVALID, exc.reason)

    def test_forger_on_the_topic_loads_nothing(self):
        """Only the forger answers: the driver stays empty, then syncs."""
        self.agent.stop()
        db = self.useFixture(backends.DatabaseFixture('sqlite'))
        engine = sa.create_engine(db.url)
        self.addCleanup(engine.dispose)
        m.create(engine)
        with engine.begin() as conn:
            conn.execute(sa.insert(m.Instance.__table__), [
                {'uuid': 'forged', 'hostname': 'evil', 'deleted': 0}])
        with engine.connect() as conn:
            registry = agent_mod.tables_mod.TableRegistry.reflect(
                conn, ['instances'], ())
        forged = service_mod.SnapshotService(engine, registry)
        forger = service_mod.rpc_server(
            self.conf, self.agent.transport or self.client_transport,
            forged, server='forger',
            signer=signing.Signer('k1', 'forger-key-0123456789abcdef'),
            check_requests=False)  # a forger serves anyone
        forger.start()
        self.addCleanup(forger.wait)
        self.addCleanup(forger.stop)
        args = {'tables': ['instances'], 'topic': self.topic + '_n',
                'columns': {'instances': ['uuid', 'hostname']},
                'signing_key': self.signing_key, 'signing_key_id': 'k1'}
        source = self.checked_source()
        driver = driver_mod.PublishTablesDriver(
            'nova', args, conf=self.conf, transport=self.client_transport,
            snapshot_source=source)
        self.addCleanup(driver.stop)
        self.assertRaises(signing.SignatureError, driver.sync.sync_table,
                          'instances')
        self.assertEqual([], driver.get_row_data('instances'))
        self.assertEqual(
            {signing.INVALID: 1},
            driver.get_status()['signatures']['snapshot_counts'])
        forger.stop()
        forger.wait()
        self.agent = agent_mod.Agent(
            self.conf, transport=None if self.rabbit else
            self.client_transport, server_name='agent-test')
        self.agent.start()
        self.addCleanup(self.agent.stop)
        driver.start()
        self.assertTrue(driver.wait_live(20))
        self.assertEqual(
            sorted((r['uuid'], r['hostname'])
                   for r in self.db_rows('instances')),
            sorted(r['data'] for r in driver.get_row_data('instances')))


class SignedAgentRabbitTest(SignedAgentTest):
    rabbit = True


class MainTest(testtools.TestCase):

    def setUp(self):
        super().setUp()
        self.useFixture(fixtures.MockPatch(
            'oslo_publish_tables.cmd.agent.logging.setup'))
        self.log = self.useFixture(fixtures.FakeLogger(level=logging.DEBUG))

    def test_bad_table_fails_naming_the_option(self):
        db = self.useFixture(backends.DatabaseFixture('sqlite'))
        conf_file = self.useFixture(fixtures.TempDir()).join('nova.conf')
        with open(conf_file, 'w') as f:
            f.write('[database]\nconnection = %s?plugin=publish_tables\n'
                    '[publish_tables]\ntables = nosuch\n'
                    'transport_url = fake://\n' % db.url)
        conf = cfg.ConfigOpts()
        self.assertEqual(1, agent_mod.main(['--config-file', conf_file],
                                           conf=conf))
        self.assertIn("[publish_tables] tables = 'nosuch'", self.log.output)

    def test_password_not_logged(self):
        conf = cfg.ConfigOpts()
        conf_file = self.useFixture(fixtures.TempDir()).join('nova.conf')
        with open(conf_file, 'w') as f:
            f.write('[database]\nconnection = nosuchdialect://nova:'
                    'Sup3rS3cret@db/nova?plugin=publish_tables\n'
                    '[publish_tables]\ntables = instances\n')
        self.assertEqual(1, agent_mod.main(['--config-file', conf_file],
                                           conf=conf))
        self.assertIn('cannot start', self.log.output)
        self.assertNotIn('Sup3rS3cret', self.log.output)
