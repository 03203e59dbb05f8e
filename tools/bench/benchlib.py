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

"""Shared helpers of the benchmarks: services, producers, figures.

Nothing here is timed by itself. The benchmark modules (``overhead``,
``throughput``, ``latency``, ``initsync``, ``traffic``) use these helpers
and return plain dicts of figures that ``run.py`` prints.
"""

import contextlib
import json
import logging
import os
import resource
import sys
import time
import warnings

from oslo_publish_tables import fixture as backends
from oslo_publish_tables.protocol import envelope
from oslo_publish_tables import publisher
from oslo_publish_tables import sender as sender_mod
from oslo_publish_tables import sending as sending_mod
from oslo_publish_tables import transport as transport_mod

SQLITE = backends.SQLITE
POSTGRESQL = backends.POSTGRESQL
MYSQL = backends.MYSQL
NAMES = {SQLITE: 'SQLite', POSTGRESQL: 'PostgreSQL', MYSQL: 'MariaDB'}


def quiet_warnings():
    """No warnings here nor in spawned children (which read the variable).

    eventlet's deprecation notice, imported by oslo libraries, would
    otherwise be printed by every child.
    """
    os.environ['PYTHONWARNINGS'] = 'ignore'
    warnings.simplefilter('ignore')


def quiet_logging():
    """Only errors: retries and resyncs are counted, not logged."""
    logging.basicConfig(level=logging.ERROR)
    for name in ('oslo_messaging', 'oslo.messaging', 'kombu', 'amqp',
                 'oslo_publish_tables', 'congress_consumer', 'stevedore'):
        logging.getLogger(name).setLevel(logging.ERROR)


def available(service):
    ok, reason = backends.is_available(service)
    return ok, reason


def rabbit_url():
    return backends.server_url(backends.RABBIT)


# -- scratch databases and topics ----------------------------------------


@contextlib.contextmanager
def scratch_database(backend):
    """A fresh database (dropped at exit); yields its URL."""
    fixture = backends.DatabaseFixture(backend)
    fixture.setUp()
    try:
        yield fixture.url
    finally:
        fixture.cleanUp()


@contextlib.contextmanager
def scratch_topic(prefix='pt_bench_'):
    """A topic of its own on RabbitMQ; its queues are deleted at exit."""
    fixture = backends.RabbitFixture(topic_prefix=prefix)
    fixture.setUp()
    try:
        yield fixture.topic, fixture
    finally:
        fixture.cleanUp()


def install(engine, conf, submit, publisher_mod=publisher):
    """``publisher.install``, then every published table reflected.

    A service installs the plugin once and reflects each table once per
    process, on first use. The benchmarks install it again for every
    timed run, so they reflect before the run starts, as in a service
    that has run for a while: a one-time cost is not a cost per
    transaction (``tools.bench.engine_start`` measures it).
    """
    capture = publisher_mod.install(engine, conf, submit=submit)
    for name in sorted(capture.registry.names):
        capture.registry.get(name)
    return capture


def make_conf(**overrides):
    """A private ConfigOpts with ``[publish_tables]`` overrides."""
    return backends.make_conf(**overrides)


def sqlite_tuning(engine):
    """Nothing: SQLite runs with its defaults (rollback journal, FULL)."""
    return engine


# -- producer side -------------------------------------------------------


class Cycles(object):
    """A workload of whole cycles: ``cycle()`` appends to ``commits``."""

    def run_for(self, seconds):
        """Run whole cycles for about ``seconds``; return (txns, secs)."""
        before = len(self.commits)
        start = time.perf_counter()
        deadline = start + seconds
        while time.perf_counter() < deadline:
            self.cycle()
        return len(self.commits) - before, time.perf_counter() - start


class CountingTransport(transport_mod.NotificationTransport):
    """A notification transport that counts what it hands to the bus.

    ``payload_bytes`` is ``len(json.dumps(payload))`` of every batch,
    ``message_bytes`` the notification around it (ids, event type, time)
    as the messagingv2 driver serialises it.
    """

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.counts = {'notifications': 0, 'payload_bytes': 0,
                       'message_bytes': 0, 'changes': 0, 'heartbeats': 0}
        self.sizes = []

    def send(self, event_type, payload):
        size = len(json.dumps(payload))
        envelope_size = len(json.dumps(
            {'message_id': '0' * 36, 'publisher_id': self.publisher_id,
             'event_type': event_type, 'priority': 'INFO', 'payload': None,
             'timestamp': '2025-01-01 00:00:00.000000'})) - len('null')
        super().send(event_type, payload)
        counts = self.counts
        counts['notifications'] += 1
        counts['payload_bytes'] += size
        counts['message_bytes'] += size + envelope_size
        records = envelope.parse(payload).records  # compressed or not
        changes = sum(len(r.changes) for r in records)
        counts['changes'] += changes
        if not records:
            counts['heartbeats'] += 1
        self.sizes.append((event_type, changes, size))


def make_sender(conf, topic, transport_url=None, counting=False,
                heartbeat_interval=10.0, transport=None, compression=None,
                sending='thread'):
    """A background Sender publishing with messagingv2 on ``topic``.

    ``sending='process'``: through a sending child process
    (:mod:`oslo_publish_tables.sending`).
    """
    if sending == 'process':
        notification = sending_mod.ProcessTransport(
            conf, topic, 'publish_tables.bench', driver='messagingv2',
            transport_url=transport_url or rabbit_url())
        return sender_mod.Sender(notification,
                                 heartbeat_interval=heartbeat_interval,
                                 compression=compression)
    cls = CountingTransport if counting else \
        transport_mod.NotificationTransport
    notification = cls(conf, topic, 'publish_tables.bench',
                       driver='messagingv2',
                       transport_url=transport_url or rabbit_url(),
                       transport=transport)
    return sender_mod.Sender(notification,
                             heartbeat_interval=heartbeat_interval,
                             compression=compression)


def process_cpu(sender):
    """CPU seconds of ``sender``'s sending child so far (0 if none).

    ``sender`` may also be the child's pid.
    """
    pid = sender if isinstance(sender, int) else getattr(
        getattr(sender, 'transport', None), 'pid', None)
    if not pid:
        return 0.0
    total = 0
    try:  # every thread, in ns (/proc/PID/stat counts 10 ms ticks)
        for tid in os.listdir('/proc/%d/task' % pid):
            with open('/proc/%d/task/%s/schedstat' % (pid, tid)) as f:
                total += int(f.read().split()[0])
    except OSError:
        pass
    return total / 1e9


# -- figures -------------------------------------------------------------


def percentile(values, p):
    """The ``p``-th percentile (0-100) by nearest rank; None if empty."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1,
                      int(round(p / 100.0 * len(ordered) + 0.5)) - 1))
    return ordered[rank]


def median(values):
    ordered = sorted(values)
    n = len(ordered)
    if not n:
        return None
    mid = n // 2
    return ordered[mid] if n % 2 else (ordered[mid - 1] + ordered[mid]) / 2


def mean(values):
    return sum(values) / len(values) if values else None


def maxrss_bytes():
    """Peak resident set size of this process, in bytes (Linux: KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def wait_for(predicate, timeout, interval=0.002):
    """Poll ``predicate`` until true; return the time it became true."""
    deadline = time.monotonic() + timeout
    while True:
        if predicate():
            return time.time()
        if time.monotonic() > deadline:
            return None
        time.sleep(interval)


def fmt_num(value, digits=1):
    if value is None:
        return '-'
    if isinstance(value, str):
        return value
    if abs(value) >= 1000:
        return '{:,.0f}'.format(value)
    return '{:.{d}f}'.format(value, d=digits)


def fmt_bytes(value):
    if value is None:
        return '-'
    for unit in ('B', 'KiB', 'MiB', 'GiB'):
        if abs(value) < 1024 or unit == 'GiB':
            return '%.1f %s' % (value, unit) if unit != 'B' else \
                '%d B' % value
        value /= 1024.0


def table(title, headers, rows, out=None):
    """Print an aligned text table; returns its text."""
    cells = [[str(h) for h in headers]] + [[str(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    lines = [title, '=' * len(title)]
    for index, row in enumerate(cells):
        lines.append('  '.join(c.ljust(w) if i == 0 else c.rjust(w)
                               for i, (c, w) in enumerate(zip(row, widths))))
        if index == 0:
            lines.append('  '.join('-' * w for w in widths))
    text = '\n'.join(lines) + '\n'
    print(text, file=out or sys.stdout, flush=True)
    return text
