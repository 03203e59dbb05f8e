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

"""Verification finds and repairs a replica that differs from its table.

The replica is made wrong in the two ways the stream cannot notice:
corrupted behind the driver's back, and changes of a producer that the
consumer never hears from (lost without a gap). One explicit
verification, with writers still running, repairs it chunk by chunk,
without a full resync; every test ends with a row-for-row comparison
and a verification that finds nothing left to repair.
"""

import io
import json
import threading
import urllib.error
import urllib.request

import sqlalchemy as sa
import testtools

from oslo_publish_tables import fixture as backends
from publish_tables_demo import schema as m
from publish_tables_demo import workload as demo_workload

from congress_consumer.api import wsgi
from congress_consumer.cmd import verify as verify_cmd
from congress_consumer.tests import pipeline

STABLE = 'stable'  # rows of this resource/value the workload never writes


def insert_stable(engine, prefix, count):
    """Rows the workload never writes: tags and metadata of STABLE."""
    with engine.begin() as conn:
        conn.execute(sa.insert(m.Tag.__table__), [
            {'resource_id': STABLE, 'tag': '%s%d' % (prefix, i)}
            for i in range(count)])
        conn.execute(sa.insert(m.InstanceMetadata.__table__), [
            {'key': '%s%d' % (prefix, i), 'value': STABLE,
             'instance_uuid': STABLE, 'deleted': 0}
            for i in range(count)])


class _Writers(object):
    """Workload transactions in a thread until stopped."""

    def __init__(self, engine):
        self.workload = demo_workload.Workload(engine, seed=7)
        self.stop_event = threading.Event()
        self.steps = 0
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        while not self.stop_event.is_set():
            self.workload.step()
            self.steps += 1

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop_event.set()
        self.thread.join(60)


class VerificationTest(testtools.TestCase):
    backend = 'sqlite'
    delivery = 'direct'

    def setUp(self):
        super().setUp()
        self.p = self.useFixture(pipeline.Pipeline(
            self.backend, delivery=self.delivery,
            driver_args={'verify_interval': 0, 'verify_rows_per_second': 0,
                         'verify_chunk_rows': 4}))
        load = demo_workload.Workload(self.p.producer.engine, seed=1)
        for _ in range(30):
            load.step()
        insert_stable(self.p.producer.engine, 's', 8)
        self.assertEqual([], self.p.converge())
        self.driver = self.p.driver

    def snapshots(self):
        with self.driver.sync.lock:
            return {t: r.counts['snapshots']
                    for t, r in self.driver.sync.replicas.items()}

    def verification(self, table):
        return self.driver.get_status()['tables'][table]['verification']

    def assert_verified_equal(self):
        self.assertEqual([], self.p.converge(timeout=60))
        results = self.driver.verify()
        for table in self.p.tables:
            self.assertTrue(results[table]['verified'], results[table])
            self.assertEqual([], results[table]['mismatched'], table)
            self.assertIsNone(self.verification(table)['unverifiable'])

    def corrupt(self):
        """Remove, change and add rows in the replica behind its back."""
        sync = self.driver.sync
        with sync.lock:
            tags = sync.replicas['tags']
            del tags._rows[(STABLE, 's1')]
            tags._rows[(STABLE, 'forged')] = tags._rows[(STABLE, 's2')]
            tags.versions[(STABLE, 'forged')] = 1
            meta = sync.replicas['instance_metadata']
            key = next(k for k, row in meta.rows.items()
                       if row['key'] == 's3')
            values = list(meta._rows[key])
            values[meta.columns.index('value')] = 'corrupted'
            meta._rows[key] = tuple(values)
        diverging = self.p.diverging()
        self.assertIn('tags', diverging)
        self.assertIn('instance_metadata', diverging)

    def test_corrupted_replica_is_repaired_with_writers_running(self):
        before = self.snapshots()
        with _Writers(self.p.producer.engine) as writers:
            self.corrupt()
            results = self.driver.verify()
            self.assertTrue(writers.thread.is_alive())
        self.assertTrue(results['tags']['mismatched'])
        self.assertTrue(results['instance_metadata']['mismatched'])
        tags = self.verification('tags')
        self.assertGreaterEqual(tags['rows_added'], 1)
        self.assertGreaterEqual(tags['rows_removed'], 1)
        self.assertGreaterEqual(
            self.verification('instance_metadata')['rows_changed'], 1)
        self.assert_verified_equal()
        self.assertEqual(before, self.snapshots(), 'a full resync ran')

    def test_changes_lost_without_a_gap_are_repaired(self):
        # A producer the consumer never hears from (it died before its
        # first send): no gap, no vanished producer, the stream is blind.
        unseen = self.p.add_producer()
        unseen.sender.transport.send = lambda *args: None
        before = self.snapshots()
        with _Writers(self.p.producer.engine):
            insert_stable(unseen.engine, 'unseen', 5)
            with unseen.engine.begin() as conn:
                conn.execute(sa.delete(m.Tag.__table__).where(
                    m.Tag.__table__.c.tag == 's4'))
                meta = m.InstanceMetadata.__table__
                conn.execute(meta.update().where(meta.c.key == 's5')
                             .values(value='changed unseen'))
            diverging = self.p.diverging()
            self.assertIn('tags', diverging)
            self.assertIn('instance_metadata', diverging)
            self.driver.verify()
        self.assertEqual(0, self.driver.sync.tracker.gaps)
        meta = self.verification('instance_metadata')
        self.assertGreaterEqual(meta['rows_added'], 5)
        self.assertGreaterEqual(meta['rows_changed'], 1)
        tags = self.verification('tags')
        self.assertGreaterEqual(tags['rows_added'], 5)
        self.assertGreaterEqual(tags['rows_removed'], 1)
        self.assert_verified_equal()
        self.assertEqual(before, self.snapshots(), 'a full resync ran')
        # The datasource's own tables (what Congress reads) follow.
        for table in ('tags', 'instance_metadata'):
            self.assertEqual(len(self.p.db_rows(table)),
                             len(self.driver.get_row_data(table)))

    def test_a_complete_stream_verifies_with_no_mismatch(self):
        with _Writers(self.p.producer.engine) as writers:
            while writers.steps < 20:
                self.driver.verify(table='instances')
        self.assert_verified_equal()
        for table in self.p.tables:
            status = self.verification(table)
            self.assertEqual(0, status['repaired_chunks'], table)
            self.assertGreater(status['chunks_checked'], 0, table)


class DurableVerificationTest(VerificationTest):
    """Tables ordered by outbox ids: verified at the outbox mark."""

    delivery = 'durable'

    def test_tables_are_ordered_by_outbox_ids(self):
        self.assertEqual({'outbox'}, {
            t['ordered_by']
            for t in self.driver.get_status()['tables'].values()})
        self.assert_verified_equal()


backends.for_each_backend(VerificationTest)


class VerifyActionTest(testtools.TestCase):
    """The REST action and the CLI ask a running consumer to verify."""

    def setUp(self):
        super().setUp()
        self.p = self.useFixture(pipeline.Pipeline(
            'sqlite', driver_args={'verify_interval': 0,
                                   'verify_chunk_rows': 2}))
        insert_stable(self.p.producer.engine, 's', 6)
        self.assertEqual([], self.p.converge())
        self.server = wsgi.serve(wsgi.API({'nova': self.p.driver}),
                                 '127.0.0.1', 0)
        self.addCleanup(self.server.server_close)
        self.addCleanup(self.server.shutdown)
        self.url = 'http://127.0.0.1:%d' % self.server.server_address[1]

    def post(self, query):
        request = urllib.request.Request(
            '%s/v1/data-sources/nova?%s' % (self.url, query), data=b'',
            method='POST')
        try:
            with urllib.request.urlopen(request, timeout=60) as answer:
                return answer.status, json.loads(answer.read())
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read())

    def test_cli_repairs_and_reports(self):
        with self.p.driver.sync.lock:
            del self.p.driver.sync.replicas['tags']._rows[(STABLE, 's2')]
        out = io.StringIO()
        status = verify_cmd.main(['--url', self.url, 'nova', '--table',
                                  'tags', '--timeout', '60'], out=out)
        self.assertEqual(0, status, out.getvalue())
        execution = json.loads(out.getvalue())
        self.assertEqual(['tags'], list(execution['result']))
        repairs = execution['result']['tags']['repairs']
        self.assertEqual(1, sum(r['added'] for r in repairs))
        self.assertEqual([], self.p.diverging())

    def test_rest_action(self):
        code, body = self.post('action=verify&wait=true')
        self.assertEqual(200, code, body)
        self.assertEqual('SUCCEEDED', body['status'])
        self.assertEqual(sorted(self.p.tables), sorted(body['result']))
        code, body = self.post('action=verify')
        self.assertIn(code, (200, 202))
        self.assertEqual('verify', body['name'])
        self.assertEqual(404, self.post('action=verify&table=nope')[0])
        self.assertEqual(400, self.post('action=verify&wait=maybe')[0])
        self.assertEqual(400, self.post('action=verify&timeout=x')[0])

    def test_cli_errors(self):
        out = io.StringIO()
        self.assertEqual(2, verify_cmd.main(
            ['--url', self.url, 'other'], out=out))
        self.assertIn('404', out.getvalue())
        self.assertEqual(1, verify_cmd.exit_status(
            {'status': 'SUCCEEDED', 'result': {
                't': {'verified': False, 'reason': 'the table is SYNCING'}}}))
        self.assertEqual(3, verify_cmd.exit_status({'status': 'RUNNING'}))
