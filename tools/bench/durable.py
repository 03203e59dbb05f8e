#!/usr/bin/env python3
"""Issue 4: the commit-path cost of durable mode, off / direct / durable.

    python tools/bench/durable.py                     # all backends
    python tools/bench/durable.py --backends postgresql --rounds 5

The nova-like cycle of ``overhead.py`` on one engine and database, runs
alternating between three modes: capture off, ``delivery = direct`` and
``delivery = durable`` (one more ``INSERT`` into the outbox per
transaction before ``COMMIT``, and the sender's deferred ``DELETE``).
Both "on" modes publish to RabbitMQ through a background Sender in this
process; the sender is drained after each run, outside the measured
window. Throughput is the median over the rounds; the target of the
issue is a durable/off ratio of at least 0.85.
"""

import argparse
import os
import sys
import time
import warnings

os.environ['PYTHONWARNINGS'] = 'ignore'
warnings.simplefilter('ignore')
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import benchlib  # noqa: E402
from oslo_db.sqlalchemy import orm as db_orm  # noqa: E402
import overhead  # noqa: E402
import sqlalchemy as sa  # noqa: E402

from oslo_publish_tables import demo_schema  # noqa: E402
from oslo_publish_tables.outbox import migration  # noqa: E402
from oslo_publish_tables.outbox import store  # noqa: E402
from oslo_publish_tables import publisher  # noqa: E402

TARGET_RATIO = 0.85
MODES = ('off', 'direct', 'durable')


def measure(backend, rounds, seconds, topic):
    with benchlib.scratch_database(backend) as url:
        engine = sa.create_engine(url)
        try:
            demo_schema.create(engine)
            migration.upgrade(engine)
            confs = {mode: benchlib.make_conf(
                tables=list(demo_schema.PUBLISHED), delivery=mode)
                for mode in ('direct', 'durable')}
            sender = benchlib.make_sender(confs['direct'], topic)
            try:
                return _rounds(engine, confs, sender, rounds, seconds)
            finally:
                sender.stop()
                sender.transport.close()
        finally:
            engine.dispose()


def _rounds(engine, confs, sender, rounds, seconds):
    work = overhead.Workload(db_orm.get_maker(engine))
    outbox = store.OutboxStore(engine)
    for mode in MODES:  # warm up every path
        if mode != 'off':
            publisher.install(engine, confs[mode], submit=sender.submit)
        work.run_for(min(1.0, seconds))
        if mode != 'off':
            publisher.uninstall(engine)
            sender.flush(60)
    tps = {m: [] for m in MODES}
    lat = {m: [] for m in MODES}
    left = 0
    for index in range(rounds):
        order = MODES if index % 2 == 0 else MODES[::-1]
        for mode in order:
            if mode != 'off':
                publisher.install(engine, confs[mode], submit=sender.submit)
            mark = len(work.commits)
            txns, elapsed = work.run_for(seconds)
            if mode != 'off':
                publisher.uninstall(engine)
                sender.flush(60)
            tps[mode].append(txns / elapsed)
            lat[mode].extend(work.commits[mark:])
        deadline = time.monotonic() + 10
        while outbox.count() and time.monotonic() < deadline:
            time.sleep(0.01)
        left = max(left, outbox.count())
    figures = {'tps_%s' % m: benchlib.median(tps[m]) for m in MODES}
    for m in MODES:
        figures['p50_%s_ms' % m] = benchlib.percentile(lat[m], 50) * 1e3
        figures['p99_%s_ms' % m] = benchlib.percentile(lat[m], 99) * 1e3
    figures['outbox_left'] = left
    figures['outbox_deleted'] = sender.stats['outbox_deleted']
    return figures


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--backends', default='sqlite,postgresql,mysql')
    parser.add_argument('--rounds', type=int, default=5)
    parser.add_argument('--seconds', type=float, default=3.0)
    args = parser.parse_args(argv)
    benchlib.quiet_logging()
    ok, reason = benchlib.available('rabbit')
    if not ok:
        print('RabbitMQ not available: %s' % reason)
        return 1
    rows = []
    with benchlib.scratch_topic('pt_bench_durable_') as (topic, _):
        for backend in args.backends.split(','):
            ok, reason = benchlib.available(backend)
            if not ok:
                print('%s skipped: %s' % (backend, reason))
                continue
            f = measure(backend, args.rounds, args.seconds, topic)
            ratio = f['tps_durable'] / f['tps_off']
            rows.append([
                backend, benchlib.fmt_num(f['tps_off']),
                benchlib.fmt_num(f['tps_direct']),
                benchlib.fmt_num(f['tps_durable']),
                '%.2f %s' % (ratio, 'PASS' if ratio >= TARGET_RATIO
                             else 'MISS'),
                '%.2f' % (f['tps_durable'] / f['tps_direct']),
                '%.2f / %.2f / %.2f' % (f['p50_off_ms'], f['p50_direct_ms'],
                                        f['p50_durable_ms']),
                '%.2f / %.2f / %.2f' % (f['p99_off_ms'], f['p99_direct_ms'],
                                        f['p99_durable_ms']),
                str(f['outbox_left'])])
    title = ('Durable mode: commit throughput (txn/s, median of %d runs '
             'of %.1fs), target durable/off >= %.2f'
             % (args.rounds, args.seconds, TARGET_RATIO))
    benchlib.table(
        title,
        ['backend', 'off', 'direct', 'durable', 'durable/off',
         'durable/direct', 'p50 ms off/dir/dur', 'p99 ms off/dir/dur',
         'outbox rows left'], rows)
    return 0


if __name__ == '__main__':
    sys.exit(main())
