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

"""A policy-engine table on the bus, inside a real Congress.

The engine's ``classification:error`` follows a ``publish_tables``
datasource (the producer's SQLite database); a
:class:`~congress_consumer.policy_tables.PolicyRepublisher` publishes it
through the Republisher's Sender and snapshot RPC, and a downstream
:class:`~congress_consumer.replication.driver.PublishTablesDriver`
that names ``classification:error`` in its ``tables`` keeps a replica of
it while rows change in the producer's database.
"""

from oslo_config import cfg
import oslo_messaging
import sqlalchemy as sa

from oslo_publish_tables import exceptions as pt_exceptions
from oslo_publish_tables import sender as sender_mod
from oslo_publish_tables import transport as transport_mod

from congress_consumer import policy_tables
from congress_consumer.replication import driver as driver_mod
from congress_consumer.replication import snapshots
from congress_consumer.subscriptions import republisher as rep_mod
from congress_consumer.tests.congress import test_dse

wait_for = test_dse.wait_for
TABLE = 'classification:error'


class PolicyTablesTest(test_dse.CongressTestBase):

    def setUp(self):
        super().setUp()
        self.nova = self._create_datasource()
        self.engine.create_policy('classification')
        self._insert_rule(test_dse.ERROR_RULE, 'classification')
        self.topic, self.rpc_topic = rep_mod.topics('congress_tables',
                                                    'policies')
        # The fake driver delivers only on the transport object it was
        # sent on: one of each, shared by both ends.
        self.notify = oslo_messaging.get_notification_transport(
            cfg.CONF, url='fake://')
        self.addCleanup(self.notify.cleanup)
        self.rpc = oslo_messaging.get_rpc_transport(cfg.CONF, url='fake://')
        self.addCleanup(self.rpc.cleanup)
        sender = sender_mod.Sender(
            transport_mod.NotificationTransport(
                cfg.CONF, self.topic, 'congress.policies',
                transport=self.notify), heartbeat_interval=0.5)
        self.addCleanup(sender.stop)
        self.rep = policy_tables.PolicyRepublisher(self.engine, sender)
        self.rep.attach()
        self.addCleanup(self.rep.detach)
        server = rep_mod.rpc_server(self.rpc, self.rep, self.rpc_topic,
                                    server='policies')
        server.start()
        self.addCleanup(server.wait)
        self.addCleanup(server.stop)

    def _triggers(self):
        return len(self.engine.trigger_registry.triggers)

    def _downstream(self):
        driver = driver_mod.PublishTablesDriver(
            'policy-copy', {'tables': [TABLE], 'topic': self.topic,
                            'gap_timeout': 0.5, 'producer_timeout': 5,
                            'pool': 'copy'},
            conf=cfg.CONF, transport=self.notify,
            snapshot_source=snapshots.RpcSnapshotSource(
                self.rpc, self.rpc_topic, timeout=10))
        driver.start()
        self.addCleanup(driver.stop)
        return driver

    def _copy(self, driver):
        try:
            return sorted(row[0] for row in driver.get_snapshot(TABLE))
        except driver_mod.exceptions.UnknownTableError:
            return None

    def _wait_copy(self, driver, expected):
        wait_for(lambda: self._copy(driver) == expected)
        self.assertEqual(expected, self._copy(driver))

    def test_policy_table_replicated_downstream(self):
        self._insert('vm-a', 'error')
        self._insert('vm-b', 'active')
        self._wait_errors(['vm-a'])
        before = self._triggers()
        self.assertNotIn(TABLE, self.rep.subscribers)

        copy = self._downstream()
        self.assertTrue(copy.wait_live(20))
        self._wait_copy(copy, ['vm-a'])
        self.assertEqual(before + 1, self._triggers())

        # Rows change in the producer's database; the policy's result
        # changes; the downstream replica follows, delta by delta.
        self._set_state('vm-b', 'error')
        self._wait_copy(copy, ['vm-a', 'vm-b'])
        self._set_state('vm-a', 'active')
        self._wait_copy(copy, ['vm-b'])
        self._write(sa.delete(self.instances)
                    .where(self.instances.c.uuid == 'vm-b'))
        self._wait_copy(copy, [])
        self._insert('vm-c', 'error')
        self._wait_copy(copy, ['vm-c'])
        self.assertEqual(('col0',), copy.get_column_names(TABLE))

        # The last unsubscription removes the trigger; nothing more is
        # published for the table.
        self.rep.unsubscribe(TABLE)
        self.assertEqual(before, self._triggers())
        self.assertNotIn(TABLE, self.rep.subscribers)
        records = self.rep.sender.stats['records']
        self._insert('vm-d', 'error')
        self._wait_errors(['vm-c', 'vm-d'])
        self.rep.sender.flush()
        self.assertEqual(records, self.rep.sender.stats['records'])

    def test_explicit_subscription_registers_a_trigger(self):
        before = self._triggers()
        self.rep.subscribe(TABLE, 'alice')
        self.rep.subscribe(TABLE, 'bob')
        self.assertEqual(before + 1, self._triggers())
        self.rep.unsubscribe(TABLE, 'alice')
        self.assertEqual(before + 1, self._triggers())
        self.rep.unsubscribe(TABLE, 'bob')
        self.assertEqual(before, self._triggers())

    def test_unknown_policy_is_refused(self):
        self.assertRaises(pt_exceptions.SnapshotError, self.rep.subscribe,
                          'nobody:error', 'alice')
        self.assertRaises(pt_exceptions.SnapshotError, self.rep.subscribe,
                          'no-colon', 'alice')
