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

"""Policy-engine tables on the bus (spec "publish policy results").

Any service on the bus can follow a table computed by a Congress policy
engine (``classification:error``, ``alice_policy:error``...) exactly as
it follows a table of a ``publish_tables`` datasource: with a
:class:`~congress_consumer.replication.driver.PublishTablesDriver`
whose ``tables`` name ``<policy>:<table>``. The deltas go through the
very same delta publisher,
:class:`~congress_consumer.subscriptions.republisher.Republisher`
(its Sender, records, heartbeats; snapshots over RPC with the snapshot
service's protocol).

A policy table is watched only while it has a subscriber: the first
subscription (an explicit ``subscribe`` or a downstream driver opening
its snapshot) registers a trigger on the engine
(``engine.register_trigger``); the last ``unsubscribe`` removes it. Each
trigger call (the table's contents before and after an update of the
engine) becomes one ``txn`` record per added or removed row. A policy
row has no key of its own, so every column is part of the key; the
columns are named ``col0``, ``col1``... in row order.

The engine is Congress's ``DseRuntime`` (or any object with
``policy_names``, ``arity``, ``get_row_data``, ``register_trigger`` and
``unregister_trigger``): this module does not import Congress.
"""

import threading

from oslo_log import log as logging

from oslo_publish_tables import exceptions as pt_exceptions
from oslo_publish_tables.protocol import stamps

from congress_consumer.replication import tables_view
from congress_consumer.subscriptions import driver_tables
from congress_consumer.subscriptions import republisher as rep_mod

LOG = logging.getLogger(__name__)


def split_table(name):
    """``(policy, table)`` of ``'policy:table'``."""
    policy, sep, table = name.partition(':')
    if not sep or not policy or not table:
        raise pt_exceptions.SnapshotError(
            'table %r: expected <policy>:<table>' % (name,))
    return policy, table


class PolicyTable(driver_tables.RowSetTable):
    """One watched policy table, in the shape the Republisher reads."""

    def __init__(self, columns, rows=(), trigger=None):
        super().__init__(columns, rows)
        self.trigger = trigger


def _columns(width):
    return ['col%d' % i for i in range(width)]


class PolicyTables(tables_view.TablesView):
    """Policy tables of one engine, with the Synchronizer's interface.

    ``lock`` and ``replicas`` are what the Republisher uses.
    """

    def __init__(self, engine, now=stamps.local_now):
        self.engine = engine
        self.lock = threading.RLock()
        self.replicas = {}
        self._now = now

    def _rows(self, policy, table):
        return [tuple(r['data']) for r in
                self.engine.get_row_data(table, policy, trace=False)]

    def follow(self, name):
        """Register the trigger of ``name`` (no-op if followed)."""
        with self.lock:
            if name in self.replicas:
                return self.replicas[name]
            policy, table = split_table(name)
            if policy not in self.engine.policy_names():
                raise pt_exceptions.SnapshotError(
                    'table %r: no policy %r' % (name, policy))
            # The trigger first: a change made while the rows are read
            # is then in the rows, in a trigger call, or both (a row
            # added twice is sent as an insert of an existing row, an
            # upsert downstream).
            trigger = self.engine.register_trigger(
                table, self._changed(name), policy=policy)
            rows = self._rows(policy, table)
            width = max([len(r) for r in rows] or
                        [self.engine.arity(table, policy) or 0])
            replica = PolicyTable(_columns(width), rows, trigger)
            self.replicas[name] = replica
            LOG.info('policy table %s: trigger registered', name)
            return replica

    def unfollow(self, name):
        """Unregister the trigger of ``name`` (no-op if not followed)."""
        with self.lock:
            replica = self.replicas.pop(name, None)
        if replica is not None:
            self.engine.unregister_trigger(replica.trigger)
            LOG.info('policy table %s: trigger removed', name)

    def _changed(self, name):
        def callback(table, old, new):
            old_rows = {tuple(lit.argument_names()) for lit in old}
            new_rows = {tuple(lit.argument_names()) for lit in new}
            self.apply(name, new_rows - old_rows, old_rows - new_rows)
        return callback

    def apply(self, name, to_add, to_del):
        """Apply a change of ``name``'s rows and tell its watchers."""
        with self.lock:
            replica = self.replicas.get(name)
            if replica is None:
                return
            if not replica.snapshot_columns and to_add:
                # Arity unknown until the table's first row.
                width = len(next(iter(to_add)))
                replica.snapshot_columns = _columns(width)
                replica.pk_names = tuple(replica.snapshot_columns)
            replica.change(name, to_add, to_del, self._now())


class PolicyRepublisher(rep_mod.Republisher):
    """The Republisher of an engine's policy tables, watched on demand."""

    def __init__(self, engine, sender, **kwargs):
        super().__init__(PolicyTables(engine), sender, tables=[], **kwargs)

    def attach(self):
        """Nothing is watched before a subscription."""

    def detach(self):
        for name in list(self.sync.replicas):
            self.unsubscribe(name)

    def _check(self, table):
        if table in self.subscribers:
            return
        self.sync.follow(table)
        with self.sync.lock:
            if table not in self.subscribers:
                self.subscribers[table] = set()
                self.tables.append(table)
                self.sync.watch(self._watch, [table])

    def unsubscribe(self, table, subscriber=None):
        if table not in self.subscribers:
            return
        super().unsubscribe(table, subscriber)
        with self.sync.lock:
            if self.subscribers[table]:
                return
            del self.subscribers[table]
            self.tables.remove(table)
        self.sync.unfollow(table)
