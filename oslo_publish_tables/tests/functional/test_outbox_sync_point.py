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

"""The outbox high-water mark is an exact, clock-free snapshot boundary.

Writers insert unique rows, one transaction each, while snapshots are
taken. For every snapshot and every committed record of the table the
test checks the rule stated by the snapshot: the record's changes are
in the snapshot if and only if its outbox id is not above the
snapshot's ``outbox_id``. No clock is consulted.
"""

import threading
import time

import sqlalchemy as sa
import testtools

from oslo_publish_tables import fixture as backends
from oslo_publish_tables.outbox import migration
from oslo_publish_tables.outbox import store as store_mod
from oslo_publish_tables import publisher
from oslo_publish_tables import sender as sender_mod
from oslo_publish_tables.snapshot import reader
from oslo_publish_tables.tests import capture_fixture
from publish_tables_demo import schema as m


class SyncPointTest(testtools.TestCase):
    backend = 'sqlite'

    def setUp(self):
        super().setUp()
        db = self.useFixture(backends.DatabaseFixture(self.backend))
        self.engine = sa.create_engine(db.url)
        self.addCleanup(self.engine.dispose)
        m.create(self.engine)
        migration.upgrade(self.engine)
        conf = capture_fixture.make_conf(tables=list(m.PUBLISHED),
                                         delivery='durable')
        self.drafts = []
        self.lock = threading.Lock()

        def submit(draft):
            with self.lock:
                self.drafts.append(draft)

        self.capture = publisher.install(self.engine, conf, submit=submit)
        self.addCleanup(publisher.uninstall, self.engine)
        # The snapshots read through an engine without capture.
        self.reader = sa.create_engine(db.url)
        self.addCleanup(self.reader.dispose)

    def write(self, name, stop):
        n = 0
        while not stop.is_set():
            n += 1
            try:
                with self.engine.begin() as conn:
                    conn.execute(sa.insert(m.Tag.__table__).values(
                        resource_id=name, tag=str(n)))
                    if n % 3 == 0:  # a record touching two tables
                        conn.execute(sa.insert(
                            m.InstanceMetadata.__table__).values(
                                key=name, value=str(n), deleted=0,
                                instance_uuid=name))
            except sa.exc.OperationalError:
                pass  # SQLite: database is locked; try again
            time.sleep(0.001)

    def test_snapshot_contains_exactly_the_records_up_to_its_mark(self):
        info = self.capture.registry.get('tags')
        stop = threading.Event()
        writers = [threading.Thread(target=self.write, args=('w%d' % i, stop))
                   for i in range(3)]
        for thread in writers:
            thread.start()
        snapshots = []
        try:
            time.sleep(0.2)
            for _ in range(6):
                snap = reader.open_snapshot(self.reader, info, outbox=True)
                rows = []
                while True:
                    chunk = snap.fetch(1000)
                    if not chunk:
                        break
                    rows.extend(chunk)
                snap.close()
                snapshots.append((snap.outbox_id,
                                  {(r['resource_id'], r['tag'])
                                   for r in rows}))
                time.sleep(0.1)
        finally:
            stop.set()
            for thread in writers:
                thread.join(30)
        with self.lock:
            records = [(d.outbox_id, {(c.pk['resource_id'], c.pk['tag'])
                                      for c in d.changes
                                      if c.table == 'tags'})
                       for d in self.drafts if d.kind == 'txn']
        self.assertGreater(len(records), 20)
        before = after = 0
        for mark, keys in snapshots:
            self.assertIsNotNone(mark)
            for outbox_id, tags in records:
                inside = tags <= keys
                self.assertTrue(inside or not (tags & keys))
                self.assertEqual(outbox_id <= mark, inside,
                                 'record %d, snapshot mark %d'
                                 % (outbox_id, mark))
                before += inside
                after += not inside
            # ... and nothing else is in the snapshot.
            self.assertEqual(keys, set().union(*(
                tags for outbox_id, tags in records if outbox_id <= mark)))
        # Both sides of the boundary were exercised.
        self.assertGreater(before, 0)
        self.assertGreater(after, 0)

    def test_records_carry_their_outbox_id(self):
        class Wire(object):
            payloads = []

            def send(self, event_type, payload):
                self.payloads.append(payload)

            def close(self):
                pass

        sender = sender_mod.Sender(Wire(), heartbeat_interval=0.2)
        self.addCleanup(sender.stop)
        self.capture.submit = sender.submit
        with self.engine.begin() as conn:
            conn.execute(sa.insert(m.Tag.__table__).values(
                resource_id='r', tag='t'))
        self.assertTrue(sender.flush(10))
        [record] = [r for p in Wire.payloads for r in p['records']]
        with self.reader.connect() as conn:
            self.assertEqual(store_mod.high_water(conn),
                             record['outbox_id'])


backends.for_each_backend(SyncPointTest)
