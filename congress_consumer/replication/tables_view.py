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

"""What every table-holding object offers its readers and watchers.

A synchroniser (:mod:`.sync`), the tables of any other datasource driver
(:mod:`congress_consumer.subscriptions.driver_tables`) and the policy
engine's tables (:mod:`congress_consumer.policy_tables`) hold a
``lock`` and ``replicas`` (``{table: replica}``, each with ``rows`` keyed
by primary key, ``pk_names`` and ``watchers``). :class:`TablesView` is
the one reading and watching API over those two attributes, so
subscriptions and republishing read them all alike and never take the
lock themselves.
"""


class TablesView(object):
    """Reading and watching over ``self.lock`` and ``self.replicas``."""

    def reading(self):
        """A context in which no change is applied (the replicas' lock).

        For a reader that must see rows and what it numbers after them
        agree (the Congress adapter's snapshot and sequence number).
        """
        return self.lock

    def row(self, table, key):
        """The row of ``table`` with primary key ``key``, or None."""
        with self.lock:
            return self.replicas[table].rows.get(key)

    def rows(self, table):
        """A copy of ``table``'s rows: ``{primary key tuple: row}``."""
        with self.lock:
            return dict(self.replicas[table].rows)

    def pk_names(self, table):
        """The names of ``table``'s primary key columns, once known."""
        return self.replicas[table].pk_names

    def watch(self, watcher, tables=None):
        """Call ``watcher(table, old, new, ts)`` on every change.

        Of ``tables`` (default: all), under the lock, as it is applied.
        """
        with self.lock:
            for table in tables or list(self.replicas):
                self.replicas[table].watchers.append(watcher)

    def unwatch(self, watcher, tables=None):
        """Stop calling ``watcher`` (see :meth:`watch`)."""
        with self.lock:
            for table in tables or list(self.replicas):
                replica = self.replicas.get(table)
                if replica is not None and watcher in replica.watchers:
                    replica.watchers.remove(watcher)
