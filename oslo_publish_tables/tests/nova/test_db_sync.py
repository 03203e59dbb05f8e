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

"""``nova-manage db sync`` with the plugin in nova's database URL.

nova's own command, in a process of its own, with the same nova.conf a
nova service uses (``[database] connection = ...?plugin=publish_tables``
and a ``[publish_tables]`` section), on an empty database of each
backend: it must create nova's 111 tables, and the plugin, loaded from
the URL, says once per configured table that it does not exist yet.
"""

import os
import subprocess
import sys

import fixtures
import sqlalchemy as sa
from sqlalchemy import pool as sa_pool
import testtools

from oslo_publish_tables import fixture as backends
from oslo_publish_tables.tests.nova import database

TABLES = ('instances', 'compute_nodes', 'instance_extra')
CONFIG = """\
[database]
connection = %(url)s

[publish_tables]
tables = %(tables)s
driver = noop
transport_url = fake://
"""


@testtools.skipIf(database.NOVA_MISSING, database.NOVA_MISSING)
class NovaManageDbSyncTest(testtools.TestCase):
    backend = backends.SQLITE  # replaced by for_each_backend()

    def setUp(self):
        super().setUp()
        self.url = self.useFixture(database.NovaDatabase(self.backend)).url

    def db_sync(self):
        tmp = self.useFixture(fixtures.TempDir()).path
        path = os.path.join(tmp, 'nova.conf')
        with open(path, 'w') as f:
            f.write(CONFIG % {
                'url': backends.add_query(self.url, plugin='publish_tables'),
                'tables': ','.join(TABLES)})
        manage = os.path.join(os.path.dirname(sys.executable), 'nova-manage')
        return subprocess.run(
            [manage, '--config-file', path, 'db', 'sync', '--local_cell'],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
            timeout=600)

    def test_db_sync_of_an_empty_database_with_the_plugin(self):
        done = self.db_sync()
        self.assertEqual(0, done.returncode, done.stdout)
        for table in TABLES:
            self.assertEqual(1, done.stdout.count(
                'table %s is listed in [publish_tables]' % table),
                done.stdout)
        engine = sa.create_engine(self.url, poolclass=sa_pool.NullPool)
        self.addCleanup(engine.dispose)
        names = set(sa.inspect(engine).get_table_names())
        # 111 with alembic_version and the shadow tables.
        self.assertEqual(111, len(names))
        self.assertLessEqual(set(TABLES) | {'alembic_version'}, names)


backends.for_each_backend(NovaManageDbSyncTest)
