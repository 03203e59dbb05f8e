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

"""nova's own schema tooling with the plugin on in durable mode.

nova's ``archive_deleted_rows`` and ``purge_shadow_tables`` reflect every
table of nova's database and expect each to be nova's, with a
``shadow_`` twin; nova's shadow-table test checks the same. With the
outbox in nova's database they fail; with ``[publish_tables]
outbox_schema`` (PostgreSQL: a schema, MySQL/MariaDB: a database of the
same server, SQLite: an attached database file beside nova's) they see
nova's tables only, and what they archive is published through the
outbox. nova's calls run here on nova's schema made by nova's
migrations, on all three databases; nova's own ``ArchiveTestCase`` (in
memory, SQLite) runs in :mod:`.test_nova_own_tests`.
"""

import io

from oslo_config import cfg
from oslo_config import fixture as config_fixture
from oslo_utils import uuidutils
import sqlalchemy as sa
from sqlalchemy import pool as sa_pool
import testtools

from oslo_publish_tables.cmd import agent as agent_mod
from oslo_publish_tables.cmd import manage
from oslo_publish_tables import fixture as backends
from oslo_publish_tables.outbox import store as store_mod
from oslo_publish_tables import publisher
from oslo_publish_tables.tests.nova import database

if not database.NOVA_MISSING:
    import nova.conf
    from nova import context as nova_context
    from nova.db.main import api as nova_db

PUBLISHED = ('instances', 'instance_extra', 'compute_nodes')
COMPUTE_NODE = dict(
    vcpus=2, memory_mb=1024, local_gb=2048, vcpus_used=0, memory_mb_used=0,
    local_gb_used=0, free_ram_mb=1024, free_disk_gb=2048,
    hypervisor_type='kvm', hypervisor_version=1, cpu_info='', running_vms=0,
    current_workload=0, service_id=None, host='host1',
    disk_available_least=100, hypervisor_hostname='node1',
    host_ip='127.0.0.1', supported_instances='', pci_stats='', metrics='',
    extra_resources='', cpu_allocation_ratio=16.0, ram_allocation_ratio=1.5,
    disk_allocation_ratio=1.0, stats='{}', numa_topology='')
# nova's test_shadow_tables: the tables without a shadow twin.
NO_SHADOW = {'tags', 'resource_providers', 'allocations', 'inventories',
             'resource_provider_aggregates', 'console_auth_tokens',
             'share_mapping', 'alembic_version'}


def missing_shadows(engine):
    """nova's shadow-table check: reflected tables without a twin."""
    meta = sa.MetaData()
    meta.reflect(bind=engine)
    return sorted(n for n in meta.tables
                  if not n.startswith('shadow_') and n not in NO_SHADOW
                  and 'shadow_' + n not in meta.tables)


@testtools.skipIf(database.NOVA_MISSING, database.NOVA_MISSING)
class NovaArchiveDurableTest(testtools.TestCase):
    backend = backends.POSTGRESQL  # replaced by for_each_backend()
    elsewhere = True

    def setUp(self):
        super().setUp()
        db = self.useFixture(database.NovaDatabase(self.backend))
        self.url = db.url
        self.where = None
        if self.elsewhere:
            self.where = self.useFixture(
                backends.OutboxSchemaFixture(db)).name
        conf = nova.conf.CONF
        conf([], project='nova', default_config_files=[],
             default_config_dirs=[])
        db.migrate()
        self.outbox_db_sync()
        publisher.register_opts(conf)
        config = self.useFixture(config_fixture.Config(conf))
        config.config(group='publish_tables', tables=list(PUBLISHED),
                      delivery='durable', outbox_schema=self.where,
                      driver='noop', transport_url='fake://')
        config.config(group='database', connection=backends.add_query(
            self.url, plugin='publish_tables'))
        self.engine = self.useFixture(database.NovaEngine(conf)).engine
        self.assertIsNotNone(publisher.installed(self.engine))
        self.ctxt = nova_context.get_admin_context()
        self.reader = sa.create_engine(self.url, poolclass=sa_pool.NullPool)
        self.addCleanup(self.reader.dispose)

    def outbox_db_sync(self):
        conf = cfg.ConfigOpts()
        agent_mod.register_opts(conf)
        conf.set_override('connection', self.url, 'database')
        conf.set_override('outbox_schema', self.where, 'publish_tables')
        out = io.StringIO()
        self.assertEqual(0, manage.main(['db_sync'], conf=conf, out=out),
                         out.getvalue())

    def soft_deleted_node(self):
        """A compute node nova soft-deleted, as nova's tests make one.

        Not an instance: on PostgreSQL nova's own archive of instances
        fails whatever the plugin does (``instances.locked_by`` and its
        shadow column have enum types of different names).
        """
        node = nova_db.compute_node_create(self.ctxt, dict(
            COMPUTE_NODE, uuid=uuidutils.generate_uuid()))
        nova_db.compute_node_delete(self.ctxt, node['id'])
        return node['id']

    def high_water(self):
        """The outbox's allocation counter: the sender prunes the rows."""
        with self.reader.connect() as conn:
            return store_mod.high_water(conn, self.where)

    def test_archive_purge_and_shadow_check(self):
        self.soft_deleted_node()
        before = self.high_water()
        self.assertGreater(before, 0)  # durable: nova's writes went there
        self.assertEqual([], missing_shadows(self.reader))
        archived, _, total = nova_db.archive_deleted_rows(
            self.ctxt, max_rows=1000)
        self.assertEqual({'compute_nodes': 1}, dict(archived))
        # The archival deleted a published row: its record went there.
        self.assertGreater(self.high_water(), before)
        self.assertEqual(1, nova_db.purge_shadow_tables(self.ctxt, None))
        with self.reader.connect() as conn:
            self.assertEqual(0, conn.execute(sa.text(
                'SELECT COUNT(*) FROM shadow_compute_nodes')).scalar())


class NovaArchiveOutboxInNovaSchemaTest(NovaArchiveDurableTest):
    """The control: the outbox in nova's own schema breaks nova's tools."""

    elsewhere = False

    def test_archive_purge_and_shadow_check(self):
        self.soft_deleted_node()
        self.assertEqual(['publish_tables_alembic_version',
                          'publish_tables_outbox'],
                         missing_shadows(self.reader))
        # nova looks the table up among its models.
        exc = self.assertRaises(KeyError, nova_db.archive_deleted_rows,
                                self.ctxt, max_rows=1000)
        self.assertEqual("'publish_tables_alembic_version'", str(exc))


backends.for_each_backend(NovaArchiveDurableTest)
backends.for_each_backend(NovaArchiveOutboxInNovaSchemaTest)
