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

"""The snapshot side against rogue, broken or greedy peers.

A server answering "done, no rows" does not silently empty a replica;
with a key, only signed requests are served (and not replayed), a
rejected reply leaves nothing open on the agent and rejections do not
flood the log; an agent holds a bounded number of snapshots.
"""

import copy
import logging
import time

import fixtures
import oslo_messaging
import sqlalchemy as sa
import testtools

from oslo_publish_tables.capture import tables as tables_mod
from oslo_publish_tables import exceptions as pt_exceptions
from oslo_publish_tables import fixture as backends
from oslo_publish_tables.protocol import signing
from oslo_publish_tables.protocol import snapshot_requests as requests
from oslo_publish_tables.snapshot import service as service_mod
from publish_tables_demo import schema as m

from congress_consumer.replication import authentication
from congress_consumer.replication import snapshots
from congress_consumer.replication import sync as sync_mod
from congress_consumer.tests.unit.replication import \
    test_receiver_driver as helpers
from congress_consumer.tests.unit.replication import \
    test_snapshot_signing as signing_helpers

KEY = signing_helpers.KEY


def unwrapped(call):
    """``call`` raising what the RPC dispatcher would send back."""
    def dispatch(*args, **kwargs):
        try:
            return call(*args, **kwargs)
        except oslo_messaging.ExpectedException as exc:
            raise exc.exc_info[1] from None
    return dispatch


class Client(signing_helpers.Client):
    def call(self, ctxt, method, **kwargs):
        return unwrapped(super().call)(ctxt, method, **kwargs)


class EmptySnapshotTest(testtools.TestCase):

    def test_an_empty_snapshot_does_not_silently_empty_a_live_replica(self):
        source = helpers.FakeSource(
            {'t': (100, ['id'], [{'id': 1}, {'id': 2}])})
        sync = sync_mod.Synchronizer(['t'], {'t': ('id',)}, source)
        sync.sync_table('t')
        self.assertEqual(sync_mod.LIVE, sync.status['t'].state)
        source.tables['t'] = (200, ['id'], [])  # "done, no rows"
        sync.request_resync(['t'], 'requested')
        for attempt in range(sync_mod.SUSPECT_CONFIRMATIONS - 1):
            self.assertRaises(pt_exceptions.SnapshotError,
                              sync.sync_table, 't')
            self.assertEqual(2, len(sync.replicas['t'].rows))
            self.assertEqual(sync_mod.RESYNCING, sync.status['t'].state)
        self.assertEqual(sync_mod.SUSPECT_CONFIRMATIONS - 1,
                         sync.counts['suspect_snapshots'])
        # Empty every time: the table really was emptied.
        sync.sync_table('t')
        self.assertEqual(0, len(sync.replicas['t'].rows))
        self.assertEqual(sync_mod.LIVE, sync.status['t'].state)

    def test_a_non_empty_snapshot_in_between_resets_the_suspicion(self):
        source = helpers.FakeSource({'t': (100, ['id'], [{'id': 1}])})
        sync = sync_mod.Synchronizer(['t'], {'t': ('id',)}, source)
        sync.sync_table('t')
        source.tables['t'] = (200, ['id'], [])
        self.assertRaises(pt_exceptions.SnapshotError, sync.sync_table, 't')
        source.tables['t'] = (300, ['id'], [{'id': 1}])
        sync.sync_table('t')
        source.tables['t'] = (400, ['id'], [])
        self.assertRaises(pt_exceptions.SnapshotError, sync.sync_table, 't')
        self.assertEqual(1, len(sync.replicas['t'].rows))

    def test_failing_snapshots_are_logged_at_most_once_a_minute(self):
        log = self.useFixture(fixtures.FakeLogger(level=logging.WARNING))

        class Rejecting(helpers.FakeSource):
            opens = 0

            def open(self, table):
                self.opens += 1
                raise signing.SignatureError(signing.INVALID, 'forged')

        source = Rejecting({})
        sync = sync_mod.Synchronizer(['t'], {'t': ('id',)}, source,
                                     retry_interval=0.001)
        sync.start()
        self.addCleanup(sync.stop)
        deadline = time.monotonic() + 30
        while source.opens < 30 and time.monotonic() < deadline:
            time.sleep(0.01)
        self.assertGreaterEqual(source.opens, 30)
        self.assertEqual(1, log.output.count('table t: snapshot failed'))


class SignedRequestTest(testtools.TestCase):

    def setUp(self):
        super().setUp()
        self.service = signing_helpers.StubService(
            copy.deepcopy(signing_helpers.ROWS))
        self.checker = requests.RequestChecker(
            signing.Verifier([('k1', KEY)]))
        self.endpoint = service_mod.SnapshotEndpoint(
            self.service, signing.Signer('k1', KEY), self.checker)

    def source(self, key=KEY):
        client = Client(self.endpoint)
        auth = authentication.SnapshotAuthenticator(
            signing.Verifier([('k1', KEY)]))
        signer = None if key is None else signing.Signer('k1', key)
        with fixtures.MockPatch('congress_consumer.replication.snapshots.'
                                'oslo_messaging.get_rpc_client',
                                return_value=client):
            return snapshots.RpcSnapshotSource(None, 'snap',
                                               authenticator=auth,
                                               signer=signer)

    def test_signed_requests_are_served(self):
        source = self.source()
        snap = source.open('t')
        page = source.fetch(snap['id'], 10)
        self.assertEqual(signing_helpers.ROWS['t'], page['rows'])
        source.close(snap['id'])
        self.assertEqual({}, self.service.open)

    def test_unsigned_or_wrongly_signed_requests_are_refused(self):
        for key in (None, signing_helpers.OTHER_KEY):
            source = self.source(key)
            self.assertRaises(requests.RequestRefused, source.open, 't')
        self.assertEqual({}, self.service.open)
        self.assertEqual(2, sum(self.checker.refused.values()))

    def test_a_replayed_or_redirected_request_is_refused(self):
        signer = signing.Signer('k1', KEY)
        ctxt = requests.signed_context(signer, 'open_snapshot',
                                       {'table': 't'}, 'n' * 32)
        open_snapshot = unwrapped(self.endpoint.open_snapshot)
        open_snapshot(ctxt, 't')
        self.assertRaises(requests.RequestRefused, open_snapshot, ctxt, 't')
        other = requests.signed_context(signer, 'open_snapshot',
                                        {'table': 't'}, 'm' * 32)
        self.assertRaises(requests.RequestRefused, open_snapshot, other, 'u')
        stale = requests.signed_context(signer, 'open_snapshot',
                                        {'table': 't'}, 'o' * 32,
                                        clock=lambda: time.time() - 3600)
        self.assertRaises(requests.RequestRefused, open_snapshot, stale, 't')
        self.assertEqual({'replayed': 1, 'wrong_call': 1, 'stale': 1},
                         dict(self.checker.refused))

    def test_a_rejected_open_reply_leaves_nothing_open(self):
        source = self.source()

        def forge(method, reply):
            reply['ts'] += 1  # breaks the signature
            return reply

        source._client.tamper = forge
        self.assertRaises(signing.SignatureError, source.open, 't')
        self.assertEqual({}, self.service.open)


class BoundedAgentTest(testtools.TestCase):

    def setUp(self):
        super().setUp()
        db = self.useFixture(backends.DatabaseFixture('sqlite'))
        self.engine = sa.create_engine(db.url)
        self.addCleanup(self.engine.dispose)
        m.create(self.engine)
        with self.engine.connect() as conn:
            registry = tables_mod.TableRegistry.reflect(conn, ['tags'])
        self.service = service_mod.SnapshotService(
            self.engine, registry,
            service_mod.SnapshotLimits(max_open=3, max_duration=3600))
        self.addCleanup(self.service.close)

    def test_held_open_snapshots_are_bounded_and_time_out(self):
        opened = [self.service.open_snapshot('tags') for _ in range(3)]
        exc = self.assertRaises(pt_exceptions.SnapshotError,
                                self.service.open_snapshot, 'tags')
        self.assertIn('snapshot_max_open', str(exc))
        self.service.close_snapshot(opened[0]['id'])
        self.service.open_snapshot('tags')
        self.service.snapshots.max_duration = 0.0  # all are too old
        time.sleep(0.01)
        self.service.open_snapshot('tags')
        self.assertEqual(1, len(self.service.snapshots))
