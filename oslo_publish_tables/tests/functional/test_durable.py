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

"""Durable mode: the outbox, its pruning and the relay, on each database."""

import threading
import time

from alembic import autogenerate
from alembic import migration as alembic_migration
import fixtures
from oslo_config import cfg
from oslo_messaging import conffixture
import sqlalchemy as sa
import testtools

from oslo_publish_tables.cmd import agent as agent_mod
from oslo_publish_tables.cmd import manage
from oslo_publish_tables import exceptions
from oslo_publish_tables import fixture as backends
from oslo_publish_tables.outbox import migration
from oslo_publish_tables.outbox import relay as relay_mod
from oslo_publish_tables.outbox import schema
from oslo_publish_tables.outbox import store as store_mod
from oslo_publish_tables.protocol import envelope
from oslo_publish_tables import publisher
from oslo_publish_tables import sender as sender_mod
from oslo_publish_tables.tests import capture_fixture
from oslo_publish_tables import transport as transport_mod
from publish_tables_demo import schema as m
from publish_tables_demo import workload as demo_workload


class RecordingTransport(object):
    """A transport that keeps what it sends; it can fail or hang."""

    def __init__(self, fail=0, dead=None):
        self.payloads = []
        self.fail = fail
        self.dead = dead
        self.lock = threading.Lock()

    def send(self, event_type, payload):
        if self.dead is not None:
            self.dead.wait()  # a process killed between COMMIT and send
            raise transport_mod.SendError('killed')
        with self.lock:
            if self.fail:
                self.fail -= 1
                raise transport_mod.SendError('broker unreachable')
            self.payloads.append(payload)

    def close(self):
        pass

    def records(self):
        with self.lock:
            return [(p['producer']['id'], r) for p in self.payloads
                    for r in p['records']]


def wire_view(draft):
    """What consumers receive of a record, comparable across producers."""
    if draft.kind == 'resync':
        return ('resync', draft.ts, tuple(sorted(draft.tables)))
    record = envelope.txn_record(0, draft.ts, draft.txn, draft.changes)
    parsed = envelope._parse_record(record)
    return ('txn', parsed.ts, parsed.txn, parsed.changes)


def record_view(record):
    parsed = envelope._parse_record(record)
    if parsed.kind == 'resync':
        return ('resync', parsed.ts, tuple(sorted(parsed.tables)))
    return ('txn', parsed.ts, parsed.txn, parsed.changes)


def wait_for(predicate, timeout=20.0):
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


class DurableTest(testtools.TestCase):
    backend = 'sqlite'

    def setUp(self):
        super().setUp()
        db = self.useFixture(backends.DatabaseFixture(self.backend))
        self.url = db.url
        self.engine = sa.create_engine(db.url)
        self.addCleanup(self.engine.dispose)
        m.create(self.engine)
        migration.upgrade(self.engine)
        self.conf = capture_fixture.make_conf(
            tables=list(m.PUBLISHED), delivery='durable')
        self.store = store_mod.OutboxStore(self.engine)
        self.drafts = []

    def install(self, transport=None, **sender_args):
        """Capture into the outbox; records go to ``transport``'s sender."""
        sender = None
        if transport is not None:
            args = dict(heartbeat_interval=0.2, shutdown_timeout=0.5,
                        max_retry_interval=0.05)
            args.update(sender_args)
            sender = sender_mod.Sender(transport, **args)
            self.addCleanup(sender.stop)

        def submit(draft):
            self.drafts.append(draft)
            if sender is not None:
                sender.submit(draft)

        capture = publisher.install(self.engine, self.conf, submit=submit)
        self.addCleanup(publisher.uninstall, self.engine)
        return capture, sender

    def outbox(self):
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(schema.outbox).order_by(
                schema.outbox.c.id)).fetchall()
        return [store_mod.decode_row(r) for r in rows]

    def workload(self, steps, seed=1):
        load = demo_workload.Workload(self.engine, seed=seed)
        for _ in range(steps):
            load.step()

    def relay(self, transport, engine=None, **kwargs):
        engine = engine or self.engine
        sender = sender_mod.Sender(transport, heartbeat_interval=0.2,
                                   max_retry_interval=0.2,
                                   shutdown_timeout=0.5)
        self.addCleanup(sender.stop)
        args = dict(grace_period=0, interval=0.02, lease=30)
        args.update(kwargs)
        relay = relay_mod.Relay(engine, sender,
                                relay_mod.RelaySettings(**args))
        self.addCleanup(relay.stop)
        return relay

    def dead_transport(self):
        dead = threading.Event()
        self.addCleanup(dead.set)
        return RecordingTransport(dead=dead)

    # -- the outbox row is part of the transaction ------------------------

    def test_record_is_written_in_the_transaction(self):
        self.install()
        session = demo_workload.Workload(self.engine).maker()
        with session.begin():
            session.add(m.Instance(uuid='u-1', hostname='one', deleted=0))
            session.add(m.Tag(resource_id='u-1', tag='t'))
        session.close()
        self.assertEqual(1, len(self.drafts))
        draft = self.drafts[0]
        self.assertIsInstance(draft, store_mod.OutboxDraft)
        [stored] = self.outbox()
        self.assertEqual(draft.outbox_id, stored.outbox_id)
        self.assertEqual(wire_view(draft), wire_view(stored))
        self.assertEqual({'instances', 'tags'},
                         {c.table for c in stored.changes})

    def test_rolled_back_transactions_leave_no_row(self):
        self.install()
        session = demo_workload.Workload(self.engine).maker()
        session.begin()
        session.add(m.Instance(uuid='u-2', hostname='two', deleted=0))
        session.flush()
        session.rollback()
        with self.engine.connect() as conn:
            conn.execute(sa.insert(m.Tag.__table__).values(
                resource_id='x', tag='y'))
            conn.rollback()
        load = demo_workload.Workload(self.engine, seed=3)
        load.create()
        del self.drafts[:]
        with self.engine.begin() as conn:
            conn.execute(sa.delete(schema.outbox))
        for _ in range(5):
            load.rolled_back()
        self.assertEqual([], self.drafts)
        self.assertEqual([], self.outbox())
        load.create()
        self.assertEqual(1, len(self.drafts))
        self.assertEqual([wire_view(d) for d in self.drafts],
                         [wire_view(d) for d in self.outbox()])

    def test_outbox_writes_are_never_captured(self):
        self.install()
        self.workload(20)
        tables = {c.table for d in self.drafts if d.kind == 'txn'
                  for c in d.changes}
        self.assertNotIn(schema.TABLE_NAME, tables)
        self.assertEqual(len(self.drafts), len(self.outbox()))

    def test_the_outbox_cannot_be_published(self):
        conf = capture_fixture.make_conf(
            tables=['instances', schema.TABLE_NAME], delivery='durable')
        exc = self.assertRaises(exceptions.ConfigError, publisher.install,
                                self.engine, conf, submit=self.drafts.append)
        self.assertIn(schema.TABLE_NAME, str(exc))
        self.assertIsNone(publisher.installed(self.engine))

    def test_durable_mode_needs_db_sync(self):
        with self.engine.begin() as conn:
            conn.execute(sa.text('DROP TABLE %s' % schema.TABLE_NAME))
        exc = self.assertRaises(exceptions.ConfigError, publisher.install,
                                self.engine, self.conf,
                                submit=self.drafts.append)
        self.assertIn('db_sync', str(exc))

    # -- direct delivery prunes the outbox -------------------------------

    def test_published_rows_are_deleted(self):
        transport = RecordingTransport()
        _, sender = self.install(transport)
        self.workload(30)
        self.assertTrue(sender.flush(10))
        self.assertTrue(wait_for(lambda: self.store.count() == 0),
                        '%d rows left' % self.store.count())
        self.assertEqual([wire_view(d) for d in self.drafts],
                         [record_view(r) for _, r in transport.records()])
        self.assertTrue(wait_for(
            lambda: sender.stats['outbox_deleted'] == len(self.drafts)))

    def test_rows_stay_while_the_broker_is_down(self):
        transport = RecordingTransport(fail=1000000)
        _, sender = self.install(transport)
        self.workload(10)
        time.sleep(0.3)
        self.assertEqual(len(self.drafts), self.store.count())
        transport.fail = 0
        self.assertTrue(wait_for(lambda: self.store.count() == 0))
        self.assertEqual([wire_view(d) for d in self.drafts],
                         [record_view(r) for _, r in transport.records()])

    def test_dropped_records_keep_their_rows_for_the_relay(self):
        transport = RecordingTransport(fail=1000000)
        _, sender = self.install(transport, spool_size=3)
        self.workload(12)
        self.assertGreater(sender.stats['dropped'], 0)
        transport.fail = 0
        self.assertTrue(sender.flush(10))
        kept = [d for d in self.drafts if d.keep]
        self.assertEqual(sender.stats['dropped'], len(kept))
        self.assertTrue(wait_for(lambda: self.store.count() == len(kept)))
        self.assertEqual([wire_view(d) for d in kept],
                         [wire_view(d) for d in self.outbox()])
        relay = self.relay(transport)
        relay.start()
        self.assertTrue(wait_for(lambda: self.store.count() == 0))
        # Every record reached the transport: the sender's or the relay's.
        self.assertEqual(sorted(wire_view(d)[:3] for d in self.drafts),
                         sorted(record_view(r)[:3]
                                for _, r in transport.records()))

    def test_deletes_are_retried_after_database_errors(self):
        transport = RecordingTransport()
        capture, sender = self.install(transport)
        delete = capture.outbox.delete
        failures = {'left': 2}

        def flaky(ids):
            if failures['left']:
                failures['left'] -= 1
                raise sa.exc.OperationalError('DELETE', {},
                                              Exception('server gone'))
            return delete(ids)

        self.useFixture(fixtures.MockPatchObject(capture.outbox, 'delete',
                                                 flaky))
        self.workload(10)
        self.assertTrue(wait_for(lambda: self.store.count() == 0))
        self.assertTrue(wait_for(
            lambda: sender.stats['outbox_deleted'] == len(self.drafts)))
        self.assertEqual(2, sender.stats['outbox_delete_failures'])

    # -- the relay -----------------------------------------------------------

    def test_relay_publishes_what_a_dead_process_left(self):
        dead = self.dead_transport()
        _, sender = self.install(dead)
        self.workload(25)
        self.assertTrue(self.drafts)
        self.assertEqual(len(self.drafts), self.store.count())
        # A young row belongs to a live process: not the relay's.
        transport = RecordingTransport()
        patient = self.relay(transport, grace_period=3600)
        self.assertEqual(0, patient.run_once())
        relay = self.relay(transport)
        relay.start()
        self.assertTrue(wait_for(lambda: self.store.count() == 0),
                        '%d rows left' % self.store.count())
        records = transport.records()
        self.assertEqual({relay.sender.identity['id']},
                         {producer for producer, _ in records})
        self.assertNotEqual(sender.identity['id'],
                            relay.sender.identity['id'])
        # Same records, same stamps, in commit order, nothing lost.
        self.assertEqual([wire_view(d) for d in self.drafts],
                         [record_view(r) for _, r in records])

    def test_two_relays_lose_nothing(self):
        self.install(self.dead_transport())
        self.workload(60)
        expected = [wire_view(d) for d in self.drafts]
        transport = RecordingTransport()
        relays = []
        for _ in range(2):
            engine = sa.create_engine(self.url)
            self.addCleanup(engine.dispose)
            relays.append(self.relay(transport, engine=engine, batch=4,
                                     interval=0.001))
        for relay in relays:
            relay.start()
        self.assertTrue(wait_for(lambda: self.store.count() == 0),
                        '%d rows left' % self.store.count())
        received = [record_view(r) for _, r in transport.records()]
        # Every record arrived (a duplicate is allowed), unchanged.
        self.assertEqual({v[:3]: v for v in expected},
                         {v[:3]: v for v in received})
        self.assertEqual(len(expected), len({v[:3] for v in expected}))
        # Each relay claimed only rows nobody else held.
        self.assertEqual(len(expected), sum(r.stats['relayed']
                                            for r in relays))

    def test_relay_waits_out_broker_and_database_errors(self):
        self.install(self.dead_transport())
        self.workload(10)
        transport = RecordingTransport(fail=3)
        relay = self.relay(transport, max_retry_interval=0.05)
        claim = relay.store.claim
        failures = {'left': 2}

        def flaky(*args, **kwargs):
            if failures['left']:
                failures['left'] -= 1
                raise sa.exc.OperationalError('SELECT', {},
                                              Exception('server gone'))
            return claim(*args, **kwargs)

        self.useFixture(fixtures.MockPatchObject(relay.store, 'claim',
                                                 flaky))
        relay.start()
        self.assertTrue(wait_for(lambda: self.store.count() == 0))
        self.assertEqual(2, relay.stats['errors'])
        self.assertGreaterEqual(relay.sender.stats['send_failures'], 3)
        self.assertEqual([wire_view(d) for d in self.drafts],
                         [record_view(r) for _, r in transport.records()])

    def test_expired_claims_are_taken_over(self):
        self.install(self.dead_transport())
        self.workload(5)
        with self.engine.connect() as conn:
            now = int(conn.execute(sa.select(sa.func.max(
                schema.outbox.c.created))).scalar())
        first = self.store.claim(now + 1, now + 1, now + 1000, 100)
        self.assertEqual(len(self.drafts), len(first))
        self.assertEqual([], self.store.claim(now + 10, now + 10,
                                              now + 2000, 100))
        again = self.store.claim(now + 1001, now + 1001, now + 3000, 100)
        self.assertEqual([d.outbox_id for d in first],
                         [d.outbox_id for d in again])


backends.for_each_backend(DurableTest)


class AgentRelayTest(testtools.TestCase):
    """publish-tables-agent runs the relay in durable mode only."""

    def setUp(self):
        super().setUp()
        db = self.useFixture(backends.DatabaseFixture('sqlite'))
        self.url = db.url
        engine = sa.create_engine(db.url)
        self.addCleanup(engine.dispose)
        m.create(engine)
        self.engine = engine

    def agent(self, delivery, **overrides):
        conf = cfg.ConfigOpts()
        agent_mod.register_opts(conf)
        conf([], project='publish-tables-agent-tests',
             default_config_files=[], default_config_dirs=[])
        conf.set_override('connection', self.url, 'database')
        options = dict(tables=list(m.PUBLISHED), transport_url='fake://',
                       driver='test', delivery=delivery,
                       outbox_grace_period=0, outbox_relay_interval=0.02)
        options.update(overrides)
        for name, value in options.items():
            conf.set_override(name, value, 'publish_tables')
        conffixture.ConfFixture(conf)
        agent = agent_mod.Agent(conf)
        self.addCleanup(agent.stop)
        return agent

    def test_direct_mode_runs_no_relay(self):
        agent = self.agent('direct')
        agent.start()
        self.assertIsNone(agent.relay)
        opened = agent.service.open_snapshot('tags')
        agent.service.close_snapshot(opened['id'])
        self.assertNotIn('outbox_id', opened)

    def test_durable_mode_needs_the_outbox(self):
        agent = self.agent('durable')
        exc = self.assertRaises(exceptions.ConfigError, agent.start)
        self.assertIn('db_sync', str(exc))

    def write_outbox(self, delivery):
        """Ten workload steps captured in ``delivery`` mode.

        Returns the records handed to the process's sender and the store.
        """
        migration.upgrade(self.engine)
        conf = capture_fixture.make_conf(tables=list(m.PUBLISHED),
                                         delivery=delivery)
        submitted = []
        publisher.install(self.engine, conf, submit=submitted.append)
        self.addCleanup(publisher.uninstall, self.engine)
        load = demo_workload.Workload(self.engine, seed=4)
        for _ in range(10):
            load.step()
        return submitted, store_mod.OutboxStore(self.engine)

    def test_relay_publishes_and_prunes(self):
        drafts, store = self.write_outbox('durable')
        self.assertEqual(len(drafts), store.count())
        agent = self.agent('durable')
        agent.start()
        self.assertTrue(wait_for(lambda: store.count() == 0))
        self.assertEqual(len(drafts), agent.relay.stats['relayed'])
        self.assertTrue(wait_for(
            lambda: agent.relay_sender.stats['outbox_deleted']
            == len(drafts)))
        # Its snapshots state the outbox high-water mark.
        opened = agent.service.open_snapshot('tags')
        agent.service.close_snapshot(opened['id'])
        self.assertEqual(max(d.outbox_id for d in drafts),
                         opened['outbox_id'])

    def test_relayed_mode_is_refused_on_sqlite(self):
        # The agent would write the outbox beside the service (see
        # test_sqlite_writers); relayed mode runs on the server
        # databases (test_durable_convergence.RelayedConvergenceTest).
        migration.upgrade(self.engine)
        agent = self.agent('relayed')
        exc = self.assertRaises(exceptions.ConfigError, agent.start)
        self.assertIn('relayed', str(exc))
        self.assertIsNone(agent.relay)


class ManageTest(testtools.TestCase):
    backend = 'sqlite'

    def test_db_sync(self):
        db = self.useFixture(backends.DatabaseFixture(self.backend))
        out = fixtures.StringStream('out')
        self.useFixture(out)

        def run(command):
            conf = cfg.ConfigOpts()
            agent_mod.register_opts(conf)
            conf.set_override('connection', backends.add_query(
                db.url, plugin='publish_tables'), 'database')
            return manage.main([command], conf=conf, out=out.stream)

        self.assertEqual(0, run('db_version'))
        self.assertEqual(0, run('db_sync'))
        self.assertEqual(0, run('db_sync'))  # idempotent
        out.stream.flush()
        self.assertEqual(['None', '6d1c0e8a4f21', '6d1c0e8a4f21'],
                         out.getDetails()['out'].as_text().split())
        engine = sa.create_engine(db.url)
        self.addCleanup(engine.dispose)
        with engine.connect() as conn:
            names = set(sa.inspect(conn).get_table_names())
            context = alembic_migration.MigrationContext.configure(
                conn, opts={'version_table': schema.VERSION_TABLE})
            diff = autogenerate.compare_metadata(context, schema.metadata)
        self.assertEqual({schema.TABLE_NAME, schema.VERSION_TABLE}, names)
        self.assertEqual([], diff)


backends.for_each_backend(ManageTest)
