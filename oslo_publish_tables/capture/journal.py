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

"""The per-transaction journal of touched primary keys.

Statements append entries; a savepoint remembers the journal's length and
rolling back to it truncates the journal there, so a rolled-back savepoint
discards exactly its own changes. At commit the journal is folded into
one :class:`Net` change per key.

A statement that returned the rows it wrote (``RETURNING``) leaves their
images in its entries, and, where the database clock can be read per row
(PostgreSQL), the stamp: see :attr:`Journal.stamp`.

An UPDATE by a unique key other than the primary key leaves an entry
keyed by that unique key (:class:`UniqueKey`), pending until it is
resolved to the row's primary key (see :mod:`.unique`).
"""

import collections

Entry = collections.namedtuple('Entry', 'table key op before changed image',
                               defaults=(None,))

UniqueKey = collections.namedtuple('UniqueKey', 'names values')
UniqueKey.__doc__ = """The values of a unique key (not the primary key)."""

Net = collections.namedtuple('Net', 'first_op before changed image',
                             defaults=(None,))
Net.__doc__ = """The net effect of a transaction on one key.

``first_op`` tells whether the row existed before the transaction
(``'insert'``: it did not; ``'upsert'``: unknown; otherwise it did).
``before`` is the row as last read before a delete, if any.
``image`` is the row as the key's last statement returned it, or None
when that statement returned nothing (the row must be read back).
"""


class Journal(object):
    """Touched keys and resync requests of one transaction."""

    __slots__ = ('entries', 'resync', 'stamp', 'deferred', '_marks')

    def __init__(self):
        self.entries = []
        self.resync = {}
        # The database clock as the last write statement on a published
        # table read it, after that statement's last row lock; None when
        # that statement did not read it (the stamp is then read later).
        self.stamp = None
        # The tables that may have entries keyed by a UniqueKey.
        self.deferred = set()
        self._marks = {}

    def __bool__(self):
        return bool(self.entries or self.resync)

    def add(self, table, key, op, before=None, changed=(), image=None):
        self.entries.append(Entry(table, key, op, before, changed, image))

    def defer(self, table, unique, changed=()):
        """An update of the one row holding ``unique`` (a UniqueKey)."""
        self.entries.append(Entry(table, unique, 'update', None, changed))
        self.deferred.add(table)

    def pending(self, table):
        """``[(index, entry)]`` of ``table``'s entries keyed by a UniqueKey."""
        if table not in self.deferred:
            return []
        return [(i, e) for i, e in enumerate(self.entries)
                if e.table == table and isinstance(e.key, UniqueKey)]

    def resolve(self, index, key):
        """Key the entry at ``index`` by ``key`` (None: it touched no row).

        In place, so that a savepoint still discards exactly its own.
        """
        self.entries[index] = self.entries[index]._replace(key=key)

    def request_resync(self, table, reason):
        """Ask consumers to resync ``table`` (kept even on rollback)."""
        self.resync.setdefault(table, reason)

    def savepoint(self, name):
        self._marks[name] = len(self.entries)

    def rollback_to(self, name):
        mark = self._marks.pop(name, None)
        if mark is not None:
            del self.entries[mark:]
            self._marks = {n: m for n, m in self._marks.items() if m <= mark}

    def release(self, name):
        self._marks.pop(name, None)

    def fold(self):
        """Return ``{table: {key: Net}}`` for the surviving entries."""
        folded = {}
        for entry in self.entries:
            if entry.key is None:
                continue  # resolved to no row
            if isinstance(entry.key, UniqueKey):
                raise ValueError('pending entry of %s not resolved'
                                 % entry.table)
            keys = folded.setdefault(entry.table, {})
            net = keys.get(entry.key)
            if net is None:
                keys[entry.key] = Net(entry.op, entry.before,
                                      set(entry.changed), entry.image)
                continue
            net.changed.update(entry.changed)
            if entry.before is not None:
                net = net._replace(before=entry.before)
            keys[entry.key] = net._replace(image=entry.image)
        return folded
