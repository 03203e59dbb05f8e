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

"""Tests for the ``publish_tables`` SQLAlchemy engine plugin (SQLite)."""

import os

import fixtures
from oslo_db.sqlalchemy import engines
from oslo_messaging.notify import _impl_test
import sqlalchemy as sa
from sqlalchemy.dialects import plugins
from sqlalchemy import orm
import testtools

from oslo_publish_tables import exceptions
from oslo_publish_tables import plugin
from oslo_publish_tables.protocol import envelope
from oslo_publish_tables import publisher
from publish_tables_demo import schema as demo_schema

CONFIG = """\
[publish_tables]
tables = %(tables)s
exclude_columns = %(exclude)s
driver = test
transport_url = fake://
publisher_id = plugin-test
"""


def notifications():
    """``[(event_type, Batch, message)]`` the test driver received."""
    return [(message['event_type'], envelope.parse(message['payload']),
             message)
            for _ctxt, message, _priority, _retry in _impl_test.NOTIFICATIONS]


def published_changes():
    return [change for event, batch, _msg in notifications()
            if event == envelope.EVENT_BATCH
            for record in batch.records for change in record.changes]


def _started(url):
    """An engine of ``url`` and its first connection (closed)."""
    engine = sa.create_engine(url)
    try:
        with engine.connect():
            pass
    finally:
        engine.dispose()
    return engine


class PluginTest(testtools.TestCase):

    def setUp(self):
        super().setUp()
        # The entry point of setup.cfg may not be installed in a dev venv.
        plugins.register('publish_tables', 'oslo_publish_tables.plugin',
                         'PublishTablesPlugin')
        self.tmp = self.useFixture(fixtures.TempDir()).path
        self.url = 'sqlite:///' + os.path.join(self.tmp, 'nova.sqlite')
        plain = sa.create_engine(self.url)
        demo_schema.create(plain)
        plain.dispose()
        _impl_test.reset()
        self.addCleanup(_impl_test.reset)

    def write_config(self, tables='instances', exclude='', name='pt.conf'):
        path = os.path.join(self.tmp, name)
        with open(path, 'w') as f:
            f.write(CONFIG % {'tables': tables, 'exclude': exclude})
        return path

    def plugin_url(self, config):
        return '%s?plugin=publish_tables&%s=%s' % (
            self.url, plugin.CONFIG_PARAM, config)

    def create_engine(self, url, create=sa.create_engine):
        engine = create(url)
        self.addCleanup(engine.dispose)
        self.addCleanup(publisher.uninstall, engine)
        with engine.connect():  # the plugin installs on the first one
            pass
        return engine

    def test_plugin_publishes_committed_rows(self):
        engine = self.create_engine(self.plugin_url(self.write_config(
            exclude='instances.user_data')))
        capture = publisher.installed(engine)
        self.assertIsNotNone(capture)
        self.assertEqual({'instances'}, capture.registry.names)

        with orm.Session(engine) as session:
            session.add_all([
                demo_schema.Instance(uuid='uuid-1', hostname='vm1',
                                     memory_mb=512, user_data='secret'),
                demo_schema.Instance(uuid='uuid-2', hostname='vm2'),
                demo_schema.Service(host='h', binary='nova-compute'),
            ])
            session.commit()
            vm1 = session.scalars(sa.select(demo_schema.Instance).where(
                demo_schema.Instance.uuid == 'uuid-1')).one()
            vm1.vm_state = 'active'
            session.commit()
        with orm.Session(engine) as session:
            session.add(demo_schema.Instance(uuid='uuid-3'))
            session.rollback()

        # Stops the shared sender, which flushes it and says goodbye.
        publisher.uninstall(engine)

        received = notifications()
        events = [event for event, _batch, _msg in received]
        self.assertIn(envelope.EVENT_BATCH, events)
        self.assertEqual(envelope.EVENT_GOODBYE, events[-1])
        goodbye = received[-1][1]
        self.assertIs(True, goodbye.final)
        for _event, _batch, message in received:
            self.assertEqual('plugin-test', message['publisher_id'])
            self.assertEqual('INFO', message['priority'])

        records = [record for event, batch, _msg in received
                   if event == envelope.EVENT_BATCH
                   for record in batch.records]
        self.assertEqual(list(range(1, len(records) + 1)),
                         [r.seq for r in records])
        self.assertEqual(records[-1].seq, goodbye.last_seq)

        changes = published_changes()
        self.assertEqual({'instances'}, {c.table for c in changes})
        self.assertEqual(
            [('insert', 'uuid-1', None), ('insert', 'uuid-2', None),
             ('update', 'uuid-1', 'active')],
            [(c.op, c.row['uuid'], c.row['vm_state']) for c in changes])
        first = changes[0]
        self.assertEqual({'id': first.row['id']}, first.pk)
        self.assertEqual('vm1', first.row['hostname'])
        self.assertEqual(512, first.row['memory_mb'])
        # From the config file: excluded columns are never published.
        self.assertNotIn('user_data', first.row)
        # TimestampMixin's onupdate sets updated_at too.
        self.assertEqual(('updated_at', 'vm_state'), changes[2].changed)
        self.assertIsNotNone(changes[2].row['updated_at'])
        self.assertNotIn('uuid-3', [c.row['uuid'] for c in changes])

        # Uninstalled: the engine is as it was.
        self.assertIsNone(publisher.installed(engine))
        self.assertNotIn('do_commit', vars(engine.dialect))

    def test_dbapi_never_sees_the_plugin_parameters(self):
        config = self.write_config()
        engine = self.create_engine(self.plugin_url(config))
        self.assertNotIn(plugin.CONFIG_PARAM, engine.url.query)
        self.assertNotIn('plugin', engine.url.query)
        self.assertEqual(self.url, engine.url.render_as_string())

        seen = []
        sa.event.listen(engine, 'do_connect',
                        lambda dialect, rec, cargs, cparams:
                        seen.append((list(cargs), dict(cparams))))
        engine.dispose()
        with engine.connect() as conn:
            self.assertEqual(1, conn.execute(sa.text('SELECT 1')).scalar())
        [(cargs, cparams)] = seen
        self.assertEqual([os.path.join(self.tmp, 'nova.sqlite')], cargs)
        text = repr((cargs, cparams))
        self.assertNotIn(plugin.CONFIG_PARAM, text)
        self.assertNotIn(config, text)
        self.assertNotIn('plugin', text)

    def test_missing_table_is_one_warning_until_it_exists(self):
        log = self.useFixture(fixtures.FakeLogger(
            'oslo_publish_tables', level='INFO'))
        engine = self.create_engine(self.plugin_url(self.write_config(
            tables='instances, later')))
        later = sa.Table('later', sa.MetaData(),
                         sa.Column('id', sa.Integer, primary_key=True),
                         sa.Column('name', sa.String(20)))
        for _ in range(2):
            with engine.begin() as conn:
                conn.execute(sa.insert(demo_schema.Instance.__table__),
                             {'uuid': 'u-%d' % _})
            self.assertRaises(sa.exc.OperationalError, self._insert_later,
                              engine, later)
        self.assertEqual(1, log.output.count('table later is listed'))
        self.assertNotIn('table instances', log.output)
        later.create(engine)
        self._insert_later(engine, later)
        self.assertIn('table later exists now', log.output)
        publisher.uninstall(engine)
        self.assertEqual(
            [('instances', {'id': 1}), ('instances', {'id': 2}),
             ('later', {'id': 1})],
            [(c.table, c.pk) for c in published_changes()])

    @staticmethod
    def _insert_later(engine, later):
        with engine.begin() as conn:
            conn.execute(sa.insert(later), {'id': 1, 'name': 'x'})

    def test_malformed_exclusion_is_a_config_error(self):
        config = self.write_config(exclude='instances_nope')
        senders = dict(publisher._senders)
        exc = self.assertRaises(exceptions.ConfigError, _started,
                                self.plugin_url(config))
        self.assertEqual('exclude_columns', exc.option)
        self.assertIn('instances_nope', str(exc))
        self.assertEqual(senders, publisher._senders)

    def test_unknown_excluded_column_is_reported_on_first_write(self):
        log = self.useFixture(fixtures.FakeLogger('oslo_publish_tables'))
        engine = self.create_engine(self.plugin_url(self.write_config(
            exclude='instances.nope')))
        with engine.begin() as conn:
            conn.execute(sa.insert(demo_schema.Instance.__table__),
                         {'uuid': 'u-1'})
        publisher.uninstall(engine)
        self.assertIn('instances.nope', log.output)
        [resync] = [r for event, batch, _msg in notifications()
                    if event == envelope.EVENT_BATCH
                    for r in batch.records]
        self.assertEqual(('resync', ['instances']),
                         (resync.kind, list(resync.tables)))
        self.assertIn('exclude_columns', resync.reason)

    def test_oslo_db_create_engine_passes_the_url_through(self):
        engine = self.create_engine(
            self.plugin_url(self.write_config(tables='instances,tags')),
            create=engines.create_engine)
        capture = publisher.installed(engine)
        self.assertIsNotNone(capture)
        self.assertEqual({'instances', 'tags'}, capture.registry.names)
        self.assertNotIn(plugin.CONFIG_PARAM, engine.url.query)

        with engine.begin() as conn:
            conn.execute(sa.insert(demo_schema.Tag.__table__),
                         [{'resource_id': 'r1', 'tag': 'gold'},
                          {'resource_id': 'r1', 'tag': 'silver'}])
        with engine.begin() as conn:
            conn.execute(sa.delete(demo_schema.Tag.__table__).where(
                demo_schema.Tag.__table__.c.tag == 'gold'))
        publisher.uninstall(engine)

        self.assertEqual(
            [('insert', {'resource_id': 'r1', 'tag': 'gold'}),
             ('insert', {'resource_id': 'r1', 'tag': 'silver'}),
             ('delete', {'resource_id': 'r1', 'tag': 'gold'})],
            [(c.op, c.pk) for c in published_changes()])
        self.assertEqual(envelope.EVENT_GOODBYE, notifications()[-1][0])
        self.assertIsNone(publisher.installed(engine))
        self.assertNotIn('do_commit', vars(engine.dialect))
