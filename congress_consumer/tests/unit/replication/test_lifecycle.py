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

"""A datasource stopped and started again, or made anew, syncs again.

Congress stops and starts a datasource's driver when the datasource is
updated or disabled and enabled, and constructs a new driver in the same
process when it is re-created.
"""

import time

import oslo_messaging
import testtools

from oslo_publish_tables.protocol import envelope

from congress_consumer.replication import driver as driver_mod
from congress_consumer.replication import queues
from congress_consumer.replication import sync as sync_mod
from congress_consumer.tests.unit.replication import \
    test_receiver_driver as helpers


def _wait(predicate, timeout=10.0):
    deadline = time.monotonic() + timeout
    while not predicate() and time.monotonic() < deadline:
        time.sleep(0.01)
    return predicate()


class DriverCase(testtools.TestCase):
    """Drivers on one fake transport with a fixed snapshot source."""

    def setUp(self):
        super().setUp()
        self.conf, self.transport = helpers._transport(self)
        self.source = helpers.FakeSource({
            'hosts': (1000, ['id', 'hostname'], [{'id': 1,
                                                  'hostname': 'h1'}])})

    def make_driver(self, name='nova', pool=None, **args):
        args['tables'] = 'hosts'
        if pool:
            args['pool'] = pool
        driver = driver_mod.PublishTablesDriver(
            name, args, conf=self.conf, transport=self.transport,
            snapshot_source=self.source)
        self.addCleanup(driver.stop)
        return driver

    def rows(self, driver):
        return sorted(driver.get_snapshot('hosts'))

    def publish(self, payload):
        notifier = oslo_messaging.Notifier(
            self.transport, publisher_id='publish_tables.node1',
            driver='messaging', topics=['publish_tables'])
        notifier.info({}, envelope.EVENT_BATCH, payload)


class StopStartTest(DriverCase):

    def test_stopped_then_started_driver_syncs_again(self):
        driver = self.make_driver()
        driver.start()
        self.assertTrue(driver.wait_live(10))
        self.assertEqual([(1, 'h1')], self.rows(driver))
        driver.stop()
        # Changed while the datasource was stopped: only a new snapshot
        # can tell.
        self.source.tables['hosts'] = (2000, ['id', 'hostname'],
                                       [{'id': 2, 'hostname': 'h2'}])
        driver.start()
        self.assertTrue(_wait(lambda: self.rows(driver) == [(2, 'h2')]))
        self.assertTrue(driver.wait_live(10))
        self.assertEqual(['hosts', 'hosts'], self.source.opened)
        # A refresh requested after the restart is served ...
        self.assertIs(True, driver.refresh_snapshot('hosts', timeout=10))
        self.assertEqual(3, len(self.source.opened))
        # ... and so are the notifications.
        self.publish(helpers._payload(
            1, 3000, helpers._change('hosts', 'insert', 3, hostname='h3')))
        self.assertTrue(_wait(
            lambda: (3, 'h3') in self.rows(driver)))
        self.assertEqual(sync_mod.LIVE,
                         driver.get_status()['tables']['hosts']['state'])

    def test_restart_is_not_a_gap_nor_a_vanished_producer(self):
        driver = self.make_driver(gap_timeout=0.001)
        driver.start()
        self.assertTrue(driver.wait_live(10))
        driver.receiver.deliver(envelope.EVENT_BATCH, helpers._payload(
            1, 1500, helpers._change('hosts', 'insert', 5, hostname='h5')))
        driver.stop()
        driver.start()
        self.assertTrue(driver.wait_live(10))
        # Record 7: records 2..6 went by while stopped.
        driver.receiver.deliver(envelope.EVENT_BATCH, helpers._payload(
            7, 2500, helpers._change('hosts', 'insert', 6, hostname='h6')))
        time.sleep(0.01)  # longer than gap_timeout
        driver.sync.tick()
        status = driver.get_status()
        self.assertEqual(0, status['gaps'])
        self.assertEqual(0, status['vanished_producers'])

    def test_restart_action(self):
        driver = self.make_driver()
        driver.start()
        self.assertTrue(driver.wait_live(10))
        driver.execute('restart', {})
        self.assertTrue(_wait(lambda: len(self.source.opened) == 2))
        self.assertTrue(driver.wait_live(10))

    def test_driver_made_anew_with_the_same_name_syncs(self):
        first = self.make_driver(pool='congress')
        first.start()
        self.assertTrue(first.wait_live(10))
        first.stop()
        second = self.make_driver(pool='congress')
        second.start()
        self.assertTrue(second.wait_live(10))
        self.publish(helpers._payload(
            1, 3000, helpers._change('hosts', 'insert', 3, hostname='h3')))
        self.assertTrue(_wait(lambda: (3, 'h3') in self.rows(second)))


class SharedQueueTest(DriverCase):
    """Datasources of one process (Congress) never read one queue."""

    def test_second_reader_of_the_default_queue_is_refused(self):
        first = self.make_driver('a')
        first.start()
        second = self.make_driver('b')
        exc = self.assertRaises(queues.SharedQueueError, second.start)
        self.assertIn('a and b', str(exc))
        self.assertIn('publish_tables.info', str(exc))
        first.stop()
        second.start()  # the queue is free again
        self.assertTrue(second.wait_live(10))

    def test_second_instance_of_a_datasource_is_refused(self):
        first = self.make_driver('a', pool='congress')
        first.start()
        second = self.make_driver('a', pool='congress')
        exc = self.assertRaises(queues.RunningTwiceError, second.start)
        self.assertIn('datasource a is already running', str(exc))
        self.assertIn('congress.a', str(exc))
        second.stop()  # stopping the refused one leaves the claim alone
        self.assertRaises(queues.RunningTwiceError, second.start)
        first.stop()
        second.start()
        self.assertTrue(second.wait_live(10))

    def test_same_pool_is_made_unique(self):
        first = self.make_driver('a', pool='congress')
        second = self.make_driver('b', pool='congress')
        first.start()
        second.start()
        self.assertEqual(('congress.a', 'congress.b'),
                         (first.receiver.pool, second.receiver.pool))
