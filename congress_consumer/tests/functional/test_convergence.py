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

"""The replica equals the database after concurrent, faulty workloads.

Every test ends with a row-for-row comparison of each replica table with
its source table.
"""

import concurrent.futures
import multiprocessing
import threading
import time

import sqlalchemy as sa
import testtools

from oslo_publish_tables import fixture as backends
from oslo_publish_tables.protocol import envelope
from oslo_publish_tables.snapshot import reader
from publish_tables_demo import schema as m
from publish_tables_demo import workload as demo_workload

from congress_consumer.replication import sync
from congress_consumer.tests.functional import producer_process
from congress_consumer.tests import pipeline


def _run_workload(workload, steps):
    for _ in range(steps):
        workload.step()  # a lost race between writers is rolled back


class ConvergenceTest(testtools.TestCase):
    backend = 'sqlite'
    compression = None

    def setUp(self):
        super().setUp()
        # Resyncs at most once a second (10 s by default): the lost-record
        # test resyncs three times in a row.
        self.p = self.useFixture(pipeline.Pipeline(
            self.backend, compression=self.compression,
            driver_args={'min_resync_interval': 1.0}))

    def workload(self, producer=None, seed=1):
        return demo_workload.Workload((producer or self.p.producer).engine,
                                      seed=seed)

    def assert_converges(self, driver=None):
        self.assertEqual([], self.p.converge(driver=driver))
        driver = driver or self.p.driver
        for table in self.p.tables:
            self.assertEqual(sync.LIVE, driver.sync.status[table].state)
        self.assertEqual({'zlib-1' if self.compression else 'plain'},
                         self.p.encodings())
        self.assertEqual(0, driver.sync.counts['discarded:malformed'])

    def test_sync_mid_workload_with_three_producers(self):
        producers = [self.p.producer, self.p.add_producer(),
                     self.p.add_producer()]
        loads = [self.workload(p, seed=i) for i, p in enumerate(producers)]
        for load in loads:
            _run_workload(load, 15)
        with concurrent.futures.ThreadPoolExecutor(3) as pool:
            futures = [pool.submit(_run_workload, load, 40)
                       for load in loads]
            late = self.p.new_driver(pool='late')  # snapshot mid-write
            for future in futures:
                future.result()
        self.assert_converges()
        self.assert_converges(late)
        self.assertTrue(self.p.db_rows('instances'))

    def test_snapshot_fence_waits_for_a_writer_in_flight(self):
        # Hazard 1: a transaction that has written but not committed when
        # the snapshot starts is waited for, so it is inside the snapshot
        # and its stamp is below the snapshot's.
        _run_workload(self.workload(), 5)
        session = self.workload().maker()
        session.begin()
        session.add(m.Tag(resource_id='fence', tag='in-flight'))
        session.flush()
        info = self.p.producer.capture.registry.get('tags')
        engine = sa.create_engine(self.p.url)
        self.addCleanup(engine.dispose)
        result = {}
        opener = threading.Thread(target=lambda: result.update(
            snap=reader.open_snapshot(engine, info)))
        opener.start()
        opener.join(0.5)
        self.assertTrue(opener.is_alive(), 'the fence did not wait')
        session.commit()
        session.close()
        opener.join(10)
        snap = result['snap']
        self.addCleanup(snap.close)
        rows = snap.fetch(1000)
        self.assertIn(('fence', 'in-flight'),
                      {(r['resource_id'], r['tag']) for r in rows})
        self.assert_converges()

    def test_lost_record_is_detected_and_resynced_every_time(self):
        sender = self.p.producer.sender
        self.assertTrue(self.p.driver.wait_live(10))
        for round_ in range(3):
            _run_workload(self.workload(seed=round_), 10)
            sender.flush()
            original = sender.transport.send
            drop = {'left': 1}

            def lossy(event_type, payload, original=original, drop=drop):
                if event_type == envelope.EVENT_BATCH and drop['left']:
                    drop['left'] -= 1
                    return  # the broker lost it
                original(event_type, payload)

            gaps = self.p.driver.sync.tracker.gaps
            sender.transport.send = lossy
            _run_workload(self.workload(seed=10 + round_), 10)
            sender.flush()
            sender.transport.send = original
            _run_workload(self.workload(seed=20 + round_), 3)
            deadline = time.monotonic() + 10
            while (self.p.driver.sync.tracker.gaps == gaps
                   and time.monotonic() < deadline):
                time.sleep(0.05)
            self.assertEqual(gaps + 1, self.p.driver.sync.tracker.gaps)
            self.assert_converges()
        self.assertGreaterEqual(self.p.driver.sync.tracker.gaps, 3)

    def test_producer_is_heard_before_its_first_write(self):
        # The plugin starts its sender at install: its first heartbeat
        # announces it, so a consumer of a quiet service counts it and
        # is caught up (not STALE) before anything was written.
        self.assertTrue(self.p.driver.wait_live(10))
        deadline = time.monotonic() + 10
        while (self.p.driver.get_status()['producers'] < 1
               and time.monotonic() < deadline):
            time.sleep(0.05)
        status = self.p.driver.get_status()
        self.assertEqual(1, status['producers'])
        self.assertFalse(status['stale'])
        self.assertEqual(0, self.p.producer.sender.stats['records'])

    def test_consumer_restart(self):
        _run_workload(self.workload(), 20)
        self.assert_converges()
        self.p.driver.stop()
        _run_workload(self.workload(seed=2), 20)
        self.assert_converges(self.p.new_driver())

    def test_text_sql_resync_marker(self):
        _run_workload(self.workload(), 10)
        self.assertTrue(self.p.driver.wait_live(10))
        with self.p.producer.engine.begin() as conn:
            conn.execute(sa.text("UPDATE instances SET host = 'by-text'"))
        self.assert_converges()
        self.assertEqual(1, self.p.driver.sync.status['instances'].resyncs)

    def test_producer_that_dies_before_publishing(self):
        self.assertTrue(self.p.driver.wait_live(10))
        doomed = self.p.add_producer()
        _run_workload(self.workload(doomed), 5)
        doomed.sender.flush()
        # kill -9 between COMMIT and publish: the records never leave.
        dead = threading.Event()
        self.addCleanup(dead.set)
        doomed.sender.transport.send = lambda *a: dead.wait()
        _run_workload(self.workload(doomed, seed=5), 5)
        self.assert_converges()
        self.assertGreaterEqual(self.p.driver.sync.tracker.vanished, 1)


class CompressedConvergenceTest(ConvergenceTest):
    """The same with compressed bodies (format 1.2)."""

    compression = 'zlib'


backends.for_each_backend(ConvergenceTest)
backends.for_each_backend(CompressedConvergenceTest)


class RabbitProcessesTest(testtools.TestCase):
    """Three producer processes over real RabbitMQ; sync mid-workload."""

    backend = 'postgresql'
    compression = ('none', 'none', 'none')  # [publish_tables] per process

    def test_three_processes(self):
        p = self.useFixture(pipeline.Pipeline(self.backend, rabbit=True))
        context = multiprocessing.get_context('spawn')
        with concurrent.futures.ProcessPoolExecutor(
                3, mp_context=context) as pool:
            futures = [pool.submit(producer_process.run, p.url,
                                   p.transport_url, p.topic, p.tables, 60,
                                   seed, self.compression[seed])
                       for seed in range(3)]
            time.sleep(1.0)
            late = p.new_driver(pool='late')  # a queue of its own
            failed = [f.result(timeout=300) for f in futures]
        self.assertLess(sum(failed), 60)
        self.assertEqual([], p.converge(timeout=30))
        self.assertEqual([], p.converge(timeout=30, driver=late))
        self.assertGreaterEqual(p.driver.get_status()['received'], 3)
        self.assertEqual(0, p.driver.sync.counts['discarded'])


class RabbitProcessesCompressedTest(RabbitProcessesTest):
    """Compressing and plain producers on one bus (a rolling upgrade)."""

    compression = ('zlib', 'none', 'zlib')


class RabbitProcessesMySQLTest(RabbitProcessesTest):
    backend = 'mysql'
