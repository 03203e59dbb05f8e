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

"""Tests for the lossless JSON encoding of column values."""

import datetime
import decimal
import json
import math
import uuid

from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st
import testtools

from oslo_publish_tables import exceptions
from oslo_publish_tables.protocol import codec


def _wire(value):
    """Encode ``value`` and pass it through a real JSON round trip."""
    return json.loads(json.dumps(codec.encode(value)))


def _round_trip(value):
    return codec.decode(_wire(value))


_TZ_PLUS = datetime.timezone(datetime.timedelta(hours=5, minutes=30))
_TZ_MINUS = datetime.timezone(-datetime.timedelta(hours=11, minutes=15))


class RoundTripTest(testtools.TestCase):
    """Every supported type comes back equal and of the same type."""

    def assertRoundTrip(self, value, expected_type=None):
        result = _round_trip(value)
        self.assertEqual(value, result)
        self.assertIs(expected_type or type(value), type(result))
        return result

    def test_plain_values_are_sent_unchanged(self):
        for value in (None, True, False, 0, -1, 2 ** 80, 1.5, -0.25, '',
                      'text', 'caf\u00e9 \U0001f600'):
            self.assertIs(value, codec.encode(value))
            self.assertRoundTrip(value)

    def test_bool_stays_bool(self):
        self.assertIs(True, _round_trip(True))
        self.assertIs(False, _round_trip(False))

    def test_naive_datetime_with_microseconds(self):
        value = datetime.datetime(2024, 2, 29, 23, 59, 58, 123456)
        result = self.assertRoundTrip(value)
        self.assertIsNone(result.tzinfo)
        self.assertEqual(123456, result.microsecond)
        self.assertEqual('dt', codec.encode(value)['$t'])

    def test_aware_datetime_keeps_offset(self):
        for tz in (datetime.timezone.utc, _TZ_PLUS, _TZ_MINUS):
            value = datetime.datetime(1999, 12, 31, 1, 2, 3, 7, tzinfo=tz)
            result = self.assertRoundTrip(value)
            self.assertEqual(tz.utcoffset(None), result.utcoffset())
            self.assertEqual(7, result.microsecond)

    def test_aware_and_naive_are_not_confused(self):
        naive = datetime.datetime(2020, 1, 1, 12, 0, 0, 1)
        aware = naive.replace(tzinfo=datetime.timezone.utc)
        self.assertIsNone(_round_trip(naive).tzinfo)
        self.assertIsNotNone(_round_trip(aware).tzinfo)

    def test_date(self):
        result = self.assertRoundTrip(datetime.date(1, 1, 1))
        self.assertNotIsInstance(result, datetime.datetime)
        self.assertRoundTrip(datetime.date(9999, 12, 31))

    def test_time(self):
        self.assertRoundTrip(datetime.time(0, 0))
        self.assertRoundTrip(datetime.time(23, 59, 59, 999999))
        result = self.assertRoundTrip(datetime.time(6, 7, 8, 9,
                                                    tzinfo=_TZ_MINUS))
        self.assertEqual(_TZ_MINUS.utcoffset(None), result.utcoffset())

    def test_timedelta(self):
        for value in (datetime.timedelta(0),
                      datetime.timedelta(days=-1, microseconds=1),
                      datetime.timedelta(days=3, seconds=7, microseconds=9),
                      datetime.timedelta.max, datetime.timedelta.min):
            self.assertRoundTrip(value)

    def test_decimal_is_exact(self):
        for text in ('0', '-0', '1.10', '1.100', '-7.5E-12', '1E-30',
                     '3.14159265358979323846264338327950288419716939937510'
                     '58209749445923078164062862089986280348253421170679',
                     '-123456789012345678901234567890.000000000000000001',
                     '1E+400'):
            value = decimal.Decimal(text)
            result = self.assertRoundTrip(value)
            # Equal is not enough: 1.10 == 1.100, but the text differs.
            self.assertEqual(text, str(result))
            self.assertEqual(value.as_tuple(), result.as_tuple())

    def test_bytes(self):
        for value in (b'', b'\x00', bytes(range(256)), b'\xff' * 1000):
            self.assertRoundTrip(value)
        self.assertEqual(b'abc', _round_trip(bytearray(b'abc')))
        self.assertEqual(b'xyz', _round_trip(memoryview(b'xyz')))
        self.assertEqual({'$t': 'b', 'v': ''}, codec.encode(b''))

    def test_uuid(self):
        value = uuid.uuid4()
        self.assertRoundTrip(value)
        self.assertEqual({'$t': 'uuid', 'v': str(value)},
                         codec.encode(value))

    def test_non_finite_floats(self):
        self.assertTrue(math.isnan(_round_trip(float('nan'))))
        self.assertEqual(math.inf, _round_trip(float('inf')))
        self.assertEqual(-math.inf, _round_trip(float('-inf')))
        # Strict JSON can carry them: nothing non-standard is emitted.
        for value in (float('nan'), float('inf'), float('-inf')):
            json.dumps(codec.encode(value), allow_nan=False)

    def test_negative_zero(self):
        result = _round_trip(-0.0)
        self.assertEqual(-1.0, math.copysign(1.0, result))

    def test_json_values(self):
        for value in ({}, [], {'a': [1, 2.5, None, True, {'b': 'c'}]},
                      [[], {}, ['x']], {'$t': 'dt', 'v': '2020-01-01'},
                      {'$t': 'nope'}, [{'$t': 'b', 'v': 'AA=='}]):
            self.assertRoundTrip(value)

    def test_json_dict_that_looks_tagged_stays_data(self):
        value = {'$t': 'uuid', 'v': str(uuid.UUID(int=1))}
        result = self.assertRoundTrip(value)
        self.assertIsInstance(result['v'], str)

    def test_tuple_travels_as_json_list(self):
        self.assertEqual([1, 2], _round_trip((1, 2)))

    def test_unencodable_value(self):
        for value in (object(), {1, 2}, complex(1, 2)):
            self.assertRaises(exceptions.EnvelopeError, codec.encode, value)

    def test_rows(self):
        row = {'id': 7, 'when': datetime.datetime(2020, 5, 6, 7, 8, 9, 10),
               'price': decimal.Decimal('0.0001'), 'blob': b'\x01',
               'meta': {'k': ['v']}, 'name': None}
        wire = json.loads(json.dumps(codec.encode_row(row)))
        self.assertEqual(row, codec.decode_row(wire))


class DecodeRejectsTest(testtools.TestCase):
    """Anything that is not a value :func:`codec.encode` made is refused."""

    def assertRejected(self, value):
        self.assertRaises(exceptions.EnvelopeError, codec.decode, value)

    def test_unknown_tags(self):
        for tag in ('x', '', 'DT', 'datetime', None, 1, ['dt'], {'a': 1}):
            self.assertRejected({'$t': tag, 'v': '2020-01-01'})

    def test_untagged_containers(self):
        for value in ([], [1], {}, {'a': 1}, {'$t': 'dt'}, {'v': 1},
                      {'$t': 'd', 'v': '2020-01-01', 'extra': 1}):
            self.assertRejected(value)

    def test_malformed_tagged_values(self):
        bad = [('dt', 'yesterday'), ('dt', 5), ('dt', None),
               ('dt', '2020-13-01T00:00:00'),
               ('d', '2020-02-30'), ('d', []), ('tm', '25:00'),
               ('tm', 1.5), ('td', [1, 2]), ('td', [1, 2, 3, 4]),
               ('td', 5), ('td', ['a', 0, 0]), ('td', [10 ** 12, 0, 0]),
               ('dec', 'one'), ('dec', None), ('dec', {}),
               ('dec', [1]), ('b', 'abc'), ('b', 5), ('b', '\u00e9'),
               ('uuid', 'not-a-uuid'), ('uuid', '1234'), ('uuid', 5),
               ('uuid', None), ('uuid', ['x']), ('uuid', {}),
               ('f', 'many'), ('f', None), ('f', [1])]
        for tag, v in bad:
            self.assertRejected({'$t': tag, 'v': v})

    def test_non_dict_rows(self):
        for row in (None, [], [('a', 1)], 'row', 1, ({'a': 1},)):
            self.assertRaises(exceptions.EnvelopeError, codec.decode_row,
                              row)

    def test_row_with_bad_value(self):
        self.assertRaises(exceptions.EnvelopeError, codec.decode_row,
                          {'a': 1, 'b': [1, 2]})


# -- property tests -----------------------------------------------------

_json_scalars = (st.none() | st.booleans() | st.text(max_size=20)
                 | st.integers() | st.floats(allow_nan=False,
                                             allow_infinity=False))
_json = st.recursive(
    _json_scalars,
    lambda inner: (st.lists(inner, max_size=4)
                   | st.dictionaries(st.text(max_size=8), inner,
                                     max_size=4)),
    max_leaves=12)

_offsets = st.builds(
    datetime.timezone,
    st.timedeltas(min_value=-datetime.timedelta(hours=23, minutes=59),
                  max_value=datetime.timedelta(hours=23, minutes=59)))

_values = st.one_of(
    st.none(), st.booleans(), st.integers(), st.text(),
    st.floats(),  # including nan and +-inf
    st.datetimes(), st.datetimes(timezones=_offsets),
    st.dates(), st.times(), st.times(timezones=_offsets),
    st.timedeltas(),
    st.decimals(allow_nan=False, allow_infinity=False),
    st.decimals(allow_nan=False, allow_infinity=False, places=40),
    st.binary(), st.uuids(),
    st.lists(_json, max_size=4),
    st.dictionaries(st.text(max_size=8), _json, max_size=4),
)


class _Int(int):
    pass


class NormalizeTest(testtools.TestCase):
    """normalize() is decode(encode()) without the encoded form."""

    VALUES = [
        None, True, 0, -7, _Int(3), 'text', 1.25, float('inf'),
        float('-inf'), decimal.Decimal('1.10E+3'), decimal.Decimal('-0'),
        uuid.UUID(int=5), b'\x00\xff', bytearray(b'ab'), memoryview(b'cd'),
        datetime.datetime(2024, 2, 29, 23, 59, 58, 123456),
        datetime.datetime(2024, 2, 29, 1, 2, tzinfo=_TZ_PLUS),
        datetime.datetime(2024, 11, 3, 1, 30, fold=1),
        datetime.date(2024, 1, 2), datetime.time(3, 4, 5, 6),
        datetime.time(3, 4, tzinfo=_TZ_MINUS), datetime.time(1, fold=1),
        datetime.timedelta(days=-1, microseconds=5), [1, 'a'],
        {'k': [None]}, (1, 2),
    ]

    def assertSameValue(self, expected, got):
        self.assertIs(type(expected), type(got))
        if isinstance(expected, float) and math.isnan(expected):
            self.assertTrue(math.isnan(got))
            return
        self.assertEqual(expected, got)
        self.assertEqual(repr(expected), repr(got))
        for attr in ('tzinfo', 'fold'):
            self.assertEqual(getattr(expected, attr, None),
                             getattr(got, attr, None))

    def test_values(self):
        for value in self.VALUES + [float('nan')]:
            self.assertSameValue(codec.decode(codec.encode(value)),
                                 codec.normalize(value))

    def test_row(self):
        row = {'c%d' % i: v for i, v in enumerate(self.VALUES)}
        got = codec.normalize_row(row)
        self.assertIsNot(row, got)
        want = codec.decode_row(codec.encode_row(row))
        self.assertEqual(sorted(want), sorted(got))
        for name in want:
            self.assertSameValue(want[name], got[name])

    def test_unencodable_value_raises(self):
        self.assertRaises(exceptions.EnvelopeError, codec.normalize,
                          object())


class PropertyTest(testtools.TestCase):

    @settings(max_examples=300, deadline=None)
    @given(_values)
    def test_round_trip(self, value):
        result = _round_trip(value)
        if isinstance(value, float) and math.isnan(value):
            self.assertIsInstance(result, float)
            self.assertTrue(math.isnan(result))
            return
        self.assertEqual(value, result)
        self.assertIs(type(value), type(result))
        if isinstance(value, decimal.Decimal):
            self.assertEqual(value.as_tuple(), result.as_tuple())
        if isinstance(value, (datetime.datetime, datetime.time)):
            self.assertEqual(value.utcoffset(), result.utcoffset())

    @settings(max_examples=200, deadline=None)
    @given(st.dictionaries(st.text(max_size=8), _values, max_size=5))
    def test_row_round_trip_is_strict_json(self, row):
        text = json.dumps(codec.encode_row(row), allow_nan=False)
        result = codec.decode_row(json.loads(text))
        self.assertEqual(set(row), set(result))
        for name, value in row.items():
            if isinstance(value, float) and math.isnan(value):
                self.assertTrue(math.isnan(result[name]))
            else:
                self.assertEqual(value, result[name])

    @settings(max_examples=300, deadline=None)
    @given(st.one_of(
        _json,
        st.fixed_dictionaries({'$t': st.sampled_from(
            ['dt', 'd', 'tm', 'td', 'dec', 'b', 'uuid', 'f', 'json']),
            'v': _json}),
        st.fixed_dictionaries({'$t': _json, 'v': _json})))
    def test_decode_of_anything_raises_only_envelope_error(self, value):
        try:
            codec.decode(value)
        except exceptions.EnvelopeError:
            pass
