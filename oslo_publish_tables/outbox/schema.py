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

"""The ``publish_tables_outbox`` table as the code sees it.

The migrations in ``migrations/versions`` create exactly this table; a
test compares the two.

``id``
    Allocation order, never reused (SQLite: ``AUTOINCREMENT``); the relay
    publishes in this order, and a snapshot states the highest id
    allocated under its fence (:func:`high_water_sql`).
``created``
    The record's stamp (microseconds, the capture's clock): the relay
    compares it with the same clock to find rows older than the grace
    period.
``kind``, ``txn``, ``payload``
    The record: ``txn`` or ``resync``, the transaction id, and the
    changes (encoded with :mod:`oslo_publish_tables.protocol.codec`) or the
    tables and reason of a resync marker, as JSON.
``claimed_by``, ``claimed_until``
    The relay's lease: a row claimed by a relay is left to it until
    ``claimed_until`` (same clock as ``created``).

With ``[publish_tables] outbox_schema`` the table and its version table
live in that schema (PostgreSQL), database (MySQL/MariaDB) of the same
server, or attached database (SQLite, see :mod:`.attached`) instead of
the service's own: :func:`table` gives the table there. The service's
tools that reflect every table of their database (nova's
``archive_deleted_rows``, ``purge`` and shadow-table checks) then never
meet them.
"""

import re

import sqlalchemy as sa
from sqlalchemy.dialects import mysql

from oslo_publish_tables import exceptions

TABLE_NAME = 'publish_tables_outbox'
VERSION_TABLE = 'publish_tables_alembic_version'
# The latest revision of migrations/versions (a test compares them): an
# in-memory attached outbox is created at it (see .attached).
HEAD = '6d1c0e8a4f21'
# What [publish_tables] outbox_schema accepts: a plain identifier.
SCHEMA_NAME = re.compile(r'^[A-Za-z_][A-Za-z0-9_]{0,62}$')
OPTION = 'outbox_schema'

metadata = sa.MetaData()
_elsewhere = {}  # schema name -> its Table (one MetaData each)


def _define(meta, schema=None):
    return sa.Table(
        TABLE_NAME, meta,
        sa.Column('id',
                  sa.BigInteger().with_variant(sa.Integer(), 'sqlite'),
                  primary_key=True, autoincrement=True),
        sa.Column('created', sa.BigInteger(), nullable=False),
        sa.Column('kind', sa.String(16), nullable=False),
        sa.Column('txn', sa.String(36), nullable=True),
        sa.Column('payload',
                  sa.Text().with_variant(mysql.LONGTEXT(), 'mysql',
                                         'mariadb'),
                  nullable=False),
        sa.Column('claimed_by', sa.String(36), nullable=True),
        sa.Column('claimed_until', sa.BigInteger(), nullable=True),
        sa.Index('publish_tables_outbox_created_idx', 'created'),
        schema=schema,
        mysql_engine='InnoDB',
        mysql_charset='utf8mb4',
        sqlite_autoincrement=True,
    )


outbox = _define(metadata)


def check_name(name, dialect_name):
    """Raise ConfigError unless outbox_schema ``name`` can work here."""
    if name is None:
        return
    if not SCHEMA_NAME.match(name):
        raise exceptions.ConfigError(
            OPTION, name, 'not a plain identifier (letters, digits, _)')
    if dialect_name == 'sqlite' and name.lower() in ('main', 'temp'):
        raise exceptions.ConfigError(
            OPTION, name, 'SQLite reserves this name for its own '
            'databases; choose another')


def table(name=None):
    """The outbox Table in schema ``name`` (None: the service's own)."""
    if name is None:
        return outbox
    found = _elsewhere.get(name)
    if found is None:
        found = _elsewhere.setdefault(name, _define(sa.MetaData(), name))
    return found


def version_table(name=None):
    """The alembic version table as alembic creates it, in ``name``."""
    return sa.Table(
        VERSION_TABLE, sa.MetaData(),
        sa.Column('version_num', sa.String(32), nullable=False),
        sa.PrimaryKeyConstraint('version_num', name=VERSION_TABLE + '_pkc'),
        schema=name)
