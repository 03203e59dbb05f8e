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

"""The statements the capture adds to a transaction, counted (issue 16).

Each test runs the same work with the capture installed and without it
and asserts how many SQL statements the capture added: none where the
service's own statement can return the rows (``RETURNING``), and on
MySQL/MariaDB, which has no ``UPDATE ... RETURNING``, the read-back
before ``COMMIT`` (which also reads the clock) plus, for an UPDATE whose
``WHERE`` pins neither the primary key nor another unique key, the
locking ``SELECT`` of its keys. Counts, not times: the saving is
asserted, not measured.
"""

import uuid

import sqlalchemy as sa

from oslo_publish_tables import fixture as backends
from oslo_publish_tables import publisher
from oslo_publish_tables.tests import capture_fixture
from publish_tables_demo import schema as m

# Statements the capture adds: {work: {dialect: count}}.
EXPECTED = {
    'insert': {'sqlite': 0, 'postgresql': 0, 'mysql': 1},
    'update_by_key': {'sqlite': 0, 'postgresql': 0, 'mysql': 1},
    'update_on_match': {'sqlite': 0, 'postgresql': 0, 'mysql': 1},
    'update_on_match_by_uuid': {'sqlite': 0, 'postgresql': 0, 'mysql': 1},
    'update_by_criteria': {'sqlite': 0, 'postgresql': 0, 'mysql': 2},
    # nova's instance_destroy: by uuid, unique; read back by it at COMMIT.
    'update_by_unique_key': {'sqlite': 0, 'postgresql': 0, 'mysql': 1},
    'delete_by_key': {'sqlite': 0, 'postgresql': 0, 'mysql': 1},
    'unpublished': {'sqlite': 0, 'postgresql': 0, 'mysql': 0},
}


class RoundTripsTest(capture_fixture.CaptureTestCase):

    def _count(self, work):
        seen = []

        def record(conn, cursor, statement, *args):
            seen.append(statement)

        sa.event.listen(self.db.engine, 'before_cursor_execute', record)
        try:
            work()
        finally:
            sa.event.remove(self.db.engine, 'before_cursor_execute', record)
        return len(seen)

    def _added(self, name, work):
        """Statements ``work`` runs with the capture minus without it."""
        on = self._count(work)
        self.assertEqual({}, self.replica.differences())
        capture = self.db.capture
        publisher.uninstall(self.db.engine)
        try:
            off = self._count(work)
        finally:
            self.db.capture = publisher.install(
                self.db.engine, self.db.conf, submit=self.db.drafts.append)
            self.replica = capture_fixture.Replica(self.db)
        self.assertIsNot(capture, self.db.capture)
        dialect = self.db.engine.dialect.name
        self.assertEqual(EXPECTED[name][dialect], on - off,
                         '%s on %s: %d statements with the capture, %d '
                         'without' % (name, dialect, on, off))

    def _instance(self, **values):
        with self.db.maker() as s, s.begin():
            inst = m.Instance(uuid=str(uuid.uuid4()), vm_state='active',
                              task_state='spawning', **values)
            s.add(inst)
        return inst.id

    def test_insert(self):
        self._added('insert', self._instance)

    def test_update_by_key(self):
        iid = self._instance()

        def work():
            with self.db.maker() as s, s.begin():
                s.get(m.Instance, iid).vm_state = str(uuid.uuid4())

        self._added('update_by_key', work)

    def test_update_on_match(self):
        # nova's instance_update: oslo.db's update_on_match returns the
        # key itself (RETURNING on PostgreSQL, LAST_INSERT_ID on MySQL).
        iid = self._instance()

        def work():
            with self.db.maker() as s, s.begin():
                inst = s.query(m.Instance).filter_by(id=iid).one()
                s.expunge(inst)
                s.query(m.Instance).update_on_match(
                    inst, 'uuid', {'task_state': None,
                                   'vm_state': str(uuid.uuid4())})

        self._added('update_on_match', work)

    def test_update_on_match_by_uuid(self):
        # nova's instance_update with expected_task_state: the WHERE has
        # no key; on MySQL the statement sets LAST_INSERT_ID(id), whose
        # value comes back with the statement's own result.
        iid = self._instance()
        with self.db.engine.connect() as conn:
            uuid_ = conn.execute(sa.select(m.Instance.uuid).where(
                m.Instance.id == iid)).scalar()
        states = iter(range(100))

        def work():
            state = 's%d' % next(states)
            with self.db.maker() as s, s.begin():
                expected = m.Instance(uuid=uuid_)
                s.query(m.Instance).update_on_match(
                    expected, 'uuid', {'task_state': state})

        self._added('update_on_match_by_uuid', work)
        self.assertEqual('s1', self.db.rows('instances')[(iid,)][
            'task_state'])

    def test_update_by_criteria(self):
        self._instance(host='h1')

        def work():
            with self.db.maker() as s, s.begin():
                s.query(m.Instance).filter_by(host='h1').update(
                    {'vm_state': str(uuid.uuid4())},
                    synchronize_session=False)

        self._added('update_by_criteria', work)

    def test_update_by_unique_key(self):
        iid = self._instance(host='h1')
        with self.db.engine.connect() as conn:
            uuid_ = conn.execute(sa.select(m.Instance.uuid).where(
                m.Instance.id == iid)).scalar()

        def work():
            with self.db.maker() as s, s.begin():
                s.query(m.Instance).filter_by(uuid=uuid_, deleted=0).update(
                    {'vm_state': str(uuid.uuid4())},
                    synchronize_session=False)

        self._added('update_by_unique_key', work)

    def test_delete_by_key(self):
        ids = [self._instance() for _ in range(2)]

        def work():
            with self.db.maker() as s, s.begin():
                s.delete(s.get(m.Instance, ids.pop()))

        self._added('delete_by_key', work)

    def test_unpublished_table(self):
        def work():
            with self.db.maker() as s, s.begin():
                s.add(m.Service(host='h', binary='nova-compute'))
                s.flush()
                s.query(m.Service).update({'report_count': 5})
                s.execute(sa.text('UPDATE services SET report_count = 6'))

        self._added('unpublished', work)


backends.for_each_backend(RoundTripsTest)
