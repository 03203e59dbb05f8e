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

"""Issue item 5: bytes on the bus per hour, deltas versus polling.

A 10,000-row ``instances`` table; 1% of its rows (100) change per
minute, each change its own transaction as nova writes them (``vm_state``,
``task_state``, ``updated_at`` of one instance). One minute of that is
run for real with publishing on: the Sender publishes to RabbitMQ
through a transport that counts ``len(json.dumps(payload))`` of every
batch it hands over, and the notification around it. Each change is
sent before the next one is made, so that each goes out alone, as it
would at one change every 0.6 s. An hour is 60 such minutes.
Heartbeats are counted as an upper bound (one every
``heartbeat_interval``; a producer that changes rows every 0.6 s sends
none). The minute is run twice on fresh tables, with
``[publish_tables] compression`` off (the default, plain JSON) and with
``zlib``. The table's ``uuid`` values are made random, as nova's are,
before publishing is installed, so that compression gains nothing from
the sequential ones the fill writes (the JSON sizes are unchanged).

The polling alternatives, from the same table states, read before and
after the minute's changes:

* a poller every 60 s that publishes whole-table *diffs* (Congress's
  DSE: the rows removed and added, as translated tuples);
* a poller every 60 s that ships the *whole table* each time (what every
  poll moves, e.g. a ``GET /servers/detail`` of every row as JSON).
"""

import json
import random
import time
import uuid

import sqlalchemy as sa

from congress_consumer.replication import driver as driver_mod
from oslo_publish_tables.protocol import envelope
from oslo_publish_tables import publisher
from publish_tables_demo import schema as demo_schema

from tools.bench import benchlib
from tools.bench import initsync

ROWS = 10000
CHANGES_PER_MINUTE = ROWS // 100


def _read_table(engine):
    table = demo_schema.Instance.__table__
    with engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(
            sa.select(table).order_by(table.c.id))]


def _as_json_row(row):
    return {k: driver_mod.congress_value(v) for k, v in row.items()}


def _as_tuple(row):
    return tuple(driver_mod.congress_value(row[k]) for k in sorted(row))


def _random_uuids(engine, rng):
    table = demo_schema.Instance.__table__
    with engine.begin() as conn:
        conn.execute(table.update().where(
            table.c.id == sa.bindparam('ident')).values(
            uuid=sa.bindparam('new_uuid'),
            updated_at=None),  # not the Python-side onupdate: unchanged
            [{'ident': i, 'new_uuid': str(uuid.UUID(int=rng.getrandbits(128),
                                                    version=4))}
             for i in range(1, ROWS + 1)])


def _write_changes(engine, sender, spacing):
    """CHANGES_PER_MINUTE single-row updates, each sent on its own."""
    table = demo_schema.Instance.__table__
    rng = random.Random(3)
    ids = rng.sample(range(1, ROWS + 1), CHANGES_PER_MINUTE)
    states = [('active', None), ('active', 'rebooting'),
              ('stopped', None), ('active', 'migrating')]
    for n, ident in enumerate(ids):
        vm_state, task_state = states[n % len(states)]
        with engine.begin() as conn:
            conn.execute(table.update().where(
                table.c.id == ident).values(
                vm_state=vm_state, task_state=task_state,
                updated_at=sa.func.now()))
        sender.flush(30)  # each change goes out alone
        time.sleep(spacing)


def measure(backend, topic, spacing=0.02, compression=None):
    with benchlib.scratch_database(backend) as url:
        initsync.populate(url, backend, ROWS)
        engine = sa.create_engine(url)
        _random_uuids(engine, random.Random(5))
        conf = benchlib.make_conf(tables=['instances'])
        sender = benchlib.make_sender(conf, topic, counting=True,
                                      compression=compression)
        counting = sender.transport
        try:
            before = _read_table(engine)
            publisher.install(engine, conf, submit=sender.submit)
            _write_changes(engine, sender, spacing)
            publisher.uninstall(engine)
            after = _read_table(engine)
        finally:
            sender.stop()
            counting.close()
            engine.dispose()
    return _figures(backend, compression, sender, counting, before, after)


def _figures(backend, compression, sender, counting, before, after):
    """Bytes per hour of the delta stream and of polling, compared."""
    counts = dict(counting.counts)
    # The stop above sent a goodbye; it is not part of a steady hour.
    goodbyes = [s for s in counting.sizes if s[0] == envelope.EVENT_GOODBYE]
    delta_payload = sum(s[2] for s in counting.sizes
                        if s[0] == envelope.EVENT_BATCH)
    delta_messages = sum(1 for s in counting.sizes
                         if s[0] == envelope.EVENT_BATCH)
    envelope_bytes = (counts['message_bytes'] - counts['payload_bytes']) \
        / max(counts['notifications'], 1)
    heartbeat = len(json.dumps(sender.payload(
        envelope.EVENT_HEARTBEAT, [], 10 ** 6)))
    heartbeats_per_hour = 3600 / sender.heartbeat_interval

    old = {_as_tuple(r) for r in before}
    new = {_as_tuple(r) for r in after}
    diff = {'table': 'instances', 'to_add': sorted(new - old, key=str),
            'to_del': sorted(old - new, key=str)}
    whole = [_as_json_row(r) for r in after]
    per_hour = {
        'deltas_payload': 60 * delta_payload,
        'deltas_messages': 60 * (delta_payload
                                 + delta_messages * envelope_bytes),
        'heartbeats_max': heartbeats_per_hour * (heartbeat
                                                 + envelope_bytes),
        'poll_diffs': 60 * len(json.dumps(diff)),
        'poll_whole': 60 * len(json.dumps(whole)),
    }
    per_hour['deltas_total'] = (per_hour['deltas_messages']
                                + per_hour['heartbeats_max'])
    return {
        'backend': backend, 'rows': ROWS, 'compression': compression,
        'changes_per_minute': CHANGES_PER_MINUTE,
        'changes_sent': counts['changes'],
        'notifications_per_minute': delta_messages,
        'bytes_per_change': delta_payload / max(counts['changes'], 1),
        'envelope_bytes': envelope_bytes,
        'heartbeat_bytes': heartbeat, 'goodbyes': len(goodbyes),
        'diff_rows': len(diff['to_add']) + len(diff['to_del']),
        'per_hour': per_hour,
        'ratio_whole': per_hour['poll_whole'] / per_hour['deltas_total'],
        'ratio_diffs': per_hour['poll_diffs'] / per_hour['deltas_total'],
    }


def run(backend):
    """The figures with compression on, and off under ``'plain'``."""
    with benchlib.scratch_topic('pt_bench_traffic_') as (topic, _):
        plain = measure(backend, topic)
    with benchlib.scratch_topic('pt_bench_traffic_') as (topic, _):
        result = measure(backend, topic, compression='zlib')
    result['plain'] = plain
    return result
