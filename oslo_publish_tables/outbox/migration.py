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

"""Create and upgrade the outbox table with the shipped alembic scripts.

From code::

    from oslo_publish_tables.outbox import migration
    migration.upgrade(engine)          # or a Connection

from the command line, ``publish-tables-manage --config-file nova.conf
db_sync`` (see :mod:`oslo_publish_tables.cmd.manage`), or alembic
itself::

    alembic -c $(python -c 'import oslo_publish_tables.outbox.migration \\
        as m; print(m.INI)') -x url=mysql+pymysql://... upgrade head

The revisions are recorded in ``publish_tables_alembic_version``, apart
from the service's own migrations. With ``schema_name`` (the option
``[publish_tables] outbox_schema``; ``-x schema=NAME`` for alembic) both
tables go to that schema (PostgreSQL) or database (MySQL/MariaDB), which
:func:`upgrade` creates first if it does not exist, or on SQLite to the
database attached under that name, a file beside the main one
(:mod:`.attached`), created by attaching it.
"""

import os

from alembic import command
from alembic import config as alembic_config
from alembic import migration as alembic_migration
import sqlalchemy as sa

from oslo_publish_tables.outbox import attached
from oslo_publish_tables.outbox import schema

SCRIPT_LOCATION = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                               'migrations')
INI = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'alembic.ini')


def _config(connection, schema_name=None):
    config = alembic_config.Config()
    config.set_main_option('script_location', SCRIPT_LOCATION)
    config.attributes['connection'] = connection
    config.attributes['schema'] = schema_name
    return config


def create_schema(connection, schema_name):
    """Create schema (PostgreSQL) or database (MySQL) ``schema_name``.

    SQLite: attach it (the file is created then); outside a transaction.
    """
    dialect = connection.dialect
    schema.check_name(schema_name, dialect.name)
    quoted = dialect.identifier_preparer.quote_identifier(schema_name)
    if dialect.name == 'sqlite':
        attached.attach(connection, schema_name)
    elif dialect.name == 'postgresql':
        connection.exec_driver_sql('CREATE SCHEMA IF NOT EXISTS %s' % quoted)
    elif dialect.name in ('mysql', 'mariadb'):
        connection.exec_driver_sql('CREATE DATABASE IF NOT EXISTS %s '
                                   'CHARACTER SET utf8mb4' % quoted)


def _run(bind, action, schema_name=None):
    """``action(connection)``, in a transaction if ``bind`` is an Engine.

    On SQLite the outbox database ``schema_name`` is attached first
    (on a Connection, that must be before its transaction began).
    """
    if isinstance(bind, sa.engine.Connection):
        attached.attach(bind, schema_name)
        action(bind)
        return
    with bind.connect() as connection:
        attached.attach(connection, schema_name)
        with connection.begin():
            action(connection)


def upgrade(bind, revision='head', schema_name=None):
    """Upgrade the outbox of ``bind`` (Engine or Connection).

    ``schema_name``: the outbox's own schema or database, created here
    (SQLite: attached).
    """
    def action(conn):
        if schema_name is not None:
            create_schema(conn, schema_name)
        command.upgrade(_config(conn, schema_name), revision)

    _run(bind, action, schema_name)


def version(bind, schema_name=None):
    """The outbox schema revision of ``bind``, or None before db_sync."""
    found = []

    def current(conn):
        context = alembic_migration.MigrationContext.configure(
            conn, opts={'version_table': schema.VERSION_TABLE,
                        'version_table_schema': schema_name})
        found.append(context.get_current_revision())

    _run(bind, current, schema_name)
    return found[0]


def has_outbox(connection, schema_name=None):
    """Whether the outbox table exists on ``connection``."""
    attached.attach(connection, schema_name)
    return sa.inspect(connection).has_table(schema.TABLE_NAME,
                                            schema=schema_name)
