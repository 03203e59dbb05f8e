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

"""Republish a consumer's tables on the bus, in the producer's own format.

Any service on the bus can subscribe to a table of a ``publish_tables``
datasource (say datasource ``nova``, table ``instances``) and replicate
it exactly, with the very same
:class:`~congress_consumer.replication.driver.PublishTablesDriver` and
sync protocol it would use against a producing service:

* deltas are sent by :class:`oslo_publish_tables.sender.Sender` (its own
  producer identity, sequence numbers, batching, heartbeats, bounded
  spool) as ``publish_tables.*`` notifications on
  ``<topic_prefix>.<datasource>``;
* snapshots are served over oslo.messaging RPC on
  ``<topic_prefix>_snapshot.<datasource>``, with the snapshot service's
  protocol (``open_snapshot``, ``fetch``, ``close_snapshot``; namespace
  ``publish_tables_snapshot``, version 1.0), from the in-memory replica.

A downstream driver subscribes by opening a snapshot of a table (what it
does at start and on every resync), or explicitly with the RPC method
``subscribe(table, subscriber)``; ``unsubscribe(table, subscriber)``
ends it (without ``subscriber``: every subscription of the table). Only
tables with a subscriber are published: for the others a change costs
one set lookup. Subscriptions are kept in memory; a (re)started
republisher sends one resync marker for all its tables, so downstream
replicas resync and thereby subscribe again (then the sender's
heartbeats go on).

A republisher never says goodbye (it sets its Sender's ``goodbye`` to
False, whoever made it: the consumer's republished datasources and the
policy tables of a Congress engine alike). A goodbye tells a replica
that everything was sent and nothing will change: true of a producing
service stopped cleanly, not of a relay whose upstream keeps changing.
When a republisher stops, its heartbeats stop; after
``producer_timeout`` a downstream datasource is STALE (its tables report
``STALE``, ``caught_up`` false), never LIVE with stale rows.

The changes come from the replica's watchers (called under the
synchroniser's lock with the change's stamp). Each visible change becomes
one ``txn`` record carrying the full row (the before-image for a delete).
Its stamp is the change's stamp, raised when needed to one microsecond
above the last stamp issued: the upstream replica applies changes of
different rows in arrival order, not in stamp order, and the downstream
protocol needs stamps that grow in the order in which changes become
visible. A snapshot takes the rows and the last issued stamp ``S`` under
the same lock, so it holds exactly the changes stamped ``<= S``, the
fence of the sync protocol, and every later change is stamped ``> S``.
"""

import logging
import threading
import time
import uuid

import oslo_messaging

from oslo_publish_tables import exceptions as pt_exceptions
from oslo_publish_tables.protocol import codec
from oslo_publish_tables.protocol import envelope
from oslo_publish_tables.protocol import records
from oslo_publish_tables.protocol import snapshot_rpc
from oslo_publish_tables.protocol import stamps

LOG = logging.getLogger(__name__)

# The implicit subscriber of a table whose snapshot was opened.
SNAPSHOT_SUBSCRIBER = 'snapshot'


def topics(prefix, datasource):
    """``(notification topic, snapshot RPC topic)`` of a datasource."""
    return ('%s.%s' % (prefix, datasource),
            '%s_snapshot.%s' % (prefix, datasource))


class Republisher(object):
    """Publishes the changes of one driver's replicas through a Sender.

    ``sync`` is the driver's
    :class:`~congress_consumer.replication.sync.Synchronizer`;
    ``sender`` an :class:`oslo_publish_tables.sender.Sender`. Call
    :meth:`attach` to start watching and :meth:`detach` to stop.
    """

    def __init__(self, sync, sender, tables=None, chunk_rows=5000,
                 idle_timeout=120.0, now=stamps.local_now):
        self.sync = sync
        self.sender = sender
        sender.goodbye = False  # a relay: see the module docstring
        self.tables = list(tables or sync.replicas)
        for table in self.tables:
            if table not in sync.replicas:
                raise pt_exceptions.SnapshotError(
                    'table %r is not replicated' % table)
        self.chunk_rows = chunk_rows
        self.idle_timeout = idle_timeout
        self.subscribers = {t: set() for t in self.tables}
        self._active = set()
        # Stamps are microseconds since the epoch; start at "now" so that
        # a restarted republisher never issues stamps below its past ones.
        self.last_ts = now()
        self._open = {}
        self._open_lock = threading.Lock()

    # -- watching -----------------------------------------------------------

    def attach(self):
        """Start watching; announce the start with a resync marker.

        Subscriptions live in memory: a restarted republisher has none,
        and publishes nothing until its downstream consumers subscribe
        again. The marker makes every downstream replica of these tables
        resync, which opens a snapshot, which subscribes.
        """
        self.sync.watch(self._watch, self.tables)
        self.sender.submit(records.Draft.resync(self.tables,
                                                'republisher started'))

    def detach(self):
        self.sync.unwatch(self._watch, self.tables)

    def _watch(self, table, old, new, ts):
        if table not in self._active:
            return
        ts = self.last_ts = max(ts, self.last_ts + 1)
        replica = self.sync.replicas[table]
        if new is None:
            op, row, changed = 'delete', old, ()
        elif old is None:
            op, row, changed = 'insert', new, sorted(new)
        else:
            op, row = 'update', new
            changed = sorted(c for c in new if old.get(c) != new[c])
        pk = {name: row[name] for name in replica.pk_names}
        self.sender.submit(records.Draft(
            'txn', ts, uuid.uuid4().hex,
            [envelope.Change(table, op, pk, row, changed)]))

    # -- subscriptions ------------------------------------------------------

    def _check(self, table):
        if table not in self.subscribers:
            raise pt_exceptions.SnapshotError('table %r is not republished'
                                              % table)

    def subscribe(self, table, subscriber):
        """Start publishing ``table`` for ``subscriber``."""
        self._check(table)
        with self.sync.lock:
            self.subscribers[table].add(subscriber)
            self._active.add(table)
        LOG.info('%s subscribed to %s', subscriber, table)

    def unsubscribe(self, table, subscriber=None):
        """End ``subscriber``'s subscription (default: all of them)."""
        self._check(table)
        with self.sync.lock:
            subscribers = self.subscribers[table]
            if subscriber is None:
                subscribers.clear()
            else:
                subscribers.discard(subscriber)
            if not subscribers:
                self._active.discard(table)
        LOG.info('%s unsubscribed from %s', subscriber or 'everybody', table)

    def active(self, table):
        return table in self._active

    # -- snapshots (the snapshot service's protocol) ------------------------

    def open_snapshot(self, table):
        """Subscribe and take the rows and their stamp ``S``, consistently.

        Raises SnapshotError until the replica itself has loaded.
        """
        self._check(table)
        self._expire()
        replica = self.sync.replicas[table]
        with self.sync.lock:
            if not replica.loaded or replica.snapshot_columns is None:
                raise pt_exceptions.SnapshotError(
                    'table %r is not synchronised yet' % table)
            self.subscribers[table].add(SNAPSHOT_SUBSCRIBER)
            self._active.add(table)
            rows = list(replica.rows.values())
            ts = self.last_ts
            columns = list(replica.snapshot_columns)
            pk = list(replica.pk_names)
        sid = uuid.uuid4().hex
        with self._open_lock:
            # rows left, last used, table, rows returned so far
            self._open[sid] = [rows, time.monotonic(), table, 0]
        return {'id': sid, 'ts': ts, 'columns': columns, 'pk': pk,
                'fence_ms': 0.0}

    def fetch(self, snapshot_id, max_rows=None):
        max_rows = min(max_rows or self.chunk_rows, self.chunk_rows)
        with self._open_lock:
            entry = self._open.get(snapshot_id)
            if entry is None:
                raise pt_exceptions.SnapshotError('no open snapshot %r'
                                                  % snapshot_id)
            rows = entry[0][:max_rows]
            entry[0] = entry[0][max_rows:]
            entry[1] = time.monotonic()
            position = entry[3]
            entry[3] += len(rows)
            if not rows:
                del self._open[snapshot_id]
        return {'rows': [codec.encode_row(r) for r in rows],
                'done': not rows, 'table': entry[2], 'position': position}

    def close_snapshot(self, snapshot_id):
        with self._open_lock:
            self._open.pop(snapshot_id, None)

    def _expire(self):
        now = time.monotonic()
        with self._open_lock:
            for sid in [s for s, entry in self._open.items()
                        if now - entry[1] > self.idle_timeout]:
                del self._open[sid]


class RepublisherEndpoint(snapshot_rpc.Endpoint):
    """RPC endpoint: the snapshot protocol plus subscribe/unsubscribe."""

    def __init__(self, republisher, signer=None):
        super().__init__(republisher, signer)
        self.republisher = republisher

    def subscribe(self, ctxt, table, subscriber):
        self.republisher.subscribe(table, subscriber)

    def unsubscribe(self, ctxt, table, subscriber=None):
        self.republisher.unsubscribe(table, subscriber)


def rpc_server(transport, republisher, topic, server='congress-consumer',
               signer=None):
    """An oslo.messaging RPC server serving ``republisher`` on ``topic``.

    ``signer`` signs the snapshot replies as the agent's are signed.
    """
    target = oslo_messaging.Target(topic=topic, server=server)
    return oslo_messaging.get_rpc_server(
        transport, target, [RepublisherEndpoint(republisher, signer)],
        executor='threading',
        access_policy=oslo_messaging.DefaultRPCAccessPolicy)
