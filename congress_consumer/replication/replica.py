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

"""A versioned replica of one table (see doc/source/reference/sync-protocol).

Every key the replica knows has a version: that of the change it holds,
a live row or a tombstone. A change is applied only if it is newer than
that version, so duplicates, reordering and late deliveries converge.
Snapshots load through the same rule (every snapshot row has the
snapshot's version) and end with a sweep of what the snapshot proved
gone; ``floor`` then becomes the snapshot's version.

The version is the change's stamp (``order`` ``STAMP``) or, when every
producer of the table writes the outbox, its outbox id (``OUTBOX``: the
snapshot's version is then its outbox mark), which orders the changes of
a row without any clock. Stamps still date tombstones for their purge.

Rows are stored as tuples in the order of one column list per table
(about a third of the memory of a dict per row); :attr:`TableReplica.rows`
and the listener show them as dicts.
"""

import collections
from collections import abc
import operator

APPLIED = 'applied'
DUPLICATE = 'duplicate'
LATE = 'late'
UNRESOLVABLE = 'unresolvable'

STAMP = 'stamp'
OUTBOX = 'outbox'

_MISSING = object()  # a column the row did not have


class Rows(abc.Mapping):
    """Read-only ``{key: row dict}`` view of a replica's tuples."""

    def __init__(self, replica):
        self._replica = replica

    def __getitem__(self, key):
        return self._replica._as_dict(self._replica._rows[key])

    def __iter__(self):
        return iter(self._replica._rows)

    def __len__(self):
        return len(self._replica._rows)

    def __contains__(self, key):
        return key in self._replica._rows

    def __repr__(self):
        return repr(dict(self))


class TableReplica(object):
    """Rows of one table, keyed by primary key tuple, with versions.

    ``listener(table, old_row, new_row)`` is called for every visible
    change (either row may be None). Callers serialise access.

    ``watchers`` are further callables, called after the listener as
    ``watcher(table, old_row, new_row, ts)`` with the stamp ``ts`` of the
    change (the snapshot stamp for snapshot loads and sweeps); the
    republisher and the filtered subscriptions use them.
    ``snapshot_columns`` is the column list of the last snapshot and
    ``order`` what versions are (:data:`STAMP`, :data:`OUTBOX`, or None
    until the first change or snapshot); the synchroniser sets both.
    """

    def __init__(self, name, pk_names=None, listener=None):
        self.name = name
        self.pk_names = tuple(pk_names) if pk_names else None
        self.columns = ()
        self._index = {}
        self._values_of = None  # row dict -> tuple, if it has every column
        self._rows = {}
        self.rows = Rows(self)
        self.versions = {}
        self.tombstones = {}  # key -> stamp of the delete (its age)
        self.floor = None
        self.purge_floor = 0
        self.counts = collections.Counter()
        self.last_ts = 0
        self._listener = listener
        self.watchers = []
        self.snapshot_columns = None
        self.order = None
        self._loading = None
        self._since_open = None  # keys changed since a snapshot was opened

    @property
    def loaded(self):
        """True once a snapshot has completed."""
        return self.floor is not None

    def key(self, pk):
        if self.pk_names is None:
            self.pk_names = tuple(sorted(pk))
        return tuple([pk[n] for n in self.pk_names])

    def _as_tuple(self, row):
        if self._values_of is not None and row.keys() == self._index.keys():
            return self._values_of(row)  # the common case, in C
        if not row.keys() <= self._index.keys():
            self._learn(row)
        return tuple([row.get(c, _MISSING) for c in self.columns])

    def _learn(self, row):
        new = [c for c in row if c not in self._index]
        self.columns = self.columns + tuple(sorted(new))
        self._index = {c: i for i, c in enumerate(self.columns)}
        # itemgetter of one name returns the value, not a 1-tuple.
        self._values_of = operator.itemgetter(*self.columns) \
            if len(self.columns) > 1 else None

    def _as_dict(self, values):
        if values is None:
            return None
        return {c: v for c, v in zip(self.columns, values)
                if v is not _MISSING}

    # -- deltas -----------------------------------------------------------

    def apply(self, op, pk, row, ts, version=None):
        """Apply one change stamped ``ts``; return what happened.

        ``version`` orders it (default: ``ts``).
        """
        if version is None:
            version = ts
        key = self.key(pk)
        held = self.versions.get(key)
        if held is None:
            if self.floor is not None and version <= self.floor:
                return self._count(LATE)
            if version <= self.purge_floor:
                return self._count(UNRESOLVABLE)
        elif version == held:
            return self._count(DUPLICATE)
        elif version < held:
            return self._count(LATE)
        if self._since_open is not None:
            self._since_open.add(key)
        if op == 'delete':
            self._delete(key, version, ts)
        else:
            self._put(key, row, version, ts)
        self.last_ts = max(self.last_ts, ts)
        return self._count(APPLIED)

    def _count(self, outcome):
        self.counts[outcome] += 1
        return outcome

    def _put(self, key, row, version, ts):
        values = self._as_tuple(row)
        old = self._rows.get(key)
        self._rows[key] = values
        self.versions[key] = version
        if self.tombstones:
            self.tombstones.pop(key, None)
        if old != values:
            self._notify(old, row, ts)

    def _delete(self, key, version, ts):
        old = self._rows.pop(key, None)
        self.versions[key] = version
        self.tombstones[key] = ts
        if old is not None:
            self._notify(old, None, ts)

    def _notify(self, old, new, ts):
        """Tell the listener and watchers; ``old`` is the stored tuple."""
        if self._listener is None and not self.watchers:
            return
        old = self._as_dict(old)
        if self._listener is not None:
            self._listener(self.name, old, new)
        for watcher in self.watchers:
            watcher(self.name, old, new, ts)

    # -- snapshots --------------------------------------------------------

    def opening(self):
        """A snapshot is about to be opened (call before asking for it)."""
        self._since_open = set()

    def begin_load(self, ts, version=None):
        """Start loading a snapshot stamped ``ts`` (version ``version``).

        The snapshot is the source's truth: every change held before
        :meth:`opening` was committed before the snapshot's fence, so a
        version of such a change above the snapshot's can only be a wrong
        one (a forged stamp, a producer clock far ahead). Those versions,
        and the floors they raised, are brought down to the snapshot's so
        that it replaces those rows; changes received since
        :meth:`opening` still win over it if newer.
        """
        mark = ts if version is None else version
        if self._since_open is not None:
            self._trust_snapshot(mark, ts)
        self._loading = (mark, ts, set())

    def _trust_snapshot(self, mark, ts):
        """Bring down versions and floors above ``mark`` (see above)."""
        recent, self._since_open = self._since_open, None
        for key, held in list(self.versions.items()):
            if held > mark and key not in recent:
                self.versions[key] = mark
                self.tombstones.pop(key, None)
                if key not in self._rows:  # a tombstone: the sweep decides
                    del self.versions[key]
        self.purge_floor = min(self.purge_floor, mark)
        if self.floor is not None:
            self.floor = min(self.floor, mark)
        self.last_ts = min(self.last_ts, ts)

    def load(self, rows):
        """Load snapshot rows; newer changes already held are kept."""
        mark, ts, seen = self._loading
        key_of, versions, put = self.key, self.versions, self._put
        for row in rows:
            key = key_of(row)
            seen.add(key)
            version = versions.get(key)
            if version is None or version <= mark:
                put(key, row, mark, ts)

    @property
    def loading_rows(self):
        """Rows the current load has brought so far."""
        return len(self._loading[2])

    def doomed(self):
        """Live rows the current load's sweep would remove so far."""
        mark, _ts, seen = self._loading
        return sum(1 for key in self._rows
                   if key not in seen and self.versions.get(key, 0) <= mark)

    def end_load(self):
        """Finish the snapshot: sweep what it proved gone, raise floor."""
        mark, ts, seen = self._loading
        self._loading = None
        for key, version in list(self.versions.items()):
            if version <= mark and key not in seen:
                del self.versions[key]
                self.tombstones.pop(key, None)
                old = self._rows.pop(key, None)
                if old is not None:
                    self._notify(old, None, ts)
        self.floor = mark
        self.counts['snapshots'] += 1

    def abort_load(self):
        self._loading = None
        self._since_open = None

    def load_part(self, keys, rows, ts, version):
        """Load a snapshot of part of the table (a verification's repair).

        ``rows`` are the snapshot's rows of the part, ``keys`` every key
        of the part the replica knows; version rules as for a whole
        snapshot, except that a key the snapshot proved gone becomes a
        tombstone of ``version`` (the floor stays). Returns the numbers
        of rows ``(added, changed, removed)``.
        """
        added = changed = removed = 0
        fetched = {}
        for row in rows:
            fetched[self.key(row)] = row
        for key in keys:
            held = self.versions.get(key)
            if key in fetched or key not in self._rows or (
                    held is not None and held > version):
                continue
            removed += 1
            self._delete(key, version, ts)
        for key, row in fetched.items():
            held = self.versions.get(key)
            if held is not None and held > version:
                continue  # a newer change: the part's row is out of date
            old = self._rows.get(key)
            self._put(key, row, version, ts)
            if old is None:
                added += 1
            elif old != self._rows[key]:
                changed += 1
        return added, changed, removed

    # -- housekeeping -----------------------------------------------------

    def purge_tombstones(self, older_than):
        """Forget tombstones stamped before ``older_than``; return count.

        A later change for a forgotten key whose version is at or below
        the purge floor is reported as unresolvable (the caller resyncs).
        """
        old = [k for k, ts in self.tombstones.items() if ts < older_than]
        for key in old:
            del self.tombstones[key]
            self.purge_floor = max(self.purge_floor, self.versions.pop(key))
        return len(old)

    def reorder(self, order):
        """Switch to versions of another kind, forgetting the old ones.

        The rows stay but count as older than any change, as before a
        first snapshot: the caller must resync the table.
        """
        self.order = order
        self.versions = dict.fromkeys(self._rows, 0)
        self.tombstones = {}
        self.floor = None
        self.purge_floor = 0
