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

"""Tests of subscription filters: validation and matching."""

import datetime
import decimal

import testtools

from congress_consumer import exceptions
from congress_consumer.subscriptions import filters


KINDS = {'instances': {'columns': ['host', 'state', 'mem', 'at', 'ok'],
                       'kinds': {'host': 'text', 'state': 'text',
                                 'mem': 'number', 'at': 'text',
                                 'ok': 'boolean'}}}


class ParseTest(testtools.TestCase):

    def test_valid_round_trip(self):
        spec = [{'column': 'host', 'value': 'h1'},
                {'column': 'state', 'value': ['a', None]},
                {'column': 'host', 'prefix': 'compute-'},
                {'column': 'mem', 'range': {'gte': 1, 'lt': 2.5}},
                {'and': [{'column': 'host', 'value': 'h1'},
                         {'column': 'ok', 'value': True,
                          'table': 'instances'}]}]
        parsed = filters.parse(spec, KINDS)
        self.assertEqual(spec, filters.to_json(parsed))
        self.assertEqual([], filters.parse(None))
        self.assertEqual([], filters.parse([]))

    def test_invalid(self):
        for bad, text in [
                ({'host': 'h1'}, 'expected a list'),
                (['host'], 'expected an object'),
                ([{'column': 'host'}], 'exactly one of'),
                ([{'column': 'host', 'value': 1, 'op': '='}],
                 'exactly one of'),
                ([{'column': 'host', 'value': 1, 'prefix': 'a'}],
                 'exactly one of'),
                ([{'column': '', 'value': 1}], 'non-empty string'),
                ([{'column': 'host', 'value': []}], 'empty value list'),
                ([{'column': 'host', 'value': [[1]]}], 'not a string'),
                ([{'column': 'host', 'prefix': 1}], 'prefix must be'),
                ([{'column': 'mem', 'range': {'over': 1}}], 'range must'),
                ([{'column': 'mem', 'range': {'gt': None}}], 'not a string'),
                ([{'and': []}], 'non-empty list'),
                ([{'and': [{'column': 'host', 'value': 1}], 'x': 1}],
                 'nothing else'),
                ([{'column': 'nope', 'value': 1}], "no column 'nope'"),
                ([{'column': 'host', 'value': 1, 'table': 'ports'}],
                 "table 'ports'")]:
            exc = self.assertRaises(exceptions.InvalidParamError,
                                    filters.parse, bad, KINDS)
            self.assertIn(text, str(exc))
            self.assertEqual('filters', exc.kwargs['param'])

    def test_type_mismatch(self):
        for bad, text in [
                ([{'column': 'mem', 'value': 'lots'}], "'lots' (text)"),
                ([{'column': 'host', 'value': 7}], 'a text column'),
                ([{'column': 'ok', 'value': 1}], 'a boolean column'),
                ([{'column': 'mem', 'prefix': '1'}], 'prefix on'),
                ([{'column': 'mem', 'range': {'lt': '9'}}], 'a number'),
                ([{'and': [{'column': 'host', 'value': 'h'},
                           {'column': 'mem', 'value': 'x'}]}],
                 'condition 1')]:
            exc = self.assertRaises(exceptions.InvalidParamError,
                                    filters.parse, bad, KINDS)
            self.assertIn(text, str(exc))
        # null matches any column; unknown kinds accept anything
        filters.parse([{'column': 'mem', 'value': None}], KINDS)
        filters.parse([{'column': 'x', 'value': 'y'}],
                      {'t': {'columns': ['x'], 'kinds': {}}})

    def test_kinds(self):
        rows = [{'a': 1, 'b': 'x', 'c': None, 'd': 1, 'e': True},
                {'a': 2.5, 'b': datetime.date(2024, 1, 1), 'c': None,
                 'd': 'one', 'e': False}]
        self.assertEqual({'a': 'number', 'b': 'text', 'e': 'boolean'},
                         filters.kinds(rows, ['a', 'b', 'c', 'd', 'e']))


class MatchTest(testtools.TestCase):

    def match(self, spec, row):
        return filters.matcher(filters.parse(spec))(row)

    def test_empty_filters_match_everything(self):
        self.assertTrue(self.match([], {'host': 'x'}))

    def test_value_list_and_or(self):
        spec = [{'column': 'host', 'value': ['h1', 'h2']},
                {'column': 'state', 'value': 'error'}]
        self.assertTrue(self.match(spec, {'host': 'h2', 'state': 'ok'}))
        self.assertTrue(self.match(spec, {'host': 'h9', 'state': 'error'}))
        self.assertFalse(self.match(spec, {'host': 'h9', 'state': 'ok'}))
        self.assertFalse(self.match(spec, {'state': 'ok'}))

    def test_null_and_congress_values(self):
        self.assertTrue(self.match([{'column': 'host', 'value': None}],
                                   {'host': None}))
        when = datetime.datetime(2024, 1, 2, 3, 4, 5)
        self.assertTrue(self.match(
            [{'column': 'at', 'value': '2024-01-02T03:04:05'}],
            {'at': when}))
        self.assertTrue(self.match([{'column': 'r', 'value': 1.5}],
                                   {'r': decimal.Decimal('1.5')}))
        self.assertFalse(self.match([{'column': 'r', 'value': 'x'}],
                                    {'r': {'a': 1}}))

    def test_and_prefix_range(self):
        spec = [{'and': [{'column': 'host', 'prefix': 'compute-'},
                         {'column': 'mem', 'range': {'gte': 2, 'lt': 8}}]},
                {'column': 'at', 'range': {'gt': '2024-06-01'}}]
        self.assertTrue(self.match(spec, {'host': 'compute-1', 'mem': 2}))
        self.assertFalse(self.match(spec, {'host': 'compute-1', 'mem': 8}))
        self.assertFalse(self.match(spec, {'host': 'ctl-1', 'mem': 4}))
        self.assertFalse(self.match(spec, {'host': None, 'mem': None}))
        self.assertTrue(self.match(
            spec, {'host': 'x', 'mem': 1,
                   'at': datetime.datetime(2024, 7, 1)}))
        self.assertFalse(self.match(spec, {'host': 7, 'mem': 'a'}))

    def test_table_scoped_conditions(self):
        parsed = filters.parse([{'column': 'host', 'value': 'h1',
                                 'table': 'instances'},
                                {'column': 'host', 'value': 'h3',
                                 'table': 'compute_nodes'}])
        self.assertFalse(filters.matcher(parsed, 'instances')(
            {'host': 'h2'}))
        self.assertFalse(filters.matcher(parsed, 'compute_nodes')(
            {'host': 'h1'}))
        self.assertTrue(filters.matcher(parsed, 'compute_nodes')(
            {'host': 'h3'}))
        self.assertTrue(filters.matcher(parsed, 'tags')({'host': 'h2'}))
