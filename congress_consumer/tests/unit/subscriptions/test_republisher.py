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

"""Tests of the Republisher: stamps, snapshots, subscriptions."""

import testtools

from oslo_publish_tables import exceptions as pt_exceptions
from oslo_publish_tables.protocol import codec

from congress_consumer.replication import replica as replica_mod
from congress_consumer.replication import sync as sync_mod
from congress_consumer.subscriptions import republisher as rep_mod


class FakeSender(object):
    def __init__(self):
        self.drafts = []
        self.markers = []

    def submit(self, draft):
        if draft.kind == 'resync':
            self.markers.append(draft)
        else:
            self.drafts.append(draft)


def _load(sync, table, ts, rows):
    replica = sync.replicas[table]
    replica.pk_names = ('id',)
    replica.snapshot_columns = ['id', 'v']
    replica.begin_load(ts)
    replica.load(rows)
    replica.end_load()


class RepublisherTest(testtools.TestCase):

    def setUp(self):
        super().setUp()
        self.sync = sync_mod.Synchronizer(['t'], {'t': ('id',)}, None)
        self.sender = FakeSender()
        self.rep = rep_mod.Republisher(self.sync, self.sender, chunk_rows=2,
                                       now=lambda: 50)
        self.rep.attach()
        _load(self.sync, 't', 100, [{'id': 1, 'v': 'a'}])

    def apply(self, op, key, value, ts):
        with self.sync.lock:
            return self.sync.replicas['t'].apply(
                op, {'id': key}, {'id': key, 'v': value}, ts)

    def snapshot(self):
        snap = self.rep.open_snapshot('t')
        rows = []
        while True:
            page = self.rep.fetch(snap['id'], 100)
            rows += [codec.decode_row(r) for r in page['rows']]
            if page['done']:
                return snap, rows

    def test_no_subscriber_no_record(self):
        self.apply('update', 1, 'b', 200)
        self.assertEqual([], self.sender.drafts)

    def test_attach_announces_a_resync_of_every_table(self):
        [marker] = self.sender.markers
        self.assertEqual(['t'], marker.tables)
        self.assertEqual('republisher started', marker.reason)

    def test_snapshot_subscribes_and_fences_with_the_issued_stamp(self):
        self.apply('insert', 3, 'c', 300)  # before anyone subscribed
        snap, rows = self.snapshot()
        self.assertEqual(50, snap['ts'])
        self.assertEqual(['id', 'v'], snap['columns'])
        self.assertEqual(['id'], snap['pk'])
        self.assertEqual([{'id': 1, 'v': 'a'}, {'id': 3, 'v': 'c'}], rows)
        self.assertTrue(self.rep.active('t'))
        # A change stamped above the last issued stamp keeps its stamp.
        self.apply('update', 1, 'b', 400)
        # One of another producer that arrives late, stamped below the
        # last issued stamp, is raised above it: a downstream replica
        # would otherwise drop it as older than a snapshot that does not
        # hold it.
        self.apply('insert', 2, 'x', 350)
        self.apply('delete', 3, None, 500)
        drafts = self.sender.drafts
        self.assertEqual([400, 401, 500], [d.ts for d in drafts])
        self.assertEqual(
            [('update', {'id': 1}, {'id': 1, 'v': 'b'}, ('v',)),
             ('insert', {'id': 2}, {'id': 2, 'v': 'x'}, ('id', 'v')),
             ('delete', {'id': 3}, {'id': 3, 'v': 'c'}, ())],
            [(c.op, c.pk, c.row, tuple(c.changed))
             for d in drafts for c in d.changes])
        later, _ = self.snapshot()
        self.assertEqual(500, later['ts'])
        # A downstream replica made of the first snapshot and the records
        # equals the upstream one.
        self.assertEqual(self.upstream(), self.downstream(snap, rows))

    def upstream(self):
        with self.sync.lock:
            return dict(self.sync.replicas['t'].rows)

    def downstream(self, snap, rows, drafts=None):
        replica = replica_mod.TableReplica('t', ('id',))
        replica.begin_load(snap['ts'])
        replica.load(rows)
        replica.end_load()
        for draft in drafts or self.sender.drafts:
            for change in draft.changes:
                replica.apply(change.op, change.pk, change.row, draft.ts)
        return replica.rows

    def test_late_change_after_a_snapshot_reaches_the_subscriber(self):
        self.rep.subscribe('t', 'svc')
        self.apply('update', 1, 'b', 400)
        snap, rows = self.snapshot()  # S = 400
        # Arrives late, for another row: with its own stamp 350 <= S the
        # downstream replica would drop it as older than its snapshot.
        self.apply('insert', 2, 'x', 350)
        self.assertEqual([400, 401], [d.ts for d in self.sender.drafts])
        after = [d for d in self.sender.drafts if d.ts > snap['ts']]
        self.assertEqual(self.upstream(), self.downstream(snap, rows, after))

    def test_ignored_changes_are_not_republished(self):
        self.snapshot()
        self.assertEqual(replica_mod.LATE, self.apply('update', 1, 'z', 90))
        self.assertEqual(replica_mod.APPLIED,
                         self.apply('update', 1, 'a', 150))  # same row
        self.assertEqual([], self.sender.drafts)

    def test_unsubscribe(self):
        self.rep.subscribe('t', 'svc')
        self.snapshot()
        self.rep.unsubscribe('t', 'svc')
        self.assertTrue(self.rep.active('t'))  # the snapshot subscriber
        self.rep.unsubscribe('t')
        self.assertFalse(self.rep.active('t'))
        self.apply('update', 1, 'b', 200)
        self.assertEqual([], self.sender.drafts)

    def test_errors(self):
        self.assertRaises(pt_exceptions.SnapshotError,
                          self.rep.open_snapshot, 'nope')
        self.assertRaises(pt_exceptions.SnapshotError, self.rep.fetch, 'x')
        sync = sync_mod.Synchronizer(['u'], None, None)
        rep = rep_mod.Republisher(sync, FakeSender())
        exc = self.assertRaises(pt_exceptions.SnapshotError,
                                rep.open_snapshot, 'u')
        self.assertIn('not synchronised yet', str(exc))
        snap = self.rep.open_snapshot('t')
        self.rep.close_snapshot(snap['id'])
        self.assertRaises(pt_exceptions.SnapshotError, self.rep.fetch,
                          snap['id'])
