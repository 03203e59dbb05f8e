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

"""Every snapshot server checks its requests the same way.

The agent (a SnapshotService behind a SnapshotEndpoint) and a consumer
republishing its tables (a Republisher behind a RepublisherEndpoint) run
the same checks: with a key only signed, fresh, never-seen requests are
served; implausible arguments are refused before anything is opened; at
most ``max_open`` snapshots are held, each closed when idle or open too
long. One scenario runs against both.
"""

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

from congress_consumer.replication import sync as sync_mod
from congress_consumer.subscriptions import republisher as rep_mod
from congress_consumer.tests.unit.subscriptions import test_republisher

KEY = 'snapshot-server-key-0123456789'
OTHER_KEY = 'attacker-signing-key-0123456789'


class Clock(object):
    now = 1000.0

    def __call__(self):
        return self.now


def call(endpoint, method, ctxt, **kwargs):
    """Call ``method`` as the RPC dispatcher would; raise what it sends."""
    try:
        return getattr(endpoint, method)(ctxt, **kwargs)
    except oslo_messaging.ExpectedException as exc:
        raise exc.exc_info[1] from None


class AgentServer(object):
    table = 'tags'

    def __init__(self, test):
        db = test.useFixture(backends.DatabaseFixture('sqlite'))
        engine = sa.create_engine(db.url)
        test.addCleanup(engine.dispose)
        m.create(engine)
        with engine.connect() as conn:
            registry = tables_mod.TableRegistry.reflect(conn, ['tags'])
        self.source = service_mod.SnapshotService(
            engine, registry, service_mod.SnapshotLimits(
                idle_timeout=10, max_open=2, max_duration=100))
        test.addCleanup(self.source.close)

    def endpoint(self, signer, checker):
        return service_mod.SnapshotEndpoint(self.source, signer, checker)


class RepublisherServer(object):
    table = 't'

    def __init__(self, test):
        sync = sync_mod.Synchronizer(['t'], {'t': ('id',)}, None)
        self.source = rep_mod.Republisher(
            sync, test_republisher.FakeSender(), idle_timeout=10,
            max_open=2, max_duration=100)
        test_republisher._load(sync, 't', 100, [{'id': 1, 'v': 'a'}])

    def endpoint(self, signer, checker):
        return rep_mod.RepublisherEndpoint(self.source, signer, checker)


class SnapshotServerChecksMixin(object):
    server_class = None

    def setUp(self):
        super().setUp()
        self.server = self.server_class(self)
        self.table = self.server.table
        self.clock = self.server.source.snapshots.clock = Clock()
        self.checker = requests.checker_for_key('k1', KEY)
        self.endpoint = self.server.endpoint(signing.Signer('k1', KEY),
                                             self.checker)
        self.nonces = 0

    def ctxt(self, method, key=KEY, **kwargs):
        self.nonces += 1
        return requests.signed_context(signing.Signer('k1', key), method,
                                       kwargs, '%032d' % self.nonces)

    def open(self):
        ctxt = self.ctxt('open_snapshot', table=self.table)
        return call(self.endpoint, 'open_snapshot', ctxt, table=self.table)

    def test_unsigned_forged_and_replayed_requests_are_refused(self):
        for ctxt in ({}, self.ctxt('open_snapshot', key=OTHER_KEY,
                                   table=self.table)):
            self.assertRaises(requests.RequestRefused, call, self.endpoint,
                              'open_snapshot', ctxt, table=self.table)
        ctxt = self.ctxt('open_snapshot', table=self.table)
        opened = call(self.endpoint, 'open_snapshot', ctxt, table=self.table)
        self.assertRaises(requests.RequestRefused, call, self.endpoint,
                          'open_snapshot', ctxt, table=self.table)
        self.assertRaises(requests.RequestRefused, call, self.endpoint,
                          'fetch', {}, snapshot_id=opened['id'])
        self.assertEqual(1, len(self.server.source.snapshots))
        self.assertEqual({'malformed_signature': 2, 'bad_signature': 1,
                          'replayed': 1}, dict(self.checker.refused))

    def test_implausible_arguments_are_refused_before_opening(self):
        for kwargs in ({'table': ['x']}, {'table': 'x' * 300},
                       {'table': ''}):
            self.assertRaises(pt_exceptions.SnapshotError, call,
                              self.endpoint, 'open_snapshot',
                              self.ctxt('open_snapshot', **kwargs), **kwargs)
        sid = self.open()['id']
        for max_rows in (-5, 'x', 10 ** 9, 1.5):
            kwargs = {'snapshot_id': sid, 'max_rows': max_rows}
            self.assertRaises(pt_exceptions.SnapshotError, call,
                              self.endpoint, 'fetch',
                              self.ctxt('fetch', **kwargs), **kwargs)
        self.assertEqual(0, sum(self.checker.refused.values()))
        kwargs = {'snapshot_id': sid, 'max_rows': 10}
        page = call(self.endpoint, 'fetch', self.ctxt('fetch', **kwargs),
                    **kwargs)
        self.assertEqual(0, page['position'])

    def test_open_snapshots_are_bounded_and_time_out(self):
        self.open(), self.open()
        exc = self.assertRaises(pt_exceptions.SnapshotError, self.open)
        self.assertIn('snapshot_max_open = 2', str(exc))
        self.clock.now += 11  # both idle for longer than idle_timeout
        third = self.open()
        self.assertEqual(1, len(self.server.source.snapshots))
        snapshots = self.server.source.snapshots
        for _ in range(12):  # in use, never idle, but open for too long
            self.clock.now += 9
            snapshots.get(third['id'])
        self.open()
        self.assertEqual(1, len(self.server.source.snapshots))
        self.assertRaises(pt_exceptions.SnapshotError, snapshots.get,
                          third['id'])
        stats = snapshots.stats
        self.assertEqual(1, stats['snapshot_refused'])


class AgentChecksTest(SnapshotServerChecksMixin, testtools.TestCase):
    server_class = AgentServer


class RepublisherChecksTest(SnapshotServerChecksMixin, testtools.TestCase):
    server_class = RepublisherServer
