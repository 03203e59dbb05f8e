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

"""Item 1 with the database 0.3 ms away: a delaying TCP proxy.

On loopback a round trip to PostgreSQL or MariaDB costs about 30 us, so
a statement the capture adds or saves hardly shows. In a data centre
the database is a few switches away: about 0.3 ms per round trip. This
item runs the nova-like cycle of :mod:`overhead` (off / on / capture /
process, as item 1) with the engine connected through
:func:`proxy_main`, a TCP proxy in a process of its own (so that its
threads do not compete for the benchmark's GIL) that holds every chunk
of bytes for ``delay`` seconds in each direction: a round trip gains
2 x ``delay``. The measured added round-trip time (``SELECT 1`` through
the proxy minus direct, medians) is printed with the figures.

``python -m tools.bench.remote [--backends postgresql,mysql]
[--rtt-ms 0.3]``, or item ``remote`` of ``python -m tools.bench.run``.
"""

import argparse
import collections
import multiprocessing
import socket
import sys
import threading
import time

from oslo_db.sqlalchemy import orm as db_orm
import sqlalchemy as sa

from publish_tables_demo import schema as demo_schema

from tools.bench import benchlib
from tools.bench import overhead

DEFAULT_RTT_MS = 0.3


def _pump(src, dst, delay):
    """Forward ``src`` to ``dst``, each chunk ``delay.value`` s later."""
    queue = collections.deque()
    ready = threading.Condition()

    def writer():
        while True:
            with ready:
                while not queue:
                    ready.wait()
                due, data = queue.popleft()
            if data is None:
                break
            wait = due - time.monotonic()
            if wait > 0:
                time.sleep(wait)
            try:
                dst.sendall(data)
            except OSError:
                break
        _close(dst)

    threading.Thread(target=writer, daemon=True).start()
    while True:
        try:
            data = src.recv(65536)
        except OSError:
            data = b''
        with ready:
            queue.append((time.monotonic() + delay.value, data or None))
            ready.notify()
        if not data:
            return


def _close(sock):
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    sock.close()


def proxy_main(listener, target, delay):
    """The proxy process: accept on ``listener``, forward to ``target``."""
    while True:
        client, _ = listener.accept()
        upstream = socket.create_connection(target)
        for sock in (client, upstream):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        for src, dst in ((client, upstream), (upstream, client)):
            threading.Thread(target=_pump, args=(src, dst, delay),
                             daemon=True).start()


class DelayProxy(object):
    """A :func:`proxy_main` process in front of ``host:port``."""

    def __init__(self, host, port):
        context = multiprocessing.get_context('fork')
        self.listener = socket.create_server(('127.0.0.1', 0))
        self.port = self.listener.getsockname()[1]
        self.delay = context.Value('d', 0.0, lock=False)  # s, each way
        self.process = context.Process(
            target=proxy_main, args=(self.listener, (host, port),
                                     self.delay), daemon=True)

    def calibrate(self, direct_url, rtt_ms):
        """Set the delay so that a round trip gains ``rtt_ms``.

        The proxy itself (two hops through its threads) adds some; the
        delay makes up the rest. Returns the measured gain in ms.
        """
        remote = through(direct_url, self.port)
        direct = round_trip_ms(direct_url)
        self.delay.value = 0.0
        hops = round_trip_ms(remote) - direct
        self.delay.value = max(0.0, rtt_ms - hops) / 2e3
        return round_trip_ms(remote) - direct

    def __enter__(self):
        self.process.start()
        return self

    def __exit__(self, *exc):
        self.process.terminate()
        self.process.join(5)
        self.listener.close()


def through(url, port):
    """``url`` with its host and port replaced by the proxy's."""
    parsed = sa.engine.make_url(url)
    return parsed.set(host='127.0.0.1', port=port)


def round_trip_ms(url, count=300):
    """Median milliseconds of ``SELECT 1`` on ``url``."""
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            samples = []
            for _ in range(count):
                start = time.perf_counter()
                conn.exec_driver_sql('SELECT 1').scalar()
                samples.append(time.perf_counter() - start)
        return benchlib.median(samples) * 1e3
    finally:
        engine.dispose()


def measure_backend(backend, rounds, seconds, topic, rtt_ms):
    with benchlib.scratch_database(backend) as url:
        parsed = sa.engine.make_url(url)
        with DelayProxy(parsed.host or '127.0.0.1', parsed.port or {
                'postgresql': 5432, 'mysql': 3306}[backend]) as proxy:
            remote = through(url, proxy.port)
            added = proxy.calibrate(url, rtt_ms)
            engine = sa.create_engine(remote)
            try:
                demo_schema.create(engine)
                conf = benchlib.make_conf(
                    tables=list(demo_schema.PUBLISHED))
                sender = benchlib.make_sender(conf, topic)
                child = benchlib.make_sender(conf, topic, sending='process')
                try:
                    figures = overhead._rounds(
                        engine, conf, sender, rounds, seconds,
                        work=overhead.Workload(db_orm.get_maker(engine)),
                        process_sender=child)
                finally:
                    for each in (sender, child):
                        each.stop()
                        each.transport.close()
            finally:
                engine.dispose()
    figures['rtt_added_ms'] = added
    return figures


def run(backends, rounds, seconds, rtt_ms=DEFAULT_RTT_MS):
    results = {}
    with benchlib.scratch_topic('pt_bench_remote_') as (topic, _):
        for backend in backends:
            if backend == benchlib.SQLITE:
                continue  # a file: nothing to delay
            results[backend] = measure_backend(backend, rounds, seconds,
                                               topic, rtt_ms)
    return results


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--backends', default='postgresql,mysql')
    parser.add_argument('--rounds', type=int, default=3)
    parser.add_argument('--seconds', type=float, default=3.0)
    parser.add_argument('--rtt-ms', type=float, default=DEFAULT_RTT_MS)
    args = parser.parse_args(argv)
    benchlib.quiet_warnings()
    benchlib.quiet_logging()
    results = run(args.backends.split(','), args.rounds, args.seconds,
                  args.rtt_ms)
    for backend, r in results.items():
        print('%s: +%.2f ms per round trip; txn/s off %.1f on %.1f (%.3f) '
              'process %.1f (%.3f); SQL/txn %.1f/%.1f' % (
                  backend, r['rtt_added_ms'], r['tps_off'], r['tps_on'],
                  r['tps_on'] / r['tps_off'], r['tps_process'],
                  r['tps_process'] / r['tps_off'], r['stmts_off'],
                  r['stmts_on']))
    return 0


if __name__ == '__main__':
    sys.exit(main())
