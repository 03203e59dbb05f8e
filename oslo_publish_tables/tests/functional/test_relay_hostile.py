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

"""The relay survives what it finds in the outbox and loses nothing.

An unreadable row (not JSON, a payload nested deeper than any parser
goes, a bad value) becomes a resync marker for its tables, so consumers
are told; a row dated ahead of the clock is relayed, not held unseen;
an unexpected error never ends the relay's thread, and a dead worker
thread ends the agent (so that its supervisor restarts it).
"""

import dataclasses
import json
import time

import fixtures
from oslo_config import cfg
import sqlalchemy as sa
import testtools

from oslo_publish_tables.cmd import agent as agent_mod
from oslo_publish_tables import fixture as backends
from oslo_publish_tables.outbox import migration
from oslo_publish_tables.outbox import relay as relay_mod
from oslo_publish_tables.outbox import schema
from oslo_publish_tables import sender as sender_mod
from oslo_publish_tables.tests.functional import test_durable
from publish_tables_demo import schema as m

HOUR_US = 3600 * 10 ** 6


def _change_payload(table='instances', value=1):
    return json.dumps({'changes': [
        {'table': table, 'op': 'insert', 'pk': {'id': value},
         'row': {'id': value}, 'changed': ['id']}]})


def _now_us():
    return int(time.time() * 10 ** 6)


class HostileOutboxTest(testtools.TestCase):

    def setUp(self):
        super().setUp()
        db = self.useFixture(backends.DatabaseFixture('sqlite'))
        self.engine = sa.create_engine(db.url)
        self.addCleanup(self.engine.dispose)
        m.create(self.engine)
        migration.upgrade(self.engine)
        self.transport = test_durable.RecordingTransport()
        self.sender = sender_mod.Sender(
            self.transport, heartbeat_interval=0.2, shutdown_timeout=0.5,
            max_retry_interval=0.05)
        self.addCleanup(self.sender.stop)
        self.relay = relay_mod.Relay(
            self.engine, self.sender, relay_mod.RelaySettings(
                grace_period=60, interval=0.02, lease=30,
                clock_source='local'), tables=m.PUBLISHED)
        self.addCleanup(self.relay.stop)
        self.store = self.relay.store

    def insert(self, payload, created=1, kind='txn'):
        with self.engine.begin() as conn:
            conn.execute(schema.outbox.insert().values(
                created=created, kind=kind, txn='t-%d' % created,
                payload=payload))

    def relayed(self):
        self.assertTrue(test_durable.wait_for(
            lambda: self.store.count() == 0), '%d rows left'
            % self.store.count())
        return [r for _, r in self.transport.records()]

    def test_unreadable_rows_become_resync_markers(self):
        self.insert('not json', created=1)
        self.insert('[' * 200000 + ']' * 200000, created=2)
        self.insert(_change_payload('tags', {'$t': 'dec', 'v': 'sNaN'}),
                    created=3)
        self.insert(_change_payload(), created=4)
        self.assertEqual(4, self.relay.run_once())
        records = self.relayed()
        self.assertEqual(['resync', 'resync', 'resync', 'txn'],
                         [r['kind'] for r in records])
        self.assertEqual(sorted(m.PUBLISHED), records[0]['tables'])
        self.assertEqual(sorted(m.PUBLISHED), records[1]['tables'])
        self.assertEqual(['tags'], records[2]['tables'])
        self.assertIn('unreadable outbox row', records[0]['reason'])

    def test_a_row_dated_ahead_is_relayed_not_held(self):
        self.insert(_change_payload(), created=_now_us() + HOUR_US)
        self.assertEqual(1, self.relay.run_once())
        self.assertEqual(1, self.relay.stats['dated_ahead'])
        self.assertEqual(['txn'], [r['kind'] for r in self.relayed()])

    def test_an_unexpected_error_does_not_end_the_relay(self):
        calls = []
        real = self.relay.run_once

        def flaky():
            calls.append(1)
            if len(calls) == 1:
                raise RecursionError('a bug nobody foresaw')
            return real()

        self.relay.run_once = flaky
        self.insert(_change_payload(), created=1)
        self.relay.start()
        self.assertEqual(['txn'], [r['kind'] for r in self.relayed()])
        self.assertTrue(self.relay.is_alive())
        self.assertEqual(1, self.relay.stats['unexpected_errors'])

    def test_a_sender_that_never_confirms_is_reported(self):
        class StuckSender(object):
            stats = {'send_failures': 3}
            submitted = []

            def submit(self, draft):
                self.submitted.append(draft)

            def flush(self, timeout):
                time.sleep(min(timeout, 0.01))
                return False

        self.relay.sender = StuckSender()
        self.relay.STALL_WARNING = 0.05
        self.insert(_change_payload(), created=1)
        self.relay.settings = dataclasses.replace(self.relay.settings,
                                                  grace_period=0)
        self.assertEqual(0.0, self.relay.stalled_for())
        logger = self.useFixture(fixtures.FakeLogger())
        self.relay.start()
        self.assertTrue(test_durable.wait_for(
            lambda: self.relay.stats['stalls'] >= 2))
        self.assertGreater(self.relay.stalled_for(), 0.05)
        self.assertEqual(1, len(StuckSender.submitted))  # claims no more
        self.assertIn('confirmed none of the claimed outbox records of '
                      'tables', logger.output)
        self.assertIn('(3 send failures so far)', logger.output)
        self.relay.stop()
        self.assertEqual(0.0, self.relay.stalled_for())


class AgentWatchdogTest(testtools.TestCase):

    def test_a_dead_worker_thread_is_reported(self):
        conf = cfg.ConfigOpts()
        agent = agent_mod.Agent(conf)
        self.assertEqual([], agent.dead_workers())

        class DeadRelay(object):
            def is_alive(self):
                return False

        agent.relay = DeadRelay()
        self.assertEqual(['outbox relay'], agent.dead_workers())
        agent.relay = None
