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

"""Loss detection: which records of which producer are missing.

Each producer numbers its records 1, 2, 3, ... The first number seen from
a producer is its baseline (earlier records predate the subscription and
are in the snapshot). A number above the baseline that stays missing for
``gap_timeout`` seconds, or that a heartbeat shows the producer has
passed, is a gap. A producer that falls silent for three heartbeat
intervals (at least ``producer_timeout`` seconds) without saying goodbye
may have died between COMMIT and publishing. Both call for a resync;
:meth:`ProducerTracker.check` reports them once and marks them covered,
so the next gap is detected afresh.

A producer that said goodbye or was given up for silent is forgotten,
but its position is remembered: if it turns up again (a redelivered
message, or a producer that was only cut off for a while) its numbers
continue from there instead of setting a new baseline, which would hide
a record lost in between.
"""

import collections
import time


class _Producer(object):
    __slots__ = ('baseline', 'contiguous', 'pending', 'announced',
                 'missing_since', 'last_seen', 'interval', 'final',
                 'first_seen', 'confirmed')

    def __init__(self, first, now, interval):
        self.baseline = first
        self.contiguous = first - 1
        self.pending = set()
        self.announced = 0
        self.missing_since = None
        self.last_seen = now
        self.interval = interval
        self.final = False
        self.first_seen = now
        self.confirmed = None  # last time every record announced was in


class ProducerTracker(object):
    """Tracks the records received from every producer."""

    REMEMBER = 10000  # positions of forgotten producers kept

    def __init__(self, gap_timeout=5.0, producer_timeout=30.0,
                 clock=time.monotonic):
        self.gap_timeout = gap_timeout
        self.producer_timeout = producer_timeout
        self._clock = clock
        self._producers = {}
        self._forgotten = collections.OrderedDict()
        self.gaps = 0
        self.vanished = 0
        self.seen = 0  # producers ever heard from
        # True while every producer heard has left saying goodbye.
        self.all_left = False
        self.last_heard = None  # when any message last came

    def __len__(self):
        return len(self._producers)

    def restart(self):
        """Start counting afresh, as at the first start.

        For a restarted datasource: what was published while it was
        stopped is in the snapshots it takes next, so every producer's
        next number is a new baseline, not a gap.
        """
        self._producers.clear()
        self._forgotten.clear()
        self.all_left = False

    def position(self, producer_id):
        """Highest record number known of a producer (None: unknown)."""
        state = self._producers.get(producer_id)
        if state is None:
            old = self._forgotten.get(producer_id)
            return None if old is None else old[0]
        return max([state.contiguous, state.announced] + list(state.pending))

    def observe(self, producer_id, seqs, last_seq, final=False,
                interval=10.0):
        """Record a batch: its record numbers and the announced last."""
        now = self._clock()
        state = self._producers.get(producer_id)
        if state is None:
            old = self._forgotten.pop(producer_id, None)
            if old is not None:
                first = old[0] + 1
            else:
                first = min(seqs) if seqs else last_seq + 1
                self.seen += 1
            state = self._producers[producer_id] = _Producer(
                first, now, interval)
            state.final = old is not None and old[1]
        state.last_seen = self.last_heard = now
        self.all_left = False
        state.interval = interval
        state.final = state.final or final
        state.announced = max(state.announced, last_seq)
        for seq in seqs:
            if seq > state.contiguous:
                state.pending.add(seq)
        while state.contiguous + 1 in state.pending:
            state.contiguous += 1
            state.pending.discard(state.contiguous)
        if state.pending or state.announced > state.contiguous:
            if state.missing_since is None:
                state.missing_since = now
        else:
            state.missing_since = None
            state.confirmed = now
            if state.final:
                self._forget(producer_id)

    def caught_up(self):
        """True if every record each live producer announced is in."""
        return all(not s.pending and s.announced <= s.contiguous
                   for s in self._producers.values())

    def confirmed_at(self):
        """Clock time up to which every live producer is known applied.

        The oldest of each live producer's last moment with nothing
        missing (its first message if it never had one); None without
        live producers.
        """
        times = [s.first_seen if s.confirmed is None else s.confirmed
                 for s in self._producers.values()]
        return min(times) if times else None

    def longest_interval(self):
        """The longest heartbeat interval live producers announce."""
        return max([s.interval for s in self._producers.values()],
                   default=0.0)

    def _forget(self, producer_id):
        state = self._producers.pop(producer_id)
        self.all_left = state.final and not self._producers
        top = max([state.contiguous, state.announced] + list(state.pending))
        self._forgotten[producer_id] = (top, state.final)
        while len(self._forgotten) > self.REMEMBER:
            self._forgotten.popitem(last=False)

    def check(self):
        """Return reasons to resync (each reported once)."""
        now = self._clock()
        reasons = []
        for pid, state in list(self._producers.items()):
            if (state.missing_since is not None
                    and now - state.missing_since >= self.gap_timeout):
                top = max([state.announced] + list(state.pending))
                reasons.append('producer %s: records %d..%d missing'
                               % (pid, state.contiguous + 1, top))
                self.gaps += 1
                state.contiguous = top
                state.pending.clear()
                state.missing_since = None
                if state.final:
                    self._forget(pid)
                    continue
            silence = max(3 * state.interval, self.producer_timeout)
            if not state.final and now - state.last_seen >= silence:
                reasons.append('producer %s silent for %.0fs without '
                               'goodbye' % (pid, now - state.last_seen))
                self.vanished += 1
                self._forget(pid)
        return reasons
