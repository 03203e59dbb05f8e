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

"""Tests for the real-service test fixtures in ``tests/backends.py``."""

import os
import sys
import threading
import types

import fixtures
import sqlalchemy as sa
from sqlalchemy import pool as sa_pool
import testtools

from oslo_publish_tables import fixture as backends


class _FakeProbe:
    def __init__(self, available, reason=None):
        self.result = (available, reason)
        self.calls = []

    def __call__(self, service, url):
        self.calls.append((service, url))
        return self.result


class AvailabilityTest(testtools.TestCase):
    """The skip-or-fail logic, with the probe replaced."""

    def setUp(self):
        super().setUp()
        # A private cache, so that the real probe results are not disturbed.
        self.useFixture(fixtures.MonkeyPatch(
            'oslo_publish_tables.fixture._availability', {}))
        self.useFixture(fixtures.EnvironmentVariable('CI'))
        for var in backends.URL_ENV_VARS.values():
            self.useFixture(fixtures.EnvironmentVariable(var))

    def _patch_probe(self, available, reason=None):
        probe = _FakeProbe(available, reason)
        self.useFixture(fixtures.MonkeyPatch(
            'oslo_publish_tables.fixture._probe', probe))
        return probe

    def test_available_service_passes(self):
        self._patch_probe(True)
        self.useFixture(fixtures.EnvironmentVariable('CI', 'true'))
        backends.require(backends.POSTGRESQL)

    def test_unavailable_skips_without_ci(self):
        self._patch_probe(False, 'connection refused')
        exc = self.assertRaises(testtools.TestCase.skipException,
                                backends.require, backends.POSTGRESQL)
        self.assertEqual(
            'PostgreSQL not available at 127.0.0.1:5432 (set CI=true to '
            'make this a failure): connection refused', str(exc))

    def test_unavailable_fails_with_ci(self):
        self._patch_probe(False, 'connection refused')
        self.useFixture(fixtures.EnvironmentVariable('CI', 'true'))
        exc = self.assertRaises(backends.ServiceNotAvailable,
                                backends.require, backends.MYSQL)
        self.assertIn('CI=true and MySQL at 127.0.0.1:3306 does not answer',
                      str(exc))
        self.assertNotIsInstance(exc, testtools.TestCase.skipException)

    def test_false_ci_values_skip(self):
        self._patch_probe(False, 'refused')
        for value in ('', '0', 'false', 'False', 'no', 'off'):
            self.useFixture(fixtures.EnvironmentVariable('CI', value))
            self.assertFalse(backends.ci_enabled(), value)
            self.assertRaises(testtools.TestCase.skipException,
                              backends.require, backends.RABBIT)

    def test_true_ci_values_fail(self):
        self._patch_probe(False, 'refused')
        for value in ('true', '1', 'yes', 'TRUE'):
            self.useFixture(fixtures.EnvironmentVariable('CI', value))
            self.assertTrue(backends.ci_enabled(), value)
            self.assertRaises(backends.ServiceNotAvailable,
                              backends.require, backends.RABBIT)

    def test_probe_is_cached_per_url(self):
        probe = self._patch_probe(True)
        backends.require(backends.POSTGRESQL)
        backends.require(backends.POSTGRESQL)
        self.assertEqual(
            [(backends.POSTGRESQL, backends.DEFAULT_URLS['postgresql'])],
            probe.calls)
        backends.require(backends.POSTGRESQL, 'postgresql://h:1/x')
        self.assertEqual(2, len(probe.calls))

    def test_env_overrides_server_url(self):
        probe = self._patch_probe(False, 'refused')
        self.useFixture(fixtures.EnvironmentVariable(
            'PUBLISH_TABLES_MYSQL_URL',
            'mysql+pymysql://u:p@db.example:3307/'))
        exc = self.assertRaises(testtools.TestCase.skipException,
                                backends.require, backends.MYSQL)
        self.assertIn('db.example:3307', str(exc))
        self.assertEqual('mysql+pymysql://u:p@db.example:3307/',
                         probe.calls[0][1])

    def test_rabbit_location(self):
        self.assertEqual(
            'rabbit.example:5673',
            backends.location(backends.RABBIT,
                              'rabbit://u:p@rabbit.example:5673,'
                              'other:5672/vhost'))
        self.assertEqual('127.0.0.1:5672', backends.location(backends.RABBIT))

    def test_sqlite_needs_no_probe(self):
        probe = self._patch_probe(False, 'refused')
        self.useFixture(fixtures.EnvironmentVariable('CI', 'true'))
        self.useFixture(backends.DatabaseFixture(backends.SQLITE))
        self.assertEqual([], probe.calls)

    def _run_inner(self, fixture_factory):
        class Inner(testtools.TestCase):
            def test_it(self):
                self.useFixture(fixture_factory())

        result = testtools.TestResult()
        Inner('test_it').run(result)
        return result

    def test_fixtures_skip_the_test_without_ci(self):
        self._patch_probe(False, 'refused')
        for factory in (lambda: backends.DatabaseFixture('postgresql'),
                        lambda: backends.DatabaseFixture('mysql'),
                        backends.RabbitFixture):
            result = self._run_inner(factory)
            self.assertEqual([], result.errors)
            self.assertEqual(1, result.testsRun)
            [(reason, _tests)] = result.skip_reasons.items()
            self.assertIn('set CI=true to make this a failure', reason)

    def test_fixtures_fail_the_test_with_ci(self):
        self._patch_probe(False, 'refused')
        self.useFixture(fixtures.EnvironmentVariable('CI', 'true'))
        for factory in (lambda: backends.DatabaseFixture('postgresql'),
                        backends.RabbitFixture):
            result = self._run_inner(factory)
            self.assertEqual({}, result.skip_reasons)
            self.assertEqual(1, len(result.errors))
            self.assertIn('ServiceNotAvailable', result.errors[0][1])

    def test_real_probe_of_closed_port(self):
        # Port 1 on localhost is not a database server anywhere we run.
        available, reason = backends._probe(
            backends.POSTGRESQL, 'postgresql+psycopg2://root@127.0.0.1:1/x')
        self.assertFalse(available)
        self.assertIn('cannot connect to 127.0.0.1:1', reason)


class AddQueryTest(testtools.TestCase):

    def test_adds_parameter(self):
        self.assertEqual(
            'sqlite:////tmp/x/test.sqlite?plugin=publish_tables',
            backends.add_query('sqlite:////tmp/x/test.sqlite',
                               plugin='publish_tables'))

    def test_keeps_existing_parameters_and_password(self):
        url = backends.add_query(
            'mysql+pymysql://root:secret@127.0.0.1:3306/db?charset=utf8mb4',
            plugin='publish_tables')
        parsed = sa.engine.make_url(url)
        self.assertEqual('secret', parsed.password)
        self.assertEqual({'charset': 'utf8mb4', 'plugin': 'publish_tables'},
                         dict(parsed.query))

    def test_appends_repeated_parameter(self):
        url = backends.add_query('postgresql://h/db?plugin=other',
                                 plugin='publish_tables')
        self.assertEqual(('other', 'publish_tables'),
                         sa.engine.make_url(url).query['plugin'])


class SQLiteFixtureTest(testtools.TestCase):

    def test_file_database_is_usable_and_removed(self):
        fixture = backends.DatabaseFixture(backends.SQLITE)
        fixture.setUp()
        try:
            self.assertEqual('sqlite', fixture.backend)
            self.assertTrue(fixture.url.startswith('sqlite:///'))
            self.assertNotIn(':memory:', fixture.url)
            engine = sa.create_engine(fixture.url)
            with engine.begin() as conn:
                conn.execute(sa.text('CREATE TABLE t (id INTEGER)'))
                conn.execute(sa.text('INSERT INTO t VALUES (1)'))
            # A second engine sees the data: it is a real file.
            other = sa.create_engine(fixture.url)
            with other.connect() as conn:
                self.assertEqual(
                    1, conn.execute(sa.text('SELECT id FROM t')).scalar())
            engine.dispose()
            other.dispose()
            self.assertTrue(os.path.isfile(fixture.database))
        finally:
            fixture.cleanUp()
        self.assertFalse(os.path.exists(fixture.database))

    def test_unknown_backend(self):
        self.assertRaises(ValueError, backends.DatabaseFixture, 'oracle')


class ForEachBackendTest(testtools.TestCase):

    def _module(self):
        name = 'oslo_publish_tables_fake_test_module'
        module = types.ModuleType(name)
        self.useFixture(fixtures.MonkeyPatch(
            'sys.modules', dict(sys.modules, **{name: module})))
        return module

    def test_generates_one_class_per_backend(self):
        module = self._module()

        class ThingTest(testtools.TestCase):
            backend = None

            def test_x(self):
                pass

        ThingTest.__module__ = module.__name__
        ThingTest.__qualname__ = 'ThingTest'
        module.ThingTest = ThingTest

        generated = backends.for_each_backend(ThingTest)

        self.assertFalse(hasattr(module, 'ThingTest'))
        self.assertEqual(
            ['ThingTestSQLite', 'ThingTestPostgreSQL', 'ThingTestMySQL'],
            [cls.__name__ for cls in generated])
        for cls, backend in zip(generated, backends.BACKENDS):
            self.assertIs(cls, getattr(module, cls.__name__))
            self.assertEqual(backend, cls.backend)
            self.assertTrue(issubclass(cls, ThingTest))
            self.assertEqual(module.__name__, cls.__module__)
            self.assertEqual(
                module.__name__ + '.' + cls.__name__ + '.test_x',
                cls('test_x').id())

    def test_restricted_backends(self):
        module = self._module()

        class OtherTest(testtools.TestCase):
            pass

        OtherTest.__module__ = module.__name__
        generated = backends.for_each_backend(OtherTest,
                                              backends=('sqlite',))
        self.assertEqual(['OtherTestSQLite'],
                         [cls.__name__ for cls in generated])

    def test_scenarios(self):
        self.assertEqual(
            [('sqlite', {'backend': 'sqlite'}),
             ('postgresql', {'backend': 'postgresql'}),
             ('mysql', {'backend': 'mysql'})],
            backends.backend_scenarios())


class RealDatabaseTest(testtools.TestCase):
    """Against the real servers; skipped (or, with CI, failing) without."""

    backend = None  # set by for_each_backend()

    def _database_exists(self, fixture):
        if self.backend == backends.SQLITE:
            return os.path.exists(fixture.database)
        admin = sa.create_engine(fixture.server_url,
                                 poolclass=sa_pool.NullPool)
        try:
            with admin.connect() as conn:
                if self.backend == backends.POSTGRESQL:
                    query = ('SELECT count(*) FROM pg_database '
                             'WHERE datname = :name')
                else:
                    query = ('SELECT count(*) '
                             'FROM information_schema.schemata '
                             'WHERE schema_name = :name')
                return bool(conn.execute(sa.text(query),
                                         {'name': fixture.database}).scalar())
        finally:
            admin.dispose()

    def test_fresh_database_is_usable_and_dropped(self):
        fixture = backends.DatabaseFixture(self.backend)
        fixture.setUp()
        try:
            self.assertEqual(self.backend, fixture.backend)
            url = sa.engine.make_url(fixture.url)
            self.assertEqual(self.backend, url.get_backend_name())
            self.assertTrue(self._database_exists(fixture))
            engine = sa.create_engine(fixture.url)
            self.addCleanup(engine.dispose)
            # Empty to begin with.
            self.assertEqual([], sa.inspect(engine).get_table_names())
            meta = sa.MetaData()
            table = sa.Table('instances', meta,
                             sa.Column('id', sa.Integer, primary_key=True),
                             sa.Column('name', sa.String(64)))
            meta.create_all(engine)
            with engine.begin() as conn:
                conn.execute(table.insert(), [{'id': 1, 'name': 'vm1'}])
            # Leave a connection open inside a transaction: the drop at
            # cleanup must not hang on it. (The server ends it, so it is
            # discarded rather than closed afterwards.)
            conn = engine.connect()
            self.addCleanup(conn.invalidate)
            self.assertEqual('vm1', conn.execute(
                sa.select(table.c.name)).scalar())
        finally:
            fixture.cleanUp()
        self.assertFalse(self._database_exists(fixture))

    def test_databases_are_distinct(self):
        first = self.useFixture(backends.DatabaseFixture(self.backend))
        second = self.useFixture(backends.DatabaseFixture(self.backend))
        self.assertNotEqual(first.url, second.url)
        self.assertNotEqual(first.database, second.database)


backends.for_each_backend(RealDatabaseTest)


class RealRabbitTest(testtools.TestCase):

    def test_topic_is_unique(self):
        first = self.useFixture(backends.RabbitFixture())
        second = self.useFixture(backends.RabbitFixture())
        self.assertNotEqual(first.topic, second.topic)
        self.assertTrue(first.topic.startswith('pt_test_'))
        self.assertEqual(backends.server_url(backends.RABBIT),
                         first.transport_url)

    def test_notification_round_trip(self):
        import oslo_messaging

        rabbit = self.useFixture(backends.RabbitFixture())
        transport = rabbit.notification_transport()
        received = []
        done = threading.Event()

        class Endpoint:
            def info(self, ctxt, publisher_id, event_type, payload,
                     metadata):
                received.append((publisher_id, event_type, payload))
                done.set()

        listener = oslo_messaging.get_notification_listener(
            transport, [oslo_messaging.Target(topic=rabbit.topic)],
            [Endpoint()], executor='threading')
        listener.start()
        self.addCleanup(listener.wait)
        self.addCleanup(listener.stop)

        notifier = oslo_messaging.Notifier(
            transport, publisher_id='test.backends', driver='messagingv2',
            topics=[rabbit.topic])
        notifier.info({}, 'publish_tables.test', {'id': 1})

        self.assertTrue(done.wait(30), 'no notification within 30 s')
        self.assertEqual(
            [('test.backends', 'publish_tables.test', {'id': 1})], received)
