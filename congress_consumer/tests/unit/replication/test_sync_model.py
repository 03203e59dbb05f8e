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

"""The synchronisation protocol against a model of the producer side.

:class:`World` is an in-memory model that follows the assumptions of
doc/source/reference/sync-protocol.rst exactly: a database whose stamp
clock rises by one per transaction (so per row commit order is stamp
order), producers numbering their records 1, 2, 3, ... and a snapshot
source whose snapshots contain exactly the transactions stamped below the
snapshot stamp (the fence). Between them sits a hostile network that
duplicates, reorders, delays and loses messages, and the consumer may be
restarted at any moment. The randomized test checks that, once every
message that was not lost has been delivered and every due resync has
run, the replica equals the database row for row. The ``test_hazard_*``
tests replay the hazards of the issue one by one.

The consumer is driven directly (no threads): :meth:`Synchronizer.handle`
for deliveries, :meth:`Synchronizer.tick` for the periodic checks and
:meth:`Synchronizer.sync_table` for due (re)syncs, as its worker would.
"""

import collections
import datetime
import decimal
import json
from unittest import mock

from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st
import testtools

from oslo_publish_tables import exceptions as pt_exceptions
from oslo_publish_tables.protocol import codec
from oslo_publish_tables.protocol import envelope

from congress_consumer.replication import replica as replica_mod
from congress_consumer.replication import sync as sync_mod

TABLES = ('t', 'u')
PK = {t: ('id',) for t in TABLES}
COLUMNS = ['id', 'val', 'price', 'at']
GAP_TIMEOUT = 1.0
PRODUCER_TIMEOUT = 5.0
HEARTBEAT = 1.0
EPOCH = datetime.datetime(2024, 1, 1)


class FakeClock(object):
    """A monotonic clock that moves a microsecond at every read."""

    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        self.now += 1e-6
        return self.now

    def advance(self, seconds):
        self.now += seconds


class Restart(Exception):
    """Raised inside a snapshot fetch: the consumer process dies."""


def make_row(key, val):
    return {'id': key, 'val': val, 'price': decimal.Decimal(val) / 4,
            'at': EPOCH + datetime.timedelta(seconds=val)}


def frozen(row):
    return tuple(sorted(row.items()))


class Database(object):
    """The published tables, the database clock and the outbox counter.

    ``clock_step`` -1 makes the clock run backwards (a stepped clock);
    ``durable`` allocates an outbox id per transaction just before its
    commit (:attr:`outbox_ids` maps stamps to them).
    """

    def __init__(self, durable=False, clock_step=1):
        self.tables = {t: {} for t in TABLES}
        self.stamp = 1700000000000000
        self.clock_step = clock_step
        self.pending = []
        self.durable = durable
        self.outbox_id = 0
        self.outbox_ids = {}

    def read_clock(self):
        self.stamp += self.clock_step
        return self.stamp

    def begin(self, writes):
        """Stamp a transaction that has not committed yet."""
        txn = (self.read_clock(), writes)
        self.pending.append(txn)
        return txn

    def commit(self, txn):
        """Commit ``txn``; return its stamp and net changes per key."""
        ts, writes = txn
        self.pending.remove(txn)
        if self.durable:
            self.outbox_id += 1
            self.outbox_ids[ts] = self.outbox_id
        before = {t: dict(rows) for t, rows in self.tables.items()}
        for table, key, val in writes:
            if val is None:
                self.tables[table].pop(key, None)
            else:
                self.tables[table][key] = make_row(key, val)
        changes = []
        for table, key in sorted({(w[0], w[1]) for w in writes}):
            old = before[table].get(key)
            new = self.tables[table].get(key)
            if old is None and new is None:
                continue
            if new is None:
                changes.append(envelope.Change(table, 'delete', {'id': key},
                                               old, []))
            else:
                op = 'insert' if old is None else 'update'
                changes.append(envelope.Change(table, op, {'id': key}, new,
                                               ['val', 'price', 'at']))
        return ts, changes

    def write(self, writes):
        return self.commit(self.begin(writes))

    def open_snapshot(self):
        """The fence: wait for writers, then read the stamp S."""
        for txn in list(self.pending):
            self.commit_hook(txn)
        return self.read_clock(), {t: dict(rows)
                                   for t, rows in self.tables.items()}

    def commit_hook(self, txn):
        raise AssertionError('uncommitted transaction %r at a snapshot'
                             % (txn,))


class Producer(object):
    """A producer process: identity, numbering, unsent records."""

    def __init__(self, number):
        self.identity = {'id': 'producer-%d' % number, 'host': 'node',
                         'pid': number, 'started': number}
        self.seq = 0
        self.buffer = []
        self.stamps = {}  # seq -> (stamp, outbox id) of every record
        self.sends_ts_before = True  # False: a producer of format < 1.3

    @property
    def pid(self):
        return self.identity['id']

    def record(self, ts, changes, outbox_id=None):
        self.seq += 1
        self.stamps[self.seq] = (ts, outbox_id or 0)
        record = envelope.txn_record(self.seq, ts, 'txn-%d' % ts, changes)
        if outbox_id is not None:
            record['outbox_id'] = outbox_id
        self.buffer.append(record)

    def marker(self, ts, tables, reason):
        self.seq += 1
        self.stamps[self.seq] = (ts, 0)
        self.buffer.append(envelope.resync_record(self.seq, ts, tables,
                                                  reason))

    def flush(self):
        """Publish the unsent records as one batch (or None)."""
        if not self.buffer:
            return None
        records, self.buffer = self.buffer, []
        return self._wire(records)

    def heartbeat(self, final=False):
        return self._wire([], final)

    def _wire(self, records, final=False):
        first = records[0]['seq'] if records else self.seq + 1
        before = [v for seq, v in self.stamps.items() if seq < first]
        ts_before = outbox_before = None
        if self.sends_ts_before:
            ts_before = max([ts for ts, _ in before], default=0)
            outbox_before = max([i for _, i in before], default=0) or None
        return json.dumps(envelope.batch(
            self.identity, self.seq, records, HEARTBEAT, final=final,
            ts_before=ts_before, outbox_before=outbox_before))


class SnapshotSource(object):
    """open/fetch/close like DirectSnapshotSource, frozen at open()."""

    def __init__(self, world):
        self.world = world
        self.snaps = {}
        self.count = 0
        self.opened = []
        self.between = None
        self.fail_open = False
        self.fail_fetch = False

    def open(self, table):
        if self.fail_open:
            self.fail_open = False
            raise OSError('snapshot service unreachable')
        self.count += 1
        sid = 'snap-%d' % self.count
        db = self.world.db
        ts, tables = db.open_snapshot()
        self.snaps[sid] = [codec.encode_row(row) for _key, row
                           in sorted(tables[table].items())]
        self.opened.append(table)
        opened = {'id': sid, 'ts': ts, 'columns': list(COLUMNS),
                  'pk': ['id']}
        if db.durable:
            opened['outbox_id'] = db.outbox_id
        return opened

    def fetch(self, sid, max_rows):
        if self.between is not None:
            self.between()
        if self.fail_fetch:
            self.fail_fetch = False
            raise OSError('snapshot connection lost')
        rows = self.snaps[sid]
        chunk, self.snaps[sid] = rows[:max_rows], rows[max_rows:]
        if not chunk:
            del self.snaps[sid]
        return {'rows': chunk, 'done': not chunk}

    def close(self, sid):
        self.snaps.pop(sid, None)


class World(object):
    """Producers, database, network and one consumer, all in memory."""

    def __init__(self, producers=2, tombstone_ttl=600.0, durable=False,
                 clock_step=1):
        self.clock = FakeClock()
        self.db = Database(durable, clock_step)
        self.db.commit_hook = self._commit_pending
        self.producers = [Producer(n) for n in range(producers)]
        self.next_producer = producers
        self.net = []
        self.held = []
        self.tombstone_ttl = tombstone_ttl
        self.source = SnapshotSource(self)
        self.pending_records = []
        self.lost = []
        self.restarts = 0
        self.new_consumer()

    # -- consumer --------------------------------------------------------

    def new_consumer(self):
        self.sync = sync_mod.Synchronizer(
            TABLES, PK, self.source, listener=self._listen,
            gap_timeout=GAP_TIMEOUT, producer_timeout=PRODUCER_TIMEOUT,
            tombstone_ttl=self.tombstone_ttl, chunk_rows=3,
            clock=self.clock, min_resync_interval=0.0)
        self.mirror = {t: collections.Counter() for t in TABLES}
        self.calls = []
        self.baseline = {}
        self.announced = {}
        self.recent = collections.deque(maxlen=8)

    def restart_consumer(self, redeliver=0):
        """Drop the consumer; unacked messages come back to the new one."""
        self.restarts += 1
        self.lost = []
        back = list(self.recent)[len(self.recent) - redeliver:]
        self.net[0:0] = back if redeliver else []
        self.new_consumer()

    def _listen(self, table, old, new):
        self.calls.append((table, old, new))
        mirror = self.mirror[table]
        if old is not None:
            if mirror[frozen(old)] <= 0:
                raise AssertionError('listener removed absent row %r'
                                     % (old,))
            mirror[frozen(old)] -= 1
            if not mirror[frozen(old)]:
                del mirror[frozen(old)]
        if new is not None:
            mirror[frozen(new)] += 1

    def deliver(self, wire):
        payload = json.loads(wire)
        batch = envelope.parse(payload)
        pid = batch.producer['id']
        if pid not in self.baseline:
            seqs = [r.seq for r in batch.records]
            self.baseline[pid] = min(seqs) if seqs else batch.last_seq + 1
        self.sync.handle(batch)
        self.announced[pid] = max(self.announced.get(pid, 0),
                                  batch.last_seq)
        self.recent.append(wire)

    def due(self):
        return [t for t, s in self.sync.status.items()
                if s.started is None or s.started < s.requested]

    def run_syncs(self):
        """Run the worker's due (re)syncs; return how many loaded."""
        loaded = 0
        for table in self.due():
            try:
                self.sync.sync_table(table)
                loaded += 1
            except (OSError, pt_exceptions.SnapshotError):
                # SnapshotError: an empty snapshot awaiting confirmation.
                self.sync.counts['snapshot_failures'] += 1
        return loaded

    def tick(self, seconds, heartbeat=True):
        if heartbeat:
            self.heartbeats()
        self.clock.advance(seconds)
        self.sync.tick()

    # -- producers and network -------------------------------------------

    def producer(self, index):
        return self.producers[index % len(self.producers)]

    def txn(self, index, writes, send=True):
        """Commit ``writes`` [(table, key, val or None)] via a producer."""
        producer = self.producer(index)
        ts, changes = self.db.write(writes)
        if changes:
            producer.record(ts, changes, self.db.outbox_ids.get(ts))
        if send:
            self.send(producer)
        return ts

    def uncaptured(self, index, table, key, val):
        """A write the capture cannot analyse: a resync marker instead."""
        producer = self.producer(index)
        ts, _changes = self.db.write([(table, key, val)])
        producer.marker(ts, [table], 'text() statement')
        self.send(producer)

    def _commit_pending(self, txn):
        ts, changes = self.db.commit(txn)
        self.pending_records.append((ts, changes))

    def send(self, producer):
        wire = producer.flush()
        if wire is not None:
            self.net.append(wire)
        return wire

    def heartbeats(self):
        for producer in self.producers:
            self.send(producer)
            self.net.append(producer.heartbeat())

    def restart_producer(self, index, mode='goodbye'):
        """A producer restarts: a new identity numbering from 1.

        ``goodbye``: a clean stop. ``silent``: it publishes what it has
        and stops without goodbye. ``crash``: it dies between COMMIT and
        publishing, its unsent records are gone.
        """
        old = self.producer(index)
        if mode == 'crash':
            if old.buffer:     # only a silence check can reveal these
                self.lost.append((old.pid, float('inf')))
            old.buffer = []
        else:
            self.send(old)
        if mode == 'goodbye':
            self.net.append(old.heartbeat(final=True))
        new = Producer(self.next_producer)
        self.next_producer += 1
        self.producers[self.producers.index(old)] = new
        return new

    def lose(self, start):
        """Lose the first message from ``net[start]`` on that may be lost.

        Messages carrying records are preferred to heartbeats.
        """
        order = sorted(range(start, len(self.net)),
                       key=lambda i: '"records": []' in self.net[i])
        for index in order:
            wire = self.net[index]
            if self.may_lose(wire):
                del self.net[index]
                payload = json.loads(wire)
                if payload['records']:
                    self.lost.append(
                        (payload['producer']['id'],
                         max(r['seq'] for r in payload['records'])))
                return

    def may_lose(self, wire):
        """True if losing ``wire`` is within the protocol's assumptions.

        A record numbered below the first number this consumer got from
        its producer may be lost too: the first message says the highest
        stamp before it (``ts_before``). A producer the consumer does not
        track (given up for silent and not heard since) cannot be found
        silent if it never sends again, nor can one never heard that
        stopped; one never heard that still runs will be heard.
        """
        payload = json.loads(wire)
        seqs = [r['seq'] for r in payload['records']]
        pid = payload['producer']['id']
        if not seqs:
            return True
        if pid not in self.baseline:
            return pid in [p.pid for p in self.producers]
        return self.tracked(pid)

    def tracked(self, pid):
        return pid in self.sync.tracker._producers

    def may_crash(self, index):
        """A crash loses unsent records: only detectable if tracked."""
        return self.tracked(self.producer(index).pid)

    # -- convergence -----------------------------------------------------

    def settle(self):
        """Deliver everything, let every check and resync run.

        Returns the tables that still diverged before silent producers
        could be given up, although every lost record had been
        announced by a later message: gap detection alone must have
        repaired those (the final resync for a silent producer would
        otherwise hide a missed gap).
        """
        self.source.between = None
        tracker = self.sync.tracker
        timeout, tracker.producer_timeout = (tracker.producer_timeout,
                                             float('inf'))
        self._rounds(2)
        tracker.producer_timeout = timeout
        early = self.diverging() if self.losses_announced() else []
        self._rounds(int(PRODUCER_TIMEOUT / GAP_TIMEOUT) + 3)
        return early

    def losses_announced(self):
        """True if every record this consumer lost was announced since."""
        return all(self.announced.get(pid, 0) >= seq
                   for pid, seq in self.lost)

    def _rounds(self, count):
        for _round in range(count):
            self.net.extend(self.held)
            self.held = []
            self.heartbeats()
            while self.net:
                self.deliver(self.net.pop(0))
            self.tick(GAP_TIMEOUT + 0.1, heartbeat=False)
            while self.due():
                self.run_syncs()

    def diverging(self):
        return [t for t in TABLES if self.replica_rows(t) != self.db_rows(t)]

    def db_rows(self, table):
        return {(k,): row for k, row in self.db.tables[table].items()}

    def replica_rows(self, table):
        return dict(self.sync.replicas[table].rows)


class WorldTestMixin(object):

    def deliver_all(self, world):
        while world.net:
            world.deliver(world.net.pop(0))

    def assertConverged(self, world):
        for table in TABLES:
            self.assertEqual(world.db_rows(table), world.replica_rows(table),
                             'table %s diverges' % table)
            self.assertEqual(
                collections.Counter(frozen(r) for r in
                                    world.replica_rows(table).values()),
                world.mirror[table], 'listener calls of %s' % table)
            self.assertEqual(sync_mod.LIVE, world.sync.status[table].state)
        self.assertEqual([], world.due())

    def live_world(self, **kwargs):
        """A world with some rows and a consumer that is LIVE."""
        world = World(**kwargs)
        world.txn(0, [('t', 1, 1), ('t', 2, 1), ('u', 1, 1)])
        world.txn(1, [('t', 3, 1), ('u', 2, 1)])
        for wire in world.net:
            world.deliver(wire)
        world.net = []
        world.run_syncs()
        self.assertConverged(world)
        return world


# -- the randomized model test ------------------------------------------

_WRITE = st.tuples(st.sampled_from(TABLES), st.integers(0, 4),
                   st.one_of(st.none(), st.integers(0, 3)))
_OP_STRATEGIES = {
    'txn': st.tuples(st.just('txn'), st.integers(0, 3),
                     st.lists(_WRITE, min_size=1, max_size=3),
                     st.booleans()),
    'deliver': st.tuples(st.just('deliver'), st.integers(1, 6),
                         st.integers(1, 4)),
    'send': st.tuples(st.just('send'), st.integers(0, 3)),
    'dup': st.tuples(st.just('dup'), st.integers(0, 7)),
    'hold': st.tuples(st.just('hold'), st.integers(0, 7)),
    'release': st.tuples(st.just('release'), st.integers(0, 3)),
    'lose': st.tuples(st.just('lose'), st.integers(0, 7)),
    'tick': st.tuples(st.just('tick'),
                      st.sampled_from([0.2, 0.6, 1.3, 0.2, 0.6, 6.0]),
                      st.sampled_from([True, True, True, False])),
    'stall': st.tuples(st.just('stall')),
    'sync': st.tuples(st.just('sync'), st.integers(0, 6),
                      st.sampled_from([0, 0, 0, 1, 2])),
    'marker': st.tuples(st.just('marker'), st.integers(0, 3), _WRITE),
    'restart_consumer': st.tuples(st.just('restart_consumer'),
                                  st.integers(0, 4)),
    'restart_producer': st.tuples(
        st.just('restart_producer'), st.integers(0, 3),
        st.sampled_from(['goodbye', 'silent', 'crash'])),
}
_OP_WEIGHTS = {'txn': 16, 'deliver': 16, 'send': 1, 'dup': 3, 'hold': 2,
               'stall': 3, 'release': 3, 'lose': 5, 'tick': 6, 'sync': 6,
               'marker': 1, 'restart_consumer': 1, 'restart_producer': 2}
OPS = st.sampled_from(
    [kind for kind, weight in sorted(_OP_WEIGHTS.items())
     for _ in range(weight)]).flatmap(_OP_STRATEGIES.__getitem__)


class Simulation(object):
    """Runs a list of operations against a :class:`World`.

    ``txn`` commits writes through a producer (``send``: publish now);
    ``marker`` is an uncaptured write announced by a resync marker;
    ``deliver`` hands messages to the consumer, taking the n-th oldest
    (reordering); ``dup`` redelivers a delivered message; ``hold`` and
    ``stall`` set a message aside until ``release`` or the end (late
    delivery); ``lose`` drops a message the protocol can miss; ``tick``
    lets time pass (with heartbeats) and runs the periodic checks;
    ``sync`` runs the due (re)syncs, running the next operations between
    snapshot fetches and possibly failing; ``restart_consumer`` replaces
    the consumer (redelivering unacked messages), also in mid-load;
    ``restart_producer`` gives a producer a new identity after a
    goodbye, a silent stop or a crash.
    """

    def __init__(self, world, ops):
        self.world = world
        self.ops = list(ops)
        self.pos = 0
        self.restart_pending = None

    def run(self):
        while self.pos < len(self.ops):
            op = self.ops[self.pos]
            self.pos += 1
            self.step(op, inner=False)
        return self.world.settle()

    def _between(self, count):
        def between():
            for _ in range(count):
                if self.pos >= len(self.ops):
                    return
                op = self.ops[self.pos]
                self.pos += 1
                self.step(op, inner=True)
                if self.restart_pending is not None:
                    raise Restart()
        return between

    def step(self, op, inner):
        world = self.world
        kind = op[0]
        if kind == 'txn':
            world.txn(op[1], list(op[2]), send=op[3])
        elif kind == 'marker':
            table, key, val = op[2]
            world.uncaptured(op[1], table, key, val)
        elif kind == 'send':
            world.send(world.producer(op[1]))
        elif kind == 'deliver':
            for _ in range(op[1]):
                if not world.net:
                    break
                index = min(op[2], len(world.net)) - 1
                world.deliver(world.net.pop(index))
        elif kind == 'dup':
            if world.recent:
                world.deliver(world.recent[op[1] % len(world.recent)])
        elif kind == 'hold':
            if world.net:
                world.held.append(world.net.pop(op[1] % len(world.net)))
        elif kind == 'stall':   # the newest message is held up
            if world.net:
                world.held.append(world.net.pop())
        elif kind == 'release':
            if world.held:
                world.deliver(world.held.pop(op[1] % len(world.held)))
        elif kind == 'lose':
            if world.net:
                world.lose(op[1] % len(world.net))
        elif kind == 'tick':
            if inner:   # the worker is busy loading: time passes only
                world.heartbeats()
                world.clock.advance(op[1])
            else:
                world.tick(op[1], heartbeat=op[2])
        elif kind == 'sync':
            if not inner:
                self._sync(op[1], op[2])
        elif kind == 'restart_consumer':
            if inner:
                self.restart_pending = op[1]
            else:
                world.restart_consumer(op[1])
        elif kind == 'restart_producer':
            if op[2] == 'goodbye' or world.may_crash(op[1]):
                world.restart_producer(op[1], op[2])
            else:
                world.restart_producer(op[1], 'goodbye')
        else:
            raise AssertionError('unknown op %r' % (op,))

    def _sync(self, between, fail):
        world = self.world
        world.source.between = self._between(between) if between else None
        world.source.fail_open = fail == 1
        world.source.fail_fetch = fail == 2
        try:
            world.run_syncs()
        except Restart:
            redeliver, self.restart_pending = self.restart_pending, None
            world.restart_consumer(redeliver)
        finally:
            world.source.between = None
            world.source.fail_open = world.source.fail_fetch = False


class ModelTest(testtools.TestCase, WorldTestMixin):

    @settings(max_examples=150, deadline=None)
    @given(ops=st.lists(OPS, min_size=20, max_size=80),
           ttl=st.sampled_from([600.0, 5e-6]))
    def test_replica_converges_to_database(self, ops, ttl):
        world = World(tombstone_ttl=ttl)
        early = Simulation(world, ops).run()
        self.assertEqual([], early, 'a gap was not repaired in time')
        self.assertConverged(world)

    @settings(max_examples=100, deadline=None)
    @given(ops=st.lists(OPS, min_size=20, max_size=80),
           ttl=st.sampled_from([600.0, 5e-6]))
    def test_outbox_ids_order_changes_whatever_the_clock_does(self, ops,
                                                              ttl):
        # Durable mode: the database clock runs backwards, so stamps
        # order nothing; outbox ids alone must keep the replica exact.
        world = World(tombstone_ttl=ttl, durable=True, clock_step=-1)
        early = Simulation(world, ops).run()
        self.assertEqual([], early, 'a gap was not repaired in time')
        self.assertConverged(world)
        for table in TABLES:
            self.assertEqual(replica_mod.OUTBOX,
                             world.sync.replicas[table].order)

    def _updates_under_a_backwards_clock(self, durable):
        world = self.live_world(durable=durable, clock_step=-1)
        for val in (5, 6, 7):
            world.txn(val, [('t', 1, val)])
        self.deliver_all(world)
        return world

    def test_backwards_clock_breaks_stamps_not_outbox_ids(self):
        # Without outbox ids the newest change (the lowest stamp) loses.
        self.assertEqual(['t'], self._updates_under_a_backwards_clock(
            durable=False).diverging())
        self.assertConverged(self._updates_under_a_backwards_clock(
            durable=True))

    def test_a_change_without_outbox_id_turns_the_table_to_stamps(self):
        world = self.live_world(durable=True)
        self.assertEqual(replica_mod.OUTBOX, world.sync.replicas['t'].order)
        world.txn(0, [('t', 1, 3), ('u', 1, 3)])
        producer = world.producer(1)          # one without the outbox
        ts, changes = world.db.write([('t', 2, 3)])
        producer.record(ts, changes)
        world.send(producer)
        world.txn(0, [('t', 3, 3)])
        self.deliver_all(world)
        self.assertEqual(replica_mod.STAMP, world.sync.replicas['t'].order)
        self.assertEqual(replica_mod.OUTBOX, world.sync.replicas['u'].order)
        self.assertEqual(['t'], world.due())
        self.assertEqual(1, world.sync.counts['reordered'])
        world.run_syncs()
        self.assertConverged(world)

    def test_a_snapshot_without_outbox_id_is_not_loaded_but_retaken(self):
        world = World(durable=True)
        world.txn(0, [('t', 1, 1), ('u', 1, 1)])
        self.deliver_all(world)               # decides: outbox ids
        world.db.durable = False               # snapshots lose the mark
        world.txn(0, [('t', 2, 1)])
        world.run_syncs()                      # both refused, due again
        self.assertEqual(replica_mod.STAMP, world.sync.replicas['t'].order)
        self.assertEqual(0, world.sync.replicas['t'].counts['snapshots'])
        world.run_syncs()
        self.deliver_all(world)
        self.assertConverged(world)

    def _reordered_updates(self, sabotage):
        world = self.live_world()
        ops = [('txn', 0, [('t', 1, 2)], True),
               ('txn', 1, [('t', 1, 3)], True),
               ('deliver', 2, 2)]      # the second one first

        def last_delivered_wins(rep, op, pk, row, ts, version=None):
            if op == 'delete':
                rep._delete(rep.key(pk), ts, ts)
            else:
                rep._put(rep.key(pk), row, ts, ts)
            return replica_mod.APPLIED

        if sabotage:
            with mock.patch.object(replica_mod.TableReplica, 'apply',
                                   last_delivered_wins):
                Simulation(world, ops).run()
        else:
            Simulation(world, ops).run()
        return world

    def test_model_detects_a_broken_consumer(self):
        # The model can fail: with the version rule reduced to "last
        # delivered wins", reordering leaves a stale row behind.
        self.assertEqual(['t'], self._reordered_updates(True).diverging())
        self.assertConverged(self._reordered_updates(False))

    def test_simulation_exercises_every_operation(self):
        ops = [('txn', 0, [('t', 1, 1), ('u', 2, 2)], True),
               ('txn', 1, [('t', 1, None)], False),
               ('send', 1), ('hold', 0), ('deliver', 3, 2), ('dup', 0),
               ('txn', 1, [('u', 3, 1)], True), ('stall',),
               ('marker', 0, ('u', 5, 1)),
               ('sync', 2, 2), ('txn', 0, [('t', 4, 1)], True),
               ('tick', 0.2, True), ('lose', 0), ('release', 0),
               ('tick', 1.3, True), ('sync', 2, 0),
               ('txn', 0, [('t', 5, 1)], True),
               ('restart_consumer', 1), ('deliver', 2, 1),
               ('sync', 3, 1), ('sync', 1, 0),
               ('txn', 1, [('u', 6, 3)], True),
               ('restart_consumer', 2), ('tick', 6.0, False),
               ('restart_producer', 0, 'crash'),
               ('restart_producer', 1, 'goodbye'),
               ('restart_producer', 1, 'silent'),
               ('txn', 0, [('t', 6, 0)], True)]
        world = World(tombstone_ttl=30e-6)
        self.assertEqual([], Simulation(world, ops).run())
        self.assertConverged(world)
        self.assertGreater(world.source.count, 4)
        self.assertGreater(world.restarts, 0)


# -- the hazards of the issue, one by one --------------------------------


class HazardTest(testtools.TestCase, WorldTestMixin):

    # 1. A transaction that commits after the snapshot began, stamped
    #    before the snapshot stamp.

    def _fenced_commit(self, deliver_during_load):
        world = self.live_world()
        calls = len(world.calls)
        txn = world.db.begin([('t', 7, 2), ('t', 1, None)])
        world.sync.request_resync(['t'], 'test')
        producer = world.producer(0)

        def publish():
            # The fence committed it; the producer publishes it now.
            for ts, changes in world.pending_records:
                producer.record(ts, changes, world.db.outbox_ids.get(ts))
            world.pending_records = []
            world.send(producer)
            if deliver_during_load:
                self.deliver_all(world)

        world.source.between = publish
        world.run_syncs()
        world.source.between = None
        self.deliver_all(world)
        snapshot_ts = world.sync.replicas['t'].floor
        self.assertLess(txn[0], snapshot_ts)
        self.assertConverged(world)
        # In the snapshot and in the stream: neither lost nor doubled.
        inserted = [new for table, old, new in world.calls[calls:]
                    if new is not None and new['id'] == 7]
        self.assertEqual([make_row(7, 2)], inserted)
        return world, world.sync.replicas['t']

    def test_hazard_1_commit_inside_fence_delivered_during_load(self):
        world, replica = self._fenced_commit(deliver_during_load=True)
        self.assertIn((7,), replica.rows)
        self.assertNotIn((1,), replica.rows)

    def test_hazard_1_commit_inside_fence_delivered_after_load(self):
        world, replica = self._fenced_commit(deliver_during_load=False)
        self.assertEqual(2, replica.counts['late'])
        self.assertEqual(replica.floor, replica.versions[(7,)])

    def _stale_insert_after_resync(self, disable_floor):
        world = self.live_world()
        # A stalled producer holds an insert of key 6; another producer
        # deletes the row; then the table is resynced.
        world.txn(0, [('t', 6, 1)])
        stale = world.net.pop()
        world.txn(1, [('t', 6, None)])
        self.deliver_all(world)
        self.assertEqual({(6,): world.db.stamp},
                         world.sync.replicas['t'].tombstones)
        world.sync.request_resync(['t'], 'test')
        world.run_syncs()
        replica = world.sync.replicas['t']
        self.assertEqual({}, replica.tombstones)   # swept: <= S, absent
        if disable_floor:
            replica.floor = None
        world.deliver(stale)
        return world

    def test_hazard_1_floor_prevents_stale_regress(self):
        world = self._stale_insert_after_resync(disable_floor=False)
        self.assertConverged(world)
        self.assertEqual(1, world.sync.replicas['t'].counts['late'])

    def test_hazard_1_without_floor_the_stale_insert_regresses(self):
        # Control: the same deliveries with the floor rule switched off
        # resurrect the deleted row.
        world = self._stale_insert_after_resync(disable_floor=True)
        self.assertEqual(['t'], world.diverging())
        self.assertIn((6,), world.replica_rows('t'))

    # 2. A late delta for a row a newer change already overwrote.

    def test_hazard_2_late_update_does_not_regress(self):
        world = self.live_world()
        world.txn(0, [('t', 1, 2)])
        late = world.net.pop()
        world.txn(1, [('t', 1, 3)])
        self.deliver_all(world)
        world.deliver(late)
        self.assertEqual(make_row(1, 3), world.replica_rows('t')[(1,)])
        self.assertEqual(1, world.sync.replicas['t'].counts['late'])
        world.tick(0.5)
        self.deliver_all(world)
        world.tick(0.6)
        self.assertEqual([], world.due())
        self.assertConverged(world)

    def test_hazard_2_late_update_does_not_resurrect_deleted_row(self):
        world = self.live_world()
        world.txn(0, [('t', 2, 3)])
        late = world.net.pop()
        world.txn(1, [('t', 2, None)])
        self.deliver_all(world)
        world.deliver(late)
        self.assertNotIn((2,), world.replica_rows('t'))
        self.assertConverged(world)

    def test_hazard_2_late_delta_older_than_snapshot(self):
        world = self.live_world()
        world.txn(0, [('u', 1, 3)])
        late = world.net.pop()
        world.txn(1, [('u', 1, 2)])
        world.sync.request_resync(['u'], 'test')
        world.run_syncs()
        self.deliver_all(world)
        world.deliver(late)
        self.assertEqual(make_row(1, 2), world.replica_rows('u')[(1,)])
        self.assertConverged(world)

    # 3. Duplicates and reordering.

    def test_hazard_3_duplicates_and_reordering_converge(self):
        world = self.live_world()
        for val in range(2, 6):
            world.txn(val % 2, [('t', 1, val), ('t', 2, val),
                                ('u', val, val)])
            world.txn(val % 2, [('t', val, None), ('u', 1, val)])
        wires = list(world.net)
        world.net = []
        for wire in reversed(wires):
            world.deliver(wire)
            world.deliver(wire)
        for wire in wires:
            world.deliver(wire)
        world.tick(0.5)
        self.deliver_all(world)
        world.tick(GAP_TIMEOUT)
        self.assertEqual([], world.due())
        self.assertEqual(0, world.sync.tracker.gaps)
        self.assertConverged(world)
        counts = (world.sync.replicas['t'].counts
                  + world.sync.replicas['u'].counts)
        self.assertGreater(counts['duplicate'], 0)
        self.assertGreater(counts['late'], 0)

    # 4. Lost records: every gap is detected and resynced.

    def test_hazard_4_every_gap_is_detected_and_resynced(self):
        world = self.live_world()
        for number in range(1, 4):
            world.txn(0, [('t', number, number + 10)])
            lost = world.net.pop()
            self.assertTrue(world.may_lose(lost))
            world.txn(0, [('u', number, number + 10)])
            self.deliver_all(world)
            self.assertEqual(['t'], world.diverging())
            world.tick(GAP_TIMEOUT / 2)
            self.deliver_all(world)
            self.assertEqual([], world.due())
            world.tick(GAP_TIMEOUT / 2 + 0.1)
            self.assertEqual(number, world.sync.tracker.gaps)
            self.assertEqual(sync_mod.RESYNCING,
                             world.sync.status['t'].state)
            self.assertEqual(['t', 'u'], sorted(world.due()))
            world.run_syncs()
            self.assertConverged(world)
            self.assertEqual(number,
                             world.sync.table_status('t')['resyncs'])

    def test_hazard_4_heartbeat_reveals_a_lost_last_record(self):
        world = self.live_world()
        world.txn(1, [('u', 5, 1)])
        world.net.pop()
        world.tick(0.1)         # heartbeats announce the lost number
        self.deliver_all(world)
        world.tick(GAP_TIMEOUT)
        self.assertEqual(1, world.sync.tracker.gaps)
        world.run_syncs()
        self.assertConverged(world)

    # 5. Producers restarting, appearing and vanishing.

    def test_hazard_5_restarted_producer_has_a_new_identity(self):
        world = self.live_world()
        new = world.restart_producer(0, 'goodbye')
        self.assertEqual(0, new.seq)
        world.txn(0, [('t', 4, 1)])
        world.txn(0, [('t', 5, 1)])
        lost = world.net.pop()
        world.txn(0, [('t', 6, 1)])
        self.deliver_all(world)
        self.assertTrue(world.may_lose(lost))
        world.tick(GAP_TIMEOUT + 0.1)
        self.deliver_all(world)
        self.assertEqual(1, world.sync.tracker.gaps)
        world.run_syncs()
        self.assertConverged(world)

    def test_hazard_5_new_producer_appearing_is_no_gap(self):
        world = self.live_world()
        # A producer that published 1..3 before the consumer listened:
        # their changes are in the snapshot.
        world.producers.append(Producer(9))
        for key in (4, 5, 6):
            world.txn(2, [('t', key, 1)])
        world.net = world.net[:-3]
        world.sync.request_resync(None, 'start')
        world.run_syncs()
        world.txn(2, [('t', 4, 2)])
        self.deliver_all(world)
        world.tick(GAP_TIMEOUT + 0.1)
        self.deliver_all(world)
        world.tick(GAP_TIMEOUT + 0.1)
        self.assertEqual(0, world.sync.tracker.gaps)
        self.assertEqual([], world.due())
        self.assertConverged(world)

    def _first_message_lost(self, world, sends_ts_before=True):
        """A new producer's first record is lost; its second arrives."""
        world.producers.append(Producer(9))
        world.producers[2].sends_ts_before = sends_ts_before
        world.txn(2, [('t', 4, 1)])
        world.net.pop()  # lost: the consumer never heard producer 9
        world.txn(2, [('t', 5, 1)])
        self.deliver_all(world)

    def test_hazard_5_record_lost_before_first_heard_is_resynced(self):
        # Its number says nothing (the first heard is the baseline); its
        # stamp, in the next message's ts_before, is after the fence.
        world = self.live_world()
        self._first_message_lost(world)
        self.assertEqual(['t'], world.diverging())
        self.assertNotEqual(sync_mod.LIVE, world.sync.status['t'].state)
        self.assertEqual(['t', 'u'], sorted(world.due()))
        world.run_syncs()
        self.assertConverged(world)
        self.assertEqual(0, world.sync.tracker.gaps)
        self.assertEqual(2, world.sync.counters()['unproven_baselines'])

    def test_hazard_5_producer_without_ts_before_is_unproven(self):
        world = self.live_world()
        self._first_message_lost(world, sends_ts_before=False)
        self.assertEqual(['t', 'u'], sorted(world.due()))
        world.run_syncs()
        self.assertConverged(world)

    def test_hazard_5_first_heard_while_the_snapshot_opens(self):
        # Heard after the fence but before the load began: the load
        # itself finds the baseline unproven and takes another snapshot.
        world = World()
        world.txn(0, [('t', 1, 1), ('u', 1, 1)])
        self.deliver_all(world)
        opened = world.source.open

        def open_then_hear(table):
            world.source.open = opened
            snap = opened(table)
            self._first_message_lost(world)
            return snap
        world.source.open = open_then_hear
        world.run_syncs()  # the first snapshots: no fence known before
        self.assertEqual(['t'], world.due())
        world.run_syncs()
        self.assertConverged(world)

    def test_hazard_5_producer_vanishing_without_goodbye(self):
        world = self.live_world()
        world.txn(0, [('t', 4, 1)], send=False)
        world.restart_producer(0, 'crash')      # died before sending
        self.assertEqual(['t'], world.diverging())
        for _ in range(int(PRODUCER_TIMEOUT / GAP_TIMEOUT) - 1):
            world.tick(GAP_TIMEOUT)
            self.deliver_all(world)
            self.assertEqual([], world.due())
        world.tick(GAP_TIMEOUT + 0.1)
        self.assertEqual(1, world.sync.tracker.vanished)
        self.assertIn('silent',
                      world.sync.table_status('t')['last_resync_reasons'][-1])
        world.run_syncs()
        self.assertConverged(world)

    # 6. A consumer restart.

    def test_hazard_6_consumer_restart_converges(self):
        world = self.live_world()
        world.txn(0, [('t', 1, 3), ('u', 3, 1)])
        world.txn(1, [('t', 2, None)])
        self.deliver_all(world)
        world.txn(0, [('t', 5, 2)])     # in the queue over the restart
        world.restart_consumer(redeliver=2)
        self.assertEqual({}, world.replica_rows('t'))
        world.txn(1, [('u', 1, 3)])

        def during_load():
            world.txn(0, [('t', 1, 0), ('u', 6, 1)])
            self.deliver_all(world)

        world.source.between = during_load
        world.run_syncs()
        world.source.between = None
        self.deliver_all(world)
        world.tick(GAP_TIMEOUT + 0.1)
        self.deliver_all(world)
        world.tick(0.1)
        self.assertEqual([], world.due())
        self.assertConverged(world)

    def test_hazard_6_consumer_restart_during_a_load(self):
        world = self.live_world()
        world.sync.request_resync(None, 'test')
        ops = [('sync', 1, 0), ('txn', 0, [('t', 1, 0)], True),
               ('restart_consumer', 3), ('txn', 1, [('u', 2, None)], True),
               ('deliver', 5, 1), ('sync', 2, 0)]
        Simulation(world, ops).run()
        self.assertEqual(1, world.restarts)
        self.assertConverged(world)

    # 7. Resync markers.

    def test_hazard_7_marker_resyncs_the_named_table_only(self):
        world = self.live_world()
        del world.source.opened[:]
        world.uncaptured(0, 'u', 2, 3)
        self.deliver_all(world)
        self.assertEqual(['u'], world.diverging())
        self.assertEqual(['u'], world.due())
        self.assertEqual(sync_mod.RESYNCING, world.sync.status['u'].state)
        self.assertEqual(sync_mod.LIVE, world.sync.status['t'].state)
        world.run_syncs()
        self.assertEqual(['u'], world.source.opened)
        self.assertEqual(0, world.sync.tracker.gaps)
        self.assertConverged(world)
        self.assertEqual('marker: text() statement',
                         world.sync.table_status('u')['last_resync_reasons']
                         [-1])

    def test_hazard_7_marker_during_load_resyncs_again(self):
        world = self.live_world()
        world.sync.request_resync(['u'], 'test')

        def during_load():
            world.source.between = None
            world.uncaptured(1, 'u', 1, None)
            self.deliver_all(world)

        world.source.between = during_load
        world.run_syncs()
        self.assertEqual(['u'], world.due())
        self.assertEqual(sync_mod.RESYNCING, world.sync.status['u'].state)
        world.run_syncs()
        self.assertConverged(world)


class SnapshotFailureTest(testtools.TestCase, WorldTestMixin):

    def test_failed_snapshot_is_retried(self):
        for attempt in ('fail_open', 'fail_fetch'):
            world = World()
            world.txn(0, [('t', 1, 1)])
            setattr(world.source, attempt, True)
            self.assertEqual(1, world.run_syncs())   # u loaded, t failed
            self.assertEqual(['t'], world.due())
            self.assertEqual(sync_mod.SYNCING, world.sync.status['t'].state)
            self.assertEqual(1, world.run_syncs())
            self.deliver_all(world)
            self.assertConverged(world)

    def test_purged_tombstone_then_late_change_resyncs(self):
        world = self.live_world(tombstone_ttl=5e-6)
        world.txn(0, [('t', 1, 3)])
        late = world.net.pop()
        world.txn(1, [('t', 1, None)])
        for val in range(10):
            world.txn(1, [('t', 2, val)])
        self.deliver_all(world)
        world.tick(0.1)     # purges the tombstone of t/1
        self.assertGreater(world.sync.replicas['t'].purge_floor, 0)
        world.deliver(late)
        self.assertEqual(1, world.sync.replicas['t'].counts['unresolvable'])
        self.assertEqual(['t'], world.due())
        world.run_syncs()
        self.deliver_all(world)
        world.tick(0.1)
        self.assertConverged(world)
