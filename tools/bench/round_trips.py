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

"""The capture's own SQL statements, per call, on each database (exact).

``python -m tools.bench.round_trips [--backends sqlite,postgresql,mysql]
[--cycles 10] [--workload nova|micro|both]``

Runs a workload's cycles with the capture off, then on (its records
dropped: no Sender), and counts every statement that reaches the
database (``before_cursor_execute``). A statement issued while one of
the capture's listeners runs is the capture's own, by stage: ``plan``
(before the service's statement: a locking ``SELECT`` of its keys) or
``commit`` (the read-back and the clock before ``COMMIT``). Per call
(nova's DB API, where nova imports: ``tox -e nova``) or per transaction
of the nova-like micro cycle, it prints the statements off and on, and
the capture's own statements, shortened to their verb, table and
locking or ``RETURNING`` clause. Counts do not depend on machine load.
"""

import argparse
import collections
import re

from oslo_db.sqlalchemy import orm as db_orm
import sqlalchemy as sa

from oslo_publish_tables.capture import listeners
from oslo_publish_tables.capture import reflection
from oslo_publish_tables import publisher
from publish_tables_demo import schema as demo_schema

from tools.bench import benchlib
from tools.bench import nova_workload
from tools.bench import overhead

# The capture's code that may run statements of its own. A table's
# reflection (once per install and table) and its periodic schema check
# (every check_interval seconds) are counted apart, not per call.
STAGES = ((listeners.EngineCapture, 'plan', '_before_execute'),
          (listeners.EngineCapture, 'commit', '_on_commit'),
          (reflection.LazyRegistry, 'reflect', '_reflect'),
          (reflection.LazyRegistry, 'check', '_unchanged'))
_APART = ('reflect', 'check')

_TABLE = re.compile(r'\b(?:FROM|INTO|UPDATE)\s+[`"]?(\w+)', re.IGNORECASE)
_BY = re.compile(r'\bWHERE\s+(?:[`"]?\w+[`"]?\.)?[`"]?(\w+)[`"]?\s+IN\s*\(',
                 re.IGNORECASE)


def shorten(statement):
    """``SELECT instances FOR UPDATE BY id``: verb, table, lock, keys."""
    words = statement.split()
    verb = words[0].upper() if words else '?'
    table = _TABLE.search(statement)
    parts = [verb, table.group(1) if table else '-']
    upper = statement.upper()
    if 'RETURNING' in upper:
        parts.append('RETURNING')
    if 'FOR UPDATE' in upper:
        parts.append('FOR UPDATE')
    by = _BY.search(statement)
    if by:
        parts.append('BY ' + by.group(1))
    return ' '.join(parts)


class Recorder(object):
    """Statements per label, the capture's own told apart by stage."""

    def __init__(self):
        self.label = None
        self.stage = None
        # label -> {'calls': n, 'all': n, 'ours': Counter((stage, text))}
        self.seen = collections.defaultdict(
            lambda: {'calls': 0, 'all': 0, 'ours': collections.Counter()})
        self._saved = []
        self.apart = collections.Counter()

    def statement(self, conn, cursor, statement, *args):
        if self.stage in _APART:
            self.apart[self.stage] += 1
            return
        entry = self.seen[self.label]
        entry['all'] += 1
        if self.stage is not None:
            entry['ours'][self.stage, shorten(statement)] += 1

    def __enter__(self):
        for owner, stage, attr in STAGES:
            original = getattr(owner, attr)
            self._saved.append((owner, attr, original))
            setattr(owner, attr, self._staged(stage, original))
        return self

    def _staged(self, stage, original):
        recorder = self

        def staged(*args, **kwargs):
            outer, recorder.stage = recorder.stage, stage
            try:
                return original(*args, **kwargs)
            finally:
                recorder.stage = outer
        return staged

    def __exit__(self, *exc):
        for owner, attr, original in self._saved:
            setattr(owner, attr, original)


def _drop(draft):
    pass


def _labelled(work, recorder):
    """Label each nova call, or each micro-cycle transaction by order."""
    if isinstance(work, overhead.Workload):
        original = work._commit
        names = ('create', 'update (ORM)', 'update by uuid (Query.update)',
                 'update (ORM) 2', 'soft_delete by uuid')

        def commit(session):
            original(session)
            recorder.seen[recorder.label]['calls'] += 1
            recorder.label = names[(len(work.commits)) % len(names)]
        work._commit = commit
        recorder.label = names[0]
        return
    original = work._call

    def call(func, *args):
        recorder.label = func.__name__
        try:
            return original(func, *args)
        finally:
            recorder.seen[func.__name__]['calls'] += 1
            recorder.label = None
    work._call = call


def _run(engine, conf, work, cycles, capture):
    recorder = Recorder()
    with recorder:  # before install: the listeners it binds are staged
        if capture:
            publisher.install(engine, conf, submit=_drop)
        sa.event.listen(engine, 'before_cursor_execute', recorder.statement)
        _labelled(work, recorder)
        try:
            for _ in range(cycles):
                if isinstance(work, overhead.Workload) and \
                        (work.cycles + 1) % 5 == 0:
                    work.cycles += 1  # skip the rolled-back update
                work.cycle()
        finally:
            sa.event.remove(engine, 'before_cursor_execute',
                            recorder.statement)
            if capture:
                publisher.uninstall(engine)
            work.__dict__.pop('_commit', None)
            work.__dict__.pop('_call', None)
    return recorder


def _measure(engine, conf, work, cycles):
    _run(engine, conf, work, 2, True)  # warm-up: reflection, caches
    return _run(engine, conf, work, cycles, False), _run(
        engine, conf, work, cycles, True)


def run_backend(backend, cycles, workload):
    results = {}
    if workload in ('micro', 'both'):
        with benchlib.scratch_database(backend) as url:
            engine = sa.create_engine(url)
            demo_schema.create(engine)
            conf = benchlib.make_conf(tables=list(demo_schema.PUBLISHED))
            try:
                work = overhead.Workload(db_orm.get_maker(engine))
                results['micro'] = _measure(engine, conf, work, cycles)
            finally:
                engine.dispose()
    if workload in ('nova', 'both') and nova_workload.available():
        with benchlib.scratch_database(backend) as url:
            engine, restore = nova_workload.prepare_engine(backend, url)
            conf = benchlib.make_conf(
                tables=list(nova_workload.PUBLISHED),
                exclude_columns=['instances.user_data'])
            try:
                from nova import context as nova_context
                work = nova_workload.Workload(
                    nova_context.get_admin_context())
                results['nova'] = _measure(engine, conf, work, cycles)
            finally:
                engine.dispose()
                restore()
    return results


def report(backend, name, off, recorder):
    on, off = recorder.seen, off.seen
    rows, ours, total = [], [], [0, 0.0, 0]
    for label in on:
        if label is None or not on[label]['calls']:
            continue
        calls = on[label]['calls']
        n_off = off[label]['all'] / off[label]['calls']
        n_on = on[label]['all'] / calls
        total[0] += calls
        total[1] += n_off * calls
        total[2] += on[label]['all']
        rows.append([label, '%.2f' % n_off, '%.2f' % n_on,
                     '%+.2f' % (n_on - n_off)])
        for (stage, text), count in sorted(on[label]['ours'].items()):
            ours.append('  %-34s %-7s %-50s x%.2g' % (
                label, stage, text, count / calls))
    rows.append(['per call', '%.2f' % (total[1] / total[0]),
                 '%.2f' % (total[2] / total[0]),
                 '%+.2f' % ((total[2] - total[1]) / total[0])])
    benchlib.table('Statements per call, %s, %s' % (
        name, benchlib.NAMES.get(backend, backend)),
        ['call', 'off', 'on', 'added'], rows)
    if ours:
        print("The capture's own, per call:\n%s\n" % '\n'.join(ours))
    if recorder.apart:
        print('Not counted above: %s statements (once per table, and '
              'every check_interval)\n' % ', '.join(
                  '%s %d' % kv for kv in sorted(recorder.apart.items())))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--backends', default='sqlite,postgresql,mysql')
    parser.add_argument('--cycles', type=int, default=10)
    parser.add_argument('--workload', choices=('nova', 'micro', 'both'),
                        default='both')
    args = parser.parse_args(argv)
    for backend in args.backends.split(','):
        ok, reason = benchlib.available(backend)
        if not ok:
            print('%s: skipped (%s)' % (backend, reason))
            continue
        for name, (off, on) in run_backend(
                backend, args.cycles, args.workload).items():
            report(backend, name, off, on)


if __name__ == '__main__':
    main()
