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

"""How current a datasource's tables are, measured from the producers.

Every producer sends a batch or, when idle, a heartbeat at least once
per heartbeat interval, each announcing the number of its last record
(see :mod:`.producers`). From them, per table:

``caught_up``
    the table is LIVE, the datasource is not STALE, and every record
    each live producer has announced has been applied;
``lag_seconds``
    how long ago the replica was last known to hold everything: the
    later of the time its snapshot was taken and the oldest time at
    which each live producer was last seen with nothing missing. An
    idle producer confirms once per heartbeat interval, so an idle,
    complete table shows a lag up to that interval (plus the bus's
    transit time, which the consumer cannot see). None unless LIVE;
``last_message_age``
    seconds since any message (batch or heartbeat) of the datasource's
    topic arrived.

A datasource that hears nothing for ``producer_timeout`` seconds (at
least three heartbeat intervals of its producers), counted from its
start, is **STALE**: its LIVE tables report the state ``STALE``, and a
warning says what to check. Producers always send heartbeats, so
silence means the datasource does not hear them, not that they are
idle: a wrong exchange, topic or transport, or signatures that fail.
The one silence that is explained is that of producers that all said
goodbye (their service was stopped cleanly): everything they announced
is applied and nobody publishes, so the tables stay LIVE, with
``producers`` 0 and a growing ``last_message_age``.
"""

import time

STALE = 'STALE'

_HINT = ('no message from any producer for %.0f s on %s: check that the '
         'producers publish to this topic and exchange ([publish_tables] '
         'topic, [DEFAULT] control_exchange) on this transport, that '
         'their heartbeats are on, and that the signing keys match')


class Liveness(object):
    """STALE detection and the per-table freshness figures."""

    def __init__(self, tracker, timeout, log, clock=time.monotonic):
        self.tracker = tracker
        self.timeout = timeout
        self.log = log
        # What the datasource listens to, for the warning.
        self.where = 'its topic'
        self._clock = clock
        self.started = clock()
        self.stale = False

    def restart(self):
        """Count the silence from now (a restarted datasource)."""
        self.started = self._clock()
        self.stale = False

    def silence(self, now):
        """Seconds without a message (since the start if none came)."""
        heard = self.tracker.last_heard
        return now - (self.started if heard is None
                      else max(heard, self.started))

    def is_stale(self, now=None):
        if self.tracker.all_left:
            return False  # silent because every producer said goodbye
        now = self._clock() if now is None else now
        limit = max(self.timeout, 3 * self.tracker.longest_interval())
        return self.silence(now) >= limit

    def check(self):
        """Update :attr:`stale`; log when it changes. Return it."""
        now = self._clock()
        stale = self.is_stale(now)
        if stale and not self.stale:
            self.log.warning(_HINT, self.silence(now), self.where)
        elif self.stale and not stale:
            self.log.info('producers heard again on %s: no longer stale',
                          self.where)
        self.stale = stale
        return stale

    def table(self, live, snapshot_at):
        """``caught_up``, ``lag_seconds``, ``last_message_age``."""
        now = self._clock()
        stale = self.is_stale(now)
        heard = self.tracker.last_heard
        figures = {'caught_up': bool(live and not stale and
                                     self.tracker.caught_up()),
                   'lag_seconds': None,
                   'last_message_age': (None if heard is None
                                        else round(now - heard, 3))}
        if live and snapshot_at is not None:
            confirmed = self.tracker.confirmed_at()
            known = snapshot_at if confirmed is None else max(confirmed,
                                                              snapshot_at)
            figures['lag_seconds'] = round(max(0.0, now - known), 3)
        return figures
