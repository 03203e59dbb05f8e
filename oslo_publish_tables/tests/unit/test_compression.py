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

"""Tests for compressed batch bodies (format 1.2)."""

import base64
import json
import zlib

from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st
import testtools

from oslo_publish_tables import exceptions
from oslo_publish_tables import opts
from oslo_publish_tables.protocol import compression
from oslo_publish_tables.protocol import envelope
from oslo_publish_tables.tests.unit import test_envelope

DICTIONARY = compression.DICTIONARIES[compression.ENCODING]


def _wire(payload):
    return json.loads(json.dumps(payload))


def _stream(text, zdict=DICTIONARY, wbits=zlib.MAX_WBITS):
    """A zlib stream of ``text`` (bytes), as base64 text."""
    if zdict is None:
        compressor = zlib.compressobj(6, zlib.DEFLATED, wbits)
    else:
        compressor = zlib.compressobj(6, zlib.DEFLATED, wbits, 8,
                                      zlib.Z_DEFAULT_STRATEGY, zdict)
    data = compressor.compress(text) + compressor.flush()
    return base64.b64encode(data).decode('ascii')


def _compressed(fields_text):
    return {'format': envelope.FORMAT, 'version': '1.2',
            'encoding': compression.ENCODING,
            'body': _stream(fields_text.encode('utf-8'))}


class PackTest(testtools.TestCase):

    def test_round_trip(self):
        fields = {'a': [1, 2.5, None, True, 'caf\xe9'], 'b': {'c': 'd'}}
        encoding, body = compression.pack(fields)
        self.assertEqual('zlib-1', encoding)
        self.assertIsInstance(body, str)
        self.assertEqual(fields, compression.unpack(encoding, body))

    def test_dictionary_is_frozen(self):
        # Producers and consumers of every release must agree on it: a
        # different dictionary needs a new encoding name, not an edit.
        self.assertEqual(1080, len(DICTIONARY))
        self.assertEqual(0x03716070, zlib.adler32(DICTIONARY))

    def test_stream_names_its_dictionary(self):
        _encoding, body = compression.pack({'a': 1})
        data = base64.b64decode(body)
        self.assertTrue(data[1] & 0x20)  # FDICT
        self.assertEqual(zlib.adler32(DICTIONARY),
                         int.from_bytes(data[2:6], 'big'))

    def test_option_is_listed_and_off_by_default(self):
        options = {o.name: o for _group, group_opts in opts.list_opts()
                   for o in group_opts}
        self.assertEqual('none', options['compression'].default)
        self.assertEqual(['none', 'zlib'], [
            c[0] for c in options['compression'].type.choices.items()])


class UnpackRejectsTest(testtools.TestCase):
    """Every bad body raises EnvelopeError, with a short message."""

    def assertRejected(self, encoding, body, message, **kwargs):
        exc = self.assertRaises(exceptions.EnvelopeError,
                                compression.unpack, encoding, body,
                                **kwargs)
        self.assertIn(message, str(exc))
        self.assertLess(len(str(exc)), 400)

    def test_unknown_encoding(self):
        body = _stream(b'{}')
        for encoding in ('zlib-2', 'gzip', '', None, 1, ['zlib-1']):
            self.assertRejected(encoding, body, 'unknown encoding')

    def test_body_not_a_string(self):
        for body in (None, 5, ['eJw='], {'a': 1}, b'eJw='):
            self.assertRejected('zlib-1', body, 'not a string')

    def test_bad_base64(self):
        for body in ('eJ w=', 'not base64!', 'abc', '\xe9\xe9\xe9\xe9',
                     _stream(b'{}') + '\n'):
            self.assertRejected('zlib-1', body, 'not base64')

    def test_not_a_zlib_stream(self):
        for data, message in ((b'', 'truncated'),
                              (zlib.compress(b'{}')[:1], 'truncated'),
                              (b'\x00' * 10, 'not a zlib-1 stream'),
                              (b'garbage here', 'not a zlib-1 stream')):
            self.assertRejected('zlib-1', base64.b64encode(data).decode(),
                                message)

    def test_other_dictionary(self):
        body = _stream(b'{"a":1}', zdict=b'another dictionary')
        self.assertRejected('zlib-1', body, 'not a zlib-1 stream')

    def test_raw_deflate_and_gzip_are_not_accepted(self):
        for wbits in (-zlib.MAX_WBITS, 16 + zlib.MAX_WBITS):
            self.assertRejected('zlib-1', _stream(b'{}', None, wbits),
                                'stream')

    def test_stream_without_dictionary_is_accepted(self):
        # The dictionary only helps; a stream that does not use it is
        # still a well-formed body.
        self.assertEqual({'a': 1}, compression.unpack(
            'zlib-1', _stream(b'{"a": 1}', zdict=None)))

    def test_truncated_stream(self):
        data = base64.b64decode(_stream(b'{"a":"' + b'x' * 500 + b'"}'))
        for end in range(len(data)):
            body = base64.b64encode(data[:end]).decode()
            self.assertRaises(exceptions.EnvelopeError, compression.unpack,
                              'zlib-1', body)

    def test_trailing_bytes(self):
        data = base64.b64decode(_stream(b'{}'))
        self.assertRejected('zlib-1', base64.b64encode(
            data + b'x').decode(), 'trailing bytes')
        self.assertRejected('zlib-1', base64.b64encode(
            data + data).decode(), 'trailing bytes')

    def test_damaged_checksum(self):
        data = bytearray(base64.b64decode(_stream(b'{"a":1}')))
        data[-1] ^= 1
        self.assertRejected('zlib-1', base64.b64encode(data).decode(),
                            'stream')

    def test_expansion_is_bounded(self):
        text = b'{"a":"' + b' ' * 100000 + b'"}'
        body = _stream(text)
        self.assertLess(len(body), 1000)  # a small "bomb"
        self.assertRejected('zlib-1', body, 'expands beyond 1000 bytes',
                            limit=1000)
        self.assertEqual(len(text), len(json.dumps(compression.unpack(
            'zlib-1', body, limit=len(text)), separators=(',', ':'))))

    def test_not_json(self):
        for text in (b'', b'{', b'{"a":1}{', b"{'a': 1}", b'\xff\xfe{}',
                     b'{"a": NaN}', b'{"a": Infinity}', b'{"a": -Infinity}',
                     b'{"a": 1' + b'0' * 5000 + b'}'):
            self.assertRejected('zlib-1', _stream(text), 'not JSON')

    def test_deeply_nested_json(self):
        text = b'{"a":' + b'[' * 100000 + b']' * 100000 + b'}'
        self.assertRejected('zlib-1', _stream(text), 'not JSON')

    def test_not_an_object(self):
        for text in (b'[]', b'null', b'1', b'"x"', b'[{"a": 1}]'):
            self.assertRejected('zlib-1', _stream(text), 'not an object')


def _payload(*records, producer=test_envelope.PRODUCER):
    return envelope.batch(producer, 9, list(records), 10.0)


def _txn(seq, txn, changes, part=0, parts=1):
    return envelope.txn_record(seq, 1700000000000000 + seq, txn, changes,
                               part, parts)


class CompressedEnvelopeTest(testtools.TestCase):

    def test_round_trip_is_the_plain_batch(self):
        plain = test_envelope._valid_payload()
        compressed = _wire(envelope.compress(plain))
        self.assertEqual({'format', 'version', 'encoding', 'body'},
                         set(compressed))
        self.assertEqual(envelope.VERSION, compressed['version'])
        expected = envelope.parse(_wire(plain))
        got = envelope.parse(compressed)
        # The unsplit txn record lost its id (compact header); the rest,
        # the split part and the resync marker, are as sent plain.
        self.assertIsNone(got.records[0].txn)
        self.assertEqual(expected._replace(records=[
            expected.records[0]._replace(txn=None)] + expected.records[1:]),
            got)
        self.assertEqual('txn-b', got.records[1].txn)
        self.assertEqual((1, 3), (got.records[1].part, got.records[1].parts))

    def test_compact_header(self):
        payload = envelope.compress(_payload(
            _txn(1, 't1', test_envelope.CHANGES[:1]),
            _txn(2, 't2', test_envelope.CHANGES[1:2], 0, 2),
            _txn(3, 't2', test_envelope.CHANGES[2:3], 1, 2)))
        fields = compression.unpack(payload['encoding'], payload['body'])
        first, second, third = fields['records']
        self.assertEqual({'seq', 'kind', 'ts', 'changes'}, set(first))
        self.assertEqual(('t2', 0, 2), (second['txn'], second['part'],
                                        second['parts']))
        self.assertEqual(('t2', 1, 2), (third['txn'], third['part'],
                                        third['parts']))
        self.assertNotIn('format', fields)
        self.assertNotIn('version', fields)

    def test_heartbeat_and_goodbye(self):
        payload = envelope.compress(envelope.batch(
            test_envelope.PRODUCER, 7, [], 2.5, final=True))
        batch = envelope.parse(_wire(payload))
        self.assertEqual((test_envelope.PRODUCER, 7, True, 2.5, [], 0, None),
                         tuple(batch))

    def test_compact_header_only_inside_a_body(self):
        plain = _wire(_payload(_txn(1, 't1', test_envelope.CHANGES[:1])))
        for keys in (('txn',), ('part',), ('parts',), ('part', 'parts'),
                     ('txn', 'part', 'parts')):
            payload = json.loads(json.dumps(plain))
            for key in keys:
                del payload['records'][0][key]
            payload['version'] = '1.2'
            self.assertRaises(exceptions.EnvelopeError, envelope.parse,
                              payload)

    def test_half_a_compact_header_is_rejected(self):
        record = {'seq': 1, 'kind': 'txn', 'ts': 5, 'changes': []}
        for extra in ({'part': 0}, {'parts': 1}, {'txn': 't', 'part': 0},
                      {'txn': 5}):
            fields = {'producer': {'id': 'p'}, 'last_seq': 1,
                      'final': False, 'heartbeat_interval': 1.0,
                      'records': [dict(record, **extra)]}
            self.assertRaises(exceptions.EnvelopeError, envelope.parse,
                              _compressed(json.dumps(fields)))
        fields['records'] = [dict(record, txn='t')]
        self.assertEqual('t', envelope.parse(_compressed(json.dumps(
            fields))).records[0].txn)

    def test_body_fields_are_validated_like_plain_ones(self):
        good = {'producer': {'id': 'p'}, 'last_seq': 1, 'final': False,
                'heartbeat_interval': 1.0, 'records': []}
        self.assertEqual(1, envelope.parse(_compressed(json.dumps(
            good))).last_seq)
        for key in good:
            fields = dict(good)
            del fields[key]
            self.assertRaises(exceptions.EnvelopeError, envelope.parse,
                              _compressed(json.dumps(fields)))
        self.assertRaises(exceptions.EnvelopeError, envelope.parse,
                          _compressed(json.dumps(dict(good, final=0))))

    def test_fields_outside_the_body_are_not_read(self):
        # Only format and version are read outside a compressed body: a
        # last_seq next to it is not the signed body's and is ignored.
        payload = _wire(envelope.compress(_payload()))
        payload['last_seq'] = 1000
        payload['records'] = ['junk']
        self.assertEqual(9, envelope.parse(payload).last_seq)

    def test_encoding_without_body(self):
        payload = _wire(envelope.compress(_payload()))
        del payload['body']
        self.assertRaises(exceptions.EnvelopeError, envelope.parse, payload)

    def test_older_versions_still_parse(self):
        for version in ('1.0', '1.1'):
            payload = _wire(test_envelope._valid_payload())
            payload['version'] = version
            self.assertEqual(3, len(envelope.parse(payload).records))

    def test_smaller_than_plain(self):
        payload = _payload(_txn(1, 'a' * 32, test_envelope.CHANGES))
        self.assertLess(len(json.dumps(envelope.compress(payload))),
                        len(json.dumps(payload)) * 0.7)


# -- fuzzing the decoder path ------------------------------------------------

def _parse(payload):
    try:
        return envelope.parse(payload)
    except exceptions.EnvelopeError:
        return None


def _valid_body():
    return base64.b64decode(envelope.compress(
        test_envelope._valid_payload())['body'])


@st.composite
def _damaged_streams(draw):
    """A valid compressed body with bytes flipped, cut, inserted."""
    data = bytearray(_valid_body())
    for _ in range(draw(st.integers(min_value=1, max_value=4))):
        action = draw(st.sampled_from(['flip', 'cut', 'insert', 'drop']))
        where = draw(st.integers(min_value=0, max_value=len(data)))
        if action == 'flip' and where < len(data):
            data[where] ^= draw(st.integers(min_value=1, max_value=255))
        elif action == 'cut':
            del data[where:]
        elif action == 'insert':
            data[where:where] = draw(st.binary(min_size=1, max_size=8))
        elif where < len(data):
            del data[where]
    return base64.b64encode(bytes(data)).decode('ascii')


class DecoderFuzzTest(testtools.TestCase):
    """Hostile bodies: EnvelopeError or a valid batch, nothing else."""

    def _check(self, payload):
        result = _parse(payload)
        if result is not None:
            self.assertIsInstance(result, envelope.Batch)
            for record in result.records:
                self.assertIn(record.kind, ('txn', 'resync'))
                for change in record.changes:
                    self.assertIn(change.op, envelope.OPS)
                    self.assertTrue(change.pk)
        return result

    @settings(max_examples=300, deadline=None)
    @given(st.binary(max_size=300))
    def test_arbitrary_bytes(self, data):
        self._check({'format': 'publish_tables', 'version': '1.2',
                     'encoding': 'zlib-1',
                     'body': base64.b64encode(data).decode()})

    @settings(max_examples=300, deadline=None)
    @given(st.text(max_size=200), st.sampled_from(['zlib-1', 'zlib-2']))
    def test_arbitrary_text(self, body, encoding):
        self._check({'format': 'publish_tables', 'version': '1.2',
                     'encoding': encoding, 'body': body})

    @settings(max_examples=300, deadline=None)
    @given(_damaged_streams())
    def test_damaged_stream(self, body):
        self._check({'format': 'publish_tables', 'version': '1.2',
                     'encoding': 'zlib-1', 'body': body})

    @settings(max_examples=200, deadline=None)
    @given(test_envelope._json)
    def test_arbitrary_json_inside(self, fields):
        self._check(_compressed(json.dumps(fields)))

    @settings(max_examples=300, deadline=None)
    @given(test_envelope._mutated_payloads())
    def test_mutated_batch_inside(self, payload):
        fields = {k: v for k, v in payload.items()
                  if k not in ('format', 'version')}
        plain = self._check(_wire(payload))
        try:
            text = json.dumps(fields, allow_nan=False)
        except ValueError:
            # NaN or an infinity: a body never carries them (see
            # UnpackRejectsTest.test_not_json).
            self.assertIsNone(self._check(_compressed(json.dumps(fields))))
            return
        packed = self._check(_compressed(text))
        if plain is not None:
            # What parses plain parses compressed, to the same batch.
            self.assertEqual(plain, packed)

    @settings(max_examples=100, deadline=None)
    @given(test_envelope._json, test_envelope._json)
    def test_arbitrary_encoding_and_body(self, encoding, body):
        self._check({'format': 'publish_tables', 'version': '1.2',
                     'encoding': encoding, 'body': body})
