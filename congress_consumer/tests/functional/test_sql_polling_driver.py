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

"""SqlPollingDriver against real databases (SQLite, PostgreSQL, MariaDB)."""

import threading

import sqlalchemy as sa
import testtools

from congress_consumer.datasources import sql_polling
from congress_consumer import exceptions
from oslo_publish_tables import fixture as backends

HOSTS = sa.Table('hosts', sa.MetaData(),
                 sa.Column('name', sa.String(64), primary_key=True),
                 sa.Column('state', sa.String(16)),
                 sa.Column('vcpus', sa.Integer))


class SqlPollingTest(testtools.TestCase):
    backend = None

    def setUp(self):
        super().setUp()
        url = self.useFixture(backends.DatabaseFixture(self.backend)).url
        self.engine = sa.create_engine(url)
        self.addCleanup(self.engine.dispose)
        HOSTS.create(self.engine)
        self.driver = sql_polling.SqlPollingDriver('inventory', {
            'database_url': url, 'tables': 'hosts',
            'columns': {'hosts': 'name,state'}, 'poll_time': '0.1'})
        self.addCleanup(self.driver.stop)
        self.diffs = []
        self.driver.subscribe(lambda *diff: self.diffs.append(diff))

    def _write(self, statement):
        with self.engine.begin() as conn:
            conn.execute(statement)

    def test_polls_publish_the_differences(self):
        self._write(sa.insert(HOSTS).values(
            [{'name': 'h1', 'state': 'up', 'vcpus': 4},
             {'name': 'h2', 'state': 'up', 'vcpus': 8}]))
        self.assertEqual({'hosts': ({('h1', 'up'), ('h2', 'up')}, set())},
                         self.driver.poll())
        self._write(sa.update(HOSTS).where(HOSTS.c.name == 'h2')
                    .values(state='down'))
        self._write(sa.delete(HOSTS).where(HOSTS.c.name == 'h1'))
        self._write(sa.update(HOSTS).where(HOSTS.c.name == 'h2')
                    .values(vcpus=16))  # a column not polled
        self.assertEqual(
            {'hosts': ({('h2', 'down')}, {('h1', 'up'), ('h2', 'up')})},
            self.driver.poll())
        self.assertEqual({}, self.driver.poll())  # nothing changed
        self.assertEqual({('h2', 'down')},
                         self.driver.get_snapshot('hosts'))
        self.assertEqual(2, len(self.diffs))

    def test_failing_poll_keeps_the_tables(self):
        self._write(sa.insert(HOSTS).values(name='h1', state='up'))
        self.driver.poll()
        HOSTS.drop(self.engine)
        self.assertRaises(sa.exc.DBAPIError, self.driver.poll)
        self.assertEqual({('h1', 'up')}, self.driver.get_snapshot('hosts'))
        self.assertIn('hosts', self.driver.get_status()['last_error'])

    def test_thread_polls_at_the_interval(self):
        changed = threading.Event()
        self.driver.subscribe(lambda *diff: changed.set())
        self.driver.start()
        self._write(sa.insert(HOSTS).values(name='h9', state='up'))
        self.assertTrue(changed.wait(20))
        self.assertEqual({('h9', 'up')}, self.driver.get_snapshot('hosts'))

    def test_columns_are_required_for_every_table(self):
        exc = self.assertRaises(
            exceptions.InvalidParamError,
            sql_polling.SqlPollingDriver, 'x',
            {'database_url': 'sqlite://', 'tables': 'hosts,racks',
             'columns': {'hosts': 'name'}})
        self.assertIn('racks', str(exc))


backends.for_each_backend(SqlPollingTest)
