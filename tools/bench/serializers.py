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

"""Encode and decode a batch payload: stdlib json, orjson, msgpack.

``python -m tools.bench.serializers``

Builds the payload the Sender sends for one transaction of the
nova-like cycle (one ``instances`` row change with datetimes) and for a
1,000-change transaction, as :func:`envelope.batch` makes it, and
times, in microseconds (median of process time over repeated runs),
``dumps`` and ``loads`` with each serialiser available, and the size.
oslo.messaging itself always uses JSON on the bus; the choice is where
this library serialises on its own: the frames to the sending child
(:mod:`oslo_publish_tables.sending`).
"""

import datetime
import json
import sys
import time

from oslo_publish_tables.protocol import envelope

try:
    import orjson
except ImportError:
    orjson = None
try:
    import msgpack
except ImportError:
    msgpack = None


def payload(changes):
    now = datetime.datetime(2026, 12, 3, 9, 30, 0, 123456)
    rows = [envelope.Change('instances', 'update', {'id': k}, {
        'id': k, 'uuid': '6f1c2d3e-4a5b-4c6d-8e7f-%012d' % k,
        'hostname': 'vm-%d' % k, 'host': 'compute-%d' % (k % 16),
        'vm_state': 'active', 'task_state': None, 'memory_mb': 2048,
        'locked': False, 'power_state': 1, 'deleted': 0,
        'created_at': now, 'updated_at': now, 'deleted_at': None},
        ('vm_state', 'task_state')) for k in range(changes)]
    record = envelope.txn_record(1, 1764754200123456, 'txn-1', rows)
    return envelope.batch({'id': 'a' * 32}, 1, [record], 10.0)


def _time(func, arg, repeat):
    samples = []
    for _ in range(repeat):
        start = time.process_time()
        for _ in range(20):
            func(arg)
        samples.append((time.process_time() - start) / 20)
    samples.sort()
    return samples[len(samples) // 2] * 1e6


def codecs():
    found = [('json (stdlib)',
              lambda v: json.dumps(v, separators=(',', ':')).encode(),
              json.loads)]
    if orjson is not None:
        found.append(('orjson', orjson.dumps, orjson.loads))
    if msgpack is not None:
        found.append(('msgpack', msgpack.packb, msgpack.unpackb))
    return found


def main():
    print('%-14s %8s %11s %11s %9s' % ('serialiser', 'changes', 'dumps us',
                                       'loads us', 'bytes'))
    for changes, repeat in ((1, 200), (1000, 15)):
        value = payload(changes)
        for name, dumps, loads in codecs():
            data = dumps(value)
            print('%-14s %8d %11.1f %11.1f %9d' % (
                name, changes, _time(dumps, value, repeat),
                _time(loads, data, repeat), len(data)))
    return 0


if __name__ == '__main__':
    sys.exit(main())
