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

"""One fault scenario: producers, a consumer, faults, a row-for-row check.

:func:`run` creates a scratch database with the nova-like demo schema
and a topic of its own on RabbitMQ, reached through a cuttable
:class:`~proxy.Proxy` (``broker_fault='cut'``) or directly, the outage
being then a real stop and start of the broker
(``broker_fault='restart'``, :class:`~broker.Broker`). It starts
``producers`` producer processes (:mod:`producer`), then, while they
write at full speed, the real ``congress-consumer`` command (snapshot
taken under load) and, in durable mode, ``publish-tables-agent`` (the
outbox relay), injects the scenario's faults on a timeline, waits for
the writers to finish and then for the consumer's replica, read through
its HTTP API, to equal the database row for row. It returns the figures
as a dict. A diverged scenario prints, per table, its state and a few
rows found on one side only, and the tail of every process's log; with
``PT_FAULTS_KEEP=<dir>`` its work directory (logs, stats) is kept there.
"""

import collections
import json
import os
import shutil
import tempfile
import time
import urllib.request

import sqlalchemy as sa

from congress_consumer.datasources import values
from oslo_publish_tables.outbox import migration
from oslo_publish_tables.outbox import schema as outbox_schema
from publish_tables_demo import schema as demo_schema

from tools.bench import benchlib
from tools.faults.broker import Broker
from tools.faults.processes import Processes
from tools.faults.processes import TABLES
from tools.faults.proxy import Proxy

SCENARIOS = ('baseline', 'kill-producer', 'kill-consumer', 'broker-outage',
             'duplicate-reorder', 'kill-agent', 'silent-writes',
             'everything')
FAULTS = {
    'baseline': set(),
    'kill-producer': {'kill-producer'},
    'kill-consumer': {'kill-consumer'},
    'broker-outage': {'broker-outage'},
    'duplicate-reorder': {'duplicate-reorder'},
    'kill-agent': {'kill-agent'},
    # Rows changed behind the capture's back once the replica converged
    # (a capture hole, a manual fix in the database): no record, no gap,
    # no marker. Only verification can see them; it must repair each.
    'silent-writes': {'silent-writes'},
    'everything': {'kill-producer', 'kill-consumer', 'broker-outage',
                   'duplicate-reorder', 'kill-agent'},
}
# Only the outbox modes (durable, relayed) run the relay in the agent.
DURABLE_ONLY = {'kill-agent'}
_NO_COMMIT = ('conflict', 'rolled_back')
_START_TIMEOUT = 120  # seconds for the consumer to load every table


def _normal(rows):
    """Rows as a multiset of JSON-normal tuples."""
    return collections.Counter(
        json.dumps([values.congress_value(v) for v in row]) for row in
        rows)


def database_rows(engine):
    """The tables' rows, read through the reflected tables.

    That is how the producers publish them: MySQL's BOOLEAN, for one,
    reflects as TINYINT.
    """
    meta = sa.MetaData()
    meta.reflect(engine, only=TABLES)
    rows = {}
    with engine.connect() as conn:
        for name in TABLES:
            model = demo_schema.Base.metadata.tables[name]
            table = meta.tables[name]
            columns = [table.c[c.name] for c in model.columns]
            rows[name] = _normal(conn.execute(sa.select(*columns)))
    return rows


def replica_rows(procs):
    return {name: _normal(r['data'] for r in
                          procs.api('/tables/%s/rows' % name)['results'])
            for name in TABLES}


def divergence(db, replica):
    """Rows that differ between the two, counted on both sides."""
    total = 0
    for name, rows in db.items():
        held = replica.get(name, collections.Counter())
        total += sum(((rows - held) + (held - rows)).values())
    return total


def _diverged(db, replica, status):
    """Per diverged table: its state, and the rows on either side only."""
    report = {}
    for name, rows in db.items():
        held = replica.get(name, collections.Counter())
        missing, extra = rows - held, held - rows
        if missing or extra:
            table = status['tables'].get(name, {})
            report[name] = {'state': table.get('state'),
                            'caught_up': table.get('caught_up'),
                            'database_only': sorted(missing)[:5],
                            'replica_only': sorted(extra)[:5]}
    return report


def _producer_figures(procs, outage=None):
    """Figures of the producers' stats files.

    ``outage`` is ``(start, end)`` in seconds of ``time.monotonic()``:
    transactions that ended within it, or began before its end and ended
    after its start, are counted in ``outage_txns`` and
    ``outage_max_ms``.
    """
    latencies, committed, conflicts, records = [], 0, 0, 0
    failures, during = 0, []
    for _, path in procs.producers:
        last = None
        if not os.path.exists(path):
            continue
        with open(path) as f:
            for line in f:
                parts = line.split()
                if parts[:1] == ['t'] and len(parts) == 4:
                    latency = int(parts[2]) / 1e3
                    latencies.append(latency)
                    committed += parts[1] not in _NO_COMMIT
                    conflicts += parts[1] == 'conflict'
                    end = int(parts[3]) / 1e3
                    if outage and outage[0] <= end and \
                            end - latency / 1e3 <= outage[1]:
                        during.append((parts[1] not in _NO_COMMIT,
                                       latency))
                elif parts[:1] == ['s'] and len(parts) >= 4:
                    last = parts
        if last:
            records += int(last[1])
            failures += int(last[3])
    return {'committed': committed, 'conflicts': conflicts,
            'records_published': records, 'send_failures': failures,
            'commit_p99_ms': benchlib.percentile(latencies, 99),
            'commit_max_ms': max(latencies or [0]),
            'outage_txns': sum(ok for ok, _ in during) if outage else '-',
            'outage_max_ms': max([lat for _, lat in during] or [0])
            if outage else '-'}


def _consumer_figures(status):
    tables = status['tables'].values()
    return {'applied': sum(t['applied'] for t in tables),
            'duplicates': sum(t['duplicate'] for t in tables),
            'late': sum(t['late'] for t in tables),
            'resyncs': sum(t['resyncs'] for t in tables),
            'gaps': status['gaps'],
            'vanished': status['vanished_producers'],
            'ordered_by': '/'.join(sorted({str(t.get('ordered_by'))
                                           for t in tables}))}


def _wait_api(procs, timeout, live=False):
    """The consumer's status once it answers (``live``: all tables LIVE)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            status = procs.api('/status')
        except OSError:
            status = None
        if status is not None and (not live or all(
                t['state'] == 'LIVE' for t in status['tables'].values())):
            return status
        time.sleep(0.1)
    raise RuntimeError('the consumer was not %s in %ds'
                       % ('LIVE' if live else 'answering', timeout))


def _timeline(faults, seconds, outage):
    """[(at seconds, action)] for the faults of a scenario.

    The clock starts once the consumer has loaded every table, so that
    each fault strikes a running consumer (it takes seconds to start on
    a loaded machine); the writes stop at ``seconds``.
    """
    events = [(seconds, 'stop-writing')]
    if 'broker-outage' in faults:
        events += [(seconds * 0.3, 'cut'), (seconds * 0.3 + outage,
                                            'restore')]
    if 'kill-producer' in faults:
        events.append((seconds * 0.45, 'kill-producer'))
    if 'kill-consumer' in faults:
        events += [(seconds * 0.6, 'kill-consumer'),
                   (seconds * 0.6 + 1.0, 'start-consumer')]
    if 'kill-agent' in faults:
        events += [(seconds * 0.5, 'kill-agent'),
                   (seconds * 0.5 + 1.0, 'start-agent')]
    return sorted(events)


class _Outage(object):
    """The broker outage of a scenario: a proxy cut or a real restart."""

    def __init__(self, broker_fault):
        self.proxy = Proxy(5672).start()
        self.broker = Broker() if broker_fault == 'restart' else None
        self.start = self.end = None

    def url(self):
        if self.broker is None:
            return self.proxy.url()
        return benchlib.rabbit_url()  # the clients see the real restart

    def begin(self):
        self.start = time.monotonic()
        if self.broker is None:
            self.proxy.cut()
        else:
            self.broker.stop()

    def finish(self):
        if self.broker is None:
            self.proxy.restore()
        else:
            self.broker.start()
        self.end = time.monotonic()

    def window(self):
        if self.start is None:
            return None
        return (self.start, self.end or time.monotonic())

    def close(self):
        """Restore the broker whatever happened (never leave it down)."""
        try:
            if self.broker is not None:
                self.broker.ensure_started()
        finally:
            self.proxy.close()


def run(backend, scenario, seconds=8.0, producers=3, outage=3.0,
        converge_timeout=90.0, delivery='direct', broker_fault='cut'):
    """Run one scenario on ``backend``; return its figures.

    ``broker_fault`` is ``cut`` (the proxy cuts the clients off) or
    ``restart`` (RabbitMQ itself is stopped and started again; it is
    started again even if the scenario fails or is interrupted).
    """
    faults = FAULTS[scenario]
    if delivery == 'direct':
        faults = faults - DURABLE_ONLY
    with benchlib.scratch_database(backend) as url, \
            benchlib.scratch_topic('pt_faults_') as (topic, _), \
            tempfile.TemporaryDirectory(prefix='pt-faults-') as workdir:
        engine = sa.create_engine(url)
        demo_schema.create(engine)
        if delivery != 'direct':
            migration.upgrade(engine)
        rabbit = _Outage(broker_fault)
        procs = Processes(workdir, url, rabbit.url(), topic, delivery)
        try:
            figures = _run(engine, procs, rabbit, faults, seconds,
                           producers, outage, converge_timeout)
            if figures['divergent'] != 0:
                _print_logs(workdir)  # the workdir goes with the scenario
                _keep(workdir, backend, scenario)
            return figures
        finally:
            try:
                rabbit.close()
            finally:
                procs.stop()
                engine.dispose()


def _keep(workdir, backend, scenario):
    """Copy a failed scenario's files under ``$PT_FAULTS_KEEP`` if set."""
    keep = os.environ.get('PT_FAULTS_KEEP')
    if keep:
        target = os.path.join(
            keep, '%s-%s-%d' % (backend, scenario, time.time()))
        shutil.copytree(workdir, target)
        print('the files of the scenario are in %s' % target, flush=True)


def _print_logs(workdir, lines=40):
    """The last lines of every process's log, for a failed scenario."""
    for name in sorted(os.listdir(workdir)):
        if name.endswith('.log'):
            with open(os.path.join(workdir, name)) as f:
                tail = f.readlines()[-lines:]
            print('--- last lines of %s ---\n%s' % (name, ''.join(tail)),
                  flush=True)


def _run(engine, procs, rabbit, faults, seconds, producers, outage,
         converge_timeout):
    mischief = 'duplicate-reorder' in faults
    if procs.delivery != 'direct':
        procs.start_agent()
    cap = seconds + _START_TIMEOUT  # they stop at 'stop-writing'
    for seed in range(producers):
        procs.start_producer(cap, seed, mischief)
    procs.wait_writing()
    procs.start_consumer()  # its snapshot is taken under load
    _wait_api(procs, _START_TIMEOUT, live=True)
    start = time.monotonic()
    for at, action in _timeline(faults, seconds, outage):
        time.sleep(max(0.0, start + at - time.monotonic()))
        if action == 'stop-writing':
            procs.stop_writing()
        elif action == 'start-consumer':
            procs.start_consumer()
        elif action == 'kill-consumer':
            procs.kill(procs.consumer)
        elif action == 'kill-agent':
            procs.kill(procs.agent)
        elif action == 'start-agent':
            procs.start_agent()
        elif action == 'cut':
            rabbit.begin()
        elif action == 'restore':
            rabbit.finish()
        elif action == 'kill-producer':
            procs.kill(procs.producers[0][0])  # records in flight die
            procs.start_producer(cap, producers, mischief)
    for proc, _ in procs.producers:
        proc.wait()
    last_write = time.monotonic()
    _wait_api(procs, 30)
    figures = _converge(engine, procs, converge_timeout)
    figures['converge_s'] = time.monotonic() - last_write
    figures['injected'] = figures['silent_repaired'] = '-'
    if 'silent-writes' in faults:
        figures.update(_silent_writes(engine, procs, converge_timeout))
    figures.update(_verify(procs))
    figures['consumer_runs'] = procs.consumer_runs
    figures['outbox_left'] = _outbox_rows(engine, procs.delivery)
    figures['relayed'] = procs.relayed()
    window = rabbit.window()
    figures['outage_s'] = window[1] - window[0] if window else '-'
    figures.update(_producer_figures(procs, window))
    figures.update(_consumer_figures(procs.api('/status')))
    return figures


def _verify(procs):
    """Verify every table through the API once the replica converged."""
    request = urllib.request.Request(
        'http://127.0.0.1:%d/v1/data-sources/nova?action=verify&wait=true'
        '&timeout=240' % procs.api_port, data=b'', method='POST')
    with urllib.request.urlopen(request, timeout=270) as response:
        results = json.load(response).get('result') or {}
    repairs = [r for t in results.values() for r in t.get('repairs', ())]
    return {'verified': '%d/%d' % (sum(1 for t in results.values()
                                       if t.get('verified')), len(results)),
            'verify_mismatches': sum(len(t.get('mismatched', ()))
                                     for t in results.values()),
            'verify_repaired': sum(r['added'] + r['changed'] + r['removed']
                                   for r in repairs)}


def _repaired(procs):
    """Rows verification repaired so far, all tables (the status)."""
    tables = procs.api('/status')['tables'].values()
    return sum(t['verification'][k] for t in tables
               for k in ('rows_added', 'rows_changed', 'rows_removed'))


def _silent_writes(engine, procs, timeout):
    """Change rows without the plugin; verification must repair them.

    Returns the figures of the replica after the repair: ``injected``
    rows changed behind the capture, ``silent_repaired`` rows the
    verification repaired, and the row-for-row comparison again.
    """
    before = _repaired(procs)
    with engine.begin() as conn:  # this engine has no plugin installed
        ids = [r[0] for r in conn.execute(sa.text(
            'SELECT id FROM instances ORDER BY id')).fetchmany(3)]
        injected = sum(conn.execute(sa.text(
            "UPDATE instances SET host = 'moved-silently' WHERE id = :id"),
            {'id': i}).rowcount for i in ids)
        tag = conn.execute(sa.text(
            'SELECT resource_id, tag FROM tags ORDER BY resource_id, tag'
        )).first()
        if tag is not None:
            injected += conn.execute(sa.text(
                'DELETE FROM tags WHERE resource_id = :r AND tag = :t'),
                {'r': tag[0], 't': tag[1]}).rowcount
        injected += conn.execute(sa.text(
            "INSERT INTO tags (resource_id, tag) VALUES "
            "('silent', 'never-captured')")).rowcount
    verified = _verify(procs)
    figures = _converge(engine, procs, timeout)
    figures.update(verified, injected=injected,
                   silent_repaired=_repaired(procs) - before)
    return figures


def _outbox_rows(engine, delivery):
    if delivery == 'direct':
        return '-'
    with engine.connect() as conn:
        return conn.execute(sa.select(sa.func.count()).select_from(
            sa.table(outbox_schema.TABLE_NAME))).scalar()


def _converge(engine, procs, timeout):
    db = database_rows(engine)
    deadline = time.monotonic() + timeout
    while True:
        status = procs.api('/status')
        # STALE is a loaded table whose producers all went silent (the
        # scenario's processes are gone; one killed never said goodbye):
        # its rows are compared like a LIVE table's.
        live = all(t['state'] in ('LIVE', 'STALE')
                   for t in status['tables'].values())
        replica = replica_rows(procs) if live else {}
        bad = divergence(db, replica) if live else None
        if bad == 0 or time.monotonic() > deadline:
            if not live:
                print('not live: %s' % {
                    t: (s['state'], s.get('last_resync_reasons'))
                    for t, s in status['tables'].items()
                    if s['state'] not in ('LIVE', 'STALE')}, flush=True)
            if bad:
                print('diverged: %s' % _diverged(db, replica, status),
                      flush=True)
            return {'rows': sum(sum(c.values()) for c in db.values()),
                    'divergent': bad if live else -1, 'live': live}
        time.sleep(0.25)
