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

"""Durable mode end to end: what a killed producer committed converges.

In direct mode such records are lost and consumers resync only when the
producer is declared vanished. Here the consumers are told to wait far
longer than the tests last before giving up on a silent producer, so
the replica can converge only through the relay; every test ends with a
row-for-row comparison of each replica table with its source table.
"""

import dataclasses
import multiprocessing
import threading
import time

from oslo_config import cfg
from oslo_messaging import conffixture
import sqlalchemy as sa
import testtools

from oslo_publish_tables.cmd import agent as agent_mod
from oslo_publish_tables import fixture as backends
from oslo_publish_tables.outbox import relay as relay_mod
from oslo_publish_tables.outbox import store as store_mod
from oslo_publish_tables.protocol import signing
from oslo_publish_tables import sender as sender_mod
from oslo_publish_tables import transport as transport_mod
from publish_tables_demo import workload as demo_workload

from congress_consumer.tests.functional import producer_process
from congress_consumer.tests import pipeline

# No producer is declared vanished while a test runs.
PATIENT = 600.0
DEAD_BROKER = 'rabbit://guest:guest@127.0.0.1:1/'


def _run_workload(engine, steps, seed):
    load = demo_workload.Workload(engine, seed=seed)
    for _ in range(steps):
        load.step()


class _RelayTestBase(testtools.TestCase):
    backend = 'sqlite'
    delivery = 'durable'
    outbox_schema = False  # True: [publish_tables] outbox_schema is set

    def setUp(self):
        super().setUp()
        self.p = self.useFixture(pipeline.Pipeline(
            self.backend, delivery=self.delivery,
            outbox_schema=self.outbox_schema))
        self.p.driver.stop()  # it would share the topic's queue
        self.driver = self.p.new_driver(producer_timeout=PATIENT)
        self.assertTrue(self.driver.wait_live(20))
        self.addCleanup(self.assertOrderedByOutboxIds, self.driver)

    def assertOrderedByOutboxIds(self, driver):
        # Durable mode orders every table by outbox ids: no clock.
        self.assertEqual({t: 'outbox' for t in self.p.tables},
                         {t: driver.sync.table_status(t)['ordered_by']
                          for t in self.p.tables})
        self.assertEqual(0, driver.sync.counts['reordered'])

    def start_relay(self):
        engine = sa.create_engine(self.p.url)
        self.addCleanup(engine.dispose)
        sender = sender_mod.Sender(
            transport_mod.NotificationTransport(
                self.p.conf, self.p.topic, 'test-relay',
                transport=self.p._shared),
            heartbeat_interval=0.5)
        self.addCleanup(sender.stop)
        relay = relay_mod.Relay(
            engine, sender, relay_mod.RelaySettings(grace_period=0.5,
                                                    interval=0.05),
            schema_name=self.p.where)
        self.addCleanup(relay.stop)
        relay.start()
        return relay


class DurableConvergenceTest(_RelayTestBase):

    def test_relay_delivers_what_a_killed_producer_committed(self):
        doomed = self.p.add_producer()
        _run_workload(doomed.engine, 10, seed=1)
        self.assertTrue(doomed.sender.flush(10))
        # kill -9 between COMMIT and publish: the records never leave.
        dead = threading.Event()
        self.addCleanup(dead.set)
        doomed.sender.transport.send = lambda *a: dead.wait()
        _run_workload(doomed.engine, 15, seed=2)
        store = store_mod.OutboxStore(doomed.engine,
                                      schema_name=self.p.where)
        self.assertGreater(store.count(), 0)
        time.sleep(0.5)
        self.driver.sync.tick()
        self.assertNotEqual([], self.p.diverging(self.driver))
        relay = self.start_relay()
        self.assertEqual([], self.p.converge(driver=self.driver))
        tracker = self.driver.sync.tracker
        self.assertEqual((0, 0), (tracker.vanished, tracker.gaps))
        self.assertGreater(relay.stats['relayed'], 0)
        deadline = time.monotonic() + 10
        while store.count() and time.monotonic() < deadline:
            time.sleep(0.05)
        self.assertEqual(0, store.count())  # pruned by the relay's sender

    def test_live_producer_and_relay_together(self):
        # A slow live sender and the relay may both publish a record:
        # consumers absorb the duplicate (same stamp).
        relay = self.start_relay()
        relay.settings = dataclasses.replace(relay.settings,
                                             grace_period=0)
        _run_workload(self.p.producer.engine, 30, seed=3)
        self.assertEqual([], self.p.converge(driver=self.driver))
        tracker = self.driver.sync.tracker
        self.assertEqual((0, 0), (tracker.vanished, tracker.gaps))


class DurableElsewhereConvergenceTest(DurableConvergenceTest):
    """The same with the outbox in a schema/database of its own."""

    outbox_schema = True

    def test_the_services_schema_holds_no_outbox(self):
        # What nova's archive_deleted_rows and purge reflect.
        meta = sa.MetaData()
        meta.reflect(bind=self.p.producer.engine)
        self.assertEqual([], [n for n in meta.tables
                              if n.startswith('publish_tables')])
        _run_workload(self.p.producer.engine, 3, seed=4)
        self.assertEqual([], self.p.converge(driver=self.driver))


backends.for_each_backend(DurableConvergenceTest)
backends.for_each_backend(DurableElsewhereConvergenceTest,
                          (backends.POSTGRESQL, backends.MYSQL))


class RelayedConvergenceTest(_RelayTestBase):
    """delivery = relayed: the service publishes nothing, the relay all."""

    delivery = 'relayed'

    def test_relay_alone_publishes_every_record(self):
        store = store_mod.OutboxStore(self.p.producer.engine)
        _run_workload(self.p.producer.engine, 40, seed=5)
        self.assertGreater(store.count(), 0)   # nobody else publishes
        self.assertEqual(0, self.p.producer.sender.stats['records'])
        relay = self.start_relay()
        relay.settings = dataclasses.replace(relay.settings,
                                             grace_period=0)
        self.assertEqual([], self.p.converge(driver=self.driver))
        tracker = self.driver.sync.tracker
        self.assertEqual((0, 0), (tracker.vanished, tracker.gaps))
        self.assertGreater(relay.stats['relayed'], 0)


# SQLite refuses delivery = relayed (one writer per file): see
# oslo_publish_tables/tests/functional/test_sqlite_writers.py.
backends.for_each_backend(RelayedConvergenceTest,
                          (backends.POSTGRESQL, backends.MYSQL))


def _agent_conf(url, transport_url, topic, tables, **overrides):
    conf = cfg.ConfigOpts()
    agent_mod.register_opts(conf)
    conf([], project='publish-tables-agent-tests', default_config_files=[],
         default_config_dirs=[])
    conf.set_override('connection', url, 'database')
    for name, value in dict(tables=list(tables), topic=topic,
                            transport_url=transport_url, delivery='durable',
                            snapshot_topic=topic + '_snapshot',
                            outbox_grace_period=0.5,
                            outbox_relay_interval=0.1,
                            heartbeat_interval=0.5, **overrides).items():
        conf.set_override(name, value, 'publish_tables')
    conffixture.ConfFixture(conf)
    return conf


KEY = 'durable-signing-key-0123456789'


class SignedRelayTest(testtools.TestCase):
    """The agent's relay signs with the service's key."""

    def test_consumer_requiring_signatures_accepts_relayed_records(self):
        p = self.useFixture(pipeline.Pipeline(
            delivery='durable',
            driver_args={'signing_key': KEY, 'signing_key_id': 'k1'},
            signer=signing.Signer('k1', KEY)))
        p.driver.stop()  # it would share the topic's queue
        driver = p.new_driver(producer_timeout=PATIENT)
        self.assertTrue(driver.wait_live(20))
        doomed = p.add_producer()
        dead = threading.Event()
        self.addCleanup(dead.set)
        doomed.sender.transport.send = lambda *a: dead.wait()
        _run_workload(doomed.engine, 15, seed=5)
        store = store_mod.OutboxStore(doomed.engine)
        self.assertGreater(store.count(), 0)
        conf = _agent_conf(p.url, 'fake://', p.topic, p.tables,
                           signing_key=KEY, signing_key_id='k1')
        agent = agent_mod.Agent(conf, notification_transport=p._shared)
        self.addCleanup(agent.stop)
        agent.start()
        self.assertEqual([], p.converge(driver=driver))
        verified = driver.get_status()['signatures']['counts']
        self.assertGreater(verified.get('verified:k1', 0), 0)
        self.assertEqual([], [k for k in driver.sync.counts
                              if 'unauthenticated' in k])
        self.assertEqual((0, 0), (driver.sync.tracker.vanished,
                                  driver.sync.tracker.gaps))


class KilledProcessTest(testtools.TestCase):
    """A real process killed with SIGKILL; the agent's relay over RabbitMQ."""

    backend = 'postgresql'

    def test_kill_9_then_agent_relays(self):
        p = self.useFixture(pipeline.Pipeline(self.backend, rabbit=True,
                                              delivery='durable'))
        p.driver.stop()  # it would share the topic's queue
        driver = p.new_driver(producer_timeout=PATIENT)
        self.assertTrue(driver.wait_live(20))
        context = multiprocessing.get_context('spawn')
        child = context.Process(
            target=producer_process.run_durable_and_die,
            args=(p.url, DEAD_BROKER, p.topic, p.tables, 30, 7))
        child.start()
        child.join(120)
        self.assertEqual(-9, child.exitcode)
        store = store_mod.OutboxStore(p.producer.engine)
        self.assertGreater(store.count(), 0)
        driver.sync.tick()
        self.assertNotEqual([], p.diverging(driver))
        conf = _agent_conf(p.url, p.transport_url, p.topic, p.tables)
        agent = agent_mod.Agent(conf)
        self.addCleanup(agent.stop)
        agent.start()
        self.assertEqual([], p.converge(timeout=30, driver=driver))
        self.assertEqual((0, 0), (driver.sync.tracker.vanished,
                                  driver.sync.tracker.gaps))
        deadline = time.monotonic() + 10
        while store.count() and time.monotonic() < deadline:
            time.sleep(0.05)
        self.assertEqual(0, store.count())


class KilledProcessMySQLTest(KilledProcessTest):
    backend = 'mysql'
