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

"""Verifier decisions and the replica's partial load, without a database."""

import testtools

from congress_consumer import exceptions
from congress_consumer.replication import replica as replica_mod
from congress_consumer.replication import sync
from congress_consumer.replication import verification


class _NoChecksums(object):
    """A snapshot source from before verification (open/fetch/close)."""

    def open(self, table):
        return {'id': 's', 'ts': 100, 'columns': ['id', 'v'], 'pk': ['id']}

    def fetch(self, snapshot_id, max_rows):
        return {'rows': [], 'done': True}

    def close(self, snapshot_id):
        pass


class _Opened(_NoChecksums):
    def __init__(self):
        self.closed = []

    def open_checksum(self, table, chunks):
        return {'id': 'c', 'ts': 100, 'columns': ['id', 'v'], 'pk': ['id'],
                'chunks': chunks}

    def close(self, snapshot_id):
        self.closed.append(snapshot_id)


def _synchronizer(source):
    synchronizer = sync.Synchronizer(['t'], {'t': ['id']}, source)
    synchronizer.sync_table('t')
    return synchronizer


class VerifierTest(testtools.TestCase):

    def test_unverifiable_tables_say_why(self):
        synchronizer = sync.Synchronizer(['t'], {'t': ['id']},
                                         _NoChecksums())
        verifier = verification.Verifier(synchronizer, _NoChecksums(), 'ds')
        found = verifier.verify_table('t')
        self.assertEqual({'verified': False,
                          'reason': 'the table is SYNCING, not LIVE'}, found)
        synchronizer.sync_table('t')
        found = verifier.verify_table('t')
        self.assertIn('cannot compute checksums', found['reason'])
        self.assertEqual(found['reason'],
                         verifier.table_status('t')['unverifiable'])
        self.assertEqual(0, verifier.table_status('t')['verifications'])

    def test_outbox_ordered_table_needs_the_snapshot_mark(self):
        source = _Opened()
        synchronizer = _synchronizer(source)
        synchronizer.replicas['t'].order = replica_mod.OUTBOX
        verifier = verification.Verifier(synchronizer, source, 'ds')
        found = verifier.verify_table('t')
        self.assertIn('no outbox mark', found['reason'])
        self.assertEqual(['c'], source.closed)

    def test_arguments_are_checked(self):
        synchronizer = _synchronizer(_Opened())
        verifier = verification.Verifier.from_args(
            synchronizer, _Opened(), 'ds', {'verify_interval': '0',
                                            'gap_timeout': 2})
        self.assertEqual((0.0, 20000.0, 1000, 2.0),
                         (verifier.pace.interval,
                          verifier.pace.rows_per_second,
                          verifier.pace.chunk_rows, verifier.pace.settle))
        for bad in ({'verify_interval': -1}, {'verify_chunk_rows': 0},
                    {'verify_rows_per_second': 'fast'}):
            exc = self.assertRaises(
                exceptions.InvalidParamError,
                verification.Verifier.from_args, synchronizer, _Opened(),
                'ds', bad)
            self.assertIn(list(bad)[0], str(exc))


class LoadPartTest(testtools.TestCase):

    def setUp(self):
        super().setUp()
        self.seen = []
        self.replica = replica_mod.TableReplica(
            't', ['id'], lambda t, old, new: self.seen.append((old, new)))
        for i, version in ((1, 10), (2, 10), (3, 50), (4, 10)):
            self.replica.apply('insert', {'id': i}, {'id': i, 'v': 'r%d' % i},
                               version)

    def test_versions_rule_the_repair(self):
        keys = [1, 2, 3, 4]
        rows = [{'id': 1, 'v': 'r1'}, {'id': 2, 'v': 'fixed'},
                {'id': 3, 'v': 'older'}, {'id': 5, 'v': 'new'}]
        found = self.replica.load_part([(k,) for k in keys], rows, 20, 20)
        # 1 equal, 2 changed, 3 newer in the replica (kept), 4 gone, 5 new.
        self.assertEqual((1, 1, 1), found)
        rows = dict(self.replica.rows)
        self.assertEqual({(1,), (2,), (3,), (5,)}, set(rows))
        self.assertEqual('fixed', rows[(2,)]['v'])
        self.assertEqual('r3', rows[(3,)]['v'])
        self.assertEqual(20, self.replica.versions[(4,)])  # a tombstone
        # A late delete of 4 and a late update of 2 change nothing.
        self.assertEqual(replica_mod.LATE, self.replica.apply(
            'update', {'id': 2}, {'id': 2, 'v': 'stale'}, 15))
        self.assertEqual(replica_mod.DUPLICATE, self.replica.apply(
            'delete', {'id': 4}, None, 20))
        self.assertIn(({'id': 4, 'v': 'r4'}, None), self.seen)


class RateLimitTest(testtools.TestCase):

    def test_the_source_reads_at_most_rows_per_second(self):
        class Paged(_Opened):
            def __init__(self):
                super().__init__()
                self.asked = []

            def checksum(self, checksum_id, max_rows):
                self.asked.append(max_rows)
                done = len(self.asked) == 4
                return {'rows': max_rows, 'done': done,
                        'digests': [[0, '%016x' % 0]] if done else None}

        now = [0.0]
        source = Paged()
        verifier = verification.Verifier(
            _synchronizer(source), source, 'ds',
            verification.VerifyPace(rows_per_second=100),
            clock=lambda: now[0])
        waits = []

        def wait(seconds):
            waits.append(seconds)
            now[0] += seconds  # the clock moves as if it slept

        verifier._worker.stopping.wait = wait
        found = verifier.verify_table('t')
        self.assertTrue(found['verified'], found)
        self.assertEqual([100] * 4, source.asked)  # slices of one second
        self.assertEqual([1.0, 1.0, 1.0], waits)
