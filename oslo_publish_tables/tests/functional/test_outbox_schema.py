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

"""``[publish_tables] outbox_schema``: the outbox outside the service's schema.

What the service's own tools see (a reflection of its schema, as nova's
``archive_deleted_rows`` and ``purge`` do) holds no outbox table; the
outbox row still commits or rolls back with the service's transaction;
on all three databases (SQLite: an attached database, refused in WAL
mode; in memory for an in-memory database). End to end convergence with
the outbox elsewhere:
``congress_consumer.tests.functional.test_durable_convergence``.
"""

import io
import os

from alembic import autogenerate
from alembic import migration as alembic_migration
from alembic import script as alembic_script
import fixtures
from oslo_config import cfg
import sqlalchemy as sa
from sqlalchemy import event
import testtools

from oslo_publish_tables.cmd import agent as agent_mod
from oslo_publish_tables.cmd import manage
from oslo_publish_tables import exceptions
from oslo_publish_tables import fixture as backends
from oslo_publish_tables.outbox import attached
from oslo_publish_tables.outbox import migration
from oslo_publish_tables.outbox import schema
from oslo_publish_tables.outbox import store as store_mod
from oslo_publish_tables import publisher
from oslo_publish_tables.tests import capture_fixture
from publish_tables_demo import schema as m


class Refused(Exception):
    """Raised by a test listener to make one COMMIT fail."""


def _manage(url, command, where, out):
    conf = cfg.ConfigOpts()
    agent_mod.register_opts(conf)
    conf.set_override('connection', backends.add_query(
        url, plugin='publish_tables'), 'database')
    conf.set_override('outbox_schema', where, 'publish_tables')
    return manage.main([command], conf=conf, out=out)


def _reflected(engine):
    """The table names of the service's schema, as nova reflects them."""
    meta = sa.MetaData()
    meta.reflect(bind=engine)
    return set(meta.tables)


class OutboxSchemaTest(testtools.TestCase):
    backend = 'postgresql'

    def setUp(self):
        super().setUp()
        db = self.useFixture(backends.DatabaseFixture(self.backend))
        self.url = db.url
        self.where = self.useFixture(backends.OutboxSchemaFixture(db)).name
        self.engine = sa.create_engine(db.url)
        self.addCleanup(self.engine.dispose)
        m.create(self.engine)

    def test_db_sync_creates_it_elsewhere(self):
        out = io.StringIO()
        self.assertEqual(0, _manage(self.url, 'db_version', self.where, out))
        self.assertEqual(0, _manage(self.url, 'db_sync', self.where, out))
        self.assertEqual(0, _manage(self.url, 'db_sync', self.where, out))
        self.assertEqual(['None', '6d1c0e8a4f21', '6d1c0e8a4f21'],
                         out.getvalue().split())
        self.assertEqual(set(m.Base.metadata.tables),
                         _reflected(self.engine))
        with self.engine.connect() as conn:
            attached.attach(conn, self.where)  # SQLite: on each connection
            names = set(sa.inspect(conn).get_table_names(schema=self.where))
            context = alembic_migration.MigrationContext.configure(conn, opts={
                'version_table': schema.VERSION_TABLE,
                'version_table_schema': self.where,
                'include_schemas': True,
                'include_name': lambda name, kind, parents: (
                    kind != 'schema' or name == self.where)})
            diff = autogenerate.compare_metadata(
                context, schema.table(self.where).metadata)
        self.assertEqual({schema.TABLE_NAME, schema.VERSION_TABLE}, names)
        self.assertEqual([], diff)

    def install(self):
        migration.upgrade(self.engine, schema_name=self.where)
        conf = capture_fixture.make_conf(
            tables=list(m.PUBLISHED), delivery='durable',
            outbox_schema=self.where)
        drafts = []
        publisher.install(self.engine, conf, submit=drafts.append)
        self.addCleanup(publisher.uninstall, self.engine)
        return drafts, store_mod.OutboxStore(self.engine,
                                             schema_name=self.where)

    def insert_instance(self, uuid, refuse=False):
        with self.engine.begin() as conn:
            conn.info['refuse'] = refuse
            conn.execute(sa.insert(m.Instance.__table__).values(
                uuid=uuid, hostname=uuid, deleted=0))

    def test_outbox_row_is_in_the_services_transaction(self):
        drafts, store = self.install()
        self.insert_instance('u-1')
        self.assertEqual(1, store.count())
        with self.engine.connect() as conn:
            self.assertEqual(drafts[0].outbox_id,
                             store_mod.high_water(conn, self.where))

        def refuse(conn):
            # Only the service's transaction: any other commits.
            if conn.info.pop('refuse', False):
                raise Refused('COMMIT refused')

        event.listen(self.engine, 'commit', refuse)
        try:
            self.assertRaises(Refused, self.insert_instance, 'u-2', True)
        finally:
            event.remove(self.engine, 'commit', refuse)
        # Neither the row nor its outbox record committed.
        self.assertEqual(1, store.count())
        with self.engine.connect() as conn:
            self.assertEqual(['u-1'], list(conn.execute(
                sa.select(m.Instance.__table__.c.uuid)).scalars()))
        self.assertNotIn(schema.TABLE_NAME, _reflected(self.engine))

    def test_missing_outbox_names_where_it_was_looked_for(self):
        conf = capture_fixture.make_conf(
            tables=list(m.PUBLISHED), delivery='durable',
            outbox_schema=self.where)
        exc = self.assertRaises(exceptions.ConfigError, publisher.install,
                                self.engine, conf, submit=lambda d: None)
        self.assertIn('%s.%s' % (self.where, schema.TABLE_NAME), str(exc))


backends.for_each_backend(OutboxSchemaTest)


class OutboxSchemaSQLiteTest(testtools.TestCase):
    """SQLite: the attached database, beside the main file or in memory."""

    def setUp(self):
        super().setUp()
        self.db = self.useFixture(backends.DatabaseFixture(backends.SQLITE))
        self.conf = capture_fixture.make_conf(
            tables=list(m.PUBLISHED), delivery='durable',
            outbox_schema='pt_outbox')

    def engine(self, url):
        engine = sa.create_engine(url)
        self.addCleanup(engine.dispose)
        m.create(engine)
        return engine

    def test_the_file_beside_the_main_one(self):
        engine = self.engine(self.db.url)
        migration.upgrade(engine, schema_name='pt_outbox')
        self.assertTrue(os.path.exists(self.db.database + '-pt_outbox'))
        publisher.install(engine, self.conf, submit=lambda d: None)
        self.addCleanup(publisher.uninstall, engine)
        self.assertTrue(attached.listening(engine, 'pt_outbox'))
        with engine.begin() as conn:
            conn.execute(sa.insert(m.Instance.__table__).values(
                uuid='u-1', hostname='h', deleted=0))
        # Another process (no plugin) finds the row through the file.
        other = sa.create_engine(self.db.url)
        self.addCleanup(other.dispose)
        store = store_mod.OutboxStore(other, schema_name='pt_outbox')
        self.assertEqual(1, store.count())
        publisher.uninstall(engine)
        self.assertFalse(attached.listening(engine, 'pt_outbox'))

    def test_in_memory_main_database_in_memory_outbox(self):
        engine = sa.create_engine('sqlite://',
                                  poolclass=sa.pool.StaticPool)
        self.addCleanup(engine.dispose)
        m.create(engine)
        drafts = []
        with engine.connect() as conn:  # as the plugin does
            publisher.install(engine, self.conf, submit=drafts.append,
                              connection=conn)
        self.addCleanup(publisher.uninstall, engine)
        with engine.begin() as conn:
            conn.execute(sa.insert(m.Instance.__table__).values(
                uuid='u-1', hostname='h', deleted=0))
        with engine.connect() as conn:
            # Both in memory: no file.
            self.assertEqual(
                [('main', ''), ('pt_outbox', '')],
                sorted((row[1], row[2]) for row in conn.exec_driver_sql(
                    'PRAGMA database_list') if row[1] != 'temp'))
            self.assertEqual(drafts[0].outbox_id,
                             store_mod.high_water(conn, 'pt_outbox'))
        self.assertEqual(schema.HEAD,
                         migration.version(engine, 'pt_outbox'))
        self.assertNotIn(schema.TABLE_NAME, _reflected(engine))

    def test_wal_is_refused_naming_the_option(self):
        engine = self.engine(self.db.url)
        with engine.connect() as conn:
            conn.exec_driver_sql('PRAGMA journal_mode=WAL')
        engine.dispose()
        exc = self.assertRaises(exceptions.ConfigError, publisher.install,
                                engine, self.conf, submit=lambda d: None)
        self.assertEqual(('outbox_schema', 'pt_outbox'),
                         (exc.option, exc.value))
        self.assertIn('WAL', str(exc))
        self.assertFalse(attached.listening(engine, 'pt_outbox'))

    def test_db_sync_refuses_wal(self):
        engine = self.engine(self.db.url)
        with engine.connect() as conn:
            conn.exec_driver_sql('PRAGMA journal_mode=WAL')
        engine.dispose()
        err = self.useFixture(fixtures.StringStream('stderr'))
        self.useFixture(fixtures.MonkeyPatch('sys.stderr', err.stream))
        self.assertEqual(1, _manage(self.db.url, 'db_sync', 'pt_outbox',
                                    io.StringIO()))
        err.stream.flush()
        self.assertIn('[publish_tables] outbox_schema = ',
                      err.getDetails()['stderr'].as_text())

    def test_main_is_not_a_name_for_it(self):
        engine = self.engine(self.db.url)
        conf = capture_fixture.make_conf(
            tables=list(m.PUBLISHED), delivery='durable',
            outbox_schema='main')
        exc = self.assertRaises(exceptions.ConfigError, publisher.install,
                                engine, conf, submit=lambda d: None)
        self.assertEqual('outbox_schema', exc.option)

    def test_head_is_the_migrations_head(self):
        script = alembic_script.ScriptDirectory(migration.SCRIPT_LOCATION)
        self.assertEqual(script.get_current_head(), schema.HEAD)
