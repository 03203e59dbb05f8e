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

"""Liveness measured from the producers' heartbeats; logs that say where.

Each table reports ``caught_up``, ``lag_seconds`` and
``last_message_age``; a datasource that hears no producer for
``producer_timeout`` seconds is STALE, not LIVE, and says what to
check; every log line names the datasource; ``producers_seen`` counts
the producers ever heard from.
"""

import logging

import fixtures
import testtools

from oslo_publish_tables.protocol import envelope

from congress_consumer.replication import driver as driver_mod
from congress_consumer.replication import sync as sync_mod
from congress_consumer.tests.unit.replication import \
    test_receiver_driver as helpers


class Clock(object):
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


def _producer(n):
    return dict(helpers.PRODUCER, id='%032d' % n)


def _heartbeat(last_seq, producer, interval=10.0):
    return envelope.batch(producer, last_seq, [], interval)


class LivenessTest(testtools.TestCase):

    def setUp(self):
        super().setUp()
        self.clock = Clock()
        self.conf, self.transport = helpers._transport(self)
        self.source = helpers.FakeSource({
            'hosts': (1000, ['id', 'hostname'], [{'id': 1,
                                                  'hostname': 'h1'}])})
        self.driver = driver_mod.PublishTablesDriver(
            'nova', {'tables': 'hosts', 'producer_timeout': 30,
                     'gap_timeout': 5, 'control_exchange': 'nova'},
            conf=self.conf, transport=self.transport,
            snapshot_source=self.source)
        # The clock is fake: build the synchroniser's parts on it.
        sync = self.driver.sync
        sync._clock = sync.tracker._clock = self.clock
        sync.liveness._clock = self.clock
        sync.liveness.started = self.clock()
        for status in sync.status.values():
            status.requested = self.clock()
        sync.sync_table('hosts')

    def deliver(self, payload):
        self.driver.receiver.deliver(
            envelope.EVENT_HEARTBEAT if not payload['records']
            else envelope.EVENT_BATCH, payload)

    def table(self):
        return self.driver.get_status()['tables']['hosts']

    def test_caught_up_lag_and_message_age(self):
        self.clock.now += 2
        table = self.table()
        # Nobody heard yet: as fresh as the snapshot, 2 s ago.
        self.assertEqual((sync_mod.LIVE, True, 2.0, None),
                         (table['state'], table['caught_up'],
                          table['lag_seconds'], table['last_message_age']))
        self.deliver(helpers._payload(
            1, 2000, helpers._change('hosts', 'insert', 2, hostname='h2'),
            producer=_producer(1)))
        self.clock.now += 1
        table = self.table()
        self.assertEqual((True, 1.0, 1.0),
                         (table['caught_up'], table['lag_seconds'],
                          table['last_message_age']))
        # Record 3 arrives, 2 has not: not caught up, the lag grows from
        # the last moment nothing was missing.
        self.deliver(helpers._payload(
            3, 3000, helpers._change('hosts', 'insert', 3, hostname='h3'),
            producer=_producer(1)))
        self.clock.now += 2
        table = self.table()
        self.assertEqual((False, 3.0, 2.0),
                         (table['caught_up'], table['lag_seconds'],
                          table['last_message_age']))
        # A heartbeat of another producer does not hide the missing one.
        self.deliver(_heartbeat(7, _producer(2)))
        self.assertEqual((False, 3.0),
                         (self.table()['caught_up'],
                          self.table()['lag_seconds']))
        self.deliver(helpers._payload(
            2, 2500, helpers._change('hosts', 'insert', 4, hostname='h4'),
            producer=_producer(1)))
        self.assertEqual((True, 0.0),
                         (self.table()['caught_up'],
                          self.table()['lag_seconds']))
        status = self.driver.get_status()
        self.assertEqual((2, 2, False),
                         (status['producers'], status['producers_seen'],
                          status['stale']))

    def test_heartbeat_announcing_more_than_received(self):
        self.deliver(_heartbeat(0, _producer(1)))
        self.assertTrue(self.table()['caught_up'])
        self.deliver(helpers._payload(
            1, 2000, helpers._change('hosts', 'insert', 2, hostname='h2'),
            producer=_producer(1)))
        self.deliver(_heartbeat(4, _producer(1)))  # 2..4 not here
        self.assertFalse(self.table()['caught_up'])

    def test_silent_datasource_is_stale_and_says_what_to_check(self):
        log = self.useFixture(fixtures.FakeLogger(level=logging.INFO))
        self.clock.now += 29
        self.driver.sync.tick()
        self.assertEqual(sync_mod.LIVE, self.table()['state'])
        self.clock.now += 1
        self.driver.sync.tick()
        table = self.table()
        self.assertEqual((sync_mod.STALE, False),
                         (table['state'], table['caught_up']))
        self.assertTrue(self.driver.get_status()['stale'])
        self.assertFalse(self.driver.wait_live(0))
        self.assertIn('datasource nova: no message from any producer for '
                      '30 s on topic publish_tables of exchange nova: '
                      'check', log.output)
        for hint in ('exchange', 'topic', 'transport', 'signing keys'):
            self.assertIn(hint, log.output)
        # Heard again: LIVE.
        self.deliver(_heartbeat(0, _producer(1)))
        self.driver.sync.tick()
        self.assertEqual(sync_mod.LIVE, self.table()['state'])
        self.assertIn('no longer stale', log.output)

    def test_silence_after_every_goodbye_is_not_stale(self):
        self.deliver(_heartbeat(0, _producer(1)))
        self.deliver(_heartbeat(0, _producer(2)))
        goodbye = envelope.batch(_producer(1), 0, [], 10.0, final=True)
        self.driver.receiver.deliver(envelope.EVENT_GOODBYE, goodbye)
        self.clock.now += 100
        # Producer 2 is still out there, silent: stale.
        self.assertEqual(sync_mod.STALE, self.table()['state'])
        goodbye = envelope.batch(_producer(2), 0, [], 10.0, final=True)
        self.driver.receiver.deliver(envelope.EVENT_GOODBYE, goodbye)
        self.clock.now += 100
        table = self.table()
        self.assertEqual((sync_mod.LIVE, True, 100.0),
                         (table['state'], table['caught_up'],
                          table['last_message_age']))

    def test_stale_waits_for_three_heartbeat_intervals(self):
        self.deliver(_heartbeat(0, _producer(1), interval=20.0))
        self.clock.now += 59
        self.assertEqual(sync_mod.LIVE, self.table()['state'])
        self.clock.now += 1
        self.assertEqual(sync_mod.STALE, self.table()['state'])

    def test_producers_seen_counts_those_gone(self):
        self.deliver(_heartbeat(0, _producer(1)))
        goodbye = envelope.batch(_producer(1), 0, [], 10.0, final=True)
        self.driver.receiver.deliver(envelope.EVENT_GOODBYE, goodbye)
        self.deliver(_heartbeat(0, _producer(2)))
        status = self.driver.get_status()
        self.assertEqual((1, 2), (status['producers'],
                                  status['producers_seen']))

    def test_every_log_line_names_the_datasource(self):
        log = self.useFixture(fixtures.FakeLogger(
            level=logging.DEBUG, format='%(name)s|%(message)s'))
        self.driver.receiver.deliver(envelope.EVENT_BATCH, {'bad': 1})
        self.driver.receiver.deliver('other.event', {})
        self.driver.resync('hosts')
        self.driver.sync.sync_table('hosts')
        self.deliver(helpers._payload(
            1, 2000, helpers._change('hosts', 'insert', 2, x=1),
            producer=_producer(1)))
        self.deliver(helpers._payload(
            2, 2000, envelope.Change('hosts', 'insert', {'nope': 1},
                                     {'nope': 1}, ['nope']),
            producer=_producer(1)))
        self.clock.now += 100
        self.driver.sync.tick()
        # Ours only: oslo.messaging's and kombu's lines (e.g. heartbeats
        # of a real connection) name no datasource.
        lines = [line.split('|', 1)[1] for line in log.output.splitlines()
                 if line.startswith(('congress_consumer',
                                     'oslo_publish_tables'))]
        self.assertGreaterEqual(len(lines), 6, lines)
        for line in lines:
            self.assertTrue(line.startswith('datasource nova: '), line)
        self.assertIn('table hosts', log.output)

    def test_loss_detection_is_stated(self):
        # Direct mode: a producer that never reached the broker while
        # the datasource listened cannot be noticed from the stream.
        self.assertEqual('heard_producers', self.table()['loss_detection'])
        # Durable mode: the agent relays what a dead process never sent.
        self.driver.sync.replicas['hosts'].order = 'outbox'
        self.assertEqual('outbox', self.table()['loss_detection'])

    def test_api_state_of_a_stale_datasource(self):
        from congress_consumer.api import rows as api_rows
        self.assertEqual('LIVE', api_rows.datasource_state(
            self.driver.get_status()))
        self.clock.now += 30
        self.assertEqual('STALE', api_rows.datasource_state(
            self.driver.get_status()))
