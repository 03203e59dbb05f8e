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

"""Reading datasources: their list, status, schema, tables and rows."""

from congress_consumer.api.responses import _response
from congress_consumer.api.responses import HTTPError

LIVE = 'LIVE'
SYNCING = 'SYNCING'
RESYNCING = 'RESYNCING'
STALE = 'STALE'


def datasource_state(status):
    """Overall state of a datasource from its ``get_status()`` dict.

    ``SYNCING`` while a table has never been loaded, else ``RESYNCING``
    while a table is being reloaded, else ``STALE`` when the datasource
    hears no producer, else ``LIVE``. Drivers without
    per-table states are ``LIVE`` once initialized.
    """
    tables = status.get('tables')
    states = set()
    if isinstance(tables, dict):
        states = {t.get('state') for t in tables.values()
                  if isinstance(t, dict)}
    if not states:
        return LIVE if status.get('initialized') else SYNCING
    if SYNCING in states:
        return SYNCING
    if RESYNCING in states:
        return RESYNCING
    if STALE in states:
        return STALE
    return LIVE


class RowsAPI(object):
    """The read-only handlers of :class:`~congress_consumer.api.wsgi.API`."""

    @staticmethod
    def _tablenames(driver):
        # A table whose columns are learnt from its first snapshot is
        # in ``state`` before it is in the schema.
        return set(driver.get_tablenames()) | set(getattr(driver, 'state',
                                                          {}))

    def _table(self, ds, table):
        driver = self._driver(ds)
        if table not in self._tablenames(driver):
            raise HTTPError(404, 'table %s not found in data source %s'
                            % (table, ds))
        return driver

    def _describe(self, name, driver):
        info = driver.get_datasource_info()
        return {'id': name, 'name': name, 'driver': info['id'],
                'description': info.get('description', ''),
                'enabled': True,
                'status': datasource_state(driver.get_status())}

    def list_datasources(self, request):
        return _response(200, {'results': [
            self._describe(name, driver)
            for name, driver in sorted(self.drivers.items())]})

    def show_datasource(self, request, ds):
        return _response(200, self._describe(ds, self._driver(ds)))

    def show_status(self, request, ds):
        status = dict(self._driver(ds).get_status())
        status.setdefault('state', datasource_state(status))
        return _response(200, status)

    def show_schema(self, request, ds):
        driver = self._driver(ds)
        schema = driver.get_schema()
        return _response(200, {'tables': [
            {'table_id': table, 'columns': self._columns(schema[table])}
            for table in sorted(schema)]})

    def list_actions(self, request, ds):
        driver = self._driver(ds)
        if not hasattr(driver, 'get_actions'):
            return _response(200, {'results': []})
        return _response(200, driver.get_actions())

    @staticmethod
    def _columns(columns):
        return [{'name': c['name'], 'description': c.get('desc', '')}
                for c in columns]

    def list_tables(self, request, ds):
        driver = self._driver(ds)
        return _response(200, {'results': [
            {'id': t} for t in sorted(self._tablenames(driver))]})

    def show_table(self, request, ds, table):
        self._table(ds, table)
        return _response(200, {'id': table})

    def show_table_spec(self, request, ds, table):
        schema = self._table(ds, table).get_schema()
        return _response(200, {'columns': self._columns(
            schema.get(table, ()))})

    def list_rows(self, request, ds, table):
        driver = self._table(ds, table)
        if table not in driver.get_tablenames():
            return _response(200, {'results': []})  # columns not known yet
        rows = driver.get_row_data(table)
        return _response(200, {'results': [{'data': list(r['data'])}
                                           for r in rows]})
