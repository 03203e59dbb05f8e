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

"""Issue item 2: row deltas per second, producers to an applied replica.

Producers are separate processes (multiprocessing, spawn), each with its
own engine, capture and background Sender publishing to RabbitMQ with the
messagingv2 driver. Each alternates two kinds of bulk transaction on
``instances``:

* an executemany ``INSERT`` of ``rows`` new instances;
* a criteria ``UPDATE ... WHERE id BETWEEN lo AND hi`` of those rows
  (``SELECT ... FOR UPDATE`` before it, read-back before COMMIT).

The consumer is a :class:`PublishTablesDriver` in this process (database
snapshot source), LIVE before the producers start. The figure is the
number of row deltas divided by the time from the first producer's first
transaction to the moment the replica has applied the last change.

The naive baseline, measured in the same run: one
``oslo_messaging.Notifier.info`` per row from a producer process, each
payload one encoded row, received by a notification listener here.
"""

import contextlib
import datetime
import multiprocessing
import threading
import time
import uuid

from oslo_config import cfg
import oslo_messaging
import sqlalchemy as sa

from congress_consumer.replication import driver as driver_mod
from congress_consumer.replication import replica as replica_mod
from congress_consumer.replication import snapshots
from oslo_publish_tables.protocol import codec
from oslo_publish_tables import publisher
from publish_tables_demo import schema as demo_schema

from tools.bench import benchlib

TABLES = ['instances']
ID_SPAN = 100000000


def _instances():
    return demo_schema.Instance.__table__


def _row(ident, n):
    now = time.time()
    return {'id': ident, 'uuid': str(uuid.UUID(int=ident)),
            'hostname': 'vm-%d' % ident, 'host': 'compute-%d' % (n % 16),
            'vm_state': 'building', 'task_state': 'scheduling',
            'memory_mb': 2048, 'locked': False, 'user_data': None,
            'power_state': 0, 'deleted': 0, 'created_at': _dt(now)}


def _dt(seconds):
    return datetime.datetime.fromtimestamp(seconds)


def producer_main(index, url, topic, txns, rows, start, results):
    """One producer process: bulk transactions with publishing on."""
    benchlib.quiet_logging()
    engine = sa.create_engine(url)
    conf = benchlib.make_conf(tables=TABLES)
    sender = benchlib.make_sender(conf, topic)
    capture = publisher.install(engine, conf, submit=sender.submit)
    table = _instances()
    base = (index + 1) * ID_SPAN
    insert = table.insert()
    start.wait()
    first = time.time()
    changes = 0
    next_id = base
    for n in range(txns):
        with engine.begin() as conn:
            if n % 2 == 0:
                lo = next_id
                conn.execute(insert, [_row(lo + k, k) for k in range(rows)])
                next_id += rows
            else:
                conn.execute(
                    table.update().where(table.c.id.between(
                        lo, lo + rows - 1)).values(
                        vm_state='active', task_state=None,
                        updated_at=_dt(time.time())))
        changes += rows
    last = time.time()
    sender.flush(120)
    sent = time.time()
    publisher.uninstall(engine)
    sender.stop()
    sender.transport.close()
    engine.dispose()
    results.put({'index': index, 'first': first, 'last': last,
                 'sent': sent, 'changes': changes,
                 'captured': capture.stats['transactions'],
                 'sender': dict(sender.stats)})


def _driver(url, topic, conf, transport):
    source = snapshots.DirectSnapshotSource(url, TABLES)
    driver = driver_mod.PublishTablesDriver(
        'bench', {'tables': TABLES, 'topic': topic, 'gap_timeout': 30,
                  'producer_timeout': 300}, conf=conf,
        transport=transport, snapshot_source=source)
    return driver


def _processed(driver):
    counts = driver.sync.replicas['instances'].counts
    return (counts[replica_mod.APPLIED] + counts[replica_mod.DUPLICATE]
            + counts[replica_mod.LATE])


def measure_deltas(url, producers, txns, rows, topic):
    """Row deltas/s with ``producers`` processes; returns figures."""
    ctx = multiprocessing.get_context('spawn')
    conf = benchlib.make_conf(tables=TABLES)
    transport = oslo_messaging.get_notification_transport(
        conf, url=benchlib.rabbit_url())
    driver = _driver(url, topic, conf, transport)
    driver.start()
    try:
        if not driver.wait_live(60):
            raise RuntimeError('consumer did not become LIVE')
        start = ctx.Event()
        results = ctx.Queue()
        procs = [ctx.Process(target=producer_main,
                             args=(i, url, topic, txns, rows, start,
                                   results))
                 for i in range(producers)]
        for proc in procs:
            proc.start()
        time.sleep(0.5)
        # Children import and connect before the start signal; give them
        # time, then release them together.
        _await_ready(procs)
        baseline = _processed(driver)
        expected = baseline + producers * txns * rows
        start.set()
        done = benchlib.wait_for(lambda: _processed(driver) >= expected,
                                 timeout=600, interval=0.005)
        reports = [results.get(timeout=300) for _ in procs]
        for proc in procs:
            proc.join(60)
    finally:
        driver.stop()
        transport.cleanup()
    first = min(r['first'] for r in reports)
    last_commit = max(r['last'] for r in reports)
    total = sum(r['changes'] for r in reports)
    replica = driver.sync.replicas['instances']
    return {
        'producers': producers, 'changes': total,
        'seconds': (done - first) if done else None,
        'deltas_per_s': total / (done - first) if done else None,
        'commit_rate': total / (last_commit - first),
        'commit_seconds': last_commit - first,
        'lag_after_last_commit_s': (done - last_commit) if done else None,
        'applied': replica.counts[replica_mod.APPLIED],
        'late': replica.counts[replica_mod.LATE],
        'notifications': sum(r['sender'].get('notifications', 0)
                             for r in reports),
        'complete': done is not None,
    }


def _await_ready(procs, seconds=8.0):
    """Spawned children need a few seconds to import; wait for that."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if any(not p.is_alive() for p in procs):
            raise RuntimeError('a producer process died at start')
        time.sleep(0.25)


class _EmptyBefore(object):
    """Snapshot source: the table as it was before the producers ran.

    It was empty, and every change they made is stamped later than 0, so
    the replica applies the whole backlog from the queue.
    """

    def __init__(self, columns):
        self.columns = columns

    def open(self, table):
        return {'id': 'empty', 'ts': 0, 'columns': self.columns,
                'pk': ['id']}

    def fetch(self, snapshot_id, max_rows):
        return {'rows': [], 'done': True}

    def close(self, snapshot_id):
        pass

    def cleanup(self):
        pass


def _drain_driver(topic, conf, transport, columns):
    return driver_mod.PublishTablesDriver(
        'bench', {'tables': TABLES, 'topic': topic, 'gap_timeout': 30,
                  'producer_timeout': 300}, conf=conf,
        transport=transport, snapshot_source=_EmptyBefore(columns))


def measure_drain(url, producers, txns, rows, topic):
    """Consumer capacity: apply a backlog already waiting in the queue.

    Producers cast to the topic's queue and declare none, so the
    consumer's queue is made first: a driver started and stopped (its
    queue outlives it, as a consumer's queue outlives a restart).
    """
    conf = benchlib.make_conf(tables=TABLES)
    transport = oslo_messaging.get_notification_transport(
        conf, url=benchlib.rabbit_url())
    columns = [c.name for c in _instances().columns]
    declaring = _drain_driver(topic, conf, transport, columns)
    declaring.start()
    declaring.stop()
    ctx = multiprocessing.get_context('spawn')
    start = ctx.Event()
    results = ctx.Queue()
    procs = [ctx.Process(target=producer_main,
                         args=(i, url, topic, txns, rows, start, results))
             for i in range(producers)]
    for proc in procs:
        proc.start()
    _await_ready(procs)
    start.set()
    reports = [results.get(timeout=600) for _ in procs]
    for proc in procs:
        proc.join(60)
    total = sum(r['changes'] for r in reports)
    driver = _drain_driver(topic, conf, transport, columns)
    began = time.time()
    driver.start()
    try:
        done = benchlib.wait_for(lambda: _processed(driver) >= total,
                                 timeout=600, interval=0.005)
    finally:
        driver.stop()
        transport.cleanup()
    return {'changes': total, 'seconds': (done - began) if done else None,
            'deltas_per_s': total / (done - began) if done else None,
            'complete': done is not None}


# -- naive baseline: one notification per row --------------------------


def naive_main(url, topic, count, start, results):
    benchlib.quiet_logging()
    conf = cfg.ConfigOpts()
    conf([], default_config_files=[])
    transport = oslo_messaging.get_notification_transport(conf, url=url)
    notifier = oslo_messaging.Notifier(transport, 'compute.bench',
                                       driver='messagingv2', topics=[topic])
    rows = [codec.encode_row(_row(k + 1, k)) for k in range(count)]
    notifier.info({}, 'bench.warmup', {})
    start.wait()
    first = time.time()
    for row in rows:
        notifier.info({}, 'instance.update', row)
    last = time.time()
    transport.cleanup()
    results.put({'first': first, 'last': last, 'count': count})


class _Counter(object):
    def __init__(self):
        self.count = 0
        self.last = None
        self.lock = threading.Lock()

    def info(self, ctxt, publisher_id, event_type, payload, metadata):
        if event_type != 'instance.update':
            return
        with self.lock:
            self.count += 1
            self.last = time.time()


def measure_naive(count, topic):
    ctx = multiprocessing.get_context('spawn')
    conf = cfg.ConfigOpts()
    conf([], default_config_files=[])
    transport = oslo_messaging.get_notification_transport(
        conf, url=benchlib.rabbit_url())
    counter = _Counter()
    listener = oslo_messaging.get_notification_listener(
        transport, [oslo_messaging.Target(topic=topic)], [counter],
        executor='threading')
    listener.start()
    try:
        start = ctx.Event()
        results = ctx.Queue()
        proc = ctx.Process(target=naive_main,
                           args=(benchlib.rabbit_url(), topic, count, start,
                                 results))
        proc.start()
        _await_ready([proc], 5.0)
        start.set()
        done = benchlib.wait_for(lambda: counter.count >= count, 300,
                                 interval=0.005)
        report = results.get(timeout=120)
        proc.join(60)
    finally:
        listener.stop()
        listener.wait()
        transport.cleanup()
    seconds = (done - report['first']) if done else None
    return {'changes': count, 'seconds': seconds,
            'deltas_per_s': count / seconds if seconds else None,
            'send_rate': count / (report['last'] - report['first']),
            'complete': done is not None}


@contextlib.contextmanager
def _fresh(backend):
    with benchlib.scratch_database(backend) as url:
        engine = sa.create_engine(url)
        demo_schema.create(engine)
        engine.dispose()
        yield url


def run(backend, producer_counts, changes, rows, naive_count,
        drain_changes):
    """Return ``{'deltas': [...], 'naive': {...}, 'drain': {...}}``.

    ``changes`` row deltas in all for every producer count, split evenly.
    """
    out = {'backend': backend, 'rows_per_txn': rows, 'deltas': []}
    with benchlib.scratch_topic('pt_bench_naive_') as (topic, _):
        out['naive'] = measure_naive(naive_count, topic)
    for producers in producer_counts:
        txns = max(2, changes // (rows * producers))
        with _fresh(backend) as url, \
                benchlib.scratch_topic('pt_bench_tput_') as (topic, _):
            out['deltas'].append(measure_deltas(url, producers, txns, rows,
                                                topic))
    with _fresh(backend) as url, \
            benchlib.scratch_topic('pt_bench_drain_') as (topic, _):
        out['drain'] = measure_drain(url, 1, max(2, drain_changes // rows),
                                     rows, topic)
    return out
