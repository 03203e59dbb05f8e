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

"""What the capture costs the committing thread, by stage, side by side.

``python -m tools.bench.capture_cost [--backends sqlite,postgresql,mysql]
[--cycles 200] [--rounds 3] [--mode off|capture]``

Runs the nova-like cycle of :mod:`overhead` a fixed number of times per
round, alternating the capture off and on (its records dropped: no
Sender), and reports per committed transaction the committing thread's
CPU (``time.thread_time``, the minimum over the rounds, robust on a
shared machine), the SQL statements that reached the database, the row
changes, the capture's CPU per row change, the capture's own stages
(its listeners, timed in a third mode: planning before a statement,
finishing after it, ``COMMIT``'s read-back and records), and what it
adds to a statement that writes no published table (:func:`fixed_cost`).

``--mode off`` or ``--mode capture`` runs that mode alone for
``--cycles`` cycles after one warm-up round, for instruction counts::

    valgrind --tool=callgrind --callgrind-out-file=/tmp/cg.%p \\
        python -m tools.bench.capture_cost --backends mysql --mode capture
"""

import argparse
import time

from oslo_db.sqlalchemy import orm as db_orm
import sqlalchemy as sa

from oslo_publish_tables.capture import listeners
from oslo_publish_tables import publisher
from publish_tables_demo import schema as demo_schema

from tools.bench import benchlib
from tools.bench import overhead

# The capture's listeners, by stage.
STAGES = (('plan', '_before_execute'), ('finish', '_on_after_execute'),
          ('commit', '_on_commit'), ('text', '_on_before_cursor_execute'))


def _drop(draft):
    _drop.changes += len(draft.changes)


class StageTimer(object):
    """Times the capture's listeners (thread CPU) while installed."""

    def __init__(self):
        self.cpu = {name: 0.0 for name, _ in STAGES}
        self._saved = []

    def __enter__(self):
        for stage, attr in STAGES:
            original = getattr(listeners.EngineCapture, attr)
            self._saved.append((attr, original))
            setattr(listeners.EngineCapture, attr,
                    self._timed(stage, original))
        return self

    def _timed(self, stage, original):
        cpu = self.cpu

        def timed(*args, **kwargs):
            start = time.thread_time()
            try:
                return original(*args, **kwargs)
            finally:
                cpu[stage] += time.thread_time() - start
        return timed

    def __exit__(self, *exc):
        for attr, original in self._saved:
            setattr(listeners.EngineCapture, attr, original)


def one_round(engine, conf, work, mode, cycles, counter):
    """``{txns, cpu, sql, changes, stages}`` of ``cycles`` cycles."""
    _drop.changes = 0
    timer = StageTimer() if mode == 'staged' else None
    if timer is not None:
        timer.__enter__()
    if mode != 'off':
        publisher.install(engine, conf, submit=_drop)
    txns, sql = len(work.commits), counter[0]
    cpu = time.thread_time()
    for _ in range(cycles):
        work.cycle()
    cpu = time.thread_time() - cpu
    if mode != 'off':
        publisher.uninstall(engine)
    if timer is not None:
        timer.__exit__()
    return {'txns': len(work.commits) - txns, 'cpu': cpu,
            'sql': counter[0] - sql, 'changes': _drop.changes,
            'stages': timer.cpu if timer else {}}


def fixed_cost(engine, conf, count=500, rounds=3):
    """Added CPU us per statement that writes no published table.

    ``SELECT`` of a published table by key, and ``UPDATE`` of an
    unpublished one (``services``), each run ``count`` times in one
    transaction; the capture off and on, best of ``rounds``.
    """
    services = demo_schema.Service.__table__
    instances = demo_schema.Instance.__table__
    with engine.begin() as conn:
        conn.execute(services.insert(), {'id': 1, 'host': 'h'})
    read = sa.select(instances.c.id).where(
        instances.c.id == sa.bindparam('i'))
    write = services.update().where(services.c.id == 1).values(
        report_count=sa.bindparam('n'))
    best = {}
    for index in range(rounds * 2):
        mode = ('off', 'on')[index % 2]
        if mode == 'on':
            publisher.install(engine, conf, submit=_drop)
        for name, stmt, key in (('select', read, 'i'),
                                ('update', write, 'n')):
            with engine.begin() as conn:
                cpu = time.thread_time()
                for n in range(count):
                    conn.execute(stmt, {key: n})
                cpu = (time.thread_time() - cpu) / count
            best[mode, name] = min(best.get((mode, name), cpu), cpu)
        if mode == 'on':
            publisher.uninstall(engine)
    return {name: (best['on', name] - best['off', name]) * 1e6
            for name in ('select', 'update')}


def run_backend(backend, cycles, rounds, only=None):
    with benchlib.scratch_database(backend) as url:
        engine = sa.create_engine(url)
        demo_schema.create(engine)
        conf = benchlib.make_conf(tables=list(demo_schema.PUBLISHED))
        work = overhead.Workload(db_orm.get_maker(engine))
        counter = [0]

        def count(*args):
            counter[0] += 1
        sa.event.listen(engine, 'before_cursor_execute', count)
        modes = (only,) if only else ('off', 'capture', 'staged')
        try:
            for mode in modes:  # warm-up: connections, compiled caches
                one_round(engine, conf, work, mode, max(cycles // 4, 5),
                          counter)
            best = {}
            for index in range(rounds):
                for mode in (modes if index % 2 == 0 else modes[::-1]):
                    r = one_round(engine, conf, work, mode, cycles, counter)
                    per = r['cpu'] / r['txns']
                    if mode not in best or per < best[mode]['cpu_txn']:
                        best[mode] = dict(r, cpu_txn=per)
            if not only:
                best['fixed'] = fixed_cost(engine, conf)
            return best
        finally:
            sa.event.remove(engine, 'before_cursor_execute', count)
            engine.dispose()


def report(results):
    rows = []
    for backend, best in results.items():
        off, on, st = best['off'], best['capture'], best['staged']
        changes = on['changes'] / on['txns']
        added = (on['cpu_txn'] - off['cpu_txn']) * 1e6
        stages = ' / '.join('%.0f' % (st['stages'][s] / st['txns'] * 1e6)
                            for s, _ in STAGES)
        rows.append([backend, '%.2f' % changes,
                     '%.0f' % (off['cpu_txn'] * 1e6),
                     '%.0f' % (on['cpu_txn'] * 1e6), '%+.0f' % added,
                     '%+.0f%%' % (added / off['cpu_txn'] / 1e4),
                     '%.0f' % (added / changes), stages,
                     '%.2f / %.2f' % (off['sql'] / off['txns'],
                                      on['sql'] / on['txns']),
                     '%+.1f / %+.1f' % (best['fixed']['select'],
                                        best['fixed']['update'])])
    benchlib.table(
        'Capture cost on the committing thread, nova-like cycle (CPU us, '
        'best of the rounds)',
        ['backend', 'changes/txn', 'CPU/txn off', 'CPU/txn on',
         'added/txn', 'added %', 'us per row change',
         'plan / finish / commit / text (us/txn)', 'SQL/txn off / on',
         'us per SELECT / unpublished UPDATE'],
        rows)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--backends', default='sqlite,postgresql,mysql')
    parser.add_argument('--cycles', type=int, default=200)
    parser.add_argument('--rounds', type=int, default=3)
    parser.add_argument('--mode', choices=('off', 'capture'),
                        help='run this mode alone (for callgrind)')
    args = parser.parse_args(argv)
    benchlib.quiet_warnings()
    benchlib.quiet_logging()
    results = {}
    for backend in args.backends.split(','):
        ok, reason = benchlib.available(backend)
        if not ok:
            print('%s skipped: %s' % (backend, reason))
            continue
        results[backend] = run_backend(backend, args.cycles, args.rounds,
                                       args.mode)
    if args.mode:
        for backend, best in results.items():
            r = best[args.mode]
            print('%s %s: %d txns, %.2f SQL/txn' % (
                backend, args.mode, r['txns'], r['sql'] / r['txns']))
    else:
        report(results)


if __name__ == '__main__':
    main()
