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

"""CPU cost per row of each stage of the pipeline, without the network.

``python -m tools.bench.hotpaths [--backend postgresql] [--profile]``

Times, in microseconds per row change, on one 1,000-row transaction of
``instances`` (the shape used by the throughput benchmark):

* the service's own INSERT/UPDATE with the capture off and on (the
  difference is what the capture adds to the committing thread);
* the Sender building the wire records (``_wire``: codec + envelope);
* JSON serialisation of the batch (what oslo.messaging does);
* the consumer: JSON parsing, ``envelope.parse``, ``Synchronizer.handle``
  into a replica, and the driver's translation into Congress tuples;
* a snapshot page: reading, ``codec.encode_row`` and ``decode_row``;

then what ``[publish_tables] compression = zlib`` costs: sending
(``envelope.compress`` and JSON, in the Sender's background thread) and
receiving (JSON and ``envelope.parse``) a plain and a compressed
notification, timed in turn, for that 1,000-row batch and for one row
change (the shape of the traffic benchmark).

``--profile`` adds a cProfile listing of the capture-on run and of the
consumer path, sorted by own time.
"""

import argparse
import cProfile
import datetime
import json
import pstats
import sys
import time

import oslo_messaging
import sqlalchemy as sa

from congress_consumer.replication import driver as driver_mod
from oslo_publish_tables.protocol import codec
from oslo_publish_tables.protocol import envelope
from oslo_publish_tables import publisher
from oslo_publish_tables import sender as sender_mod
from publish_tables_demo import schema as demo_schema

from tools.bench import benchlib

ROWS = 1000


def _rows(base):
    now = datetime.datetime.now()
    return [{'id': base + k, 'uuid': '%036d' % (base + k),
             'hostname': 'vm-%d' % k, 'host': 'compute-%d' % (k % 16),
             'vm_state': 'building', 'task_state': 'scheduling',
             'memory_mb': 2048, 'locked': False, 'power_state': 0,
             'deleted': 0, 'created_at': now} for k in range(ROWS)]


def _writes(engine, base, repeat):
    table = demo_schema.Instance.__table__
    start = time.perf_counter()
    for n in range(repeat):
        lo = base + n * ROWS
        with engine.begin() as conn:
            conn.execute(table.insert(), _rows(lo))
        with engine.begin() as conn:
            conn.execute(table.update().where(
                table.c.id.between(lo, lo + ROWS - 1)).values(
                vm_state='active', task_state=None))
    return (time.perf_counter() - start) / (2 * repeat * ROWS) * 1e6


def _per_row(func, repeat=5):
    start = time.perf_counter()
    for _ in range(repeat):
        result = func()
    return (time.perf_counter() - start) / repeat / ROWS * 1e6, result


def _measure_capture(engine, conf, profile, repeat):
    """The service's writes with the capture off and on; the drafts."""
    _writes(engine, 10 ** 8, 1)
    off = _writes(engine, 2 * 10 ** 8, repeat)
    drafts = []
    publisher.install(engine, conf, submit=drafts.append)
    on = _writes(engine, 3 * 10 ** 8, repeat)
    prof = None
    if profile:
        prof = cProfile.Profile()
        prof.enable()
        _writes(engine, 4 * 10 ** 8, 2)
        prof.disable()
    publisher.uninstall(engine)
    return [('service INSERT+UPDATE, capture off', off),
            ('service INSERT+UPDATE, capture on', on),
            ('  added by the capture (commit path)', on - off)], prof, drafts


def _measure_sender(draft):
    """Records and JSON of one batch of ``draft``; the payload and text."""
    wire, records = _per_row(lambda: [sender_mod._wire(
        1, draft, draft.changes, 0, 1)])
    payload = envelope.batch(sender_mod.producer_identity(), 1,
                             records, 10.0)
    dumps, text = _per_row(lambda: json.dumps(payload))
    return [('sender: records (codec + envelope)', wire),
            ('sender: JSON of the batch', dumps),
            ('  JSON bytes per row change', len(text) / ROWS)], payload, text


def _measure_consumer(conf, text, profile):
    """Parse, validate and apply the batch ``text``; its profile."""
    loads, data = _per_row(lambda: json.loads(text))
    parse, batch = _per_row(lambda: envelope.parse(data))
    transport = oslo_messaging.get_notification_transport(
        conf, url='fake://')
    columns = [c.name for c in demo_schema.Instance.__table__.columns]
    drivers = []
    for _ in range(5):
        # A fresh replica each time, so every change is applied and
        # translated (a repeated change would not reach the driver).
        driver = driver_mod.PublishTablesDriver(
            'hot', {'tables': ['instances']}, conf=conf,
            transport=transport, snapshot_source=_NoSnapshots())
        driver.sync.on_columns('instances', columns)
        driver.sync.replicas['instances'].pk_names = ('id',)
        drivers.append(driver)

    def handle():
        drivers.pop().sync.handle(batch)

    consumer_prof = None
    if profile:
        consumer_prof = cProfile.Profile()
        consumer_prof.enable()
    handle_cost, _ = _per_row(handle)
    if profile:
        consumer_prof.disable()
    transport.cleanup()
    return [('consumer: JSON parse', loads),
            ('consumer: envelope.parse (validate + decode)', parse),
            ('consumer: apply to replica + Congress tuples',
             handle_cost)], consumer_prof


def _measure_snapshot(engine):
    """Reading, encoding and decoding the rows of a snapshot."""
    with engine.connect() as conn:
        start = time.perf_counter()
        rows = [dict(r._mapping) for r in conn.execute(
            sa.select(demo_schema.Instance.__table__).limit(ROWS))]
        read = (time.perf_counter() - start) / len(rows) * 1e6
    encode, encoded = _per_row(lambda: [codec.encode_row(r)
                                        for r in rows])
    decode, _ = _per_row(lambda: [codec.decode_row(r)
                                  for r in encoded])
    return [('snapshot: read rows', read),
            ('snapshot: codec.encode_row', encode),
            ('snapshot: codec.decode_row', decode)]


def measure(backend, profile=False, repeat=5):
    with benchlib.scratch_database(backend) as url:
        engine = sa.create_engine(url)
        demo_schema.create(engine)
        conf = benchlib.make_conf(tables=['instances'])
        out, prof, drafts = _measure_capture(engine, conf, profile, repeat)
        draft = drafts[-1]
        sent, payload, text = _measure_sender(draft)
        received, consumer_prof = _measure_consumer(conf, text, profile)
        out += sent + received + _measure_snapshot(engine)
        engine.dispose()
    single = envelope.batch({'id': 'a' * 32}, 1, [sender_mod._wire(
        1, draft, list(draft.changes)[:1], 0, 1)], 10.0)
    bodies = [('1 row change', 1, _compare(single, 2000)),
              ('%d row changes' % ROWS, ROWS, _compare(payload, 20))]
    return out, prof, consumer_prof, bodies


def _compare(payload, repeat):
    """Median CPU seconds to send and receive ``payload``, plain and zlib.

    Sending: (compress and) serialise; receiving: JSON parse and
    ``envelope.parse``. The two bodies are timed in turn, so that the
    machine's load and the garbage collector affect both alike.
    """
    builds = {'plain': lambda: payload,
              'zlib': lambda: envelope.compress(payload)}
    texts = {name: json.dumps(build()) for name, build in builds.items()}
    times = {(name, step): [] for name in builds for step in 'sr'}
    for _ in range(repeat):
        for name, build in builds.items():
            start = time.process_time()
            json.dumps(build())
            middle = time.process_time()
            envelope.parse(json.loads(texts[name]))
            end = time.process_time()
            times[name, 's'].append(middle - start)
            times[name, 'r'].append(end - middle)
    return {name: (benchlib.median(times[name, 's']),
                   benchlib.median(times[name, 'r']), len(texts[name]))
            for name in builds}


class _NoSnapshots(object):
    def cleanup(self):
        pass


def main(argv=None):
    benchlib.quiet_warnings()
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--backend', default='postgresql',
                        choices=sorted(benchlib.NAMES))
    parser.add_argument('--profile', action='store_true')
    args = parser.parse_args(argv)
    benchlib.quiet_logging()
    rows, prof, consumer_prof, single = measure(args.backend, args.profile)
    benchlib.table('CPU cost per row change (%s, %d-row transactions)'
                   % (benchlib.NAMES[args.backend], ROWS),
                   ['stage', 'us/row'], [(n, '%.1f' % v) for n, v in rows])
    rows = []
    for label, changes, figures in single:
        for name, (send, receive, size) in sorted(figures.items()):
            rows.append((label, name, '%.1f' % (send * 1e6),
                         '%.1f' % (receive * 1e6),
                         '%.2f' % (send * 1e6 / changes),
                         '%.2f' % (receive * 1e6 / changes),
                         '{:,}'.format(size)))
    benchlib.table('Compression: CPU per notification, plain vs zlib '
                   '(interleaved, medians of process time)',
                   ['notification', 'body', 'send us', 'receive us',
                    'send us/row', 'receive us/row', 'payload bytes'],
                   rows)
    print('  send: [envelope.compress +] json.dumps (Sender thread); '
          'receive: json.loads + envelope.parse (consumer)\n')
    for title, p in (('capture on (service process)', prof),
                     ('consumer apply path', consumer_prof)):
        if p is not None:
            print('--- cProfile: %s ---' % title)
            pstats.Stats(p).sort_stats('tottime').print_stats(15)
    return 0


if __name__ == '__main__':
    sys.exit(main())
