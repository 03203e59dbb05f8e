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
import dataclasses
import logging
import threading
import time
import uuid

from oslo_db import exception as db_exc
from sqlalchemy import exc as sa_exc

from oslo_publish_tables.capture import clock
from oslo_publish_tables.outbox import store as store_mod
from oslo_publish_tables import progress
from oslo_publish_tables.protocol import redaction

LOG = logging.getLogger(__name__)
GROUP = 'publish_tables'

_DATABASE_ERRORS = (sa_exc.SQLAlchemyError, db_exc.DBError)
_MICROS = 1000000


@dataclasses.dataclass(frozen=True)
class RelaySettings(object):
    """How a relay claims and retries.

    The defaults are the options' (``outbox_grace_period``,
    ``outbox_relay_interval``, ``outbox_relay_batch``,
    ``outbox_claim_lease``, ``clock``, ``max_retry_interval``), which
    :mod:`oslo_publish_tables.opts` defines and a unit test holds equal.
    """

    grace_period: float = 15.0
    interval: float = 5.0
    batch: int = 500
    lease: float = 120.0
    clock_source: str = 'database'
    max_retry_interval: float = 30.0

    @classmethod
    def from_conf(cls, group):
        """The settings of the ``[publish_tables]`` options ``group``."""
        if group.delivery == store_mod.RELAYED:
            grace, interval = 0.0, group.relayed_poll_interval
        else:
            grace = group.outbox_grace_period
            interval = group.outbox_relay_interval
        return cls(grace, interval, group.outbox_relay_batch,
                   group.outbox_claim_lease, group.clock,
                   group.max_retry_interval)


class Relay(object):
    """Claims old outbox rows of one database and hands them to a sender.

    ``tables`` and ``schema_name``: the outbox's (see
    :class:`~.store.OutboxStore`).
    """

    STALL_WARNING = 30.0  # seconds without a confirmation between warnings

    def __init__(self, engine, sender, settings=RelaySettings(), tables=(),
                 schema_name=None):
        self.store = store_mod.OutboxStore(engine, tables, schema_name)
        self.sender = sender
        self.settings = settings
        self.owner = uuid.uuid4().hex
        self._clock_sql = clock.sql_for(engine.dialect.name,
                                        settings.clock_source)
        self._stop = threading.Event()
        self._thread = None
        self.stats = collections.Counter()
        self.backlog = None  # progress.Progress of the last backlog
        # monotonic time since which the sender confirms nothing
        self._waiting_since = None

    @classmethod
    def from_conf(cls, conf, engine, sender):
        group = conf[GROUP]
        return cls(engine, sender, RelaySettings.from_conf(group),
                   group.tables, group.outbox_schema)

    def run_once(self):
        """Claim old rows and submit them; return how many."""
        with self.store.engine.connect() as conn:
            now = clock.now(conn, self._clock_sql)
        settings = self.settings
        grace = int(settings.grace_period * _MICROS)
        drafts = self.store.claim(
            now, now - grace, now + int(settings.lease * _MICROS),
            settings.batch, owner=self.owner,
            dated_ahead=now + max(grace, _MICROS))
        ahead = sum(1 for d in drafts if d.ts > now + max(grace, _MICROS))
        if ahead:
            self.stats['dated_ahead'] += ahead
            LOG.warning('publish_tables relay: %d outbox records dated '
                        'ahead of the clock; relaying them now', ahead)
        for draft in drafts:
            self.sender.submit(draft)
        self.stats['relayed'] += len(drafts)
        return len(drafts)

    def _wait_published(self):
        """Claim no more until the sender has published the last ones.

        Never silently: while the sender confirms nothing (a broker
        outage, a stuck transport), :meth:`stalled_for` grows (exported
        as ``relay_stalled_seconds``) and a warning is logged every
        :attr:`STALL_WARNING` seconds.
        """
        self._waiting_since = started = warned = time.monotonic()
        try:
            while not self._stop.is_set():
                if self.sender.flush(self.settings.interval):
                    return
                now = time.monotonic()
                if now - warned >= self.STALL_WARNING:
                    warned = now
                    self._warn_stalled(now - started)
        finally:
            self._waiting_since = None

    def _warn_stalled(self, seconds):
        self.stats['stalls'] += 1
        failures = getattr(self.sender, 'stats', {}).get('send_failures', 0)
        LOG.warning('publish_tables relay: the sender has confirmed none '
                    'of the claimed outbox records of tables %s for %.0fs '
                    '(%d send failures so far); claiming no more until it '
                    'does', ', '.join(self.store.tables) or '(all)',
                    seconds, failures)

    def stalled_for(self):
        """Seconds the relay has waited for its sender; 0 if it is not."""
        since = self._waiting_since
        return 0.0 if since is None else time.monotonic() - since

    def _run(self):
        backoff = 0.0
        while not self._stop.is_set():
            try:
                count = self.run_once()
            except Exception as exc:  # the relay must outlive any row
                backoff = min(max(backoff * 2, self.settings.interval),
                              self.settings.max_retry_interval)
                self._failed(exc, backoff)
                self._stop.wait(backoff)
                continue
            backoff = 0.0
            settings = self.settings
            if count:
                # Without a grace period (delivery = relayed) this is the
                # normal flow, not news.
                LOG.log(logging.INFO if settings.grace_period
                        else logging.DEBUG,
                        'publish_tables relay: publishing %d outbox '
                        'records', count)
                self._wait_published()
                self._track_backlog(count)
                if count >= settings.batch:
                    continue  # more may be waiting
            self._stop.wait(settings.interval)

    def _failed(self, exc, backoff):
        self.stats['errors'] += 1
        if isinstance(exc, _DATABASE_ERRORS):
            what = 'database error'
        else:  # a bug or a row nobody foresaw: report it, go on
            self.stats['unexpected_errors'] += 1
            what = 'unexpected %s' % type(exc).__name__
        LOG.warning('publish_tables relay: %s (%s); retrying in %.2fs',
                    what, redaction.short_text(exc), backoff)

    def is_alive(self):
        """True while the relay's thread runs (or it was never started)."""
        return self._thread is None or self._thread.is_alive()

    def _track_backlog(self, count):
        """Progress of a backlog: full batches claimed one after another."""
        running = self.backlog is not None and self.backlog.finished is None
        if count >= self.settings.batch and not running:
            self.backlog = progress.Progress(
                'publish_tables relay: outbox backlog',
                total=count + self.store.count())
            running = True
        if running:
            self.backlog.advance(count)
            if count < self.settings.batch:
                self.backlog.finish()

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
