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
"""

import sqlalchemy as sa
from sqlalchemy.dialects import mysql

TABLE_NAME = 'publish_tables_outbox'
VERSION_TABLE = 'publish_tables_alembic_version'

metadata = sa.MetaData()

outbox = sa.Table(
    TABLE_NAME, metadata,
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'),
              primary_key=True, autoincrement=True),
    sa.Column('created', sa.BigInteger(), nullable=False),
    sa.Column('kind', sa.String(16), nullable=False),
    sa.Column('txn', sa.String(36), nullable=True),
    sa.Column('payload', sa.Text().with_variant(mysql.LONGTEXT(), 'mysql',
                                                'mariadb'),
              nullable=False),
    sa.Column('claimed_by', sa.String(36), nullable=True),
    sa.Column('claimed_until', sa.BigInteger(), nullable=True),
    sa.Index('publish_tables_outbox_created_idx', 'created'),
    mysql_engine='InnoDB',
    mysql_charset='utf8mb4',
    sqlite_autoincrement=True,
)
