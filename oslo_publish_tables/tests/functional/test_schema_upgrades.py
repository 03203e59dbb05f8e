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

"""A service's schema tooling runs with the plugin on.

A real alembic upgrade (a script directory of two revisions, run by
``alembic.command.upgrade`` on a connection of an engine created with
``?plugin=publish_tables``, as ``nova-manage db sync`` does) on an
empty database, on SQLite, PostgreSQL and MariaDB: the engine is created
and connected before any configured table exists; each missing table is
one warning naming it; rows a migration writes into a published table
once it exists are published; a column it adds to a published table
(DDL seen on the engine) makes a resync marker for that table.
"""

import os

import alembic.command
import alembic.config
import fixtures
from oslo_db import exception as db_exc
from oslo_db.sqlalchemy import engines
from oslo_messaging.notify import _impl_test
import sqlalchemy as sa
from sqlalchemy.dialects import plugins
import testtools

from oslo_publish_tables import fixture as backends
from oslo_publish_tables import plugin
from oslo_publish_tables.protocol import envelope
from oslo_publish_tables import publisher

CONFIG = """\
[publish_tables]
tables = hosts, flavors, never_created
driver = test
transport_url = fake://
publisher_id = alembic-test
"""

ENV = """\
from alembic import context

context.configure(connection=context.config.attributes['connection'],
                  target_metadata=None)
with context.begin_transaction():
    context.run_migrations()
"""

REVISION = '''\
import sqlalchemy as sa
from alembic import op

revision = %(rev)r
down_revision = %(down)r


def upgrade():
%(body)s
'''

FIRST = """\
    hosts = op.create_table(
        'hosts', sa.Column('id', sa.Integer, primary_key=True),
        sa.Column('name', sa.String(64), nullable=False))
    op.create_table('services',
                    sa.Column('id', sa.Integer, primary_key=True))
    op.bulk_insert(hosts, [{'id': 1, 'name': 'h1'},
                           {'id': 2, 'name': 'h2'}])
"""

SECOND = """\
    op.add_column('hosts', sa.Column('zone', sa.String(16)))
    flavors = op.create_table(
        'flavors', sa.Column('flavorid', sa.String(36), primary_key=True),
        sa.Column('memory_mb', sa.Integer))
    op.bulk_insert(flavors, [{'flavorid': 'm1', 'memory_mb': 512}])
    op.execute(sa.table('hosts', sa.column('id'), sa.column('zone'))
               .update().values(zone='z1'))
"""


def write_scripts(path):
    """An alembic script directory of two revisions under ``path``."""
    versions = os.path.join(path, 'versions')
    os.makedirs(versions)
    with open(os.path.join(path, 'env.py'), 'w') as f:
        f.write(ENV)
    for rev, down, body in (('a1', None, FIRST), ('b2', 'a1', SECOND)):
        with open(os.path.join(versions, rev + '.py'), 'w') as f:
            f.write(REVISION % {'rev': rev, 'down': down, 'body': body})
    config = alembic.config.Config()
    config.set_main_option('script_location', path)
    return config


class AlembicUpgradeTest(testtools.TestCase):
    backend = backends.SQLITE  # replaced by for_each_backend()

    def setUp(self):
        super().setUp()
        plugins.register('publish_tables', 'oslo_publish_tables.plugin',
                         'PublishTablesPlugin')
        self.db = self.useFixture(backends.DatabaseFixture(self.backend))
        tmp = self.useFixture(fixtures.TempDir()).path
        conf_file = os.path.join(tmp, 'pt.conf')
        with open(conf_file, 'w') as f:
            f.write(CONFIG)
        self.alembic = write_scripts(os.path.join(tmp, 'migrations'))
        self.url = backends.add_query(self.db.url, plugin='publish_tables',
                                      **{plugin.CONFIG_PARAM: conf_file})
        _impl_test.reset()
        self.addCleanup(_impl_test.reset)
        self.log = self.useFixture(fixtures.FakeLogger(
            'oslo_publish_tables', level='INFO'))

    def upgrade(self):
        engine = sa.create_engine(self.url)
        self.addCleanup(engine.dispose)
        self.addCleanup(publisher.uninstall, engine)
        with engine.begin() as connection:
            self.assertIsNotNone(publisher.installed(engine))
            self.alembic.attributes['connection'] = connection
            alembic.command.upgrade(self.alembic, 'head')
        publisher.uninstall(engine)  # flushes the sender

    def records(self):
        return [r for ctxt, msg, prio, retry in _impl_test.NOTIFICATIONS
                if msg['event_type'] == envelope.EVENT_BATCH
                for r in envelope.parse(msg['payload']).records]

    def published(self):
        return [(c.table, c.op, c.row) for r in self.records()
                for c in r.changes]

    def test_upgrade_of_an_empty_database_with_the_plugin(self):
        self.upgrade()
        for name in ('hosts', 'flavors', 'never_created'):
            self.assertEqual(1, self.log.output.count(
                'table %s is listed' % name), self.log.output)
        self.assertIn('table hosts exists now', self.log.output)
        self.assertIn('table flavors exists now', self.log.output)
        self.assertNotIn('services', self.log.output)
        changes = self.published()
        self.assertIn(('flavors', 'insert',
                       {'flavorid': 'm1', 'memory_mb': 512}), changes)
        self.assertEqual(
            [1, 2], sorted(row['id'] for table, op, row in changes
                           if table == 'hosts' and op == 'insert'))
        # The second revision's ALTER TABLE, seen on the engine: the
        # consumers of hosts reload it.
        self.assertIn((['hosts'], 'the columns of table hosts changed'),
                      [(list(r.tables), r.reason) for r in self.records()
                       if r.kind == 'resync'])
        reader = sa.create_engine(self.db.url)
        self.addCleanup(reader.dispose)
        with reader.connect() as conn:
            self.assertEqual(['a1', 'b2'][-1], conn.execute(sa.text(
                'SELECT version_num FROM alembic_version')).scalar())


class DroppedColumnTest(testtools.TestCase):
    """Another process drops a published column between two checks."""
    backend = backends.SQLITE  # replaced by for_each_backend()

    def test_one_failed_statement_then_the_new_shape(self):
        db = self.useFixture(backends.DatabaseFixture(self.backend))
        engine = sa.create_engine(db.url)
        self.addCleanup(engine.dispose)
        metadata = sa.MetaData()
        hosts = sa.Table('hosts', metadata,
                         sa.Column('id', sa.Integer, primary_key=True),
                         sa.Column('name', sa.String(64)),
                         sa.Column('zone', sa.String(16)))
        metadata.create_all(engine)
        drafts = []
        conf = backends.make_conf(tables=['hosts'],
                                  schema_check_interval=3600)
        publisher.install(engine, conf, submit=drafts.append)
        self.addCleanup(publisher.uninstall, engine)
        with engine.begin() as conn:
            conn.execute(sa.insert(hosts), {'id': 1, 'name': 'h1'})
        other = sa.create_engine(db.url)
        self.addCleanup(other.dispose)
        with other.begin() as conn:
            conn.execute(sa.text('ALTER TABLE hosts DROP COLUMN zone'))
        # The service's code does not name the dropped column.
        update = sa.update(sa.table('hosts', sa.column('id'),
                                    sa.column('name'))).where(
            sa.column('id') == 1).values(name='h2')
        with engine.connect() as conn:
            self.assertRaises(sa.exc.DBAPIError, self._commit, conn, update)
        with engine.begin() as conn:
            conn.execute(update)
        self.assertEqual(
            ['txn', 'resync', 'txn'], [d.kind for d in drafts])
        self.assertEqual('the columns of table hosts changed',
                         drafts[1].reason)
        self.assertEqual({'id': 1, 'name': 'h2'}, drafts[2].changes[0].row)

    @staticmethod
    def _commit(conn, statement):
        conn.execute(statement)
        conn.commit()


class ReflectionLeavesConnectionTest(testtools.TestCase):
    """Reflecting on the service's connection leaves it as it was.

    The first write of a table reflects it on the writing connection,
    inside an ORM flush; the service's later errors on that connection
    are still translated by oslo.db (MySQL's reflection used to switch
    its error events off for good).
    """
    backend = backends.SQLITE  # replaced by for_each_backend()

    def test_duplicate_in_a_savepoint_after_first_use(self):
        db = self.useFixture(backends.DatabaseFixture(self.backend))
        metadata = sa.MetaData()
        tags = sa.Table('tags', metadata,
                        sa.Column('rid', sa.String(36), primary_key=True),
                        sa.Column('tag', sa.String(36), primary_key=True))
        plain = sa.create_engine(db.url)
        metadata.create_all(plain)
        plain.dispose()
        engine = engines.create_engine(db.url)
        self.addCleanup(engine.dispose)
        publisher.install(engine, backends.make_conf(tables=['tags']),
                          submit=[].append)
        self.addCleanup(publisher.uninstall, engine)
        with engine.connect() as conn:
            options = dict(conn.get_execution_options())
            with conn.begin():
                conn.execute(sa.insert(tags), {'rid': 'r', 'tag': 't1'})
                self.assertEqual(options, conn.get_execution_options())
                nested = conn.begin_nested()
                self.assertRaises(
                    db_exc.DBDuplicateEntry, conn.execute,
                    sa.insert(tags), {'rid': 'r', 'tag': 't1'})
                nested.rollback()


backends.for_each_backend(AlembicUpgradeTest)
backends.for_each_backend(ReflectionLeavesConnectionTest)
backends.for_each_backend(DroppedColumnTest)
