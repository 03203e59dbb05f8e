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

"""RpcActionDriver sends its actions to a real RPC server over RabbitMQ."""

import threading

from oslo_config import cfg
import oslo_messaging
from oslo_messaging import conffixture
import testtools

from congress_consumer.datasources import rpc_actions
from congress_consumer import exceptions
from oslo_publish_tables import fixture as backends


class Receiver(object):
    """The receiving service's endpoint: records what it was asked."""

    target = oslo_messaging.Target(version='1.0')

    def __init__(self):
        self.calls = []
        self.received = threading.Event()

    def evacuate(self, ctxt, host, reason):
        self.calls.append(('evacuate', host, reason))
        self.received.set()

    def host_state(self, ctxt, host):
        self.calls.append(('host_state', host))
        return {'host': host, 'state': 'up'}


ARGS = {'actions': 'evacuate:cast,host_state:call',
        'action_args': 'evacuate.host,evacuate.reason,host_state.host',
        'timeout': '10'}


def rpc_receiver(test, transport_url, topic):
    """A started RPC server on ``topic`` with a :class:`Receiver`."""
    conf = cfg.ConfigOpts()
    conf([], project='receiver', default_config_files=[],
         default_config_dirs=[])
    # oslo.messaging registers its tracing options on cfg.CONF only.
    conffixture.ConfFixture(conf)
    transport = oslo_messaging.get_rpc_transport(conf, url=transport_url)
    test.addCleanup(transport.cleanup)
    receiver = Receiver()
    server = oslo_messaging.get_rpc_server(
        transport, oslo_messaging.Target(topic=topic, server='svc-1'),
        [receiver], executor='threading')
    server.start()
    test.addCleanup(server.wait)
    test.addCleanup(server.stop)
    return receiver


class RpcActionDriverTest(testtools.TestCase):

    def setUp(self):
        super().setUp()
        rabbit = self.useFixture(backends.RabbitFixture())
        self.topic = rabbit.topic
        for queue in (self.topic, self.topic + '.svc-1'):
            rabbit.add_queue(queue)
        self.receiver = rpc_receiver(self, rabbit.transport_url, self.topic)
        self.driver = rpc_actions.RpcActionDriver('ops', dict(
            ARGS, topic=self.topic, transport_url=rabbit.transport_url))

    def test_cast_and_call_reach_the_service(self):
        self.assertIsNone(self.driver.execute(
            'evacuate', {'positional': ['c1'],
                         'named': {'reason': 'disk'}}))
        self.assertTrue(self.receiver.received.wait(20))
        self.assertEqual({'host': 'c2', 'state': 'up'}, self.driver.execute(
            'host_state', {'named': {'host': 'c2'}}))
        self.assertEqual([('evacuate', 'c1', 'disk'), ('host_state', 'c2')],
                         self.receiver.calls)

    def test_actions_are_listed_with_their_arguments(self):
        actions = self.driver.get_actions()['results']
        self.assertEqual(
            [('evacuate', ['host', 'reason']), ('host_state', ['host'])],
            [(a['name'], [arg['name'] for arg in a['args']])
             for a in actions])
        self.assertIn('cast', actions[0]['description'])

    def test_bad_arguments_are_refused_before_sending(self):
        for args in ({'positional': ['c1']},
                     {'named': {'host': 'c1', 'reason': 'x', 'force': 1}},
                     {'positional': ['c1', 'x', 'y']}):
            self.assertRaises(exceptions.InvalidParamError,
                              self.driver.prepare, 'evacuate', args)
        self.assertRaises(exceptions.UnknownActionError,
                          self.driver.prepare, 'reboot', {})
        self.assertRaises(exceptions.UnknownActionError,
                          self.driver.prepare, 'get_status', {})
        self.assertEqual([], self.receiver.calls)

    def test_bad_config_names_the_option(self):
        exc = self.assertRaises(
            exceptions.InvalidParamError, rpc_actions.RpcActionDriver, 'x',
            {'topic': 't', 'actions': 'evacuate:shout'})
        self.assertIn('actions', str(exc))
        exc = self.assertRaises(
            exceptions.InvalidParamError, rpc_actions.RpcActionDriver, 'x',
            {'topic': 't', 'actions': 'evacuate:cast',
             'action_args': 'reboot.host'})
        self.assertIn('action_args', str(exc))
