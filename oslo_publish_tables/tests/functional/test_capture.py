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

"""Every capture path, on SQLite, PostgreSQL and MySQL/MariaDB."""

import uuid

import fixtures
from oslo_db import exception as db_exc
import sqlalchemy as sa
import testtools

from oslo_publish_tables.capture import clock as capture_clock
from oslo_publish_tables.capture import tables as capture_tables
from oslo_publish_tables import exceptions
from oslo_publish_tables import fixture as backends
from oslo_publish_tables import publisher
from oslo_publish_tables.tests import capture_fixture
from publish_tables_demo import schema as m


def _uuid():
    return str(uuid.uuid4())


class CaptureTest(testtools.TestCase):
    backend = 'sqlite'

    def setUp(self):
        super().setUp()
        self.db = self.useFixture(capture_fixture.CapturedDatabase(
            self.backend, exclude_columns=['instances.user_data']))

    def session(self):
        return self.db.maker()

    def _add_instances(self, n, **values):
        with self.session() as s, s.begin():
            objs = [m.Instance(uuid=_uuid(), vm_state='active',
                               memory_mb=512, **values) for _ in range(n)]
            s.add_all(objs)
        return [o.id for o in objs]

    def assert_replays_to_db(self, table='instances'):
        """Replaying every captured change gives the table's rows."""
        replica = {}
        info = self.db.capture.registry.get(table)
        for change in self.db.changes():
            if change.table != table:
                continue
            key = info.key_of(change.pk)
            if change.op == 'delete':
                replica.pop(key, None)
            else:
                replica[key] = change.row
        self.assertEqual(self.db.rows(table), replica)

    def test_unit_of_work_insert_has_full_row(self):
        ids = self._add_instances(2, user_data='secret')
        changes = self.db.changes()
        self.assertEqual(['insert', 'insert'], [c.op for c in changes])
        self.assertEqual(sorted(ids), sorted(c.pk['id'] for c in changes))
        row = changes[0].row
        self.assertEqual(0, row['power_state'])  # server default read back
        self.assertEqual(0, row['deleted'])
        self.assertNotIn('user_data', row)  # excluded column
        self.assertIsNotNone(row['created_at'])
        self.assert_replays_to_db()

    def test_attribute_change_and_delete(self):
        [iid] = self._add_instances(1)
        with self.session() as s, s.begin():
            inst = s.get(m.Instance, iid)
            inst.vm_state = 'error'
        with self.session() as s, s.begin():
            s.delete(s.get(m.Instance, iid))
        update, delete = self.db.changes()[1:]
        self.assertEqual(('update', 'error'), (update.op,
                                               update.row['vm_state']))
        self.assertIn('vm_state', update.changed)
        self.assertIn('updated_at', update.changed)
        self.assertEqual('delete', delete.op)
        self.assertEqual('error', delete.row['vm_state'])  # before-image
        self.assert_replays_to_db()

    def test_rollback_publishes_nothing(self):
        [iid] = self._add_instances(1)
        before = len(self.db.drafts)
        s = self.session()
        with s.begin():
            s.get(m.Instance, iid).vm_state = 'building'
            s.flush()
            s.rollback()
        with self.session() as s:
            s.begin()
            s.query(m.Instance).filter_by(id=iid).update(
                {'task_state': 'deleting'}, synchronize_session=False)
            s.rollback()
        self.assertEqual(before, len(self.db.drafts))

    def test_savepoint_rollback_discards_only_its_changes(self):
        [iid] = self._add_instances(1)
        with self.session() as s, s.begin():
            s.get(m.Instance, iid).vm_state = 'stopped'
            s.flush()
            nested = s.begin_nested()
            s.add(m.Instance(uuid=_uuid(), vm_state='ghost'))
            s.get(m.Instance, iid).host = 'ghost-host'
            s.flush()
            nested.rollback()
            with s.begin_nested():
                s.add(m.Tag(resource_id='r1', tag='kept'))
        changes = self.db.changes()[1:]
        self.assertEqual({('instances', 'update'), ('tags', 'insert')},
                         {(c.table, c.op) for c in changes})
        self.assertNotIn('ghost', [c.row.get('vm_state') for c in changes])
        self.assertIsNone(changes[0].row['host'])
        self.assert_replays_to_db()

    def test_savepoint_rollback_discards_its_delete_and_columns(self):
        [iid, other] = self._add_instances(2)
        with self.session() as s, s.begin():
            s.get(m.Instance, other).vm_state = 'stopped'
            with testtools.ExpectedException(RuntimeError):
                with s.begin_nested():  # named by SQLAlchemy
                    s.delete(s.get(m.Instance, iid))
                    s.get(m.Instance, other).host = 'ghost-host'
                    s.flush()
                    raise RuntimeError('roll the savepoint back')
        # Nothing of the savepoint: no delete, no 'host' among the
        # columns the surviving update changed.
        [change] = self.db.changes()[2:]
        self.assertEqual(('update', other), (change.op, change.pk['id']))
        self.assertNotIn('host', change.changed)
        self.assert_replays_to_db()

    def test_several_flushes_make_one_record(self):
        with self.session() as s, s.begin():
            inst = m.Instance(uuid=_uuid(), vm_state='building')
            s.add(inst)
            s.flush()
            inst.vm_state = 'active'
            s.flush()
            s.add(m.InstanceMetadata(key='k', value='v',
                                     instance_uuid=inst.uuid))
        self.assertEqual(1, len(self.db.drafts))
        by_table = {c.table: c for c in self.db.changes()}
        self.assertEqual('insert', by_table['instances'].op)
        self.assertEqual('active', by_table['instances'].row['vm_state'])

    def test_bulk_query_update_and_soft_delete(self):
        ids = self._add_instances(4)
        with self.session() as s, s.begin():
            s.query(m.Instance).filter(m.Instance.id.in_(ids[:2])).update(
                {'vm_state': 'error'}, synchronize_session=False)
        with self.session() as s, s.begin():
            n = s.query(m.Instance).filter(
                m.Instance.id.in_(ids[2:])).soft_delete(
                synchronize_session=False)
        self.assertEqual(2, n)
        changes = self.db.changes()[4:]
        errors = [c for c in changes if c.row['vm_state'] == 'error']
        self.assertEqual(sorted(ids[:2]), sorted(c.pk['id'] for c in errors))
        soft = [c for c in changes if c.row['deleted']]
        # soft delete sets deleted = id: an SQL expression, read back
        self.assertEqual(sorted(ids[2:]), sorted(c.row['deleted']
                                                 for c in soft))
        self.assert_replays_to_db()

    def _statements_of(self, work):
        sql = []

        def record(conn, cursor, statement, *args):
            sql.append(statement.split(None, 1)[0].upper())

        sa.event.listen(self.db.engine, 'before_cursor_execute', record)
        try:
            work()
        finally:
            sa.event.remove(self.db.engine, 'before_cursor_execute', record)
        return sql

    def test_criteria_update_returns_its_rows(self):
        ids = self._add_instances(2, host='h0')

        def work():
            with self.session() as s, s.begin():
                s.query(m.Instance).filter_by(host='h0').update(
                    {'vm_state': 'error'}, synchronize_session=False)

        sql = self._statements_of(work)
        # RETURNING gives the rows (and PostgreSQL's stamp) where UPDATE
        # has it: no pre-select, no read-back. Otherwise a SELECT ... FOR
        # UPDATE for the keys, and the read-back carries the stamp.
        expected = ['UPDATE']
        if not self.db.engine.dialect.update_returning:
            expected = ['SELECT', 'UPDATE', 'SELECT']
        self.assertEqual(expected, [w for w in sql if w != 'COMMIT'])
        self.assertEqual(sorted(ids),
                         sorted(c.pk['id'] for c in self.db.changes()[2:]))
        self.assertGreater(self.db.drafts[-1].ts, self.db.drafts[0].ts)
        self.assert_replays_to_db()

    def test_criteria_delete_returns_its_before_images(self):
        ids = self._add_instances(2, host='h0', task_state='gone')

        def work():
            with self.session() as s, s.begin():
                n = s.query(m.Instance).filter_by(host='h0').delete(
                    synchronize_session=False)
                self.assertEqual(2, n)

        sql = self._statements_of(work)
        # DELETE ... RETURNING gives keys and before-images at once;
        # otherwise one SELECT ... FOR UPDATE gives both. Deleted rows are
        # not read back: only the clock is read (not on SQLite's).
        expected = ['DELETE']
        if not self.db.engine.dialect.delete_returning:
            expected.insert(0, 'SELECT')
        if (self.db.capture._clock_sql is not None
                and self.db.capture._clock_returning is None):
            expected.append('SELECT')  # MariaDB's clock
        self.assertEqual(expected, [w for w in sql if w != 'COMMIT'])
        deletes = self.db.changes()[2:]
        self.assertEqual(sorted(ids), sorted(c.pk['id'] for c in deletes))
        self.assertEqual({'delete'}, {c.op for c in deletes})
        self.assertEqual({'gone'}, {c.row['task_state'] for c in deletes})
        self.assertNotIn('user_data', deletes[0].row)
        self.assert_replays_to_db()

    def test_update_on_match(self):
        [iid] = self._add_instances(1, task_state='spawning')
        with self.session() as s, s.begin():
            inst = s.query(m.Instance).filter_by(id=iid).one()
            s.expunge(inst)
            s.query(m.Instance).update_on_match(
                inst, 'id', {'task_state': None, 'vm_state': 'active'})
        last = self.db.changes()[-1]
        self.assertEqual(('update', None), (last.op, last.row['task_state']))
        self.assert_replays_to_db()

    def test_bulk_delete_and_2_0_style_statements(self):
        ids = self._add_instances(3)
        with self.session() as s, s.begin():
            s.execute(sa.update(m.Instance).where(
                m.Instance.id == ids[0]).values(host='h1'))
            s.execute(sa.insert(m.Instance), [
                {'uuid': _uuid(), 'vm_state': 'new'} for _ in range(3)])
            s.query(m.Instance).filter(m.Instance.id == ids[1]).delete(
                synchronize_session=False)
            s.execute(sa.delete(m.Instance).where(
                m.Instance.vm_state == 'new', m.Instance.id > 0))
        ops = sorted(c.op for c in self.db.changes()[3:])
        self.assertEqual(['delete', 'update'], ops)  # new rows net out
        self.assert_replays_to_db()

    def test_one_statement_object_run_again_gets_its_own_rows(self):
        """A statement object run again gets its own rows and columns.

        It is planned once (the unit of work reuses its UPDATE and
        DELETE); each run publishes its own rows, changed columns and
        before-images.
        """
        ids = self._add_instances(2)
        table = m.Instance.__table__
        update = table.update().where(table.c.id == sa.bindparam('pk'))
        delete = table.delete().where(table.c.id == sa.bindparam('pk'))
        with self.db.engine.begin() as conn:
            conn.execute(update, {'pk': ids[0], 'host': 'h0'})
            conn.execute(update, {'pk': ids[1], 'vm_state': 'v1'})
        with self.db.engine.begin() as conn:
            conn.execute(update, {'pk': ids[0], 'vm_state': 'v2'})
        first, second, third = self.db.changes()[2:]
        self.assertEqual((ids[0], 'h0', 'active'), (
            first.pk['id'], first.row['host'], first.row['vm_state']))
        self.assertIn('host', first.changed)
        self.assertNotIn('vm_state', first.changed)
        self.assertEqual((ids[1], None, 'v1'), (
            second.pk['id'], second.row['host'], second.row['vm_state']))
        self.assertNotIn('host', second.changed)
        self.assertEqual(('h0', 'v2'), (third.row['host'],
                                        third.row['vm_state']))
        self.assertNotIn('host', third.changed)
        with self.db.engine.begin() as conn:
            conn.execute(delete, {'pk': ids[0]})
        with self.db.engine.begin() as conn:
            conn.execute(delete, {'pk': ids[1]})
        gone = self.db.changes()[5:]
        self.assertEqual([('delete', ids[0], 'v2'), ('delete', ids[1], 'v1')],
                         [(c.op, c.pk['id'], c.row['vm_state'])
                          for c in gone])
        self.assert_replays_to_db()

    def test_core_statements_outside_any_session(self):
        table = self.db.capture.registry.get('instances').table
        with self.db.engine.begin() as conn:
            conn.execute(table.insert(), [
                {'uuid': _uuid(), 'vm_state': 'x', 'deleted': 0}
                for _ in range(5)])
            conn.execute(table.update().where(table.c.vm_state == 'x')
                         .values(vm_state='y'))
        with self.db.engine.begin() as conn:
            conn.execute(table.delete().where(table.c.id <= 2))
        self.assertEqual(['insert'] * 5 + ['delete'] * 2,
                         [c.op for c in self.db.changes()])
        self.assert_replays_to_db()

    def test_returning_leaves_the_callers_results_as_they_were(self):
        table = m.Instance.__table__
        with self.db.engine.begin() as conn:
            result = conn.execute(table.insert(), {'uuid': _uuid()})
            self.assertEqual(1, result.rowcount)
            [iid] = result.inserted_primary_key
            result = conn.execute(
                table.insert().return_defaults(table.c.power_state),
                {'uuid': _uuid()})
            self.assertEqual(0, result.returned_defaults.power_state)
            jid = result.inserted_primary_key[0]
            result = conn.execute(table.insert(), [
                {'uuid': _uuid()}, {'uuid': _uuid()}])
            self.assertEqual(2, len(result.inserted_primary_key_rows))
            result = conn.execute(table.update().where(
                table.c.id.in_([iid, jid])).values(host='h'))
            self.assertEqual(2, result.rowcount)
        self.assertEqual(4, len(self.db.rows('instances')))
        with self.session() as s, s.begin():
            objs = [s.get(m.Instance, i) for i in (iid, jid)]
            for strategy in ('fetch', 'evaluate'):
                n = s.query(m.Instance).filter(
                    m.Instance.host == 'h').update(
                        {'vm_state': strategy}, synchronize_session=strategy)
                self.assertEqual(2, n)
                self.assertEqual([strategy] * 2, [o.vm_state for o in objs])
            inst = m.Instance(uuid=_uuid())
            s.add(inst)
            s.flush()
            self.assertIsNotNone(inst.id)
            self.assertEqual(0, inst.power_state)  # expired, loaded
        self.assertEqual(['insert'] * 4 + ['update'] * 2 + ['insert'],
                         [c.op for c in self.db.changes()])
        self.assert_replays_to_db()

    def _clock(self, conn):
        return capture_clock.now(conn, self.db.capture._clock_sql)

    def test_stamp_is_read_after_the_last_write(self):
        ids = self._add_instances(3)
        table = m.Instance.__table__
        with self.db.engine.begin() as conn:
            conn.execute(table.update().where(table.c.id == ids[0])
                         .values(host='a'))
            before = self._clock(conn)
            conn.execute(table.update().where(table.c.id.in_(ids))
                         .values(vm_state='b'))
            after = self._clock(conn)
        stamp = self.db.drafts[-1].ts
        self.assertGreater(stamp, before)
        if self.db.capture._clock_returning is not None:
            # PostgreSQL: the last UPDATE returned the clock, read after
            # each of its rows was locked; no clock query.
            self.assertLess(stamp, after)

    def test_write_returning_no_stamp_makes_the_stamp_read_later(self):
        ids = self._add_instances(3)
        table = m.Instance.__table__
        with self.db.engine.begin() as conn:
            conn.execute(table.update().where(table.c.id == ids[0])
                         .values(host='a'))
            # executemany DELETE by key: no RETURNING, no read-back.
            conn.execute(table.delete().where(
                table.c.id == sa.bindparam('b_id')),
                [{'b_id': ids[1]}, {'b_id': ids[2]}])
            after = self._clock(conn)
        self.assertGreater(self.db.drafts[-1].ts, after)
        self.assertEqual(['update', 'delete', 'delete'],
                         [c.op for c in self.db.changes()[3:]])
        self.assert_replays_to_db()

    def test_composite_key_executemany(self):
        with self.session() as s, s.begin():
            s.execute(sa.insert(m.Tag), [
                {'resource_id': 'r', 'tag': 't%d' % i} for i in range(4)])
        with self.session() as s, s.begin():
            s.query(m.Tag).filter(m.Tag.tag.in_(['t0', 't1'])).delete(
                synchronize_session=False)
        self.assertEqual({('r', 't2'), ('r', 't3')},
                         set(self.db.rows('tags')))
        self.assert_replays_to_db('tags')

    def test_unpublished_table_is_never_published(self):
        with self.session() as s, s.begin():
            s.add(m.Service(host='h', binary='nova-compute'))
        with self.session() as s, s.begin():
            s.query(m.Service).update({'report_count': 5})
        with self.db.engine.begin() as conn:
            conn.execute(sa.text('UPDATE services SET report_count = 6'))
        self.assertEqual([], self.db.drafts)

    def test_text_sql_on_published_table_requests_resync(self):
        self._add_instances(1)
        with self.db.engine.begin() as conn:
            conn.execute(sa.text("UPDATE instances SET host = 'h2'"))
        with self.db.engine.begin() as conn:
            conn.exec_driver_sql("DELETE FROM tags WHERE tag = 'x'")
        self.assertEqual(['instances', 'tags'], self.db.resyncs())

    def test_text_sql_in_rolled_back_transaction_publishes_nothing(self):
        with self.db.engine.connect() as conn:
            conn.execute(sa.text("UPDATE instances SET host = 'h2'"))
            conn.rollback()
        self.assertEqual([], self.db.drafts)

    def test_commit_failure_becomes_resync_marker(self):
        self._add_instances(1)
        dialect = self.db.engine.dialect
        original = self.db.capture._do_commit

        def failing_commit(dbapi_connection):
            original(dbapi_connection)
            raise sa.exc.OperationalError('COMMIT', {}, 'lost connection')

        self.db.capture._do_commit = failing_commit
        self.addCleanup(setattr, self.db.capture, '_do_commit', original)
        self.assertRaises(sa.exc.DBAPIError, self._add_instances, 1)
        self.assertEqual('resync', self.db.drafts[-1].kind)
        self.assertEqual(['instances'], self.db.drafts[-1].tables)
        self.assertIs(dialect.do_commit.__func__,
                      type(self.db.capture)._wrapped_do_commit)

    def _bulk_update_while_capture_query_fails(self, error):
        self._add_instances(2)
        self.useFixture(fixtures.MockPatch(
            'oslo_publish_tables.capture.statements.plan_update_delete',
            side_effect=error))
        with self.session() as s, s.begin():
            s.query(m.Instance).update({'host': 'h9'})

    def test_database_error_in_capture_query_reaches_the_service(self):
        # A deadlock on the capture's own SELECT ... FOR UPDATE has rolled
        # back (InnoDB) or aborted (PostgreSQL) the service's transaction:
        # it must see the error, never carry on as if it were alive.
        for error in (sa.exc.OperationalError('SELECT', {}, 'deadlock'),
                      db_exc.DBDeadlock()):
            drafts = len(self.db.drafts)
            self.assertRaises(type(error),
                              self._bulk_update_while_capture_query_fails,
                              error)
            self.assertEqual([], self.db.drafts[drafts + 1:])

    def test_other_capture_failure_becomes_resync_marker(self):
        self._bulk_update_while_capture_query_fails(ValueError('odd'))
        self.assertEqual(['instances'], self.db.resyncs())

    def test_unchanged_row_is_published_as_last_committed(self):
        # The session's snapshot predates another commit to the row; its
        # UPDATE matches the row but changes nothing (same host). The
        # published image must be the latest committed row, not the
        # snapshot's (InnoDB's REPEATABLE READ kept the old version).
        [iid] = self._add_instances(1, host='h1')
        with self.session() as s, s.begin():
            s.query(m.Instance.id).all()  # the snapshot is taken here
            with self.session() as other, other.begin():
                other.get(m.Instance, iid).vm_state = 'changed'
            s.query(m.Instance).filter(m.Instance.id == iid,
                                       m.Instance.host == 'h1').update(
                {'host': 'h1'}, synchronize_session=False)
        self.assertEqual('changed', self.db.changes()[-1].row['vm_state'])
        self.assert_replays_to_db()

    def test_uninstall_restores_engine(self):
        publisher.uninstall(self.db.engine)
        self.assertNotIn('do_commit', vars(self.db.engine.dialect))
        self._add_instances(1)
        self.assertEqual([], self.db.drafts)
        self.assertIsNone(publisher.installed(self.db.engine))

    def test_stamps_follow_commit_order(self):
        [iid] = self._add_instances(1)
        for state in ('a', 'b', 'c'):
            with self.session() as s, s.begin():
                s.get(m.Instance, iid).vm_state = state
        stamps = [d.ts for d in self.db.drafts]
        self.assertEqual(sorted(stamps), stamps)
        self.assertEqual(len(set(stamps)), len(stamps))


class ForeignKeyActionTest(testtools.TestCase):

    def test_table_a_foreign_key_action_changes_is_read_back(self):
        metadata = sa.MetaData()
        sa.Table('parent', metadata, sa.Column('id', sa.Integer,
                                               primary_key=True))
        plain, cascaded = [sa.Table(
            name, metadata, sa.Column('id', sa.Integer, primary_key=True),
            sa.Column('parent_id', sa.ForeignKey('parent.id', **kw)))
            for name, kw in (('plain', {'ondelete': 'RESTRICT'}),
                             ('cascaded', {'ondelete': 'SET NULL'}))]
        self.assertTrue(capture_tables.TableInfo(plain, ()).returns_images)
        self.assertFalse(
            capture_tables.TableInfo(cascaded, ()).returns_images)


class ConfigErrorTest(testtools.TestCase):
    """Options are checked at install; tables and columns on first use."""
    backend = 'sqlite'

    def _install(self, tables=m.PUBLISHED, exclude_columns=()):
        db = self.useFixture(backends.DatabaseFixture(self.backend))
        self.engine = sa.create_engine(db.url)
        self.addCleanup(self.engine.dispose)
        m.create(self.engine)
        conf = capture_fixture.make_conf(tables=list(tables),
                                         exclude_columns=exclude_columns)
        self.drafts = []
        return conf

    def _failed_install(self, **kwargs):
        conf = self._install(**kwargs)
        exc = self.assertRaises(exceptions.ConfigError, publisher.install,
                                self.engine, conf, submit=list.append)
        self.assertIsNone(publisher.installed(self.engine))
        return exc

    def _first_write(self, **kwargs):
        conf = self._install(**kwargs)
        capture = publisher.install(self.engine, conf,
                                    submit=self.drafts.append)
        self.addCleanup(publisher.uninstall, self.engine)
        with self.engine.begin() as conn:
            conn.execute(sa.insert(m.Instance.__table__), {'uuid': 'u'})
        return capture

    def test_unknown_table_is_not_published(self):
        capture = self._first_write(tables=['instances', 'instancez'])
        self.assertIsNone(capture.registry.get('instancez'))
        self.assertEqual(['txn'], [d.kind for d in self.drafts])

    def test_unknown_column_resyncs_its_table(self):
        self._first_write(exclude_columns=['instances.nope'])
        [draft] = self.drafts
        self.assertEqual('resync', draft.kind)
        self.assertIn('instances.nope', draft.reason)

    def test_primary_key_cannot_be_excluded(self):
        self._first_write(exclude_columns=['instances.id'])
        [draft] = self.drafts
        self.assertIn('primary key', draft.reason)

    def test_strict_mode_raises_on_first_write(self):
        conf = self._install(exclude_columns=['instances.nope'])
        conf.set_override('strict', True, 'publish_tables')
        publisher.install(self.engine, conf, submit=self.drafts.append)
        self.addCleanup(publisher.uninstall, self.engine)
        with self.engine.connect() as conn:
            exc = self.assertRaises(
                exceptions.CaptureError, conn.execute,
                sa.insert(m.Instance.__table__), {'uuid': 'u'})
        self.assertIn('instances.nope', str(exc))

    def test_malformed_exclusion(self):
        exc = self._failed_install(exclude_columns=['user_data'])
        self.assertIn('table.column', str(exc))

    def test_exclusion_of_an_unlisted_table(self):
        exc = self._failed_install(exclude_columns=['services.host'])
        self.assertIn('not listed', str(exc))


backends.for_each_backend(CaptureTest)
