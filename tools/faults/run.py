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

"""The fault-injection suite: does the replica converge whatever happens?

::

    python -m tools.faults.run --quick                 # CI's short version
    python -m tools.faults.run                         # the long version
    python -m tools.faults.run --scenarios kill-producer --backends mysql
    python -m tools.faults.run --delivery durable --scenarios kill-agent
    python -m tools.faults.run --scenarios broker-outage --seconds 20 \
        --outage 15                             # a real RabbitMQ restart

For each database backend and scenario (see :mod:`scenario`), three
producer processes write a random nova-like workload at full speed while
the real ``congress-consumer`` takes its snapshot, and the scenario's
faults strike: ``kill -9`` of a producer between COMMIT and publish (its
spooled records die with it), ``kill -9`` of the consumer and a restart,
RabbitMQ out for a while (the service's commits must go on), and 20 %
duplicated plus 20 % reordered notifications. With ``--delivery
durable`` the producers also write the outbox, ``publish-tables-agent``
relays what a dead producer left behind, its own ``kill -9`` is one more
fault, and the consumer is told never to give up on a silent producer,
so a lost record can only come back through the relay. ``--delivery
relayed`` has the producers write the outbox only and the agent publish
everything. At the end the replica, read through the consumer's HTTP
API, is compared with the database row for row. The table printed per
backend has what was committed and published, what the consumer absorbed
(duplicates, late changes, resyncs, gaps, vanished producers), the rows
compared and divergent, and the seconds from the last write to a
converged replica. Then every table is verified through the API
(``?action=verify``): the tables verified, the chunks found different
and the rows repaired, which must be none. The exit status is 1 if any
replica diverged or a verification found a mismatch.

The broker outage (``--broker-fault``) is, by default in the long run, a
real restart of the local RabbitMQ: ``rabbitmqctl stop_app``, then
``start_app`` (it needs root, like ``rabbitmqctl``). Every client of the
broker loses its connections and the non-durable queues are gone, the
consumer's included: it must declare its queue again and resync from
the sequence gaps. The broker is started again whatever happens, on an
error, Ctrl-C or SIGTERM too. The quick run (CI, where tests running in
parallel share the broker) cuts a TCP proxy between the processes and
the broker instead (``cut``), which the clients see as the same outage
without stopping the broker for anyone else. The table has how long the
broker was out, the transactions committed meanwhile and their worst
commit latency.

It needs RabbitMQ and the databases on localhost (see
``oslo_publish_tables/fixture.py``); a database that does not
answer is skipped with a note, unless ``CI`` is set.
"""

import argparse
import shutil
import signal
import sys

from tools.bench import benchlib
from tools.faults import scenario

COLUMNS = [
    ('scenario', 'scenario'), ('committed', 'txns'),
    ('records_published', 'records sent'), ('send_failures', 'send fails'),
    ('commit_p99_ms', 'commit p99 ms'), ('commit_max_ms', 'commit max ms'),
    ('duplicates', 'dups'), ('late', 'late'), ('resyncs', 'resyncs'),
    ('gaps', 'gaps'), ('vanished', 'vanished'),
    ('consumer_runs', 'consumer runs'), ('rows', 'rows'),
    ('divergent', 'divergent'), ('converge_s', 'converged after s'),
    ('verified', 'verified'), ('verify_mismatches', 'verify mismatches'),
    ('verify_repaired', 'rows repaired'), ('injected', 'silent changes'),
    ('silent_repaired', 'silent repaired'),
    ('relayed', 'relayed'), ('outbox_left', 'outbox left'),
    ('ordered_by', 'ordered by'),
    ('outage_s', 'outage s'), ('outage_txns', 'txns in outage'),
    ('outage_max_ms', 'commit max ms in outage'),
]


def _row(name, figures):
    cells = []
    for key, _ in COLUMNS:
        value = name if key == 'scenario' else figures[key]
        if isinstance(value, float):
            value = '%.1f' % value
        cells.append(str(value))
    return cells


def _terminate(signum, frame):
    raise KeyboardInterrupt('SIGTERM')


def _parse_args(argv):
    parser = argparse.ArgumentParser(
        description='Fault-injection suite of oslo-publish-tables.')
    parser.add_argument('--quick', action='store_true',
                        help='short writes and outage (CI)')
    parser.add_argument('--backends', default='postgresql,mysql')
    parser.add_argument('--scenarios', default=','.join(scenario.SCENARIOS))
    parser.add_argument('--delivery', default='direct,durable',
                        help='comma-separated: direct, durable, '
                             'relayed')
    parser.add_argument('--durable-scenarios',
                        help='scenarios of durable mode (default: as '
                             '--scenarios)')
    parser.add_argument('--seconds', type=float,
                        help='seconds of writes per scenario')
    parser.add_argument('--outage', type=float,
                        help='seconds RabbitMQ is out')
    parser.add_argument('--broker-fault', choices=['restart', 'cut'],
                        help='the broker outage: restart RabbitMQ itself '
                             '(rabbitmqctl stop_app/start_app; default of '
                             'the long run) or cut a TCP proxy (default '
                             'of --quick: other tests share the broker)')
    args = parser.parse_args(argv)
    args.seconds = args.seconds or (6.0 if args.quick else 60.0)
    args.outage = args.outage or (3.0 if args.quick else 30.0)
    args.broker_fault = args.broker_fault or ('cut' if args.quick
                                              else 'restart')
    return args


def _failed(figures):
    """Why a scenario failed, or '' if it did not."""
    if figures['divergent'] != 0:
        return 'replica not LIVE' if figures['divergent'] == -1 else \
            'rows diverge'
    if figures['injected'] != '-':
        # Rows changed behind the capture: each must have been repaired.
        if figures['silent_repaired'] != figures['injected']:
            return 'verification repaired %s of %s silent changes' % (
                figures['silent_repaired'], figures['injected'])
        return ''
    # A converged replica must also verify: a mismatch found then is a
    # verification bug (or a divergence it fixed).
    if figures['verify_mismatches'] != 0:
        return 'verification found %s mismatched chunks' % (
            figures['verify_mismatches'])
    return ''


def _run_delivery(args, backend, delivery):
    """Run the scenarios of one backend and mode; True if one diverged."""
    names = args.scenarios
    if delivery != 'direct' and args.durable_scenarios:
        names = args.durable_scenarios
    names = [n for n in names.split(',') if delivery != 'direct'
             or n not in scenario.DURABLE_ONLY]
    rows, diverged = [], False
    for name in names:
        figures = scenario.run(backend, name, seconds=args.seconds,
                               outage=args.outage, delivery=delivery,
                               broker_fault=args.broker_fault)
        failed = _failed(figures)
        diverged |= bool(failed)
        rows.append(_row(name, figures))
        print('  %s/%s/%s: %s divergent of %s rows%s' % (
            backend, delivery, name, figures['divergent'],
            figures['rows'], failed and ' (FAILED: %s)' % failed),
            flush=True)
    benchlib.table(
        '%s, %s mode: %d s of writes, 3 producers, outage %d s '
        '(%s)' % (benchlib.NAMES[backend], delivery, args.seconds,
                  args.outage, 'RabbitMQ restarted'
                  if args.broker_fault == 'restart' else 'proxy cut'),
        [title for _, title in COLUMNS], rows)
    return diverged


def main(argv=None):
    args = _parse_args(argv)
    if args.broker_fault == 'restart' and not shutil.which('rabbitmqctl'):
        print('--broker-fault restart needs rabbitmqctl (and root)')
        return 1
    benchlib.quiet_logging()
    # SIGTERM unwinds like Ctrl-C, so that a stopped broker is restarted.
    signal.signal(signal.SIGTERM, _terminate)
    ok, reason = benchlib.available(benchlib.backends.RABBIT)
    if not ok:
        print('RabbitMQ is required: %s' % reason)
        return 1
    diverged = False
    for backend in args.backends.split(','):
        ok, reason = benchlib.available(backend)
        if not ok:
            if benchlib.backends.ci_enabled():
                print('%s is required in CI: %s' % (backend, reason))
                return 1
            print('%s skipped: %s' % (backend, reason))
            continue
        for delivery in args.delivery.split(','):
            diverged |= _run_delivery(args, backend, delivery)
    print('FAILED: a replica diverged' if diverged else
          'OK: every replica equals its database row for row')
    return 1 if diverged else 0


if __name__ == '__main__':
    sys.exit(main())
