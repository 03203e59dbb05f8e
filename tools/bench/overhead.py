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

"""Issue item 1: service overhead of the capture, off versus on.

A nova-like workload on :mod:`publish_tables_demo.schema`, one
"cycle" being the life of an instance, as nova's database API writes it:

1. create the instance with three metadata rows (one transaction);
2. three transactions moving ``vm_state``/``task_state`` along, two
   through loaded ORM objects (``UPDATE ... WHERE id = :id``) and one
   through ``Query.update`` by uuid (a criteria update);
3. every fifth cycle, a transaction that updates and then rolls back;
4. destroy: bulk soft delete of the metadata and the instance with
   oslo.db's ``Query.soft_delete`` (one transaction).

Runs alternate off, on, off, on, ... on the same engine and database; the
capture is installed for an "on" run and uninstalled after it. A third
mode, "capture", installs the capture with a ``submit`` that drops the
records: the commit-path cost alone, without the Sender's thread. "On"
publishes to RabbitMQ with the messagingv2 driver through a background
Sender in this process, so its thread competes for the GIL as it would
in a service. Throughput is the median over the rounds; commit latency
(the duration of ``Session.commit()``, which flushes, reads the rows back
and the stamp, commits and hands the record off) is pooled.
"""

import random
import time
import uuid

from oslo_db.sqlalchemy import orm as db_orm
import sqlalchemy as sa

from oslo_publish_tables import publisher
from publish_tables_demo import schema as demo_schema

from tools.bench import benchlib

Instance = demo_schema.Instance
InstanceMetadata = demo_schema.InstanceMetadata

TRANSITIONS = (('building', 'networking'), ('building', 'spawning'),
               ('active', None))


class Workload(benchlib.Cycles):
    """The nova-like cycle; records each committed transaction."""

    def __init__(self, maker, seed=1):
        self.maker = maker
        self.rng = random.Random(seed)
        self.cycles = 0
        self.commits = []        # seconds per Session.commit()
        self.rollbacks = 0

    def _commit(self, session):
        start = time.perf_counter()
        session.commit()
        self.commits.append(time.perf_counter() - start)
        session.close()

    def cycle(self):
        n = self.cycles = self.cycles + 1
        ident = str(uuid.uuid4())
        session = self.maker()
        session.add(Instance(
            uuid=ident, hostname='vm-%d' % n, host='compute-%d' % (n % 16),
            vm_state='building', task_state='scheduling',
            memory_mb=self.rng.choice((512, 2048, 8192)),
            user_data='#cloud-config\n' + 'x' * 200))
        for key in ('role', 'owner', 'tier'):
            session.add(InstanceMetadata(key=key, value='%s-%d' % (key, n),
                                         instance_uuid=ident))
        self._commit(session)

        for index, (vm_state, task_state) in enumerate(TRANSITIONS):
            session = self.maker()
            if index == 1:
                session.query(Instance).filter_by(uuid=ident).update(
                    {'vm_state': vm_state, 'task_state': task_state},
                    synchronize_session=False)
            else:
                inst = session.query(Instance).filter_by(uuid=ident).one()
                inst.vm_state = vm_state
                inst.task_state = task_state
            self._commit(session)

        if n % 5 == 0:
            session = self.maker()
            inst = session.query(Instance).filter_by(uuid=ident).one()
            inst.task_state = 'rebooting'
            session.flush()
            session.rollback()
            session.close()
            self.rollbacks += 1

        session = self.maker()
        session.query(InstanceMetadata).filter_by(
            instance_uuid=ident).soft_delete(synchronize_session=False)
        session.query(Instance).filter_by(uuid=ident).soft_delete(
            synchronize_session=False)
        self._commit(session)


def measure_backend(backend, rounds, seconds, topic):
    """Alternate off/on runs on ``backend``; return the figures."""
    with benchlib.scratch_database(backend) as url:
        engine = sa.create_engine(url)
        try:
            demo_schema.create(engine)
            conf = benchlib.make_conf(tables=list(demo_schema.PUBLISHED))
            sender = benchlib.make_sender(conf, topic)
            child = benchlib.make_sender(conf, topic, sending='process')
            try:
                return _rounds(engine, conf, sender, rounds, seconds,
                               process_sender=child)
            finally:
                for each in (sender, child):
                    each.stop()
                    each.transport.close()
        finally:
            engine.dispose()


def _rounds(engine, conf, sender, rounds, seconds, work=None,
            process_sender=None):
    """Alternate off / on / capture (/ process) ``rounds`` times.

    ``process_sender``: a Sender with ``sending = process``; its mode
    "process" is "on" through the sending child, whose CPU is counted
    apart (``child_cpu_ms``).
    """
    if work is None:
        work = Workload(db_orm.get_maker(engine))
    # Count the SQL statements that reach the DBAPI, both modes alike.
    statements = [0]

    def _count(*args):
        statements[0] += 1

    sa.event.listen(engine, 'before_cursor_execute', _count)
    modes = ('off', 'on', 'capture')
    senders = {'on': sender}
    if process_sender is not None:
        modes += ('process',)
        senders['process'] = process_sender
    _warm_up(engine, conf, senders, work, seconds)
    child_cpu = 0.0
    cpu = {m: 0.0 for m in modes}  # process CPU: service and Sender threads
    tps = {m: [] for m in modes}
    lat = {m: [] for m in modes}
    sql = {m: 0 for m in modes}
    published = 0
    for index in range(rounds):
        # Alternate which mode goes first, so drift affects both alike.
        order = modes if index % 2 == 0 else modes[::-1]
        for mode in order:
            run = _one_run(engine, conf, senders, work, mode, seconds,
                           statements)
            cpu[mode] += run['cpu']
            sql[mode] += run['sql']
            published += run['published']
            child_cpu += run['child_cpu']
            tps[mode].append(run['tps'])
            lat[mode].extend(run['latencies'])
    sa.event.remove(engine, 'before_cursor_execute', _count)
    figures = _summary(modes, cpu, tps, lat, sql, published, sender, work)
    if process_sender is not None:
        figures.update({
            'tps_process': benchlib.median(tps['process']),
            'p99_process_ms': benchlib.percentile(lat['process'], 99) * 1e3,
            'child_cpu_ms': child_cpu / len(lat['process']) * 1e3})
    return figures


def _warm_up(engine, conf, senders, work, seconds):
    """Connections, compiled caches, the AMQP link, the sending child."""
    for sender in senders.values():
        publisher.install(engine, conf, submit=sender.submit)
        work.run_for(min(1.0, seconds))
        sender.flush(30)
        publisher.uninstall(engine)
    work.run_for(min(1.0, seconds))


def _one_run(engine, conf, senders, work, mode, seconds, statements):
    """One timed run of the workload with the capture ``mode``.

    ``senders[mode]`` publishes in modes "on" and "process"; the CPU of
    the "process" Sender's child is counted, its draining included.
    """
    sender = senders.get(mode)
    if sender is not None:
        capture = benchlib.install(engine, conf, submit=sender.submit)
    elif mode == 'capture':
        benchlib.install(engine, conf, submit=_discard)
    mark = len(work.commits)
    executed = statements[0]
    child_start = benchlib.process_cpu(sender)
    cpu_start = time.process_time()
    txns, elapsed = work.run_for(seconds)
    run = {'cpu': time.process_time() - cpu_start,
           'sql': statements[0] - executed, 'published': 0,
           'tps': txns / elapsed, 'latencies': work.commits[mark:],
           'child_cpu': 0.0}
    if sender is not None:
        publisher.uninstall(engine)
        run['published'] = capture.stats['transactions']
        # Let the sender drain outside the measured window, so the next
        # "off" run is not charged for it.
        sender.flush(60)
        run['child_cpu'] = benchlib.process_cpu(sender) - child_start
    elif mode == 'capture':
        publisher.uninstall(engine)
    return run


def _summary(modes, cpu, tps, lat, sql, published, sender, work):
    return {
        'cpu_ms': {m: cpu[m] / len(lat[m]) * 1e3 for m in modes},
        'stmts_off': sql['off'] / len(lat['off']),
        'stmts_on': sql['on'] / len(lat['on']),
        'tps_off': benchlib.median(tps['off']),
        'tps_on': benchlib.median(tps['on']),
        'tps_capture': benchlib.median(tps['capture']),
        'p50_capture_ms': benchlib.percentile(lat['capture'], 50) * 1e3,
        'p99_capture_ms': benchlib.percentile(lat['capture'], 99) * 1e3,
        'tps_rounds': tps,
        'p50_off_ms': benchlib.percentile(lat['off'], 50) * 1e3,
        'p50_on_ms': benchlib.percentile(lat['on'], 50) * 1e3,
        'p99_off_ms': benchlib.percentile(lat['off'], 99) * 1e3,
        'p99_on_ms': benchlib.percentile(lat['on'], 99) * 1e3,
        'commits_off': len(lat['off']),
        'commits_on': len(lat['on']),
        'published_txns': published,
        'sender': dict(sender.stats),
        'rollbacks': work.rollbacks,
    }


def _discard(draft):
    """Capture without a sender: isolates the commit-path cost."""


def run(backends, rounds, seconds):
    """Return ``{backend: figures}`` for every backend given.

    Where nova is installed, ``{'nova ' + backend: figures}`` too: the
    same runs with nova's own database API (:mod:`nova_workload`).
    """
    from tools.bench import nova_workload
    results = {}
    with benchlib.scratch_topic('pt_bench_overhead_') as (topic, _):
        for backend in backends:
            results[backend] = measure_backend(backend, rounds, seconds,
                                               topic)
            if nova_workload.available():
                results['nova ' + backend] = nova_workload.measure_backend(
                    backend, rounds, seconds, topic, _rounds)
    return results
