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

"""Item 7: verification of a large replica against its table.

``instances`` is filled with N rows (as item 4 does) and loaded into a
consumer's replica with the database snapshot source. The snapshot
service is then served over oslo.messaging RPC on RabbitMQ, as
``publish-tables-agent`` serves it, and the consumer verifies the table
through an ``RpcSnapshotSource`` with no rate limit, twice:

* *clean*: the replica equals the table; every chunk must agree;
* *repair*: ``CORRUPT`` rows of the replica were changed behind its back;
  their chunks must be found and reloaded, nothing else.

Measured: wall time and rows/s of each verification, the CPU seconds of
this process (snapshot service and consumer together; they run one after
the other) and of the database (PostgreSQL only: the server processes
serving the scratch database, from ``/proc``), and the bus bytes (the
JSON of every RPC request and reply; the broker's framing is not
counted).
"""

import json
import os
import resource
import time

import oslo_messaging
from oslo_messaging import conffixture
import sqlalchemy as sa

from congress_consumer.replication import snapshots
from congress_consumer.replication import sync
from congress_consumer.replication import verification
from oslo_publish_tables.capture import tables as tables_mod
from oslo_publish_tables.snapshot import service as service_mod

from tools.bench import benchlib
from tools.bench import initsync

TABLE = 'instances'
CORRUPT = 10
CHUNK_ROWS = 1000


def _cpu_seconds():
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


class _DatabaseCpu(object):
    """CPU seconds of the PostgreSQL processes serving one database."""

    def __init__(self, url):
        self.url = url
        self.engine = sa.create_engine(url)
        self.ok = self.engine.dialect.name == 'postgresql'

    def _pids(self):
        with self.engine.connect() as conn:
            return [pid for (pid,) in conn.exec_driver_sql(
                'SELECT pid FROM pg_stat_activity WHERE datname = '
                'current_database()')]

    @staticmethod
    def _ticks(pid):
        try:
            with open('/proc/%d/stat' % pid) as stat:
                fields = stat.read().rpartition(')')[2].split()
        except OSError:
            return 0
        return int(fields[11]) + int(fields[12])  # utime + stime

    def sample(self):
        """{pid: CPU ticks} of the database's server processes."""
        return {pid: self._ticks(pid) for pid in self._pids()} \
            if self.ok else {}

    def seconds(self, before, after):
        if not self.ok:
            return None
        ticks = sum(t - before.get(pid, 0) for pid, t in after.items())
        return ticks / os.sysconf('SC_CLK_TCK')

    def dispose(self):
        self.engine.dispose()


class _CountingSource(snapshots.RpcSnapshotSource):
    """An RPC snapshot source that counts the JSON bytes of its calls."""

    bytes = 0

    def _call(self, request, version=None, **kwargs):
        reply = super()._call(request, version=version, **kwargs)
        self.bytes += len(json.dumps(kwargs)) + len(json.dumps(reply))
        return reply


def _corrupt(replica, count):
    keys = sorted(replica.rows)[::max(1, len(replica.rows) // count)]
    column = replica.columns.index('hostname')
    for key in keys[:count]:
        values = list(replica._rows[key])
        values[column] = 'corrupted'
        replica._rows[key] = tuple(values)
    return count


def _verify(verifier, source, db_cpu):
    before_bytes, before_cpu = source.bytes, _cpu_seconds()
    before_db = db_cpu.sample()
    started = time.perf_counter()
    found = verifier.verify_table(TABLE)
    seconds = time.perf_counter() - started
    return {'seconds': seconds, 'cpu_seconds': _cpu_seconds() - before_cpu,
            'db_cpu_seconds': db_cpu.seconds(before_db, db_cpu.sample()),
            'bus_bytes': source.bytes - before_bytes,
            'verified': found.get('verified'),
            'chunks': found.get('chunks'),
            'lock_ms': found.get('lock_ms'),
            'mismatched': len(found.get('mismatched', ())),
            'repaired_rows': sum(r['added'] + r['changed'] + r['removed']
                                 for r in found.get('repairs', ()))}


def _serve(url, topic):
    conf = benchlib.make_conf(tables=[TABLE], snapshot_topic=topic)
    # Registers oslo.messaging's options (its tracing ones live on
    # cfg.CONF only) on this private configuration.
    conffixture.ConfFixture(conf).setUp()
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        registry = tables_mod.TableRegistry.reflect(conn, [TABLE])
    service = service_mod.SnapshotService(engine, registry)
    transport = oslo_messaging.get_rpc_transport(conf,
                                                 url=benchlib.rabbit_url())
    server = service_mod.rpc_server(conf, transport, service,
                                    server='bench-verify')
    server.start()
    return conf, engine, service, transport, server


def measure(backend, rows):
    with benchlib.scratch_database(backend) as url, \
            benchlib.scratch_topic('pt_bench_verify_') as (topic, _):
        initsync.populate(url, backend, rows)
        direct = snapshots.DirectSnapshotSource(url, [TABLE])
        synchronizer = sync.Synchronizer([TABLE], None, direct,
                                         chunk_rows=5000)
        started = time.perf_counter()
        synchronizer.sync_table(TABLE)
        load_seconds = time.perf_counter() - started
        direct.cleanup()
        conf, engine, service, transport, server = _serve(url, topic)
        source = _CountingSource(transport, topic, timeout=600)
        verifier = verification.Verifier(
            synchronizer, source, 'bench', verification.VerifyPace(
                rows_per_second=0, chunk_rows=CHUNK_ROWS, settle=0.5))
        db_cpu = _DatabaseCpu(url)
        try:
            clean = _verify(verifier, source, db_cpu)
            with synchronizer.lock:
                _corrupt(synchronizer.replicas[TABLE], CORRUPT)
            repair = _verify(verifier, source, db_cpu)
        finally:
            db_cpu.dispose()
            server.stop()
            server.wait()
            service.close()
            transport.cleanup()
            engine.dispose()
        return {'backend': backend, 'rows': rows,
                'load_seconds': load_seconds, 'chunk_rows': CHUNK_ROWS,
                'corrupted': CORRUPT, 'clean': clean, 'repair': repair}


def run(backend_sizes):
    """``backend_sizes``: [(backend, rows)]; returns a list of figures."""
    out = []
    for backend, rows in backend_sizes:
        try:
            out.append(measure(backend, rows))
        except Exception as exc:  # report it and go on with the others
            print('verification of %d rows on %s failed: %s: %s'
                  % (rows, backend, type(exc).__name__, exc))
    return out
