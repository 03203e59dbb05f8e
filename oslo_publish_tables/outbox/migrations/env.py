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

"""alembic environment of the publish_tables outbox.

Used through :mod:`oslo_publish_tables.outbox.migration`, which hands
over an open connection in ``config.attributes['connection']``; with the
``alembic`` command line, ``-x url=<database URL>`` names the database.
The revision table is ``publish_tables_alembic_version``, so that it
never meets the service's own ``alembic_version``. Both tables go to
schema ``config.attributes['schema']`` (``-x schema=NAME``) when set;
the revisions read it back as the context's ``version_table_schema``.
"""

from alembic import context
import sqlalchemy as sa

from oslo_publish_tables.outbox import attached
from oslo_publish_tables.outbox import schema


def _schema():
    config = context.config
    if 'schema' in config.attributes:
        return config.attributes['schema']
    return context.get_x_argument(as_dictionary=True).get('schema')


def _migrate(connection):
    # SQLite: the outbox database (if any) attached, before any BEGIN.
    attached.attach(connection, _schema())
    context.configure(connection=connection,
                      target_metadata=schema.metadata,
                      version_table=schema.VERSION_TABLE,
                      version_table_schema=_schema())
    with context.begin_transaction():
        context.run_migrations()


def run():
    config = context.config
    connection = config.attributes.get('connection')
    if connection is not None:
        _migrate(connection)
        return
    url = (context.get_x_argument(as_dictionary=True).get('url')
           or config.get_main_option('sqlalchemy.url'))
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as connection:
            _migrate(connection)
    finally:
        engine.dispose()


if context.is_offline_mode():
    context.configure(url=context.config.get_main_option('sqlalchemy.url'),
                      target_metadata=schema.metadata,
                      version_table=schema.VERSION_TABLE,
                      version_table_schema=_schema(),
                      literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()
else:
    run()
