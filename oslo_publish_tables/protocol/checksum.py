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

"""Digests of table rows that a consumer can compute over its replica.

A verification compares a table with a replica in *chunks*: every row
belongs to chunk ``chunk_of(key, chunks)``, a hash of its primary key,
so both sides agree on the chunk of a row without agreeing on an order
(collations, mixed key types). A chunk's digest is its row count and
the sum, modulo 2**64, of the 64-bit hashes of its rows' canonical
forms. Sums are additive, so a digest can be computed over rows
streamed in any order and slices added up.

:func:`_canonical` is the one definition of a value's canonical form
(:func:`canonical` gives its text). It follows Python equality, so that
a replica holding values equal to the database's digests equal to it,
whatever path the values took (a snapshot, a delta, the codec): numbers
that compare equal (``1``, ``1.0``, ``True``, ``Decimal('1.00')``) have
the same form; a string never has the form of a number, bytes, a date
or a UUID; aware datetimes are compared in UTC. The digest is computed
in Python on both sides, over the values the database driver returns
and the values a consumer decoded (the codec round trip changes no
form): the database streams the rows of its snapshot to the snapshot
service, only digests cross the bus.

:class:`ChecksumCursor` accumulates the digests of a snapshot's rows
(:mod:`oslo_publish_tables.snapshot.reader`) a slice at a time;
:class:`ChunkFilter` passes on only the rows of some chunks (a repair).
"""

import datetime
import decimal
import hashlib
import json
import math
import operator
import uuid

MASK = (1 << 64) - 1


def _number(value):
    """Equal numbers, equal forms: integral values become ints."""
    if isinstance(value, float):
        if not math.isfinite(value):
            return ('n', repr(value))
        if value.is_integer():
            return int(value)
        return ('n', str(decimal.Decimal(value).normalize()))
    if not value.is_finite():
        return ('n', repr(float(value)))  # Decimal('Infinity') == inf
    if value == value.to_integral_value():
        return int(value)
    return ('n', str(value.normalize()))


def _datetime(value):
    if value.tzinfo is not None and value.utcoffset() is not None:
        value = value.astimezone(datetime.timezone.utc)
        return ('tz', value.replace(tzinfo=None).isoformat())
    return ('t', value.isoformat())


def _json(value):
    return ('j', json.dumps(value, sort_keys=True, separators=(',', ':'),
                            default=canonical))


# str, int and None stand for themselves; every other type becomes an
# int or a (tag, text) tuple, which no str, int or None repr can imitate.
_PLAIN = frozenset((str, int, type(None)))
_CANONICAL = {
    bool: int,
    float: _number,
    decimal.Decimal: _number,
    datetime.datetime: _datetime,
    datetime.date: lambda v: ('D', v.isoformat()),
    datetime.time: lambda v: ('T', v.isoformat()),
    datetime.timedelta: lambda v: ('d', '%d,%d,%d' % (
        v.days, v.seconds, v.microseconds)),
    bytes: lambda v: ('b', v.hex()),
    uuid.UUID: lambda v: ('u', str(v)),
    list: _json,
    dict: _json,
}


def _canonical(value):
    """The value's canonical form: an int, str, None or (tag, text)."""
    kind = type(value)
    if kind in _PLAIN:
        return value
    convert = _CANONICAL.get(kind)
    if convert is not None:
        return convert(value)
    if isinstance(value, (bytearray, memoryview)):
        return ('b', bytes(value).hex())
    if isinstance(value, tuple):
        return _json(list(value))
    for plain in _PLAIN:  # subclasses: str enums, int flags...
        if isinstance(value, plain):
            return plain(value)
    for kind, convert in _CANONICAL.items():
        if isinstance(value, kind):
            return convert(value)
    return ('o', '%s:%r' % (type(value).__name__, value))


def canonical(value):
    """The canonical text of one column value (see the module doc)."""
    return repr(_canonical(value))


def _hash64(forms):
    return int.from_bytes(hashlib.blake2b(
        repr(forms).encode('utf-8', 'surrogatepass'), digest_size=8)
        .digest(), 'little')


def forms(values):
    """The canonical forms of a row's values (see :func:`row_hash`)."""
    plain = _PLAIN
    return [v if type(v) in plain else _canonical(v) for v in values]


def row_hash(values):
    """64-bit hash of a row given as its values in column order.

    The hash is over the ``repr`` of the list of the values' canonical
    forms: a str is quoted and escaped, so no value can imitate a
    separator.
    """
    return _hash64(forms(values))


def chunk_of(key, chunks):
    """The chunk (``0 .. chunks - 1``) of the row with key tuple ``key``."""
    if chunks == 1:
        return 0
    return _hash64(forms(key)) % chunks


def digest_order(columns):
    """Column positions in the order digests use: sorted by name."""
    return sorted(range(len(columns)), key=lambda i: columns[i])


class Digests(object):
    """Per-chunk row counts and hash sums."""

    def __init__(self, chunks):
        self.chunks = chunks
        self.counts = [0] * chunks
        self.sums = [0] * chunks

    def add(self, chunk, values):
        self.counts[chunk] += 1
        self.sums[chunk] = (self.sums[chunk] + row_hash(values)) & MASK

    def as_list(self):
        """``[[count, hex sum], ...]``, JSON-safe, one entry per chunk."""
        return [[c, '%016x' % s] for c, s in zip(self.counts, self.sums)]


def differing(ours, theirs):
    """Chunks whose ``as_list()`` entries differ between two digests."""
    return [i for i, (a, b) in enumerate(zip(ours, theirs))
            if list(a) != list(b)]


def _getter(positions):
    """A function returning the values at ``positions``, as a tuple."""
    if len(positions) == 1:
        position = positions[0]
        return lambda row: (row[position],)
    return operator.itemgetter(*positions)


class _RowShape(object):
    """Where the key and the digest's columns are in a snapshot row.

    The values are taken as the database driver returns them: their
    canonical forms are those of the values a consumer decodes (the codec
    round trip changes no form; ``test_checksum`` checks it).
    """

    def __init__(self, keys, pk_names):
        index = {name: i for i, name in enumerate(keys)}
        self.key = _getter([index[name] for name in pk_names])
        self.values = _getter([index[name] for name in sorted(keys)])


class ChecksumCursor(object):
    """Digests of a :class:`~.reader.TableSnapshot`'s rows, by slices."""

    def __init__(self, snapshot, chunks):
        self.snapshot = snapshot
        self.digests = Digests(chunks)
        self._shape = _RowShape(snapshot.keys, snapshot.pk_names)
        self.rows = 0
        self.done = False

    def advance(self, max_rows):
        """Digest up to ``max_rows`` more rows; return how many."""
        rows = self.snapshot.fetch_values(max_rows)
        shape, digests, chunks = self._shape, self.digests, \
            self.digests.chunks
        for row in rows:
            digests.add(chunk_of(shape.key(row), chunks), shape.values(row))
        self.rows += len(rows)
        if not rows:
            self.done = True
        return len(rows)

    def __getattr__(self, name):  # ts, columns, keys, close... of the snapshot
        return getattr(self.snapshot, name)


class ChunkFilter(object):
    """A snapshot that returns only the rows of some chunks."""

    def __init__(self, snapshot, chunks, only):
        self.snapshot = snapshot
        self.chunks = chunks
        self.only = frozenset(only)
        self._shape = _RowShape(snapshot.keys, snapshot.pk_names)

    def fetch_values(self, max_rows):
        """Up to ``max_rows`` rows of the chosen chunks; [] at the end."""
        shape, chunks, only = self._shape, self.chunks, self.only
        while True:
            rows = self.snapshot.fetch_values(max_rows)
            if not rows:
                return []
            kept = [row for row in rows
                    if chunk_of(shape.key(row), chunks) in only]
            if kept:
                return kept

    def __getattr__(self, name):
        return getattr(self.snapshot, name)
