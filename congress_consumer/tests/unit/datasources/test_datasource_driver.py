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

"""Tests of the DataSourceDriver base class and the exceptions."""

import fixtures
from oslotest import base

from congress_consumer.datasources import datasource_driver
from congress_consumer import exceptions
from congress_consumer.tests.unit.datasources import samples


class PortsDriver(datasource_driver.DataSourceDriver):
    DRIVER_INFO = {'id': 'ports', 'description': 'Ports',
                   'config': {'auth_url': 'required',
                              'poll_time': 'optional'}}
    TRANSLATORS = [samples.PORTS]


class TestClassLevel(base.BaseTestCase):

    def test_schema_and_tablenames_on_class(self):
        self.assertEqual({'ports', 'ports.ips', 'ports.tags'},
                         PortsDriver.get_tablenames())
        self.assertEqual(('port_id', 'ip'),
                         PortsDriver.get_column_names('ports.ips'))
        self.assertEqual([samples.PORTS], PortsDriver.get_translators())
        self.assertEqual({}, datasource_driver.DataSourceDriver.get_schema())

    def test_constants_are_class_attributes(self):
        self.assertEqual('HDICT', PortsDriver.HDICT)
        self.assertEqual('translation-type', PortsDriver.TRANSLATION_TYPE)

    def test_get_datasource_info(self):
        info = PortsDriver.get_datasource_info()
        self.assertEqual('ports', info['id'])
        self.assertEqual('required', info['config']['auth_url'])
        info['config']['auth_url'] = 'changed'
        self.assertEqual('required',
                         PortsDriver.get_datasource_info()['config']
                         ['auth_url'])
        self.assertEqual(
            'dataSourceDriver'.lower(),
            datasource_driver.DataSourceDriver.get_datasource_info()['id'])

    def test_required_config_enforced(self):
        exc = self.assertRaises(exceptions.InvalidParamError,
                                PortsDriver, 'p', {})
        self.assertIn('auth_url', str(exc))


class TestInstance(base.BaseTestCase):

    def setUp(self):
        super().setUp()
        self.driver = PortsDriver('p', {'auth_url': 'http://x'})
        self.recorder = self.driver.subscribe(samples.Recorder())

    def test_initial_attributes(self):
        self.assertEqual('p', self.driver.name)
        self.assertEqual({'auth_url': 'http://x'}, self.driver.args)
        self.assertEqual({}, self.driver.state)
        self.assertFalse(self.driver.initialized)
        self.assertIsNone(self.driver.last_updated_time)
        self.assertEqual(0, self.driver.number_of_updates)

    def test_register_translator_extends_instance_schema_only(self):
        self.driver.register_translator(samples.FLAVORS)
        self.assertIn('flavors', self.driver.get_tablenames())
        self.assertNotIn('flavors', PortsDriver.get_tablenames())
        self.assertEqual(('id', 'ram'),
                         self.driver.get_column_names('flavors'))
        self.assertIs(samples.FLAVORS, self.driver.get_translator('flavors'))

    def test_register_duplicate_table_rejected(self):
        self.assertRaises(exceptions.InvalidTranslatorError,
                          self.driver.register_translator, samples.PORTS)

    def test_unknown_table_errors(self):
        self.assertRaises(exceptions.UnknownTableError,
                          self.driver.get_row_data, 'nope')
        self.assertRaises(exceptions.UnknownTableError,
                          self.driver.get_column_names, 'nope')
        self.assertRaises(exceptions.UnknownTableError,
                          self.driver.get_translator, 'ports.ips')

    def test_publish_sends_diff_and_sets_state(self):
        diff = self.driver.publish('ports.ips', [('p1', 'a'), ('p1', 'b')])
        self.assertEqual(({('p1', 'a'), ('p1', 'b')}, set()), diff)
        self.driver.publish('ports.ips', [('p1', 'b'), ('p2', 'c')])
        self.assertEqual(
            [('ports.ips', {('p1', 'a'), ('p1', 'b')}, set()),
             ('ports.ips', {('p2', 'c')}, {('p1', 'a')})],
            self.recorder.calls)
        self.assertEqual({('p1', 'b'), ('p2', 'c')},
                         self.driver.get_snapshot('ports.ips'))

    def test_unchanged_publish_sends_nothing(self):
        self.driver.publish('ports.ips', [('p1', 'a')])
        self.driver.publish('ports.ips', [('p1', 'a')])
        self.assertEqual(1, len(self.recorder.calls))

    def test_get_row_data_format(self):
        self.assertEqual([], self.driver.get_row_data('ports'))
        self.driver.publish('ports.ips', [('p2', 'b'), ('p1', 'a')])
        self.assertEqual([{'data': ('p1', 'a')}, {'data': ('p2', 'b')}],
                         self.driver.get_row_data('ports.ips'))

    def test_get_snapshot_is_a_copy(self):
        self.driver.publish('ports.ips', [('p1', 'a')])
        self.driver.get_snapshot('ports.ips').add(('x', 'y'))
        self.assertEqual({('p1', 'a')}, self.driver.state['ports.ips'])

    def test_failing_subscriber_does_not_stop_others(self):
        def broken(table, to_add, to_del):
            raise RuntimeError('boom')

        logger = self.useFixture(fixtures.FakeLogger())
        self.driver.unsubscribe(self.recorder)
        self.driver.subscribe(broken)
        later = self.driver.subscribe(samples.Recorder())
        self.driver.publish('ports', [('p', 'n', None)])
        self.assertEqual(['ports'], later.tables())
        self.assertEqual([], self.recorder.calls)
        self.assertIn('boom', logger.output)

    def test_update_state_returns_diff_without_publishing(self):
        self.driver.state['ports.ips'] = {('a', '1')}
        self.assertEqual(({('b', '2')}, {('a', '1')}),
                         self.driver._update_state('ports.ips',
                                                   [('b', '2')]))
        self.assertEqual([], self.recorder.calls)

    def test_update_from_datasource_is_abstract(self):
        self.assertRaises(NotImplementedError,
                          self.driver.update_from_datasource)

    def test_get_status(self):
        status = self.driver.get_status()
        self.assertEqual({'name': 'p', 'initialized': False,
                          'last_updated': None, 'number_of_updates': 0,
                          'last_error': None, 'subscribers': 1}, status)


class TestExceptions(base.BaseTestCase):

    def test_hierarchy(self):
        for cls in (exceptions.InvalidTranslatorError,
                    exceptions.InvalidParamError,
                    exceptions.UnknownTableError,
                    exceptions.InvalidDataError,
                    exceptions.UnknownActionError):
            self.assertTrue(issubclass(cls, exceptions.CongressConsumerError))

    def test_message_from_template_or_explicit(self):
        exc = exceptions.UnknownTableError(table='t', datasource='d')
        self.assertEqual('Unknown table t in data source d', str(exc))
        self.assertEqual('t', exc.kwargs['table'])
        self.assertEqual('custom', str(exceptions.InvalidDataError('custom')))
        # A template missing its arguments still gives a message.
        self.assertEqual(exceptions.InvalidDataError.msg_fmt,
                         str(exceptions.InvalidDataError()))
