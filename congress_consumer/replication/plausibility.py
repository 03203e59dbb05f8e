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

"""Bounds on the numbers a message may carry (stamps, sequence numbers).

A well-formed message can still carry numbers no honest producer sends:
a stamp a year ahead (a forged message, or a producer whose clock is
wrong), a sequence number of ``2**63`` that would end gap detection for
its producer, a negative one, an outbox id beyond a ``BIGINT``. Applied,
such a number pins rows or producers for good. :class:`Bounds` names the
first implausible number of a batch so that the synchroniser can reject
the batch, count it and resync the tables it names instead.

Stamps are microseconds since the epoch; ``max_clock_skew`` seconds is
how far ahead of this host's clock a stamp may be.
"""

import time

MAX_SEQ = 2 ** 53 - 1  # exact in every JSON implementation
MAX_SEQ_JUMP = 10 ** 7  # records a known producer may announce at once
MAX_OUTBOX_ID = 2 ** 63 - 1  # a signed BIGINT
DEFAULT_MAX_CLOCK_SKEW = 300.0

SEQ = 'seq'
STAMP = 'stamp'
OUTBOX_ID = 'outbox_id'


class Bounds(object):
    """Plausibility rules for the numbers of a decoded batch."""

    def __init__(self, max_clock_skew=DEFAULT_MAX_CLOCK_SKEW,
                 wall=time.time):
        self.max_skew_us = int(max_clock_skew * 1e6)
        self._wall = wall

    def seq_problem(self, batch, known_top=None):
        """Return why the batch's sequence numbers are implausible.

        ``known_top`` is the highest number already accepted from its
        producer (None if the producer is new). Returns None if they are
        plausible.
        """
        if not 0 <= batch.last_seq <= MAX_SEQ:
            return 'last_seq %d out of range' % batch.last_seq
        for record in batch.records:
            if not 1 <= record.seq <= MAX_SEQ:
                return 'seq %d out of range' % record.seq
        if known_top is not None:
            top = max([batch.last_seq] + [r.seq for r in batch.records])
            if top - known_top > MAX_SEQ_JUMP:
                return 'seq %d jumps more than %d ahead of %d' % (
                    top, MAX_SEQ_JUMP, known_top)
        return None

    def record_problem(self, record):
        """Return (kind, why) if ``record``'s stamp or id is implausible."""
        limit = int(self._wall() * 1e6) + self.max_skew_us
        if record.ts < 0:
            return STAMP, 'negative stamp %d' % record.ts
        if record.ts > limit:
            return STAMP, 'stamp %s is %s ahead of this host\'s clock' % (
                _short(record.ts), _ahead(record.ts, limit))
        if record.outbox_id is not None and not (
                1 <= record.outbox_id <= MAX_OUTBOX_ID):
            return OUTBOX_ID, 'outbox id %s out of range' % _short(
                record.outbox_id)
        return None

    def snapshot_problem(self, snap):
        """Return why an opened snapshot's stamp or mark is implausible."""
        ts, mark = snap.get('ts'), snap.get('outbox_id')
        if not _is_int(ts) or (mark is not None and not _is_int(mark)):
            return 'stamp or outbox id is not an integer'
        if mark is not None and not 0 <= mark <= MAX_OUTBOX_ID:
            return 'outbox id %s out of range' % _short(mark)
        problem = self.record_problem(_Stamped(ts, None))
        return None if problem is None else problem[1]


class _Stamped(object):
    __slots__ = ('ts', 'outbox_id')

    def __init__(self, ts, outbox_id):
        self.ts = ts
        self.outbox_id = outbox_id


def _is_int(value):
    return isinstance(value, int) and not isinstance(value, bool)


def _short(number):
    """``number`` for a log line, however long it is."""
    if abs(number) < 10 ** 30:
        return str(number)
    return '%s2**%d' % ('-' if number < 0 else '', number.bit_length() - 1)


def _ahead(ts, limit):
    if ts - limit > 86400 * 365 * 100 * 10 ** 6:
        return 'more than a century'
    return '%.0f s more than allowed' % ((ts - limit) / 1e6)
