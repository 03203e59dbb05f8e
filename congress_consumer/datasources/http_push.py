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

"""A datasource whose tables are pushed over HTTP (Congress's push type).

Monitoring systems that cannot be polled push their state to
``congress-consumer``: the full content of a table, or row deltas, as
JSON through the API (see :mod:`congress_consumer.api.wsgi`)::

    PUT   /v1/data-sources/alarms/tables/alarms/rows
          [["a1", "ok"], {"id": "a2", "state": "alarm"}]
    PATCH /v1/data-sources/alarms/tables/alarms/rows
          {"to_add": [["a3", "ok"]], "to_del": [["a1", "ok"]]}

:class:`HttpPushDriver` is a
:class:`~congress_consumer.datasources.pushed.PushedDataSourceDriver`
whose tables are declared by its ``args``:

``tables``
    table names, a list or a comma-separated string (required);
``columns``
    ``{table: [column, ...]}``, every table's columns in row order
    (required for every table);
``push_token``
    the shared secret a pusher must send in ``X-Auth-Token`` (or as
    ``Authorization: Bearer <token>``); required, compared in constant
    time by :meth:`HttpPushDriver.authenticate`.

A row is a JSON array with one value per column, or an object keyed by
column names (missing columns are ``null``). Values are JSON scalars:
strings, numbers, booleans or ``null``. :meth:`HttpPushDriver.push`
checks a whole body before anything changes; on any error the table is
left exactly as it was.
"""

import hmac

from congress_consumer.datasources import pushed
from congress_consumer.datasources import validation
from congress_consumer import exceptions

REPLACE = 'replace'
DELTAS = 'deltas'
_SCALARS = (str, int, float, bool, type(None))


class HttpPushDriver(pushed.PushedDataSourceDriver):
    """Tables set by authenticated HTTP pushes."""

    DRIVER_INFO = {
        'id': 'push',
        'description': 'Tables whose content monitoring systems push as '
                       'JSON over HTTP.',
        'config': {'tables': 'required', 'columns': 'required',
                   'push_token': 'required'},
        'secret': ['push_token'],
    }

    def __init__(self, name='', args=None):
        super().__init__(name, args)
        pairs = validation.table_columns(self.args)
        token = self.args.get('push_token')
        if not isinstance(token, str) or not token:
            raise exceptions.InvalidParamError(
                param='push_token', reason='a non-empty secret is required')
        self._token = token.encode('utf-8')
        for table, names in pairs:
            self.register_translator({
                'translation-type': 'HDICT', 'table-name': table,
                'selector-type': 'DICT_SELECTOR',
                'field-translators': [
                    {'fieldname': c, 'translator': {'translation-type':
                                                    'VALUE'}}
                    for c in names]})
            self.state[table] = set()

    # -- lifecycle: nothing runs in the background ------------------------

    def start(self):
        pass

    def stop(self):
        pass

    # -- pushes ----------------------------------------------------------

    def authenticate(self, token):
        """True if ``token`` (str or None) is the configured secret."""
        if not isinstance(token, str):
            return False
        return hmac.compare_digest(token.encode('utf-8'), self._token)

    def _rows(self, table_id, rows, what):
        if not isinstance(rows, list):
            raise exceptions.InvalidDataError(
                "%s: expected a JSON array of rows, got %s"
                % (what, type(rows).__name__))
        for index, row in enumerate(rows):
            values = (row.values() if isinstance(row, dict) else
                      row if isinstance(row, list) else ())
            for value in values:
                if not isinstance(value, _SCALARS):
                    raise exceptions.InvalidDataError(
                        "%s: table '%s' row %d: values must be strings, "
                        "numbers, booleans or null, got %s"
                        % (what, table_id, index, type(value).__name__))
        return rows

    def push(self, table_id, body, mode):
        """Apply a decoded JSON ``body`` to ``table_id``.

        :param mode: :data:`REPLACE` (``body`` is the list of all rows) or
            :data:`DELTAS` (``body`` is ``{"to_add": [...], "to_del":
            [...]}``, both optional; deletions apply first).
        :returns: the published ``(to_add, to_del)`` diff.
        :raises UnknownTableError: for a table not in the schema.
        :raises InvalidDataError: if the body does not fit; nothing
            changed.
        """
        self._check_table(table_id)
        if mode == REPLACE:
            return self.replace_entire_table_data(
                table_id, self._rows(table_id, body, 'body'))
        if mode != DELTAS:
            raise exceptions.InvalidParamError(param='mode',
                                               reason='unknown %r' % mode)
        if not isinstance(body, dict):
            raise exceptions.InvalidDataError(
                'body: expected a JSON object {"to_add": [...], "to_del": '
                '[...]}, got %s' % type(body).__name__)
        extra = sorted(set(body) - {'to_add', 'to_del'})
        if extra:
            raise exceptions.InvalidDataError(
                'body: unknown key(s) %s; expected to_add and to_del'
                % extra)
        return self.apply_row_deltas(
            table_id,
            to_add=self._rows(table_id, body.get('to_add', []), 'to_add'),
            to_del=self._rows(table_id, body.get('to_del', []), 'to_del'))
