"""The per-transaction journal of touched primary keys.

Statements append entries; a savepoint remembers the journal's length and
rolling back to it truncates the journal there, so a rolled-back savepoint
discards exactly its own changes. At commit the journal is folded into
one :class:`Net` change per key.
"""

import collections

Entry = collections.namedtuple('Entry', 'table key op before changed')

Net = collections.namedtuple('Net', 'first_op before changed')
Net.__doc__ = """The net effect of a transaction on one key.

``first_op`` tells whether the row existed before the transaction
(``'insert'``: it did not; ``'upsert'``: unknown; otherwise it did).
``before`` is the row as last read before a delete, if any.
"""


class Journal(object):
    """Touched keys and resync requests of one transaction."""

    __slots__ = ('entries', 'resync', '_marks')

    def __init__(self):
        self.entries = []
        self.resync = {}
        self._marks = {}

    def __bool__(self):
        return bool(self.entries or self.resync)

    def add(self, table, key, op, before=None, changed=()):
        self.entries.append(Entry(table, key, op, before, changed))

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
            keys = folded.setdefault(entry.table, {})
            net = keys.get(entry.key)
            if net is None:
                keys[entry.key] = Net(entry.op, entry.before,
                                      set(entry.changed))
                continue
            net.changed.update(entry.changed)
            if entry.before is not None:
                keys[entry.key] = net._replace(before=entry.before)
        return folded
