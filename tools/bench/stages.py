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

"""CPU per transaction of each stage, inside the service process.

``python -m tools.bench.stages [--backends sqlite,postgresql,mysql]
[--seconds 5] [--nova] [--profile DIR]``

Runs the nova-like cycle of :mod:`overhead` (and, with ``--nova`` where
nova is installed, nova's own database API, :mod:`nova_workload`) with
the capture off, on with a ``submit`` that drops the records
("capture"), and on with the Sender publishing to RabbitMQ ("on"), and
reports, per committed transaction:

* the service thread's CPU (``time.thread_time``) in each mode: the
  difference capture - off is what the capture costs the committing
  thread, on - capture what handing records over costs it;
* the Sender thread's CPU, read from ``/proc/self/task/TID/schedstat``
  (so it includes the C code under it), split into building the wire
  records (:func:`sender._wire`: codec and envelope), the payload
  (``Sender.payload``: batch, compression, signature), serialising the
  message (oslo.messaging's ``serialize_msg``: JSON) and the rest of
  ``transport.send`` (kombu, the socket);
* notifications per transaction (how many commits share one).

With ``--profile DIR`` the "on" runs also write cProfile listings of the
service thread and of the Sender thread to ``DIR``.
"""

import argparse
import cProfile
import os
import pstats
import sys
import threading
import time

from oslo_db.sqlalchemy import orm as db_orm
from oslo_messaging._drivers import common as rpc_common
import sqlalchemy as sa

from oslo_publish_tables import publisher
from oslo_publish_tables import sender as sender_mod
from publish_tables_demo import schema as demo_schema

from tools.bench import benchlib
from tools.bench import nova_workload
from tools.bench import overhead

STAGES = ('records', 'payload', 'serialize', 'send_rest')


def thread_cpu(native_id):
    """CPU seconds of thread ``native_id`` of this process (Linux)."""
    with open('/proc/self/task/%d/schedstat' % native_id) as f:
        return int(f.read().split()[0]) / 1e9


class StageClock(object):
    """Accumulates the Sender thread's CPU per stage (patched in)."""

    def __init__(self):
        self.cpu = dict.fromkeys(STAGES, 0.0)
        self._patched = []

    def _wrap(self, owner, name, stage, subtract=None):
        original = getattr(owner, name)
        clock = self

        def timed(*args, **kwargs):
            start = time.thread_time()
            try:
                return original(*args, **kwargs)
            finally:
                spent = time.thread_time() - start
                clock.cpu[stage] += spent
                if subtract is not None:
                    clock.cpu[subtract] -= spent

        setattr(owner, name, timed)
        self._patched.append((owner, name, original))

    def __enter__(self):
        self._wrap(sender_mod, '_wire', 'records')
        self._wrap(sender_mod.Sender, 'payload', 'payload')
        self._wrap(sender_mod.transport_mod.NotificationTransport, 'send',
                   'send_rest')
        self._wrap(rpc_common, 'serialize_msg', 'serialize', 'send_rest')
        return self

    def __exit__(self, *exc):
        for owner, name, original in reversed(self._patched):
            setattr(owner, name, original)


def _profiled(sender, directory, label):
    """Run the Sender's thread under cProfile; dump on stop."""
    run = sender._run

    def profiled_run():
        profile = cProfile.Profile()
        try:
            profile.runcall(run)
        finally:
            _dump(profile, directory, '%s-sender' % label)

    sender._run = profiled_run


def _dump(profile, directory, name):
    path = os.path.join(directory, '%s.txt' % name)
    with open(path, 'w') as out:
        stats = pstats.Stats(profile, stream=out)
        stats.sort_stats('tottime').print_stats(40)
        stats.sort_stats('cumulative').print_stats(40)


def child_cpu(pid):
    """CPU seconds of process ``pid`` (every thread), or 0."""
    return benchlib.process_cpu(pid)


def _run_mode(engine, conf, senders, work, mode, seconds, clock):
    changes = [0]
    sender = senders.get(mode)

    def counted_submit(draft):
        changes[0] += len(draft.changes)
        if sender is not None:
            sender.submit(draft)

    if mode != 'off':
        publisher.install(engine, conf, submit=counted_submit)
    notes = sender.stats['notifications'] if sender else 0
    before = dict(clock.cpu)
    tid = sender._thread.native_id if sender and sender._thread else None
    pid = getattr(sender.transport, 'pid', None) if sender else None
    sender_cpu, child = thread_cpu(tid) if tid else 0.0, child_cpu(pid)
    cpu = time.thread_time()
    txns, _ = work.run_for(seconds)
    cpu = time.thread_time() - cpu
    if mode != 'off':
        publisher.uninstall(engine)
    if sender is not None:
        sender.flush(60)
    return {'txns': txns, 'changes': changes[0], 'cpu': cpu,
            'sender_cpu': (thread_cpu(tid) - sender_cpu) if tid else 0.0,
            'child_cpu': child_cpu(pid) - child,
            'notifications': (sender.stats['notifications'] - notes)
            if sender else 0,
            'stages': {s: clock.cpu[s] - before[s] for s in STAGES}}


def measure(engine, conf, senders, work, seconds, rounds, profile=None,
            label=''):
    """Alternate the modes ``rounds`` times; per-txn figures."""
    # Warm up: connections, compiled caches, the AMQP link, the thread.
    for sender in senders.values():
        publisher.install(engine, conf, submit=sender.submit)
        work.run_for(1.0)
        sender.flush(30)
        publisher.uninstall(engine)
    modes = ('off', 'capture') + tuple(senders)
    totals = {m: {} for m in modes}
    with StageClock() as clock:
        for index in range(rounds):
            for mode in (modes if index % 2 == 0 else modes[::-1]):
                prof = None
                if profile and mode in senders:
                    prof = cProfile.Profile()
                    prof.enable()
                figures = _run_mode(engine, conf, senders, work, mode,
                                    seconds, clock)
                if prof is not None:
                    prof.disable()
                    _dump(prof, profile, '%s-%s-service-%d'
                          % (label, mode, index))
                for key, value in figures.items():
                    if key == 'stages':
                        stages = totals[mode].setdefault('stages', {})
                        for s, v in value.items():
                            stages[s] = stages.get(s, 0.0) + v
                    else:
                        totals[mode][key] = totals[mode].get(key, 0) + value
    return totals


def per_txn(totals):
    """us per transaction, and row changes per transaction."""
    out = {}
    for mode, t in totals.items():
        n = max(t['txns'], 1)
        out[mode] = {'cpu_us': t['cpu'] / n * 1e6,
                     'sender_us': t['sender_cpu'] / n * 1e6,
                     'child_us': t['child_cpu'] / n * 1e6,
                     'tps_cpu': n / t['cpu'],
                     'changes': t['changes'] / n,
                     'txns_per_note': t['txns'] / max(t['notifications'], 1),
                     'stages_us': {s: v / n * 1e6
                                   for s, v in t['stages'].items()}}
    return out


def run_backend(backend, seconds, rounds, topic, sendings, nova=False,
                profile=None):
    with benchlib.scratch_database(backend) as url:
        if nova:
            engine, restore = nova_workload.prepare_engine(backend, url)
            conf = benchlib.make_conf(
                tables=list(nova_workload.PUBLISHED),
                exclude_columns=['instances.user_data'])
            work = nova_workload.Workload(
                nova_workload.nova_context.get_admin_context())
        else:
            engine, restore = sa.create_engine(url), None
            demo_schema.create(engine)
            conf = benchlib.make_conf(tables=list(demo_schema.PUBLISHED))
            work = overhead.Workload(db_orm.get_maker(engine))
        senders = {s: benchlib.make_sender(conf, topic, sending=s)
                   for s in sendings}
        label = ('nova-' if nova else '') + backend
        if profile:
            for name, sender in senders.items():
                _profiled(sender, profile, '%s-%s' % (label, name))
        try:
            return per_txn(measure(engine, conf, senders, work, seconds,
                                   rounds, profile, label))
        finally:
            for sender in senders.values():
                sender.stop()
                sender.transport.close()
            engine.dispose()
            if restore is not None:
                restore()


def report(results):
    rows = []
    for label, r in results.items():
        off, cap = r['off'], r['capture']
        for mode in [m for m in r if m not in ('off', 'capture')]:
            on = r[mode]
            st = on['stages_us']
            service = on['cpu_us'] + on['sender_us']
            rows.append([
                '%s, %s' % (label, mode), '%.1f' % on['changes'],
                '%.0f' % off['cpu_us'],
                '%+.0f' % (cap['cpu_us'] - off['cpu_us']),
                '%+.0f' % (on['cpu_us'] - cap['cpu_us']),
                '%.0f' % on['sender_us'],
                ' / '.join('%.0f' % st[s] for s in STAGES),
                '%.0f' % on['child_us'], '%.2f' % on['txns_per_note'],
                '%+.0f%%' % (service / off['cpu_us'] * 100 - 100),
                '%+.0f%%' % ((service + on['child_us']) / off['cpu_us']
                             * 100 - 100)])
    benchlib.table(
        'CPU per transaction by stage (us); "service" is the service '
        'process, "all" adds the sending child',
        ['workload, sending', 'changes/txn', 'service thread off',
         'capture', 'hand-over', 'Sender thread',
         'records / payload / JSON / send', 'child', 'txn/notif',
         'service CPU added', 'all CPU added'], rows)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--backends', default='sqlite,postgresql,mysql')
    parser.add_argument('--seconds', type=float, default=4.0)
    parser.add_argument('--rounds', type=int, default=3)
    parser.add_argument('--nova', action='store_true',
                        help="also nova's own database API (if installed)")
    parser.add_argument('--profile', metavar='DIR')
    parser.add_argument('--sending', default='thread,process',
                        help='Sender variants compared: thread, process')
    args = parser.parse_args(argv)
    benchlib.quiet_warnings()
    benchlib.quiet_logging()
    if args.profile:
        os.makedirs(args.profile, exist_ok=True)
    results = {}
    with benchlib.scratch_topic('pt_bench_stages_') as (topic, _):
        for backend in args.backends.split(','):
            ok, reason = benchlib.available(backend)
            if not ok:
                print('%s skipped: %s' % (backend, reason))
                continue
            sendings = args.sending.split(',')
            results[backend] = run_backend(backend, args.seconds,
                                           args.rounds, topic, sendings,
                                           profile=args.profile)
            if args.nova and nova_workload.available():
                results['nova ' + backend] = run_backend(
                    backend, args.seconds, args.rounds, topic, sendings,
                    nova=True, profile=args.profile)
    report(results)
    return 0


if __name__ == '__main__':
    threading.current_thread().name = 'service'
    sys.exit(main())
