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

"""The publish_tables datasource on Congress's own DSE2 bus and engine.

Each test builds a real ``congress.dse2.dse_node.DseNode`` on the
``fake://`` transport, in a partition of its own, loads the datasource
the way Congress's datasource manager does (the ``publish_tables`` entry
point of ``congress.datasource.drivers``, then
``DseNode.create_datasource_service``: the shipped
:func:`congress_consumer.congress_compat.add_datasource`) and registers
a real ``congress.policy_engines.agnostic.DseRuntime`` next to it
(:func:`congress_consumer.congress_compat.policy_engine_class`). The
producer is the pipeline fixture's: the demo schema in a SQLite file with
the capture installed, publishing on the datasource's own ``fake://``
notification transport (the fake driver keeps messages per transport
object).

Congress's policy-rule synchronizer keeps policies in Congress's database,
whose code does not run on current oslo.db; the engine here runs without
it and the test does its one job for datasources by hand, as the
synchronizer would: ``get_datasource_schema`` over RPC, then
``initialize_datasource``.

Congress is imported in ``setUp`` only (see the package docstring).
"""

import time
import uuid

import fixtures
import sqlalchemy as sa
import testtools

from oslo_publish_tables import fixture as backends
from oslo_publish_tables.tests import capture_fixture
from publish_tables_demo import schema as demo_schema

from congress_consumer import congress_compat
from congress_consumer.tests import congress as congress_tests
from congress_consumer.tests import pipeline

TABLES = ['instances']
# As Congress's command line gives them: every value a string.
COLUMNS = 'instances.uuid,instances.host,instances.vm_state'
ERROR_RULE = 'error(id) :- nova:instances(uuid=id, vm_state="error")'


def wait_for(predicate, timeout=20.0, interval=0.05):
    """Poll ``predicate`` until it is true; return its last value."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(interval)


class CongressTestBase(testtools.TestCase):
    """A DseNode with a policy engine, and the demo schema in SQLite."""

    def setUp(self):
        super().setUp()
        if not congress_tests.ENABLED:
            self.skipTest('needs openstack-congress: run tox -e congress '
                          '(sets %s=1)' % congress_tests.ENV)
        self.useFixture(fixtures.Timeout(120, gentle=True))
        from congress.datalog import base as datalog_base
        from congress.datalog import compile as datalog_compile
        from congress.dse2 import dse_node
        from oslo_config import cfg
        from oslo_messaging import conffixture

        self.datalog_base = datalog_base
        self.compile = datalog_compile
        self.dse_node = dse_node
        cfg.CONF([], project='congress', default_config_files=[])
        self.addCleanup(cfg.CONF.reset)
        messaging = self.useFixture(conffixture.ConfFixture(cfg.CONF))
        messaging.transport_url = 'fake://'
        messaging.conf.set_override('rpc_response_timeout', 10)

        self.node = dse_node.DseNode(cfg.CONF, 'node-' + uuid.uuid4().hex,
                                     [], partition_id=uuid.uuid4().hex)
        self.addCleanup(self._stop_node)
        self.engine = congress_compat.policy_engine_class()('__engine')
        self.node.register_service(self.engine)

        db = self.useFixture(backends.DatabaseFixture('sqlite'))
        self.url = db.url
        engine = sa.create_engine(self.url)
        demo_schema.create(engine)
        engine.dispose()
        self.instances = demo_schema.Instance.__table__

    def _stop_node(self):
        self.node.stop()
        self.node.wait()

    def _create_datasource(self, columns=COLUMNS, **config):
        """Load the datasource as Congress's datasource manager does.

        ``columns=None``: every column, as the table has them.
        """
        if columns is not None:
            config['columns'] = columns
        service = congress_compat.add_datasource(
            self.node, self.engine, 'nova', 'publish_tables',
            dict(tables=','.join(TABLES), transport_url='fake://',
                 snapshot_source='database', database_url=self.url,
                 gap_timeout='0.5', producer_timeout='5', **config))
        self.producer = self.useFixture(pipeline.Producer(
            self.url, capture_fixture.make_conf(tables=TABLES),
            service.driver._transport, 'publish_tables', TABLES))
        self.assertTrue(service.driver.wait_live(20))
        return service

    def _write(self, statement):
        with self.producer.engine.begin() as conn:
            conn.execute(statement)

    def _insert(self, uuid_, vm_state, host='h1'):
        self._write(sa.insert(self.instances).values(
            uuid=uuid_, host=host, vm_state=vm_state))

    def _set_state(self, uuid_, vm_state):
        self._write(sa.update(self.instances)
                    .where(self.instances.c.uuid == uuid_)
                    .values(vm_state=vm_state))

    def _insert_rule(self, rule, target):
        self.engine.process_policy_update(
            [self.compile.Event(self.compile.parse1(rule), target=target)])

    def _errors(self):
        answer = self.engine.select('error(x)', target='classification')
        return sorted(lit.split('"')[1] for lit in answer.split()
                      if lit.startswith('error('))

    def _wait_errors(self, expected):
        wait_for(lambda: self._errors() == expected)
        self.assertEqual(expected, self._errors())


class CongressDseTest(CongressTestBase):

    def test_entry_point_loads_the_adapter(self):
        from congress_consumer import congress_adapter
        from congress_consumer.replication import driver as driver_mod

        self.dse_node.DseNode.load_drivers()
        self.assertIs(congress_adapter.PublishTablesDataSource,
                      self.dse_node.DseNode.loaded_drivers[
                          'publish_tables'].plugin)
        info = self.dse_node.DseNode.get_driver_info('publish_tables')
        self.assertEqual(
            driver_mod.PublishTablesDriver.get_datasource_info(), info)
        self.assertEqual('required', info['config']['tables'])
        # Congress's own validation uses that info.
        from congress import exception as congress_exc
        self.assertRaises(
            congress_exc.MissingRequiredConfigOptions,
            self.node.validate_create_datasource,
            {'name': 'nova', 'driver': 'publish_tables', 'config': {}})
        self.assertRaises(
            congress_exc.InvalidDriverOption,
            self.node.validate_create_datasource,
            {'name': 'nova', 'driver': 'publish_tables',
             'config': {'tables': 'instances', 'bogus': '1'}})

    def test_policy_follows_the_producer_database(self):
        service = self._create_datasource()
        self._insert('vm-a', 'active')
        self._insert('vm-b', 'error')
        self.assertTrue(wait_for(
            lambda: len(service.driver.get_snapshot('instances')) == 2))

        # Subscribing: the engine gets the table's snapshot (seqnum 0).
        self.engine.create_policy('classification')
        self._insert_rule(ERROR_RULE, 'classification')
        self._wait_errors(['vm-b'])
        self.assertEqual({'nova': {'instances'}},
                         self.engine.node.get_subscription('__engine'))

        # Then every committed change arrives as a numbered delta.
        self._set_state('vm-a', 'error')
        self._wait_errors(['vm-a', 'vm-b'])
        self._write(sa.delete(self.instances)
                    .where(self.instances.c.uuid == 'vm-b'))
        self._wait_errors(['vm-a'])
        self._insert('vm-c', 'error')
        self._wait_errors(['vm-a', 'vm-c'])
        self._set_state('vm-c', 'active')
        self._wait_errors(['vm-a'])
        self.assertEqual(4, service.sender_seqnums['instances'])
        self.assertEqual(
            4, self.engine.receiver_seqnums['nova']['instances'])
        # The engine's copy of the table is the replica, row for row.
        rows = self.engine.select('nova:instances(x, y, z)', target='nova')
        self.assertEqual(2, rows.count('nova:instances('))
        self.assertEqual(
            {('vm-a', 'h1', 'error'), ('vm-c', 'h1', 'active')},
            service.driver.get_snapshot('instances'))

    def test_late_subscriber_gets_snapshot_and_later_deltas(self):
        service = self._create_datasource()
        self.engine.create_policy('classification')
        self._insert_rule(ERROR_RULE, 'classification')
        self._wait_errors([])
        self._insert('vm-a', 'error')
        self._wait_errors(['vm-a'])

        # A second engine subscribing later starts from the last
        # published data and its number, then follows the deltas.
        late = congress_compat.policy_engine_class()('late_engine')
        self.node.register_service(late)
        late.initialize_datasource('nova', service.driver.get_schema())
        late.create_policy('classification')
        late.process_policy_update([self.compile.Event(
            self.compile.parse1(ERROR_RULE), target='classification')])
        select = (lambda: late.select('error(x)',
                                      target='classification'))
        self.assertEqual('error("vm-a")', wait_for(
            lambda: select() if select() == 'error("vm-a")' else None))
        # The snapshot carried number 1: one delta was published before.
        self.assertEqual(1, late.receiver_seqnums['nova']['instances'])
        self._insert('vm-b', 'error')
        self._wait_errors(['vm-a', 'vm-b'])
        self.assertTrue(wait_for(lambda: 'vm-b' in select()))
        self.assertEqual(2, late.receiver_seqnums['nova']['instances'])
        self.assertEqual(2, service.sender_seqnums['instances'])

    def test_datasource_rpcs(self):
        service = self._create_datasource()
        self._insert('vm-a', 'error')
        self.assertTrue(wait_for(
            lambda: service.driver.get_snapshot('instances')))
        rpc = self.node.invoke_service_rpc
        self.assertEqual(['instances'],
                         rpc('nova', 'get_tablenames', {'source_id': 'nova'}))
        self.assertEqual(
            [{'data': ['vm-a', 'h1', 'error']}],
            rpc('nova', 'get_row_data', {'table_id': 'instances',
                                         'source_id': 'nova',
                                         'trace': False}))
        status = rpc('nova', 'get_status', {'source_id': 'nova',
                                            'params': None})
        self.assertEqual('LIVE', status['tables']['instances']['state'])
        actions = rpc('nova', 'get_actions', {'source_id': 'nova'})
        self.assertEqual(['refresh_snapshot', 'restart', 'resync',
                          'verify'],
                         [a['name'] for a in actions['results']])

        # request_execute, as the engine sends it; wait=True blocks until
        # refresh_snapshot has loaded a new snapshot.
        snapshots = service.driver.sync.replicas['instances'].counts[
            'snapshots']
        rpc('nova', 'request_execute',
            {'action': 'refresh_snapshot',
             'action_args': {'positional': ['instances']}, 'wait': True})
        self.assertEqual(
            snapshots + 1,
            service.driver.sync.replicas['instances'].counts['snapshots'])
        # request_refresh resyncs every table.
        rpc('nova', 'request_refresh', {'source_id': 'nova'})
        self.assertTrue(wait_for(
            lambda: service.driver.sync.replicas['instances'].counts[
                'snapshots'] == snapshots + 2))

    def test_policy_executes_an_action_on_the_datasource(self):
        service = self._create_datasource()
        snapshots = service.driver.sync.replicas['instances'].counts[
            'snapshots']
        self.engine.create_policy('classification')
        self._insert_rule('execute[nova:resync(t)] :- stale(t)',
                          'classification')
        self._insert_rule('stale("instances")', 'classification')
        self.assertTrue(wait_for(
            lambda: service.driver.sync.replicas['instances'].counts[
                'snapshots'] > snapshots))
        self.assertIn('requested by execute',
                      service.driver.sync.table_status(
                          'instances')['last_resync_reasons'])
