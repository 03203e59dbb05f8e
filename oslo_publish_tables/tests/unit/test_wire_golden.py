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

"""The wire format does not change: messages recorded from a release.

``data/wire_golden.json`` holds the messages of format 1.3 (recorded when
``ts_before`` was added): batches plain, split, compressed and signed,
heartbeat, goodbye, resync marker, durable ``outbox_id``, snapshot
replies signed and unsigned, outbox rows. These tests build the same
messages from the same inputs with the current code and require the same
JSON text, and parse the recorded ones with the current consumer side.
``data/wire_golden_1.2.json`` holds the same messages as the previous
version made them (recorded at commit b403238); the current consumer
side reads them too, so that a consumer reads what a producer of the
previous version sends.

To record the file again (only when the format is meant to change, with
a new version)::

    python -m oslo_publish_tables.tests.unit.test_wire_golden
"""

import datetime
import decimal
import json
import os
import uuid

import testtools

from oslo_publish_tables.capture import listeners
from oslo_publish_tables.outbox import store
from oslo_publish_tables.protocol import codec
from oslo_publish_tables.protocol import compression
from oslo_publish_tables.protocol import envelope
from oslo_publish_tables.protocol import signing
from oslo_publish_tables.protocol import snapshot_rpc
from oslo_publish_tables import sender as sender_mod

DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'data')
GOLDEN = os.path.join(DATA, 'wire_golden.json')
PREVIOUS = os.path.join(DATA, 'wire_golden_1.2.json')
KEY = 'k' * 32
IDENTITY = {'id': 'b7d2c1e0f4a94c3e8d6a5b4c3d2e1f00', 'host': 'compute-1',
            'pid': 4242, 'started': 1700000000000000,
            'publisher': 'publish_tables.compute-1'}
TS = 1700000000123456

ROW = {'id': 7, 'uuid': uuid.UUID('12345678-1234-5678-1234-567812345678'),
       'hostname': 'vm-7', 'vm_state': 'active', 'memory_mb': 2048,
       'locked': False, 'deleted': 0,
       'created_at': datetime.datetime(2024, 5, 6, 7, 8, 9, 123456),
       'launched_on': datetime.date(2024, 5, 6),
       'price': decimal.Decimal('12.3400'), 'blob': b'\x00\xffraw',
       'load': float('nan'), 'metadata': {'a': [1, 2, {'b': None}]}}
CHANGES = [
    envelope.Change('instances', 'insert', {'id': 7}, ROW, ()),
    envelope.Change('instances', 'update', {'id': 7},
                    dict(ROW, vm_state='stopped', price=None),
                    ('vm_state', 'price')),
    envelope.Change('instance_metadata', 'delete',
                    {'instance_uuid': 'u-7', 'key': 'k'},
                    {'instance_uuid': 'u-7', 'key': 'k', 'value': 'v'},
                    ()),
]


def _sender(**kwargs):
    sender = sender_mod.Sender(None, heartbeat_interval=10.0, **kwargs)
    sender.identity = dict(IDENTITY)
    return sender


def _records(drafts):
    """Numbered wire records of ``drafts``, split into parts of 2."""
    records, seq = [], 0
    for draft in drafts:
        parts = sender_mod._split(draft, 2)
        for index, part in enumerate(parts):
            seq += 1
            records.append(sender_mod._wire(seq, draft, part, index,
                                            len(parts)))
    return records


def _drafts():
    return [
        listeners.Draft('txn', TS, 'txn-1', CHANGES[:1]),
        listeners.Draft('txn', TS + 1, 'txn-2', CHANGES),
        listeners.Draft('resync', TS + 2, tables=['instances', 'services'],
                        reason='text() statement'),
    ]


def _outbox_drafts():
    return [
        store.OutboxDraft('txn', TS + 3, 'txn-3', CHANGES[1:2],
                          outbox_id=41),
        store.OutboxDraft('resync', TS + 4, tables=['instances'],
                          reason='truncated', outbox_id=42),
    ]


def _notifications():
    records = _records(_drafts())
    durable = _records(_outbox_drafts())
    plain = _sender()
    introduced = _sender()
    introduced._introduced = True
    signer = signing.Signer('2025-02', KEY)
    return {
        'batch': plain.payload(envelope.EVENT_BATCH, records, 4),
        'batch_introduced': introduced.payload(envelope.EVENT_BATCH,
                                               records[:1], 1),
        'batch_durable': plain.payload(envelope.EVENT_BATCH, durable, 2,
                                       before=(TS + 2, 40)),
        'batch_compressed': _sender(compression=compression.ZLIB).payload(
            envelope.EVENT_BATCH, records, 4),
        'batch_signed': _sender(signer=signer).payload(
            envelope.EVENT_BATCH, records, 4),
        'batch_compressed_signed': _sender(
            signer=signer, compression=compression.ZLIB).payload(
            envelope.EVENT_BATCH, records, 4),
        'heartbeat': introduced.payload(envelope.EVENT_HEARTBEAT, [], 4,
                                        before=(TS + 2, 0)),
        'goodbye': introduced.payload(envelope.EVENT_GOODBYE, [], 4,
                                      final=True),
    }


def _snapshot_replies():
    signer = signing.Signer('2025-02', KEY)
    opened = {'id': 'snap-1', 'ts': TS, 'columns': sorted(ROW),
              'pk': ['id'], 'fence_ms': 1.5, 'outbox_id': 40}
    page = {'rows': [codec.encode_row(ROW)], 'done': False,
            'table': 'instances', 'position': 0}
    ctxt = {snapshot_rpc.NONCE_KEY: 'nonce-1'}
    return {
        'open': snapshot_rpc.signed_open(None, ctxt, 'instances', opened),
        'open_signed': snapshot_rpc.signed_open(signer, ctxt, 'instances',
                                                opened),
        'fetch': snapshot_rpc.signed_fetch(None, ctxt, 'snap-1', page),
        'fetch_signed': snapshot_rpc.signed_fetch(signer, ctxt, 'snap-1',
                                                  page),
        'fetch_signed_no_nonce': snapshot_rpc.signed_fetch(
            signer, {}, 'snap-1', dict(page, rows=[], done=True,
                                       position=1)),
    }


def _outbox_rows():
    return {'txn': store.encode_payload(_outbox_drafts()[0]),
            'resync': store.encode_payload(_outbox_drafts()[1])}


def build():
    """Every golden message, made by the current code."""
    return {'notifications': _notifications(),
            'snapshot_replies': _snapshot_replies(),
            'outbox_rows': _outbox_rows()}


def _text(messages):
    return json.dumps(messages, indent=1, sort_keys=True) + '\n'


def _golden(path=GOLDEN):
    with open(path) as f:
        return json.load(f)


class SameBytesTest(testtools.TestCase):
    """The current code makes the recorded messages, to the byte."""

    def test_notifications(self):
        golden = _golden()['notifications']
        built = build()['notifications']
        self.assertEqual(sorted(golden), sorted(built))
        for name, message in golden.items():
            if 'compressed' in name:
                continue  # zlib's bytes: compared decompressed below
            self.assertEqual(_text(message), _text(built[name]), name)

    def test_compressed_bodies(self):
        golden = _golden()['notifications']
        built = build()['notifications']
        for name in ('batch_compressed', 'batch_compressed_signed'):
            old, new = golden[name], built[name]
            self.assertEqual(sorted(old), sorted(new), name)
            self.assertEqual(
                compression.unpack(old['encoding'], old['body']),
                compression.unpack(new['encoding'], new['body']), name)

    def test_snapshot_replies(self):
        self.assertEqual(_text(_golden()['snapshot_replies']),
                         _text(build()['snapshot_replies']))

    def test_outbox_rows(self):
        self.assertEqual(_golden()['outbox_rows'], build()['outbox_rows'])


class ParseRecordedTest(testtools.TestCase):
    """The consumer side reads every recorded message, of both versions."""

    def test_batches_parse(self):
        verifier = signing.Verifier([('2025-02', KEY)], require=False)
        for path in (GOLDEN, PREVIOUS):
            for name, message in _golden(path)['notifications'].items():
                verifier.verify(message)
                batch = envelope.parse(message)
                self.assertEqual(IDENTITY['id'], batch.producer['id'], name)
                if name in ('heartbeat', 'goodbye'):
                    self.assertEqual([], batch.records)
                    self.assertEqual(name == 'goodbye', batch.final)

    def test_ts_before_since_1_3(self):
        old = _golden(PREVIOUS)['notifications']
        new = _golden()['notifications']
        self.assertIsNone(envelope.parse(old['heartbeat']).ts_before)
        self.assertEqual(TS + 2, envelope.parse(new['heartbeat']).ts_before)
        self.assertEqual(0, envelope.parse(new['batch']).ts_before)
        durable = envelope.parse(new['batch_durable'])
        self.assertEqual((TS + 2, 40),
                         (durable.ts_before, durable.outbox_before))
        self.assertIsNone(envelope.parse(new['batch']).outbox_before)

    def test_records_decode_to_the_inputs(self):
        batch = envelope.parse(_golden(PREVIOUS)['notifications']['batch'])
        self.assertEqual([1, 2, 3, 4], [r.seq for r in batch.records])
        self.assertEqual(['txn', 'txn', 'txn', 'resync'],
                         [r.kind for r in batch.records])
        self.assertEqual([(0, 1), (0, 2), (1, 2), (0, 1)],
                         [(r.part, r.parts) for r in batch.records])
        inserted = batch.records[0].changes[0]
        self.assertEqual('insert', inserted.op)
        self.assertEqual(ROW['price'], inserted.row['price'])
        self.assertEqual(ROW['uuid'], inserted.row['uuid'])
        self.assertEqual(ROW['blob'], inserted.row['blob'])
        self.assertEqual(ROW['metadata'], inserted.row['metadata'])
        self.assertEqual(['instances', 'services'],
                         list(batch.records[3].tables))

    def test_durable_records_keep_outbox_ids(self):
        batch = envelope.parse(_golden()['notifications']['batch_durable'])
        self.assertEqual([41, 42], [r.outbox_id for r in batch.records])

    def test_signed_snapshot_replies_verify(self):
        verifier = signing.Verifier([('2025-02', KEY)])
        replies = _golden()['snapshot_replies']
        for name in ('open_signed', 'fetch_signed', 'fetch_signed_no_nonce'):
            self.assertEqual('2025-02', verifier.verify(replies[name]))
        self.assertEqual(
            {'method': 'fetch', 'snapshot_id': 'snap-1',
             'table': 'instances', 'position': 0, 'nonce': 'nonce-1'},
            replies['fetch_signed'][snapshot_rpc.REQUEST_FIELD])


if __name__ == '__main__':
    with open(GOLDEN, 'w') as f:
        f.write(_text(build()))
