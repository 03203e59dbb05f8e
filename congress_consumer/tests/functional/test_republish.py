"""A second PublishTablesDriver replicates the tables of a first one.

The first driver replicates the producer database; its tables are
republished by :mod:`congress_consumer.subscriptions.republisher` (the
producer's Sender, records and heartbeats; snapshots over RPC with the
snapshot service's protocol). Every test ends with a row-for-row
comparison of the second driver's replica with the producer database.
"""

import oslo_messaging
from oslo_messaging import conffixture
import testtools

from oslo_publish_tables import demo_workload
from oslo_publish_tables import sender as sender_mod
from oslo_publish_tables import transport as transport_mod

from congress_consumer.publish_tables import driver as driver_mod
from congress_consumer.publish_tables import snapshots
from congress_consumer.subscriptions import republisher as rep_mod
from congress_consumer.tests import pipeline


def _run(engine, steps, seed):
    workload = demo_workload.Workload(engine, seed=seed)
    for _ in range(steps):
        workload.step()


class RepublishTest(testtools.TestCase):

    def setUp(self):
        super().setUp()
        self.p = self.useFixture(pipeline.Pipeline('sqlite'))
        # oslo.messaging registers the options of its RPC tracing on
        # cfg.CONF only; its fixture registers them on our conf too.
        conffixture.ConfFixture(self.p.conf)
        self.topic, self.rpc_topic = rep_mod.topics('congress_tables',
                                                    'nova')
        self.sender = sender_mod.Sender(
            transport_mod.NotificationTransport(
                self.p.conf, self.topic, 'congress-consumer.nova',
                transport=self.p._shared),
            heartbeat_interval=0.5)
        self.addCleanup(self.sender.stop)
        self.rep = rep_mod.Republisher(self.p.driver.sync, self.sender)
        self.rep.attach()
        self.addCleanup(self.rep.detach)
        self.rpc = oslo_messaging.get_rpc_transport(self.p.conf,
                                                    url='fake://')
        self.addCleanup(self.rpc.cleanup)
        server = rep_mod.rpc_server(self.rpc, self.rep, self.rpc_topic)
        server.start()
        self.addCleanup(server.wait)
        self.addCleanup(server.stop)

    def downstream(self):
        """A second driver, subscribed to the republished tables."""
        source = snapshots.RpcSnapshotSource(self.rpc, self.rpc_topic,
                                             timeout=10)
        driver = driver_mod.PublishTablesDriver(
            'nova-copy', dict(tables=self.p.tables, topic=self.topic,
                              gap_timeout=0.5, producer_timeout=3.0),
            conf=self.p.conf, transport=self.p._shared,
            snapshot_source=source)
        driver.start()
        self.addCleanup(driver.stop)
        return driver

    def test_nothing_is_published_without_a_subscriber(self):
        _run(self.p.producer.engine, 30, seed=1)
        self.assertEqual([], self.p.converge())
        self.assertEqual(0, self.sender.last_seq)
        self.assertIsNone(self.sender._thread)

    def test_second_driver_equals_the_database_after_a_workload(self):
        engine = self.p.producer.engine
        _run(engine, 30, seed=1)
        self.assertTrue(self.p.driver.wait_live(10))
        copy = self.downstream()  # subscribes while nothing is written
        _run(engine, 60, seed=2)
        self.assertEqual([], self.p.converge())
        self.assertEqual([], self.p.converge(driver=copy))
        self.assertGreater(self.sender.last_seq, 0)
        self.assertEqual(0, copy.sync.tracker.gaps)
        for table in self.p.tables:
            self.assertEqual(self.p.db_rows(table),
                             self.p.replica_rows(table, copy))

    def test_upstream_resync_and_late_subscriber(self):
        engine = self.p.producer.engine
        _run(engine, 20, seed=3)
        self.assertTrue(self.p.driver.wait_live(10))
        first = self.downstream()
        _run(engine, 20, seed=4)
        # An upstream resync republishes what it changes and sweeps.
        self.p.driver.sync.request_resync(None, 'test')
        _run(engine, 20, seed=5)
        second = self.downstream()  # a second subscriber mid-stream
        _run(engine, 20, seed=6)
        self.assertEqual([], self.p.converge())
        self.assertEqual([], self.p.converge(driver=first))
        self.assertEqual([], self.p.converge(driver=second))
        self.assertTrue(self.p.db_rows('instances'))

    def test_unsubscribe_stops_publishing(self):
        _run(self.p.producer.engine, 10, seed=7)
        self.assertTrue(self.p.driver.wait_live(10))
        copy = self.downstream()
        self.assertEqual([], self.p.converge(driver=copy))
        client = oslo_messaging.get_rpc_client(
            self.rpc, oslo_messaging.Target(
                topic=self.rpc_topic, namespace='publish_tables_snapshot',
                version='1.0'), timeout=10)
        for table in self.p.tables:
            client.call({}, 'unsubscribe', table=table)
            self.assertFalse(self.rep.active(table))
        self.sender.flush()
        last = self.sender.last_seq
        _run(self.p.producer.engine, 20, seed=8)
        self.assertEqual([], self.p.converge())
        self.assertEqual(last, self.sender.last_seq)
        client.call({}, 'subscribe', table='tags', subscriber='svc')
        self.assertEqual({'svc'}, self.rep.subscribers['tags'])
