"""One fault scenario: producers, a consumer, faults, a row-for-row check.

:func:`run` creates a scratch database with the nova-like demo schema
and a topic of its own on RabbitMQ, reached through a cuttable
:class:`~proxy.Proxy`. It starts ``producers`` producer processes
(:mod:`producer`), then, while they write at full speed, the real
``congress-consumer`` command (snapshot taken under load) and, in durable
mode, ``publish-tables-agent`` (the outbox relay), injects the
scenario's faults on a timeline, waits for the writers to finish and
then for the consumer's replica, read through its HTTP API, to equal
the database row for row. It returns the figures as a dict.
"""

import collections
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request

import sqlalchemy as sa

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(REPO, 'tools', 'bench'))

import benchlib  # noqa: E402
from proxy import Proxy  # noqa: E402

from congress_consumer.publish_tables import driver as driver_mod  # noqa
from oslo_publish_tables import demo_schema  # noqa: E402
from oslo_publish_tables.outbox import migration  # noqa: E402
from oslo_publish_tables.outbox import schema as outbox_schema  # noqa

SCENARIOS = ('baseline', 'kill-producer', 'kill-consumer', 'broker-outage',
             'duplicate-reorder', 'kill-agent', 'everything')
FAULTS = {
    'baseline': set(),
    'kill-producer': {'kill-producer'},
    'kill-consumer': {'kill-consumer'},
    'broker-outage': {'broker-outage'},
    'duplicate-reorder': {'duplicate-reorder'},
    'kill-agent': {'kill-agent'},
    'everything': {'kill-producer', 'kill-consumer', 'broker-outage',
                   'duplicate-reorder', 'kill-agent'},
}
# Only durable mode runs the relay in publish-tables-agent.
DURABLE_ONLY = {'kill-agent'}
TABLES = demo_schema.PUBLISHED
_NO_COMMIT = ('conflict', 'rolled_back')


def _env():
    env = dict(os.environ)
    env['PYTHONPATH'] = os.pathsep.join(
        [REPO] + [p for p in [env.get('PYTHONPATH')] if p])
    return env


class Processes(object):
    """Producer and consumer processes of one scenario, with their files."""

    def __init__(self, workdir, url, transport_url, topic, delivery):
        self.workdir = workdir
        self.url = url
        self.transport_url = transport_url
        self.topic = topic
        self.delivery = delivery
        self.producers = []
        self.consumer = None
        self.consumer_runs = 0
        self.agent = None
        self.agent_runs = 0
        self.api_port = None

    def start_producer(self, seconds, seed, mischief=False):
        stats = os.path.join(self.workdir, 'producer-%d.stats' % seed)
        args = [sys.executable, os.path.join(HERE, 'producer.py'),
                '--url', self.url, '--transport-url', self.transport_url,
                '--topic', self.topic, '--tables', ','.join(TABLES),
                '--seconds', str(seconds), '--seed', str(seed),
                '--stats', stats, '--delivery', self.delivery]
        if mischief:
            args += ['--duplicate', '0.2', '--reorder', '0.2']
        log = open(os.path.join(self.workdir, 'producer-%d.log' % seed), 'w')
        proc = subprocess.Popen(args, env=_env(), stdout=log,
                                stderr=subprocess.STDOUT)
        self.producers.append((proc, stats))
        return proc

    def _consumer_config(self):
        port = self.api_port
        columns = ','.join('%s.%s' % (t, c.name) for t in TABLES for c in
                           demo_schema.Base.metadata.tables[t].columns)
        path = os.path.join(self.workdir, 'consumer.conf')
        with open(path, 'w') as f:
            f.write('[DEFAULT]\ntransport_url = %s\n\n'
                    '[consumer]\ndatasources = nova\napi_port = %d\n\n'
                    '[datasource_nova]\ntables = %s\ncolumns = %s\n'
                    'topic = %s\nsnapshot_source = database\n'
                    'database_url = %s\ngap_timeout = 1\n'
                    'producer_timeout = %d\n'
                    % (self.transport_url, port, ','.join(TABLES), columns,
                       self.topic, self.url, self._producer_timeout()))
        return path

    def _producer_timeout(self):
        # Durable mode must lose nothing: the consumer is told to wait far
        # longer than the run before it gives up on a silent producer and
        # resyncs, so only the relay can bring a dead producer's records.
        return 600 if self.delivery == 'durable' else 3

    def start_agent(self):
        """publish-tables-agent: the outbox relay, with a short grace."""
        path = os.path.join(self.workdir, 'agent.conf')
        with open(path, 'w') as f:
            f.write('[database]\nconnection = %s\n\n[publish_tables]\n'
                    'tables = %s\ntopic = %s\ntransport_url = %s\n'
                    'delivery = durable\noutbox_grace_period = 2\n'
                    'outbox_relay_interval = 0.5\noutbox_claim_lease = 3\n'
                    'snapshot_topic = %s_snapshot\n'
                    % (self.url, ','.join(TABLES), self.topic,
                       self.transport_url, self.topic))
        self.agent_runs += 1
        log = open(os.path.join(self.workdir, 'agent-%d.log'
                                % self.agent_runs), 'w')
        self.agent = subprocess.Popen(
            [sys.executable, '-m', 'oslo_publish_tables.cmd.agent',
             '--config-file', path],
            env=_env(), stdout=log, stderr=subprocess.STDOUT)

    def start_consumer(self):
        if self.api_port is None:
            import socket
            with socket.socket() as s:
                s.bind(('127.0.0.1', 0))
                self.api_port = s.getsockname()[1]
        self.consumer_runs += 1
        log = open(os.path.join(self.workdir, 'consumer-%d.log'
                                % self.consumer_runs), 'w')
        self.consumer = subprocess.Popen(
            [sys.executable, '-m', 'congress_consumer.cmd.consumer',
             '--config-file', self._consumer_config()],
            env=_env(), stdout=log, stderr=subprocess.STDOUT)

    def wait_writing(self, timeout=60):
        """Wait until every running producer has committed something."""
        deadline = time.monotonic() + timeout
        for proc, path in self.producers:
            while proc.poll() is None and time.monotonic() < deadline:
                if os.path.exists(path) and os.path.getsize(path):
                    break
                time.sleep(0.05)

    def kill(self, proc):
        proc.send_signal(signal.SIGKILL)
        proc.wait()

    def api(self, path):
        url = 'http://127.0.0.1:%d/v1/data-sources/nova%s' % (
            self.api_port, path)
        with urllib.request.urlopen(url, timeout=5) as response:
            return json.load(response)

    def stop(self):
        for proc, _ in self.producers:
            if proc.poll() is None:
                self.kill(proc)
        for proc in (self.consumer, self.agent):
            if proc is not None and proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(10)
                except subprocess.TimeoutExpired:
                    self.kill(proc)


def _normal(rows):
    """Rows as a multiset of JSON-normal tuples."""
    return collections.Counter(
        json.dumps([driver_mod.congress_value(v) for v in row]) for row in
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


def _producer_figures(procs):
    latencies, committed, conflicts, records = [], 0, 0, 0
    failures = 0
    for _, path in procs.producers:
        last = None
        if not os.path.exists(path):
            continue
        with open(path) as f:
            for line in f:
                parts = line.split()
                if parts[:1] == ['t']:
                    latencies.append(int(parts[2]) / 1e3)
                    committed += parts[1] not in _NO_COMMIT
                    conflicts += parts[1] == 'conflict'
                elif parts[:1] == ['s']:
                    last = parts
        if last:
            records += int(last[1])
            failures += int(last[3])
    return {'committed': committed, 'conflicts': conflicts,
            'records_published': records, 'send_failures': failures,
            'commit_p99_ms': benchlib.percentile(latencies, 99),
            'commit_max_ms': max(latencies or [0])}


def _consumer_figures(status):
    tables = status['tables'].values()
    return {'applied': sum(t['applied'] for t in tables),
            'duplicates': sum(t['duplicate'] for t in tables),
            'late': sum(t['late'] for t in tables),
            'resyncs': sum(t['resyncs'] for t in tables),
            'gaps': status['gaps'],
            'vanished': status['vanished_producers']}


def _wait_api(procs, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            return procs.api('/status')
        except OSError:
            time.sleep(0.1)
    raise RuntimeError('the consumer API did not answer in %ds' % timeout)


def _timeline(faults, seconds, outage):
    """[(at seconds, action)] for the faults of a scenario."""
    events = [(1.0, 'start-consumer')]
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


def run(backend, scenario, seconds=8.0, producers=3, outage=3.0,
        converge_timeout=90.0, delivery='direct'):
    """Run one scenario on ``backend``; return its figures."""
    faults = FAULTS[scenario]
    if delivery == 'direct':
        faults = faults - DURABLE_ONLY
    with benchlib.scratch_database(backend) as url, \
            benchlib.scratch_topic('pt_faults_') as (topic, _), \
            tempfile.TemporaryDirectory(prefix='pt-faults-') as workdir:
        engine = sa.create_engine(url)
        demo_schema.create(engine)
        if delivery == 'durable':
            migration.upgrade(engine)
        rabbit = Proxy(5672).start()
        procs = Processes(workdir, url, rabbit.url(), topic, delivery)
        try:
            return _run(engine, procs, rabbit, faults, seconds, producers,
                        outage, converge_timeout)
        finally:
            procs.stop()
            rabbit.close()
            engine.dispose()


def _run(engine, procs, rabbit, faults, seconds, producers, outage,
         converge_timeout):
    mischief = 'duplicate-reorder' in faults
    if procs.delivery == 'durable':
        procs.start_agent()
    for seed in range(producers):
        procs.start_producer(seconds, seed, mischief)
    procs.wait_writing()  # the timeline starts when they all write
    start = time.monotonic()
    for at, action in _timeline(faults, seconds, outage):
        time.sleep(max(0.0, start + at - time.monotonic()))
        if action == 'start-consumer':
            procs.start_consumer()
        elif action == 'kill-consumer':
            procs.kill(procs.consumer)
        elif action == 'kill-agent':
            procs.kill(procs.agent)
        elif action == 'start-agent':
            procs.start_agent()
        elif action == 'cut':
            rabbit.cut()
        elif action == 'restore':
            rabbit.restore()
        elif action == 'kill-producer':
            procs.kill(procs.producers[0][0])  # records in flight die
            procs.start_producer(max(1.0, start + seconds - time.monotonic()),
                                 producers, mischief)
    for proc, _ in procs.producers:
        proc.wait()
    last_write = time.monotonic()
    _wait_api(procs, 30)
    figures = _converge(engine, procs, converge_timeout)
    figures['converge_s'] = time.monotonic() - last_write
    figures['consumer_runs'] = procs.consumer_runs
    figures['outbox_left'] = _outbox_rows(engine, procs.delivery)
    figures['relayed'] = _relayed(procs)
    figures.update(_producer_figures(procs))
    figures.update(_consumer_figures(procs.api('/status')))
    return figures


_RELAYED = re.compile(r'relay: publishing (\d+) outbox records')


def _relayed(procs):
    """Records the relay published for dead producers, from its logs."""
    if procs.delivery != 'durable':
        return '-'
    total = 0
    for run in range(1, procs.agent_runs + 1):
        path = os.path.join(procs.workdir, 'agent-%d.log' % run)
        with open(path) as f:
            total += sum(int(n) for n in _RELAYED.findall(f.read()))
    return total


def _outbox_rows(engine, delivery):
    if delivery != 'durable':
        return '-'
    with engine.connect() as conn:
        return conn.execute(sa.select(sa.func.count()).select_from(
            sa.table(outbox_schema.TABLE_NAME))).scalar()


def _converge(engine, procs, timeout):
    db = database_rows(engine)
    deadline = time.monotonic() + timeout
    while True:
        status = procs.api('/status')
        live = all(t['state'] == 'LIVE' for t in status['tables'].values())
        replica = replica_rows(procs) if live else {}
        bad = divergence(db, replica) if live else None
        if bad == 0 or time.monotonic() > deadline:
            return {'rows': sum(sum(c.values()) for c in db.values()),
                    'divergent': bad if live else -1, 'live': live}
        time.sleep(0.25)
