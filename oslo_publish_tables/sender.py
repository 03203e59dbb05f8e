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

"""The background sender: one per process, shared by every engine.

The committing thread only calls :meth:`Sender.submit`, which numbers the
record and appends it to a bounded in-memory spool (microseconds, no I/O).
A background thread takes everything waiting, packs it into as few
notifications as ``max_batch_changes`` allows and sends them (with
``min_send_interval``, at most one per interval unless it is full, so
that commits arriving meanwhile share a notification); a failed
send is retried with backoff and nothing is dropped until the spool is
full. Records that overflow the spool are dropped but keep their
sequence numbers, so consumers see a gap and resync; the count is logged
once per ``heartbeat_interval``. When idle the thread sends heartbeats
carrying the last sequence number; a clean shutdown flushes and says
goodbye (unless ``goodbye`` is False: a relay, whose source goes on
changing after it stops, must not tell its consumers that nothing will
change, so they see its silence instead; and a relay given ``vouch``
heartbeats only while ``vouch()`` is true, so that its consumers do
not stay LIVE on a source that is not). In durable mode
(:mod:`oslo_publish_tables.outbox`) a record whose every part the
transport accepted has its outbox row deleted, in batches, by the same
background thread. It uses :mod:`threading`
only, so it runs on native threads and, in an eventlet-monkeypatched
process, on green threads.
"""

import atexit
import collections
import logging
import os
import socket
import threading
import time
import uuid

from oslo_db import exception as db_exc
from sqlalchemy import exc as sa_exc

from oslo_publish_tables.capture import clock
from oslo_publish_tables.protocol import compression as compression_mod
from oslo_publish_tables.protocol import envelope
from oslo_publish_tables import transport as transport_mod

LOG = logging.getLogger(__name__)
GROUP = 'publish_tables'
_DATABASE_ERRORS = (sa_exc.SQLAlchemyError, db_exc.DBError)
_QUEUED_RETRY = 0.1  # seconds between attempts to delete queued rows
_FIRST_WAIT = 0.05  # seconds before the first heartbeat (see _run)


def producer_identity():
    """A new identity: random id plus host, pid and start time."""
    return {'id': uuid.uuid4().hex, 'host': socket.gethostname(),
            'pid': os.getpid(), 'started': clock.local_now()}


class Sender(object):
    """Numbers records and publishes them in the background."""

    def __init__(self, transport, max_batch_changes=1000,
                 spool_size=100000, heartbeat_interval=10.0,
                 max_retry_interval=30.0, shutdown_timeout=5.0,
                 min_send_interval=0.0, signer=None, compression=None,
                 goodbye=True, vouch=None):
        self.transport = transport
        self.goodbye = goodbye
        # A relay heartbeats only while its own source is live: vouch()
        # False withholds them, and consumers then see it go stale.
        self.vouch = vouch
        # compression.ZLIB: compressed bodies (format 1.2); else plain.
        self.compress = compression == compression_mod.ZLIB
        self.min_send_interval = min_send_interval
        self.signer = signer  # a signing.Signer, or None: unsigned
        self.max_batch_changes = max_batch_changes
        self.spool_size = spool_size
        self.heartbeat_interval = heartbeat_interval
        self.max_retry_interval = max_retry_interval
        self.shutdown_timeout = shutdown_timeout
        self._cond = threading.Condition()
        self._reset()
        if hasattr(os, 'register_at_fork'):
            os.register_at_fork(after_in_child=self._reset)

    def _reset(self):
        """(Re)initialise; a forked child is a new producer.

        The child must not share its parent's identity or numbers.
        """
        self._cond = threading.Condition()
        self.identity = producer_identity()
        self._introduced = False  # a batch with the full identity went
        self._seq = 0
        # The highest stamp and outbox id of the records numbered.
        self._high = (0, 0)
        self._spool = collections.deque()
        self._inflight = 0
        self._thread = None
        self._stopping = False
        self._dropped = 0
        self._dropped_logged = 0.0
        self._published = []  # durable records sent, rows not deleted yet
        self._queued = set()  # outbox stores still holding ids to delete
        self.stats = collections.Counter()

    @property
    def last_seq(self):
        return self._seq

    # -- commit path ------------------------------------------------------

    def submit(self, draft):
        """Number ``draft``'s records and queue them (never blocks)."""
        parts = _split(draft, self.max_batch_changes)
        with self._cond:
            for index, changes in enumerate(parts):
                self._seq += 1
                # The highest stamp and outbox id of the records numbered
                # before this one (ts_before, outbox_before: see
                # message-format).
                before = self._high
                self._high = (max(before[0], draft.ts), max(
                    before[1], getattr(draft, 'outbox_id', None) or 0))
                # Records being sent count: they are still held.
                if len(self._spool) + self._inflight >= self.spool_size:
                    self._dropped += 1
                    self.stats['dropped'] += 1
                    if getattr(draft, 'outbox', None) is not None:
                        draft.keep = True  # the relay will publish it
                    continue
                self._spool.append((self._seq, draft, changes, index,
                                    len(parts), before))
            self._cond.notify()
            if self._thread is None and not self._stopping:
                self._start()

    def start(self):
        """Start sending now, not at the first record (idempotent).

        The first heartbeat announces the producer, so that consumers
        count it (and are not STALE) before the service's first write.
        A forked child starts again at its first record.
        """
        with self._cond:
            if self._thread is None and not self._stopping:
                self._start()

    def _start(self):
        self._thread = threading.Thread(target=self._run,
                                        name='publish-tables-sender',
                                        daemon=True)
        self._thread.start()
        atexit.register(self.stop)

    # -- background thread --------------------------------------------------

    def _take(self):
        """Pop records for one notification (caller holds the lock)."""
        taken, changes = [], 0
        while self._spool:
            entry = self._spool[0]
            size = max(len(entry[2]), 1)
            if taken and changes + size > self.max_batch_changes:
                break
            self._spool.popleft()
            taken.append(entry)
            changes += size
        return taken

    def _run(self):
        backoff = 0.0
        # The first turn heartbeats: it announces this producer to
        # consumers before its first record (see :meth:`start`); after
        # _FIRST_WAIT or at the first record (which carries the
        # announcement too), not at once: loading the transport and
        # sending take the GIL from the service thread that started us,
        # in the middle of its first connection.
        last_sent = time.monotonic() - self.heartbeat_interval
        idle_wait = _FIRST_WAIT
        while True:
            with self._cond:
                if not self._spool and not self._stopping:
                    # SQLite: ids queued for deletion, try again soon.
                    self._cond.wait(_QUEUED_RETRY if self._queued
                                    else idle_wait)
                idle_wait = self.heartbeat_interval
                if self._stopping and not self._spool:
                    return
                self._pace(last_sent)
                taken = self._take()
                self._inflight = len(taken)
                last_seq, high = self._seq, self._high
            self._log_drops()
            try:
                if taken:
                    self._send(envelope.EVENT_BATCH, taken, last_seq)
                elif (time.monotonic() - last_sent >= self.heartbeat_interval
                      and self._vouched()):
                    self._send(envelope.EVENT_HEARTBEAT, [], last_seq, high)
                else:
                    self._prune()  # rows a database error kept
                    continue
            except transport_mod.SendError as exc:
                with self._cond:
                    self._spool.extendleft(reversed(taken))
                    self._inflight = 0
                backoff = min(max(backoff * 2, 0.05),
                              self.max_retry_interval)
                self.stats['send_failures'] += 1
                LOG.warning('publish_tables: send failed (%s); %d records '
                            'waiting, retrying in %.2fs', exc,
                            len(self._spool), backoff)
                with self._cond:
                    self._cond.wait_for(lambda: self._stopping, backoff)
                    if self._stopping:
                        return
                continue
            with self._cond:
                self._inflight = 0
            backoff = 0.0
            last_sent = time.monotonic()
            self._confirm(taken)
            self._prune()

    def _pace(self, last_sent):
        """Gather commits until ``min_send_interval`` after the last send.

        A full notification goes at once. The caller holds the lock.
        """
        until = last_sent + self.min_send_interval
        if self._spool and time.monotonic() < until:
            self._cond.wait_for(
                lambda: (self._stopping or time.monotonic() >= until
                         or self._batch_full()),
                until - time.monotonic())

    def _batch_full(self):
        changes = 0
        for record in self._spool:
            changes += max(len(record[2]), 1)
            if changes >= self.max_batch_changes:
                return True
        return False

    def payload(self, event_type, records, last_seq, final=False,
                before=(0, 0)):
        """The payload that carries ``records``, as it is sent.

        The full identity travels in heartbeats, in the goodbye and in
        batches until one of them went out; other batches carry only the
        producer's ``id``, all a consumer needs. ``before``: the highest
        stamp and outbox id of the records numbered before the first of
        ``records`` (all up to ``last_seq`` if there are none).
        """
        full = event_type != envelope.EVENT_BATCH or not self._introduced
        producer = self.identity if full else {'id': self.identity['id']}
        payload = envelope.batch(producer, last_seq, records,
                                 self.heartbeat_interval, final=final,
                                 ts_before=before[0],
                                 outbox_before=before[1] or None)
        if self.compress:
            payload = envelope.compress(payload)
        if self.signer is not None:  # signs what is sent
            payload = self.signer.sign(payload)
        return payload

    def _send(self, event_type, taken, last_seq, high=(0, 0), final=False):
        """Send ``taken`` spool entries (``high``: see :meth:`payload`)."""
        records = [_wire(*entry[:5]) for entry in taken]
        before = taken[0][5] if taken else high
        self.transport.send(event_type, self.payload(
            event_type, records, last_seq, final=final, before=before))
        if event_type == envelope.EVENT_BATCH:
            self._introduced = True
        self.stats['notifications'] += 1
        self.stats['records'] += len(records)

    # -- durable mode: delete the outbox rows of published records --------

    def _confirm(self, taken):
        for _, draft, _, index, count, _ in taken:
            if getattr(draft, 'outbox', None) is None:
                continue  # direct mode
            if index == count - 1 and not draft.keep:
                self._published.append(draft)

    def _prune(self):
        """Delete the outbox rows of published records, per database.

        A database error keeps them for the next round; beyond
        ``spool_size`` waiting rows the oldest are left to the relay,
        which publishes them again (consumers absorb the duplicate).
        """
        if not self._published and not self._queued:
            return
        by_store = collections.defaultdict(list)
        for store in self._queued:  # SQLite: ids queued in the store
            by_store[store] = []
        for draft in self._published:
            by_store[draft.outbox].append(draft)
        kept = []
        self._queued = set()
        for store, drafts in by_store.items():
            try:
                if store.delete([d.outbox_id for d in drafts]):
                    self._queued.add(store)
            except _DATABASE_ERRORS as exc:
                kept.extend(drafts)
                self.stats['outbox_delete_failures'] += 1
                LOG.warning('publish_tables: cannot delete %d published '
                            'outbox rows (%s); retrying later',
                            len(drafts), exc)
            else:
                self.stats['outbox_deleted'] += len(drafts)
        self._published = kept[-self.spool_size:]

    def _vouched(self):
        """False if a relay's source is not live (see ``vouch``)."""
        if self.vouch is None:
            return True
        try:
            return bool(self.vouch())
        except Exception:  # the sender thread must outlive a bad callback
            LOG.exception('publish_tables: vouch callback failed; no '
                          'heartbeat')
            return False

    def _log_drops(self):
        if self._dropped and (time.monotonic() - self._dropped_logged
                              >= self.heartbeat_interval):
            LOG.error('publish_tables: spool full (%d records); dropped %d '
                      'records, consumers will see a gap and resync',
                      self.spool_size, self._dropped)
            self._dropped = 0
            self._dropped_logged = time.monotonic()

    # -- shutdown -----------------------------------------------------------

    def flush(self, timeout=None):
        """Wait until every record is sent; return True if it was."""
        deadline = time.monotonic() + (timeout or self.shutdown_timeout)
        while time.monotonic() < deadline:
            with self._cond:
                if not self._spool and not self._inflight:
                    return True
                self._cond.notify()
            time.sleep(0.005)
        return False

    def stop(self):
        """Flush, say goodbye and stop the thread (idempotent)."""
        atexit.unregister(self.stop)
        thread = self._thread
        if thread is None:
            return
        flushed = self.flush(self.shutdown_timeout)
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
            unsent = len(self._spool) + self._inflight
        if not flushed:
            LOG.warning('publish_tables: stopping with %d records not sent '
                        'in %.0fs (tables: %s); no goodbye: consumers will '
                        'resync when they find this producer silent', unsent,
                        self.shutdown_timeout, _tables_of(list(self._spool)))
        thread.join(self.shutdown_timeout)
        self._thread = None
        if not thread.is_alive():
            self._prune()  # never while the thread may still prune
        if flushed and self.goodbye:
            try:
                self._send(envelope.EVENT_GOODBYE, [], self._seq, self._high,
                           final=True)
            except transport_mod.SendError as exc:
                LOG.warning('publish_tables: goodbye not sent: %s', exc)
        self._stopping = False


def _tables_of(entries):
    """The tables the spool ``entries`` change or resync, sorted."""
    tables = set()
    for entry in entries:
        draft, part = entry[1], entry[2]
        tables.update(getattr(draft, 'tables', None) or ())
        tables.update(change.table for change in part)
    return ', '.join(sorted(tables)) or '-'


def _split(draft, size):
    if draft.kind != 'txn' or len(draft.changes) <= size:
        return [draft.changes]
    changes = list(draft.changes)
    return [changes[i:i + size] for i in range(0, len(changes), size)]


def _wire(seq, draft, part, index, count):
    if draft.kind == 'resync':
        record = envelope.resync_record(seq, draft.ts, draft.tables,
                                        draft.reason)
    else:
        record = envelope.txn_record(seq, draft.ts, draft.txn, part, index,
                                     count)
    outbox_id = getattr(draft, 'outbox_id', None)
    if outbox_id is not None:  # durable mode: see message-format
        record['outbox_id'] = outbox_id
    return record
