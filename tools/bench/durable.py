#!/usr/bin/env python3
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

"""The commit-path cost of the outbox: off / direct / durable / relayed.

    python -m tools.bench.durable                     # all backends
    python -m tools.bench.durable --backends postgresql --rounds 5

The nova-like cycle of ``overhead.py`` on one engine and database, runs
alternating between three modes: capture off, ``delivery = direct`` and
``delivery = durable`` (one more ``INSERT`` into the outbox per
transaction before ``COMMIT``, and the sender's deferred ``DELETE``) and
``delivery = relayed`` (the ``INSERT`` only: a relay in another process,
as ``publish-tables-agent`` would run it, publishes and prunes). Direct
and durable publish to RabbitMQ through a background Sender in this
process; the sender, or the relay, is drained after each run, outside
the measured window. Throughput is the median over the rounds; the
target of the issue is an outbox/off ratio of at least 0.85.
"""

import argparse
import multiprocessing
import sys
import time

from oslo_db.sqlalchemy import orm as db_orm
import sqlalchemy as sa

from oslo_publish_tables.outbox import migration
from oslo_publish_tables.outbox import relay as relay_mod
from oslo_publish_tables.outbox import store
from oslo_publish_tables import publisher
from publish_tables_demo import schema as demo_schema

from tools.bench import benchlib
from tools.bench import overhead

TARGET_RATIO = 0.85
MODES = ('off', 'direct', 'durable', 'relayed')


def modes_for(backend):
    """SQLite refuses ``delivery = relayed`` (one writer per file)."""
    return MODES[:-1] if backend == 'sqlite' else MODES


def _relay_main(url, topic, stop):
    """A relay process: publishes every outbox row (delivery=relayed)."""
    benchlib.quiet_logging()
    engine = sa.create_engine(url)
    sender = benchlib.make_sender(benchlib.make_conf(), topic)
    relay = relay_mod.Relay(engine, sender, relay_mod.RelaySettings(
        grace_period=0, interval=0.02))
    relay.start()
    stop.wait()
    relay.stop()
    sender.flush(60)
    sender.stop()
    engine.dispose()


class RelayProcess(object):
    """Runs :func:`_relay_main` while the relayed mode is measured."""

    def __init__(self, url, topic):
        self.url, self.topic = url, topic
        self.stop_event = self.process = None

    def __enter__(self):
        ctx = multiprocessing.get_context('spawn')
        self.stop_event = ctx.Event()
        self.process = ctx.Process(target=_relay_main, args=(
            self.url, self.topic, self.stop_event), daemon=True)
        self.process.start()
        return self

    def __exit__(self, *exc):
        self.stop_event.set()
        self.process.join(60)


def measure(backend, rounds, seconds, topic):
    with benchlib.scratch_database(backend) as url:
        engine = sa.create_engine(url)
        try:
            demo_schema.create(engine)
            migration.upgrade(engine)
            confs = {mode: benchlib.make_conf(
                tables=list(demo_schema.PUBLISHED), delivery=mode)
                for mode in modes_for(backend)[1:]}
            sender = benchlib.make_sender(confs['direct'], topic)
            relay = RelayProcess(url, topic)
            try:
                return _rounds(engine, confs, sender, relay, rounds,
                               seconds, modes_for(backend))
            finally:
                sender.stop()
                sender.transport.close()
        finally:
            engine.dispose()


def _drain(sender, outbox, mode, relay):
    """Outside the measured window: publish what the mode left."""
    sender.flush(60)
    if mode == 'relayed':
        with relay:
            benchlib.wait_for(lambda: not outbox.count(), 60, 0.05)


def _rounds(engine, confs, sender, relay, rounds, seconds, modes=MODES):
    work = overhead.Workload(db_orm.get_maker(engine))
    outbox = store.OutboxStore(engine)
    for mode in modes:  # warm up every path
        if mode != 'off':
            publisher.install(engine, confs[mode], submit=sender.submit)
        work.run_for(min(1.0, seconds))
        if mode != 'off':
            publisher.uninstall(engine)
            _drain(sender, outbox, mode, relay)
    tps = {m: [] for m in modes}
    lat = {m: [] for m in modes}
    left = 0
    for index in range(rounds):
        order = modes if index % 2 == 0 else modes[::-1]
        for mode in order:
            if mode != 'off':
                benchlib.install(engine, confs[mode], submit=sender.submit)
            mark = len(work.commits)
            if mode == 'relayed':
                with relay:  # the agent publishes while the service runs
                    txns, elapsed = work.run_for(seconds)
            else:
                txns, elapsed = work.run_for(seconds)
            if mode != 'off':
                publisher.uninstall(engine)
                _drain(sender, outbox, mode, relay)
            tps[mode].append(txns / elapsed)
            lat[mode].extend(work.commits[mark:])
        deadline = time.monotonic() + 10
        while outbox.count() and time.monotonic() < deadline:
            time.sleep(0.01)
        left = max(left, outbox.count())
    figures = {}
    for m in MODES:  # None: the mode is refused on this database
        figures['tps_%s' % m] = benchlib.median(tps[m]) if m in tps else None
        for q in (50, 99):
            figures['p%d_%s_ms' % (q, m)] = (
                benchlib.percentile(lat[m], q) * 1e3 if m in lat else None)
    figures['outbox_left'] = left
    figures['outbox_deleted'] = sender.stats['outbox_deleted']
    return figures


def _verdict(ratio):
    if ratio is None:
        return 'refused'
    return '%.2f %s' % (ratio, 'PASS' if ratio >= TARGET_RATIO else 'MISS')


def ratio(figures, mode):
    """Throughput of ``mode`` over off, or None if it was refused."""
    if figures['tps_%s' % mode] is None:
        return None
    return figures['tps_%s' % mode] / figures['tps_off']


def fmt_ms(figures, q):
    return ' / '.join('-' if figures['p%d_%s_ms' % (q, m)] is None
                      else '%.2f' % figures['p%d_%s_ms' % (q, m)]
                      for m in MODES)


def main(argv=None):
    benchlib.quiet_warnings()
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
            rows.append([backend] + [
                '-' if f['tps_%s' % m] is None
                else benchlib.fmt_num(f['tps_%s' % m]) for m in MODES] + [
                _verdict(ratio(f, 'durable')), _verdict(ratio(f, 'relayed')),
                fmt_ms(f, 50), fmt_ms(f, 99), str(f['outbox_left'])])
    title = ('Outbox modes: commit throughput (txn/s, median of %d runs '
             'of %.1fs), target outbox mode/off >= %.2f'
             % (args.rounds, args.seconds, TARGET_RATIO))
    benchlib.table(
        title,
        ['backend', 'off', 'direct', 'durable', 'relayed', 'durable/off',
         'relayed/off', 'p50 ms off/dir/dur/rel', 'p99 ms off/dir/dur/rel',
         'outbox rows left'], rows)
    return 0


if __name__ == '__main__':
    sys.exit(main())
