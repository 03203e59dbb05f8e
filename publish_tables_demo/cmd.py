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

"""``publish-tables-demo``: the whole pipeline on SQLite, in one process.

A nova-like database is written by a random workload (inserts, updates,
ORM bulk updates, soft and hard deletes, Core statements, rolled-back
transactions and savepoints). Halfway through, a consumer starts: it
subscribes, takes a fenced snapshot while the writes go on and applies
the delta stream. At the end the demo compares replica and database row
for row, measures commit-to-replica latency and exits non-zero on any
difference. Everything runs on the in-process ``fake://`` transport.
"""

import argparse
import logging
import os
import statistics
import sys
import tempfile
import threading
import time

from oslo_config import cfg
import oslo_messaging
import sqlalchemy as sa

from oslo_publish_tables import publisher
from oslo_publish_tables import sender as sender_mod
from oslo_publish_tables import transport as transport_mod
from publish_tables_demo import schema as demo_schema
from publish_tables_demo import workload as demo_workload

from congress_consumer.replication import driver as driver_mod
from congress_consumer.replication import snapshots

TABLES = list(demo_schema.PUBLISHED)


def _conf():
    conf = cfg.ConfigOpts()
    publisher.register_opts(conf)
    conf([], project='publish-tables-demo', default_config_files=[])
    conf.set_override('tables', TABLES, 'publish_tables')
    conf.set_override('exclude_columns', ['instances.user_data'],
                      'publish_tables')
    return conf


def _rows(engine, capture, table):
    info = capture.registry.get(table)
    with engine.connect() as conn:
        return {info.key_of(r._mapping): dict(r._mapping)
                for r in conn.execute(sa.select(*info.columns))}


def _measure_latency(engine, driver, count):
    """Commit single-row updates; time until each is in the replica."""
    table = demo_schema.Instance.__table__
    with engine.connect() as conn:
        iid = conn.execute(sa.select(sa.func.min(table.c.id)).where(
            table.c.deleted == 0)).scalar()
    if iid is None:
        return []
    latencies = []
    for i in range(count):
        value = 'latency-%d' % i
        with engine.begin() as conn:
            conn.execute(table.update().where(table.c.id == iid)
                         .values(hostname=value))
        committed = time.perf_counter()
        while (driver.sync.row('instances', (iid,)) or {}).get(
                'hostname') != value:
            if time.perf_counter() - committed > 5:
                break
            time.sleep(0.0002)
        latencies.append((time.perf_counter() - committed) * 1e3)
        time.sleep(0.005)
    return latencies


def _print_comparison(engine, capture, driver):
    print('\n%-18s %10s %10s %10s' % ('table', 'database', 'replica',
                                      'divergent'))
    divergent_total = 0
    for table in TABLES:
        db = _rows(engine, capture, table)
        rep = driver.sync.rows(table)
        divergent = sum(1 for k in set(db) | set(rep)
                        if db.get(k) != rep.get(k))
        divergent_total += divergent
        print('%-18s %10d %10d %10d' % (table, len(db), len(rep),
                                        divergent))
    return divergent_total


def _parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--steps', type=int, default=600,
                        help='transactions of the random workload')
    parser.add_argument('--seed', type=int, default=7)
    parser.add_argument('--transport-url', default='fake://',
                        help='e.g. rabbit://guest:guest@127.0.0.1:5672/ '
                             '(default: the in-process fake:// transport)')
    return parser.parse_args(argv)


def _database():
    """A new SQLite database with the demo schema: its URL and engine."""
    workdir = tempfile.mkdtemp(prefix='publish-tables-demo-')
    url = 'sqlite:///%s' % os.path.join(workdir, 'nova.db')
    engine = sa.create_engine(url, connect_args={'timeout': 30})
    with engine.connect() as conn:
        conn.exec_driver_sql('PRAGMA journal_mode=WAL')
    demo_schema.create(engine)
    return url, engine


def _transports(conf, url):
    """The producer's and the consumer's notification transports."""
    transport = oslo_messaging.get_notification_transport(conf, url=url)
    # fake:// keeps messages per transport object: share it; a real
    # broker gets a connection per side, as in production.
    if url.startswith('fake'):
        return transport, transport
    return transport, oslo_messaging.get_notification_transport(conf,
                                                                url=url)


def _print_status(workload, sender, driver):
    """Print the counters; return the rows of rolled-back transactions."""
    status = driver.get_status()
    print('\nworkload: %s' % ', '.join('%s=%d' % kv for kv in
                                       sorted(workload.counts.items())))
    print('sender: %s' % dict(sender.stats))
    for table, st in sorted(status['tables'].items()):
        print('%-18s state=%s applied=%d duplicate=%d late=%d '
              'snapshots=%d' % (table, st['state'], st['applied'],
                                st['duplicate'], st['late'],
                                st['snapshots']))
    rolled_back = sum(1 for r in driver.sync.rows('instances').values()
                      if r.get('vm_state') == 'ROLLED-BACK')
    print('rows written by rolled-back transactions in the replica: %d'
          % rolled_back)
    return rolled_back


def _print_latency(latencies, transport_url):
    if latencies:
        latencies.sort()
        print('commit -> replica latency over %d updates: p50 %.2f ms, '
              'p99 %.2f ms, max %.2f ms' % (
                  len(latencies), statistics.median(latencies),
                  latencies[int(len(latencies) * 0.99) - 1], latencies[-1]))
        if transport_url.startswith('fake'):
            print('  (fake:// listeners poll every 50 ms; run with '
                  '--transport-url rabbit://... for broker figures)')
    print('polling at Congress\'s default 10 s interval: mean latency '
          '5000 ms')


def _start_consumer(conf, url, topic, transport):
    driver = driver_mod.PublishTablesDriver(
        'nova', {'tables': TABLES, 'topic': topic}, conf=conf,
        transport=transport,
        snapshot_source=snapshots.DirectSnapshotSource(
            url, TABLES, exclude_columns=['instances.user_data']))
    driver.start()
    live = driver.wait_live(30)
    print('consumer: subscribed, snapshot taken mid-workload, LIVE: %s'
          % live)
    return driver, live


def main(argv=None):
    args = _parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    url, engine = _database()
    conf = _conf()
    topic = 'publish_tables_demo_%d' % os.getpid()
    transport, consumer_transport = _transports(conf, args.transport_url)
    sender = sender_mod.Sender(transport_mod.NotificationTransport(
        conf, topic, 'demo', transport=transport),
        heartbeat_interval=1.0)
    capture = publisher.install(engine, conf, submit=sender.submit)
    print('producer: %s with [publish_tables] tables = %s'
          % (url, ','.join(TABLES)))

    workload = demo_workload.Workload(engine, seed=args.seed)
    started = time.perf_counter()
    for _ in range(args.steps // 2):
        workload.step()
    print('first half of the workload: %d transactions' % (args.steps // 2))
    writer = threading.Thread(target=lambda: [
        workload.step() for _ in range(args.steps - args.steps // 2)])
    writer.start()
    driver, live = _start_consumer(conf, url, topic, consumer_transport)
    writer.join()
    sender.flush()
    latencies = _measure_latency(engine, driver, 200)
    sender.flush()
    time.sleep(0.2)
    elapsed = time.perf_counter() - started

    divergent = _print_comparison(engine, capture, driver)
    rolled_back = _print_status(workload, sender, driver)
    _print_latency(latencies, args.transport_url)
    driver.stop()
    publisher.uninstall(engine)
    sender.stop()
    engine.dispose()
    for used in {id(transport): transport,
                 id(consumer_transport): consumer_transport}.values():
        used.cleanup()
    ok = live and divergent == 0 and rolled_back == 0
    print('\n%s in %.1f s: replica %s the database row for row'
          % ('OK' if ok else 'FAILED', elapsed,
             'equals' if ok else 'DIFFERS FROM'))
    return 0 if ok else 1


if __name__ == '__main__':
    sys.exit(main())
