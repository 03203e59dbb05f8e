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

"""The spec's list form of ``args``, service-qualified action names, and
argument errors of ``publish_tables`` actions answered before the call.
"""

import json

import testtools
import webob

from congress_consumer.api import wsgi
from congress_consumer.tests.unit.api import test_execute


class ExecuteFormsTest(testtools.TestCase):

    def setUp(self):
        super().setUp()
        self.driver = test_execute.OpsDriver()
        self.addCleanup(self.driver.release.set)
        self.api = wsgi.API({'ops': self.driver})

    def post(self, body, path=test_execute.PATH):
        request = webob.Request.blank(path, method='POST',
                                      body=json.dumps(body).encode())
        request.content_type = 'application/json'
        return request.get_response(self.api)

    def test_args_as_a_list_are_positional(self):
        response = self.post({'name': 'add', 'args': [2, 3],
                              'options': {'wait': True}})
        self.assertEqual(200, response.status_int)
        self.assertEqual(5, response.json['result'])
        self.assertEqual(400, self.post({'name': 'add',
                                         'args': [1, 2, 3]}).status_int)
        self.assertEqual([('add', 2, 3)], self.driver.calls)

    def test_service_qualified_name_on_the_top_level_endpoint(self):
        top = '/v1/data-sources?action=execute'
        response = self.post({'name': 'ops:add', 'args': {
            'positional': [1], 'named': {'b': 4}},
            'options': {'wait': True}}, path=top)
        self.assertEqual(200, response.status_int)
        self.assertEqual(5, response.json['result'])
        self.assertEqual('ops', response.json['datasource'])
        self.assertEqual('add', response.json['name'])
        self.assertEqual(404, self.post({'name': 'nova:add'},
                                        path=top).status_int)
        for name in ('add', ':add', 'ops:', None):
            response = self.post({'name': name}, path=top)
            self.assertEqual(400, response.status_int)
            self.assertIn('<datasource>:<action>',
                          response.json['error']['message'])
        self.assertEqual(400, self.post(
            {'name': 'ops:add'},
            path='/v1/data-sources?action=request-refresh').status_int)
        self.assertEqual([('add', 1, 4)], self.driver.calls)

    def test_argument_errors_name_the_field_sent(self):
        for args, field in (('x', 'args'), ({'positonal': [1]}, 'args'),
                            ({'positional': 'x'}, 'args.positional'),
                            ({'named': [1]}, 'args.named'),
                            ([1, 2, 3], 'args')):
            response = self.post({'name': 'add', 'args': args})
            self.assertEqual(400, response.status_int)
            message = response.json['error']['message']
            self.assertIn('Invalid parameter %s:' % field, message)
            self.assertNotIn('action_args', message)
