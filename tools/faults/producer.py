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

"""One producer process of the fault suite (run by ``run.py``).

It installs publishing on its own engine, runs the random nova-like
workload of :mod:`publish_tables_demo.workload` until the file
``--stop-file`` exists (at most ``--seconds``) and appends one line per
transaction to ``--stats``: ``t <op> <microseconds> <end>`` (the
commit latency the service saw, and when it ended in milliseconds of
``time.monotonic()``, the clock every process of the machine shares),
and every half second ``s <records> <notifications> <send failures>``
from its sender. Lines are written unbuffered, so a process killed
with SIGKILL leaves everything up to its last transaction.

``--duplicate`` and ``--reorder`` make its transport send a share of the
notifications twice, or hold one back until after the next one.
``--delivery durable`` writes every record to the outbox too;
``--delivery relayed`` only there (the agent publishes them).
"""

import argparse
import os
import random
import sys
import threading
import time


import sqlalchemy as sa

from oslo_publish_tables import fixture
from oslo_publish_tables import publisher
from oslo_publish_tables import sender as sender_mod
from oslo_publish_tables import transport as transport_mod
from publish_tables_demo import workload as demo_workload


class Mischief(object):
    """Wraps ``transport.send``: duplicates and reorders notifications."""

    def __init__(self, send, duplicate, reorder, seed):
        self._send = send
        self.duplicate = duplicate
        self.reorder = reorder
        self.random = random.Random(seed)
        self.held = None

    def __call__(self, event_type, payload):
        if self.held is None and self.random.random() < self.reorder:
            self.held = (event_type, payload)  # goes out after the next
            return
        self._send(event_type, payload)
        if self.random.random() < self.duplicate:
            self._send(event_type, payload)
        if self.held is not None:
            held, self.held = self.held, None
            self._send(*held)


def _write_stats(fd, sender, end=b''):
    stats = sender.stats
    os.write(fd, b's %d %d %d\n%s' % (
        stats['records'], stats['notifications'], stats['send_failures'],
        end))


def _report(fd, sender, stop):
    while not stop.wait(0.5):
        _write_stats(fd, sender)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument('--url', required=True)
    parser.add_argument('--transport-url', required=True)
    parser.add_argument('--topic', required=True)
    parser.add_argument('--tables', required=True)
    parser.add_argument('--seconds', type=float, required=True)
    parser.add_argument('--stop-file')
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--stats', required=True)
    parser.add_argument('--duplicate', type=float, default=0.0)
    parser.add_argument('--reorder', type=float, default=0.0)
    parser.add_argument('--delivery', default='direct',
                        choices=['direct', 'durable', 'relayed'])
    args = parser.parse_args(argv)
    tables = args.tables.split(',')
    conf = fixture.make_conf(tables=tables, topic=args.topic,
                             transport_url=args.transport_url,
                             delivery=args.delivery)
    engine = sa.create_engine(args.url)
    transport = transport_mod.NotificationTransport(
        conf, args.topic, 'faults-producer',
        transport_url=args.transport_url)
    if args.duplicate or args.reorder:
        transport.send = Mischief(transport.send, args.duplicate,
                                  args.reorder, args.seed)
    sender = sender_mod.Sender(transport, heartbeat_interval=0.5,
                               max_retry_interval=1.0, shutdown_timeout=30)
    publisher.install(engine, conf, submit=sender.submit)
    fd = os.open(args.stats, os.O_WRONLY | os.O_APPEND | os.O_CREAT)
    stop = threading.Event()
    threading.Thread(target=_report, args=(fd, sender, stop),
                     daemon=True).start()
    workload = demo_workload.Workload(engine, seed=args.seed)
    deadline = time.monotonic() + args.seconds
    while time.monotonic() < deadline and not (
            args.stop_file and os.path.exists(args.stop_file)):
        start = time.perf_counter()
        name = workload.step()
        elapsed = int((time.perf_counter() - start) * 1e6)
        os.write(fd, b't %s %d %d\n' % (
            name.encode(), elapsed, int(time.monotonic() * 1e3)))
    publisher.uninstall(engine)
    sender.stop()  # flush and say goodbye
    stop.set()
    _write_stats(fd, sender, b'end\n')
    transport.close()
    engine.dispose()
    return 0


if __name__ == '__main__':
    sys.exit(main())
