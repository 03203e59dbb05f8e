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

"""Signed snapshot replies: the agent's endpoint and the consumer's check.

The RPC client of :class:`RpcSnapshotSource` is replaced by one that
calls a :class:`SnapshotEndpoint` in process, through a JSON round trip
like a real transport; an attacker is a function that changes, replaces
or replays replies on the way.
"""

import copy
import json
import logging
import uuid

import fixtures
import testtools

from oslo_publish_tables.protocol import signing
from oslo_publish_tables.protocol import snapshot_rpc
from oslo_publish_tables.snapshot import service as service_mod

from congress_consumer.replication import authentication
from congress_consumer.replication import snapshots
from congress_consumer.replication import sync as sync_mod

KEY = 'snapshot-signing-key-0123456789'
OTHER_KEY = 'attacker-signing-key-0123456789'


class StubService(object):
    """The snapshot service's interface over rows held in memory."""

    def __init__(self, tables):
        self.tables = tables  # name -> [row dict]
        self.open = {}

    def open_snapshot(self, table):
        sid = uuid.uuid4().hex
        self.open[sid] = [table, 0]
        rows = self.tables[table]
        return {'id': sid, 'ts': 1000, 'columns': sorted(rows[0]),
                'pk': ['id'], 'fence_ms': 0.5}

    def fetch(self, snapshot_id, max_rows=None):
        table, position = self.open[snapshot_id]
        rows = self.tables[table][position:position + (max_rows or 2)]
        self.open[snapshot_id][1] += len(rows)
        return {'rows': rows, 'done': not rows, 'table': table,
                'position': position}

    def close_snapshot(self, snapshot_id):
        self.open.pop(snapshot_id, None)


def _json(value):
    return json.loads(json.dumps(value))


class Client(object):
    """An RPC client whose server is ``endpoint``; ``tamper`` sees replies.

    ``tamper(method, reply)`` returns the reply the consumer gets. Every
    genuine reply is kept in ``replies``.
    """

    def __init__(self, endpoint):
        self.endpoint = endpoint
        self.tamper = None
        self.replies = []

    def call(self, ctxt, method, **kwargs):
        reply = _json(getattr(self.endpoint, method)(_json(ctxt),
                                                     **_json(kwargs)))
        self.replies.append((method, copy.deepcopy(reply)))
        return self.tamper(method, reply) if self.tamper else reply

    def cast(self, ctxt, method, **kwargs):
        getattr(self.endpoint, method)(_json(ctxt), **_json(kwargs))


ROWS = {'t': [{'id': i, 'v': 'row%d' % i} for i in range(5)],
        'u': [{'id': i, 'v': 'other%d' % i} for i in range(5)]}


class SnapshotSigningTest(testtools.TestCase):

    def setUp(self):
        super().setUp()
        self.log = self.useFixture(fixtures.FakeLogger(level=logging.INFO))
        self.service = StubService(copy.deepcopy(ROWS))

    def source(self, server_signer=signing.Signer('k1', KEY),
               keys=(('k1', KEY),), require=True):
        endpoint = service_mod.SnapshotEndpoint(self.service, server_signer)
        auth = None if keys is None else \
            authentication.SnapshotAuthenticator(
                signing.Verifier(keys, require=require))
        client = Client(endpoint)
        with fixtures.MockPatch('congress_consumer.replication.snapshots.'
                                'oslo_messaging.get_rpc_client',
                                return_value=client):
            return snapshots.RpcSnapshotSource(None, 'snap',
                                               authenticator=auth)

    def read(self, source, table='t'):
        snap = source.open(table)
        rows = []
        while True:
            page = source.fetch(snap['id'], 2)
            rows.extend(page['rows'])
            if page['done']:
                return snap, rows

    # -- the agent's side ---------------------------------------------------

    def test_replies_are_signed_and_bound_to_the_request(self):
        endpoint = service_mod.SnapshotEndpoint(self.service,
                                                signing.Signer('k1', KEY))
        ctxt = {snapshot_rpc.NONCE_KEY: 'n1'}
        opened = endpoint.open_snapshot(ctxt, 't')
        self.assertEqual({'method': 'open_snapshot', 'table': 't',
                          'nonce': 'n1'}, opened['request'])
        verifier = signing.Verifier([('k1', KEY)])
        self.assertEqual('k1', verifier.verify(opened))
        endpoint.fetch({snapshot_rpc.NONCE_KEY: 'n2'}, opened['id'], 2)
        page = endpoint.fetch({snapshot_rpc.NONCE_KEY: 'n3'}, opened['id'], 2)
        self.assertEqual({'method': 'fetch', 'snapshot_id': opened['id'],
                          'table': 't', 'position': 2, 'nonce': 'n3'},
                         page['request'])
        self.assertEqual('k1', verifier.verify(page))

    def test_no_signer_no_signature(self):
        endpoint = service_mod.SnapshotEndpoint(self.service)
        opened = endpoint.open_snapshot({}, 't')
        self.assertNotIn(signing.FIELD, opened)
        self.assertNotIn('request', opened)

    def test_old_caller_without_nonce_still_gets_a_signed_reply(self):
        endpoint = service_mod.SnapshotEndpoint(self.service,
                                                signing.Signer('k1', KEY))
        opened = endpoint.open_snapshot(None, 't')
        self.assertIsNone(opened['request']['nonce'])
        self.assertIn(signing.FIELD, opened)

    # -- the consumer's side ------------------------------------------------

    def test_signed_snapshot_is_read_and_stripped(self):
        source = self.source()
        snap, rows = self.read(source)
        self.assertEqual(ROWS['t'], rows)
        self.assertNotIn(signing.FIELD, snap)
        self.assertNotIn('request', snap)
        self.assertEqual({'verified:k1': 5}, source.authenticator.status())
        self.assertEqual({}, source._snapshots)
        # Every call sent a nonce of its own.
        nonces = [r['request']['nonce'] for _, r in source._client.replies]
        self.assertEqual(len(nonces), len(set(nonces)))

    def test_unsigned_replies_fail_when_required(self):
        source = self.source(server_signer=None)
        exc = self.assertRaises(signing.SignatureError, source.open, 't')
        self.assertEqual(signing.UNSIGNED, exc.reason)
        self.assertEqual({signing.UNSIGNED: 1},
                         source.authenticator.status())
        self.assertIn('rejected an unauthenticated snapshot reply to '
                      "open_snapshot of 't' (unsigned)", self.log.output)

    def test_lenient_mode_accepts_unsigned_but_not_wrong(self):
        source = self.source(server_signer=None, require=False)
        self.assertEqual(ROWS['t'], self.read(source)[1])
        self.assertEqual({'unsigned_accepted': 5},
                         source.authenticator.status())
        source = self.source(server_signer=signing.Signer('k1', OTHER_KEY),
                             require=False)
        exc = self.assertRaises(signing.SignatureError, source.open, 't')
        self.assertEqual(signing.INVALID, exc.reason)

    def test_unknown_key(self):
        source = self.source(server_signer=signing.Signer('k9', KEY))
        exc = self.assertRaises(signing.SignatureError, source.open, 't')
        self.assertEqual(signing.UNKNOWN_KEY, exc.reason)

    def test_no_key_no_check(self):
        source = self.source(keys=None)
        self.assertEqual(ROWS['t'], self.read(source)[1])

    def test_changed_rows_are_rejected(self):
        source = self.source()
        snap = source.open('t')

        def inject(method, reply):
            reply['rows'].append({'id': 99, 'v': 'forged'})
            return reply
        source._client.tamper = inject
        exc = self.assertRaises(signing.SignatureError, source.fetch,
                                snap['id'], 2)
        self.assertEqual(signing.INVALID, exc.reason)

    def test_changed_done_flag_is_rejected(self):
        source = self.source()
        snap = source.open('t')

        def truncate(method, reply):
            reply['done'] = True
            return reply
        source._client.tamper = truncate
        self.assertRaises(signing.SignatureError, source.fetch,
                          snap['id'], 2)

    def test_replayed_open_reply_is_rejected(self):
        source = self.source()
        old = source.open('t')
        recorded = source._client.replies[-1][1]
        source._client.tamper = lambda method, reply: copy.deepcopy(recorded)
        exc = self.assertRaises(signing.SignatureError, source.open, 't')
        self.assertEqual(authentication.WRONG_REQUEST, exc.reason)
        self.assertEqual([old['id']], list(source._snapshots))

    def test_chunk_of_another_snapshot_is_rejected(self):
        source = self.source()
        _, rows_u = self.read(source, 'u')
        chunk_u = [r for m, r in source._client.replies if m == 'fetch'][0]
        snap = source.open('t')
        source._client.tamper = lambda method, reply: copy.deepcopy(chunk_u)
        exc = self.assertRaises(signing.SignatureError, source.fetch,
                                snap['id'], 2)
        self.assertEqual(authentication.WRONG_REQUEST, exc.reason)

    def test_chunk_replayed_at_another_position_is_rejected(self):
        source = self.source()
        snap = source.open('t')
        source.fetch(snap['id'], 2)
        first = source._client.replies[-1][1]
        first = dict(first, request=dict(first['request']))

        def replay(method, reply):
            # Even with the nonce of this call (the attacker sees it), the
            # position of the first chunk gives it away.
            forged = copy.deepcopy(first)
            forged['request']['nonce'] = reply['request']['nonce']
            return forged
        source._client.tamper = replay
        exc = self.assertRaises(signing.SignatureError, source.fetch,
                                snap['id'], 2)
        self.assertEqual(signing.INVALID, exc.reason)
        source._client.tamper = lambda method, reply: copy.deepcopy(first)
        exc = self.assertRaises(signing.SignatureError, source.fetch,
                                snap['id'], 2)
        self.assertEqual(authentication.WRONG_REQUEST, exc.reason)

    def test_rejections_are_logged_once_per_interval(self):
        source = self.source(server_signer=None)
        for _ in range(3):
            self.assertRaises(signing.SignatureError, source.open, 't')
        self.assertEqual(1, self.log.output.count('rejected an '
                                                  'unauthenticated'))
        self.assertEqual({signing.UNSIGNED: 3},
                         source.authenticator.status())
        self.assertNotIn(KEY, self.log.output)


class SynchronizerTest(testtools.TestCase):
    """A forged snapshot fails, is counted and retried, never loaded."""

    def test_forged_snapshot_is_never_loaded(self):
        self.useFixture(fixtures.FakeLogger(level=logging.INFO))
        test = SnapshotSigningTest('test_no_key_no_check')
        test.service = StubService(copy.deepcopy(ROWS))
        source = test.source()
        forged = []

        def inject(method, reply):
            if method == 'fetch' and reply['rows'] and len(forged) < 3:
                forged.append(1)
                reply['rows'][0]['v'] = 'forged'
            return reply
        source._client.tamper = inject
        seen = []
        sync = sync_mod.Synchronizer(
            ['t'], None, source, chunk_rows=2, retry_interval=0.01,
            listener=lambda table, old, new: seen.append(new))
        sync.start()
        self.addCleanup(sync.stop)
        self.assertTrue(sync.wait_live(30))
        self.assertEqual(3, sync.counts['snapshot_failures'])
        self.assertEqual(3, source.authenticator.counts[signing.INVALID])
        self.assertEqual(sorted(r['v'] for r in ROWS['t']),
                         sorted(r['v'] for r in
                                sync.replicas['t'].rows.values()))
        self.assertEqual(len(ROWS['t']), len(seen))
        self.assertNotIn('forged', [r and r.get('v') for r in seen])
