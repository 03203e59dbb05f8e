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

"""UPDATEs by a unique key that is not the primary key (issue 16).

On MySQL/MariaDB such an UPDATE (nova's by ``uuid``) runs without a
locking ``SELECT`` first; its row is read back by the unique key at
``COMMIT`` (:mod:`oslo_publish_tables.capture.unique`). Every test
checks the replica a consumer builds against the database, row for row,
on all three databases, and that the path was taken on MySQL/MariaDB:
a wrong image, or a missed row, fails them.
"""

import threading
import time
import uuid

import sqlalchemy as sa

from oslo_publish_tables import fixture as backends
from oslo_publish_tables.tests import capture_fixture
from publish_tables_demo import schema as m

INST = m.Instance.__table__

# How long a test waits for the other writer to wait for a lock; a
# deadline against a hung test, never a measured time.
_WAIT = 60


def _uuid():
    return str(uuid.uuid4())


class UniqueKeyTest(capture_fixture.CaptureTestCase):

    def setUp(self):
        super().setUp()
        self.statements = []
        sa.event.listen(self.db.engine, 'before_cursor_execute',
                        self._record)
        self.addCleanup(sa.event.remove, self.db.engine,
                        'before_cursor_execute', self._record)

    def _record(self, conn, cursor, statement, *args):
        self.statements.append(statement)

    @property
    def mysql(self):
        return self.db.engine.dialect.name in ('mysql', 'mariadb')

    def _add(self, **values):
        with self.db.maker() as s, s.begin():
            inst = m.Instance(uuid=_uuid(), vm_state='active', host='h1',
                              **values)
            s.add(inst)
        return inst.id, inst.uuid

    def _row(self, iid):
        return self.db.rows('instances')[(iid,)]

    def _locking_selects(self):
        return [s for s in self.statements
                if s.lstrip().upper().startswith('SELECT')
                and 'FOR UPDATE' in s.upper()]

    def assert_replica(self):
        self.assertEqual({}, self.replica.differences())
        self.assertEqual([], self.replica.resynced)

    def assert_no_select_before(self, marker='UPDATE instances'):
        """On MySQL: no locking SELECT ran before the service's UPDATE."""
        if not self.mysql:
            return
        first = next(i for i, s in enumerate(self.statements)
                     if s.startswith(marker))
        self.assertEqual([], [s for s in self.statements[:first]
                              if 'FOR UPDATE' in s.upper()])

    def _changes(self, iid):
        return [c for c in self.db.changes()
                if c.table == 'instances' and c.pk == {'id': iid}]

    def test_update_by_unique_key(self):
        iid, uuid_ = self._add()
        self.statements[:] = []
        with self.db.maker() as s, s.begin():
            s.query(m.Instance).filter_by(uuid=uuid_, deleted=0).update(
                {'vm_state': 'stopped'}, synchronize_session=False)
        self.assert_no_select_before()
        change = self._changes(iid)[-1]
        self.assertEqual('stopped', change.row['vm_state'])
        self.assertIn('vm_state', change.changed)
        self.assertNotIn('host', change.changed)
        self.assert_replica()
        if self.mysql:  # one read-back, by the unique key
            self.assertEqual(1, len(self._locking_selects()))

    def test_unique_key_matching_no_row_publishes_nothing(self):
        iid, uuid_ = self._add()
        drafts = len(self.db.drafts)
        with self.db.maker() as s, s.begin():
            s.query(m.Instance).filter_by(uuid=uuid_, host='other').update(
                {'vm_state': 'stopped'}, synchronize_session=False)
        self.assertEqual([], [c for d in self.db.drafts[drafts:]
                              for c in d.changes])
        self.assert_replica()

    def test_matched_but_unchanged_row_is_the_last_committed(self):
        # The transaction's snapshot predates another commit to the row;
        # its UPDATE by uuid matches the row and changes nothing. The
        # image must be the latest committed row, not the snapshot's.
        iid, uuid_ = self._add()
        with self.db.maker() as s, s.begin():
            s.query(m.Instance.id).all()  # the snapshot is taken here
            with self.db.maker() as other, other.begin():
                other.get(m.Instance, iid).vm_state = 'changed'
            s.execute(INST.update().where(INST.c.uuid == uuid_)
                      .values(host='h1'))
        self.assertEqual('changed', self._changes(iid)[-1].row['vm_state'])
        self.assert_replica()

    def test_update_that_changes_the_unique_key(self):
        iid, uuid_ = self._add()
        new = _uuid()
        with self.db.maker() as s, s.begin():
            s.execute(INST.update().where(INST.c.uuid == uuid_)
                      .values(uuid=new, vm_state='moved'))
        self.assertEqual(new, self._changes(iid)[-1].row['uuid'])
        self.assert_replica()

    def test_key_moved_off_the_row_later_in_the_transaction(self):
        # uuid X is updated by key, then taken off its row (by primary
        # key) and given to a new row: the first UPDATE's change belongs
        # to the first row, whose changed columns must say so.
        iid, uuid_ = self._add()
        with self.db.maker() as s, s.begin():
            s.execute(INST.update().where(INST.c.uuid == uuid_)
                      .values(vm_state='first'))
            s.execute(INST.update().where(INST.c.id == iid)
                      .values(uuid=_uuid()))
            s.execute(INST.insert().values(uuid=uuid_, vm_state='second'))
        change = self._changes(iid)[-1]
        self.assertEqual('first', change.row['vm_state'])
        self.assertEqual(['uuid', 'vm_state'], sorted(
            set(change.changed) & {'uuid', 'vm_state'}))
        self.assert_replica()

    def test_row_deleted_and_key_reused_later_in_the_transaction(self):
        iid, uuid_ = self._add()
        self._add()  # SQLite would give the new row the deleted one's id
        with self.db.maker() as s, s.begin():
            s.execute(INST.update().where(INST.c.uuid == uuid_)
                      .values(vm_state='first'))
            s.execute(INST.delete().where(INST.c.id == iid))
            s.execute(INST.insert().values(uuid=uuid_, vm_state='again'))
        self.assertEqual('delete', self._changes(iid)[-1].op)
        self.assert_replica()

    def test_other_updates_leave_the_entry_pending(self):
        iid, uuid_ = self._add()
        other, _ = self._add()
        self.statements[:] = []
        with self.db.maker() as s, s.begin():
            s.execute(INST.update().where(INST.c.uuid == uuid_)
                      .values(vm_state='a'))
            s.get(m.Instance, iid).task_state = 'b'
            s.get(m.Instance, other).task_state = 'c'
            s.add(m.Instance(uuid=_uuid(), vm_state='new'))
            s.flush()
        self.assert_no_select_before()
        row = self._changes(iid)[-1].row
        self.assertEqual(('a', 'b'), (row['vm_state'], row['task_state']))
        self.assert_replica()

    def test_rollback_to_savepoint_discards_the_pending_entry(self):
        iid, uuid_ = self._add()
        other, _ = self._add()
        before = len(self._changes(iid))
        with self.db.maker() as s, s.begin():
            nested = s.begin_nested()
            s.execute(INST.update().where(INST.c.uuid == uuid_)
                      .values(vm_state='rolled back'))
            nested.rollback()
            s.get(m.Instance, other).vm_state = 'kept'
        self.assertEqual([], self._changes(iid)[before:])
        self.assert_replica()

    def test_savepoint_rolled_back_after_the_entry_was_pinned(self):
        # The entry is pinned to its row by a DELETE in a savepoint that
        # is then rolled back: the row stays, with the UPDATE's change.
        iid, uuid_ = self._add()
        with self.db.maker() as s, s.begin():
            s.execute(INST.update().where(INST.c.uuid == uuid_)
                      .values(vm_state='kept'))
            nested = s.begin_nested()
            s.execute(INST.delete().where(INST.c.id == iid))
            nested.rollback()
        change = self._changes(iid)[-1]
        self.assertEqual(('update', 'kept'),
                         (change.op, change.row['vm_state']))
        self.assert_replica()

    def _lock_waits(self):
        """How many other sessions of this database wait for a lock."""
        if self.mysql:
            sql = ('SELECT COUNT(*) FROM information_schema.innodb_trx t '
                   'JOIN information_schema.processlist p '
                   'ON p.id = t.trx_mysql_thread_id '
                   "WHERE t.trx_state = 'LOCK WAIT' AND p.db = DATABASE()")
        else:
            sql = ("SELECT COUNT(*) FROM pg_stat_activity WHERE "
                   "wait_event_type = 'Lock' AND datname = "
                   "current_database()")
        with self.db.engine.connect() as conn:
            return conn.exec_driver_sql(sql).scalar()

    def _wait_for_lock_wait(self):
        # Not too often: filling information_schema.innodb_trx takes the
        # latch a lock wait needs to begin.
        deadline = time.monotonic() + _WAIT
        while self._lock_waits() == 0:
            if time.monotonic() > deadline:
                self.fail('the other writer never waited for the lock')
            time.sleep(0.2)

    def test_concurrent_writer_of_another_column(self):
        # Another transaction changes another column of the row between
        # the UPDATE by uuid and its COMMIT: it waits for the row lock,
        # so the image is this transaction's, and the other's follows.
        if self.db.engine.dialect.name == 'sqlite':
            self.skipTest('SQLite has no row locks')
        iid, uuid_ = self._add()
        errors = []

        def other_writer():
            try:
                with self.db.engine.begin() as conn:
                    conn.execute(INST.update().where(INST.c.id == iid)
                                 .values(host='other'))
            except Exception as exc:  # reported by the test
                errors.append(exc)

        writer = threading.Thread(target=other_writer)
        start = len(self.db.drafts)
        with self.db.maker() as s, s.begin():
            s.execute(INST.update().where(INST.c.uuid == uuid_)
                      .values(vm_state='mine'))
            writer.start()
            self._wait_for_lock_wait()
        writer.join(_WAIT)
        self.assertEqual([], errors)
        # Either thread may hand its record off first; consumers order
        # them by their stamps, which follow the commit order.
        self.db.drafts[start:] = sorted(self.db.drafts[start:],
                                        key=lambda d: d.ts)
        mine, theirs = self._changes(iid)[-2:]
        self.assertEqual(('mine', 'h1'),
                         (mine.row['vm_state'], mine.row['host']))
        self.assertEqual(('mine', 'other'),
                         (theirs.row['vm_state'], theirs.row['host']))
        self.assertEqual(self._row(iid), theirs.row)
        self.assert_replica()


backends.for_each_backend(UniqueKeyTest)
