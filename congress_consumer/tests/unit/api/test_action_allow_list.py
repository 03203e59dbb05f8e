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

"""Only declared actions run over REST; a driver's lifecycle never does.

``POST ...?action=execute`` with ``stop``, ``start``, ``wait_live`` or
``conf`` used to run the publish_tables driver's own methods: ``stop``
left a replica that said LIVE and received nothing.
"""

import json

import testtools
import webob

from congress_consumer.api import wsgi
from congress_consumer.replication import driver as driver_mod
from congress_consumer.tests.unit.replication import \
    test_receiver_driver as helpers

PATH = '/v1/data-sources/nova?action=execute'


class ActionAllowListTest(testtools.TestCase):

    def setUp(self):
        super().setUp()
        conf, transport = helpers._transport(self)
        source = helpers.FakeSource(
            {'instances': (1000, ['id'], [{'id': 1}])})
        self.driver = driver_mod.PublishTablesDriver(
            'nova', {'tables': 'instances'}, conf=conf,
            transport=transport, snapshot_source=source)
        self.driver.sync.sync_table('instances')
        self.api = wsgi.API({'nova': self.driver})

    def post(self, name, args=None):
        body = {'name': name, 'options': {'wait': True, 'timeout': 5}}
        if args is not None:
            body['args'] = args
        request = webob.Request.blank(PATH, method='POST',
                                      body=json.dumps(body).encode())
        request.content_type = 'application/json'
        return request.get_response(self.api)

    def test_lifecycle_and_attributes_are_refused_naming_the_action(self):
        for name in ('stop', 'start', 'wait_live', 'conf', 'get_status',
                     'receiver', 'sync', 'refresh_snapshot_', '_on_change'):
            response = self.post(name)
            self.assertIn(response.status_int, (400, 403), name)
            self.assertIn(name, response.json['error']['message'])
        self.assertEqual('LIVE', self.driver.sync.status['instances'].state)
        self.assertFalse(self.driver.receiver._running)  # never started

    def test_declared_actions_run_and_are_the_only_ones_listed(self):
        response = self.post('resync', {'positional': ['instances']})
        self.assertEqual(200, response.status_int, response.body)
        self.assertEqual('SUCCEEDED', response.json['status'])
        listed = webob.Request.blank(
            '/v1/data-sources/nova/actions').get_response(self.api).json
        self.assertEqual(['refresh_snapshot', 'restart', 'resync', 'verify'],
                         [a['name'] for a in listed['results']])
