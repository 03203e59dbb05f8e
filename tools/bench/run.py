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

"""Benchmarks of oslo.publish_tables against real services, in one run.

    python -m tools.bench.run --quick            # about 3 minutes
    python -m tools.bench.run                    # full (about 10 minutes)
    python -m tools.bench.run --large            # adds 1M-row syncs
    python -m tools.bench.run --only latency,traffic --backends postgresql
    python -m tools.bench.run --only sync --backends postgresql \
        --sync-rows 1000000                      # one item-4 size
    python -m tools.bench.run --only verify --backends postgresql \
        --verify-rows 1000000                    # item 7 at 1M rows

Needs RabbitMQ, and PostgreSQL / MariaDB for those backends, on localhost
(the URLs of oslo_publish_tables.fixture; override with the
PUBLISH_TABLES_*_URL variables). A backend whose server does not answer is
skipped with a note. Every figure is measured in this run; the targets
are printed beside them with PASS or MISS. See
doc/source/reference/performance.rst.
"""

import argparse
import json
import os
import sys
import time

from tools.bench import benchlib


SCENARIOS = ('overhead', 'outbox', 'throughput', 'latency', 'sync',
             'traffic', 'verify', 'remote')

QUICK = {
    'overhead_rounds': 3, 'overhead_seconds': 1.5,
    'outbox_rounds': 2, 'outbox_seconds': 1.5,
    'remote_rounds': 2, 'remote_seconds': 1.5,
    'producers': [1, 4], 'changes': 20000, 'rows_per_txn': 1000,
    'naive': 2000, 'drain': 20000,
    'rates': [100, 1000], 'latency_seconds': 3, 'poll_time': 0.5,
    'poll_seconds': 3,
    'sync': [('postgresql', 10000), ('postgresql', 100000),
             ('sqlite', 10000)],
    'verify': [('postgresql', 100000)],
}
FULL = {
    'overhead_rounds': 7, 'overhead_seconds': 4.0,
    'outbox_rounds': 5, 'outbox_seconds': 3.0,
    'remote_rounds': 5, 'remote_seconds': 3.0,
    'producers': [1, 2, 4], 'changes': 60000, 'rows_per_txn': 1000,
    'naive': 5000, 'drain': 60000,
    'rates': [100, 1000], 'latency_seconds': 10, 'poll_time': 1.0,
    'poll_seconds': 8,
    'sync': [('postgresql', 10000), ('postgresql', 100000),
             ('sqlite', 10000), ('sqlite', 100000)],
    'verify': [('postgresql', 100000), ('sqlite', 100000)],
}
LARGE = [('postgresql', 1000000), ('sqlite', 1000000)]

TARGET_RATIO = 0.95
TARGET_OUTBOX_RATIO = 0.85
TARGET_P99_ADDED_MS = 1.0
TARGET_DELTAS = 30000
TARGET_P50_MS = 3.0
TARGET_P99_MS = 20.0
TARGET_SYNC_S = 30.0
TARGET_RSS = 1.5 * 2 ** 30
TARGET_TRAFFIC = 50.0


class Verdicts(object):
    def __init__(self):
        self.rows = []

    def add(self, item, what, measured, target, ok):
        self.rows.append((item, what, measured, target,
                          'PASS' if ok else 'MISS'))


def _ok(value, predicate):
    return value is not None and predicate(value)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--quick', action='store_true',
                        help='short runs (about 3 minutes in all)')
    parser.add_argument('--large', action='store_true',
                        help='also sync 1,000,000-row tables')
    parser.add_argument('--only', default=','.join(SCENARIOS),
                        help='comma-separated subset of: %s'
                        % ', '.join(SCENARIOS))
    parser.add_argument('--backends', default='sqlite,postgresql,mysql',
                        help='databases for the overhead runs; the first '
                        'server backend also carries throughput, latency '
                        'and traffic (default: %(default)s)')
    parser.add_argument('--sync-rows', metavar='N[,N...]',
                        help='item 4 only at these table sizes (on each '
                        'of --backends that is SQLite or PostgreSQL), '
                        'instead of the preset sizes and --large')
    parser.add_argument('--verify-rows', metavar='N[,N...]',
                        help='item 7 only at these table sizes (on each '
                        'of --backends that is SQLite or PostgreSQL)')
    parser.add_argument('--json', metavar='FILE',
                        help='also write every raw figure to FILE')
    args = parser.parse_args(argv)
    args.only = [s.strip() for s in args.only.split(',') if s.strip()]
    unknown = set(args.only) - set(SCENARIOS)
    if unknown:
        parser.error('unknown scenario(s): %s' % ', '.join(sorted(unknown)))
    args.backends = [b.strip() for b in args.backends.split(',')
                     if b.strip()]
    for option in ('sync_rows', 'verify_rows'):
        if getattr(args, option):
            try:
                setattr(args, option, [
                    int(n) for n in getattr(args, option).split(',')
                    if n.strip()])
            except ValueError:
                parser.error('--%s: expected integers'
                             % option.replace('_', '-'))
    for backend in args.backends:
        if backend not in benchlib.NAMES:
            parser.error('unknown backend %r' % backend)
    return args


def check_services(backends):
    ok, reason = benchlib.available('rabbit')
    if not ok:
        sys.exit('RabbitMQ is required and does not answer: %s' % reason)
    usable = []
    for backend in backends:
        if backend == benchlib.SQLITE:
            usable.append(backend)
            continue
        ok, reason = benchlib.available(backend)
        if ok:
            usable.append(backend)
        else:
            print('note: %s skipped: %s' % (benchlib.NAMES[backend], reason))
    return usable


def _label(key):
    """'postgresql' -> 'PostgreSQL'; 'nova mysql' -> 'MariaDB, nova API'."""
    if key.startswith('nova '):
        return '%s, nova API' % benchlib.NAMES[key[5:]]
    return benchlib.NAMES[key]


def report_overhead(results, verdicts):
    rows = []
    for backend, r in results.items():
        ratio = r['tps_on'] / r['tps_off']
        added = r['p99_on_ms'] - r['p99_off_ms']
        rows.append((_label(backend), benchlib.fmt_num(r['tps_off']),
                     benchlib.fmt_num(r['tps_on']), '%.3f' % ratio,
                     '%.2f' % r['p50_off_ms'], '%.2f' % r['p50_on_ms'],
                     '%.2f' % r['p99_off_ms'], '%.2f' % r['p99_on_ms'],
                     '%+.2f' % added,
                     '%s (%.3f)' % (benchlib.fmt_num(r['tps_capture']),
                                    r['tps_capture'] / r['tps_off']),
                     '%.2f' % r['p99_capture_ms'],
                     '%.1f/%.1f' % (r['stmts_off'], r['stmts_on']),
                     '%.2f/%.2f/%.2f' % tuple(r['cpu_ms'][m] for m in (
                         'off', 'on', 'capture')),
                     '%.3f' % (r['cpu_ms']['off'] / r['cpu_ms']['on'])))
        name = _label(backend)
        verdicts.add('1', 'on/off throughput, %s' % name, '%.3f' % ratio,
                     '>= %.2f' % TARGET_RATIO, ratio >= TARGET_RATIO)
        verdicts.add('1', 'added p99 commit latency, %s' % name,
                     '%+.2f ms' % added, '< %.0f ms' % TARGET_P99_ADDED_MS,
                     added < TARGET_P99_ADDED_MS)
    benchlib.table(
        '1. Service overhead: nova-like cycle, middleware off vs on '
        '(direct mode, messagingv2 to RabbitMQ)',
        ['backend', 'txn/s off', 'txn/s on', 'on/off', 'p50 off ms',
         'p50 on ms', 'p99 off ms', 'p99 on ms', 'p99 added ms',
         'capture only txn/s (/off)', 'capture p99 ms', 'SQL/txn off/on',
         'CPU ms/txn off/on/capture', 'CPU off/on'],
        rows)
    print('  CPU: process time of the benchmark (service and Sender '
          'threads) per transaction; off/on is the throughput ratio a '
          'CPU-bound service would see.')
    print('  commits per mode: %s' % ', '.join(
        '%s %d/%d' % (_label(b), r['commits_off'], r['commits_on'])
        for b, r in results.items()))
    report_process(results, verdicts)


def report_process(results, verdicts):
    """Item 1 with ``sending = process``, from the same rounds."""
    rows = []
    for backend, r in results.items():
        if 'tps_process' not in r:
            continue
        ratio = r['tps_process'] / r['tps_off']
        added = r['p99_process_ms'] - r['p99_off_ms']
        off = r['cpu_ms']['off']
        service = r['cpu_ms']['process']
        rows.append((_label(backend), benchlib.fmt_num(r['tps_off']),
                     benchlib.fmt_num(r['tps_on']),
                     benchlib.fmt_num(r['tps_process']), '%.3f' % ratio,
                     '%+.2f' % added, '%.2f/%.2f/%.2f' % (
                         off, service, r['child_cpu_ms']),
                     '%+.0f%%' % ((service / off - 1) * 100),
                     '%+.0f%%' % (((service + r['child_cpu_ms']) / off - 1)
                                  * 100)))
        name = '%s, sending = process' % _label(backend)
        verdicts.add('1', 'on/off throughput, %s' % name, '%.3f' % ratio,
                     '>= %.2f' % TARGET_RATIO, ratio >= TARGET_RATIO)
        verdicts.add('1', 'added p99 commit latency, %s' % name,
                     '%+.2f ms' % added, '< %.0f ms' % TARGET_P99_ADDED_MS,
                     added < TARGET_P99_ADDED_MS)
    if rows:
        benchlib.table(
            '1a. The same rounds with [publish_tables] sending = process '
            '(a child process sends)',
            ['backend', 'txn/s off', 'txn/s on (thread)',
             'txn/s on (process)', 'process/off', 'p99 added ms',
             'CPU ms/txn off/service/child', 'service CPU added',
             'all CPU added'], rows)


def report_remote(results, verdicts):
    rows = []
    for backend, r in results.items():
        rows.append((
            _label(backend), '+%.2f' % r['rtt_added_ms'],
            benchlib.fmt_num(r['tps_off']), benchlib.fmt_num(r['tps_on']),
            '%.3f' % (r['tps_on'] / r['tps_off']),
            benchlib.fmt_num(r['tps_process']),
            '%.3f' % (r['tps_process'] / r['tps_off']),
            '%.3f' % (r['tps_capture'] / r['tps_off']),
            '%.2f / %.2f / %.2f' % (r['p99_off_ms'], r['p99_on_ms'],
                                    r['p99_process_ms']),
            '%.1f/%.1f' % (r['stmts_off'], r['stmts_on'])))
        ratio = r['tps_on'] / r['tps_off']
        verdicts.add('1c', 'on/off throughput, %s, remote database'
                     % _label(backend), '%.3f' % ratio,
                     '>= %.2f' % TARGET_RATIO, ratio >= TARGET_RATIO)
    if rows:
        benchlib.table(
            '1c. Service overhead with the database farther away (a '
            'delaying TCP proxy in its own process)',
            ['backend', 'round trip added ms', 'txn/s off', 'txn/s on',
             'on/off', 'txn/s process', 'process/off', 'capture/off',
             'p99 ms off/on/process', 'SQL/txn off/on'], rows)
        print()


def report_outbox(results, verdicts):
    from tools.bench import durable
    rows = []
    for backend, f in results.items():
        ratios = {m: durable.ratio(f, m) for m in durable.MODES[1:]}
        rows.append([_label(backend)] + [
            '-' if f['tps_%s' % m] is None else
            benchlib.fmt_num(f['tps_%s' % m]) for m in durable.MODES] + [
            'refused' if ratios[m] is None else '%.3f' % ratios[m]
            for m in durable.MODES[1:]] + [
            durable.fmt_ms(f, 99), str(f['outbox_left'])])
        for mode in ('durable', 'relayed'):
            if ratios[mode] is None:
                continue
            verdicts.add('1', '%s/off throughput, %s' % (
                mode, _label(backend)), '%.3f' % ratios[mode],
                '>= %.2f' % TARGET_OUTBOX_RATIO,
                ratios[mode] >= TARGET_OUTBOX_RATIO)
    benchlib.table(
        '1b. Service overhead of the outbox modes: nova-like cycle, off / '
        'direct / durable / relayed (relay in its own process)',
        ['backend', 'txn/s off', 'direct', 'durable', 'relayed',
         'direct/off', 'durable/off', 'relayed/off',
         'p99 ms off/dir/dur/rel', 'outbox rows left'], rows)
    print()


def report_throughput(r, verdicts):
    rows = []
    for d in r['deltas']:
        rows.append(('deltas, %d producer process%s' % (
            d['producers'], 'es' if d['producers'] > 1 else ''),
            benchlib.fmt_num(d['changes']), benchlib.fmt_num(d['seconds'], 2),
            benchlib.fmt_num(d['deltas_per_s']),
            benchlib.fmt_num(d['commit_rate']),
            benchlib.fmt_num(d['lag_after_last_commit_s'], 2),
            'yes' if d['complete'] else 'NO'))
    dr = r['drain']
    rows.append(('consumer alone, backlog in queue',
                 benchlib.fmt_num(dr['changes']),
                 benchlib.fmt_num(dr['seconds'], 2),
                 benchlib.fmt_num(dr['deltas_per_s']), '-', '-',
                 'yes' if dr['complete'] else 'NO'))
    nv = r['naive']
    rows.append(('naive: Notifier.info per row',
                 benchlib.fmt_num(nv['changes']),
                 benchlib.fmt_num(nv['seconds'], 2),
                 benchlib.fmt_num(nv['deltas_per_s']),
                 benchlib.fmt_num(nv['send_rate']), '-',
                 'yes' if nv['complete'] else 'NO'))
    benchlib.table(
        '2. Delta throughput end to end over RabbitMQ (%s, %d rows per '
        'transaction)' % (benchlib.NAMES[r['backend']], r['rows_per_txn']),
        ['path', 'row deltas', 'seconds', 'deltas/s to replica',
         'commit rate/s', 'lag after last commit s', 'complete'], rows)
    best = max((d['deltas_per_s'] or 0) for d in r['deltas'])
    for d in r['deltas']:
        if nv['deltas_per_s']:
            print('  %d producer(s): %.1fx the naive baseline'
                  % (d['producers'], (d['deltas_per_s'] or 0)
                     / nv['deltas_per_s']))
    print()
    verdicts.add('2', 'row deltas/s end to end (best)', benchlib.fmt_num(
        best), '>= {:,}'.format(TARGET_DELTAS), best >= TARGET_DELTAS)


def report_latency(r, verdicts):
    rows = []
    for d in r['deltas']:
        rows.append(('deltas, %d tx/s offered' % d['offered'],
                     benchlib.fmt_num(d['achieved']), d['producers'],
                     d['count'], '%.2f' % d['p50_ms'], '%.2f' % d['p99_ms'],
                     '%.2f' % d['mean_ms'], '%.1f' % d['max_ms'],
                     d['missing']))
        ok50 = _ok(d['p50_ms'], lambda v: v <= TARGET_P50_MS)
        ok99 = _ok(d['p99_ms'], lambda v: v <= TARGET_P99_MS)
        verdicts.add('3', 'p50 latency at %d tx/s' % d['offered'],
                     '%.2f ms' % d['p50_ms'], '<= %.0f ms' % TARGET_P50_MS,
                     ok50)
        verdicts.add('3', 'p99 latency at %d tx/s' % d['offered'],
                     '%.2f ms' % d['p99_ms'], '<= %.0f ms' % TARGET_P99_MS,
                     ok99)
    pm = r['polling_measured']
    if pm:
        rows.append(('polling every %gs (measured)' % pm['poll_time'],
                     benchlib.fmt_num(pm['achieved']), 1, pm['count'],
                     '%.0f' % pm['p50_ms'], '%.0f' % pm['p99_ms'],
                     '%.0f' % pm['mean_ms'], '%.0f' % pm['max_ms'],
                     pm['missing']))
    pd = r['polling_default']
    rows.append(('polling every %gs (computed)' % pd['poll_time'], '-', '-',
                 '-', '%.0f' % pd['p50_ms'], '%.0f' % pd['p99_ms'],
                 '%.0f' % pd['mean_ms'], '-', '-'))
    benchlib.table(
        '3. Latency COMMIT -> visible in the consumer (%s, single-row '
        'updates, loopback RabbitMQ)' % benchlib.NAMES[r['backend']],
        ['path', 'achieved tx/s', 'producers', 'changes', 'p50 ms',
         'p99 ms', 'mean ms', 'max ms', 'not seen'], rows)
    if pm:
        print('  polling formula check: measured mean %.0f ms, predicted '
              'period/2 + poll = %.0f/2 + %.0f = %.0f ms (%+.1f%%); '
              '"not seen": overwritten before a poll read them'
              % (pm['mean_ms'], pm['period_ms'], pm['poll_ms'],
                 pm['predicted_mean_ms'],
                 (pm['mean_ms'] / pm['predicted_mean_ms'] - 1) * 100))
    if r['deltas'] and r['deltas'][0]['p50_ms']:
        print('  deltas vs Congress default polling (10 s): mean %.0fx '
              'lower' % (pd['mean_ms'] / r['deltas'][0]['mean_ms']))
    print()


def report_sync(results, verdicts):
    rows = []
    for r in results:
        rows.append((benchlib.NAMES[r['backend']],
                     benchlib.fmt_num(r['rows']),
                     '%.2f' % r['seconds'] if r['live'] else 'not LIVE',
                     benchlib.fmt_num(r['rows'] / r['seconds']),
                     '%.2f' % r['cpu_seconds'],
                     '%.2f' % r['gc_seconds'],
                     benchlib.fmt_bytes(r['rss_before']),
                     benchlib.fmt_bytes(r['rss_peak']),
                     benchlib.fmt_num((r['rss_peak'] - r['rss_before'])
                                      / r['rows'], 0),
                     benchlib.fmt_num(r['achieved_write_rate']),
                     r['applied'], 'yes' if r['converged'] else 'NO'))
        if r['rows'] >= 1000000:
            name = benchlib.NAMES[r['backend']]
            verdicts.add('4', 'sync 1M rows to LIVE, %s' % name,
                         '%.1f s' % r['seconds'], '<= %.0f s'
                         % TARGET_SYNC_S, r['live'] and
                         r['seconds'] <= TARGET_SYNC_S)
            verdicts.add('4', 'consumer peak RSS at 1M rows, %s' % name,
                         benchlib.fmt_bytes(r['rss_peak']), '<= 1.5 GiB',
                         r['rss_peak'] <= TARGET_RSS)
    benchlib.table(
        '4. Initial sync to LIVE while writes continue (database snapshot '
        'source, consumer in its own process)',
        ['backend', 'rows', 'seconds to LIVE', 'rows/s',
         'consumer CPU s', 'in gc s', 'RSS at start',
         'peak RSS', 'bytes/row', 'writes/s during', 'deltas applied',
         'converged'], rows)
    if not any(r['rows'] >= 1000000 for r in results):
        print('  1M rows: run with --large (targets 30 s, 1.5 GiB)')
        big = [r for r in results if r['live']]
        if big:
            r = max(big, key=lambda x: x['rows'])
            print('  linear extrapolation from %s rows on %s: %.0f s, %s'
                  % (benchlib.fmt_num(r['rows']),
                     benchlib.NAMES[r['backend']],
                     r['seconds'] * 1e6 / r['rows'],
                     benchlib.fmt_bytes(r['rss_before'] + (
                         r['rss_peak'] - r['rss_before']) * 1e6
                         / r['rows'])))
    print()


def report_verify(results):
    rows = []
    for r in results:
        for run in ('clean', 'repair'):
            m = r[run]
            rows.append((benchlib.NAMES[r['backend']],
                         benchlib.fmt_num(r['rows']), run,
                         '%.2f' % m['seconds'],
                         benchlib.fmt_num(r['rows'] / m['seconds']),
                         '%.2f' % m['cpu_seconds'],
                         '-' if m['db_cpu_seconds'] is None
                         else '%.2f' % m['db_cpu_seconds'],
                         benchlib.fmt_bytes(m['bus_bytes']),
                         '%d/%d' % (m['mismatched'], m['chunks']),
                         m['repaired_rows'], '%.0f' % m['lock_ms']))
    benchlib.table(
        '7. Verification of a replica over RPC, no rate limit (%d rows '
        'per chunk; repair: %d rows corrupted in the replica)'
        % (results[0]['chunk_rows'] if results else 0,
           results[0]['corrupted'] if results else 0),
        ['backend', 'rows', 'run', 'seconds', 'rows/s',
         'agent+consumer CPU s', 'database CPU s', 'bus bytes',
         'chunks differing', 'rows repaired', 'replica lock ms'], rows)
    print()


def report_traffic(r, verdicts):
    h = r['per_hour']
    plain = r['plain']
    rows = [
        ('plain deltas (compression = none)', benchlib.fmt_bytes(
            plain['per_hour']['deltas_total']),
         '%.2fx' % (plain['per_hour']['deltas_total']
                    / h['deltas_total'])),
        ('  polling whole table / plain deltas', '-',
         '%.1fx' % plain['ratio_whole']),
        ('deltas: batch payloads (zlib)', benchlib.fmt_bytes(
            h['deltas_payload']), '-'),
        ('deltas: + notification envelope', benchlib.fmt_bytes(
            h['deltas_messages']), '-'),
        ('deltas: + heartbeats (upper bound)', benchlib.fmt_bytes(
            h['deltas_total']), '1.0x'),
        ('polling 60 s, whole-table diffs', benchlib.fmt_bytes(
            h['poll_diffs']), '%.2fx' % r['ratio_diffs']),
        ('polling 60 s, whole table each time', benchlib.fmt_bytes(
            h['poll_whole']), '%.1fx' % r['ratio_whole']),
    ]
    benchlib.table(
        '5. Bus bytes per hour: %s-row table, %d rows (1%%) changing per '
        'minute' % ('{:,}'.format(r['rows']), r['changes_per_minute']),
        ['what', 'bytes/hour', 'vs deltas'], rows)
    for label, m in (('zlib', r), ('plain', plain)):
        print('  %s: %d changes in %d notifications, %.0f payload bytes '
              'per change, %.0f bytes of notification envelope, heartbeat '
              '%d bytes' % (label, m['changes_sent'],
                            m['notifications_per_minute'],
                            m['bytes_per_change'], m['envelope_bytes'],
                            m['heartbeat_bytes']))
    print()
    verdicts.add('5', 'whole-table polling / deltas (compression on)',
                 '%.1fx' % r['ratio_whole'], '>= %.0fx' % TARGET_TRAFFIC,
                 r['ratio_whole'] >= TARGET_TRAFFIC)


def report_growth(results):
    rows = []
    tput = results.get('throughput')
    if tput:
        for d in tput['deltas']:
            rows.append(('producers', d['producers'], 'deltas/s',
                         benchlib.fmt_num(d['deltas_per_s']),
                         'commit rate/s %s' % benchlib.fmt_num(
                             d['commit_rate'])))
    for r in results.get('sync') or ():
        rows.append(('rows (%s)' % benchlib.NAMES[r['backend']],
                     benchlib.fmt_num(r['rows']), 'seconds to LIVE',
                     '%.2f' % r['seconds'],
                     '%.1f us/row, %s/row' % (
                         r['seconds'] / r['rows'] * 1e6, benchlib.fmt_bytes(
                             (r['rss_peak'] - r['rss_before'])
                             / r['rows']))))
    lat = results.get('latency')
    if lat:
        for d in lat['deltas']:
            rows.append(('offered tx/s', d['offered'], 'p99 ms',
                         '%.2f' % d['p99_ms'], 'achieved %s tx/s' %
                         benchlib.fmt_num(d['achieved'])))
    over = results.get('overhead')
    if over:
        for backend, r in over.items():
            rows.append(('SQL statements per txn (%s)' %
                         _label(backend), 'off %.1f' % r['stmts_off'],
                         'on', '%.1f' % r['stmts_on'],
                         '+%.1f round trips' % (r['stmts_on']
                                                - r['stmts_off'])))
    if rows:
        benchlib.table('6. Cost growth', ['scaling', 'value', 'figure',
                                          'measured', 'note'], rows)


def _measure(args, params, backends, main_backend, results, verdicts):
    """Run the items of ``--only``; their figures go into ``results``."""
    if 'overhead' in args.only:
        from tools.bench import overhead
        results['overhead'] = overhead.run(
            backends, params['overhead_rounds'], params['overhead_seconds'])
        report_overhead(results['overhead'], verdicts)
    if 'outbox' in args.only:
        from tools.bench import durable
        with benchlib.scratch_topic('pt_bench_outbox_') as (topic, _):
            results['outbox'] = {
                b: durable.measure(b, params['outbox_rounds'],
                                   params['outbox_seconds'], topic)
                for b in backends}
        report_outbox(results['outbox'], verdicts)
    if 'remote' in args.only:
        from tools.bench import remote
        results['remote'] = remote.run(
            backends, params['remote_rounds'], params['remote_seconds'])
        report_remote(results['remote'], verdicts)
    if 'throughput' in args.only:
        from tools.bench import throughput
        results['throughput'] = throughput.run(
            main_backend, params['producers'], params['changes'],
            params['rows_per_txn'], params['naive'], params['drain'])
        report_throughput(results['throughput'], verdicts)
    if 'latency' in args.only:
        from tools.bench import latency
        results['latency'] = latency.run(
            main_backend, params['rates'], params['latency_seconds'],
            params['poll_time'], params['poll_seconds'])
        report_latency(results['latency'], verdicts)
    if 'sync' in args.only:
        from tools.bench import initsync
        if args.sync_rows:
            sizes = [(b, n) for b in (benchlib.POSTGRESQL, benchlib.SQLITE)
                     for n in args.sync_rows]
        else:
            sizes = list(params['sync']) + (LARGE if args.large else [])
        sizes = [(b, n) for b, n in sizes if b in backends]
        results['sync'] = initsync.run(sizes)
        report_sync(results['sync'], verdicts)
    if 'traffic' in args.only:
        from tools.bench import traffic
        results['traffic'] = traffic.run(main_backend)
        report_traffic(results['traffic'], verdicts)
    if 'verify' in args.only:
        _measure_verify(args, params, backends, results)


def _measure_verify(args, params, backends, results):
    """Item 7 at --verify-rows or the preset sizes."""
    from tools.bench import verification
    if args.verify_rows:
        sizes = [(b, n) for b in (benchlib.POSTGRESQL, benchlib.SQLITE)
                 for n in args.verify_rows]
    else:
        sizes = list(params['verify'])
    sizes = [(b, n) for b, n in sizes if b in backends]
    results['verify'] = verification.run(sizes)
    report_verify(results['verify'])


def main(argv=None):
    benchlib.quiet_warnings()
    args = parse_args(argv)
    benchlib.quiet_logging()
    params = dict(QUICK if args.quick else FULL)
    backends = check_services(args.backends)
    servers = [b for b in backends if b != benchlib.SQLITE]
    main_backend = servers[0] if servers else benchlib.SQLITE
    print('oslo.publish_tables benchmarks (%s%s); %d CPUs; backends %s; '
          'delta/latency runs on %s\n' % (
              'quick' if args.quick else 'full',
              ', large' if args.large else '', os.cpu_count(),
              ', '.join(benchlib.NAMES[b] for b in backends),
              benchlib.NAMES[main_backend]))
    results, verdicts = {}, Verdicts()
    started = time.time()

    _measure(args, params, backends, main_backend, results, verdicts)
    report_growth(results)
    benchlib.table('Targets', ['item', 'figure', 'measured', 'target',
                               'verdict'], verdicts.rows)
    print('total time: %.0f s' % (time.time() - started))
    if args.json:
        with open(args.json, 'w') as out:
            json.dump(results, out, indent=1, default=str)
    return 0


if __name__ == '__main__':
    sys.exit(main())
