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

"""A migration changes published tables while producers write.

The producer and a LIVE consumer run; a migration, on a connection of
its own (as ``nova-manage db sync`` in another process), adds a column,
drops one, and drops a table and creates it again (alembic operations).
After each step the producer writes the table with its new shape; it
notices the change (``schema_check_interval = 0``: on the next write),
tells consumers to reload the table, and the replica then equals the
database row for row, with the new columns, and is LIVE.
"""

from alembic.migration import MigrationContext
from alembic.operations import Operations
import sqlalchemy as sa
import testtools

from oslo_publish_tables import fixture as backends
from publish_tables_demo import schema as demo_schema

from congress_consumer.replication import sync
from congress_consumer.tests import pipeline

TABLES = ('instances', 'tags')


class SchemaChangeTest(testtools.TestCase):
    backend = backends.SQLITE  # replaced by for_each_backend()

    def setUp(self):
        super().setUp()
        self.p = self.useFixture(pipeline.Pipeline(self.backend,
                                                   tables=TABLES))
        self.p.producer.capture.registry.check_interval = 0
        self.migrator = sa.create_engine(self.p.url)
        self.addCleanup(self.migrator.dispose)
        with self.p.producer.engine.begin() as conn:
            conn.execute(sa.insert(demo_schema.Instance.__table__), [
                {'uuid': 'u-%d' % i, 'hostname': 'vm%d' % i}
                for i in range(3)])
            conn.execute(sa.insert(demo_schema.Tag.__table__), [
                {'resource_id': 'r1', 'tag': 'gold'}])
        self.assert_live()

    def assert_live(self):
        self.assertEqual([], self.p.converge())
        for name in TABLES:
            self.assertEqual(sync.LIVE,
                             self.p.driver.sync.status[name].state)
            self.assertEqual(self.db_rows(name), self.p.replica_rows(name))

    def db_rows(self, name):
        """Every row of ``name``, every column, read afresh."""
        table = self.table(name)
        pk = [c.name for c in table.primary_key.columns]
        with self.p.producer.engine.connect() as conn:
            return {tuple(r._mapping[n] for n in pk): dict(r._mapping)
                    for r in conn.execute(sa.select(table))}

    def migrate(self, step):
        with self.migrator.begin() as conn:
            step(Operations(MigrationContext.configure(conn)))

    def table(self, name):
        """``name`` as the database has it now (not the demo model)."""
        return sa.Table(name, sa.MetaData(),
                        autoload_with=self.p.producer.engine)

    def write(self, statement, values=None):
        with self.p.producer.engine.begin() as conn:
            conn.execute(statement, values)

    def replica_columns(self, table):
        return {c for row in self.p.replica_rows(table).values()
                for c in row}

    def test_column_added_dropped_table_recreated(self):
        self.migrate(lambda op: op.add_column(
            'instances', sa.Column('zone', sa.String(16))))
        instances = self.table('instances')
        self.write(instances.update().where(instances.c.id == 1)
                   .values(zone='z1'))
        self.write(sa.insert(instances), {'uuid': 'u-9', 'zone': 'z2'})
        self.assert_live()
        self.assertIn('zone', self.replica_columns('instances'))

        self.migrate(lambda op: op.drop_column('instances', 'hostname'))
        instances = self.table('instances')
        self.write(instances.update().where(instances.c.id == 2)
                   .values(zone='z3'))
        self.assert_live()
        self.assertNotIn('hostname', self.replica_columns('instances'))

        def recreate(op):
            op.drop_table('tags')
            op.create_table(
                'tags', sa.Column('resource_id', sa.String(36),
                                  primary_key=True),
                sa.Column('tag', sa.Unicode(80), primary_key=True))
        self.migrate(recreate)
        self.write(sa.insert(self.table('tags')),
                   {'resource_id': 'r2', 'tag': 'silver'})
        self.assert_live()
        self.assertEqual([('r2', 'silver')],
                         list(self.p.replica_rows('tags')))


backends.for_each_backend(SchemaChangeTest)
