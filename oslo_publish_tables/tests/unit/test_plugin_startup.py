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

"""The plugin does not change how a service connects at start-up.

With the database down while the engine is created, oslo.db must see
the connection error itself and retry it, exactly as without the plugin;
publishing starts with the first connection that succeeds. The plugin
named twice installs once.
"""

import os

import fixtures
from oslo_db import exception as db_exc
from oslo_db.sqlalchemy import engines
import sqlalchemy as sa
from sqlalchemy.dialects import plugins
import testtools

from oslo_publish_tables import exceptions
from oslo_publish_tables import plugin
from oslo_publish_tables import publisher
from oslo_publish_tables.tests.unit import test_plugin
from publish_tables_demo import schema as demo_schema

# Nothing listens on port 1.
DOWN_MYSQL = 'mysql+pymysql://root@127.0.0.1:1/nova'
DOWN = ('postgresql+psycopg2://root@127.0.0.1:1/nova', DOWN_MYSQL)


class StartupTest(testtools.TestCase):

    def setUp(self):
        super().setUp()
        plugins.register('publish_tables', 'oslo_publish_tables.plugin',
                         'PublishTablesPlugin')
        self.tmp = self.useFixture(fixtures.TempDir()).path
        self.config = os.path.join(self.tmp, 'pt.conf')
        with open(self.config, 'w') as f:
            f.write(test_plugin.CONFIG % {'tables': 'instances',
                                          'exclude': ''})

    def with_plugin(self, url):
        return '%s%splugin=publish_tables&%s=%s' % (
            url, '&' if '?' in url else '?', plugin.CONFIG_PARAM,
            self.config)

    def oslo_db_error(self, url):
        """What oslo.db's create_engine raises, with 2 quick retries."""
        try:
            engine = engines.create_engine(url, max_retries=2,
                                           retry_interval=0.01)
        except Exception as exc:  # the behaviour under comparison
            return type(exc)
        engine.dispose()
        return None

    def test_a_database_down_at_start_up_is_retried_as_without_plugin(self):
        # MariaDB: the case (an immediate OperationalError).
        url = DOWN_MYSQL
        self.assertIs(db_exc.DBConnectionError, self.oslo_db_error(url))
        self.assertIs(db_exc.DBConnectionError,
                      self.oslo_db_error(self.with_plugin(url)))
        for url in DOWN:
            self.assertIs(self.oslo_db_error(url),
                          self.oslo_db_error(self.with_plugin(url)), url)

    def test_publishing_starts_with_the_first_connection(self):
        # A SQLite file in a directory that does not exist yet: down.
        path = os.path.join(self.tmp, 'later', 'nova.sqlite')
        url = self.with_plugin('sqlite:///' + path)
        engine = sa.create_engine(url)
        self.addCleanup(engine.dispose)
        self.addCleanup(publisher.uninstall, engine)
        self.assertIsNone(publisher.installed(engine))
        os.mkdir(os.path.dirname(path))
        demo_schema.create(sa.create_engine('sqlite:///' + path))
        with engine.connect():
            pass
        self.assertEqual({'instances'},
                         publisher.installed(engine).registry.names)

    def test_the_plugin_named_twice_installs_once(self):
        path = os.path.join(self.tmp, 'nova.sqlite')
        demo_schema.create(sa.create_engine('sqlite:///' + path))
        url = self.with_plugin('sqlite:///%s?plugin=publish_tables' % path)
        engine = sa.create_engine(url)
        self.addCleanup(engine.dispose)
        self.addCleanup(publisher.uninstall, engine)
        for _ in range(2):
            with engine.connect():
                pass
        self.assertIsNotNone(publisher.installed(engine))

    def test_two_different_config_files_name_the_parameter(self):
        url = self.with_plugin('sqlite:///%s?%s=/other.conf' % (
            os.path.join(self.tmp, 'x.sqlite'), plugin.CONFIG_PARAM))
        exc = self.assertRaises(exceptions.ConfigError, sa.create_engine,
                                url)
        self.assertIn(plugin.CONFIG_PARAM, str(exc))
