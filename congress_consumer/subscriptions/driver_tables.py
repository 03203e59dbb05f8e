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

"""The tables of any datasource driver, seen as replicas.

Subscriptions (:mod:`.delivery`) and republishing (:mod:`.republisher`)
read a datasource through its synchroniser's interface: a ``lock`` and
``replicas`` (``{table: replica}``, each with ``watchers``, ``rows``
keyed by primary key, ``pk_names``, ``snapshot_columns``, ``loaded`` and
``key(row)``). A ``publish_tables`` datasource has that; a push,
notification or polling datasource keeps sets of row tuples.
:class:`DriverTables` gives those the same interface, so every
datasource can be subscribed to and republished: it follows the
driver's diffs (``driver.subscribe``) and calls the watchers with one
``(table, old, new, ts)`` per removed or added row.

Such rows have no declared key: every column is part of it, so an
update is a delete of the old row and an insert of the new one.
"""

from oslo_publish_tables.protocol import stamps

from congress_consumer.replication import tables_view


class RowSetTable(object):
    """A table of row tuples, keyed by the whole row."""

    def __init__(self, columns, rows=()):
        self.snapshot_columns = list(columns)
        self.pk_names = tuple(self.snapshot_columns)
        self.watchers = []
        self.rows = {}
        for row in rows:
            self.rows[tuple(row)] = self.as_dict(row)

    @property
    def loaded(self):
        return True

    def as_dict(self, row):
        return dict(zip(self.snapshot_columns, row))

    def key(self, row):
        return tuple(row[name] for name in self.pk_names)

    def change(self, name, to_add, to_del, ts):
        """Apply a diff of row tuples and call the watchers."""
        for row in sorted(to_del, key=repr):
            old = self.rows.pop(tuple(row), None)
            if old is not None:
                for watch in list(self.watchers):
                    watch(name, old, None, ts)
        for row in sorted(to_add, key=repr):
            new = self.rows[tuple(row)] = self.as_dict(row)
            for watch in list(self.watchers):
                watch(name, None, new, ts)


class DriverTables(tables_view.TablesView):
    """A driver's tables, with a synchroniser's ``lock`` and ``replicas``.

    It follows the driver from its creation; :meth:`detach` stops.
    """

    def __init__(self, driver, now=stamps.local_now):
        self.driver = driver
        self.lock = driver._lock  # the driver publishes diffs under it
        self._now = now
        self.replicas = {}
        with self.lock:
            for table in sorted(driver.get_tablenames()):
                self.replicas[table] = RowSetTable(
                    driver.get_column_names(table),
                    driver.state.get(table, ()))
            # Under the same lock: no diff between the copy and this.
            driver.subscribe(self._on_diff)

    def detach(self):
        self.driver.unsubscribe(self._on_diff)

    def _on_diff(self, table, to_add, to_del):
        replica = self.replicas.get(table)
        if replica is not None:
            replica.change(table, to_add, to_del, self._now())
