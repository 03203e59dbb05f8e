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

"""A database and an engine for nova's own code; whether nova is here.

The nova tests run with ``tox -e nova`` only: without nova, this module
and theirs still import (nova is imported where it is used), and
:data:`NOVA_MISSING` says why they skip.
"""

import fixtures
from oslo_db.sqlalchemy import enginefacade
import sqlalchemy as sa
from sqlalchemy import pool as sa_pool

from oslo_publish_tables import fixture as backends
from oslo_publish_tables import publisher

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


class NovaEngine(fixtures.Fixture):
    """nova's engine, made the way a nova service makes it.

    A fresh enginefacade factory behind nova's global context manager
    (as nova's own Database fixture does), configured by nova itself
    from ``conf``'s ``[database]``: with ``?plugin=publish_tables`` in
    its connection, the plugin loads from the URL. After setUp:
    ``engine``; at cleanup the plugin is uninstalled (flush, goodbye)
    and the engine disposed.
    """

    def __init__(self, conf):
        super().__init__()
        self.conf = conf
        self.engine = None

    def _setUp(self):
        from nova.db.main import api as nova_db

        self.addCleanup(nova_db.context_manager.patch_factory(
            enginefacade.transaction_context()))
        nova_db.configure(self.conf)
        self.engine = nova_db.get_engine()
        self.addCleanup(self.engine.dispose)
        self.addCleanup(publisher.uninstall, self.engine)
