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

"""Tests of TableReplica: the version rule, snapshot loads, tombstones."""

import testtools

from congress_consumer.replication import replica as replica_mod


def _row(key, value):
    return {'id': key, 'v': value}


class _Listener(object):
    """Records every (table, old, new) call of a replica."""

    def __init__(self):
        self.calls = []

    def __call__(self, table, old, new):
        self.calls.append((table, old, new))


class ReplicaTestBase(testtools.TestCase):

    def setUp(self):
        super().setUp()
        self.listener = _Listener()
        self.rep = replica_mod.TableReplica('t', ('id',), self.listener)

    def put(self, key, value, ts, op='update'):
        return self.rep.apply(op, {'id': key}, _row(key, value), ts)

    def delete(self, key, ts):
        return self.rep.apply('delete', {'id': key}, _row(key, None), ts)

    def snapshot(self, ts, rows):
        self.rep.begin_load(ts)
        self.rep.load(rows)
        self.rep.end_load()


class VersionRuleTest(ReplicaTestBase):

    def test_newer_change_is_applied(self):
        self.assertEqual(replica_mod.APPLIED, self.put(1, 'a', 10, 'insert'))
        self.assertEqual(replica_mod.APPLIED, self.put(1, 'b', 11))
        self.assertEqual({(1,): _row(1, 'b')}, self.rep.rows)
        self.assertEqual(11, self.rep.versions[(1,)])
        self.assertEqual(11, self.rep.last_ts)
        self.assertEqual(2, self.rep.counts[replica_mod.APPLIED])

    def test_equal_stamp_is_a_duplicate(self):
        self.put(1, 'a', 10)
        self.assertEqual(replica_mod.DUPLICATE, self.put(1, 'other', 10))
        self.assertEqual({(1,): _row(1, 'a')}, self.rep.rows)
        self.assertEqual(1, self.rep.counts[replica_mod.DUPLICATE])

    def test_older_stamp_is_late(self):
        self.put(1, 'new', 20)
        self.assertEqual(replica_mod.LATE, self.put(1, 'old', 19))
        self.assertEqual({(1,): _row(1, 'new')}, self.rep.rows)
        self.assertEqual(20, self.rep.versions[(1,)])
        self.assertEqual(1, self.rep.counts[replica_mod.LATE])

    def test_delete_leaves_a_tombstone_that_blocks_a_late_insert(self):
        self.put(1, 'a', 10, 'insert')
        self.assertEqual(replica_mod.APPLIED, self.delete(1, 12))
        self.assertEqual({}, self.rep.rows)
        self.assertEqual({(1,): 12}, self.rep.tombstones)
        self.assertEqual(replica_mod.LATE, self.put(1, 'zombie', 11,
                                                    'insert'))
        self.assertEqual({}, self.rep.rows)
        # A genuinely newer insert replaces the tombstone.
        self.assertEqual(replica_mod.APPLIED, self.put(1, 'again', 13,
                                                       'insert'))
        self.assertEqual({(1,): _row(1, 'again')}, self.rep.rows)
        self.assertEqual({}, self.rep.tombstones)

    def test_delete_of_unknown_key_before_load_is_remembered(self):
        self.assertEqual(replica_mod.APPLIED, self.delete(5, 30))
        self.assertEqual({(5,): 30}, self.rep.tombstones)
        self.assertEqual(replica_mod.LATE, self.put(5, 'x', 29, 'insert'))
        self.assertEqual({}, self.rep.rows)
        self.assertEqual([], self.listener.calls)

    def test_composite_key_order_follows_pk_names(self):
        rep = replica_mod.TableReplica('tags', ('rid', 'tag'))
        rep.apply('insert', {'tag': 'gold', 'rid': 'r1'},
                  {'rid': 'r1', 'tag': 'gold'}, 5)
        self.assertEqual([('r1', 'gold')], list(rep.rows))

    def test_pk_names_learned_from_first_change(self):
        rep = replica_mod.TableReplica('tags')
        rep.apply('insert', {'tag': 'gold', 'rid': 'r1'},
                  {'rid': 'r1', 'tag': 'gold'}, 5)
        self.assertEqual(('rid', 'tag'), rep.pk_names)
        self.assertEqual([('r1', 'gold')], list(rep.rows))


class SnapshotLoadTest(ReplicaTestBase):

    def test_snapshot_rows_get_the_snapshot_version(self):
        self.assertFalse(self.rep.loaded)
        self.snapshot(100, [_row(1, 'a'), _row(2, 'b')])
        self.assertTrue(self.rep.loaded)
        self.assertEqual(100, self.rep.floor)
        self.assertEqual({(1,): 100, (2,): 100}, self.rep.versions)
        self.assertEqual({(1,): _row(1, 'a'), (2,): _row(2, 'b')},
                         self.rep.rows)
        self.assertEqual(1, self.rep.counts['snapshots'])

    def test_newer_delta_received_after_opening_is_kept(self):
        self.rep.opening()
        self.put(1, 'newer', 101, 'update')
        self.delete(2, 102)
        self.snapshot(100, [_row(1, 'snap'), _row(2, 'snap')])
        self.assertEqual({(1,): _row(1, 'newer')}, self.rep.rows)
        self.assertEqual({(1,): 101, (2,): 102}, self.rep.versions)
        self.assertEqual({(2,): 102}, self.rep.tombstones)

    def test_older_delta_applied_before_load_is_overwritten(self):
        self.put(1, 'older', 99, 'update')
        self.snapshot(100, [_row(1, 'snap')])
        self.assertEqual({(1,): _row(1, 'snap')}, self.rep.rows)
        self.assertEqual(100, self.rep.versions[(1,)])

    def test_delta_during_load_is_kept(self):
        self.rep.begin_load(100)
        self.put(1, 'during', 105)
        self.rep.load([_row(1, 'snap'), _row(2, 'snap')])
        self.rep.end_load()
        self.assertEqual({(1,): _row(1, 'during'), (2,): _row(2, 'snap')},
                         self.rep.rows)

    def test_row_absent_from_snapshot_is_swept(self):
        self.snapshot(100, [_row(1, 'a'), _row(2, 'b')])
        self.put(3, 'c', 150, 'insert')
        self.put(4, 'old', 180, 'insert')
        self.put(5, 'new', 250, 'insert')
        self.snapshot(200, [_row(1, 'a'), _row(3, 'c')])
        # 2 (version 100) and 4 (version 180) are gone at 200; 5 is newer.
        self.assertEqual({(1,): _row(1, 'a'), (3,): _row(3, 'c'),
                          (5,): _row(5, 'new')}, self.rep.rows)
        self.assertNotIn((2,), self.rep.versions)
        self.assertNotIn((4,), self.rep.versions)
        self.assertEqual(200, self.rep.floor)

    def test_tombstone_at_or_below_snapshot_is_swept(self):
        self.delete(1, 90)
        self.delete(2, 100)
        self.rep.opening()
        self.delete(3, 110)
        self.snapshot(100, [])
        self.assertEqual({(3,): 110}, self.rep.tombstones)
        self.assertEqual({(3,): 110}, self.rep.versions)

    def test_late_delta_for_unknown_key_after_load_is_dropped(self):
        self.snapshot(100, [_row(1, 'a')])
        self.assertEqual(replica_mod.LATE, self.put(9, 'stale', 100,
                                                    'insert'))
        self.assertEqual(replica_mod.LATE, self.put(9, 'stale', 60,
                                                    'insert'))
        self.assertNotIn((9,), self.rep.rows)
        self.assertEqual(replica_mod.APPLIED, self.put(9, 'fresh', 101,
                                                       'insert'))
        self.assertEqual(_row(9, 'fresh'), self.rep.rows[(9,)])

    def test_floor_follows_the_latest_snapshot(self):
        # A snapshot stamped far ahead must not hide new keys for good.
        self.snapshot(2 ** 62, [])
        self.snapshot(50, [])
        self.assertEqual(50, self.rep.floor)
        self.assertEqual(replica_mod.APPLIED, self.put(1, 'a', 60,
                                                       'insert'))

    def test_abort_load_changes_nothing(self):
        self.snapshot(100, [_row(1, 'a')])
        self.rep.begin_load(200)
        self.rep.abort_load()
        self.assertEqual(100, self.rep.floor)
        self.assertEqual({(1,): _row(1, 'a')}, self.rep.rows)
        self.assertEqual(1, self.rep.counts['snapshots'])


class ColumnsTest(ReplicaTestBase):
    """Rows with every column, fewer or more keep exactly their columns."""

    def test_rows_keep_their_own_columns(self):
        rows = [{'id': 1, 'v': 'a'}, {'id': 2},
                {'id': 3, 'v': None, 'w': 5}, {'id': 4, 'v': 'd'},
                {'w': 6, 'id': 5, 'v': 'e'}, {'id': 6, 'w': 7}]
        self.snapshot(10, rows)
        self.assertEqual({(r['id'],): r for r in rows}, dict(self.rep.rows))
        self.assertEqual(('id', 'v', 'w'), self.rep.columns)

    def test_one_column_table(self):
        rep = replica_mod.TableReplica('k', ('id',))
        rep.begin_load(10)
        rep.load([{'id': 1}, {'id': 2}])
        rep.end_load()
        self.assertEqual({(1,): {'id': 1}, (2,): {'id': 2}}, dict(rep.rows))
        rep.apply('update', {'id': 3}, {'id': 3, 'x': 'new'}, 11)
        self.assertEqual({'id': 3, 'x': 'new'}, rep.rows[(3,)])
        self.assertEqual({'id': 1}, rep.rows[(1,)])


class PurgeTest(ReplicaTestBase):

    def test_purge_raises_purge_floor_and_late_change_is_unresolvable(self):
        self.snapshot(100, [_row(1, 'a'), _row(2, 'b')])
        self.put(1, 'a2', 110)
        self.delete(1, 120)
        self.delete(2, 130)
        self.assertEqual(1, self.rep.purge_tombstones(125))
        self.assertEqual(120, self.rep.purge_floor)
        self.assertEqual({(2,): 130}, self.rep.tombstones)
        self.assertNotIn((1,), self.rep.versions)
        # The stale update of purged key 1 cannot be judged any more.
        self.assertEqual(replica_mod.UNRESOLVABLE, self.put(1, 'a2', 110))
        self.assertEqual(replica_mod.UNRESOLVABLE, self.put(1, 'x', 120))
        self.assertEqual({}, self.rep.rows)
        self.assertEqual(2, self.rep.counts[replica_mod.UNRESOLVABLE])
        # Below the snapshot floor it is simply late.
        self.assertEqual(replica_mod.LATE, self.put(1, 'x', 100))
        # Above the purge floor it is an ordinary newer change.
        self.assertEqual(replica_mod.APPLIED, self.put(1, 'b', 121,
                                                       'insert'))
        self.assertEqual(_row(1, 'b'), self.rep.rows[(1,)])

    def test_purge_keeps_recent_tombstones(self):
        self.delete(1, 10)
        self.assertEqual(0, self.rep.purge_tombstones(10))
        self.assertEqual({(1,): 10}, self.rep.tombstones)
        self.assertEqual(0, self.rep.purge_floor)
        self.assertEqual(1, self.rep.purge_tombstones(11))
        self.assertEqual(10, self.rep.purge_floor)


class ListenerTest(ReplicaTestBase):

    def test_listener_sees_old_and_new(self):
        self.put(1, 'a', 10, 'insert')
        self.put(1, 'b', 11)
        self.put(1, 'b', 12)   # same content: nothing visible
        self.put(1, 'late', 5)
        self.delete(1, 13)
        self.delete(1, 14)     # deleting a tombstone: nothing visible
        self.assertEqual([('t', None, _row(1, 'a')),
                          ('t', _row(1, 'a'), _row(1, 'b')),
                          ('t', _row(1, 'b'), None)], self.listener.calls)

    def test_listener_sees_snapshot_load_and_sweep(self):
        self.put(1, 'old', 10, 'insert')
        self.put(2, 'gone', 20, 'insert')
        self.put(3, 'newer', 120, 'insert')
        del self.listener.calls[:]
        self.snapshot(100, [_row(1, 'snap'), _row(3, 'snap'),
                            _row(4, 'snap')])
        self.assertEqual([('t', _row(1, 'old'), _row(1, 'snap')),
                          ('t', None, _row(4, 'snap')),
                          ('t', _row(2, 'gone'), None)],
                         self.listener.calls)

    def test_listener_replays_to_the_same_rows(self):
        mirror = {}

        def listener(table, old, new):
            if old is not None:
                del mirror[old['id']]
            if new is not None:
                self.assertNotIn(new['id'], mirror)
                mirror[new['id']] = new

        rep = replica_mod.TableReplica('t', ('id',), listener)
        rep.apply('insert', {'id': 1}, _row(1, 'a'), 10)
        rep.apply('insert', {'id': 2}, _row(2, 'a'), 11)
        rep.begin_load(15)
        rep.apply('update', {'id': 2}, _row(2, 'b'), 16)
        rep.load([_row(2, 'snap'), _row(3, 'snap')])
        rep.apply('delete', {'id': 3}, _row(3, None), 17)
        rep.end_load()
        self.assertEqual({v['id']: v for v in rep.rows.values()}, mirror)
        self.assertEqual({2: _row(2, 'b')}, mirror)


class WatcherTest(ReplicaTestBase):

    def test_watchers_see_every_visible_change_with_its_stamp(self):
        seen = []
        self.rep.watchers.append(
            lambda table, old, new, ts: seen.append((old, new, ts)))
        self.put(1, 'a', 10, op='insert')
        self.put(1, 'a', 10)          # duplicate: not visible
        self.put(1, 'b', 5)           # late: not visible
        self.put(1, 'b', 20)
        self.put(2, 'x', 25, op='insert')
        self.delete(1, 30)
        self.snapshot(40, [_row(3, 'c')])  # loads 3, sweeps 2
        self.assertEqual([(None, _row(1, 'a'), 10),
                          (_row(1, 'a'), _row(1, 'b'), 20),
                          (None, _row(2, 'x'), 25),
                          (_row(1, 'b'), None, 30),
                          (None, _row(3, 'c'), 40),
                          (_row(2, 'x'), None, 40)], seen)
        # The listener saw the same changes, in the same order.
        self.assertEqual([(o, n) for o, n, _ in seen],
                         [(o, n) for _, o, n in self.listener.calls])


class OutboxOrderTest(ReplicaTestBase):
    """Versions that are outbox ids while stamps date the tombstones."""

    def put_v(self, key, value, ts, version, op='update'):
        return self.rep.apply(op, {'id': key}, _row(key, value), ts,
                              version)

    def test_version_orders_and_stamp_is_kept_for_age(self):
        self.assertEqual(replica_mod.APPLIED, self.put_v(1, 'a', 500, 7))
        # A greater stamp but a smaller outbox id: older.
        self.assertEqual(replica_mod.LATE, self.put_v(1, 'b', 900, 6))
        self.assertEqual(replica_mod.DUPLICATE, self.put_v(1, 'a', 100, 7))
        self.assertEqual({(1,): _row(1, 'a')}, self.rep.rows)
        self.assertEqual(7, self.rep.versions[(1,)])
        self.assertEqual(500, self.rep.last_ts)  # applied changes only

    def test_snapshot_mark_is_the_version_and_the_floor(self):
        self.put_v(1, 'new', 100, 12)
        self.put_v(2, 'gone', 100, 3)
        self.rep.begin_load(50, 10)
        self.rep.load([_row(1, 'old'), _row(3, 'c')])
        self.rep.end_load()
        self.assertEqual({(1,): _row(1, 'new'), (3,): _row(3, 'c')},
                         self.rep.rows)
        self.assertEqual(10, self.rep.floor)
        self.assertEqual(replica_mod.LATE, self.put_v(4, 'x', 999, 9))
        self.assertEqual(replica_mod.APPLIED, self.put_v(4, 'x', 1, 11))

    def test_tombstones_age_by_stamp_and_purge_floor_is_a_version(self):
        self.rep.apply('delete', {'id': 1}, _row(1, None), 100, 40)
        self.assertEqual(0, self.rep.purge_tombstones(100))
        self.assertEqual(1, self.rep.purge_tombstones(101))
        self.assertEqual(40, self.rep.purge_floor)
        self.assertEqual(replica_mod.UNRESOLVABLE,
                         self.put_v(1, 'stale', 5000, 39, 'insert'))
        self.assertEqual(replica_mod.APPLIED,
                         self.put_v(1, 'new', 5, 41, 'insert'))

    def test_reorder_forgets_versions_but_keeps_rows(self):
        self.put_v(1, 'a', 100, 5)
        self.rep.apply('delete', {'id': 2}, _row(2, None), 100, 6)
        self.snapshot(10, [_row(1, 'a')])
        self.rep.reorder(replica_mod.STAMP)
        self.assertEqual(replica_mod.STAMP, self.rep.order)
        self.assertEqual({(1,): 0}, self.rep.versions)
        self.assertEqual({}, self.rep.tombstones)
        self.assertIsNone(self.rep.floor)
        self.assertEqual({(1,): _row(1, 'a')}, self.rep.rows)
        self.assertEqual(replica_mod.APPLIED, self.put(1, 'b', 1))


class FutureVersionTest(ReplicaTestBase):
    """A resync restores the source whatever versions the replica holds."""

    def test_snapshot_replaces_a_row_stamped_in_the_future(self):
        self.snapshot(100, [_row(1, 'truth')])
        self.put(1, 'forged', 2 ** 62)
        self.rep.opening()
        self.snapshot(200, [_row(1, 'truth')])
        self.assertEqual({(1,): _row(1, 'truth')}, self.rep.rows)
        self.assertEqual(200, self.rep.versions[(1,)])
        self.assertEqual(replica_mod.APPLIED, self.put(1, 'next', 201))

    def test_snapshot_removes_a_forged_row_and_a_forged_tombstone(self):
        self.snapshot(100, [_row(1, 'truth')])
        self.put(2, 'forged', 2 ** 62, 'insert')
        self.delete(1, 2 ** 62)
        self.rep.opening()
        self.snapshot(200, [_row(1, 'truth')])
        self.assertEqual({(1,): _row(1, 'truth')}, self.rep.rows)
        self.assertEqual({}, self.rep.tombstones)
        self.assertEqual(replica_mod.APPLIED, self.put(2, 'real', 201,
                                                       'insert'))

    def test_purge_floor_raised_by_a_forged_delete_comes_down(self):
        self.snapshot(100, [_row(1, 'a')])
        self.delete(1, 2 ** 62)
        self.rep.purge_tombstones(2 ** 63)
        self.rep.opening()
        self.snapshot(200, [_row(1, 'a')])
        self.assertEqual(replica_mod.APPLIED, self.put(7, 'new', 201,
                                                       'insert'))
        self.assertEqual(_row(7, 'new'), self.rep.rows[(7,)])
