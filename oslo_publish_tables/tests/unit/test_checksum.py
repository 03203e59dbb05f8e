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

"""The canonical text and digests of rows (oslo_publish_tables.checksum)."""

import datetime
import decimal
import json
import uuid

import testtools

from oslo_publish_tables.protocol import checksum
from oslo_publish_tables.protocol import codec

UTC = datetime.timezone.utc
PLUS2 = datetime.timezone(datetime.timedelta(hours=2))

VALUES = [
    None, True, 0, -7, 2 ** 70, 0.1, -2.5, 1e-7, 1e300,
    float('inf'), float('-inf'), decimal.Decimal('1.5000'),
    decimal.Decimal('-0.0001'), decimal.Decimal('123456789.123456789'),
    '', 'None', 'plain', 'unicode: é ß 日本語 🙂', 'sep:1:2\x00\x1e',
    b'', b'\x00\xff bytes', datetime.datetime(2026, 12, 3, 9, 30, 1, 123456),
    datetime.datetime(2026, 12, 3, 9, 30, 1, tzinfo=PLUS2),
    datetime.date(2026, 12, 3), datetime.time(9, 30, 1, 5),
    datetime.timedelta(days=1, seconds=2, microseconds=3),
    uuid.UUID('12345678-1234-5678-1234-567812345678'),
    {'json': [1, 'two', None]}, [1, 2.5],
]


def _round_trip(row):
    """What a consumer holds: through the codec and JSON, as on the bus."""
    return codec.decode_row(json.loads(json.dumps(codec.encode_row(row))))


class CanonicalTest(testtools.TestCase):

    def test_the_bus_keeps_the_text_of_every_value(self):
        for value in VALUES:
            held = _round_trip({'v': value})['v']
            self.assertEqual(checksum.canonical(value),
                             checksum.canonical(held), repr(value))
            self.assertEqual(checksum.canonical(value),
                             checksum.canonical(codec.normalize(value)))

    def test_values_python_calls_equal_have_one_text(self):
        for group in ([1, 1.0, True, decimal.Decimal('1.000')],
                      [0.5, decimal.Decimal('0.50')],
                      [float('inf'), decimal.Decimal('Infinity')],
                      [datetime.datetime(2026, 1, 1, 12, tzinfo=UTC),
                       datetime.datetime(2026, 1, 1, 14, tzinfo=PLUS2)],
                      [bytearray(b'ab'), b'ab', memoryview(b'ab')]):
            texts = {checksum.canonical(v) for v in group}
            self.assertEqual(1, len(texts), group)

    def test_different_values_have_different_texts(self):
        texts = [checksum.canonical(v) for v in VALUES]
        self.assertEqual(len(texts), len(set(texts)))
        for a, b in ((1, '1'), (None, ''), (None, 'None'), (b'ab', 'ab'),
                     (datetime.date(2026, 1, 1),
                      datetime.datetime(2026, 1, 1)),
                     (datetime.datetime(2026, 1, 1),
                      datetime.datetime(2026, 1, 1, tzinfo=UTC)),
                     (0.1, decimal.Decimal('0.1')),
                     (uuid.UUID(int=1), str(uuid.UUID(int=1)))):
            self.assertNotEqual(checksum.canonical(a), checksum.canonical(b))

    def test_a_value_cannot_imitate_a_column_boundary(self):
        self.assertNotEqual(checksum.row_hash(['a', 'bc']),
                            checksum.row_hash(['ab', 'c']))
        self.assertNotEqual(checksum.row_hash(['1:sa', 'b']),
                            checksum.row_hash(['', 'a1:sb']))


class DigestsTest(testtools.TestCase):

    def _digests(self, rows, chunks):
        digests = checksum.Digests(chunks)
        for row in rows:
            digests.add(checksum.chunk_of((row[0],), chunks), row)
        return digests.as_list()

    def test_same_rows_any_order_same_digest(self):
        rows = [[i, 'name%d' % i, None, 0.5 * i] for i in range(50)]
        self.assertEqual(self._digests(rows, 7),
                         self._digests(list(reversed(rows)), 7))
        held = [[_round_trip({'v': v})['v'] for v in row] for row in rows]
        self.assertEqual(self._digests(rows, 7), self._digests(held, 7))

    def test_a_changed_missing_or_extra_row_changes_its_chunk_only(self):
        rows = [[i, 'name%d' % i] for i in range(50)]
        base = self._digests(rows, 7)
        changed = [list(r) for r in rows]
        changed[10][1] = 'other'
        chunk = checksum.chunk_of((10,), 7)
        self.assertEqual([chunk], checksum.differing(
            base, self._digests(changed, 7)))
        self.assertEqual([chunk], checksum.differing(
            base, self._digests(rows[:10] + rows[11:], 7)))
        self.assertEqual([checksum.chunk_of((99,), 7)], checksum.differing(
            base, self._digests(rows + [[99, 'x']], 7)))

    def test_chunks_cover_keys_evenly(self):
        counts = [0] * 10
        for i in range(10000):
            counts[checksum.chunk_of((i, 'k'), 10)] += 1
        self.assertTrue(all(800 < c < 1200 for c in counts), counts)
        self.assertEqual(0, checksum.chunk_of(('anything',), 1))
