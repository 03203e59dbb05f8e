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

"""Tests for building and parsing the versioned message format."""

import copy
import datetime
import decimal
import json
import uuid

from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st
import testtools

from oslo_publish_tables import exceptions
from oslo_publish_tables.protocol import envelope

PRODUCER = {'id': 'a' * 32, 'host': 'node1', 'pid': 4242,
            'started': 1700000000000000, 'publisher': 'publish_tables.node1'}

CHANGES = [
    envelope.Change('instances', 'insert', {'id': 1},
                    {'id': 1, 'uuid': str(uuid.UUID(int=1)),
                     'created_at': datetime.datetime(2024, 1, 2, 3, 4, 5,
                                                     678901),
                     'memory_mb': 512, 'locked': False, 'user_data': None},
                    ['id', 'uuid', 'created_at', 'memory_mb']),
    envelope.Change('instances', 'update', {'id': 2},
                    {'id': 2, 'vm_state': 'active'},
                    ['vm_state', 'task_state']),
    envelope.Change('compute_nodes', 'update', {'id': 3},
                    {'id': 3,
                     'cpu_allocation_ratio': decimal.Decimal('16.0000'),
                     'stats': b'\x00\x01'},
                    ['cpu_allocation_ratio']),
    envelope.Change('tags', 'delete',
                    {'resource_id': 'r1', 'tag': 'gold'},
                    {'resource_id': 'r1', 'tag': 'gold'}, []),
]


def _wire(payload):
    return json.loads(json.dumps(payload))


def _valid_payload():
    records = [envelope.txn_record(7, 1700000000000001, 'txn-a',
                                   CHANGES[:2]),
               envelope.txn_record(8, 1700000000000002, 'txn-b',
                                   CHANGES[2:], part=1, parts=3),
               envelope.resync_record(9, 1700000000000003,
                                      {'tags', 'instances'},
                                      'SQL text writes a published table')]
    return envelope.batch(PRODUCER, 9, records, 10.0)


class BuildAndParseTest(testtools.TestCase):

    def test_round_trip(self):
        parsed = envelope.parse(_wire(_valid_payload()))

        self.assertEqual(PRODUCER, parsed.producer)
        self.assertEqual(9, parsed.last_seq)
        self.assertIs(False, parsed.final)
        self.assertEqual(10.0, parsed.heartbeat_interval)
        self.assertEqual([7, 8, 9], [r.seq for r in parsed.records])

        first, second, resync = parsed.records
        self.assertEqual(
            envelope.Record(7, 'txn', 1700000000000001, 'txn-a',
                            tuple(envelope.Change(c.table, c.op, c.pk, c.row,
                                                  tuple(sorted(c.changed)))
                                  for c in CHANGES[:2]),
                            ('instances',), '', 0, 1),
            first)
        self.assertEqual((1, 3), (second.part, second.parts))
        self.assertEqual(('compute_nodes', 'tags'), second.tables)
        # Values that JSON cannot carry come back with their types.
        node = second.changes[0]
        self.assertEqual(decimal.Decimal('16.0000'),
                         node.row['cpu_allocation_ratio'])
        self.assertEqual('16.0000', str(node.row['cpu_allocation_ratio']))
        self.assertEqual(b'\x00\x01', node.row['stats'])
        self.assertEqual(CHANGES[0].row, first.changes[0].row)
        self.assertEqual(('delete', {'resource_id': 'r1', 'tag': 'gold'}),
                         (second.changes[1].op, second.changes[1].pk))

        self.assertEqual('resync', resync.kind)
        self.assertEqual(('instances', 'tags'), resync.tables)
        self.assertEqual('SQL text writes a published table', resync.reason)
        self.assertEqual((), resync.changes)
        self.assertIsNone(resync.txn)

    def test_outbox_id_is_decoded_when_present(self):
        payload = _wire(_valid_payload())
        self.assertIsNone(envelope.parse(payload).records[0].outbox_id)
        payload['records'][0]['outbox_id'] = 41
        payload['records'][2]['outbox_id'] = 42
        records = envelope.parse(payload).records
        self.assertEqual([41, None, 42], [r.outbox_id for r in records])

    def test_empty_heartbeat_and_final(self):
        payload = envelope.batch(PRODUCER, 0, [], 5, final=True)
        parsed = envelope.parse(_wire(payload))
        self.assertEqual([], parsed.records)
        self.assertIs(True, parsed.final)
        self.assertIsInstance(parsed.heartbeat_interval, float)

    def test_payload_is_plain_json(self):
        payload = _valid_payload()
        # Strict JSON, and nothing is lost by the round trip.
        self.assertEqual(payload,
                         json.loads(json.dumps(payload, allow_nan=False)))
        self.assertEqual(envelope.FORMAT, payload['format'])
        self.assertEqual(envelope.VERSION, payload['version'])

    def test_minor_version_is_accepted(self):
        payload = _wire(_valid_payload())
        payload['version'] = '1.7'
        self.assertEqual(3, len(envelope.parse(payload).records))


class ParseRejectsTest(testtools.TestCase):
    """Every malformed payload raises EnvelopeError and nothing else."""

    def assertRejected(self, payload, message=None):
        exc = self.assertRaises(exceptions.EnvelopeError, envelope.parse,
                                payload)
        if message is not None:
            self.assertIn(message, str(exc))
        return exc

    def _payload(self):
        return _wire(_valid_payload())

    def _change(self, payload):
        return payload['records'][0]['changes'][0]

    def test_not_an_object(self):
        for payload in (None, [], 'publish_tables', 1, [_valid_payload()]):
            self.assertRejected(payload)

    def test_wrong_format(self):
        for fmt in ('other', None, 1, ['publish_tables'], 'PUBLISH_TABLES'):
            payload = self._payload()
            payload['format'] = fmt
            self.assertRejected(payload, 'format')
        payload = self._payload()
        del payload['format']
        self.assertRejected(payload, 'format')

    def test_major_version_2(self):
        payload = self._payload()
        payload['version'] = '2.0'
        self.assertRejected(payload, 'unsupported version')

    def test_bad_versions(self):
        for version in ('', 'x.0', '.1', 1, 1.0, None, ['1.0'], '0.9'):
            payload = self._payload()
            payload['version'] = version
            self.assertRejected(payload)

    def test_missing_fields(self):
        for key in ('version', 'producer', 'last_seq', 'final',
                    'heartbeat_interval', 'records'):
            payload = self._payload()
            del payload[key]
            self.assertRejected(payload, repr(key))
        payload = self._payload()
        del payload['producer']['id']
        self.assertRejected(payload, "'id'")
        for key in ('seq', 'ts', 'kind', 'txn', 'part', 'parts', 'changes'):
            payload = self._payload()
            del payload['records'][0][key]
            self.assertRejected(payload, repr(key))
        payload = self._payload()
        del payload['records'][2]['tables']
        self.assertRejected(payload, "'tables'")
        for key in ('table', 'op', 'pk', 'row', 'changed'):
            payload = self._payload()
            del self._change(payload)[key]
            self.assertRejected(payload, repr(key))

    def test_bad_outbox_id(self):
        for value in ('41', 4.1, True, [41], {}):
            payload = self._payload()
            payload['records'][0]['outbox_id'] = value
            self.assertRejected(payload, "'outbox_id'")

    def test_bool_where_int_expected(self):
        payload = self._payload()
        payload['last_seq'] = True
        self.assertRejected(payload, 'wrong type bool')
        for key in ('seq', 'ts', 'part', 'parts'):
            payload = self._payload()
            payload['records'][0][key] = False
            self.assertRejected(payload, 'wrong type bool')
        payload = self._payload()
        payload['heartbeat_interval'] = True
        self.assertRejected(payload, 'wrong type bool')

    def test_other_wrong_types(self):
        for key, value in (('last_seq', '9'), ('last_seq', 9.0),
                           ('final', 0), ('final', 'false'),
                           ('heartbeat_interval', '10'),
                           ('producer', 'me'), ('records', {})):
            payload = self._payload()
            payload[key] = value
            self.assertRejected(payload, 'wrong type')
        payload = self._payload()
        payload['producer']['id'] = 17
        self.assertRejected(payload, 'wrong type')
        payload = self._payload()
        payload['records'][2]['tables'] = ['instances', 3]
        self.assertRejected(payload, 'bad table list')

    def test_unknown_op(self):
        for op in ('upsert', 'INSERT', '', 'truncate'):
            payload = self._payload()
            self._change(payload)['op'] = op
            self.assertRejected(payload, 'unknown op')

    def test_unknown_kind(self):
        for kind in ('snapshot', 'TXN', ''):
            payload = self._payload()
            payload['records'][0]['kind'] = kind
            self.assertRejected(payload, 'unknown kind')

    def test_empty_pk(self):
        payload = self._payload()
        self._change(payload)['pk'] = {}
        self.assertRejected(payload, 'empty primary key')

    def test_non_dict_payloads_inside(self):
        cases = [
            lambda p: p['records'].append('record'),
            lambda p: p['records'].append(None),
            lambda p: p['records'][0].__setitem__('changes', ['change']),
            lambda p: p['records'][0].__setitem__('changes', [None]),
            lambda p: p['records'][0].__setitem__('changes', [[1, 2]]),
            lambda p: self._change(p).__setitem__('pk', [1]),
            lambda p: self._change(p).__setitem__('pk', 1),
            lambda p: self._change(p).__setitem__('row', 'row'),
            lambda p: self._change(p).__setitem__('row', None),
            lambda p: self._change(p)['row'].__setitem__('id', [1]),
            lambda p: self._change(p)['row'].__setitem__(
                'id', {'$t': 'uuid', 'v': 5}),
            lambda p: self._change(p)['pk'].__setitem__(
                'id', {'$t': ['dt'], 'v': 5}),
            lambda p: p.__setitem__('producer', None),
        ]
        for mutate in cases:
            payload = self._payload()
            mutate(payload)
            self.assertRejected(payload)

    def test_huge_numbers(self):
        payload = self._payload()
        payload['heartbeat_interval'] = 10 ** 400
        self.assertRejected(payload, 'heartbeat_interval')
        payload = _wire(_valid_payload())
        payload['records'][0]['seq'] = 10 ** 400
        # Big integers are valid JSON integers; a sequence number may be
        # accepted, but only ever with EnvelopeError as the failure mode.
        self.assertEqual(10 ** 400, envelope.parse(payload).records[0].seq)

    def test_input_not_modified(self):
        payload = self._payload()
        before = copy.deepcopy(payload)
        envelope.parse(payload)
        self.assertEqual(before, payload)


# -- fuzzing ------------------------------------------------------------

_json_scalars = (st.none() | st.booleans() | st.integers()
                 | st.floats() | st.text(max_size=12)
                 | st.sampled_from(['publish_tables', '1.0', '2.0', 'txn',
                                    'resync', 'insert', 'update', 'delete',
                                    '$t', 'v', 'dt', 'uuid', 'dec']))
_json = st.recursive(
    _json_scalars,
    lambda inner: (st.lists(inner, max_size=5)
                   | st.dictionaries(
                       st.sampled_from(['format', 'version', 'producer',
                                        'id', 'last_seq', 'final',
                                        'heartbeat_interval', 'records',
                                        'seq', 'ts', 'kind', 'txn', 'part',
                                        'parts', 'changes', 'table', 'op',
                                        'pk', 'row', 'changed', 'tables',
                                        'reason', '$t', 'v'])
                       | st.text(max_size=6),
                       inner, max_size=6)),
    max_leaves=25)


def _containers(value, path=()):
    """Yield ``(path, container)`` for every list and dict in ``value``."""
    if isinstance(value, (dict, list)):
        yield path, value
        items = value.items() if isinstance(value, dict) else \
            enumerate(value)
        for key, child in items:
            yield from _containers(child, path + (key,))


@st.composite
def _mutated_payloads(draw):
    payload = _wire(_valid_payload())
    for _ in range(draw(st.integers(min_value=1, max_value=4))):
        containers = list(_containers(payload))
        _path, target = draw(st.sampled_from(containers))
        action = draw(st.sampled_from(['delete', 'replace', 'truncate']))
        if not target:
            continue
        if isinstance(target, dict):
            key = draw(st.sampled_from(sorted(target)))
        else:
            key = draw(st.integers(min_value=0, max_value=len(target) - 1))
        if action == 'delete':
            del target[key]
        elif action == 'replace':
            target[key] = draw(_json)
        elif isinstance(target, list):
            del target[draw(st.integers(min_value=0,
                                        max_value=len(target))):]
        else:
            target[key] = draw(_json)
    return payload


class FuzzTest(testtools.TestCase):

    def _parse(self, payload):
        try:
            return envelope.parse(payload)
        except exceptions.EnvelopeError:
            return None

    @settings(max_examples=200, deadline=None)
    @given(_json)
    def test_arbitrary_json(self, payload):
        self._parse(payload)

    @settings(max_examples=200, deadline=None)
    @given(st.fixed_dictionaries(
        {'format': st.just('publish_tables'),
         'version': st.sampled_from(['1.0', '1.1', '2.0']) | _json,
         'producer': st.fixed_dictionaries({'id': st.text()}) | _json,
         'last_seq': st.integers() | _json,
         'final': st.booleans() | _json,
         'heartbeat_interval': st.floats() | st.integers() | _json,
         'records': st.lists(_json, max_size=4)}))
    def test_arbitrary_batches(self, payload):
        result = self._parse(payload)
        if result is not None:
            self.assertIsInstance(result, envelope.Batch)

    @settings(max_examples=200, deadline=None)
    @given(_mutated_payloads())
    def test_mutated_valid_payload(self, payload):
        result = self._parse(_wire(payload))
        if result is not None:
            self.assertIsInstance(result, envelope.Batch)
            for record in result.records:
                self.assertIn(record.kind, ('txn', 'resync'))
                for change in record.changes:
                    self.assertIn(change.op, envelope.OPS)
                    self.assertTrue(change.pk)


# -- truncated and oversized input ----------------------------------------

@st.composite
def _truncated_payloads(draw):
    """A valid payload with strings, lists and objects cut short."""
    payload = _wire(_valid_payload())
    for _ in range(draw(st.integers(min_value=1, max_value=6))):
        _path, target = draw(st.sampled_from(list(_containers(payload))))
        if not target:
            continue
        keys = sorted(target) if isinstance(target, dict) else \
            list(range(len(target)))
        key = draw(st.sampled_from(keys))
        value = target[key]
        if isinstance(value, str):
            target[key] = value[:draw(st.integers(0, len(value)))]
        elif isinstance(target, list):
            del target[key:]
        else:
            for name in keys[keys.index(key):]:
                del target[name]
    return payload


def _deep(depth):
    """A list nested ``depth`` deep, as json.loads can still return."""
    value = []
    for _ in range(depth):
        value = [value]
    return value


def _call_deep(frames, func, *args):
    """Call ``func`` with ``frames`` more frames on the stack.

    The listener calls the decoder from deep inside oslo.messaging's
    executor, where less recursion depth is left than in a test.
    """
    if frames:
        return _call_deep(frames - 1, func, *args)
    return func(*args)


class HostileInputTest(testtools.TestCase):
    """Truncated and oversized payloads: EnvelopeError or a valid batch."""

    MAX_MESSAGE = 1000  # the error text is logged: keep it bounded

    def assertParsesOrRejects(self, payload, frames=0):
        try:
            result = _call_deep(frames, envelope.parse, payload)
        except exceptions.EnvelopeError as exc:
            self.assertLess(len(str(exc)), self.MAX_MESSAGE)
            return None
        self.assertIsInstance(result, envelope.Batch)
        return result

    @settings(max_examples=300, deadline=None)
    @given(_truncated_payloads())
    def test_truncated_payload(self, payload):
        self.assertParsesOrRejects(_wire(payload))

    def test_truncated_json_text(self):
        # The listener only passes on what json.loads accepted; of every
        # prefix of the text, those that are still JSON.
        text = json.dumps(_valid_payload())
        for end in range(len(text) + 1):
            try:
                payload = json.loads(text[:end])
            except ValueError:
                continue
            self.assertParsesOrRejects(payload)

    def _positions(self):
        """Setters of every field of a valid payload, by name."""
        def field(*path):
            def put(payload, value):
                target = payload
                for key in path[:-1]:
                    target = target[key]
                target[path[-1]] = value
            return put

        record = ('records', 0)
        change = record + ('changes', 0)
        return [field(name) for name in (
            'format', 'version', 'producer', 'last_seq', 'final',
            'heartbeat_interval', 'records')] + [
            field('producer', 'id'),
            field(*record + ('seq',)), field(*record + ('ts',)),
            field(*record + ('kind',)), field(*record + ('txn',)),
            field(*record + ('part',)), field(*record + ('changes',)),
            field('records', 2, 'tables'), field('records', 2, 'reason'),
            field(*change + ('table',)), field(*change + ('op',)),
            field(*change + ('pk',)), field(*change + ('row',)),
            field(*change + ('changed',)), field(*change + ('pk', 'id')),
            field(*change + ('row', 'uuid')),
            field(*change + ('row', 'created_at', 'v'))]

    def test_oversized_values_everywhere(self):
        big = 'x' * 1000000
        values = [big, [big], {big: big}, 10 ** 4000, -10 ** 4000,
                  1e308, -1e308, _deep(970), {'$t': 'json', 'v': _deep(960)},
                  {'$t': 'dt', 'v': big}, {'$t': 'b', 'v': big + '='},
                  {'$t': 'td', 'v': [10 ** 4000, 0, 0]},
                  {'$t': 'dec', 'v': '9' * 100000},
                  {'$t': 'uuid', 'v': _deep(960)}, [{}] * 100000]
        for put in self._positions():
            for value in values:
                payload = _wire(_valid_payload())
                put(payload, value)
                # Deep inside a listener thread's stack.
                self.assertParsesOrRejects(payload, frames=60)

    def test_many_records(self):
        records = [envelope.txn_record(n, n, 'txn', CHANGES)
                   for n in range(1, 5001)]
        payload = _wire(envelope.batch(PRODUCER, 5000, records, 10.0))
        self.assertEqual(5000, len(self.assertParsesOrRejects(
            payload).records))
        payload['records'][-1]['changes'][-1]['op'] = 'x' * 1000000
        self.assertIsNone(self.assertParsesOrRejects(payload))
