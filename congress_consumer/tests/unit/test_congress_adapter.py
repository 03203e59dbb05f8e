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

"""The Congress adapter module without Congress installed.

Its behaviour inside Congress is tested by ``tox -e congress``
(:mod:`congress_consumer.tests.congress`).
"""

import importlib.util
import sys

import testtools

from congress_consumer import congress_adapter
from congress_consumer import exceptions


class CongressAdapterImportTest(testtools.TestCase):

    def test_module_imports_without_congress(self):
        self.assertNotIn('congress.dse2.data_service', sys.modules)
        self.assertTrue(hasattr(congress_adapter, '_Endpoints'))

    def test_unknown_attribute(self):
        self.assertRaises(AttributeError, getattr, congress_adapter,
                          'NoSuchThing')

    def test_plugin_needs_congress(self):
        if importlib.util.find_spec('congress') is not None:
            self.skipTest('Congress is installed here')
        self.assertRaises(ImportError, getattr, congress_adapter,
                          'PublishTablesDataSource')


class DriverArgsTest(testtools.TestCase):

    def test_strings_from_congress_command_line(self):
        args = congress_adapter.driver_args({
            'ds_id': 'abc', 'tables': 'instances,tags',
            'columns': 'instances.uuid, instances.host,tags.tag',
            'rename': '{"instances": {"host": "compute_host"}}',
            'gap_timeout': '2.5'})
        self.assertEqual(
            {'tables': 'instances,tags',
             'columns': {'instances': ['uuid', 'host'], 'tags': ['tag']},
             'rename': {'instances': {'host': 'compute_host'}},
             'gap_timeout': '2.5'}, args)

    def test_mappings_pass_through(self):
        config = {'tables': 'instances',
                  'columns': {'instances': ['uuid']}}
        self.assertEqual(config, congress_adapter.driver_args(config))

    def test_bad_strings(self):
        for option, value in (('columns', 'uuid'), ('columns', '{x'),
                              ('types', 'instances.id'),
                              ('table_names', '[1]')):
            exc = self.assertRaises(exceptions.InvalidParamError,
                                    congress_adapter.driver_args,
                                    {option: value})
            self.assertIn(option, str(exc))
