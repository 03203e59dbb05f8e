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

"""Every driver of this distribution, created inside a real Congress.

Each datasource is created as ``openstack congress datasource create``
does (:func:`congress_consumer.congress_compat.add_datasource`: the
``congress.datasource.drivers`` entry point, Congress's validation of
the config, ``DseNode.create_datasource_service``), every config value a
string as Congress's command line gives it, and a policy of Congress's
engine follows its tables. The notification receiver and the RPC
actions talk to the real RabbitMQ; Congress's own bus is ``fake://``.
"""

import uuid

import oslo_messaging
import sqlalchemy as sa
import webob

from congress_consumer import congress_compat
from congress_consumer.tests.congress import test_dse
from congress_consumer.tests.functional import nova_payloads
from congress_consumer.tests.functional import test_notification_driver
from congress_consumer.tests.functional import test_rpc_actions_driver
from oslo_publish_tables import fixture as backends

wait_for = test_dse.wait_for
DRIVERS = ('publish_tables', 'push', 'notifications', 'sql_polling',
           'rpc_actions')


class CongressDriversTest(test_dse.CongressTestBase):

    def _create(self, name, driver, **config):
        service = congress_compat.add_datasource(
            self.node, self.engine, name, driver, config)
        self.addCleanup(service.stop)
        return service

    def _policy(self, *rules):
        self.engine.create_policy('classification')
        for rule in rules:
            self._insert_rule(rule, 'classification')

    def test_every_driver_is_on_congress_entry_point(self):
        from congress_consumer import congress_adapter

        self.dse_node.DseNode.load_drivers()
        for name in DRIVERS:
            plugin = self.dse_node.DseNode.loaded_drivers[name].plugin
            self.assertIn(plugin.__name__, congress_adapter.DRIVERS)
            self.assertEqual(
                plugin.driver_class.get_datasource_info(),
                self.dse_node.DseNode.get_driver_info(name))
            self.assertEqual(name, plugin.get_datasource_info()['id'])

    def test_push_datasource(self):
        self._create('alarms', 'push', tables='alarms',
                     columns='alarms.id,alarms.state',
                     push_token='a-long-random-secret')
        self._policy('error(id) :- alarms:alarms(id=id, state="alarm")')
        # Congress's PUT /v1/data-sources/alarms/tables/alarms/rows.
        self.node.invoke_service_rpc(
            'alarms', 'update_entire_data',
            {'table_id': 'alarms', 'source_id': 'alarms',
             'objs': [['a1', 'alarm'], {'id': 'a2', 'state': 'ok'}]})
        self._wait_errors(['a1'])

    def test_sql_polling_datasource(self):
        self._create('inventory', 'sql_polling', database_url=self.url,
                     tables='instances',
                     columns='instances.uuid,instances.vm_state',
                     poll_time='0.2')
        self._policy('error(id) :- inventory:instances(uuid=id, '
                     'vm_state="error")')
        engine = sa.create_engine(self.url)
        self.addCleanup(engine.dispose)
        with engine.begin() as conn:
            conn.execute(sa.insert(self.instances).values(
                [{'uuid': 'vm-a', 'vm_state': 'error'},
                 {'uuid': 'vm-b', 'vm_state': 'active'}]))
        self._wait_errors(['vm-a'])
        with engine.begin() as conn:
            conn.execute(sa.update(self.instances).values(
                vm_state='error'))
        self._wait_errors(['vm-a', 'vm-b'])

    def test_notification_datasource(self):
        rabbit = self.useFixture(backends.RabbitFixture())
        # With a pool the listener's queue is named after the pool.
        rabbit.add_queue(rabbit.topic + '_congress')
        self._create('nova_events', 'notifications', topics=rabbit.topic,
                     exchange='nova', pool=rabbit.topic + '_congress',
                     translators='nova_instances',
                     transport_url=rabbit.transport_url)
        self._policy('error(id) :- nova_events:instances(uuid=id, '
                     'state="error")')
        notifier = oslo_messaging.Notifier(
            rabbit.notification_transport(
                test_notification_driver.nova_conf()),
            publisher_id='nova-compute:compute-1', driver='messagingv2',
            topics=[rabbit.topic])
        notifier.info({}, 'instance.create.end',
                      nova_payloads.action('vm-a', 'active'))
        notifier.info({}, 'instance.update',
                      nova_payloads.update('vm-a', 'error'))
        self._wait_errors(['vm-a'])
        notifier.info({}, 'instance.delete.end',
                      nova_payloads.action('vm-a', 'deleted'))
        self._wait_errors([])

    def _ops(self):
        rabbit = self.useFixture(backends.RabbitFixture())
        for queue in (rabbit.topic, rabbit.topic + '.svc-1'):
            rabbit.add_queue(queue)
        receiver = test_rpc_actions_driver.rpc_receiver(
            self, rabbit.transport_url, rabbit.topic)
        self._create('ops', 'rpc_actions', topic=rabbit.topic,
                     transport_url=rabbit.transport_url,
                     **test_rpc_actions_driver.ARGS)
        return receiver

    def test_policy_rule_executes_an_rpc_action(self):
        receiver = self._ops()
        self._policy('execute[ops:evacuate(h, "failed")] :- failed(h)')
        self._insert_rule('failed("compute-7")', 'classification')
        self.assertTrue(receiver.received.wait(20))
        self.assertEqual([('evacuate', 'compute-7', 'failed')],
                         receiver.calls)

    def test_policy_api_execute_reaches_the_rpc_action(self):
        # POST /v1/policies/classification?action=execute, by Congress's
        # own API model: the engine's execute_action, then unicast.
        from congress.api import policy_model

        receiver = self._ops()
        self._policy()
        model = policy_model.PolicyModel('api-policy', bus=self.engine)
        request = webob.Request.blank(
            '/v1/policies/classification?action=execute', method='POST',
            body=('{"name": "ops:evacuate", "args": {"positional": '
                  '["compute-9"], "named": {"reason": "%s"}}}'
                  % uuid.uuid4().hex[:6]).encode())
        self.assertEqual({}, model.execute_action({}, request=request))
        self.assertTrue(receiver.received.wait(20))
        self.assertEqual('compute-9', receiver.calls[0][1])
