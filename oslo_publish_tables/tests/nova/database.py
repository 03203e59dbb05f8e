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

"""A database for nova's own code, and whether nova is installed.

The nova tests run with ``tox -e nova`` only: without nova, this module
and theirs still import (nova is imported where it is used), and
:data:`NOVA_MISSING` says why they skip.
"""

import sqlalchemy as sa
from sqlalchemy import pool as sa_pool

from oslo_publish_tables import fixture as backends

try:
    import nova  # noqa: F401  (only whether it is installed)
except ImportError as exc:
    NOVA_MISSING = ('nova is not installed (%s); these tests run with '
                    '"tox -e nova"' % exc)
else:
    NOVA_MISSING = ''


class NovaDatabase(backends.DatabaseFixture):
    """A fresh, empty database of ``backend`` as nova wants it.

    On MySQL/MariaDB nova's schema is utf8 (3 bytes) and its index
    lengths are sized for that: ``url`` asks for utf8, and so does the
    database's default character set.
    """

    def _setUp(self):
        super()._setUp()
        if self.backend == backends.MYSQL:
            self.url = backends.add_query(self.url, charset='utf8')
            self.execute('ALTER DATABASE `%s` CHARACTER SET utf8'
                         % self.database)

    def execute(self, sql):
        """Run ``sql`` in a connection of its own, committed."""
        engine = sa.create_engine(self.url, poolclass=sa_pool.NullPool)
        try:
            with engine.begin() as conn:
                conn.exec_driver_sql(sql)
        finally:
            engine.dispose()

    def migrate(self):
        """nova's schema, by nova's own migrations (``nova-manage db sync``).

        Deployed nova databases keep columns nova's models no longer map
        (``instances.internal_id``, ...); ``create_all()`` would miss
        them. The migrations run through a context manager of their own
        on the plain URL (the way nova targets a cell database), shadow
        tables included; :mod:`.test_db_sync` runs them with the plugin on.
        """
        from nova import context as nova_context
        from nova.db.main import api as nova_db
        from nova.db import migration as nova_migration

        ctxt = nova_context.get_admin_context()
        ctxt.db_connection = nova_db.create_context_manager(self.url)
        try:
            nova_migration.db_sync(database='main', context=ctxt)
        finally:
            ctxt.db_connection.writer.get_engine().dispose()
