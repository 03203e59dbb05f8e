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

"""Issue item 4: initial sync of a large table while writes continue.

``instances`` is filled with N rows (one ``INSERT ... SELECT`` from a
generated series, capture off). A writer process then runs paced
transactions with publishing on (updates of random rows and inserts of
new ones) for the whole measurement. The consumer is a separate process,
so that its peak RSS (``getrusage(RUSAGE_SELF).ru_maxrss`` in the child)
is its own: a :class:`PublishTablesDriver` with the database snapshot
source. Time to LIVE is from ``driver.start()`` until every table is
LIVE. After the writer stops the consumer checks that its replica equals
the table (row count and a column sum).

With ``PT_BENCH_PROFILE=DIR`` in the environment the consumer runs under
pyinstrument from ``driver.start()`` to LIVE and writes its report to
``DIR/initsync-BACKEND-ROWS.txt``.
"""

import gc
import multiprocessing
import os
import random
import resource
import time

import oslo_messaging
import sqlalchemy as sa

from congress_consumer.replication import driver as driver_mod
from congress_consumer.replication import snapshots
from oslo_publish_tables import publisher
from publish_tables_demo import schema as demo_schema

from tools.bench import benchlib

TABLES = ['instances']

_COLUMNS = ('id, uuid, hostname, host, vm_state, memory_mb, locked, '
            'power_state, deleted, created_at')
_FILL = {
    'postgresql': (
        "INSERT INTO instances ({cols}) SELECT g, "
        "'00000000-0000-0000-0000-' || lpad(g::text, 12, '0'), "
        "'vm-' || g, 'compute-' || (g % 16), 'active', 2048, false, 1, 0, "
        "now() FROM generate_series(1, {n}) AS g"),
    'mysql': (
        "INSERT INTO instances ({cols}) WITH RECURSIVE g(x) AS "
        "(SELECT 1 UNION ALL SELECT x + 1 FROM g WHERE x < {n}) SELECT x, "
        "CONCAT('00000000-0000-0000-0000-', LPAD(x, 12, '0')), "
        "CONCAT('vm-', x), CONCAT('compute-', x % 16), 'active', 2048, 0, "
        "1, 0, NOW() FROM g"),
    'sqlite': (
        "WITH RECURSIVE g(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM g "
        "WHERE x < {n}) INSERT INTO instances ({cols}) SELECT x, "
        "'00000000-0000-0000-0000-' || printf('%012d', x), 'vm-' || x, "
        "'compute-' || (x % 16), 'active', 2048, 0, 1, 0, "
        "strftime('%Y-%m-%d %H:%M:%f', 'now') FROM g"),
}


def populate(url, backend, rows):
    engine = sa.create_engine(url)
    try:
        demo_schema.create(engine)
        raw = engine.raw_connection()
        try:
            cursor = raw.cursor()
            if backend == 'mysql':
                cursor.execute('SET SESSION cte_max_recursion_depth = %d'
                               % (rows + 1))
            # No parameters: the DBAPI sees the text as it is.
            cursor.execute(_FILL[backend].format(cols=_COLUMNS,
                                                 n=int(rows)))
            cursor.close()
            raw.commit()
        finally:
            raw.close()
        if backend == 'postgresql':
            with engine.connect().execution_options(
                    isolation_level='AUTOCOMMIT') as conn:
                conn.exec_driver_sql('VACUUM ANALYZE instances')
    finally:
        engine.dispose()


def writer_main(url, topic, rows, rate, ready, stop, results):
    """Paced writes with publishing on until ``stop`` is set."""
    benchlib.quiet_logging()
    # A SQLite snapshot holds the write lock while it reads every row;
    # wait for it as long as it takes instead of failing after 5 s.
    engine = sa.create_engine(url, connect_args={'timeout': 600}
                              if url.startswith('sqlite') else {})
    conf = benchlib.make_conf(tables=TABLES)
    sender = benchlib.make_sender(conf, topic)
    publisher.install(engine, conf, submit=sender.submit)
    table = demo_schema.Instance.__table__
    rng = random.Random(7)
    next_id = rows + 1
    done = 0
    ready.set()
    t0 = time.perf_counter()
    while not stop.is_set():
        due = t0 + done / rate
        now = time.perf_counter()
        if due > now:
            time.sleep(min(due - now, 0.05))
            continue
        with engine.begin() as conn:
            if done % 4 == 3:
                conn.execute(table.insert().values(
                    id=next_id, uuid='new-%d' % next_id, vm_state='building',
                    memory_mb=512, deleted=0))
                next_id += 1
            else:
                conn.execute(table.update().where(
                    table.c.id == rng.randint(1, rows)).values(
                    memory_mb=rng.randint(1, 100000)))
        done += 1
    sender.flush(60)
    publisher.uninstall(engine)
    sender.stop()
    sender.transport.close()
    engine.dispose()
    results.put({'writes': done, 'seconds': time.perf_counter() - t0})


def _table_digest(engine):
    with engine.connect() as conn:
        return tuple(conn.exec_driver_sql(
            'SELECT COUNT(*), COALESCE(SUM(memory_mb), 0) FROM instances'
        ).one())


def _profile_snapshots(driver, path):
    """Run each snapshot load (the sync thread) under pyinstrument."""
    import pyinstrument
    sync_table = driver.sync.sync_table

    def profiled(table):
        profiler = pyinstrument.Profiler(async_mode='disabled')
        profiler.start()
        try:
            return sync_table(table)
        finally:
            profiler.stop()
            with open(path, 'a') as out:
                out.write(profiler.output_text(unicode=True))

    driver.sync.sync_table = profiled


class _GcTimer(object):
    """Wall time spent in the cyclic collector (all generations)."""

    def __init__(self):
        self.total = 0.0
        self._started = None
        gc.callbacks.append(self)

    def __call__(self, phase, info):
        if phase == 'start':
            self._started = time.perf_counter()
        elif self._started is not None:
            self.total += time.perf_counter() - self._started
            self._started = None

    def stop(self):
        gc.callbacks.remove(self)
        return self.total


def _cpu_seconds():
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def consumer_main(url, topic, chunk_rows, live_event, writer_done, results,
                  rows_hint=0):
    """The consumer process: sync to LIVE, report time and peak RSS."""
    benchlib.quiet_logging()
    conf = benchlib.make_conf(tables=TABLES)
    transport = oslo_messaging.get_notification_transport(
        conf, url=benchlib.rabbit_url())
    source = snapshots.DirectSnapshotSource(url, TABLES,
                                            chunk_rows=chunk_rows)
    driver = driver_mod.PublishTablesDriver(
        'bench', {'tables': TABLES, 'topic': topic,
                  'chunk_rows': chunk_rows, 'producer_timeout': 300},
        conf=conf, transport=transport, snapshot_source=source)
    profile_dir = os.environ.get('PT_BENCH_PROFILE')
    if profile_dir:
        _profile_snapshots(driver, os.path.join(profile_dir, (
            'initsync-%s-%d.txt' % (sa.engine.make_url(url)
                                    .get_backend_name(), rows_hint))))
    gc_time = _GcTimer()
    rss_before = benchlib.maxrss_bytes()
    cpu_before = _cpu_seconds()
    start = time.perf_counter()
    driver.start()
    live = driver.wait_live(600)
    seconds = time.perf_counter() - start
    cpu = _cpu_seconds() - cpu_before
    gc_seconds = gc_time.stop()
    rss_live = benchlib.maxrss_bytes()
    rows_live = len(driver.sync.replicas['instances'].rows)
    live_event.set()
    writer_done.wait(600)
    engine = sa.create_engine(url)
    expected = _table_digest(engine)
    deadline = time.monotonic() + 60
    while True:
        with driver.sync.lock:
            rows = driver.sync.replicas['instances'].rows
            got = (len(rows), sum(r.get('memory_mb') or 0
                                  for r in rows.values()))
        if got == expected or time.monotonic() > deadline:
            break
        time.sleep(0.2)
        expected = _table_digest(engine)
    engine.dispose()
    status = driver.sync.table_status('instances')
    driver.stop()
    transport.cleanup()
    results.put({'live': live, 'seconds': seconds, 'cpu_seconds': cpu,
                 'gc_seconds': gc_seconds,
                 'rss_before': rss_before, 'rss_live': rss_live,
                 'rss_peak': benchlib.maxrss_bytes(),
                 'rows_live': rows_live, 'converged': got == expected,
                 'rows_final': got[0], 'applied': status['applied'],
                 'resyncs': status['resyncs']})


def measure(backend, rows, write_rate=100, chunk_rows=5000):
    ctx = multiprocessing.get_context('spawn')
    with benchlib.scratch_database(backend) as url, \
            benchlib.scratch_topic('pt_bench_sync_') as (topic, _):
        t = time.perf_counter()
        populate(url, backend, rows)
        fill_seconds = time.perf_counter() - t
        ready, stop = ctx.Event(), ctx.Event()
        live, writer_done = ctx.Event(), ctx.Event()
        writer_results, consumer_results = ctx.Queue(), ctx.Queue()
        writer = ctx.Process(target=writer_main, args=(
            url, topic, rows, write_rate, ready, stop, writer_results))
        writer.start()
        consumer = None
        try:
            if not ready.wait(120):
                raise RuntimeError('the writer did not start')
            consumer = ctx.Process(target=consumer_main, args=(
                url, topic, chunk_rows, live, writer_done,
                consumer_results, rows))
            consumer.start()
            live.wait(900)
            time.sleep(1.0)   # writes go on after LIVE, too
            stop.set()
            written = writer_results.get(timeout=120)
            writer_done.set()
            out = consumer_results.get(timeout=180)
        finally:
            stop.set()
            writer_done.set()
            writer.join(120)
            if consumer is not None:
                consumer.join(120)
        out.update(backend=backend, rows=rows, fill_seconds=fill_seconds,
                   write_rate=write_rate, writes=written['writes'],
                   achieved_write_rate=written['writes']
                   / written['seconds'])
        return out


def run(backend_sizes, write_rate=100):
    """``backend_sizes``: [(backend, rows)]; returns a list of figures."""
    out = []
    for backend, rows in backend_sizes:
        try:
            out.append(measure(backend, rows, write_rate))
        except Exception as exc:  # report it and go on with the others
            print('sync of %d rows on %s failed: %s: %s'
                  % (rows, backend, type(exc).__name__, exc))
    return out
