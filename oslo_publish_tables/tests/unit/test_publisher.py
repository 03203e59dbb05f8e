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

"""Tests for install/uninstall on engines and enginefacade contexts."""

import os
import time

import fixtures
from oslo_db.sqlalchemy import enginefacade
from oslo_messaging.notify import _impl_test
import sqlalchemy as sa
from sqlalchemy import orm
import testtools

from oslo_publish_tables.capture import listeners
from oslo_publish_tables import exceptions
from oslo_publish_tables.outbox import store as store_mod
from oslo_publish_tables.protocol import envelope
from oslo_publish_tables.protocol import signing
from oslo_publish_tables import publisher
from oslo_publish_tables.tests import capture_fixture
from publish_tables_demo import schema as demo_schema


def _published(event_type=envelope.EVENT_BATCH):
    return [envelope.parse(message['payload'])
            for _ctxt, message, _prio, _retry in _impl_test.NOTIFICATIONS
            if message['event_type'] == event_type]


def _published_uuids():
    return [change.row['uuid'] for batch in _published()
            for record in batch.records for change in record.changes]


def _wait_for(predicate, timeout=5.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.01)
    return predicate()


class _Context(object):
    """A request context; enginefacade keeps its state on it."""


class PublisherTest(testtools.TestCase):

    def setUp(self):
        super().setUp()
        tmp = self.useFixture(fixtures.TempDir()).path
        self.url = 'sqlite:///' + os.path.join(tmp, 'nova.sqlite')
        plain = sa.create_engine(self.url)
        demo_schema.create(plain)
        plain.dispose()
        _impl_test.reset()
        self.addCleanup(_impl_test.reset)
        self.conf = capture_fixture.make_conf(
            tables=['instances'], driver='test', transport_url='fake://')

    def engine(self):
        engine = sa.create_engine(self.url)
        self.addCleanup(engine.dispose)
        self.addCleanup(publisher.uninstall, engine)
        return engine

    def add_instance(self, engine, uuid):
        with orm.Session(engine) as session:
            session.add(demo_schema.Instance(uuid=uuid))
            session.commit()

    def test_relayed_mode_sends_only_what_missed_the_outbox(self):
        sent = []
        submit = publisher._unless_in_outbox(sent.append)
        in_outbox = store_mod.OutboxDraft('txn', 1, outbox_id=7)
        marker = listeners.Draft('resync', 2, tables={'instances'},
                                 reason='COMMIT failed')
        submit(in_outbox)
        submit(marker)
        self.assertEqual([marker], sent)

    def test_install_twice_raises_and_keeps_the_first(self):
        engine = self.engine()
        first = []
        capture = publisher.install(engine, self.conf, submit=first.append)
        wrapped = engine.dialect.do_commit

        second = []
        self.assertRaises(exceptions.PublishTablesError, publisher.install,
                          engine, self.conf, submit=second.append)
        self.assertIs(capture, publisher.installed(engine))
        self.assertIs(wrapped, engine.dialect.do_commit)

        self.add_instance(engine, 'u1')
        self.assertEqual([], second)
        # Exactly one record: the listeners were not registered twice.
        self.assertEqual(1, len(first))
        self.assertEqual([('insert', 'u1')],
                         [(c.op, c.row['uuid']) for c in first[0].changes])

        publisher.uninstall(engine)
        self.assertIsNone(publisher.installed(engine))
        self.assertNotIn('do_commit', vars(engine.dialect))
        self.add_instance(engine, 'u2')
        self.assertEqual(1, len(first))

    def test_failed_second_install_releases_its_sender(self):
        key = ('fake://', 'publish_tables', 'test')
        self.assertNotIn(key, publisher._senders)
        engine = self.engine()
        drafts = []
        publisher.install(engine, self.conf, submit=drafts.append)
        # This one takes a reference on the shared sender, then fails.
        self.assertRaises(exceptions.PublishTablesError, publisher.install,
                          engine, self.conf)
        self.assertNotIn(key, publisher._senders)
        self.add_instance(engine, 'u1')
        self.assertEqual(1, len(drafts))
        self.assertEqual([], _impl_test.NOTIFICATIONS)

    def test_install_after_uninstall(self):
        engine = self.engine()
        first, second = [], []
        publisher.install(engine, self.conf, submit=first.append)
        publisher.uninstall(engine)
        publisher.uninstall(engine)  # a second uninstall does nothing
        publisher.install(engine, self.conf, submit=second.append)
        self.add_instance(engine, 'u1')
        self.assertEqual(([], 1), (first, len(second)))

    def test_rollback_of_an_invalidated_connection(self):
        # SQLAlchemy invalidates a connection on a disconnect error; the
        # service's rollback must still work with capture installed.
        engine = self.engine()
        drafts = []
        publisher.install(engine, self.conf, submit=drafts.append)

        with engine.connect() as conn:
            conn.execute(sa.insert(demo_schema.Instance.__table__).values(
                uuid='lost-1'))
            conn.invalidate()
        session = orm.Session(engine)
        session.add(demo_schema.Instance(uuid='lost-2'))
        session.flush()
        nested = session.begin_nested()
        session.add(demo_schema.Instance(uuid='lost-3'))
        session.flush()
        session.connection().invalidate()
        nested.rollback()
        session.rollback()
        session.close()
        self.assertEqual([], drafts)

        self.add_instance(engine, 'kept')
        self.assertEqual([['kept']], [[c.row['uuid'] for c in d.changes]
                                      for d in drafts])

    def test_signing_key_signs_the_notifications(self):
        key = 'a-secret-of-32-characters-------'
        self.conf.set_override('signing_key', key, 'publish_tables')
        self.conf.set_override('signing_key_id', '2025-02',
                               'publish_tables')
        engine = self.engine()
        publisher.install(engine, self.conf)
        self.add_instance(engine, 'u1')
        publisher.uninstall(engine)  # flushes

        payloads = [m['payload']
                    for _c, m, _p, _r in _impl_test.NOTIFICATIONS]
        self.assertTrue(payloads)
        verifier = signing.Verifier([('2025-02', key)])
        for payload in payloads:
            self.assertEqual('2025-02', verifier.verify(payload))
        self.assertEqual(['u1'], _published_uuids())

    def test_short_signing_key_is_refused_without_showing_it(self):
        self.conf.set_override('signing_key', 'too-short',
                               'publish_tables')
        exc = self.assertRaises(exceptions.ConfigError, publisher.install,
                                self.engine(), self.conf)
        self.assertEqual('signing_key', exc.option)
        self.assertNotIn('too-short', str(exc))
        self.assertEqual({}, publisher._senders)

    def test_engines_share_one_sender(self):
        one, two = self.engine(), self.engine()
        publisher.install(one, self.conf)
        publisher.install(two, self.conf)
        key = ('fake://', 'publish_tables', 'test')
        sender, refs = publisher._senders[key]
        self.assertEqual(2, refs)
        self.add_instance(one, 'u1')
        self.add_instance(two, 'u2')
        publisher.uninstall(one)
        self.assertIn(key, publisher._senders)
        publisher.uninstall(two)
        self.assertNotIn(key, publisher._senders)
        # One producer, numbering the records of both engines.
        batches = _published()
        self.assertEqual({sender.identity['id']},
                         {b.producer['id'] for b in batches})
        self.assertEqual([1, 2], [r.seq for b in batches
                                  for r in b.records])
        self.assertEqual(['u1', 'u2'], _published_uuids())
        self.assertEqual(1, len(_published(envelope.EVENT_GOODBYE)))

    def test_install_on_context(self):
        context_manager = enginefacade.transaction_context()
        context_manager.configure(connection=self.url)
        self.addCleanup(context_manager.dispose_pool)
        hook = publisher.install_on_context(context_manager, self.conf)
        self.addCleanup(publisher.uninstall_from_context, context_manager)
        context = _Context()

        with context_manager.writer.using(context) as session:
            session.add(demo_schema.Instance(uuid='ctx-1'))
        with context_manager.writer.using(context) as session:
            session.add(demo_schema.Instance(uuid='ctx-2'))
            session.add(demo_schema.Service(host='h'))

        engine = context_manager.writer.get_engine()
        self.assertEqual([engine], hook.engines)
        capture = publisher.installed(engine)
        self.assertIsNotNone(capture)
        self.assertIn('do_commit', vars(engine.dialect))
        self.assertTrue(_wait_for(lambda: len(_published_uuids()) == 2))
        self.assertEqual(['ctx-1', 'ctx-2'], _published_uuids())

        publisher.uninstall_from_context(context_manager)
        self.assertIsNone(publisher.installed(engine))
        self.assertNotIn('do_commit', vars(engine.dialect))
        self.assertEqual([], hook.engines)
        # Uninstalling stopped the shared sender: it said goodbye.
        self.assertEqual(1, len(_published(envelope.EVENT_GOODBYE)))

        stats = dict(capture.stats)
        _impl_test.reset()
        with context_manager.writer.using(context) as session:
            session.add(demo_schema.Instance(uuid='ctx-3'))
        with context_manager.reader.using(context) as session:
            self.assertEqual(3, session.scalar(
                sa.select(sa.func.count()).select_from(
                    demo_schema.Instance)))
        self.assertEqual(stats, capture.stats)
        self.assertFalse(_wait_for(lambda: _impl_test.NOTIFICATIONS, 0.3))

    def test_uninstall_from_unknown_context(self):
        publisher.uninstall_from_context(enginefacade.transaction_context())

    def test_disabled_hook_installs_nothing(self):
        context_manager = enginefacade.transaction_context()
        context_manager.configure(connection=self.url)
        self.addCleanup(context_manager.dispose_pool)
        publisher.install_on_context(context_manager, self.conf)
        publisher.uninstall_from_context(context_manager)
        with context_manager.writer.using(_Context()) as session:
            session.add(demo_schema.Instance(uuid='late'))
        engine = context_manager.writer.get_engine()
        self.assertIsNone(publisher.installed(engine))
        self.assertNotIn('do_commit', vars(engine.dialect))
