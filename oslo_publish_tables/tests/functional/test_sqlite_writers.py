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

"""Durable mode on SQLite never makes a service transaction fail.

SQLite has one writer per file. oslo.db begins every transaction with a
deferred ``BEGIN``, so a service transaction that reads and then writes
holds a read lock and fails at once with "database is locked" when
another connection took the write lock meanwhile (SQLite cannot wait:
that would deadlock). The sender's deletes of published outbox rows
were such a writer; they now ride in the service's next write
transaction, or run while no service transaction of the process is
open. ``delivery = relayed`` (a relay process that writes the outbox all
the time) is refused on SQLite.
"""

import threading

from oslo_db.sqlalchemy import engines
import sqlalchemy as sa
import testtools

from oslo_publish_tables import exceptions
from oslo_publish_tables import fixture as backends
from oslo_publish_tables.outbox import migration
from oslo_publish_tables.outbox import store as store_mod
from oslo_publish_tables import publisher
from oslo_publish_tables import sender as sender_mod
from oslo_publish_tables.tests import capture_fixture
from oslo_publish_tables.tests.functional import test_durable
from publish_tables_demo import schema as m

# One service thread: SQLite fails two of a service's own concurrent
# read-then-write transactions the same way, plugin or not.
WRITERS = 1
CYCLES = 200


class SQLiteWritersTest(testtools.TestCase):

    def setUp(self):
        super().setUp()
        db = self.useFixture(backends.DatabaseFixture('sqlite'))
        # As a service opens it: oslo.db emits a deferred BEGIN itself.
        self.engine = engines.create_engine(db.url)
        self.addCleanup(self.engine.dispose)
        m.create(self.engine)
        migration.upgrade(self.engine)
        with self.engine.begin() as conn:
            conn.execute(m.Instance.__table__.insert(), [
                {'uuid': 'u%d' % i, 'vm_state': 'building',
                 'memory_mb': 0} for i in range(WRITERS)])

    def install(self, delivery):
        conf = capture_fixture.make_conf(tables=list(m.PUBLISHED),
                                         delivery=delivery)
        self.transport = test_durable.RecordingTransport()
        self.sender = sender_mod.Sender(
            self.transport, heartbeat_interval=0.2, shutdown_timeout=2,
            max_retry_interval=0.05)
        self.addCleanup(self.sender.stop)
        publisher.install(self.engine, conf, submit=self.sender.submit)
        self.addCleanup(publisher.uninstall, self.engine)

    def service_writer(self, index, failures):
        """Read, then write, in one transaction: nova's usual shape."""
        table = m.Instance.__table__
        uuid = 'u%d' % index
        for cycle in range(CYCLES):
            try:
                with self.engine.begin() as conn:
                    memory = conn.execute(
                        sa.select(table.c.memory_mb).where(
                            table.c.uuid == uuid)).scalar()
                    conn.execute(table.update().where(
                        table.c.uuid == uuid).values(memory_mb=memory + 1))
            except sa.exc.OperationalError as exc:
                failures.append(str(exc))

    def test_durable_service_writes_never_fail(self):
        self.install('durable')
        failures = []
        threads = [threading.Thread(target=self.service_writer,
                                    args=(i, failures))
                   for i in range(WRITERS)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        self.assertEqual([], failures[:3])
        self.assertTrue(self.sender.flush(10))
        table = m.Instance.__table__
        with self.engine.connect() as conn:
            self.assertEqual(
                [CYCLES] * WRITERS,
                [r[0] for r in conn.execute(sa.select(table.c.memory_mb)
                                            .order_by(table.c.id))])
        published = len(self.transport.records())
        self.assertEqual(WRITERS * CYCLES, published)
        # The published rows are deleted once the service is idle.
        store = store_mod.OutboxStore(self.engine)
        self.assertTrue(test_durable.wait_for(lambda: store.count() == 0))
        self.assertEqual(published, self.sender.stats['outbox_deleted'])

    def outbox_ids(self):
        table = store_mod.schema.outbox
        with self.engine.connect() as conn:
            return [r[0] for r in conn.execute(sa.select(table.c.id))]

    def update(self, conn, value):
        table = m.Instance.__table__
        conn.execute(table.update().where(table.c.uuid == 'u0').values(
            memory_mb=value))

    def test_published_rows_ride_in_the_next_service_transaction(self):
        conf = capture_fixture.make_conf(tables=list(m.PUBLISHED),
                                         delivery='durable')
        capture = publisher.install(self.engine, conf,
                                    submit=lambda draft: None)
        self.addCleanup(publisher.uninstall, self.engine)
        with self.engine.begin() as conn:
            self.update(conn, 1)
        published = self.outbox_ids()
        self.assertEqual(1, len(published))
        store = capture.outbox
        with self.engine.begin() as conn:   # a service transaction open
            conn.execute(sa.select(m.Instance.__table__)).fetchall()
            # The sender's delete does not write beside it: queued.
            self.assertEqual(1, store.delete(published))
            self.update(conn, 2)
        # That transaction deleted it (before its own outbox row).
        remaining = self.outbox_ids()
        self.assertNotIn(published[0], remaining)
        self.assertEqual(1, len(remaining))
        # Idle: the sender's delete runs at once.
        self.assertEqual(0, store.delete(remaining))
        self.assertEqual([], self.outbox_ids())

    def test_relayed_is_refused_on_sqlite(self):
        conf = capture_fixture.make_conf(tables=list(m.PUBLISHED),
                                         delivery='relayed')
        exc = self.assertRaises(exceptions.ConfigError, publisher.install,
                                self.engine, conf, submit=lambda d: None)
        self.assertIn('delivery', str(exc))
        self.assertIn('relayed', str(exc))
        self.assertIsNone(publisher.installed(self.engine))
