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

"""A second PublishTablesDriver replicates the tables of a first one.

The first driver replicates the producer database; its tables are
republished by :mod:`congress_consumer.subscriptions.republisher` (the
producer's Sender, records and heartbeats; snapshots over RPC with the
snapshot service's protocol). Every test ends with a row-for-row
comparison of the second driver's replica with the producer database.
"""

import concurrent.futures
import time

import oslo_messaging
from oslo_messaging import conffixture
import testtools

from oslo_publish_tables import fixture as backends
from oslo_publish_tables.protocol import signing
from oslo_publish_tables import sender as sender_mod
from oslo_publish_tables import transport as transport_mod
from publish_tables_demo import workload as demo_workload

from congress_consumer.replication import authentication
from congress_consumer.replication import driver as driver_mod
from congress_consumer.replication import snapshots
from congress_consumer.subscriptions import republisher as rep_mod
from congress_consumer.tests import pipeline


def _run(engine, steps, seed):
    workload = demo_workload.Workload(engine, seed=seed)
    for _ in range(steps):
        workload.step()


class RepublishTest(testtools.TestCase):
    backend = 'sqlite'
    rabbit = False
    signer = None           # signs the republished records
    downstream_args = {}    # more args of the downstream drivers

    def setUp(self):
        super().setUp()
        self.p = self.useFixture(pipeline.Pipeline(self.backend,
                                                   rabbit=self.rabbit))
        # oslo.messaging registers the options of its RPC tracing on
        # cfg.CONF only; its fixture registers them on our conf too.
        conffixture.ConfFixture(self.p.conf)
        if self.rabbit:
            rabbit = self.rabbit_fixture = self.useFixture(
                backends.RabbitFixture())
            self.topic = rabbit.topic
            self.rpc_topic = rabbit.topic + '_snapshot'
            for queue in (self.rpc_topic, self.rpc_topic + '.test'):
                rabbit.add_queue(queue)
            self.transport = self.p.new_transport()
        else:
            self.topic, self.rpc_topic = rep_mod.topics('congress_tables',
                                                        'nova')
            self.transport = self.p._shared
        self.sender = sender_mod.Sender(
            transport_mod.NotificationTransport(
                self.p.conf, self.topic, 'congress-consumer.nova',
                transport=self.transport),
            heartbeat_interval=0.5, signer=self.signer)
        self.addCleanup(self.sender.stop)
        self.rep = rep_mod.Republisher(self.p.driver.sync, self.sender)
        self.rep.attach()
        self.addCleanup(self.rep.detach)
        self.rpc = oslo_messaging.get_rpc_transport(
            self.p.conf, url=self.p.transport_url)
        self.addCleanup(self.rpc.cleanup)
        server = rep_mod.rpc_server(self.rpc, self.rep, self.rpc_topic,
                                    server='test', signer=self.signer)
        server.start()
        self.server = server
        self.addCleanup(lambda: self.server.wait())
        self.addCleanup(lambda: self.server.stop())

    def downstream(self):
        """A second driver, subscribed to the republished tables.

        Each has a listener pool of its own: independent consumers of a
        topic must not share its default queue.
        """
        self.pools = getattr(self, 'pools', 0) + 1
        pool = '%s_copy%d' % (self.topic, self.pools)  # the queue's name
        if self.rabbit:
            self.rabbit_fixture.add_queue(pool)
        verifier = authentication.verifier_from_args(self.downstream_args)
        source = snapshots.RpcSnapshotSource(
            self.rpc, self.rpc_topic, timeout=10,
            authenticator=verifier and
            authentication.SnapshotAuthenticator(verifier))
        driver = driver_mod.PublishTablesDriver(
            'nova-copy', dict(tables=self.p.tables, topic=self.topic,
                              gap_timeout=0.5, producer_timeout=3.0,
                              pool=pool, **self.downstream_args),
            conf=self.p.conf,
            transport=self.transport if not self.rabbit else
            self.p.new_transport(),
            snapshot_source=source)
        driver.start()
        self.addCleanup(driver.stop)
        return driver

    def test_nothing_is_published_without_a_subscriber(self):
        self.sender.flush()
        records = self.sender.stats['records']
        self.assertEqual(1, records)  # the start's resync marker
        _run(self.p.producer.engine, 30, seed=1)
        self.assertEqual([], self.p.converge())
        self.assertEqual(1, self.sender.last_seq)
        self.assertEqual(records, self.sender.stats['records'])

    def test_downstream_follows_a_restarted_republisher(self):
        engine = self.p.producer.engine
        _run(engine, 20, seed=9)
        self.assertTrue(self.p.driver.wait_live(10))
        copy = self.downstream()
        self.assertEqual([], self.p.converge(driver=copy))
        # The republisher stops cleanly (goodbye) and starts afresh, with
        # no subscriptions; the producer goes on writing meanwhile.
        self.rep.detach()
        self.sender.stop()
        _run(engine, 20, seed=10)
        self.assertEqual([], self.p.converge())
        self.sender = sender_mod.Sender(self.sender.transport,
                                        heartbeat_interval=0.5,
                                        signer=self.signer)
        self.addCleanup(self.sender.stop)
        self.rep = rep_mod.Republisher(self.p.driver.sync, self.sender)
        self.server.stop()
        self.server.wait()
        self.server = rep_mod.rpc_server(self.rpc, self.rep,
                                         self.rpc_topic, server='test',
                                         signer=self.signer)
        self.server.start()
        self.rep.attach()
        self.addCleanup(self.rep.detach)
        _run(engine, 20, seed=11)
        self.assertEqual([], self.p.converge())
        self.assertEqual([], self.p.converge(driver=copy, timeout=30))
        self.assertTrue(self.rep.active('instances'))

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
        self.assertEqual(0, first.sync.tracker.gaps)
        self.assertEqual(0, second.sync.tracker.gaps)
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


def _eventually(condition, timeout=30):
    """True once ``condition()`` is true, False after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


class SignedRepublishTest(RepublishTest):
    """Signed records, to downstream drivers that require signatures."""

    signer = signing.Signer('subs-1', 'k' * 32)
    downstream_args = {'signing_key': 'k' * 32, 'signing_key_id': 'subs-1',
                       'require_signature': True}

    def test_unsigned_records_are_refused(self):
        self.sender.signer = None
        engine = self.p.producer.engine
        _run(engine, 10, seed=12)
        self.assertTrue(self.p.driver.wait_live(10))
        copy = self.downstream()
        # The snapshots are signed and load; every record, heartbeats
        # included, is unsigned and refused.
        self.assertTrue(_eventually(lambda: all(
            copy.sync.snapshots_taken(self.p.tables).values())))
        _run(engine, 20, seed=13)
        self.assertEqual([], self.p.converge())
        self.sender.flush()
        self.assertTrue(_eventually(lambda: copy.get_status()[
            'signatures']['counts'].get('unsigned')))
        self.assertTrue(self.p.diverging(copy))
        self.assertEqual(
            {'verified:subs-1'},
            set(copy.get_status()['signatures']['snapshot_counts']))
        # An upstream heard only through refused messages is not LIVE.
        self.assertTrue(_eventually(lambda: all(
            t['state'] != 'LIVE'
            for t in copy.get_status()['tables'].values())))


class RabbitRepublishTest(RepublishTest):
    """Over RabbitMQ, with three producers writing at once.

    Changes of different rows reach the first driver out of stamp order,
    which the republished stamps must absorb.
    """

    backend = 'postgresql'
    rabbit = True

    def test_three_concurrent_producers(self):
        producers = [self.p.producer, self.p.add_producer(),
                     self.p.add_producer()]
        for seed, producer in enumerate(producers):
            _run(producer.engine, 10, seed)
        self.assertTrue(self.p.driver.wait_live(20))
        copy = self.downstream()
        with concurrent.futures.ThreadPoolExecutor(3) as pool:
            futures = [pool.submit(_run, producer.engine, 50, 10 + seed)
                       for seed, producer in enumerate(producers)]
            late = self.downstream()  # subscribes while writers run
            for future in futures:
                future.result()
        self.assertEqual([], self.p.converge(timeout=30))
        self.assertEqual([], self.p.converge(timeout=30, driver=copy))
        self.assertEqual([], self.p.converge(timeout=30, driver=late))
        self.assertEqual(0, copy.sync.tracker.gaps)
        self.assertEqual(0, late.sync.tracker.gaps)
        self.assertTrue(self.p.db_rows('instances'))


class RabbitRepublishMySQLTest(RabbitRepublishTest):
    backend = 'mysql'
