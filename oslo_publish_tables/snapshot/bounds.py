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

"""What every snapshot server bounds: open snapshots and their requests.

A snapshot holds a database connection (the agent) or a copy of a
replica's rows (a consumer that republishes its tables), so every server
of the snapshot RPC keeps its open snapshots in an :class:`OpenSnapshots`:
at most ``max_open`` at once (a request beyond it is refused and retried
by the consumer), each closed after ``idle_timeout`` seconds without a
fetch and after ``max_duration`` seconds in all. The RPC
endpoint (:mod:`oslo_publish_tables.protocol.snapshot_rpc`) refuses
implausible arguments and, with a key, unsigned requests before any of
this is reached.
"""

import collections
import contextlib
import threading
import time
import uuid

from oslo_publish_tables import exceptions


class Entry(object):
    """An open snapshot: ``snap``, its table, rows returned, times."""

    def __init__(self, snap, table, now):
        self.snap = snap
        self.table = table
        self.position = 0
        self.used = self.opened = now


class OpenSnapshots(object):
    """The bounded table of a server's open snapshots.

    ``close(snap)`` releases what a snapshot holds. ``stats`` counts
    ``snapshot_requests``, ``snapshot_rows`` and ``snapshot_refused``.
    """

    def __init__(self, close, max_open=8, idle_timeout=120.0,
                 max_duration=900.0, clock=time.monotonic):
        self._close = close
        self.max_open = max_open
        self.idle_timeout = idle_timeout
        self.max_duration = max_duration
        self.clock = clock
        self._opening = 0
        self._open = {}
        self._lock = threading.Lock()
        self.stats = collections.Counter()

    def __len__(self):
        return len(self._open)

    @contextlib.contextmanager
    def reserve(self):
        """Hold a place for a snapshot being opened, or refuse it."""
        self.expire()
        with self._lock:
            self.stats['snapshot_requests'] += 1
            if len(self._open) + self._opening >= self.max_open:
                self.stats['snapshot_refused'] += 1
                raise exceptions.SnapshotError(
                    'too many open snapshots (snapshot_max_open = %d); '
                    'retry later' % self.max_open)
            self._opening += 1
        try:
            yield
        finally:
            with self._lock:
                self._opening -= 1

    def add(self, snap, table):
        """Register an opened snapshot; return its id."""
        sid = uuid.uuid4().hex
        with self._lock:
            self._open[sid] = Entry(snap, table, self.clock())
        return sid

    def get(self, sid, kind=object):
        """The open :class:`Entry` ``sid`` whose snapshot is a ``kind``."""
        with self._lock:
            entry = self._open.get(sid)
            if entry is None or not isinstance(entry.snap, kind):
                raise exceptions.SnapshotError('no open snapshot %r'
                                               % (sid,))
            entry.used = self.clock()
        return entry

    def advance(self, entry, rows):
        """Count ``rows`` returned; return the position before them."""
        with self._lock:
            position = entry.position
            entry.position += rows
            self.stats['snapshot_rows'] += rows
        return position

    def close(self, sid):
        with self._lock:
            entry = self._open.pop(sid, None)
        if entry is not None:
            self._close(entry.snap)

    def expire(self):
        """Close the snapshots idle or open for too long."""
        now = self.clock()
        with self._lock:
            stale = [sid for sid, entry in self._open.items()
                     if now - entry.used > self.idle_timeout
                     or now - entry.opened > self.max_duration]
        for sid in stale:
            self.close(sid)

    def close_all(self):
        for sid in list(self._open):
            self.close(sid)
