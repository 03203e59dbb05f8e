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

"""Tests of translator validation and schemas."""

import copy

from oslotest import base

from congress_consumer.datasources import translators
from congress_consumer.datasources import validation
from congress_consumer import exceptions
from congress_consumer.tests.unit.datasources import samples

VALUE = samples.VALUE


def list_trans(**extra):
    trans = {'translation-type': 'LIST', 'table-name': 'l',
             'val-col': 'v', 'translator': VALUE}
    trans.update(extra)
    return trans


class TestValidation(base.BaseTestCase):

    def assertInvalid(self, translator, key=None, text=None):
        exc = self.assertRaises(exceptions.InvalidTranslatorError,
                                validation.validate_translator, translator)
        if key is not None:
            self.assertEqual(key, exc.kwargs['key'])
            self.assertIn("'%s'" % key, str(exc))
        if text is not None:
            self.assertIn(text, str(exc))
        return exc

    def test_valid_sample_passes(self):
        self.assertIsNone(validation.validate_translator(samples.PORTS))

    def test_unknown_key_named(self):
        self.assertInvalid(list_trans(**{'colour': 'red'}), key='colour')

    def test_missing_required_key_named(self):
        trans = list_trans()
        del trans['val-col']
        self.assertInvalid(trans, key='val-col')

    def test_bad_translation_type(self):
        self.assertInvalid({'translation-type': 'TREE'},
                           key='translation-type', text='TREE')

    def test_bad_selector_type(self):
        trans = copy.deepcopy(samples.FLAVORS)
        trans['selector-type'] = 'XPATH'
        self.assertInvalid(trans, key='selector-type', text='XPATH')

    def test_value_not_allowed_at_top_level(self):
        self.assertInvalid(VALUE, text='top level')

    def test_parent_key_not_allowed_at_top_level(self):
        self.assertInvalid(list_trans(**{'parent-key': 'id'}),
                           key='parent-key')

    def test_parent_key_must_name_parent_value_field(self):
        trans = copy.deepcopy(samples.PORTS)
        trans['field-translators'][2]['translator']['parent-key'] = 'nope'
        self.assertInvalid(trans, key='parent-key', text='nope')

    def test_nested_table_needs_link(self):
        trans = copy.deepcopy(samples.PORTS)
        del trans['field-translators'][3]['translator']['id-col']
        self.assertInvalid(trans, key='id-col')

    def test_duplicate_table_names(self):
        trans = copy.deepcopy(samples.PORTS)
        trans['field-translators'][3]['translator']['table-name'] = 'ports'
        self.assertInvalid(trans, key='table-name', text='duplicate')

    def test_duplicate_column_names(self):
        trans = copy.deepcopy(samples.FLAVORS)
        trans['field-translators'][1]['col'] = 'id'
        self.assertInvalid(trans, text='duplicate column')

    def test_unknown_field_translator_key(self):
        trans = copy.deepcopy(samples.FLAVORS)
        trans['field-translators'][0]['column'] = 'x'
        self.assertInvalid(trans, key='column')

    def test_extract_fn_must_be_callable(self):
        trans = copy.deepcopy(samples.FLAVORS)
        trans['field-translators'][0]['translator'] = {
            'translation-type': 'VALUE', 'extract-fn': 'upper'}
        self.assertInvalid(trans, key='extract-fn')

    def test_non_dict_translator(self):
        self.assertInvalid(['HDICT'], text='must be a dict')


class TestSchema(base.BaseTestCase):

    def test_schema_columns_and_descriptions(self):
        schema = validation.get_schema([samples.PORTS, samples.FLAVORS])
        self.assertEqual(
            ({'name': 'id', 'desc': None},
             {'name': 'port_name', 'desc': 'Port name'},
             {'name': 'tags', 'desc': None}), schema['ports'])
        self.assertEqual(
            ({'name': 'port_id', 'desc': 'Port id'},
             {'name': 'ip', 'desc': None}), schema['ports.ips'])
        self.assertEqual(('tags_id', 'tag'),
                         tuple(c['name'] for c in schema['ports.tags']))
        self.assertEqual({'ports', 'ports.ips', 'ports.tags', 'flavors'},
                         set(schema))

    def test_default_link_column_names(self):
        sub = list_trans(**{'parent-key': 'id'})
        trans = {'translation-type': 'VDICT', 'table-name': 'v',
                 'key-col': 'k', 'val-col': 'v',
                 'id-col': lambda obj: 1, 'translator': VALUE}
        schema = validation.get_schema([trans, {
            'translation-type': 'HDICT', 'table-name': 'h',
            'field-translators': (
                {'fieldname': 'id', 'translator': VALUE},
                {'fieldname': 'l', 'translator': sub})}])
        self.assertEqual('parent_key', schema['l'][0]['name'])
        self.assertEqual('id-col', schema['v'][0]['name'])

    def test_duplicate_tables_across_translators(self):
        self.assertRaises(exceptions.InvalidTranslatorError,
                          validation.get_schema,
                          [samples.FLAVORS, samples.FLAVORS])

    def test_get_tables_lists_own_table_first(self):
        self.assertEqual(['ports', 'ports.ips', 'ports.tags'],
                         translators.get_tables(samples.PORTS))
