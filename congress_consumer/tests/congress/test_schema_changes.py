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

"""A migration changes a published table's columns under Congress.

The datasource keeps every column of ``instances`` (no ``columns``
option) and Congress's policy engine has rules on it. A migration, on a
connection of its own, adds a column and then drops one (alembic
operations on the SQLite database); the producer notices on its next
write (``check_interval = 0``). Without a restart, the datasource's
schema, the rows it publishes and the engine's schema, facts and rules
follow: a rule inserted after the change uses the new column, a rule
inserted before it still evaluates, a rule naming the dropped column is
taken out and reported, and no fact of the old arity is left.
"""

from alembic.migration import MigrationContext
from alembic.operations import Operations
import fixtures
import sqlalchemy as sa

from congress_consumer.tests.congress import test_dse

ZONED_RULE = 'zoned(id) :- nova:instances(uuid=id, zone="z1")'
HOSTED_RULE = 'hosted(id) :- nova:instances(uuid=id, host="h1")'
# An action per instance in error: run once when it enters the table.
RESYNC_RULE = ('execute[nova:resync(id)] :- '
               'nova:instances(uuid=id, vm_state="error")')


class CongressSchemaChangeTest(test_dse.CongressTestBase):

    def setUp(self):
        super().setUp()
        self.service = self._create_datasource(columns=None)
        self.executed = []  # the action's argument, per execution
        self.useFixture(fixtures.MockPatchObject(
            self.service.driver, 'execute',
            lambda action, args: self.executed.append(args['positional'])))
        self.producer.capture.registry.check_interval = 0
        self.migrator = sa.create_engine(self.url)
        self.addCleanup(self.migrator.dispose)

    def migrate(self, step):
        with self.migrator.begin() as conn:
            step(Operations(MigrationContext.configure(conn)))
        # The table as the database has it now (not the demo model).
        self.instances = sa.Table('instances', sa.MetaData(),
                                  autoload_with=self.migrator)

    def database_columns(self):
        return [c.name for c in self.instances.columns]

    def engine_columns(self):
        return self.engine.theory['nova'].schema.columns('instances')

    def select(self, query):
        answer = self.engine.select(query, target='classification')
        return sorted(lit.split('"')[1] for lit in answer.split()
                      if '"' in lit)

    def wait_select(self, query, expected):
        test_dse.wait_for(lambda: self.select(query) == expected)
        self.assertEqual(expected, self.select(query))

    def wait_executed(self, expected):
        """The action ran for ``expected``, in order, and no more often.

        An execution the schema change caused would come before the
        last one expected.
        """
        test_dse.wait_for(lambda: len(self.executed) >= len(expected))
        self.assertEqual(expected, self.executed)

    def wait_columns(self, columns):
        driver = self.service.driver
        test_dse.wait_for(lambda: self.engine_columns() == columns and
                          driver.get_column_names('instances') ==
                          tuple(columns))
        self.assertEqual(tuple(columns),
                         driver.get_column_names('instances'))
        self.assertEqual(columns, self.engine_columns())

    def assert_one_shape(self, columns):
        """Datasource, its publications and the engine: one arity."""
        rows = self.service.driver.get_snapshot('instances')
        published = self.service._last_published_data['instances']
        facts = [rule.head.arguments for rule in
                 self.engine.theory['nova'].content(['instances'])]
        self.assertEqual(rows, published)
        self.assertEqual({len(columns)},
                         {len(r) for r in rows} | {len(r) for r in published}
                         | {len(f) for f in facts})
        self.assertEqual(len(rows), len(facts))
        schema = self.node.invoke_service_rpc(
            'nova', 'get_datasource_schema', {'source_id': 'nova'})
        self.assertEqual(columns,
                         [c['name'] for c in schema['instances']])
        self.assertEqual(self.service.sender_seqnums['instances'],
                         self.engine.receiver_seqnums['nova']['instances'])

    def test_engine_follows_added_and_dropped_columns(self):
        self._insert('vm-a', 'active')
        self._insert('vm-b', 'error')
        self.engine.create_policy('classification')
        self._insert_rule(test_dse.ERROR_RULE, 'classification')
        self._insert_rule(HOSTED_RULE, 'classification')
        self._insert_rule(RESYNC_RULE, 'classification')
        self._wait_errors(['vm-b'])
        self.wait_executed([['vm-b']])
        self.wait_select('hosted(x)', ['vm-a', 'vm-b'])
        columns = list(self.engine_columns())
        self.assertNotIn('zone', columns)

        # A column added: the next write shows it.
        self.migrate(lambda op: op.add_column(
            'instances', sa.Column('zone', sa.String(16))))
        columns = self.database_columns()
        self.assertEqual('zone', columns[-1])
        self._write(sa.update(self.instances)
                    .where(self.instances.c.uuid == 'vm-a')
                    .values(zone='z1'))
        self.wait_columns(columns)
        # A rule inserted now uses the new column; the rules compiled
        # before the change still evaluate; changes arrive in the new
        # shape.
        self._insert_rule(ZONED_RULE, 'classification')
        self.wait_select('zoned(x)', ['vm-a'])
        self._write(sa.update(self.instances)
                    .where(self.instances.c.uuid == 'vm-b')
                    .values(zone='z1', vm_state='active'))
        self.wait_select('zoned(x)', ['vm-a', 'vm-b'])
        self._wait_errors([])
        self._set_state('vm-a', 'error')
        self._wait_errors(['vm-a'])
        # Compiled again, the action's rule did not run it again.
        self.wait_executed([['vm-b'], ['vm-a']])
        self.assertEqual(['vm-a', 'vm-b'], self.select('hosted(x)'))
        self.assert_one_shape(columns)

        # A column dropped: the rule naming it is taken out and reported.
        self.migrate(lambda op: op.drop_column('instances', 'host'))
        columns = self.database_columns()
        self._write(sa.insert(self.instances).values(uuid='vm-c',
                                                     vm_state='error'))
        self.wait_columns(columns)
        self._wait_errors(['vm-a', 'vm-c'])
        self.wait_executed([['vm-b'], ['vm-a'], ['vm-c']])
        self.assertEqual(['vm-a', 'vm-b'], self.select('zoned(x)'))
        self.assertEqual([], self.select('hosted(x)'))
        self.assertEqual(
            [str(self.compile.parse1(HOSTED_RULE))],
            [event.formula.original_str
             for event, _problems in self.engine.error_events])
        self.assert_one_shape(columns)

    def test_unsubscribed_engine_takes_the_new_columns(self):
        # No rule on the table: no subscription, no snapshot; the
        # datasource's announcement brings the engine the new columns.
        self._insert('vm-a', 'active')
        self.migrate(lambda op: op.add_column(
            'instances', sa.Column('zone', sa.String(16))))
        self._write(sa.update(self.instances)
                    .where(self.instances.c.uuid == 'vm-a')
                    .values(zone='z1'))
        self.wait_columns(self.database_columns())
        self.assertEqual({}, self.engine.node.get_subscription('__engine'))
        self.engine.create_policy('classification')
        self._insert_rule(ZONED_RULE, 'classification')
        self.wait_select('zoned(x)', ['vm-a'])
