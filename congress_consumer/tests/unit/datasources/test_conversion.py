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

"""Tests of translating objects into rows."""

import copy

from oslotest import base

from congress_consumer.datasources import conversion
from congress_consumer import exceptions
from congress_consumer.tests.unit.datasources import samples

VALUE = samples.VALUE


def hdict(table, *fields, **extra):
    translator = {'translation-type': 'HDICT', 'table-name': table,
                  'field-translators': tuple(fields)}
    translator.update(extra)
    return translator


def field(name, translator=VALUE, **extra):
    result = {'fieldname': name, 'translator': translator}
    result.update(extra)
    return result


def rows_of(rows, table):
    return sorted(row for name, row in rows if name == table)


class TestHdict(base.BaseTestCase):

    def test_value_fields_one_row_per_object(self):
        trans = hdict('t', field('a'), field('b', col='bee'))
        rows = conversion.convert_objs([{'a': 1, 'b': 2}, {'a': 3}], trans)
        self.assertEqual([('t', (1, 2)), ('t', (3, None))], rows)

    def test_dot_selector_reads_attributes(self):
        class Obj(object):
            a = 'x'

        trans = hdict('t', field('a'), field('missing'),
                      **{'selector-type': 'DOT_SELECTOR'})
        self.assertEqual([('t', ('x', None))],
                         conversion.convert_objs([Obj()], trans))

    def test_extract_fn_applies_to_value(self):
        trans = hdict('t', field('a', {'translation-type': 'VALUE',
                                       'extract-fn': str.upper}))
        self.assertEqual([('t', ('X',))],
                         conversion.convert_objs([{'a': 'x'}], trans))

    def test_none_objects_are_skipped(self):
        trans = hdict('t', field('a'))
        self.assertEqual([('t', (1,))],
                         conversion.convert_objs([None, {'a': 1}], trans))
        self.assertEqual([], conversion.convert_objs(None, trans))

    def test_top_level_id_col_hash_first_column(self):
        trans = hdict('t', field('a'), **{'id-col': 'id'})
        rows = conversion.convert_objs([{'a': 1}], trans)
        expected = conversion.compute_hash([('t', (1,))])
        self.assertEqual([('t', (expected, 1))], rows)

    def test_callable_id_col(self):
        trans = hdict('t', field('a'),
                      **{'id-col': lambda obj: 'id-%s' % obj['a']})
        self.assertEqual([('t', ('id-1', 1))],
                         conversion.convert_objs([{'a': 1}], trans))

    def test_objects_extract_fn(self):
        trans = hdict('t', field('a'),
                      **{'objects-extract-fn': lambda o: o['wrapped']})
        self.assertEqual([('t', (5,))], conversion.convert_objs(
            [{'wrapped': {'a': 5}}], trans))


class TestNested(base.BaseTestCase):

    def test_hdict_list_value_parent_key(self):
        rows = conversion.convert_objs(
            [{'id': 'p1', 'name': 'n', 'ips': ['10.0.0.1', '10.0.0.2'],
              'tags': []}], samples.PORTS)
        self.assertEqual([('p1', '10.0.0.1'), ('p1', '10.0.0.2')],
                         rows_of(rows, 'ports.ips'))
        # No column for the parent-key linked field in the parent row.
        port = rows_of(rows, 'ports')
        self.assertEqual(1, len(port))
        self.assertEqual(('p1', 'n'), port[0][:2])
        self.assertEqual(3, len(port[0]))

    def test_hdict_list_id_col_links_parent_and_child(self):
        rows = conversion.convert_objs(
            [{'id': 'p1', 'tags': ['a', 'b']}], samples.PORTS)
        tags_id = rows_of(rows, 'ports')[0][2]
        self.assertEqual([(tags_id, 'a'), (tags_id, 'b')],
                         rows_of(rows, 'ports.tags'))
        self.assertEqual(32, len(tags_id))

    def test_id_col_hash_is_stable_and_content_based(self):
        def tags_id(tags):
            rows = conversion.convert_objs([{'id': 'p', 'tags': tags}],
                                           samples.PORTS)
            return rows_of(rows, 'ports')[0][2]

        self.assertEqual(tags_id(['a', 'b']), tags_id(['b', 'a']))
        self.assertNotEqual(tags_id(['a', 'b']), tags_id(['a', 'c']))
        # Known value: the hash does not depend on the process.
        self.assertEqual(conversion.compute_hash([('ports.tags', ('a',))]),
                         tags_id(['a']))

    def test_nested_none_gives_no_rows_and_none_id(self):
        rows = conversion.convert_objs([{'id': 'p', 'ips': None}],
                                       samples.PORTS)
        self.assertEqual([('ports', ('p', None, None))], rows)

    def test_hdict_hdict_with_id_col(self):
        sub = hdict('t.sub', field('x'), **{'id-col': 'sub_id'})
        trans = hdict('t', field('a'), field('s', sub))
        rows = conversion.convert_objs([{'a': 1, 's': {'x': 9}}], trans)
        sub_id = rows_of(rows, 't')[0][1]
        self.assertEqual([(sub_id, 9)], rows_of(rows, 't.sub'))

    def test_list_of_hdicts(self):
        elem = hdict('t.elems', field('x'), **{'id-col': 'elem_id'})
        lst = {'translation-type': 'LIST', 'table-name': 't.list',
               'parent-key': 'a', 'val-col': 'elem', 'translator': elem}
        trans = hdict('t', field('a'), field('l', lst))
        rows = conversion.convert_objs([{'a': 1, 'l': [{'x': 7}]}], trans)
        elem_id = rows_of(rows, 't.elems')[0][0]
        self.assertEqual([(elem_id, 7)], rows_of(rows, 't.elems'))
        self.assertEqual([(1, elem_id)], rows_of(rows, 't.list'))
        self.assertEqual([(1,)], rows_of(rows, 't'))

    def test_in_list_hdict_with_parent_key(self):
        ips = hdict('ports.fixed_ips', field('subnet'), field('ip'),
                    **{'parent-key': 'id', 'in-list': True})
        trans = hdict('ports', field('id'), field('fixed_ips', ips))
        rows = conversion.convert_objs(
            [{'id': 'p', 'fixed_ips': [{'subnet': 's1', 'ip': '1.1.1.1'},
                                       {'subnet': 's2', 'ip': '2.2.2.2'}]}],
            trans)
        self.assertEqual([('p', 's1', '1.1.1.1'), ('p', 's2', '2.2.2.2')],
                         rows_of(rows, 'ports.fixed_ips'))

    def test_parent_key_may_name_renamed_column(self):
        sub = {'translation-type': 'LIST', 'table-name': 't.l',
               'parent-key': 'ident', 'val-col': 'v', 'translator': VALUE}
        trans = hdict('t', field('id', col='ident'), field('l', sub))
        rows = conversion.convert_objs([{'id': 4, 'l': [1]}], trans)
        self.assertEqual([(4, 1)], rows_of(rows, 't.l'))


class TestVdictAndList(base.BaseTestCase):

    VDICT = {'translation-type': 'VDICT', 'table-name': 'meta',
             'key-col': 'key', 'val-col': 'value', 'translator': VALUE}

    def test_top_level_vdict(self):
        rows = conversion.convert_objs([{'a': 1, 'b': 2}], self.VDICT)
        self.assertEqual([('a', 1), ('b', 2)], rows_of(rows, 'meta'))

    def test_nested_vdict_parent_key(self):
        sub = dict(self.VDICT, **{'parent-key': 'id'})
        trans = hdict('servers', field('id'), field('metadata', sub))
        rows = conversion.convert_objs(
            [{'id': 's1', 'metadata': {'k': 'v'}}], trans)
        self.assertEqual([('s1', 'k', 'v')], rows_of(rows, 'meta'))

    def test_vdict_with_list_values(self):
        lst = {'translation-type': 'LIST', 'table-name': 'meta.vals',
               'id-col': 'vals_id', 'val-col': 'v', 'translator': VALUE}
        trans = dict(self.VDICT, translator=lst)
        rows = conversion.convert_objs([{'k': [1, 2]}], trans)
        vals_id = rows_of(rows, 'meta')[0][1]
        self.assertEqual([(vals_id, 1), (vals_id, 2)],
                         rows_of(rows, 'meta.vals'))

    def test_top_level_list_with_and_without_id(self):
        lst = {'translation-type': 'LIST', 'table-name': 'l',
               'val-col': 'v', 'translator': VALUE}
        self.assertEqual([('l', (1,)), ('l', (2,))],
                         conversion.convert_objs([[1, 2]], lst))
        with_id = dict(lst, **{'id-col': 'lid'})
        rows = conversion.convert_objs([[1, 2]], with_id)
        self.assertEqual(1, len(set(row[0] for _t, row in rows)))

    def test_convert_obj_value_returns_value(self):
        self.assertEqual(([], 3), conversion.convert_obj(3, VALUE))


class TestBadData(base.BaseTestCase):

    def test_unhashable_value_rejected(self):
        trans = hdict('t', field('a'))
        exc = self.assertRaises(exceptions.InvalidDataError,
                                conversion.convert_objs, [{'a': [1]}], trans)
        self.assertIn('t.a', str(exc))

    def test_dict_selector_needs_dict(self):
        self.assertRaises(exceptions.InvalidDataError,
                          conversion.convert_objs, ['text'],
                          hdict('t', field('a')))

    def test_objs_must_be_a_list(self):
        self.assertRaises(exceptions.InvalidDataError,
                          conversion.convert_objs, {'a': 1},
                          hdict('t', field('a')))

    def test_list_translator_rejects_string(self):
        self.assertRaises(exceptions.InvalidDataError,
                          conversion.convert_objs,
                          [{'id': 'p', 'ips': 'not-a-list'}], samples.PORTS)

    def test_translator_is_not_modified(self):
        before = copy.deepcopy(samples.PORTS)
        conversion.convert_objs([{'id': 'p', 'ips': ['1']}], samples.PORTS)
        self.assertEqual(before, samples.PORTS)
