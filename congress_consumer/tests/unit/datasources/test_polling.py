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

"""Tests of PollingDataSourceDriver: diffs and the polling thread."""

import threading
import time

import fixtures
from oslotest import base

from congress_consumer.datasources import polling
from congress_consumer import exceptions
from congress_consumer.tests.unit.datasources import samples

PORT = {'id': 'p1', 'name': 'one', 'ips': ['10.0.0.1'], 'tags': []}


class TestPoll(base.BaseTestCase):

    def setUp(self):
        super().setUp()
        self.driver = samples.PortsPollingDriver()
        self.recorder = self.driver.subscribe(samples.Recorder())

    def test_poll_time_default_and_from_args(self):
        self.assertEqual(10, self.driver.poll_time)
        driver = samples.PortsPollingDriver(args={'poll_time': '2.5'})
        self.assertEqual(2.5, driver.poll_time)

    def test_invalid_poll_time(self):
        for bad in ('soon', 0, -1, None):
            self.assertRaises(exceptions.InvalidParamError,
                              samples.PortsPollingDriver,
                              args={'poll_time': bad})

    def test_first_poll_publishes_all_tables_with_rows(self):
        self.driver.ports = [PORT]
        changes = self.driver.poll()
        self.assertEqual({'ports', 'ports.ips'}, set(changes))
        self.assertEqual(sorted(['ports', 'ports.ips']),
                         sorted(self.recorder.tables()))
        self.assertEqual({('p1', '10.0.0.1')},
                         self.driver.get_snapshot('ports.ips'))
        self.assertEqual(set(), self.driver.get_snapshot('ports.tags'))
        self.assertTrue(self.driver.initialized)
        self.assertEqual(1, self.driver.number_of_updates)
        self.assertIsNotNone(self.driver.last_poll_time)

    def test_unchanged_poll_publishes_nothing(self):
        self.driver.ports = [PORT]
        self.driver.poll()
        del self.recorder.calls[:]
        self.assertEqual({}, self.driver.poll())
        self.assertEqual([], self.recorder.calls)
        self.assertEqual(2, self.driver.calls)

    def test_only_changed_tables_are_published(self):
        self.driver.ports = [PORT]
        self.driver.poll()
        del self.recorder.calls[:]
        self.driver.ports = [dict(PORT, ips=['10.0.0.2'])]
        self.driver.poll()
        self.assertEqual(
            [('ports.ips', {('p1', '10.0.0.2')}, {('p1', '10.0.0.1')})],
            self.recorder.calls)

    def test_deleted_objects_are_published_as_deletions(self):
        self.driver.ports = [PORT]
        self.driver.poll()
        del self.recorder.calls[:]
        self.driver.ports = []
        changes = self.driver.poll()
        self.assertEqual((set(), {('p1', '10.0.0.1')}), changes['ports.ips'])
        self.assertEqual(set(), self.driver.get_snapshot('ports'))

    def test_failed_poll_keeps_state_and_records_error(self):
        self.driver.ports = [PORT]
        self.driver.poll()
        del self.recorder.calls[:]
        self.driver.ports = [{'id': ['unhashable']}]
        self.assertRaises(exceptions.InvalidDataError, self.driver.poll)
        self.assertEqual({('p1', '10.0.0.1')},
                         self.driver.get_snapshot('ports.ips'))
        self.assertEqual([], self.recorder.calls)
        self.assertIn('InvalidDataError', self.driver.last_error)
        self.assertEqual(1, self.driver.number_of_updates)
        self.assertEqual(2, self.driver.get_status()['number_of_polls'])

    def test_add_update_method_rejects_other_translator_for_table(self):
        other = dict(samples.FLAVORS, **{'table-name': 'ports'})
        self.assertRaises(exceptions.InvalidTranslatorError,
                          self.driver.add_update_method, list, other)

    def test_add_update_method_registers_new_translator(self):
        self.driver.add_update_method(lambda: [{'id': 'f', 'ram': 1}],
                                      samples.FLAVORS)
        self.driver.poll()
        self.assertEqual({('f', 1)}, self.driver.get_snapshot('flavors'))

    def test_congress_style_update_from_datasource(self):
        class Driver(polling.PollingDataSourceDriver):
            TRANSLATORS = [samples.FLAVORS]
            rows = [('f1', 1)]

            def update_from_datasource(self):
                self.state['flavors'] = list(self.rows)

        driver = Driver('flavors')
        recorder = driver.subscribe(samples.Recorder())
        driver.poll()
        driver.rows = [('f2', 2)]
        driver.poll()
        self.assertEqual([('flavors', {('f1', 1)}, set()),
                          ('flavors', {('f2', 2)}, {('f1', 1)})],
                         recorder.calls)
        self.assertEqual({('f2', 2)}, driver.state['flavors'])


class TestPollingThread(base.BaseTestCase):

    def setUp(self):
        super().setUp()
        self.logger = self.useFixture(fixtures.FakeLogger())
        self.driver = samples.PortsPollingDriver(args={'poll_time': 60})
        self.changed = threading.Event()
        self.driver.subscribe(lambda *args: self.changed.set())
        self.addCleanup(self.driver.stop, 5)

    def _wait_until(self, predicate, timeout=5):
        deadline = time.monotonic() + timeout
        while not predicate():
            self.assertLess(time.monotonic(), deadline, 'condition not met')
            time.sleep(0.01)

    def _wait_for_polls(self, count):
        self._wait_until(lambda: self.driver.number_of_polls >= count)

    def test_start_polls_immediately(self):
        self.driver.ports = [PORT]
        self.driver.start()
        self.assertTrue(self.changed.wait(5))
        self.assertTrue(self.driver.is_running())
        thread = self.driver._thread
        self.driver.start()  # idempotent
        self.assertIs(thread, self.driver._thread)
        self.assertEqual('poll-ports-ds', thread.name)

    def test_request_refresh_wakes_thread_quickly(self):
        self.driver.start()
        self._wait_for_polls(1)
        self.driver.ports = [PORT]
        started = time.monotonic()
        self.driver.request_refresh()
        self.assertTrue(self.changed.wait(5))
        self.assertLess(time.monotonic() - started, 2)
        self.assertEqual({('p1', '10.0.0.1')},
                         self.driver.get_snapshot('ports.ips'))

    def test_stop_joins_thread_promptly(self):
        self.driver.start()
        self._wait_for_polls(1)
        started = time.monotonic()
        self.assertTrue(self.driver.stop(5))
        self.assertLess(time.monotonic() - started, 2)
        self.assertFalse(self.driver.is_running())
        self.assertEqual(1, self.driver.number_of_polls)

    def test_thread_survives_failing_poll(self):
        self.driver.ports = [{'id': ['unhashable']}]
        self.driver.start()
        self._wait_for_polls(1)
        self.assertIsNotNone(self.driver.last_error)
        self._wait_until(lambda: 'Polling data source ports-ds failed'
                         in self.logger.output)
        self.driver.ports = [PORT]
        self.driver.request_refresh()
        self.assertTrue(self.changed.wait(5))
        self.assertTrue(self.driver.is_running())
        self.assertIsNone(self.driver.last_error)
