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

"""Error messages name what the user sent and the value they configured.

A ConfigError names ``[group] option = value``: the value must be the
configured one, never a literal standing for several (``'durable or
relayed'``); an argument error names the field of the request (``args``),
never an internal parameter name (``action_args``). Read from the
source of both sides, so that a new message cannot slip back.
"""

import ast
import os

import testtools

TOP = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__)))))
PACKAGES = ('oslo_publish_tables', 'congress_consumer')
INTERNAL_NAMES = {'action_args'}
# Where requests are checked (elsewhere a param is an option's name, such
# as the rpc_actions driver's action_args).
REQUEST_CODE = ('congress_consumer/api/', 'congress_consumer/datasources/'
                'execution.py', 'congress_consumer/congress_adapter.py')


def _calls(name):
    """``(path, call)`` of every call of ``...name(...)`` outside tests."""
    for package in PACKAGES:
        for root, dirs, files in os.walk(os.path.join(TOP, package)):
            dirs[:] = [d for d in dirs if d != 'tests']
            for file_name in files:
                if not file_name.endswith('.py'):
                    continue
                path = os.path.join(root, file_name)
                with open(path) as f:
                    tree = ast.parse(f.read(), path)
                for node in ast.walk(tree):
                    if isinstance(node, ast.Call) and getattr(
                            node.func, 'attr', getattr(node.func, 'id',
                                                       None)) == name:
                        yield os.path.relpath(path, TOP), node


def _argument(call, position, keyword):
    for kw in call.keywords:
        if kw.arg == keyword:
            return kw.value
    if len(call.args) > position:
        return call.args[position]
    return None


class ErrorMessagesTest(testtools.TestCase):

    def test_config_errors_show_the_configured_value(self):
        bad = []
        for path, call in _calls('ConfigError'):
            # producer: (option, value, reason); consumer: value=...
            value = _argument(call, 1, 'value')
            if isinstance(value, ast.Constant) and isinstance(
                    value.value, str) and ' or ' in value.value:
                bad.append('%s:%d %r' % (path, call.lineno, value.value))
        self.assertEqual([], bad)

    def test_parameter_errors_name_the_field_sent(self):
        bad = []
        for path, call in _calls('InvalidParamError'):
            if not path.startswith(REQUEST_CODE):
                continue
            param = _argument(call, 99, 'param')
            if isinstance(param, ast.Constant) and \
                    param.value in INTERNAL_NAMES:
                bad.append('%s:%d %r' % (path, call.lineno, param.value))
        self.assertEqual([], bad)

    def test_the_finder_finds_calls(self):
        self.assertGreater(len(list(_calls('ConfigError'))), 10)
        self.assertGreater(len(list(_calls('InvalidParamError'))), 5)
