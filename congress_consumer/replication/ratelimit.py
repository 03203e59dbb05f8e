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

"""Rate limits for what a flood of messages can cause: logs and resyncs.

:class:`LogLimiter` logs a warning per reason at most once per interval,
with the number suppressed in between. :class:`ResyncLimiter` lets a
cause (a producer, or the loss detector as a whole) start a resync at
most once per interval; later requests are merged and fire when the
interval ends, so nothing is lost and a flood costs one resync per
interval.
"""

import collections
import time

from oslo_publish_tables.protocol import redaction

LOG_INTERVAL = 60.0


def safe(value, limit=redaction.MAX_TEXT):
    """``value`` from the bus, fit for one log line.

    Control characters (newlines, ANSI escapes) are escaped so that a
    producer id or a table name cannot forge or hide log lines.
    """
    text = value if isinstance(value, str) else redaction.short_repr(value)
    text = redaction.short_text(text, limit)
    if text.isprintable():
        return text
    return text.encode('unicode_escape').decode('ascii')


class LogLimiter(object):
    """Logs a warning per reason at most once per ``interval``."""

    def __init__(self, log, interval=LOG_INTERVAL, clock=time.monotonic):
        self.log = log
        self.interval = interval
        self._clock = clock
        self._logged = {}
        self._suppressed = collections.Counter()

    def warning(self, reason, text, *args):
        now = self._clock()
        last = self._logged.get(reason)
        if last is not None and now - last < self.interval:
            self._suppressed[reason] += 1
            return
        if len(self._logged) > 1000:  # reasons are few; keep it bounded
            self._logged.clear()
        self._logged[reason] = now
        suppressed = self._suppressed.pop(reason, 0)
        self.log.warning(text + '%s', *(args + (
            '; %d more like it in the last %.0fs' % (suppressed, now - last)
            if suppressed else '',)))


class ResyncLimiter(object):
    """At most one resync per key and ``interval``; the rest deferred.

    A key is a table name or :data:`ALL`. :meth:`add` queues a request;
    :meth:`due` returns the requests whose key has not been resynced for
    ``interval`` seconds, each key's reasons merged into one.
    """

    ALL = None
    KEEP = 4  # reasons kept per key; the rest are counted

    def __init__(self, interval, clock=time.monotonic):
        self.interval = interval
        self._clock = clock
        self._last = {}
        self._pending = {}
        self.deferred = 0

    def add(self, key, reason):
        reasons = self._pending.setdefault(key, collections.Counter())
        if len(reasons) < self.KEEP or reason in reasons:
            reasons[reason] += 1
        else:
            reasons['...'] += 1

    def due(self):
        """Return ``[(key, reason)]`` to resync now."""
        now = self._clock()
        ready = []
        for key, reasons in list(self._pending.items()):
            last = self._last.get(key)
            if last is not None and now - last < self.interval:
                continue
            self._last[key] = now
            del self._pending[key]
            ready.append((key, '; '.join(
                r if n == 1 else '%s (x%d)' % (r, n)
                for r, n in reasons.items())))
        self.deferred = sum(sum(r.values()) for r in self._pending.values())
        return ready
