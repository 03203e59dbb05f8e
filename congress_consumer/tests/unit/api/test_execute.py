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

"""``POST /v1/data-sources/{ds}?action=execute`` and its executions."""

import json
import threading

import testtools
import webob

from congress_consumer.api import actions
from congress_consumer.api import wsgi
from congress_consumer.datasources import execution
from congress_consumer.datasources import pushed
from congress_consumer import exceptions

PATH = '/v1/data-sources/ops?action=execute'


class OpsDriver(pushed.PushedDataSourceDriver, execution.ExecutionDriver):
    """Actions the tests control."""

    def __init__(self):
        super().__init__('ops')
        self.release = threading.Event()
        self.calls = []

    @execution.action()
    def add(self, a, b=0):
        self.calls.append(('add', a, b))
        return a + b

    @execution.action()
    def block(self):
        self.calls.append(('block',))
        if not self.release.wait(10):
            raise exceptions.InvalidDataError('never released')
        return 'released'

    @execution.action()
    def fail(self):
        raise exceptions.InvalidDataError('the action broke')


class ExecuteTest(testtools.TestCase):

    def setUp(self):
        super().setUp()
        self.driver = OpsDriver()
        self.addCleanup(self.driver.release.set)
        self.api = wsgi.API({'ops': self.driver})

    def post(self, body, path=PATH):
        if not isinstance(body, bytes):
            body = json.dumps(body).encode()
        request = webob.Request.blank(path, method='POST', body=body)
        request.content_type = 'application/json'
        response = request.get_response(self.api)
        return response

    def get(self, path):
        return webob.Request.blank(path).get_response(self.api)

    def wait_done(self, location):
        for _ in range(200):
            body = self.get(location).json
            if body['status'] != wsgi.RUNNING:
                return body
            threading.Event().wait(0.02)
        self.fail('execution still running')

    def test_answers_202_before_the_action_completes(self):
        response = self.post({'name': 'block'})
        self.assertEqual(202, response.status_int)
        body = response.json
        self.assertEqual('RUNNING', body['status'])
        self.assertEqual('block', body['name'])
        self.assertEqual('ops', body['datasource'])
        location = response.location
        self.assertTrue(location.endswith(
            '/v1/data-sources/ops/executions/' + body['id']))
        self.assertEqual('RUNNING', self.get(location).json['status'])
        self.driver.release.set()
        done = self.wait_done(location)
        self.assertEqual('SUCCEEDED', done['status'])
        self.assertEqual('released', done['result'])
        self.assertIsNotNone(done['finished'])
        listing = self.get('/v1/data-sources/ops/executions').json
        self.assertEqual([body['id']], [e['id'] for e in listing['results']])

    def test_args_and_wait(self):
        response = self.post({'name': 'add',
                              'args': {'positional': [2],
                                       'named': {'b': 3}},
                              'options': {'wait': True, 'timeout': 5}})
        self.assertEqual(200, response.status_int)
        self.assertEqual('SUCCEEDED', response.json['status'])
        self.assertEqual(5, response.json['result'])
        self.assertEqual([('add', 2, 3)], self.driver.calls)

    def test_wait_times_out_with_202(self):
        response = self.post({'name': 'block',
                              'options': {'wait': True, 'timeout': 0.1}})
        self.assertEqual(202, response.status_int)
        self.assertEqual('RUNNING', response.json['status'])

    def test_failure_during_the_action_is_reported_later(self):
        response = self.post({'name': 'fail'})
        self.assertEqual(202, response.status_int)
        done = self.wait_done(response.location)
        self.assertEqual('FAILED', done['status'])
        self.assertIn('the action broke', done['error'])

    def test_errors_before_the_call_answer_400_and_call_nothing(self):
        cases = [
            (b'not json', 'not JSON'),
            ([], 'expected a JSON object'),
            ({'args': {}}, 'expected a JSON object'),
            ({'name': ''}, 'expected a JSON object'),
            ({'name': 'add', 'extra': 1}, 'unknown key'),
            ({'name': 'explode'}, 'Unknown action explode'),
            ({'name': 'publish'}, 'Unknown action publish'),
            ({'name': '_secret'}, 'Unknown action'),
            ({'name': 'add'}, "missing a required argument: 'a'"),
            ({'name': 'add', 'args': {'positional': [1, 2, 3]}},
             'too many positional'),
            ({'name': 'add', 'args': {'named': {'c': 1, 'a': 1}}},
             "unexpected keyword argument 'c'"),
            ({'name': 'add', 'args': {'positional': 1}}, 'must be a list'),
            ({'name': 'add', 'args': 'x'}, 'must be a list or a dict'),
            ({'name': 'add', 'args': {'keyword': {}}}, 'unknown key'),
            ({'name': 'add', 'args': {'positional': [1]},
              'options': {'wait': 'yes'}}, 'wait must be'),
            ({'name': 'add', 'args': {'positional': [1]},
              'options': {'timeout': 0}}, 'timeout must be'),
            ({'name': 'add', 'args': {'positional': [1]},
              'options': {'timeout': 1000}}, 'timeout must be'),
            ({'name': 'add', 'args': {'positional': [1]},
              'options': {'later': True}}, 'unknown key'),
            ({'name': 'add', 'args': {'positional': [1]},
              'options': []}, 'options'),
        ]
        for body, fragment in cases:
            response = self.post(body)
            self.assertEqual(400, response.status_int, body)
            self.assertIn(fragment, response.json['error']['message'])
        self.assertEqual([], self.driver.calls)
        self.assertEqual(
            [], self.get('/v1/data-sources/ops/executions').json['results'])

    def test_unknown_datasource_and_execution(self):
        self.assertEqual(404, self.post(
            {'name': 'add'}, '/v1/data-sources/nope?action=execute'
        ).status_int)
        self.assertEqual(404, self.get(
            '/v1/data-sources/ops/executions/abc').status_int)

    def test_finished_executions_are_pruned(self):
        self.patch(actions, 'EXECUTIONS_KEPT', 2)
        ids = []
        for i in range(4):
            response = self.post({'name': 'add',
                                  'args': {'positional': [i]},
                                  'options': {'wait': True}})
            ids.append(response.json['id'])
        listing = self.get('/v1/data-sources/ops/executions').json
        self.assertEqual(ids[-2:], [e['id'] for e in listing['results']])

    def test_execute_body_size_is_bounded(self):
        self.api.max_body_bytes = 50
        response = self.post({'name': 'add', 'args': {
            'positional': ['x' * 100]}})
        self.assertEqual(413, response.status_int)
        self.assertEqual([], self.driver.calls)


class PrepareTest(testtools.TestCase):

    def test_prepare_checks_without_calling(self):
        driver = OpsDriver()
        call = driver.prepare('add', {'positional': [1], 'named': {'b': 2}})
        self.assertEqual([], driver.calls)
        self.assertEqual(3, call())
        self.assertRaises(exceptions.InvalidParamError, driver.prepare,
                          'add', {'named': {'b': 2}})
        self.assertRaises(exceptions.InvalidParamError, driver.execute,
                          'add', {'positional': [1, 2, 3]})
        self.assertRaises(exceptions.InvalidParamError, driver.prepare,
                          'add', {'positional': [1], 'named': {1: 2}})
