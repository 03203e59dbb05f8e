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

"""The subscription registry on SQLite, PostgreSQL and MariaDB/MySQL."""

import datetime

import testtools

from oslo_publish_tables import fixture as backends

from congress_consumer.subscriptions import registry as registry_mod


def _sub(sid, **kwargs):
    args = dict(subscriber_topic='topic-' + sid, datasource='nova',
                table='instances',
                filters=[{'column': 'host', 'value': ['h1', 'h2']}],
                payload='delta')
    args.update(kwargs)
    return registry_mod.Subscription(sid, **args)


class RegistryTest(testtools.TestCase):
    backend = 'sqlite'

    def setUp(self):
        super().setUp()
        self.url = self.useFixture(backends.DatabaseFixture(
            self.backend)).url
        self.registry = self.open()

    def open(self):
        registry = registry_mod.Registry(self.url)
        self.addCleanup(registry.close)
        return registry

    def test_add_get_list_delete(self):
        first, second = _sub('b'), _sub('a', payload='snapshot', filters=[])
        self.registry.add(first)
        self.registry.add(second)
        self.assertEqual(first, self.registry.get('b'))
        self.assertEqual([second, first], self.registry.list())
        self.registry.delete('b')
        self.assertEqual([second], self.registry.list())
        self.assertRaises(registry_mod.SubscriptionNotFound,
                          self.registry.get, 'b')
        self.assertRaises(registry_mod.SubscriptionNotFound,
                          self.registry.delete, 'b')

    def test_duplicate_id_is_refused(self):
        self.registry.add(_sub('a'))
        self.assertRaises(registry_mod.SubscriptionExists,
                          self.registry.add, _sub('a', table='tags'))
        self.assertEqual('instances', self.registry.get('a').table)

    def test_survives_a_restart(self):
        self.registry.add(_sub('a'))
        self.registry.close()
        again = self.open()  # a new process: new engine, same database
        self.assertEqual([_sub('a').to_dict()['filters']],
                         [s.filters for s in again.list()])
        self.assertEqual('topic-a', again.get('a').subscriber_topic)

    def test_ack_refreshes_last_ack_time(self):
        old = datetime.datetime(2020, 1, 1)
        self.registry.add(_sub('a', created_at=old, last_ack_at=old))
        when = datetime.datetime(2024, 5, 6, 7, 8, 9)
        self.registry.ack('a', when)
        self.assertEqual(when, self.registry.get('a').last_ack_at)
        self.assertEqual(old, self.registry.get('a').created_at)
        self.registry.ack('a', when)  # unchanged value: still found
        self.assertRaises(registry_mod.SubscriptionNotFound,
                          self.registry.ack, 'missing')


backends.for_each_backend(RegistryTest)
