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

"""Writes the capture used to miss or break (issue 12, items 1 to 5).

Every test checks the replica a consumer would build (changes replayed,
resync markers reloading their tables) against the database, row for
row, on SQLite, PostgreSQL and MySQL/MariaDB.
"""

import uuid

import fixtures
import sqlalchemy as sa

from oslo_publish_tables import fixture as backends
from oslo_publish_tables.tests import capture_fixture
from publish_tables_demo import schema as m


def _uuid():
    return str(uuid.uuid4())


INSTANCES = m.Instance.__table__
TAGS = m.Tag.__table__
METADATA = m.InstanceMetadata.__table__


class HolesTest(capture_fixture.CaptureTestCase):

    @property
    def mysql(self):
        return self.db.engine.dialect.name in ('mysql', 'mariadb')

    def _add_instances(self, n, **values):
        with self.db.maker() as s, s.begin():
            objs = [m.Instance(uuid=_uuid(), vm_state='active',
                               memory_mb=512, **values) for _ in range(n)]
            s.add_all(objs)
        return [o.id for o in objs]

    def _add_tags(self, *keys):
        with self.db.engine.begin() as conn:
            conn.execute(TAGS.insert(), [{'resource_id': r, 'tag': t}
                                         for r, t in keys])

    def assert_replica_exact(self, resyncs=()):
        """The replica equals the database; only ``resyncs`` resynced."""
        self.assertEqual({}, self.replica.differences())
        self.assertEqual(sorted(resyncs), sorted(set(self.replica.resynced)))

    # -- 1. primary key changes -------------------------------------------

    def test_core_key_change_by_expression(self):
        ids = self._add_instances(3)
        with self.db.engine.begin() as conn:
            conn.execute(INSTANCES.update().where(INSTANCES.c.id <= ids[1])
                         .values(id=INSTANCES.c.id + 1000))
        self.assertEqual(sorted([ids[2], ids[0] + 1000, ids[1] + 1000]),
                         sorted(k[0] for k in self.db.rows('instances')))
        self.assert_replica_exact()

    def test_core_key_change_by_key(self):
        [iid, other] = self._add_instances(2)
        with self.db.engine.begin() as conn:
            conn.execute(INSTANCES.update().where(INSTANCES.c.id == iid)
                         .values(id=iid + 500, host='moved'))
        self.assert_replica_exact()

    def test_key_change_onto_a_freed_key(self):
        [a, b] = self._add_instances(2)
        with self.db.engine.begin() as conn:
            conn.execute(INSTANCES.update().where(INSTANCES.c.id == a)
                         .values(id=INSTANCES.c.id + 1000))
            conn.execute(INSTANCES.update().where(INSTANCES.c.id == b)
                         .values(id=INSTANCES.c.id - (b - a)))
        self.assert_replica_exact()

    def test_orm_flush_changes_the_key(self):
        [iid] = self._add_instances(1)
        with self.db.maker() as s, s.begin():
            inst = s.get(m.Instance, iid)
            inst.id = iid + 700
            inst.vm_state = 'renumbered'
        self.assertEqual([(iid + 700,)], list(self.db.rows('instances')))
        self.assert_replica_exact()

    def test_composite_key_change(self):
        self._add_tags(('r1', 'a'), ('r1', 'b'), ('r2', 'a'))
        with self.db.engine.begin() as conn:
            conn.execute(TAGS.update().where(TAGS.c.resource_id == 'r1')
                         .values(resource_id='r9'))
            conn.execute(TAGS.update().where(TAGS.c.resource_id == 'r2',
                                             TAGS.c.tag == 'a')
                         .values(tag='z'))
        self.assert_replica_exact()

    def test_key_change_then_rollback_publishes_nothing(self):
        [iid] = self._add_instances(1)
        self.replica.catch_up()
        with self.db.engine.connect() as conn:
            conn.execute(INSTANCES.update().values(id=INSTANCES.c.id + 5))
            conn.rollback()
        self.assertEqual([], self.replica.catch_up())

    # -- 2. lightweight constructs and the listener boundary ------------

    def _lightweight(self):
        return sa.table('instances', sa.column('id'), sa.column('uuid'),
                        sa.column('vm_state'), sa.column('host'),
                        sa.column('deleted'))

    def test_lightweight_update_and_delete(self):
        ids = self._add_instances(3)
        lt = self._lightweight()
        with self.db.engine.begin() as conn:
            conn.execute(lt.update().where(lt.c.id == ids[0])
                         .values(vm_state='light'))
        self.assert_replica_exact(self.replica.resynced)
        with self.db.engine.begin() as conn:
            conn.execute(lt.update().where(lt.c.host.is_(None))
                         .values(host='light'))
        self.assert_replica_exact(self.replica.resynced)
        with self.db.engine.begin() as conn:
            conn.execute(lt.delete().where(lt.c.id == ids[1]))
        self.assert_replica_exact(self.replica.resynced)

    def test_lightweight_insert_with_literal_values(self):
        lt = self._lightweight()
        with self.db.engine.begin() as conn:
            conn.execute(lt.insert().values(uuid=_uuid(), vm_state='lit',
                                            deleted=0))
            conn.execute(lt.insert().values(id=4242, uuid=_uuid(),
                                            deleted=0))
        self.assertEqual(2, len(self.db.rows('instances')))
        self.assert_replica_exact(self.replica.resynced)

    def _broken(self, target, **kwargs):
        self.useFixture(fixtures.MockPatch(
            target, side_effect=IndexError('analyser bug'), **kwargs))

    def _every_write(self):
        [iid] = self._add_instances(1)
        with self.db.engine.begin() as conn:
            conn.execute(INSTANCES.update().where(INSTANCES.c.id == iid)
                         .values(host='h'))
            conn.execute(INSTANCES.update().where(INSTANCES.c.host == 'h')
                         .values(vm_state='s'))
            conn.execute(INSTANCES.insert(), [{'uuid': _uuid()},
                                              {'uuid': _uuid()}])
            conn.execute(INSTANCES.delete().where(INSTANCES.c.id == iid))
            conn.execute(sa.text("UPDATE instances SET host = 't'"))

    def test_broken_analyser_never_fails_the_service(self):
        for target in (
                'oslo_publish_tables.capture.planner.write_targets',
                'oslo_publish_tables.capture.planner.plan',
                'oslo_publish_tables.capture.statements.plan_insert',
                'oslo_publish_tables.capture.statements.plan_update_delete',
                'oslo_publish_tables.capture.statements.Plan.finish',
                'oslo_publish_tables.capture.sqltext.TextWrites.tables',
                'oslo_publish_tables.capture.journal.Journal.add',
                'oslo_publish_tables.capture.journal.Journal.fold',
                'oslo_publish_tables.capture.statements.read_rows'):
            with fixtures.MockPatch(target,
                                    side_effect=IndexError('analyser bug')):
                self._every_write()  # raises nothing
            self.assertEqual({}, self.replica.differences())
            self.assertIn('instances', self.replica.resynced, target)
            self.replica.resynced = []

    # -- 3. text SQL ------------------------------------------------------

    def _text_write(self, sql):
        with self.db.engine.begin() as conn:
            try:
                with conn.begin_nested():
                    conn.execute(sa.text(sql))
            except sa.exc.DBAPIError:
                return False  # this database does not speak it
        return True

    def test_text_sql_with_comments_and_ctes(self):
        self._add_instances(2)
        for sql in ("/* a comment */ UPDATE instances SET host = 'c1'",
                    "-- a comment\nDELETE FROM tags WHERE tag = 'x'",
                    "  /* one */ /* two */\n update instances set "
                    "host = 'c2'",
                    "WITH t AS (SELECT 1 AS x) UPDATE instances SET "
                    "host = 'c3' WHERE id IN (SELECT x FROM t)",
                    "(UPDATE instances SET host = 'c4')"):
            self.replica.resynced = []
            if self._text_write(sql):
                table = 'tags' if 'tags' in sql else 'instances'
                self.assertEqual([table], self.replica.catch_up()[-1].tables,
                                 sql)
            self.assert_replica_exact(self.replica.resynced)

    # -- 4. multi-table UPDATE (MySQL/MariaDB) ----------------------------

    def _with_metadata(self):
        ids = self._add_instances(2)
        with self.db.maker() as s, s.begin():
            uuids = [s.get(m.Instance, i).uuid for i in ids]
            s.add_all([m.InstanceMetadata(key='k', value='v',
                                          instance_uuid=u) for u in uuids])
        return ids

    def test_multi_table_update(self):
        if not self.mysql:
            self.skipTest('UPDATE of several tables is MySQL/MariaDB SQL')
        self._with_metadata()
        with self.db.engine.begin() as conn:
            conn.execute(INSTANCES.update().where(
                INSTANCES.c.uuid == METADATA.c.instance_uuid).values(
                {INSTANCES.c.host: 'joined', METADATA.c.value: 'w'}))
        self.assert_replica_exact(self.replica.resynced)
        with self.db.engine.begin() as conn:
            conn.execute(sa.text(
                "UPDATE instance_metadata JOIN instances ON "
                "instances.uuid = instance_metadata.instance_uuid "
                "SET instance_metadata.value = 'x', instances.host = 'y'"))
        self.assert_replica_exact(self.replica.resynced)

    def test_update_correlated_with_another_table(self):
        self._with_metadata()
        with self.db.engine.begin() as conn:
            conn.execute(METADATA.update().where(
                METADATA.c.instance_uuid == INSTANCES.c.uuid,
                INSTANCES.c.vm_state == 'active').values(value='corr'))
        self.assert_replica_exact(self.replica.resynced)

    # -- 5. keys come from the database, not from literals ---------------

    def test_keys_that_differ_from_the_literals(self):
        # MySQL/MariaDB's default collation matches 'ABC' to 'abc'.
        self._add_tags(('abc', 't1'), ('abc', 't2'), ('def', 't1'))
        with self.db.engine.begin() as conn:
            conn.execute(TAGS.delete().where(TAGS.c.resource_id == 'ABC',
                                             TAGS.c.tag == 'T1'))
        self.assert_replica_exact()
        with self.db.engine.begin() as conn:
            conn.execute(TAGS.delete().where(
                TAGS.c.resource_id == sa.bindparam('r'),
                TAGS.c.tag == sa.bindparam('t')),
                [{'r': 'DEF', 't': 'T1'}, {'r': 'nope', 't': 'x'}])
        self.assert_replica_exact()
        with self.db.engine.begin() as conn:
            conn.execute(TAGS.update().where(TAGS.c.resource_id == 'ABC',
                                             TAGS.c.tag == 'T2')
                         .values(tag='t3'))
        self.assert_replica_exact()

    def test_update_by_key_literal_of_another_case(self):
        [iid] = self._add_instances(1)
        with self.db.engine.begin() as conn:
            uuid_ = conn.execute(sa.select(INSTANCES.c.uuid)).scalar()
            conn.execute(INSTANCES.update().where(
                INSTANCES.c.uuid == uuid_.upper()).values(host='upper'))
            conn.execute(INSTANCES.update().where(
                INSTANCES.c.id == str(iid)).values(vm_state='str'))
        self.assert_replica_exact()


backends.for_each_backend(HolesTest)
