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

"""The versioned message format (see doc/source/reference/message-format).

A producer sends notifications whose payload is a *batch*::

    {"format": "publish_tables", "version": "1.1",
     "producer": {"id": ..., "host": ..., "pid": ..., "started": ...,
                  "publisher": ...},
     "last_seq": 42, "ts_before": 1700000000120000, "outbox_before": 40,
     "heartbeat_interval": 10.0, "final": false,
     "records": [RECORD, ...]}

and each record is a committed transaction (or a chunk of one)::

    {"seq": 41, "kind": "txn", "txn": "5f0c...", "ts": 1700000000123456,
     "part": 0, "parts": 1,
     "changes": [{"table": "instances", "op": "update",
                  "pk": {"id": 7}, "row": {...}, "changed": ["vm_state"]}]}

or a resync marker::

    {"seq": 42, "kind": "resync", "ts": ..., "tables": ["instances"],
     "reason": "text() statement"}

Since 1.2 a payload may instead be *compressed* (:func:`compress`)::

    {"format": "publish_tables", "version": "1.2",
     "encoding": "zlib-1", "body": "<base64>"}

where ``body`` holds every other field (:mod:`.compression`) and its
records use the compact header: ``part`` and ``parts`` are left out when
they are 0 and 1, and so is ``txn`` then.

This module builds batches on the producer side and validates and decodes
them on the consumer side. It is the only place that knows the layout.
"""

import collections

from oslo_publish_tables import exceptions
from oslo_publish_tables.protocol import codec
from oslo_publish_tables.protocol import compression
from oslo_publish_tables.protocol import redaction

FORMAT = 'publish_tables'
VERSION = '1.3'
MAJOR = 1

EVENT_BATCH = 'publish_tables.batch'
EVENT_HEARTBEAT = 'publish_tables.heartbeat'
EVENT_GOODBYE = 'publish_tables.goodbye'
EVENT_TYPES = (EVENT_BATCH, EVENT_HEARTBEAT, EVENT_GOODBYE)

OPS = ('insert', 'update', 'delete')

Change = collections.namedtuple('Change', 'table op pk row changed')
Change.__doc__ = """One row change; ``row`` is the before-image on delete."""

Record = collections.namedtuple('Record', 'seq kind ts txn changes tables '
                                'reason part parts outbox_id',
                                defaults=(None,))
Record.__doc__ = """A committed transaction chunk or a resync marker.

``outbox_id`` is the record's outbox row in durable mode, else None.
"""

Batch = collections.namedtuple('Batch', 'producer last_seq final '
                               'heartbeat_interval records ts_before '
                               'outbox_before', defaults=(None, None))
Batch.__doc__ = """A decoded notification payload.

``ts_before`` (since 1.3; None before) is the highest stamp of the
producer's records numbered before the first of ``records`` (all up to
``last_seq`` if there are none), ``outbox_before`` (since 1.3; None if
none of them has an outbox id) their highest outbox id.
"""


def txn_record(seq, ts, txn, changes, part=0, parts=1):
    """Return the wire form of a transaction record.

    ``changes`` are :class:`Change` tuples with raw (not yet encoded)
    column values.
    """
    return {'seq': seq, 'kind': 'txn', 'ts': ts, 'txn': txn,
            'part': part, 'parts': parts,
            'changes': [encode_change(c) for c in changes]}


def resync_record(seq, ts, tables, reason):
    """Return the wire form of a resync marker."""
    return {'seq': seq, 'kind': 'resync', 'ts': ts,
            'tables': sorted(tables), 'reason': reason}


def encode_change(change):
    """The wire form of a :class:`Change`: the one encoding of a change.

    Records on the wire and rows of the durable outbox both carry it.
    """
    return {'table': change.table, 'op': change.op,
            'pk': codec.encode_row(change.pk),
            'row': codec.encode_row(change.row),
            'changed': sorted(change.changed)}


def batch(producer, last_seq, records, heartbeat_interval, final=False,
          ts_before=0, outbox_before=None):
    """Return a notification payload carrying ``records``.

    ``ts_before``, ``outbox_before``: see :class:`Batch`; None leaves
    them out (producers before format 1.3 sent neither).
    """
    payload = {'format': FORMAT, 'version': VERSION, 'producer': producer,
               'last_seq': last_seq, 'final': final,
               'heartbeat_interval': heartbeat_interval, 'records': records}
    if ts_before is not None:
        payload['ts_before'] = ts_before
    if outbox_before is not None:
        payload['outbox_before'] = outbox_before
    return payload


def compress(payload):
    """Return the compressed form of the payload ``payload``.

    It keeps ``format`` and ``version`` and carries the other fields,
    with compact record headers, in ``body`` (see :mod:`.compression`).
    """
    fields = {k: v for k, v in payload.items()
              if k not in ('format', 'version')}
    fields['records'] = [_compact(r) for r in payload['records']]
    encoding, body = compression.pack(fields)
    return {'format': FORMAT, 'version': VERSION, 'encoding': encoding,
            'body': body}


def _compact(record):
    """The compact header: no ``txn``, ``part``, ``parts`` if unsplit."""
    if record['kind'] != 'txn' or (record['part'], record['parts']) != (0, 1):
        return record
    return {k: v for k, v in record.items()
            if k not in ('txn', 'part', 'parts')}


def _require(mapping, key, types, where):
    """Return ``mapping[key]`` if it is one of ``types`` (bool is not int)."""
    try:
        value = mapping[key]
    except (KeyError, TypeError):
        raise exceptions.EnvelopeError('%s: missing %r' % (where, key))
    types = types if isinstance(types, tuple) else (types,)
    if not isinstance(value, types) or (
            isinstance(value, bool) and bool not in types):
        raise exceptions.EnvelopeError('%s: %r has the wrong type %s'
                                       % (where, key, type(value).__name__))
    return value


def parse(payload):
    """Validate and decode a notification payload into a :class:`Batch`.

    Raises :class:`~oslo_publish_tables.exceptions.EnvelopeError` naming
    the first problem found; never returns a partly valid batch.
    """
    if not isinstance(payload, dict):
        raise exceptions.EnvelopeError('payload is not an object')
    if payload.get('format') != FORMAT:
        raise exceptions.EnvelopeError(
            'unknown format %s' % redaction.short_repr(payload.get('format')))
    version = _require(payload, 'version', str, 'batch')
    try:
        major = int(version.split('.')[0])
    except ValueError:
        raise exceptions.EnvelopeError('bad version %s'
                                       % redaction.short_repr(version))
    if major != MAJOR:
        raise exceptions.EnvelopeError('unsupported version %s'
                                       % redaction.short_repr(version))
    if 'encoding' in payload:  # 1.2: the other fields are compressed
        payload = compression.unpack(payload['encoding'],
                                     payload.get('body'))
        compact = True
    else:
        compact = False
    producer = _require(payload, 'producer', dict, 'batch')
    _require(producer, 'id', str, 'producer')
    last_seq = _require(payload, 'last_seq', int, 'batch')
    final = _require(payload, 'final', bool, 'batch')
    interval = _require(payload, 'heartbeat_interval', (int, float), 'batch')
    try:
        interval = float(interval)
    except OverflowError:  # a JSON integer beyond the float range
        raise exceptions.EnvelopeError("batch: 'heartbeat_interval' is "
                                       "out of range")
    ts_before, outbox_before = (_optional_count(payload, key) for key in
                                ('ts_before', 'outbox_before'))
    records = [_parse_record(r, compact)
               for r in _require(payload, 'records', list, 'batch')]
    return Batch(producer, last_seq, final, interval, records, ts_before,
                 outbox_before)


def _optional_count(payload, key):
    """``payload[key]``, a non-negative integer, or None if absent."""
    if payload.get(key) is None:
        return None
    value = _require(payload, key, int, 'batch')
    if value < 0:
        raise exceptions.EnvelopeError('batch: %r is negative' % key)
    return value


def _parse_record(rec, compact=False):
    if not isinstance(rec, dict):
        raise exceptions.EnvelopeError('record is not an object')
    seq = _require(rec, 'seq', int, 'record')
    ts = _require(rec, 'ts', int, 'record')
    kind = _require(rec, 'kind', str, 'record')
    where = 'record %d' % seq
    outbox_id = rec.get('outbox_id')
    if outbox_id is not None:
        outbox_id = _require(rec, 'outbox_id', int, where)
    if kind == 'resync':
        tables = _require(rec, 'tables', list, where)
        if not all(isinstance(t, str) for t in tables):
            raise exceptions.EnvelopeError('%s: bad table list' % where)
        reason = rec.get('reason', '')
        if not isinstance(reason, str):  # str() of any JSON could recurse
            reason = redaction.short_repr(reason)
        return Record(seq, kind, ts, None, (), tuple(tables), reason, 0, 1,
                      outbox_id)
    if kind != 'txn':
        raise exceptions.EnvelopeError('%s: unknown kind %s'
                                       % (where, redaction.short_repr(kind)))
    if compact and 'parts' not in rec and 'part' not in rec:
        part, parts = 0, 1  # the compact header of an unsplit txn
        txn = _require(rec, 'txn', str, where) if 'txn' in rec else None
    else:
        txn = _require(rec, 'txn', str, where)
        part = _require(rec, 'part', int, where)
        parts = _require(rec, 'parts', int, where)
    changes = tuple(_parse_change(c, where)
                    for c in _require(rec, 'changes', list, where))
    return Record(seq, kind, ts, txn, changes,
                  tuple(sorted({c.table for c in changes})), '', part, parts,
                  outbox_id)


def _parse_change(change, where):
    table = _require(change, 'table', str, where)
    op = _require(change, 'op', str, where)
    if op not in OPS:
        raise exceptions.EnvelopeError('%s: unknown op %s'
                                       % (where, redaction.short_repr(op)))
    pk = codec.decode_row(_require(change, 'pk', dict, where))
    row = codec.decode_row(_require(change, 'row', dict, where))
    if not pk:
        raise exceptions.EnvelopeError('%s: empty primary key' % where)
    changed = _require(change, 'changed', list, where)
    return Change(table, op, pk, row, tuple(changed))
