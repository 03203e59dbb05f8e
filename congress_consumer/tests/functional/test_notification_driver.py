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

"""NotificationDriver fed by nova-format notifications over RabbitMQ.

The notifier is oslo.messaging's, configured as nova is
(``control_exchange = nova``, driver ``messagingv2``), and sends nova's
versioned payloads (``nova_object.*``, ``InstanceUpdatePayload`` and
``InstanceActionPayload``) on a topic of the test's own.
"""

import time

from oslo_config import cfg
import oslo_messaging
from oslo_messaging import opts as messaging_opts
import testtools

from congress_consumer.datasources import notifications
from congress_consumer.tests.functional import nova_payloads
from oslo_publish_tables import fixture as backends


def wait_for(predicate, timeout=20.0):
    deadline = time.monotonic() + timeout
    while not predicate() and time.monotonic() < deadline:
        time.sleep(0.05)
    return predicate()


def nova_conf():
    """A configuration as nova's: control_exchange = nova."""
    conf = cfg.ConfigOpts()
    for group, opts in messaging_opts.list_opts():
        conf.register_opts(opts, group=group)
    conf([], project='nova', default_config_files=[],
         default_config_dirs=[])
    conf.set_override('control_exchange', 'nova')
    return conf


class NotificationDriverRabbitTest(testtools.TestCase):

    def setUp(self):
        super().setUp()
        rabbit = self.useFixture(backends.RabbitFixture())
        self.topic = rabbit.topic
        # With a pool the listener's queue is named after the pool.
        pool = self.topic + '_congress'
        rabbit.add_queue(pool)
        transport = rabbit.notification_transport(nova_conf())
        self.notifier = oslo_messaging.Notifier(
            transport, publisher_id='nova-compute:compute-1',
            driver='messagingv2', topics=[self.topic])
        self.driver = notifications.NotificationDriver(
            'nova_events', {'topics': self.topic, 'exchange': 'nova',
                            'transport_url': rabbit.transport_url,
                            'pool': pool})
        self.driver.start()
        self.addCleanup(self.driver.stop)

    def _rows(self):
        return self.driver.get_snapshot('instances')

    def test_versioned_instance_notifications_become_rows(self):
        send = self.notifier.info
        send({}, 'instance.update', nova_payloads.update(
            'vm-1', 'building', host=None))
        send({}, 'instance.create.end', nova_payloads.action(
            'vm-1', 'active'))
        send({}, 'instance.create.end', nova_payloads.action(
            'vm-2', 'active'))
        self.assertTrue(wait_for(lambda: {r[0] for r in self._rows()} ==
                                 {'vm-1', 'vm-2'}))
        self.assertTrue(wait_for(
            lambda: ('vm-1', 'vm-1-name', 'compute-1', 'active', None,
                     'running', 'project-1') in self._rows()))

        send({}, 'instance.update', nova_payloads.update('vm-2', 'error'))
        self.assertTrue(wait_for(
            lambda: ('vm-2', 'vm-2-name', 'compute-1', 'error', None,
                     'running', 'project-1') in self._rows()))
        send({}, 'instance.delete.end', nova_payloads.action(
            'vm-1', 'deleted'))
        self.assertTrue(wait_for(lambda: {r[0] for r in self._rows()} ==
                                 {'vm-2'}))
        # One row per instance: updates replaced rows, never added.
        self.assertEqual(1, len(self._rows()))

        # Unknown event types and malformed payloads are counted, and
        # the listener goes on.
        send({}, 'compute.instance.exists', {'whatever': 1})
        send({}, 'instance.update', {'nova_object.data': 'not a dict'})
        send({}, 'instance.create.end', nova_payloads.action(
            'vm-3', 'active'))
        self.assertTrue(wait_for(lambda: len(self._rows()) == 2))
        counts = self.driver.get_status()['notifications']
        self.assertEqual(1, counts['ignored'])
        self.assertEqual(1, counts['discarded'])
        self.assertEqual(6, counts['applied'])


class NotificationSpecTest(testtools.TestCase):

    def test_bad_translator_names_the_problem(self):
        spec = dict(notifications.load_translator('nova_instances'),
                    key='nope')
        exc = self.assertRaises(
            notifications.exceptions.InvalidTranslatorError,
            notifications.NotificationDriver, 'x', {},
            specs={'mine': spec})
        self.assertIn("mine: key 'nope'", str(exc))

    def test_unknown_translator_name(self):
        exc = self.assertRaises(
            notifications.exceptions.InvalidParamError,
            notifications.NotificationDriver, 'x',
            {'translators': 'nova_instances,bogus'})
        self.assertIn("'bogus'", str(exc))
