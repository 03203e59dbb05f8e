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

"""A custom driver and a custom notification translator (worked example).

``InventoryFileDriver`` polls a JSON file, ``{"racks": [{"name": ...,
"room": ...}, ...]}``; ``CINDER_VOLUMES`` makes rows of cinder's
``volume.*`` notifications.
"""

import json

from congress_consumer.datasources import polling


class InventoryFileDriver(polling.PollingDataSourceDriver):
    """Tables read from a JSON file every ``poll_time`` seconds."""

    DRIVER_INFO = {'id': 'inventory_file',
                   'description': 'Tables of a JSON inventory file.',
                   'config': {'path': 'required', 'tables': 'required',
                              'columns': 'required'}}

    def __init__(self, name='', args=None):
        super().__init__(name, args)
        for table in self.args['tables']:
            self.add_update_method(self._reader(table), {
                'translation-type': 'HDICT', 'table-name': table,
                'selector-type': 'DICT_SELECTOR',
                'field-translators': [
                    {'fieldname': column,
                     'translator': {'translation-type': 'VALUE'}}
                    for column in self.args['columns'][table]]})

    def _reader(self, table):
        def read():
            with open(self.args['path']) as source:
                return json.load(source)[table]
        return read


CINDER_VOLUMES = {
    'translator': {
        'translation-type': 'HDICT', 'table-name': 'volumes',
        'selector-type': 'DICT_SELECTOR',
        'field-translators': [
            {'fieldname': field,
             'translator': {'translation-type': 'VALUE'}}
            for field in ('volume_id', 'status', 'size', 'tenant_id')]},
    'key': 'volume_id',
    'event_types': {'volume.create.end': 'upsert',
                    'volume.update.end': 'upsert',
                    'volume.resize.end': 'upsert',
                    'volume.delete.end': 'delete'},
}
