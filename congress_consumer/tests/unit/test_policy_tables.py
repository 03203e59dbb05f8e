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

"""PolicyRepublisher against an engine stand-in (no Congress needed).

The real policy engine is exercised by ``tests/congress``; here an
object with the engine's trigger interface checks the bookkeeping:
triggers follow subscriptions, changes become ordered ``txn`` records,
snapshots hold the rows.
"""

import testtools

from oslo_publish_tables import exceptions as pt_exceptions

from congress_consumer import policy_tables


class Literal(object):
    def __init__(self, *values):
        self.values = values

    def argument_names(self):
        return self.values


class Engine(object):
    """The DseRuntime methods PolicyTables uses."""

    def __init__(self):
        self.rows = {('classification', 'error'): [('vm-a',)]}
        self.triggers = []

    def policy_names(self):
        return ['classification']

    def arity(self, table, policy):
        return 1

    def get_row_data(self, table, policy, trace=False):
        return [{'data': row} for row in self.rows.get((policy, table), [])]

    def register_trigger(self, table, callback, policy=None):
        trigger = (table, policy, callback)
        self.triggers.append(trigger)
        return trigger

    def unregister_trigger(self, trigger):
        self.triggers.remove(trigger)

    def change(self, old, new):
        for _table, _policy, callback in list(self.triggers):
            callback('error', {Literal(*r) for r in old},
                     {Literal(*r) for r in new})


class Sender(object):
    def __init__(self):
        self.drafts = []

    def submit(self, draft):
        self.drafts.append(draft)


class PolicyRepublisherTest(testtools.TestCase):

    def setUp(self):
        super().setUp()
        self.engine = Engine()
        self.sender = Sender()
        self.rep = policy_tables.PolicyRepublisher(self.engine, self.sender)
        self.rep.attach()

    def test_triggers_follow_subscriptions(self):
        self.assertEqual([], self.engine.triggers)
        self.rep.subscribe('classification:error', 'alice')
        self.rep.subscribe('classification:error', 'bob')
        self.assertEqual(1, len(self.engine.triggers))
        self.rep.unsubscribe('classification:error', 'alice')
        self.assertEqual(1, len(self.engine.triggers))
        self.rep.unsubscribe('classification:error', 'bob')
        self.assertEqual([], self.engine.triggers)
        self.assertEqual({}, self.rep.subscribers)

    def test_changes_become_txn_records_in_stamp_order(self):
        self.rep.subscribe('classification:error', 'alice')
        self.engine.change([('vm-a',)], [('vm-b',)])
        changes = [(d.changes[0].op, d.changes[0].row)
                   for d in self.sender.drafts]
        self.assertEqual([('delete', {'col0': 'vm-a'}),
                          ('insert', {'col0': 'vm-b'})], changes)
        stamps = [d.ts for d in self.sender.drafts]
        self.assertEqual(sorted(stamps), stamps)
        self.assertEqual(len(set(stamps)), len(stamps))

    def test_snapshot_subscribes_and_holds_the_rows(self):
        opened = self.rep.open_snapshot('classification:error')
        self.assertEqual(['col0'], opened['columns'])
        self.assertEqual(1, len(self.engine.triggers))
        rows = self.rep.fetch(opened['id'])['rows']
        self.assertEqual(1, len(rows))
        self.rep.detach()
        self.assertEqual([], self.engine.triggers)

    def test_bad_names_are_refused(self):
        for name in ('nobody:error', 'error', ':error', 'classification:'):
            self.assertRaises(pt_exceptions.SnapshotError,
                              self.rep.subscribe, name, 'alice')
        self.assertEqual([], self.engine.triggers)
