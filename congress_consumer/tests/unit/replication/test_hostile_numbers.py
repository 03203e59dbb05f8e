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

"""Numbers no honest producer sends never pin nor stop replication.

Stamps from the future, absurd sequence numbers, values that cannot be
compared: each is rejected and counted, a resync restores the source
whatever the replica holds, and no input kills a worker thread.
"""

import json
import logging
import time

import fixtures
import testtools

from oslo_publish_tables.protocol import envelope

from congress_consumer.replication import plausibility
from congress_consumer.replication import receiver as receiver_mod
from congress_consumer.replication import sync as sync_mod
from congress_consumer.tests.unit.replication import \
    test_receiver_driver as helpers

PRODUCER = helpers.PRODUCER
NOW_US = int(time.time() * 1e6)


def _batch(seq, ts, *changes, last_seq=None, producer=PRODUCER):
    records = [envelope.txn_record(seq, ts, 'txn-%d' % seq, changes)]
    return json.loads(json.dumps(envelope.batch(
        producer, seq if last_seq is None else last_seq, records, 10.0)))


def _put(key, name):
    return helpers._change('t', 'update', key, name=name)


class Clock(object):
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


class HostileNumbersTest(testtools.TestCase):

    def setUp(self):
        super().setUp()
        _conf, transport = helpers._transport(self)
        self.source = helpers.FakeSource(
            {'t': (NOW_US, ['id', 'name'], [{'id': 1, 'name': 'truth'}])})
        self.clock = Clock()
        self.sync = sync_mod.Synchronizer(['t'], {'t': ('id',)},
                                          self.source, clock=self.clock,
                                          name='nova')
        self.receiver = receiver_mod.Receiver(transport, self.sync)
        self.sync.sync_table('t')

    def deliver(self, payload):
        self.clock.now += 1
        self.receiver.deliver(envelope.EVENT_BATCH, payload)

    def rows(self):
        return dict(self.sync.replicas['t'].rows)

    def test_a_stamp_far_ahead_is_rejected_and_counted(self):
        self.deliver(_batch(1, 2 ** 62, _put(1, 'forged')))
        self.assertEqual({(1,): {'id': 1, 'name': 'truth'}}, self.rows())
        self.assertEqual(
            1, self.sync.counts['discarded:implausible_stamp'])
        # A real change still applies: nothing was pinned.
        self.deliver(_batch(2, NOW_US + 1, _put(1, 'real')))
        self.assertEqual('real', self.rows()[(1,)]['name'])

    def test_a_producer_clock_a_year_ahead_is_rejected(self):
        year = 365 * 86400 * 10 ** 6
        self.deliver(_batch(1, NOW_US + year, _put(1, 'ahead')))
        self.assertEqual('truth', self.rows()[(1,)]['name'])
        self.assertEqual(['t'], self.sync._due())  # its table resyncs

    def test_a_stamp_beyond_any_float_is_rejected_not_fatal(self):
        records = [envelope.txn_record(1, 10 ** 400, 'a', [_put(1, 'x')]),
                   envelope.txn_record(2, NOW_US + 5, 'b', [_put(1, 'y')])]
        self.deliver(json.loads(json.dumps(envelope.batch(
            PRODUCER, 2, records, 10.0))))
        self.assertEqual('y', self.rows()[(1,)]['name'])
        self.assertEqual(
            1, self.sync.counts['discarded:implausible_stamp'])

    def test_a_resync_restores_a_row_pinned_in_the_future(self):
        replica = self.sync.replicas['t']
        replica.apply('update', {'id': 1}, {'id': 1, 'name': 'pinned'},
                      2 ** 62)
        replica.apply('insert', {'id': 5}, {'id': 5, 'name': 'ghost'},
                      2 ** 62)
        self.source.tables['t'] = (NOW_US + 10, ['id', 'name'],
                                   [{'id': 1, 'name': 'truth'}])
        self.sync.sync_table('t')
        self.assertEqual({(1,): {'id': 1, 'name': 'truth'}}, self.rows())
        self.deliver(_batch(1, NOW_US + 20, _put(1, 'next')))
        self.assertEqual('next', self.rows()[(1,)]['name'])

    def test_a_huge_last_seq_is_rejected_and_gaps_still_detected(self):
        self.deliver(_batch(1, NOW_US + 1, _put(1, 'a')))
        self.deliver(_batch(2, NOW_US + 2, _put(1, 'b'), last_seq=2 ** 63))
        self.assertEqual(1, self.sync.counts['discarded:implausible_seq'])
        self.assertEqual('a', self.rows()[(1,)]['name'])
        self.deliver(_batch(4, NOW_US + 4, _put(1, 'd')))  # 2, 3 lost
        self.clock.now += 60
        self.sync.tick()
        self.assertEqual(1, self.sync.tracker.gaps)

    def test_a_jump_far_beyond_the_producer_position_is_rejected(self):
        self.deliver(_batch(1, NOW_US, _put(1, 'a')))
        self.deliver(_batch(2, NOW_US, _put(1, 'b'),
                            last_seq=2 + plausibility.MAX_SEQ_JUMP * 2))
        self.assertEqual(1, self.sync.counts['discarded:implausible_seq'])

    def test_negative_sequence_numbers_are_rejected(self):
        self.deliver(_batch(-5, NOW_US, _put(1, 'neg')))
        self.deliver(_batch(1, NOW_US, _put(1, 'neg'), last_seq=-1))
        self.assertEqual(2, self.sync.counts['discarded:implausible_seq'])
        self.assertEqual('truth', self.rows()[(1,)]['name'])

    def test_a_negative_or_huge_outbox_id_is_rejected(self):
        for outbox_id in (-1, 2 ** 64):
            payload = _batch(1, NOW_US, _put(1, 'x'))
            payload['records'][0]['outbox_id'] = outbox_id
            self.deliver(payload)
        self.assertEqual(
            2, self.sync.counts['discarded:implausible_outbox_id'])
        self.assertEqual('truth', self.rows()[(1,)]['name'])

    def test_a_signalling_nan_decimal_is_malformed(self):
        payload = _batch(1, NOW_US, _put(1, 'x'))
        payload['records'][0]['changes'][0]['row']['name'] = {
            '$t': 'dec', 'v': 'sNaN'}
        self.deliver(payload)
        self.assertEqual(1, self.sync.counts['discarded:malformed'])
        self.assertEqual('truth', self.rows()[(1,)]['name'])

    def test_an_apply_error_is_counted_and_resyncs(self):
        def explode(table, old, new):
            raise RuntimeError('listener bug')
        self.sync.replicas['t']._listener = explode
        self.deliver(_batch(1, NOW_US + 1, _put(1, 'x')))  # must not raise
        self.assertEqual(1, self.sync.counts['discarded:apply_error'])
        self.assertEqual(['t'], self.sync._due())

    def test_a_snapshot_stamped_far_ahead_is_refused(self):
        self.source.tables['t'] = (2 ** 62, ['id', 'name'], [])
        self.assertRaises(sync_mod.pt_exceptions.SnapshotError,
                          self.sync.sync_table, 't')
        self.assertEqual('truth', self.rows()[(1,)]['name'])


class WorkerSurvivesTest(testtools.TestCase):

    def test_the_sync_thread_survives_any_snapshot_error(self):
        class Flaky(helpers.FakeSource):
            failures = 2

            def open(self, table):
                if self.failures:
                    self.failures -= 1
                    raise RuntimeError('unexpected')
                return super().open(table)

        source = Flaky({'t': (NOW_US, ['id'], [{'id': 1}])})
        sync = sync_mod.Synchronizer(['t'], {'t': ('id',)}, source,
                                     retry_interval=0.01)
        sync.start()
        self.addCleanup(sync.stop)
        self.assertTrue(sync.wait_live(30))
        self.assertTrue(sync._worker.thread.is_alive())
        self.assertEqual(2, sync.counts['worker_errors'])


class ResyncFloodTest(testtools.TestCase):

    def test_forged_heartbeats_cause_at_most_one_resync_per_interval(self):
        clock = Clock()
        source = helpers.FakeSource({'t': (NOW_US, ['id'], [{'id': 1}])})
        sync = sync_mod.Synchronizer(['t'], {'t': ('id',)}, source,
                                     clock=clock, gap_timeout=0.5)
        sync.sync_table('t')
        for number in range(2000):
            forged = dict(PRODUCER, id='forged-%d' % (number % 7))
            sync.handle(envelope.parse(json.loads(json.dumps(
                envelope.batch(forged, number + 1, [], 10.0)))))
            clock.now += 18.0 / 2000
            sync.tick()
            for table in sync._due():
                sync.sync_table(table)
        # 18 s of forged heartbeats, at most one resync per 10 s.
        self.assertLessEqual(source.opened.count('t') - 1, 2)
        self.assertGreater(sync.tracker.gaps, 2)


class LogInjectionTest(testtools.TestCase):

    def test_a_producer_id_cannot_forge_log_lines(self):
        log = self.useFixture(fixtures.FakeLogger(level=logging.INFO))
        clock = Clock()
        source = helpers.FakeSource({'t': (NOW_US, ['id'], [{'id': 1}])})
        sync = sync_mod.Synchronizer(['t'], {'t': ('id',)}, source,
                                     clock=clock, name='nova')
        sync.sync_table('t')
        evil = 'p\n2026-01-01 CRITICAL forged\x1b[31m'
        sync.handle(envelope.parse(json.loads(json.dumps(envelope.batch(
            dict(PRODUCER, id=evil), 5, [], 10.0)))))
        sync.handle(envelope.parse(json.loads(json.dumps(envelope.batch(
            dict(PRODUCER, id=evil), 9, [], 10.0)))))
        clock.now += 60
        sync.tick()
        self.assertIn('resync of t requested', log.output)
        self.assertNotIn('\x1b', log.output)
        self.assertNotIn('\n2026-01-01 CRITICAL', log.output)
        self.assertIn('\\n2026-01-01 CRITICAL forged\\x1b[31m', log.output)
