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


class ParseTest(testtools.TestCase):

    def test_valid(self):
        parsed = filters.parse([{'column': 'host', 'value': 'h1'},
                                {'column': 'state', 'value': ['a', None]}],
                               columns=['host', 'state'])
        self.assertEqual([('host', ('h1',)), ('state', ('a', None))],
                         parsed)
        self.assertEqual([{'column': 'host', 'value': 'h1'},
                          {'column': 'state', 'value': ['a', None]}],
                         filters.to_json(parsed))
        self.assertEqual([], filters.parse(None))
        self.assertEqual([], filters.parse([]))

    def test_invalid(self):
        for bad, text in [
                ({'host': 'h1'}, 'expected a list'),
                (['host'], 'exactly the keys'),
                ([{'column': 'host'}], 'exactly the keys'),
                ([{'column': 'host', 'value': 1, 'op': '='}],
                 'exactly the keys'),
                ([{'column': '', 'value': 1}], 'non-empty string'),
                ([{'column': 'host', 'value': []}], 'empty value list'),
                ([{'column': 'host', 'value': [[1]]}], 'not a string'),
                ([{'column': 'nope', 'value': 1}], "no column 'nope'")]:
            exc = self.assertRaises(exceptions.InvalidParamError,
                                    filters.parse, bad, ['host'])
            self.assertIn(text, str(exc))
            self.assertEqual('filters', exc.kwargs['param'])


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
