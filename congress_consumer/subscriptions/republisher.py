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
When a republisher stops, its heartbeats stop; so they do while any of
its tables is not LIVE upstream (:meth:`Republisher.source_live`, the
Sender's ``vouch``). After ``producer_timeout`` a downstream datasource
is then STALE (its tables report ``STALE``, ``caught_up`` false), never
LIVE with stale rows.

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
import uuid

import oslo_messaging

from oslo_publish_tables import exceptions as pt_exceptions
from oslo_publish_tables.protocol import codec
from oslo_publish_tables.protocol import envelope
from oslo_publish_tables.protocol import records
from oslo_publish_tables.protocol import snapshot_rpc
from oslo_publish_tables.protocol import stamps
from oslo_publish_tables.snapshot import bounds

from congress_consumer.replication import sync as sync_mod

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
                 idle_timeout=120.0, now=stamps.local_now, max_open=8,
                 max_duration=900.0):
        self.sync = sync
        self.sender = sender
        sender.goodbye = False  # a relay: see the module docstring
        sender.vouch = self.source_live
        self.tables = list(tables or sync.replicas)
        for table in self.tables:
            if table not in sync.replicas:
                raise pt_exceptions.SnapshotError(
                    'table %r is not replicated' % table)
        self.chunk_rows = chunk_rows
        self.subscribers = {t: set() for t in self.tables}
        self._active = set()
        # Stamps are microseconds since the epoch; start at "now" so that
        # a restarted republisher never issues stamps below its past ones.
        self.last_ts = now()
        # The agent's bounds (snapshot_max_open, idle and duration
        # limits): each open snapshot holds a copy of a replica's rows.
        self.snapshots = bounds.OpenSnapshots(
            lambda rows: None, max_open, idle_timeout, max_duration)
        self._fetch_lock = threading.Lock()

    def source_live(self):
        """True while every republished table is LIVE upstream.

        The Sender heartbeats only then: a downstream replica must not
        stay LIVE on a source that went stale or is resyncing. Tables of
        drivers without states (push, polling, policy) are always live.
        """
        state_of = getattr(self.sync, 'state_of', None)
        return state_of is None or all(
            state_of(t) == sync_mod.LIVE for t in self.tables)

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
        replica = self.sync.replicas[table]
        with self.snapshots.reserve():
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
            sid = self.snapshots.add(rows, table)
        return {'id': sid, 'ts': ts, 'columns': columns, 'pk': pk,
                'fence_ms': 0.0}

    def fetch(self, snapshot_id, max_rows=None):
        max_rows = min(max_rows or self.chunk_rows, self.chunk_rows)
        entry = self.snapshots.get(snapshot_id)
        with self._fetch_lock:
            rows = entry.snap[:max_rows]
            del entry.snap[:max_rows]
            position = self.snapshots.advance(entry, len(rows))
        if not rows:
            self.snapshots.close(snapshot_id)
        return {'rows': [codec.encode_row(r) for r in rows],
                'done': not rows, 'table': entry.table, 'position': position}

    def close_snapshot(self, snapshot_id):
        self.snapshots.close(snapshot_id)

    def close(self):
        self.snapshots.close_all()


class RepublisherEndpoint(snapshot_rpc.Endpoint):
    """RPC endpoint: the snapshot protocol plus subscribe/unsubscribe."""

    def __init__(self, republisher, signer=None, checker=None):
        super().__init__(republisher, signer, checker)
        self.republisher = republisher

    @oslo_messaging.expected_exceptions(pt_exceptions.SnapshotError)
    def subscribe(self, ctxt, table, subscriber):
        self._check(ctxt, 'subscribe', table=table, subscriber=subscriber)
        self.republisher.subscribe(table, subscriber)

    @oslo_messaging.expected_exceptions(pt_exceptions.SnapshotError)
    def unsubscribe(self, ctxt, table, subscriber=None):
        self._check(ctxt, 'unsubscribe', table=table, subscriber=subscriber)
        self.republisher.unsubscribe(table, subscriber)


def rpc_server(transport, republisher, topic, server='congress-consumer',
               signer=None, checker=None):
    """An oslo.messaging RPC server serving ``republisher`` on ``topic``.

    ``signer`` signs the snapshot replies as the agent's are signed;
    ``checker`` (a :class:`oslo_publish_tables.protocol.snapshot_requests.
    RequestChecker`) serves only requests signed with its key, as the
    agent does.
    """
    target = oslo_messaging.Target(topic=topic, server=server)
    return oslo_messaging.get_rpc_server(
        transport, target,
        [RepublisherEndpoint(republisher, signer, checker)],
        executor='threading',
        access_policy=oslo_messaging.DefaultRPCAccessPolicy)
