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

"""Proving a new producer's baseline: the records before its first.

The first number heard from a producer is its baseline (see
:mod:`.producers`): a record numbered below it is taken for one
committed before the datasource listened, hence in its snapshots. A
record the broker lost just before the first one heard breaks that
rule: it may have committed after a snapshot's fence, and no number
will ever show it missing.

Every message (format 1.3) says, in ``ts_before``, the highest stamp of
its producer's records numbered before its first record, and in
``outbox_before`` their highest outbox id. A snapshot fenced at stamp
``S`` holds every change stamped ``<= S``, so the baseline is proven for
a table whose snapshot was fenced at ``S >= ts_before``; for a table
ordered by outbox ids, whose snapshot holds the records up to its outbox
mark (whatever the clocks did), at a mark ``>= outbox_before``. For any
other table whose snapshot was fenced
before the producer was first heard, the records before the baseline
may be missing, and the table is resynced: its next fence comes after
the message, so after every record before it committed. A producer of
an older format says nothing, and its baseline counts as unproven.
Tables fenced after the producer was first heard need nothing.
"""

import collections


def _unproven(before, fence):
    """Whether records ``before`` (ts, outbox id) may be past ``fence``."""
    ts_before, outbox_before = before
    ts, mark = fence
    if ts_before is None:  # a producer older than format 1.3
        return True
    if mark is not None:  # the table is ordered by outbox ids
        return (outbox_before or 0) > mark
    return ts_before > ts


class Baselines(object):
    """The fences of the tables' snapshots and the producers first heard."""

    KEEP = 1000  # producers first heard that a snapshot being opened checks

    def __init__(self):
        # table -> (stamp, outbox mark or None) of its latest fence
        self.fences = {}
        self._newcomers = collections.deque(maxlen=self.KEEP)
        self.unproven = 0  # tables resynced for an unproven baseline

    def first_heard(self, producer_id, batch, now):
        """A producer heard for the first time; ``{table: reason}`` to resync.

        ``batch`` is its first :class:`~.envelope.Batch` heard, ``now``
        the synchroniser's clock.
        """
        before = (batch.ts_before, batch.outbox_before)
        self._newcomers.append((now, before, producer_id))
        found = {table: _reason(producer_id) for table, fence in
                 self.fences.items() if _unproven(before, fence)}
        self.unproven += len(found)
        return found

    def fenced(self, table, ts, mark, opened_at):
        """A snapshot of ``table`` fenced at ``ts``, opened at ``opened_at``.

        ``mark`` is its outbox mark if the table is ordered by outbox ids,
        else None.

        Returns why the table must be resynced, or None: a producer first
        heard while the snapshot was being opened whose records before
        its first may be stamped after the fence.
        """
        fence = self.fences[table] = (ts, mark)
        for heard_at, before, producer_id in self._newcomers:
            if heard_at >= opened_at and _unproven(before, fence):
                self.unproven += 1
                return _reason(producer_id)
        return None


def _reason(producer_id):
    return ('producer %s first heard after the snapshot: records before '
            'its first may be missing' % producer_id)
