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

"""Tests for the per-transaction journal of touched keys."""

import testtools

from oslo_publish_tables.capture import journal as journal_mod


def _keys(journal):
    return [(e.table, e.key) for e in journal.entries]


class SavepointTest(testtools.TestCase):

    def setUp(self):
        super().setUp()
        self.journal = journal_mod.Journal()

    def add(self, n, table='t'):
        self.journal.add(table, (n,), 'update', changed=('c%d' % n,))

    def test_empty_journal_is_false(self):
        self.assertFalse(self.journal)
        self.add(1)
        self.assertTrue(self.journal)

    def test_rollback_discards_only_the_savepoint(self):
        self.add(1)
        self.journal.savepoint('sp1')
        self.add(2)
        self.add(3)
        self.journal.rollback_to('sp1')
        self.assertEqual([('t', (1,))], _keys(self.journal))
        # Later entries are kept again.
        self.add(4)
        self.assertEqual([('t', (1,)), ('t', (4,))], _keys(self.journal))

    def test_rollback_of_inner_keeps_outer(self):
        self.add(1)
        self.journal.savepoint('outer')
        self.add(2)
        self.journal.savepoint('inner')
        self.add(3)
        self.journal.rollback_to('inner')
        self.assertEqual([(1,), (2,)],
                         [k for _, k in _keys(self.journal)])
        # The outer savepoint is still there and still works.
        self.add(5)
        self.journal.rollback_to('outer')
        self.assertEqual([(1,)], [k for _, k in _keys(self.journal)])

    def test_rollback_of_outer_drops_inner_marks(self):
        self.add(1)
        self.journal.savepoint('outer')
        self.add(2)
        self.journal.savepoint('inner')
        self.add(3)
        self.journal.rollback_to('outer')
        self.assertEqual([(1,)], [k for _, k in _keys(self.journal)])
        self.add(4)
        self.add(5)
        # 'inner' died with 'outer': rolling back to it changes nothing
        # (had its mark survived, it would cut the journal at 2 entries).
        self.journal.rollback_to('inner')
        self.assertEqual([(1,), (4,), (5,)],
                         [k for _, k in _keys(self.journal)])

    def test_rollback_of_outer_keeps_older_marks(self):
        self.journal.savepoint('first')
        self.add(1)
        self.journal.savepoint('second')
        self.add(2)
        self.journal.savepoint('third')
        self.add(3)
        self.journal.rollback_to('second')
        self.assertEqual([(1,)], [k for _, k in _keys(self.journal)])
        self.add(4)
        self.journal.rollback_to('first')
        self.assertEqual([], self.journal.entries)
        self.assertFalse(self.journal)

    def test_rolled_back_savepoint_is_gone(self):
        self.add(1)
        self.journal.savepoint('sp')
        self.add(2)
        self.journal.rollback_to('sp')
        self.add(3)
        self.journal.rollback_to('sp')
        self.assertEqual([(1,), (3,)], [k for _, k in _keys(self.journal)])

    def test_release_keeps_changes_in_the_outer_savepoint(self):
        self.add(1)
        self.journal.savepoint('outer')
        self.add(2)
        self.journal.savepoint('inner')
        self.add(3)
        self.journal.release('inner')
        self.assertEqual(3, len(self.journal.entries))
        # Rolling back to a released savepoint does nothing ...
        self.journal.rollback_to('inner')
        self.assertEqual(3, len(self.journal.entries))
        # ... but the released changes belong to the outer one now.
        self.journal.rollback_to('outer')
        self.assertEqual([(1,)], [k for _, k in _keys(self.journal)])

    def test_release_of_outer(self):
        self.journal.savepoint('outer')
        self.add(1)
        self.journal.release('outer')
        self.journal.rollback_to('outer')
        self.assertEqual([(1,)], [k for _, k in _keys(self.journal)])

    def test_unknown_names_are_ignored(self):
        self.add(1)
        self.journal.rollback_to('nope')
        self.journal.release('nope')
        self.assertEqual(1, len(self.journal.entries))

    def test_resync_requests_survive_rollback(self):
        self.add(1)
        self.journal.savepoint('outer')
        self.journal.request_resync('instances', 'SQL text')
        self.journal.savepoint('inner')
        self.journal.request_resync('tags', 'cannot analyse')
        self.journal.request_resync('instances', 'later reason')
        self.add(2)
        self.journal.rollback_to('inner')
        self.journal.rollback_to('outer')
        self.assertEqual([(1,)], [k for _, k in _keys(self.journal)])
        # Kept, with the first reason given for each table.
        self.assertEqual({'instances': 'SQL text', 'tags': 'cannot analyse'},
                         self.journal.resync)

    def test_journal_with_only_resync_is_true(self):
        self.journal.savepoint('sp')
        self.add(1)
        self.journal.request_resync('tags', 'why')
        self.journal.rollback_to('sp')
        self.assertEqual([], self.journal.entries)
        self.assertTrue(self.journal)


class FoldTest(testtools.TestCase):

    def test_one_net_change_per_key(self):
        journal = journal_mod.Journal()
        journal.add('instances', (1,), 'insert', changed=('id', 'host'))
        journal.add('instances', (2,), 'update', changed=('vm_state',))
        journal.add('instances', (1,), 'update', changed=('vm_state',))
        journal.add('tags', ('r', 'a'), 'delete', before={'tag': 'a'})
        folded = journal.fold()
        self.assertEqual({'instances', 'tags'}, set(folded))
        self.assertEqual({(1,), (2,)}, set(folded['instances']))
        self.assertEqual(
            journal_mod.Net('insert', None, {'id', 'host', 'vm_state'}),
            folded['instances'][(1,)])
        self.assertEqual(journal_mod.Net('update', None, {'vm_state'}),
                         folded['instances'][(2,)])
        self.assertEqual(journal_mod.Net('delete', {'tag': 'a'}, set()),
                         folded['tags'][('r', 'a')])

    def test_first_op_last_before_image_changed_union(self):
        journal = journal_mod.Journal()
        journal.add('t', (1,), 'update', before=None, changed=('a',))
        journal.add('t', (1,), 'delete', before={'id': 1, 'x': 'v1'})
        journal.add('t', (1,), 'insert', changed=('id', 'x'))
        journal.add('t', (1,), 'delete', before={'id': 1, 'x': 'v2'})
        journal.add('t', (1,), 'update', before=None, changed=('b', 'a'))
        net = journal.fold()['t'][(1,)]
        self.assertEqual('update', net.first_op)
        # The last before-image, not cleared by a later entry without one.
        self.assertEqual({'id': 1, 'x': 'v2'}, net.before)
        self.assertEqual({'a', 'b', 'id', 'x'}, net.changed)

    def test_insert_then_delete_keeps_insert(self):
        journal = journal_mod.Journal()
        journal.add('t', (9,), 'insert', changed=('id',))
        journal.add('t', (9,), 'delete', before={'id': 9})
        net = journal.fold()['t'][(9,)]
        self.assertEqual(('insert', {'id': 9}), (net.first_op, net.before))

    def test_fold_ignores_rolled_back_entries(self):
        journal = journal_mod.Journal()
        journal.add('t', (1,), 'update', changed=('a',))
        journal.savepoint('sp')
        journal.add('t', (1,), 'delete', before={'id': 1})
        journal.add('t', (2,), 'insert', changed=('id',))
        journal.rollback_to('sp')
        journal.add('t', (1,), 'update', changed=('c',))
        self.assertEqual({'t': {(1,): journal_mod.Net('update', None,
                                                      {'a', 'c'})}},
                         journal.fold())

    def test_fold_does_not_change_the_entries(self):
        journal = journal_mod.Journal()
        journal.add('t', (1,), 'update', changed=('a',))
        journal.add('t', (1,), 'update', changed=('b',))
        journal.fold()['t'][(1,)].changed.add('zzz')
        self.assertEqual({'a', 'b'}, journal.fold()['t'][(1,)].changed)
        self.assertEqual([('a',), ('b',)],
                         [tuple(e.changed) for e in journal.entries])

    def test_empty(self):
        self.assertEqual({}, journal_mod.Journal().fold())


class PendingTest(testtools.TestCase):
    """Entries under a unique key until they are resolved."""

    def test_pending_resolved_in_place_keeps_savepoints_exact(self):
        journal = journal_mod.Journal()
        key = journal_mod.UniqueKey(('uuid',), ('U',))
        journal.add('t', (1,), 'insert', changed=('id',))
        journal.defer('t', key, ('a',))
        journal.savepoint('sp')
        journal.add('t', (3,), 'update', changed=('b',))
        self.assertEqual([(1, 't')], [(i, e.table) for i, e in
                                      journal.pending('t')])
        self.assertEqual([], journal.pending('other'))
        journal.resolve(1, (2,))
        journal.rollback_to('sp')
        self.assertEqual([], journal.pending('t'))
        self.assertEqual({(1,), (2,)}, set(journal.fold()['t']))
        self.assertEqual({'a'}, journal.fold()['t'][(2,)].changed)

    def test_resolved_to_no_row_is_left_out(self):
        journal = journal_mod.Journal()
        journal.defer('t', journal_mod.UniqueKey(('uuid',), ('U',)))
        journal.resolve(0, None)
        self.assertEqual({}, journal.fold())

    def test_fold_refuses_an_unresolved_entry(self):
        journal = journal_mod.Journal()
        journal.defer('t', journal_mod.UniqueKey(('uuid',), ('U',)))
        self.assertRaises(ValueError, journal.fold)
