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

"""Tests of PushedDataSourceDriver."""

from oslotest import base

from congress_consumer import exceptions
from congress_consumer.tests.unit.datasources import samples


class TestPushed(base.BaseTestCase):

    def setUp(self):
        super().setUp()
        self.driver = samples.FlavorsPushedDriver('flavors')
        self.recorder = self.driver.subscribe(samples.Recorder())
        self.driver.replace_entire_table_data('flavors', [('f1', 1)])
        del self.recorder.calls[:]

    def assertUntouched(self):
        self.assertEqual({('f1', 1)}, self.driver.get_snapshot('flavors'))
        self.assertEqual([], self.recorder.calls)

    def test_initialized_on_creation(self):
        self.assertTrue(samples.FlavorsPushedDriver('x').initialized)

    def test_replace_accepts_tuples_lists_and_dicts(self):
        diff = self.driver.replace_entire_table_data(
            'flavors', [('f2', 2), ['f3', 3], {'id': 'f4', 'ram': 4},
                        {'id': 'f5'}])
        new = {('f2', 2), ('f3', 3), ('f4', 4), ('f5', None)}
        self.assertEqual((new, {('f1', 1)}), diff)
        self.assertEqual([('flavors', new, {('f1', 1)})],
                         self.recorder.calls)
        self.assertEqual(2, self.driver.number_of_updates)
        self.assertIsNotNone(self.driver.last_updated_time)

    def test_replace_with_same_data_publishes_nothing(self):
        self.assertEqual((set(), set()), self.driver.replace_entire_table_data(
            'flavors', [('f1', 1)]))
        self.assertEqual([], self.recorder.calls)

    def test_replace_wrong_arity_leaves_table(self):
        exc = self.assertRaises(
            exceptions.InvalidDataError,
            self.driver.replace_entire_table_data, 'flavors',
            [('f2', 2), ('f3',)])
        self.assertIn('row 1', str(exc))
        self.assertUntouched()

    def test_replace_unknown_table(self):
        self.assertRaises(exceptions.UnknownTableError,
                          self.driver.replace_entire_table_data, 'nope', [])
        self.assertUntouched()

    def test_replace_bad_rows_rejected(self):
        for bad in ([{'id': 'f', 'colour': 'red'}], [('f', [1])], ['f1'],
                    {'id': 'f'}, 'rows'):
            self.assertRaises(exceptions.InvalidDataError,
                              self.driver.replace_entire_table_data,
                              'flavors', bad)
        self.assertUntouched()

    def test_row_deltas_publish_actual_changes(self):
        diff = self.driver.apply_row_deltas(
            'flavors', to_add={('f2', 2), ('f1', 1)},
            to_del={('f9', 9), ('f1', 1)})
        self.assertEqual(({('f2', 2)}, set()), diff)
        self.assertEqual({('f1', 1), ('f2', 2)},
                         self.driver.get_snapshot('flavors'))
        self.driver.apply_row_deltas('flavors', to_del=[{'id': 'f1',
                                                         'ram': 1}])
        self.assertEqual([('flavors', {('f2', 2)}, set()),
                          ('flavors', set(), {('f1', 1)})],
                         self.recorder.calls)

    def test_row_deltas_are_atomic(self):
        self.assertRaises(exceptions.InvalidDataError,
                          self.driver.apply_row_deltas, 'flavors',
                          to_add={('f2', 2)}, to_del=[('f1', 1, 'extra')])
        self.assertUntouched()
        self.assertRaises(exceptions.UnknownTableError,
                          self.driver.apply_row_deltas, 'other',
                          to_add={('f2', 2)})
        self.assertUntouched()

    def test_webhook_not_implemented_by_default(self):
        exc = self.assertRaises(NotImplementedError,
                                self.driver.process_webhook_notification,
                                {'payload': 1})
        self.assertIn('process_webhook_notification', str(exc))
        self.assertIn('flavors', str(exc))
