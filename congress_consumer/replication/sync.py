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
from oslo_publish_tables import progress as progress_mod
from oslo_publish_tables.protocol import codec
from oslo_publish_tables.protocol import redaction

from congress_consumer.replication import baselines as baselines_mod
from congress_consumer.replication import liveness as liveness_mod
from congress_consumer.replication import plausibility
from congress_consumer.replication import producers
from congress_consumer.replication import ratelimit
from congress_consumer.replication import replica as replica_mod
from congress_consumer.replication import tables_view
from congress_consumer.replication import worker

LOG = logging.getLogger(__name__)

_SNAPSHOT_ERRORS = (pt_exceptions.PublishTablesError,
                    oslo_messaging.MessagingException,
                    sa.exc.SQLAlchemyError, OSError, KeyError, TypeError)

SYNCING = 'SYNCING'
LIVE = 'LIVE'
RESYNCING = 'RESYNCING'
STALE = liveness_mod.STALE  # reported for LIVE tables nobody feeds

# What finds lost records of a table, by what orders it. With the outbox
# the agent relays what a dead process never sent. Without it, losses of
# producers heard at least once are detected (numbers, heartbeats); a
# producer that never reached the broker while the datasource listened
# is not: only comparing replica and database (verification) finds it.
_LOSS_DETECTION = {replica_mod.OUTBOX: 'outbox',
                   replica_mod.STAMP: 'heard_producers',
                   None: 'heard_producers'}

DEFAULT_MIN_RESYNC_INTERVAL = 10.0
# An empty snapshot of a table whose replica has rows is believed only
# once this many snapshots in a row, each opened afresh, were empty.
SUSPECT_CONFIRMATIONS = 3


class _Reordered(Exception):
    """A snapshot turned its table over to stamps: take another one."""


class TableStatus(object):
    """Sync state and counters of one table."""

    def __init__(self):
        self.state = SYNCING
        self.requested = 0.0
        self.started = None
        self.snapshot_at = None  # clock time the loaded snapshot was taken
        self.last_applied_wall = None
        self.loaded_wall = None  # time.time() the last snapshot loaded
        self.lag_ms = None
        self.resyncs = 0
        self.progress = None  # of the last snapshot load
        self.reasons = collections.deque(maxlen=5)
        self.suspect_count = 0  # empty snapshots in a row


class Synchronizer(tables_view.TablesView):
    """Snapshot + delta-stream synchronisation of a set of tables."""

    def __init__(self, tables, pk_names, snapshot_source, listener=None,
                 gap_timeout=5.0, producer_timeout=30.0,
                 tombstone_ttl=600.0, chunk_rows=5000,
                 retry_interval=1.0, clock=time.monotonic,
                 max_clock_skew=plausibility.DEFAULT_MAX_CLOCK_SKEW,
                 min_resync_interval=DEFAULT_MIN_RESYNC_INTERVAL, name=''):
        self.source = snapshot_source
        # Every line names the datasource (see logs.for_datasource).
        self.log = LOG
        self.name = name
        self.bounds = plausibility.Bounds(max_clock_skew)
        # Loss detection resyncs every table: a flood of forged
        # heartbeats must not turn into a flood of full resyncs.
        self.resync_limiter = ratelimit.ResyncLimiter(min_resync_interval,
                                                      clock)
        self.log_limiter = ratelimit.LogLimiter(LOG)
        self.progress_interval = progress_mod.DEFAULT_INTERVAL
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
        self.liveness = liveness_mod.Liveness(self.tracker, producer_timeout,
                                              LOG, clock)
        self.baselines = baselines_mod.Baselines()
        self.counts = collections.Counter()
        self._worker = worker.Worker(self._run, 'publish-tables-sync')
        now = clock()
        for status in self.status.values():
            status.requested = now

    # -- input --------------------------------------------------------------

    def handle(self, batch):
        """Apply a decoded :class:`.envelope.Batch`.

        Never raises: a batch that fails to apply is counted and its
        tables are resynced.
        """
        try:
            self._handle(batch)
        except Exception as exc:  # the listener thread must survive
            self.counts['discarded'] += 1
            self.counts['discarded:apply_error'] += 1
            self.log_limiter.warning(
                'apply error', 'datasource %s: a batch of producer %s '
                'failed to apply (%s: %s); resyncing its tables', self.name,
                ratelimit.safe(batch.producer.get('id'), 64),
                type(exc).__name__, redaction.short_text(exc))
            tables = {t for r in batch.records for t in r.tables
                      if t in self.replicas}
            self._limited_resyncs((t, 'a batch failed to apply')
                                  for t in sorted(tables))

    def _handle(self, batch):
        resync = {}
        with self.lock:
            producer_id = batch.producer['id']
            problem = self.bounds.seq_problem(
                batch, self.tracker.position(producer_id))
            if problem is not None:
                self._implausible(plausibility.SEQ, producer_id, problem)
                return
            for record in batch.records:
                bad = self.bounds.record_problem(record)
                if bad is not None:
                    self._implausible(bad[0], producer_id, bad[1])
                    for table in record.tables:
                        if table in self.replicas:
                            resync[table] = 'implausible %s' % bad[0]
                    continue
                if record.kind == 'resync':
                    for table in record.tables:
                        if table in self.replicas:
                            resync[table] = 'marker: %s' % record.reason
                    continue
                for change in record.changes:
                    self._apply(change, record, resync)
            if self.tracker.position(producer_id) is None:
                self._first_heard(producer_id, batch, resync)
            self.tracker.observe(producer_id,
                                 [r.seq for r in batch.records],
                                 batch.last_seq, batch.final,
                                 batch.heartbeat_interval)
        self._limited_resyncs(resync.items())

    def _first_heard(self, producer_id, batch, resync):
        """A new producer: resync the tables its baseline is not proven for."""
        unproven = self.baselines.first_heard(
            ratelimit.safe(producer_id, 64), batch, self._clock())
        for table, reason in unproven.items():
            resync.setdefault(table, reason)

    def _limited_resyncs(self, requests):
        """Resync for causes from the bus, at most once per interval."""
        limiter = self.resync_limiter
        with self.lock:
            for key, reason in requests:
                limiter.add(key, reason)
            ready = limiter.due()
        for key, reason in ready:
            self.request_resync(None if key is limiter.ALL else [key],
                                reason)

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
            self.log.warning('table %s: discarded a change with key %s '
                             '(expected %s)', change.table, sorted(pk),
                             replica.pk_names)
            return
        try:
            hash(tuple(pk.values()))
        except TypeError:  # e.g. a JSON value: cannot key the replica
            self.counts['discarded'] += 1
            self.log.warning('table %s: discarded a change with an '
                             'unhashable key', change.table)
            return
        row = dict(change.row)
        row.update(pk)
        columns = replica.snapshot_columns
        if columns is not None and change.op != 'delete':
            if not row.keys() <= set(columns):
                self._new_shape(replica, row, resync)
                return
            if len(row) < len(columns):
                self._learn_exclusions(replica, row, resync)
        version = self._version(replica, record.outbox_id, ts, resync)
        outcome = replica.apply(change.op, pk, row, ts, version)
        if outcome == replica_mod.APPLIED:
            status = self.status[change.table]
            status.last_applied_wall = now = time.time()
            status.lag_ms = max(0.0, now * 1e3 - ts / 1e3)
        elif outcome == replica_mod.UNRESOLVABLE:
            resync[change.table] = 'late change below the purge floor'

    def _new_shape(self, replica, row, resync):
        """A change has columns the snapshot had not: a schema change.

        The table is reloaded (schema and rows) instead of mixing two
        shapes in one replica, and is not LIVE until then. (A change
        that lacks columns is taken for the producer's exclusions.)
        """
        new = sorted(set(row) - set(replica.snapshot_columns))
        self.counts['schema_changes'] += 1
        status = self.status[replica.name]
        if status.state == LIVE:  # not LIVE with the old shape meanwhile
            status.state = RESYNCING
        self.log.warning('table %s: a change has columns the snapshot had '
                         'not (%s): reloading the table', replica.name,
                         ', '.join(new))
        resync[replica.name] = 'schema change (new columns %s)' % (
            ', '.join(new))

    def _learn_exclusions(self, replica, row, resync):
        """Leave out the loaded columns a change lacks.

        The producer excludes them (``exclude_columns``, e.g.
        ``instances.user_data``). A source that can (``snapshot_source =
        database``) leaves them out from now on, and the table is
        reloaded without them: a replica never holds what its producer
        does not publish, and its rows have one shape.
        """
        missing = [c for c in replica.snapshot_columns if c not in row]
        exclude = getattr(self.source, 'exclude', None)
        if not missing or exclude is None:
            return
        exclude(replica.name, missing)
        replica.snapshot_columns = [c for c in replica.snapshot_columns
                                    if c not in missing]
        self.counts['excluded_columns'] += len(missing)
        LOG.warning('table %s: the producer does not publish %s, which '
                    'the snapshot source loaded: reloading the table '
                    'without them (set exclude_columns as the producer '
                    'does)', replica.name, ', '.join(missing))
        resync[replica.name] = 'columns the producer excludes'

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
        self.log.warning('table %s: a change or snapshot without an '
                         'outbox id; ordering the table by stamps from '
                         'now on', replica.name)
        resync[replica.name] = 'ordering by stamps'
        return ts

    def _implausible(self, kind, producer_id, problem):
        """Count and log (rate-limited) a rejected record or batch."""
        self.counts['discarded'] += 1
        self.counts['discarded:implausible_' + kind] += 1
        self.log_limiter.warning(
            'implausible ' + kind, 'datasource %s: rejected a message of '
            'producer %s: implausible %s: %s', self.name,
            ratelimit.safe(producer_id, 64), kind, problem)

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
        LOG.info('datasource %s: resync of %s requested: %s', self.name,
                 ', '.join(tables or sorted(self.status)),
                 ratelimit.safe(reason))
        self._worker.wake.set()

    # -- worker ---------------------------------------------------------------

    def start(self):
        """Start the worker; after a :meth:`stop`, start over.

        What was published while stopped was not received: a restarted
        synchroniser takes a fresh snapshot of every table.
        """
        if self._worker.thread is not None:  # restarted
            with self.lock:
                self.tracker.restart()
                self.liveness.restart()
            self.request_resync(None, 'restarted')
        self._worker.start()

    def stop(self, timeout=10):
        self._worker.stop(timeout)

    def _due(self):
        with self.lock:
            return [t for t, s in self.status.items()
                    if s.started is None or s.started < s.requested]

    def _run(self):
        while not self._worker.stopping.is_set():
            try:
                self.tick()
            except Exception as exc:  # the worker must outlive any input
                self._worker_error('checks', exc)
            for table in self._due():
                if self._worker.stopping.is_set():
                    return
                try:
                    self.sync_table(table)
                except _SNAPSHOT_ERRORS as exc:
                    self.counts['snapshot_failures'] += 1
                    self.log_limiter.warning(
                        'snapshot failed: ' + table, 'datasource %s: '
                        'table %s: snapshot failed: %s; retrying',
                        self.name, table, redaction.redact(exc))
                    self._worker.stopping.wait(self.retry_interval)
                except Exception as exc:  # e.g. a value that cannot compare
                    self.counts['snapshot_failures'] += 1
                    self._worker_error('snapshot of ' + table, exc)
            self._worker.wake.wait(0.2)
            self._worker.wake.clear()

    def _worker_error(self, what, exc):
        """Count and report an unexpected error; the worker goes on."""
        self.counts['worker_errors'] += 1
        self.log_limiter.warning(
            'worker: ' + what, 'datasource %s: %s failed unexpectedly '
            '(%s: %s); retrying', self.name, what, type(exc).__name__,
            redaction.short_text(redaction.redact(exc)))
        self._worker.stopping.wait(self.retry_interval)

    def tick(self):
        """Periodic checks: lost records, silent producers, tombstones."""
        reasons = self.tracker.check()
        self.liveness.check()
        self._limited_resyncs(
            [(ratelimit.ResyncLimiter.ALL, '; '.join(reasons))]
            if reasons else [])
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
        with self.lock:
            replica.opening()
        try:
            snap = self.source.open(table)
        except BaseException:
            with self.lock:
                replica.abort_load()
            status.started = previous
            raise
        try:
            self._begin_load(table, replica, status, snap)
            self._load_pages(table, replica, status, snap)
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
        self._end_load(table, replica, status, snap, previous)

    def _begin_load(self, table, replica, status, snap):
        """Check an opened snapshot and start loading it (or raise)."""
        problem = self.bounds.snapshot_problem(snap)
        if problem is not None:
            raise pt_exceptions.SnapshotError(
                'implausible snapshot of %s: %s' % (table, problem))
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
            unproven = self.baselines.fenced(
                table, snap['ts'], version if replica.order ==
                replica_mod.OUTBOX else None, status.started)
            if unproven is not None:  # loaded, then taken again
                self._limited_resyncs([(table, unproven)])
            status.progress = self._progress(table, snap)

    def _load_pages(self, table, replica, status, snap):
        """Fetch and load every page of an opened snapshot."""
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
            status.progress.advance(len(rows))
            if self.on_chunk is not None:
                self.on_chunk(table)
            if page['done'] or not rows:
                break

    def _end_load(self, table, replica, status, snap, previous):
        """Believe the loaded snapshot (the table goes LIVE) or reject it."""
        status.progress.finish()
        with self.lock:
            if self._suspect(table, replica, status):
                replica.abort_load()
                status.started = previous
                suspect = True
            else:
                replica.end_load()
                suspect = False
        if suspect:
            self.source.close(snap['id'])
            raise pt_exceptions.SnapshotError(
                'suspect snapshot of %s: no rows, while the replica has '
                'rows no change deleted; not loaded (%d/%d)' % (
                    table, status.suspect_count, SUSPECT_CONFIRMATIONS))
        with self.lock:
            if status.requested <= status.started:
                status.state = LIVE
            status.snapshot_at = status.started
            status.loaded_wall = time.time()
            status.resyncs = replica.counts['snapshots'] - 1
        if self.on_loaded is not None:
            self.on_loaded(table)
        self.log.info('table %s loaded from snapshot at %d (fence %.1f ms)',
                      table, snap['ts'], snap.get('fence_ms', 0.0))

    def _suspect(self, table, replica, status):
        """True if the loaded snapshot must not replace the replica yet.

        A snapshot with no rows that would sweep live rows away (no delete
        reached the consumer) comes from a broken or rogue server as
        likely as from a table emptied by a statement the capture could
        not see. It is believed only once :data:`SUSPECT_CONFIRMATIONS`
        snapshots in a row were empty; meanwhile the table stays
        RESYNCING, ``suspect_snapshots`` counts them and it is logged.
        """
        if replica.loading_rows or not replica.doomed():
            status.suspect_count = 0
            return False
        status.suspect_count += 1
        if status.suspect_count >= SUSPECT_CONFIRMATIONS:
            LOG.warning('datasource %s: %s is empty in %d snapshots in a '
                        'row: emptying its replica', self.name, table,
                        status.suspect_count)
            status.suspect_count = 0
            return False
        self.counts['suspect_snapshots'] += 1
        return True

    def _progress(self, table, snap):
        return progress_mod.Progress(
            'datasource %s: table %s: snapshot' % (self.name, table),
            total=snap.get('rows_estimate'), clock=self._clock,
            interval=self.progress_interval)

    # -- status ---------------------------------------------------------------

    def wait_live(self, timeout=30.0):
        """Block until every table is LIVE; return True if they are."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                if all(self.state_of(t) == LIVE for t in self.status):
                    return True
            time.sleep(0.01)
        return False

    def state_of(self, table):
        """The table's state; STALE for a LIVE table nobody feeds."""
        state = self.status[table].state
        if state == LIVE and self.liveness.is_stale():
            return STALE
        return state

    # -- the public read API, beside TablesView's: callers never
    # take the lock themselves ----

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

    def updates(self):
        """``(changes applied + snapshots loaded, last time.time() of one)``.

        Congress's ``number_of_updates`` and ``last_updated``.
        """
        with self.lock:
            count = sum(r.counts[replica_mod.APPLIED] + r.counts['snapshots']
                        for r in self.replicas.values())
            times = [w for s in self.status.values()
                     for w in (s.last_applied_wall, s.loaded_wall)
                     if w is not None]
        return count, max(times) if times else None

    def counters(self):
        """Producers, gaps and discarded messages, for the API."""
        return {'producers': len(self.tracker),
                'producers_seen': self.tracker.seen,
                'stale': self.liveness.is_stale(),
                'gaps': self.tracker.gaps,
                'vanished_producers': self.tracker.vanished,
                'unproven_baselines': self.baselines.unproven,
                'discarded': dict(self.counts)}

    def table_status(self, table):
        """Status and counters of one table, for the API."""
        status = self.status[table]
        replica = self.replicas[table]
        result = {'state': self.state_of(table),
                  'rows': len(replica.rows),
                  'ordered_by': replica.order,
                  'loss_detection': _LOSS_DETECTION[replica.order],
                  'last_applied_ts': replica.last_ts or None,
                  'last_applied_at': status.last_applied_wall,
                  'lag_ms': status.lag_ms,
                  'applied': replica.counts[replica_mod.APPLIED],
                  'duplicate': replica.counts[replica_mod.DUPLICATE],
                  'late': replica.counts[replica_mod.LATE],
                  'unresolvable': replica.counts[replica_mod.UNRESOLVABLE],
                  'snapshots': replica.counts['snapshots'],
                  'resyncs': status.resyncs,
                  'last_resync_reasons': list(status.reasons),
                  'snapshot_progress': (None if status.progress is None
                                        else status.progress.as_dict())}
        result.update(self.liveness.table(status.state == LIVE,
                                          status.snapshot_at))
        return result
