"""Keeps replicas exact: applies deltas, detects loss, (re)syncs tables.

:class:`Synchronizer` owns the :class:`~.replica.TableReplica` of every
table of one datasource. :meth:`~Synchronizer.handle` takes decoded
batches from the receiver (any thread, any order, duplicates welcome);
a worker thread takes snapshots for tables that need one: at start
(``SYNCING``), and after a gap, a vanished producer, a resync marker or
an unresolvable late change (``RESYNCING``). Deltas keep applying while a
snapshot loads; the version rule of the replica sorts them out.

A table whose first change or snapshot carries an outbox id (durable
mode) is ordered by outbox ids, with no clock involved; one change or
snapshot without one switches it to stamps for good, with a resync.
"""

import collections
import logging
import threading
import time

import oslo_messaging
import sqlalchemy as sa

from oslo_publish_tables import exceptions as pt_exceptions
from oslo_publish_tables.protocol import codec
from oslo_publish_tables.protocol import redaction

from congress_consumer.replication import producers
from congress_consumer.replication import replica as replica_mod

LOG = logging.getLogger(__name__)

_SNAPSHOT_ERRORS = (pt_exceptions.PublishTablesError,
                    oslo_messaging.MessagingException,
                    sa.exc.SQLAlchemyError, OSError, KeyError, TypeError)

SYNCING = 'SYNCING'
LIVE = 'LIVE'
RESYNCING = 'RESYNCING'


class _Reordered(Exception):
    """A snapshot turned its table over to stamps: take another one."""


class TableStatus(object):
    """Sync state and counters of one table."""

    def __init__(self):
        self.state = SYNCING
        self.requested = 0.0
        self.started = None
        self.last_applied_wall = None
        self.lag_ms = None
        self.resyncs = 0
        self.reasons = collections.deque(maxlen=5)


class Synchronizer(object):
    """Snapshot + delta-stream synchronisation of a set of tables."""

    def __init__(self, tables, pk_names, snapshot_source, listener=None,
                 gap_timeout=5.0, producer_timeout=30.0,
                 tombstone_ttl=600.0, chunk_rows=5000,
                 retry_interval=1.0, clock=time.monotonic):
        self.source = snapshot_source
        self.on_columns = None
        # on_chunk(table) after each loaded chunk of a snapshot, and
        # on_loaded(table) after a snapshot is loaded (outside the lock).
        self.on_chunk = None
        self.on_loaded = None
        self.chunk_rows = chunk_rows
        self.tombstone_ttl_us = int(tombstone_ttl * 1e6)
        self.retry_interval = retry_interval
        self._clock = clock
        self.lock = threading.RLock()
        pk_names = pk_names or {}
        self.replicas = {
            t: replica_mod.TableReplica(t, pk_names.get(t), listener)
            for t in tables}
        self.status = {t: TableStatus() for t in tables}
        self.tracker = producers.ProducerTracker(gap_timeout,
                                                 producer_timeout, clock)
        self.counts = collections.Counter()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread = None
        now = clock()
        for status in self.status.values():
            status.requested = now

    # -- input --------------------------------------------------------------

    def handle(self, batch):
        """Apply a decoded :class:`.envelope.Batch`."""
        resync = {}
        with self.lock:
            for record in batch.records:
                if record.kind == 'resync':
                    for table in record.tables:
                        if table in self.replicas:
                            resync[table] = 'marker: %s' % record.reason
                    continue
                for change in record.changes:
                    self._apply(change, record, resync)
            self.tracker.observe(batch.producer['id'],
                                 [r.seq for r in batch.records],
                                 batch.last_seq, batch.final,
                                 batch.heartbeat_interval)
        for table, reason in resync.items():
            self.request_resync([table], reason)

    def _apply(self, change, record, resync):
        replica = self.replicas.get(change.table)
        if replica is None:
            self.counts['unknown_table'] += 1
            return
        ts = record.ts
        pk = change.pk
        if replica.pk_names is not None and set(pk) != set(
                replica.pk_names):
            self.counts['discarded'] += 1
            LOG.warning('discarded a change of %s with key %s (expected %s)',
                        change.table, sorted(pk), replica.pk_names)
            return
        try:
            hash(tuple(pk.values()))
        except TypeError:  # e.g. a JSON value: cannot key the replica
            self.counts['discarded'] += 1
            LOG.warning('discarded a change of %s with an unhashable key',
                        change.table)
            return
        row = dict(change.row)
        row.update(pk)
        version = self._version(replica, record.outbox_id, ts, resync)
        outcome = replica.apply(change.op, pk, row, ts, version)
        if outcome == replica_mod.APPLIED:
            status = self.status[change.table]
            status.last_applied_wall = now = time.time()
            status.lag_ms = max(0.0, now * 1e3 - ts / 1e3)
        elif outcome == replica_mod.UNRESOLVABLE:
            resync[change.table] = 'late change below the purge floor'

    def _version(self, replica, outbox_id, ts, resync):
        """The version of a change (or snapshot) of ``replica``."""
        if replica.order is None:
            replica.order = (replica_mod.STAMP if outbox_id is None
                             else replica_mod.OUTBOX)
        if replica.order == replica_mod.STAMP:
            return ts
        if outbox_id is not None:
            return outbox_id
        # Somebody writes the table without the outbox: ids cannot order
        # its changes any more, stamps can.
        replica.reorder(replica_mod.STAMP)
        self.counts['reordered'] += 1
        LOG.warning('%s: a change or snapshot without an outbox id; '
                    'ordering the table by stamps from now on',
                    replica.name)
        resync[replica.name] = 'ordering by stamps'
        return ts

    def discard(self, reason):
        """Count a message deliberately dropped (malformed, unknown)."""
        self.counts['discarded'] += 1
        self.counts['discarded:' + reason] += 1

    def request_resync(self, tables=None, reason='requested'):
        """Schedule a fresh snapshot of ``tables`` (default: all)."""
        now = self._clock()
        with self.lock:
            for table in tables or list(self.status):
                status = self.status[table]
                status.requested = now
                status.reasons.append(reason)
                if status.state == LIVE:
                    status.state = RESYNCING
        LOG.info('resync of %s requested: %s',
                 ', '.join(tables or sorted(self.status)), reason)
        self._wake.set()

    # -- worker ---------------------------------------------------------------

    def start(self):
        self._thread = threading.Thread(target=self._run, daemon=True,
                                        name='publish-tables-sync')
        self._thread.start()

    def stop(self, timeout=10):
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def _due(self):
        with self.lock:
            return [t for t, s in self.status.items()
                    if s.started is None or s.started < s.requested]

    def _run(self):
        while not self._stop.is_set():
            self.tick()
            for table in self._due():
                if self._stop.is_set():
                    return
                try:
                    self.sync_table(table)
                except _SNAPSHOT_ERRORS as exc:
                    self.counts['snapshot_failures'] += 1
                    LOG.warning('snapshot of %s failed: %s; retrying',
                                table, redaction.redact(exc))
                    self._stop.wait(self.retry_interval)
            self._wake.wait(0.2)
            self._wake.clear()

    def tick(self):
        """Periodic checks: lost records, silent producers, tombstones."""
        reasons = self.tracker.check()
        if reasons:
            self.request_resync(None, '; '.join(reasons))
        with self.lock:
            for rep in self.replicas.values():
                if rep.tombstones and rep.last_ts:
                    rep.purge_tombstones(rep.last_ts - self.tombstone_ttl_us)

    def sync_table(self, table):
        """Take a snapshot of ``table`` and load it (blocking)."""
        status = self.status[table]
        replica = self.replicas[table]
        # A failed attempt must leave the table due, or it is never retried.
        previous, status.started = status.started, self._clock()
        try:
            snap = self.source.open(table)
        except BaseException:
            status.started = previous
            raise
        try:
            with self.lock:
                if replica.pk_names is None:
                    replica.pk_names = tuple(snap['pk'])
                replica.snapshot_columns = list(snap['columns'])
                if self.on_columns is not None:
                    self.on_columns(table, snap['columns'])
                resync = {}
                version = self._version(replica, snap.get('outbox_id'),
                                        snap['ts'], resync)
                if resync:  # opened before the switch: take another
                    raise _Reordered()
                replica.begin_load(snap['ts'], version)
            fetch_decoded = getattr(self.source, 'fetch_decoded', None)
            while True:
                if fetch_decoded is not None:  # rows from this process
                    page = fetch_decoded(snap['id'], self.chunk_rows)
                    rows = page['rows']
                else:
                    page = self.source.fetch(snap['id'], self.chunk_rows)
                    rows = [codec.decode_row(r) for r in page['rows']]
                with self.lock:
                    replica.load(rows)
                if self.on_chunk is not None:
                    self.on_chunk(table)
                if page['done'] or not rows:
                    break
        except _Reordered:
            self.source.close(snap['id'])
            self.request_resync([table], 'ordering by stamps')
            return
        except BaseException:
            with self.lock:
                replica.abort_load()
                status.started = previous
            self.source.close(snap['id'])
            raise
        with self.lock:
            replica.end_load()
            if status.requested <= status.started:
                status.state = LIVE
            status.resyncs = replica.counts['snapshots'] - 1
        if self.on_loaded is not None:
            self.on_loaded(table)
        LOG.info('%s loaded from snapshot at %d (fence %.1f ms)', table,
                 snap['ts'], snap.get('fence_ms', 0.0))

    # -- status ---------------------------------------------------------------

    def wait_live(self, timeout=30.0):
        """Block until every table is LIVE; return True if they are."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                if all(s.state == LIVE for s in self.status.values()):
                    return True
            time.sleep(0.01)
        return False

    # -- the public read API: callers never take the lock themselves ----

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

    def snapshots_taken(self, tables):
        """``{table: snapshots loaded so far}`` of ``tables``."""
        with self.lock:
            return {t: self.replicas[t].counts['snapshots'] for t in tables}

    def reloaded(self, before):
        """True if each table of ``before`` reloaded and is LIVE.

        ``before`` is what :meth:`snapshots_taken` gave.
        """
        with self.lock:
            return all(self.replicas[t].counts['snapshots'] > count
                       and self.status[t].state == LIVE
                       for t, count in before.items())

    def counters(self):
        """Producers, gaps and discarded messages, for the API."""
        return {'producers': len(self.tracker), 'gaps': self.tracker.gaps,
                'vanished_producers': self.tracker.vanished,
                'discarded': dict(self.counts)}

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
                watchers = self.replicas[table].watchers
                if watcher in watchers:
                    watchers.remove(watcher)

    def table_status(self, table):
        """Status and counters of one table, for the API."""
        status = self.status[table]
        replica = self.replicas[table]
        return {'state': status.state,
                'rows': len(replica.rows),
                'ordered_by': replica.order,
                'last_applied_ts': replica.last_ts or None,
                'last_applied_at': status.last_applied_wall,
                'lag_ms': status.lag_ms,
                'applied': replica.counts[replica_mod.APPLIED],
                'duplicate': replica.counts[replica_mod.DUPLICATE],
                'late': replica.counts[replica_mod.LATE],
                'unresolvable': replica.counts[replica_mod.UNRESOLVABLE],
                'snapshots': replica.counts['snapshots'],
                'resyncs': status.resyncs,
                'last_resync_reasons': list(status.reasons)}
