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

"""Tests of the ExecutionDriver mixin."""

from oslotest import base

from congress_consumer import exceptions
from congress_consumer.tests.unit.datasources import samples


class TestExecution(base.BaseTestCase):

    def setUp(self):
        super().setUp()
        self.driver = samples.ActionDriver('nova')
        self.calls = []

    def test_registered_callable_positional_and_named(self):
        self.driver.add_executable_method(
            'servers.stop', [{'name': 'server', 'description': 'id'}],
            'Stop a server',
            method=lambda *a, **k: self.calls.append((a, k)) or 'ok')
        result = self.driver.execute(
            'servers.stop', {'positional': ['vm1'], 'named': {'force': 1}})
        self.assertEqual('ok', result)
        self.assertEqual([(('vm1',), {'force': 1})], self.calls)

    def test_registered_name_dispatches_to_own_method(self):
        self.driver.add_executable_method('reboot', ['server', 'hard'])
        self.assertEqual(('reboot', 'vm1', True), self.driver.execute(
            'reboot', {'positional': ['vm1'], 'named': {'hard': True}}))

    def test_declared_method_is_executable(self):
        self.assertEqual(('reboot', 'vm2', False), self.driver.execute(
            'reboot', {'named': {'server': 'vm2'}}))

    def test_undeclared_public_methods_and_attributes_are_refused(self):
        for action in ('shutdown', 'stop', 'start', 'get_status', 'name',
                       'state'):
            exc = self.assertRaises(exceptions.UnknownActionError,
                                    self.driver.execute, action, {})
            self.assertIn(action, str(exc))

    def test_unknown_action(self):
        exc = self.assertRaises(exceptions.UnknownActionError,
                                self.driver.execute, 'explode', {})
        self.assertIsInstance(exc, exceptions.CongressConsumerError)
        self.assertIn('explode', str(exc))

    def test_framework_and_private_methods_not_executable(self):
        for action in ('publish', 'replace_entire_table_data', 'execute',
                       'get_actions', 'subscribe', '_secret', '__init__'):
            self.assertRaises(exceptions.UnknownActionError,
                              self.driver.execute, action, {})

    def test_get_actions(self):
        self.driver.add_executable_method(
            'b', [{'name': 'x', 'description': 'the x'}], 'B action')
        self.driver.add_executable_method('a', ['y'], 'A action')
        self.assertEqual(
            {'results': [
                {'name': 'a', 'args': [{'name': 'y', 'description': ''}],
                 'description': 'A action'},
                {'name': 'b', 'args': [{'name': 'x', 'description': 'the x'}],
                 'description': 'B action'},
                {'name': 'reboot',
                 'args': [{'name': 'server', 'description': ''},
                          {'name': 'hard', 'description': ''}],
                 'description': 'Reboot a server'}]},
            self.driver.get_actions())

    def test_malformed_action_args(self):
        for bad in ({'positional': 'vm1'}, {'named': ['x']},
                    {'keyword': {}}, ['vm1']):
            self.assertRaises(exceptions.InvalidParamError,
                              self.driver.execute, 'reboot', bad)

    def test_add_executable_method_validates(self):
        self.assertRaises(exceptions.InvalidParamError,
                          self.driver.add_executable_method, '', [])
        self.assertRaises(exceptions.InvalidParamError,
                          self.driver.add_executable_method, 'x', [],
                          method='not callable')
