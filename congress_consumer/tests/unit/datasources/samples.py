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

"""Translators and drivers shared by the datasource tests."""

from congress_consumer.datasources import execution
from congress_consumer.datasources import polling
from congress_consumer.datasources import pushed

VALUE = {'translation-type': 'VALUE'}

PORTS = {
    'translation-type': 'HDICT',
    'table-name': 'ports',
    'selector-type': 'DICT_SELECTOR',
    'field-translators': (
        {'fieldname': 'id', 'translator': VALUE},
        {'fieldname': 'name', 'col': 'port_name', 'desc': 'Port name',
         'translator': VALUE},
        {'fieldname': 'ips', 'translator': {
            'translation-type': 'LIST',
            'table-name': 'ports.ips',
            'parent-key': 'id',
            'parent-col-name': 'port_id',
            'parent-key-desc': 'Port id',
            'val-col': 'ip',
            'translator': VALUE}},
        {'fieldname': 'tags', 'translator': {
            'translation-type': 'LIST',
            'table-name': 'ports.tags',
            'id-col': 'tags_id',
            'val-col': 'tag',
            'translator': VALUE}}),
}

FLAVORS = {
    'translation-type': 'HDICT',
    'table-name': 'flavors',
    'field-translators': (
        {'fieldname': 'id', 'translator': VALUE},
        {'fieldname': 'ram', 'translator': VALUE}),
}


class PortsPollingDriver(polling.PollingDataSourceDriver):
    """Polls ``self.ports`` (a list the test mutates)."""

    TRANSLATORS = [PORTS]

    def __init__(self, name='ports-ds', args=None):
        super().__init__(name, args)
        self.ports = []
        self.calls = 0
        self.add_update_method(self._list_ports, PORTS)

    def _list_ports(self):
        self.calls += 1
        return [dict(p) for p in self.ports]


class FlavorsPushedDriver(pushed.PushedDataSourceDriver):
    TRANSLATORS = [FLAVORS]


class ActionDriver(pushed.PushedDataSourceDriver, execution.ExecutionDriver):
    TRANSLATORS = [FLAVORS]

    @execution.action(['server', 'hard'], 'Reboot a server')
    def reboot(self, server, hard=False):
        return ('reboot', server, hard)

    def shutdown(self):  # public but not declared: never executable
        return 'shut down'

    def _secret(self):
        return 'secret'


class Recorder(object):
    """A subscriber remembering every diff it receives."""

    def __init__(self):
        self.calls = []

    def __call__(self, table, to_add, to_del):
        self.calls.append((table, set(to_add), set(to_del)))

    def tables(self):
        return [call[0] for call in self.calls]
