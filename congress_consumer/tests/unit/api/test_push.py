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

"""HTTP push into a push datasource, through the WSGI application."""

import json

import testtools
import webob

from congress_consumer.api import wsgi
from congress_consumer.datasources import http_push
from congress_consumer import exceptions

TOKEN = 's3cret-token'
ROWS = '/v1/data-sources/alarms/tables/alarms/rows'


class PushTest(testtools.TestCase):

    def setUp(self):
        super().setUp()
        self.driver = http_push.HttpPushDriver('alarms', {
            'tables': 'alarms,hosts',
            'columns': {'alarms': ['id', 'state', 'severity'],
                        'hosts': ['name']},
            'push_token': TOKEN})
        self.changes = []
        self.driver.subscribe(
            lambda table, add, rem: self.changes.append((table, add, rem)))
        self.api = wsgi.API({'alarms': self.driver}, push_enabled=True,
                            max_body_bytes=2000)

    def call(self, method, body, path=ROWS, token=TOKEN,
             content_type='application/json', api=None, headers=None):
        if not isinstance(body, bytes):
            body = json.dumps(body).encode()
        request = webob.Request.blank(path, method=method, body=body)
        request.content_type = content_type
        if token is not None:
            request.headers['X-Auth-Token'] = token
        request.headers.update(headers or {})
        response = request.get_response(api or self.api)
        return response.status_int, response.json

    def rows(self, table='alarms'):
        return self.driver.get_snapshot(table)

    def assert_error(self, code, fragment, *args, **kwargs):
        status, body = self.call(*args, **kwargs)
        self.assertEqual(code, status, body)
        self.assertEqual(code, body['error']['code'])
        self.assertIn(fragment, body['error']['message'])
        return body

    def test_put_replaces_the_table(self):
        status, body = self.call('PUT', [
            ['a1', 'ok', 1], {'id': 'a2', 'state': 'alarm'}])
        self.assertEqual(200, status)
        self.assertEqual({'added': 2, 'deleted': 0, 'rows': 2}, body)
        self.assertEqual({('a1', 'ok', 1), ('a2', 'alarm', None)},
                         self.rows())
        status, body = self.call('PUT', [['a1', 'ok', 1]])
        self.assertEqual({'added': 0, 'deleted': 1, 'rows': 1}, body)
        self.assertEqual(
            [('alarms', {('a1', 'ok', 1), ('a2', 'alarm', None)}, set()),
             ('alarms', set(), {('a2', 'alarm', None)})],
            [(t, set(a), set(r)) for t, a, r in self.changes])
        # The read API serves what was pushed.
        request = webob.Request.blank(ROWS)
        self.assertEqual({'results': [{'data': ['a1', 'ok', 1]}]},
                         request.get_response(self.api).json)

    def test_patch_applies_deltas(self):
        self.call('PUT', [['a1', 'ok', 1], ['a2', 'ok', 2]])
        status, body = self.call('PATCH', {'to_add': [['a3', 'alarm', 3]],
                                           'to_del': [['a1', 'ok', 1]]})
        self.assertEqual(200, status)
        self.assertEqual({'added': 1, 'deleted': 1, 'rows': 2}, body)
        self.assertEqual({('a2', 'ok', 2), ('a3', 'alarm', 3)}, self.rows())
        status, body = self.call('PATCH', {'to_del': [['a2', 'ok', 2]]})
        self.assertEqual({('a3', 'alarm', 3)}, self.rows())

    def test_bearer_token(self):
        status, _ = self.call('PUT', [['a1', 'ok', 1]], token=None,
                              headers={'Authorization': 'Bearer ' + TOKEN})
        self.assertEqual(200, status)

    def test_token_required_and_checked(self):
        self.call('PUT', [['a1', 'ok', 1]])
        for token in (None, '', 'wrong', TOKEN + 'x', TOKEN[:-1]):
            body = self.assert_error(401, 'valid token', 'PUT',
                                     [['a9', 'x', 9]], token=token)
            self.assertIn('error', body)
        status, _ = self.call('PUT', [], token=None,
                              headers={'Authorization': 'Basic ' + TOKEN})
        self.assertEqual(401, status)
        self.assertEqual({('a1', 'ok', 1)}, self.rows())

    def test_401_names_the_scheme(self):
        request = webob.Request.blank(ROWS, method='PUT', body=b'[]')
        request.content_type = 'application/json'
        response = request.get_response(self.api)
        self.assertEqual(401, response.status_int)
        self.assertIn('Bearer', response.headers['WWW-Authenticate'])

    def test_push_disabled_by_default(self):
        api = wsgi.API({'alarms': self.driver})
        self.assert_error(403, 'disabled', 'PUT', [['a1', 'ok', 1]],
                          api=api)
        self.assertEqual(set(), self.rows())

    def test_not_a_push_datasource(self):
        # A driver without push() answers 405 and names GET.
        self.api.drivers['plain'] = _NoPush(self.driver)
        request = webob.Request.blank(
            '/v1/data-sources/plain/tables/alarms/rows', method='PUT',
            body=b'[]')
        response = request.get_response(self.api)
        self.assertEqual(405, response.status_int)
        self.assertIn('GET', response.headers['Allow'])

    def test_body_limits(self):
        self.assert_error(413, 'larger than the limit', 'PUT',
                          [['a%d' % i, 'ok', i] for i in range(200)])
        self.assert_error(415, 'application/json', 'PUT', [['a1', 'ok', 1]],
                          content_type='text/plain')
        request = webob.Request.blank(ROWS, method='PUT')
        request.headers['X-Auth-Token'] = TOKEN
        request.content_type = 'application/json'
        self.assertNotIn('Content-Length', request.headers)
        response = request.get_response(self.api)
        self.assertEqual(411, response.status_int)
        self.assertEqual(set(), self.rows())

    def test_bad_input_never_changes_the_table(self):
        self.call('PUT', [['a1', 'ok', 1]])
        self.changes[:] = []
        cases = [
            ('PUT', b'{not json', 'not JSON'),
            ('PUT', b'\xff\xfe', 'not JSON'),
            ('PUT', b'[["a2", NaN, 1]]', 'not JSON'),
            ('PUT', b'', 'empty'),
            ('PUT', {'id': 'a2'}, 'expected a JSON array'),
            ('PUT', [['a2', 'ok', 2], ['a3', 'ok']], 'row 1'),
            ('PUT', [['a2', 'ok', 2], {'id': 'a3', 'color': 'red'}],
             'unknown column'),
            ('PUT', [['a2', 'ok', [1]]], 'values must be'),
            ('PUT', [{'id': 'a2', 'state': {'x': 1}}], 'values must be'),
            ('PUT', [['a2', 'ok', 2], 'a3'], 'expected a list'),
            ('PATCH', [['a2', 'ok', 2]], 'expected a JSON object'),
            ('PATCH', {'add': [['a2', 'ok', 2]]}, 'unknown key'),
            ('PATCH', {'to_add': [['a2', 'ok', 2]], 'to_del': 'a1'},
             'to_del'),
            ('PATCH', {'to_add': [['a2', 'ok']]}, 'row 0'),
        ]
        for method, body, fragment in cases:
            self.assert_error(400, fragment, method, body)
        self.assertEqual({('a1', 'ok', 1)}, self.rows())
        self.assertEqual([], self.changes)

    def test_unknown_table_and_datasource(self):
        self.assert_error(404, 'table nope', 'PUT', [],
                          path='/v1/data-sources/alarms/tables/nope/rows')
        self.assert_error(404, 'data source nope', 'PUT', [],
                          path='/v1/data-sources/nope/tables/alarms/rows')

    def test_other_tables_are_independent(self):
        self.call('PUT', [['a1', 'ok', 1]])
        status, _ = self.call(
            'PUT', [['h1'], {'name': 'h2'}],
            path='/v1/data-sources/alarms/tables/hosts/rows')
        self.assertEqual(200, status)
        self.assertEqual({('h1',), ('h2',)}, self.rows('hosts'))
        self.assertEqual({('a1', 'ok', 1)}, self.rows())


class _NoPush(object):
    """A read-only driver: every attribute but push and authenticate."""

    def __init__(self, driver):
        self._driver = driver

    def __getattr__(self, name):
        if name in ('push', 'authenticate'):
            raise AttributeError(name)
        return getattr(self._driver, name)


class HttpPushDriverTest(testtools.TestCase):

    def make(self, **args):
        base = {'tables': 'alarms', 'columns': {'alarms': ['id']},
                'push_token': TOKEN}
        base.update(args)
        return http_push.HttpPushDriver('alarms', base)

    def test_schema(self):
        driver = self.make(columns={'alarms': 'id, state'})
        self.assertEqual(('id', 'state'), driver.get_column_names('alarms'))
        self.assertEqual('push', driver.get_datasource_info()['id'])
        self.assertEqual(['push_token'],
                         driver.get_datasource_info()['secret'])

    def test_bad_args(self):
        for args, fragment in (
                ({'tables': ''}, 'tables'),
                ({'columns': {}}, 'no column given for table alarms'),
                ({'columns': {'alarms': ['id'], 'x': ['y']}},
                 'not listed in tables'),
                ({'columns': ['id']}, 'expected {table'),
                ({'push_token': ''}, 'push_token'),
                ({'push_token': None}, 'push_token')):
            exc = self.assertRaises(exceptions.InvalidParamError,
                                    self.make, **args)
            self.assertIn(fragment, str(exc))

    def test_authenticate(self):
        driver = self.make()
        self.assertTrue(driver.authenticate(TOKEN))
        self.assertFalse(driver.authenticate(TOKEN.upper()))
        self.assertFalse(driver.authenticate(None))
        self.assertFalse(driver.authenticate(b'bytes'))
