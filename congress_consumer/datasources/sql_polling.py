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

"""A datasource polling tables of a SQL database (Congress's polling type).

:class:`SqlPollingDriver` reads the listed columns of the listed tables
every ``poll_time`` seconds and publishes what changed since the last
poll, for databases of services that publish nothing (or for
reference data kept in a database of its own).

``args``:

``database_url``
    SQLAlchemy URL of a read-only account (required);
``tables``
    the tables to poll, a list or comma-separated (required);
``columns``
    ``{table: [column, ...]}``, every table's columns in row order
    (required for every table);
``poll_time``
    seconds between two polls (default 10).

A poll reads every table in one transaction, so the tables agree with
each other. A failing poll (the database is down, a column was dropped)
is logged with the datasource, shown in the status (``last_error``) and
leaves the tables as they were; the next poll tries again.
"""


from oslo_log import log as logging
import sqlalchemy as sa

from congress_consumer.datasources import polling
from congress_consumer.datasources import validation
from congress_consumer.datasources import values

LOG = logging.getLogger(__name__)


def _translator(table, columns):
    return {'translation-type': 'HDICT', 'table-name': table,
            'selector-type': 'DICT_SELECTOR',
            'field-translators': [
                {'fieldname': c,
                 'translator': {'translation-type': 'VALUE',
                                'extract-fn': values.congress_value}}
                for c in columns]}


class SqlPollingDriver(polling.PollingDataSourceDriver):
    """Tables read from a SQL database at an interval."""

    DRIVER_INFO = {
        'id': 'sql_polling',
        'description': 'Columns of SQL tables, polled every poll_time '
                       'seconds; changes are published as diffs.',
        'config': {'database_url': 'required', 'tables': 'required',
                   'columns': 'required', 'poll_time': 'optional'},
        'secret': ['database_url'],
    }

    def __init__(self, name='', args=None, engine=None):
        super().__init__(name, args)
        self._selects = []
        for table, names in validation.table_columns(self.args):
            translator = _translator(table, names)
            select = sa.select(*[sa.column(c) for c in names]).select_from(
                sa.table(table))
            self._selects.append((table, select, names))
            self.add_update_method(self._reader(table), translator)
        self._engine = engine or sa.create_engine(
            self.args['database_url'], pool_pre_ping=True)
        self._owns_engine = engine is None
        self._batch = None

    def _reader(self, table):
        def read():
            return self._batch[table]
        read.__name__ = 'read_%s' % table
        return read

    def update_from_datasource(self):
        """Read every table in one transaction, then translate."""
        batch = {}
        with self._engine.connect() as conn, conn.begin():
            for table, select, names in self._selects:
                batch[table] = [dict(zip(names, row))
                                for row in conn.execute(select)]
        self._batch = batch
        try:
            super().update_from_datasource()
        finally:
            self._batch = None

    def stop(self, timeout=None):
        stopped = super().stop(timeout)
        if self._owns_engine:
            self._engine.dispose()
        return stopped
