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

"""Create the publish_tables_outbox table.

Revision ID: 6d1c0e8a4f21
Revises:
Create Date: 2026-11-28
"""

from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import mysql

revision = '6d1c0e8a4f21'
down_revision = None
branch_labels = None
depends_on = None


def _schema():
    # [publish_tables] outbox_schema: where the version table is.
    return op.get_context().version_table_schema


def upgrade():
    op.create_table(
        'publish_tables_outbox',
        sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'),
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
        mysql_engine='InnoDB',
        mysql_charset='utf8mb4',
        # Never reuse the id of a deleted row (see outbox.schema).
        sqlite_autoincrement=True,
        schema=_schema(),
    )
    op.create_index('publish_tables_outbox_created_idx',
                    'publish_tables_outbox', ['created'], schema=_schema())


def downgrade():
    op.drop_index('publish_tables_outbox_created_idx',
                  table_name='publish_tables_outbox', schema=_schema())
    op.drop_table('publish_tables_outbox', schema=_schema())
