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

"""Issue item 3: latency from COMMIT to a change visible in the replica.

A producer process runs single-row ``UPDATE instances SET memory_mb = :n
WHERE id = :id`` transactions paced at a fixed offered rate (an open
schedule: transaction ``i`` starts at ``t0 + i / rate``, or at once when
it is late) with publishing on, publishing to RabbitMQ over loopback. It
stamps ``time.time()`` right after each COMMIT returns. The consumer, a
:class:`PublishTablesDriver` in this process, records ``time.time()`` in a
subscriber callback (``driver.subscribe``) when the row with that
``memory_mb`` appears in the datasource table. Both clocks are the same
host's clock.

Beside it: a :class:`PollingDataSourceDriver` polling the same table.
Its latency is the wait for the next poll plus the poll itself. With an
interval ``T`` and changes arriving at random instants, the wait is
uniform on ``[0, T)``: mean ``T/2``, p99 ``0.99 T``. That is computed for
Congress's default ``T = 10 s`` and validated by measuring a poller with
a shortened interval on the same workload.
"""

import multiprocessing
import random
import time

import oslo_messaging
import sqlalchemy as sa

from congress_consumer.datasources import polling
from congress_consumer.replication import driver as driver_mod
from congress_consumer.replication import snapshots
from oslo_publish_tables import publisher
from publish_tables_demo import schema as demo_schema

from tools.bench import benchlib

TABLES = ['instances']
ROWS = 1000
BASE = 1000000


def populate(url, rows=ROWS):
    engine = sa.create_engine(url)
    try:
        demo_schema.create(engine)
        table = demo_schema.Instance.__table__
        with engine.begin() as conn:
            conn.execute(table.insert(), [
                {'id': i, 'uuid': '00000000-0000-0000-0000-%012d' % i,
                 'hostname': 'vm-%d' % i, 'host': 'compute-%d' % (i % 16),
                 'vm_state': 'active', 'memory_mb': 2048, 'deleted': 0,
                 'locked': False, 'power_state': 1}
                for i in range(1, rows + 1)])
    finally:
        engine.dispose()


def producer_main(url, topic, rate, count, first_value, start, results):
    """Paced single-row updates; returns the commit stamps."""
    benchlib.quiet_logging()
    engine = sa.create_engine(url)
    conf = benchlib.make_conf(tables=TABLES)
    sender = benchlib.make_sender(conf, topic)
    publisher.install(engine, conf, submit=sender.submit)
    table = demo_schema.Instance.__table__
    stmt = table.update().where(table.c.id == sa.bindparam('pk')).values(
        memory_mb=sa.bindparam('mem'))
    rng = random.Random(first_value)
    # Warm up: connection, compiled statement, AMQP link.
    for _ in range(20):
        with engine.begin() as conn:
            conn.execute(stmt, {'pk': rng.randint(1, ROWS), 'mem': 1})
    sender.flush(30)
    start.wait()
    stamps = []
    t0 = time.perf_counter()
    late = 0
    for i in range(count):
        due = t0 + i / rate
        now = time.perf_counter()
        if due > now:
            time.sleep(due - now)
        elif now - due > 0.001:
            late += 1
        with engine.begin() as conn:
            conn.execute(stmt, {'pk': rng.randint(1, ROWS),
                                'mem': first_value + i})
        stamps.append(time.time())
    elapsed = time.perf_counter() - t0
    sender.flush(30)
    publisher.uninstall(engine)
    sender.stop()
    sender.transport.close()
    engine.dispose()
    results.put({'stamps': stamps, 'elapsed': elapsed, 'late': late,
                 'first_value': first_value})


class _Seen(object):
    """Subscriber: when each memory_mb value became visible."""

    def __init__(self, index):
        self.index = index
        self.seen = {}

    def __call__(self, table, to_add, to_del):
        now = time.time()
        index = self.index
        for row in to_add:
            value = row[index]
            if isinstance(value, int) and value >= BASE:
                self.seen.setdefault(value, now)


def _run_producers(url, topic, rate, count, first_value, producers=1):
    """Start ``producers`` processes sharing ``rate``; values disjoint."""
    ctx = multiprocessing.get_context('spawn')
    start = ctx.Event()
    results = ctx.Queue()
    each = count // producers
    procs = [ctx.Process(target=producer_main, args=(
        url, topic, rate / producers, each, first_value + j * each, start,
        results)) for j in range(producers)]
    for proc in procs:
        proc.start()
    return procs, start, results


def _collect(procs, results, timeout):
    reports = [results.get(timeout=timeout) for _ in procs]
    for proc in procs:
        proc.join(60)
    stamps = {}
    for report in reports:
        for i, stamp in enumerate(report['stamps']):
            stamps[report['first_value'] + i] = stamp
    return {'stamps': stamps,
            'elapsed': max(r['elapsed'] for r in reports),
            'late': sum(r['late'] for r in reports)}


def _latencies(stamps, seen):
    lat = []
    missing = 0
    for value, stamp in stamps.items():
        at = seen.get(value)
        if at is None:
            missing += 1
        else:
            lat.append(at - stamp)
    return lat, missing


def measure_deltas(url, topic, rate, seconds, first_value, producers=1):
    """p50/p99 commit-to-visible latency at ``rate`` transactions/s."""
    conf = benchlib.make_conf(tables=TABLES)
    transport = oslo_messaging.get_notification_transport(
        conf, url=benchlib.rabbit_url())
    source = snapshots.DirectSnapshotSource(url, TABLES)
    driver = driver_mod.PublishTablesDriver(
        'bench', {'tables': TABLES, 'topic': topic}, conf=conf,
        transport=transport, snapshot_source=source)
    count = int(rate * seconds)
    procs, start, results = _run_producers(url, topic, rate, count,
                                           first_value, producers)
    count = len(procs) * (count // len(procs))
    driver.start()
    try:
        if not driver.wait_live(60):
            raise RuntimeError('consumer did not become LIVE')
        columns = driver._maps['instances'].names
        seen = _Seen(columns.index('memory_mb'))
        driver.subscribe(seen)
        time.sleep(4.0)  # let the spawned producer import and warm up
        start.set()
        report = _collect(procs, results, seconds * 10 + 120)
        benchlib.wait_for(
            lambda: all(v in seen.seen for v in report['stamps']), 10.0,
            interval=0.05)
    finally:
        driver.stop()
        transport.cleanup()
    lat, missing = _latencies(report['stamps'], seen.seen)
    out = _summary(rate, count, report, lat, missing)
    out['producers'] = len(procs)
    return out


def _summary(rate, count, report, lat, missing):
    return {
        'offered': rate, 'achieved': count / report['elapsed'],
        'count': count, 'late_starts': report['late'],
        'p50_ms': _ms(benchlib.percentile(lat, 50)),
        'p99_ms': _ms(benchlib.percentile(lat, 99)),
        'mean_ms': _ms(benchlib.mean(lat)),
        'max_ms': _ms(max(lat) if lat else None),
        'missing': missing,
    }


def _ms(seconds):
    return None if seconds is None else seconds * 1e3


class TablePoller(polling.PollingDataSourceDriver):
    """A polling driver reading ``instances`` in full every poll."""

    def __init__(self, url, poll_time):
        super().__init__('poller', {'poll_time': poll_time})
        self.engine = sa.create_engine(url)
        self.table = demo_schema.Instance.__table__
        self.columns = [c.name for c in self.table.columns]
        self.poll_seconds = []
        self.poll_starts = []
        translator = {
            'translation-type': 'HDICT', 'table-name': 'instances',
            'selector-type': 'DICT_SELECTOR',
            'field-translators': [
                {'fieldname': c, 'translator': {'translation-type':
                                                'VALUE'}}
                for c in self.columns]}
        self.add_update_method(self._list, translator)

    def _list(self):
        self.poll_starts.append(time.perf_counter())
        with self.engine.connect() as conn:
            return [dict(r._mapping)
                    for r in conn.execute(sa.select(self.table))]

    def poll(self):
        """Poll once; records how long read, translation and diff took."""
        start = time.perf_counter()
        try:
            return super().poll()
        finally:
            self.poll_seconds.append(time.perf_counter() - start)

    def stop(self, timeout=None):
        result = super().stop(timeout)
        self.engine.dispose()
        return result


def measure_polling(url, topic, rate, seconds, poll_time, first_value):
    """Measured latency of a poller with interval ``poll_time``."""
    poller = TablePoller(url, poll_time)
    seen = _Seen(poller.columns.index('memory_mb'))
    poller.subscribe(seen)
    count = int(rate * seconds)
    procs, start, results = _run_producers(url, topic, rate, count,
                                           first_value)
    poller.start()
    try:
        time.sleep(4.0)
        # Start the changes at a random phase of the polling cycle.
        time.sleep(random.uniform(0, poll_time))
        start.set()
        report = _collect(procs, results, seconds * 10 + 120)
        time.sleep(poll_time * 1.5 + 1.0)
    finally:
        poller.stop(10)
    lat, missing = _latencies(report['stamps'], seen.seen)
    out = _summary(rate, count, report, lat, missing)
    starts = poller.poll_starts
    periods = [b - a for a, b in zip(starts, starts[1:])]
    out['poll_time'] = poll_time
    out['period_ms'] = _ms(benchlib.mean(periods))
    out['poll_ms'] = _ms(benchlib.mean(poller.poll_seconds))
    # Wait for the next read (uniform over the actual period), then the
    # read, translation and diff of that poll.
    out['predicted_mean_ms'] = out['period_ms'] / 2 + out['poll_ms']
    return out


def analytic_polling(poll_time=10.0):
    """Latency of polling every ``poll_time`` seconds (uniform wait)."""
    return {'poll_time': poll_time, 'mean_ms': poll_time / 2 * 1e3,
            'p50_ms': poll_time / 2 * 1e3, 'p99_ms': 0.99 * poll_time * 1e3}


def run(backend, rates, seconds, poll_time, poll_seconds, poll_rate=100,
        per_producer=500):
    default = polling.PollingDataSourceDriver.DEFAULT_POLL_TIME
    out = {'backend': backend, 'deltas': [], 'polling_measured': None,
           'polling_default': analytic_polling(default)}
    with benchlib.scratch_database(backend) as url:
        populate(url)
        value = BASE
        for rate in rates:
            with benchlib.scratch_topic('pt_bench_lat_') as (topic, _):
                producers = max(1, -(-rate // per_producer))
                out['deltas'].append(measure_deltas(
                    url, topic, rate, seconds, value, producers))
            value += int(rate * seconds) + 1000
        if poll_time:
            with benchlib.scratch_topic('pt_bench_poll_') as (topic, _):
                out['polling_measured'] = measure_polling(
                    url, topic, poll_rate, poll_seconds, poll_time, value)
    return out
