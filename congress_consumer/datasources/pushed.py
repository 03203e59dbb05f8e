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

"""Drivers whose data is pushed to them instead of polled.

The schema still comes from translators; pushed rows must fit it::

    class AlarmDriver(PushedDataSourceDriver):
        TRANSLATORS = [alarms_translator]    # columns: id, state

    driver = AlarmDriver('alarms')
    driver.replace_entire_table_data('alarms', [('a1', 'ok'),
                                                {'id': 'a2', 'state': 'x'}])
    driver.apply_row_deltas('alarms', to_add={('a3', 'ok')},
                            to_del={('a1', 'ok')})

A row is a list or tuple with one value per column, or a dict keyed by
column names (missing columns are ``None``, unknown ones are an error).
Values must be hashable.  Every call is validated completely before
anything changes: an unknown table raises ``UnknownTableError``, a bad row
``InvalidDataError``, and the table is left as it was.  The resulting diff
is published to subscribers and returned as ``(to_add, to_del)``.

Override :meth:`PushedDataSourceDriver.process_webhook_notification` to
accept notifications in a data source's own format.
"""

import collections.abc

from congress_consumer.datasources import datasource_driver
from congress_consumer import exceptions


class PushedDataSourceDriver(datasource_driver.DataSourceDriver):
    """A driver whose tables are set by pushes."""

    def __init__(self, name='', args=None):
        super().__init__(name, args)
        self.initialized = True

    def _normalize_row(self, table_id, columns, row, index):
        where = "table '%s' row %d" % (table_id, index)
        if isinstance(row, collections.abc.Mapping):
            unknown = sorted(set(row) - set(columns), key=repr)
            if unknown:
                raise exceptions.InvalidDataError(
                    '%s: unknown column(s) %s; columns are %s'
                    % (where, unknown, list(columns)))
            row = tuple(row.get(column) for column in columns)
        elif isinstance(row, (list, tuple)):
            if len(row) != len(columns):
                raise exceptions.InvalidDataError(
                    '%s: has %d value(s), expected %d %s'
                    % (where, len(row), len(columns), list(columns)))
            row = tuple(row)
        else:
            raise exceptions.InvalidDataError(
                '%s: expected a list, tuple or dict, got %s'
                % (where, type(row).__name__))
        try:
            hash(row)
        except TypeError:
            raise exceptions.InvalidDataError(
                '%s: values must be hashable, got %r' % (where, row)) from None
        return row

    def _validate_rows(self, table_id, rows):
        """Return ``rows`` as a set of tuples, or raise on any bad row."""
        columns = self.get_column_names(table_id)
        if rows is None:
            return set()
        if isinstance(rows, (str, bytes, collections.abc.Mapping)):
            raise exceptions.InvalidDataError(
                "table '%s': expected a collection of rows, got %s"
                % (table_id, type(rows).__name__))
        return set(self._normalize_row(table_id, columns, row, index)
                   for index, row in enumerate(rows))

    def replace_entire_table_data(self, table_id, objs):
        """Make ``objs`` the complete content of ``table_id``.

        :returns: the published ``(to_add, to_del)`` diff.
        """
        rows = self._validate_rows(table_id, objs)
        with self._lock:
            diff = self.publish(table_id, rows)
            self._mark_updated()
        return diff

    def apply_row_deltas(self, table_id, to_add=(), to_del=()):
        """Delete ``to_del`` then add ``to_add`` rows, atomically.

        Deleting absent rows and adding present ones is not an error; the
        published diff holds only the actual changes.

        :returns: the published ``(to_add, to_del)`` diff.
        """
        adds = self._validate_rows(table_id, to_add)
        dels = self._validate_rows(table_id, to_del)
        with self._lock:
            current = self.state.get(table_id, set())
            diff = self.publish(table_id, (current - dels) | adds)
            self._mark_updated()
        return diff

    def process_webhook_notification(self, payload):
        """Apply a notification in the data source's own format.

        Drivers that accept webhooks override this, typically translating
        ``payload`` and calling :meth:`apply_row_deltas` or
        :meth:`replace_entire_table_data`.
        """
        raise NotImplementedError(
            'Data source driver %s (%s) does not handle webhook '
            'notifications; override process_webhook_notification()'
            % (self.name, type(self).__name__))
