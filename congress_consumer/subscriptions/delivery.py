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

"""Deliver the changes of replicated tables to filtered subscribers.

:class:`FilteredPublisher` watches the replicas of the consumer's
datasources (the replica watchers, called under the synchroniser's lock)
and, for each subscription of the changed table whose filters match the
row before or after the change, queues one notification for the
subscriber's own topic. A background thread sends them through
:class:`oslo_publish_tables.transport.NotificationTransport` (priority
``info``, so on ``<subscriber_topic>.info``), in order, retrying a
failed send with backoff. A table nobody subscribed to costs one dict
lookup per change. Notifications still queued when their subscription
is deleted are not sent.

Notifications (rows are encoded with
:mod:`oslo_publish_tables.protocol.codec`):

``congress_consumer.subscription.delta``
    ``{"subscriber_id", "datasource", "table", "epoch", "seq", "ts",
    "op", "pk", "row"}``: ``op`` is ``insert`` when a row starts to
    match, ``update`` when a matching row changes and ``delete`` when a
    row is deleted or stops matching (``row`` is then its last matching
    image);
``congress_consumer.subscription.snapshot``
    ``{"subscriber_id", "datasource", "table", "epoch", "seq", "ts",
    "rows": [...]}``: every row matching after the change. Sent also,
    with ``"reason": "subscribe"`` or ``"update"`` and ``ts`` null, when
    a subscription asking for it (``notify``) is made or updated,
    whatever its payload.

``seq`` counts the notifications of one subscription from 1, and
``epoch`` names the consumer process. After a restart, each subscription
in the registry gets, once its tables have loaded, a snapshot
notification per table with ``"reason": "restart"`` (:meth:`\
FilteredPublisher.restore`): what changed while the consumer was down.
A subscriber that sees a hole in ``seq`` (the queue overflowed while
the broker was away) fetches the matching rows again
(``GET /v1/subscriptions/{id}?rows=1``) and goes on from the ``seq``
returned with them.
"""

import collections
import logging
import threading
import time
import uuid

from oslo_publish_tables.protocol import codec
from oslo_publish_tables import transport as transport_mod

from congress_consumer import exceptions
from congress_consumer.subscriptions import filters as filters_mod

LOG = logging.getLogger(__name__)

EVENT_DELTA = 'congress_consumer.subscription.delta'
EVENT_SNAPSHOT = 'congress_consumer.subscription.snapshot'


class _Subscriber(object):
    """In-memory state of one subscription (one or more tables)."""

    def __init__(self, sub, replicas):
        self.sub = sub
        parsed = filters_mod.parse(sub.filters)
        self.replicas = replicas  # {table: replica}
        self.matches = {t: filters_mod.matcher(parsed, t) for t in replicas}
        self.seq = 0
        self.active = True  # False once deleted: queued items not sent
        self.pending = False  # restored: silent until its tables load
        self.rows = None  # {table: {key: row}} of matching rows (snapshot)

    def matching(self, table):
        match = self.matches[table]
        return [r for r in self.replicas[table].rows.values() if match(r)]

    def change(self, table, old, new):
        """Return ``(op, row)`` as this subscriber sees it, or None."""
        match = self.matches[table]
        was = old is not None and match(old)
        now = new is not None and match(new)
        if not (was or now):
            return None
        op = 'update' if was and now else ('insert' if now else 'delete')
        row = new if now else old
        if self.rows is not None:
            key = self.replicas[table].key(row)
            if op == 'delete':
                self.rows[table].pop(key, None)
            else:
                self.rows[table][key] = row
        return op, row


class FilteredPublisher(object):
    """Filtered, per-subscriber notifications of replica changes.

    ``syncs`` maps datasource names to their
    :class:`~congress_consumer.replication.sync.Synchronizer`;
    ``transport`` is an oslo.messaging notification transport.
    """

    def __init__(self, conf, syncs, transport, driver='messagingv2',
                 publisher_id='congress-consumer', queue_size=10000,
                 max_retry_interval=30.0):
        self.conf = conf
        self.syncs = syncs
        self.transport = transport
        self.driver = driver
        self.publisher_id = publisher_id
        self.queue_size = queue_size
        self.max_retry_interval = max_retry_interval
        self.epoch = uuid.uuid4().hex
        self.stats = collections.Counter()
        self._by_table = {}     # (datasource, table) -> {id: _Subscriber}
        self._by_id = {}
        self._watchers = {}
        self._queue = collections.deque()
        self._pending = set()  # restored subscribers waiting for a load
        self._cond = threading.Condition()
        self._topics = {}
        self._thread = None
        self._stopping = False

    # -- lifecycle ----------------------------------------------------------

    def start(self):
        for name, sync in self.syncs.items():
            watcher = self._watcher(name)
            self._watchers[name] = watcher
            sync.watch(watcher)
        self._thread = threading.Thread(target=self._run, daemon=True,
                                        name='congress-subscriptions')
        self._thread.start()

    def stop(self, timeout=5.0):
        """Stop watching, send what is queued (up to ``timeout``)."""
        for name, watcher in self._watchers.items():
            self.syncs[name].unwatch(watcher)
        self._watchers = {}
        deadline = time.monotonic() + timeout
        while self._queue and time.monotonic() < deadline:
            time.sleep(0.01)
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None
        for topic in self._topics.values():
            topic.close()

    # -- subscriptions ------------------------------------------------------

    def _replica(self, datasource, table):
        sync = self.syncs.get(datasource)
        if sync is None:
            raise exceptions.InvalidParamError(
                param='datasource', reason='no datasource %r' % datasource)
        replica = sync.replicas.get(table)
        if replica is None:
            raise exceptions.UnknownTableError(table=table,
                                               datasource=datasource)
        return sync, replica

    def _replicas(self, sub):
        """``(sync, {table: replica})`` of a subscription's tables."""
        replicas = {}
        for table in sub.tables:
            sync, replicas[table] = self._replica(sub.datasource, table)
        return sync, replicas

    def validate(self, sub):
        """Raise InvalidParamError/UnknownTableError if ``sub`` is bad."""
        sync, replicas = self._replicas(sub)
        columns = {}
        with sync.lock:
            for table, replica in replicas.items():
                names = replica.snapshot_columns
                if names is None:  # not loaded yet: columns unknown
                    columns = None
                    break
                columns[table] = {'columns': list(names),
                                  'kinds': filters_mod.kinds(
                                      replica.rows.values(), names)}
        filters_mod.parse(sub.filters, columns)

    def restore(self, sub):
        """Serve ``sub`` after a restart: tell it the rows it matches now.

        Once every table of ``sub`` has loaded, one snapshot
        notification per table (``reason`` ``restart``, ``seq`` from 1 in
        the new ``epoch``) carries its matching rows: whatever changed
        while the consumer was down. Nothing is sent before.
        """
        sync, _ = self._replicas(sub)
        self.add(sub)
        with sync.lock:
            subscriber = self._by_id[sub.subscriber_id]
            subscriber.pending = True
            self._release(subscriber)
        with self._cond:
            self._cond.notify()

    def _release(self, subscriber):
        """Send a restored subscriber its rows if loaded (under lock)."""
        if not all(r.loaded for r in subscriber.replicas.values()):
            self._pending.add(subscriber)
            return
        self._pending.discard(subscriber)
        subscriber.pending = False
        if subscriber.rows is not None:  # snapshot payload: reload them
            for table, replica in subscriber.replicas.items():
                subscriber.rows[table] = {
                    replica.key(r): r for r in subscriber.matching(table)}
        for table in subscriber.sub.tables:
            self._enqueue_rows(subscriber, table,
                               subscriber.matching(table), 'restart')
        LOG.info('subscription %s: sent the rows of %s.%s after a restart',
                 subscriber.sub.subscriber_id, subscriber.sub.datasource,
                 ','.join(subscriber.sub.tables))

    def _release_pending(self):
        for subscriber in list(self._pending):
            if not subscriber.active:
                self._pending.discard(subscriber)
                continue
            with self.syncs[subscriber.sub.datasource].lock:
                self._release(subscriber)

    def add(self, sub, notify=False, seq=0):
        """Start delivering to ``sub``; return ``(seq, {table: rows})``.

        ``seq`` is the subscription's last sequence number (kept by an
        update). With ``notify``, the matching rows are also sent to the
        subscriber's topic (a snapshot notification per table,
        ``reason`` ``subscribe`` or ``update``).
        """
        sync, replicas = self._replicas(sub)
        with sync.lock:
            subscriber = _Subscriber(sub, replicas)
            subscriber.seq = seq
            rows = {t: subscriber.matching(t) for t in sub.tables}
            if sub.payload == 'snapshot':
                subscriber.rows = {
                    t: {replicas[t].key(r): r for r in rows[t]}
                    for t in sub.tables}
            for table in sub.tables:
                self._by_table.setdefault((sub.datasource, table), {})[
                    sub.subscriber_id] = subscriber
            self._by_id[sub.subscriber_id] = subscriber
            if notify:
                for table in sub.tables:
                    self._enqueue_rows(subscriber, table, rows[table],
                                       'update' if seq else 'subscribe')
        return subscriber.seq, rows

    def replace(self, sub, notify=False):
        """Deliver to the updated ``sub`` from now on, ``seq`` going on."""
        old = self._by_id.get(sub.subscriber_id)
        seq = old.seq if old is not None else 0
        self.remove(sub.subscriber_id, keep_queued=True)
        return self.add(sub, notify=notify, seq=seq)

    def _head(self, subscriber, table, ts):
        subscriber.seq += 1
        sub = subscriber.sub
        return {'subscriber_id': sub.subscriber_id,
                'datasource': sub.datasource, 'table': table,
                'epoch': self.epoch, 'seq': subscriber.seq, 'ts': ts}

    def _enqueue_rows(self, subscriber, table, rows, reason):
        """Queue a snapshot notification of ``rows`` (under the lock)."""
        head = self._head(subscriber, table, None)
        head['reason'] = reason
        self._put((subscriber, EVENT_SNAPSHOT, head, None, list(rows),
                   None))

    def current(self, subscriber_id):
        """``(seq, {table: matching rows})`` of a subscription."""
        subscriber = self._by_id[subscriber_id]
        sync, _ = self._replicas(subscriber.sub)
        with sync.lock:
            return subscriber.seq, {t: subscriber.matching(t)
                                    for t in subscriber.sub.tables}

    def remove(self, subscriber_id, keep_queued=False):
        subscriber = self._by_id.pop(subscriber_id, None)
        if subscriber is None:
            return
        subscriber.active = keep_queued
        sub = subscriber.sub
        sync = self.syncs[sub.datasource]
        with sync.lock:
            for table in sub.tables:
                subs = self._by_table.get((sub.datasource, table), {})
                subs.pop(subscriber_id, None)
                if not subs:
                    self._by_table.pop((sub.datasource, table), None)

    def count(self, datasource):
        """How many subscriptions follow tables of ``datasource``."""
        return sum(1 for s in list(self._by_id.values())
                   if s.sub.datasource == datasource)

    def __contains__(self, subscriber_id):
        return subscriber_id in self._by_id

    # -- watching (under the synchroniser's lock) ---------------------------

    def _watcher(self, datasource):
        def watch(table, old, new, ts):
            subscribers = self._by_table.get((datasource, table))
            if subscribers:
                for subscriber in subscribers.values():
                    self._notify(subscriber, table, old, new, ts)
        return watch

    def _notify(self, subscriber, table, old, new, ts):
        if subscriber.pending:
            return  # its restart notification will hold this change
        seen = subscriber.change(table, old, new)
        if seen is None:
            return
        head = self._head(subscriber, table, ts)
        if subscriber.rows is None:
            op, row = seen
            item = (subscriber, EVENT_DELTA, head, op, row,
                    subscriber.replicas[table].pk_names)
        else:
            item = (subscriber, EVENT_SNAPSHOT, head, None,
                    list(subscriber.rows[table].values()), None)
        self._put(item)

    def _put(self, item):
        with self._cond:
            if len(self._queue) >= self.queue_size:
                self.stats['dropped'] += 1
                return
            self._queue.append(item)
            self._cond.notify()

    # -- sending --------------------------------------------------------------

    def _topic(self, topic):
        sender = self._topics.get(topic)
        if sender is None:
            sender = self._topics[topic] = \
                transport_mod.NotificationTransport(
                    self.conf, topic, self.publisher_id, self.driver,
                    transport=self.transport)
        return sender

    @staticmethod
    def payload(event_type, head, op, rows, pk_names):
        payload = dict(head)
        if event_type == EVENT_DELTA:
            payload['op'] = op
            payload['pk'] = codec.encode_row({n: rows[n] for n in pk_names})
            payload['row'] = codec.encode_row(rows)
        else:
            payload['rows'] = [codec.encode_row(r) for r in rows]
        return payload

    def _next(self):
        """The next item to send, or None once stopping and empty."""
        while True:
            if self._pending:
                self._release_pending()
            with self._cond:
                if not self._queue and not self._stopping:
                    self._cond.wait(0.2 if self._pending else 1.0)
                if self._queue:
                    return self._queue[0]
                if self._stopping:
                    return None

    def _run(self):
        backoff = 0.0
        while True:
            item = self._next()
            if item is None:
                return
            subscriber, event_type, head, op, rows, pk_names = item
            topic = subscriber.sub.subscriber_topic
            if not subscriber.active:
                with self._cond:  # unsubscribed since: not sent
                    self._queue.popleft()
                continue
            try:
                self._topic(topic).send(event_type, self.payload(
                    event_type, head, op, rows, pk_names))
            except transport_mod.SendError as exc:
                self.stats['send_failures'] += 1
                backoff = min(max(backoff * 2, 0.05),
                              self.max_retry_interval)
                LOG.warning('subscriptions: send to %s failed (%s); '
                            'retrying in %.2fs', topic, exc, backoff)
                with self._cond:
                    self._cond.wait_for(lambda: self._stopping, backoff)
                    if self._stopping:
                        return
                continue
            backoff = 0.0
            self.stats['sent'] += 1
            with self._cond:
                self._queue.popleft()
