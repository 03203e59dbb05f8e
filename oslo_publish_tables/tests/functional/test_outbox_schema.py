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
SQLite refuses the option. End to end convergence with the outbox
elsewhere: ``congress_consumer.tests.functional.test_durable_convergence``.
"""

import io

from alembic import autogenerate
from alembic import migration as alembic_migration
import fixtures
from oslo_config import cfg
import sqlalchemy as sa
from sqlalchemy import event
import testtools

from oslo_publish_tables.cmd import agent as agent_mod
from oslo_publish_tables.cmd import manage
from oslo_publish_tables import exceptions
from oslo_publish_tables import fixture as backends
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


backends.for_each_backend(OutboxSchemaTest,
                          (backends.POSTGRESQL, backends.MYSQL))


class OutboxSchemaSQLiteTest(testtools.TestCase):

    def setUp(self):
        super().setUp()
        self.db = self.useFixture(backends.DatabaseFixture(backends.SQLITE))

    def test_install_refuses_it(self):
        engine = sa.create_engine(self.db.url)
        self.addCleanup(engine.dispose)
        conf = capture_fixture.make_conf(
            tables=list(m.PUBLISHED), delivery='durable',
            outbox_schema='outbox')
        exc = self.assertRaises(exceptions.ConfigError, publisher.install,
                                engine, conf, submit=lambda d: None)
        self.assertEqual('outbox_schema', exc.option)
        self.assertIn('SQLite', str(exc))

    def test_db_sync_refuses_it(self):
        err = self.useFixture(fixtures.StringStream('stderr'))
        self.useFixture(fixtures.MonkeyPatch('sys.stderr', err.stream))
        self.assertEqual(1, _manage(self.db.url, 'db_sync', 'outbox',
                                    io.StringIO()))
        err.stream.flush()
        self.assertIn('[publish_tables] outbox_schema = ',
                      err.getDetails()['stderr'].as_text())
