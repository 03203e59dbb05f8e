"""The relay: publish what dead processes left in the outbox.

(With ``delivery = relayed``, every record: the service processes
publish nothing, and the relay scans every ``relayed_poll_interval``
seconds with no grace period.)

A record stays in the outbox only until the sender of the process that
committed it has published it. A row older than ``outbox_grace_period``
therefore belongs to a process that died (or is stuck) between
``COMMIT`` and publishing. The relay, run by ``publish-tables-agent``,
claims such rows (:meth:`.store.OutboxStore.claim`: a lease of
``outbox_claim_lease`` seconds, so several agents can run at once),
hands them to its own :class:`~oslo_publish_tables.sender.Sender`,
which publishes them under the relay's own producer identity with their
original stamps and deletes the rows once the transport confirmed.

At worst a record is published twice (the process's sender was merely
slow, or a relay stalled longer than its lease); consumers absorb it as
a duplicate, the stamp being the same. Database and broker outages are
waited out with backoff; the relay never exits on its own.
"""

import collections
import logging
import threading
import uuid

from oslo_db import exception as db_exc
from sqlalchemy import exc as sa_exc

from oslo_publish_tables.capture import clock
from oslo_publish_tables.outbox import store as store_mod

LOG = logging.getLogger(__name__)
GROUP = 'publish_tables'

_DATABASE_ERRORS = (sa_exc.SQLAlchemyError, db_exc.DBError)
_MICROS = 1000000


class Relay(object):
    """Claims old outbox rows of one database and hands them to a sender."""

    def __init__(self, engine, sender, grace_period=15.0, interval=5.0,
                 batch=500, lease=120.0, clock_source='database',
                 max_retry_interval=30.0):
        self.store = store_mod.OutboxStore(engine)
        self.sender = sender
        self.grace_period = grace_period
        self.interval = interval
        self.batch = batch
        self.lease = lease
        self.max_retry_interval = max_retry_interval
        self.owner = uuid.uuid4().hex
        self._clock_sql = clock.sql_for(engine.dialect.name, clock_source)
        self._stop = threading.Event()
        self._thread = None
        self.stats = collections.Counter()

    @classmethod
    def from_conf(cls, conf, engine, sender):
        group = conf[GROUP]
        if group.delivery == store_mod.RELAYED:
            grace, interval = 0.0, group.relayed_poll_interval
        else:
            grace = group.outbox_grace_period
            interval = group.outbox_relay_interval
        return cls(engine, sender, grace_period=grace, interval=interval,
                   batch=group.outbox_relay_batch,
                   lease=group.outbox_claim_lease, clock_source=group.clock,
                   max_retry_interval=group.max_retry_interval)

    def run_once(self):
        """Claim old rows and submit them; return how many."""
        with self.store.engine.connect() as conn:
            now = clock.now(conn, self._clock_sql)
        drafts = self.store.claim(
            now, now - int(self.grace_period * _MICROS),
            now + int(self.lease * _MICROS), self.batch, owner=self.owner)
        for draft in drafts:
            self.sender.submit(draft)
        self.stats['relayed'] += len(drafts)
        return len(drafts)

    def _wait_published(self):
        """Claim no more until the sender has published the last ones."""
        while not self._stop.is_set():
            if self.sender.flush(self.interval):
                return

    def _run(self):
        backoff = 0.0
        while not self._stop.is_set():
            try:
                count = self.run_once()
            except _DATABASE_ERRORS as exc:
                backoff = min(max(backoff * 2, self.interval),
                              self.max_retry_interval)
                self.stats['errors'] += 1
                LOG.warning('publish_tables relay: database error (%s); '
                            'retrying in %.2fs', exc, backoff)
                self._stop.wait(backoff)
                continue
            backoff = 0.0
            if count:
                # Without a grace period (delivery = relayed) this is the
                # normal flow, not news.
                LOG.log(logging.INFO if self.grace_period else logging.DEBUG,
                        'publish_tables relay: publishing %d outbox '
                        'records', count)
                self._wait_published()
                if count >= self.batch:
                    continue  # more may be waiting
            self._stop.wait(self.interval)

    def start(self):
        if self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run,
                                        name='publish-tables-relay',
                                        daemon=True)
        self._thread.start()

    def stop(self, timeout=10.0):
        """Stop claiming (the sender is stopped by its owner)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None
