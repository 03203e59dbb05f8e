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

"""Verified replicas: prove a replica equals its table, repair what differs.

A :class:`Verifier` checks every ``LIVE`` table of one datasource every
``interval`` seconds (and when asked): the snapshot source takes a fenced
snapshot at version ``V`` (its stamp, or outbox mark for a table ordered
by outbox ids) and digests its rows in chunks of keys
(:mod:`oslo_publish_tables.protocol.checksum`); only ``[count, sum]``
per chunk crosses the bus. Right after the fence, the verifier copies
the replica's rows and versions and digests, per chunk, the rows whose
version is ``<= V``: the replica's view of the same position. A chunk
holding a key of version ``> V`` (changed since the fence) cannot be
compared this round and is *unsettled*. Any other chunk whose digests
differ is a *mismatch*, and is repaired: a fresh fenced snapshot of just
those chunks, applied with the replica's version rules like any snapshot
(:meth:`~.replica.TableReplica.load_part`). Rows the repair really
changes are counted (added, changed, removed) and logged; a mismatch
that a delta still in flight healed meanwhile changes nothing. See
doc/source/reference/sync-protocol.rst for the argument and the cost.

``rows_per_second`` bounds the rows the snapshot source reads for a
verification (0: no bound).
"""

import dataclasses
import itertools
import logging
import math
import operator
import threading
import time

import oslo_messaging
import sqlalchemy as sa

from oslo_publish_tables import exceptions as pt_exceptions
from oslo_publish_tables.protocol import checksum
from oslo_publish_tables.protocol import codec
from oslo_publish_tables.protocol import redaction

from congress_consumer import exceptions
from congress_consumer import opts
from congress_consumer.replication import replica as replica_mod
from congress_consumer.replication import sync
from congress_consumer.replication import worker

LOG = logging.getLogger(__name__)

_ERRORS = (pt_exceptions.PublishTablesError,
           oslo_messaging.MessagingException, sa.exc.SQLAlchemyError,
           OSError, KeyError, TypeError, ValueError)

SLICE_ROWS = 5000

# Driver argument: (VerifyPace field, type, least value); the defaults
# are the datasource options' (congress_consumer.opts).
ARGS = {
    'verify_interval': ('interval', float, 0),
    'verify_rows_per_second': ('rows_per_second', float, 0),
    'verify_chunk_rows': ('chunk_rows', int, 1),
}


def _values_getter(columns, snapshot_columns):
    """Replica tuple -> its values of ``snapshot_columns``, sorted."""
    index = {name: i for i, name in enumerate(columns)}
    at = [index.get(name) for name in sorted(snapshot_columns)]
    if None not in at and len(at) > 1:
        return operator.itemgetter(*at)
    missing = replica_mod._MISSING  # a column the replica never had
    return lambda values: [missing if i is None else values[i] for i in at]


class _Background(object):
    """``function(*args)`` in a thread of its own; :meth:`result` waits."""

    def __init__(self, function, *args):
        self._outcome = None
        self._thread = threading.Thread(
            target=self._run, args=(function, args), daemon=True,
            name='publish-tables-verify-digest')
        self._thread.start()

    def _run(self, function, args):
        try:
            self._outcome = (True, function(*args))
        except BaseException as exc:  # handed to the caller
            self._outcome = (False, exc)

    def result(self):
        self._thread.join()
        ok, value = self._outcome
        if not ok:
            raise value
        return value


class Unverifiable(Exception):
    """This table cannot be verified now; the message says why."""


class TableVerification(object):
    """What verification found for one table, for the status."""

    def __init__(self):
        self.verifications = 0
        self.last_position = None
        self.last_verified_at = None
        self.last_duration = None
        self.chunks_checked = 0
        self.chunks_unsettled = 0
        self.mismatches = 0
        self.repaired_chunks = 0
        self.rows_added = 0
        self.rows_changed = 0
        self.rows_removed = 0
        self.unverifiable = None

    def as_dict(self):
        return dict(vars(self))


@dataclasses.dataclass(frozen=True)
class VerifyPace(object):
    """How often and how fast a :class:`Verifier` works.

    The defaults are the datasource options' (:data:`ARGS`); ``settle``
    is ``gap_timeout``: deltas may take that long to arrive.
    """

    interval: float = opts.DATASOURCE_DEFAULTS['verify_interval']
    rows_per_second: float = opts.DATASOURCE_DEFAULTS[
        'verify_rows_per_second']
    chunk_rows: int = opts.DATASOURCE_DEFAULTS['verify_chunk_rows']
    settle: float = opts.DATASOURCE_DEFAULTS['gap_timeout']

    @classmethod
    def from_args(cls, args):
        """The pace a driver's ``args`` ask for (see :data:`ARGS`)."""
        values = {}
        for arg, (name, kind, least) in ARGS.items():
            raw = args.get(arg, opts.DATASOURCE_DEFAULTS[arg])
            try:
                value = kind(raw)
            except (TypeError, ValueError):
                value = None
            if value is None or value < least:
                raise exceptions.InvalidParamError(
                    param=arg, reason='expected a number of at least %s, '
                    'got %r' % (least, raw))
            values[name] = value
        settle = float(args.get('gap_timeout',
                                opts.DATASOURCE_DEFAULTS['gap_timeout']))
        return cls(settle=settle, **values)


class Verifier(object):
    """Periodic and on-demand verification of a synchronizer's tables."""

    def __init__(self, synchronizer, source, datasource='',
                 pace=VerifyPace(), clock=time.monotonic):
        self.sync = synchronizer
        self.source = source
        self.datasource = datasource
        self.pace = pace
        self._clock = clock
        self.status = {t: TableVerification() for t in synchronizer.status}
        self._running = threading.Lock()
        self._worker = worker.Worker(self._run, 'publish-tables-verify')
        self.lock_seconds = 0.0  # the replica copy of the last verification

    @classmethod
    def from_args(cls, synchronizer, source, datasource, args):
        """A verifier configured by a driver's ``args`` (see ARGS)."""
        return cls(synchronizer, source, datasource,
                   VerifyPace.from_args(args))

    # -- running ------------------------------------------------------------

    def start(self):
        self._worker.start()

    def stop(self, timeout=10):
        self._worker.stop(timeout)

    def request(self):
        """Verify every table soon, in the background."""
        self._worker.wake.set()

    def _run(self):
        while not self._worker.stopping.is_set():
            if self.pace.interval:
                self._worker.wake.wait(self.pace.interval)
            else:
                self._worker.wake.wait()
            self._worker.wake.clear()
            if self._worker.stopping.is_set():
                return
            try:
                self.verify()
            except Exception:  # never let the periodic check die silently
                LOG.exception('%s: verification failed', self.datasource)

    def verify(self, tables=None):
        """Verify ``tables`` (default: all) now; return their results."""
        with self._running:
            return {table: self.verify_table(table)
                    for table in tables or sorted(self.status)}

    def table_status(self, table):
        return self.status[table].as_dict()

    # -- one table ------------------------------------------------------------

    def verify_table(self, table):
        """Verify one table and repair it; return what was found."""
        status = self.status[table]
        started = self._clock()
        try:
            found = self._verify(table)
        except Unverifiable as exc:
            status.unverifiable = str(exc)
            LOG.info('%s: table %s not verified: %s', self.datasource,
                     table, exc)
            return {'verified': False, 'reason': str(exc)}
        except _ERRORS as exc:
            status.unverifiable = 'failed: %s' % redaction.redact(exc)
            LOG.warning('%s: verification of table %s failed: %s',
                        self.datasource, table, redaction.redact(exc))
            return {'verified': False, 'reason': status.unverifiable}
        status.unverifiable = None
        status.verifications += 1
        status.last_position = found['position']
        status.last_verified_at = time.time()
        status.last_duration = self._clock() - started
        status.chunks_checked += found['chunks_checked']
        status.chunks_unsettled += found['chunks_unsettled']
        status.mismatches += len(found['mismatched'])
        for repair in found['repairs']:
            if any(repair[k] for k in ('added', 'changed', 'removed')):
                status.repaired_chunks += 1
            status.rows_added += repair['added']
            status.rows_changed += repair['changed']
            status.rows_removed += repair['removed']
        found['verified'] = True
        return found

    def _verify(self, table):
        with self.sync.lock:
            state = self.sync.status[table].state
            replica = self.sync.replicas[table]
            size = len(replica.rows)
        if state != sync.LIVE:
            raise Unverifiable('the table is %s, not LIVE' % state)
        if not hasattr(self.source, 'open_checksum'):
            raise Unverifiable('its snapshot source cannot compute '
                               'checksums')
        chunks = max(1, math.ceil(size / self.pace.chunk_rows))
        try:
            opened = self.source.open_checksum(table, chunks)
        except oslo_messaging.MessagingException as exc:
            raise Unverifiable('the snapshot service cannot compute '
                               'checksums (publish-tables-agent older '
                               'than RPC version 1.1?): %s'
                               % redaction.redact(exc)) from None
        try:
            mark = self._mark(replica, opened)
            copy = self._copy(replica)
            # The replica is hashed while the source hashes the table.
            mine = _Background(self._replica_digests, copy, opened['columns'],
                               chunks, mark)
            theirs = self._drive(opened)
            ours, keys, unsettled = mine.result()
        except BaseException:
            self.source.close(opened['id'])
            raise
        mismatched = [c for c in checksum.differing(ours, theirs)
                      if c not in unsettled]
        repairs = []
        if mismatched:
            repairs = self._repair(table, replica, chunks, mismatched,
                                   keys)
        return {'position': mark, 'chunks': chunks,
                'lock_ms': self.lock_seconds * 1e3,
                'chunks_checked': chunks - len(unsettled),
                'chunks_unsettled': len(unsettled),
                'mismatched': mismatched, 'repairs': repairs}

    @staticmethod
    def _mark(replica, opened):
        """The version of ``opened`` in the replica's order."""
        if replica.order == replica_mod.OUTBOX:
            if opened.get('outbox_id') is None:
                raise Unverifiable('the table is ordered by outbox ids and '
                                   'the snapshot states no outbox mark')
            return opened['outbox_id']
        return opened['ts']

    def _copy(self, replica):
        """The replica's rows, versions and columns, copied at once."""
        with self.sync.lock:
            started = self._clock()
            copy = (dict(replica._rows), dict(replica.versions),
                    replica.columns)
            self.lock_seconds = self._clock() - started
        return copy

    @staticmethod
    def _replica_digests(copy, snapshot_columns, chunks, mark):
        """The digests of a replica's ``copy`` at ``mark``.

        Returns the digests, the chunk of every key, and the chunks that
        hold a key changed after ``mark`` (unsettled).
        """
        rows, versions, columns = copy
        values_of = _values_getter(columns, snapshot_columns)
        digests = checksum.Digests(chunks)
        keys, unsettled = {}, set()
        chunk_of, add = checksum.chunk_of, digests.add
        for key, version in versions.items():
            chunk = keys[key] = chunk_of(key, chunks)
            if version > mark:
                unsettled.add(chunk)
                continue
            values = rows.get(key)
            if values is not None:
                add(chunk, values_of(values))
        for key, values in rows.items():
            if key not in versions:  # no version: behind the driver's back
                chunk = keys[key] = chunk_of(key, chunks)
                add(chunk, values_of(values))
        return digests.as_list(), keys, unsettled

    def _throttle(self, started, rows):
        pace = self.pace.rows_per_second
        if pace:
            ahead = rows / pace - (self._clock() - started)
            if ahead > 0:
                self._worker.stopping.wait(ahead)
        if self._worker.stopping.is_set():
            raise pt_exceptions.SnapshotError('the consumer is stopping')

    def _slice(self):
        if self.pace.rows_per_second:
            return max(1, min(SLICE_ROWS, int(self.pace.rows_per_second)))
        return SLICE_ROWS

    def _drive(self, opened):
        """Have the source digest every row, within the rate limit."""
        started, rows = self._clock(), 0
        while True:
            page = self.source.checksum(opened['id'], self._slice())
            rows += page['rows']
            if page['done']:
                return page['digests']
            self._throttle(started, rows)

    def _fetch_rows(self, snap):
        started, rows = self._clock(), []
        fetch_decoded = getattr(self.source, 'fetch_decoded', None)
        while True:
            if fetch_decoded is not None:
                page = fetch_decoded(snap['id'], self._slice())
                chunk = page['rows']
            else:
                page = self.source.fetch(snap['id'], self._slice())
                chunk = [codec.decode_row(r) for r in page['rows']]
            rows.extend(chunk)
            if page['done'] or not chunk:
                return rows
            self._throttle(started, len(rows))

    def _repair(self, table, replica, chunks, mismatched, keys):
        """Reload the mismatched chunks from a fresh fenced snapshot."""
        snap = self.source.open_chunks(table, chunks, mismatched)
        try:
            mark = self._mark(replica, snap)
            rows = self._fetch_rows(snap)
        except BaseException:
            self.source.close(snap['id'])
            raise
        # Deltas committed before the fence may still be on their way;
        # the version rules make the repair right either way, waiting
        # only keeps them from being counted as repairs.
        self._worker.stopping.wait(self.pace.settle)
        by_chunk = {c: [] for c in mismatched}
        for row in rows:
            by_chunk[checksum.chunk_of(replica.key(row), chunks)].append(row)
        repairs = []
        with self.sync.lock:
            members = {c: [] for c in mismatched}
            for key in dict.fromkeys(itertools.chain(replica.versions,
                                                     replica._rows)):
                chunk = keys.get(key)
                if chunk is None:
                    chunk = keys[key] = checksum.chunk_of(key, chunks)
                if chunk in members:
                    members[chunk].append(key)
            for chunk in mismatched:
                added, changed, removed = replica.load_part(
                    members[chunk], by_chunk[chunk], snap['ts'], mark)
                repairs.append({'chunk': chunk, 'added': added,
                                'changed': changed, 'removed': removed})
        for repair in repairs:
            self._log_repair(table, chunks, mark, repair)
        return repairs

    def _log_repair(self, table, chunks, mark, repair):
        if any(repair[k] for k in ('added', 'changed', 'removed')):
            LOG.warning('%s: table %s: chunk %d/%d differed from the source '
                        'at %s; repaired: %d row(s) added, %d changed, %d '
                        'removed', self.datasource, table, repair['chunk'],
                        chunks, mark, repair['added'], repair['changed'],
                        repair['removed'])
        else:
            LOG.info('%s: table %s: chunk %d/%d differed at %s and agreed '
                     'on re-reading (a change was still on its way)',
                     self.datasource, table, repair['chunk'], chunks, mark)
