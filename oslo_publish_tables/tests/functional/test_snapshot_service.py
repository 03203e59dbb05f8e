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

"""The snapshot service's two forms of the same rows, on every backend.

``fetch`` (encoded, what the RPC endpoint returns) and ``fetch_decoded``
(for a consumer in the same process) must give the same rows, value for
value and type for type, chunk after chunk.
"""

import datetime
import decimal

import sqlalchemy as sa
import testtools

from oslo_publish_tables.capture import tables as tables_mod
from oslo_publish_tables import fixture as backends
from oslo_publish_tables.protocol import codec
from oslo_publish_tables.snapshot import service as service_mod
from publish_tables_demo import schema as m

_TABLES = ['instances', 'compute_nodes', 'tags']


def _key(row):
    return row.get('id'), row.get('resource_id'), row.get('tag')


class SnapshotServiceTest(testtools.TestCase):
    backend = 'sqlite'

    def setUp(self):
        super().setUp()
        db = self.useFixture(backends.DatabaseFixture(self.backend))
        self.engine = sa.create_engine(db.url)
        self.addCleanup(self.engine.dispose)
        m.create(self.engine)
        when = datetime.datetime(2024, 2, 29, 23, 59, 58, 123456)
        with self.engine.begin() as conn:
            conn.execute(sa.insert(m.Instance.__table__), [
                {'uuid': 'u%02d' % i, 'hostname': 'vm%d' % i,
                 'memory_mb': None if i % 3 else 512 * i,
                 'locked': bool(i % 2), 'deleted': 0,
                 'created_at': when + datetime.timedelta(seconds=i)}
                for i in range(11)])
            conn.execute(sa.insert(m.ComputeNode.__table__), [
                {'hypervisor_hostname': 'h%d' % i, 'vcpus': i,
                 'cpu_allocation_ratio': decimal.Decimal('1.5') * i,
                 'deleted': 0} for i in range(4)])
            conn.execute(sa.insert(m.Tag.__table__), [
                {'resource_id': 'u00', 'tag': t} for t in 'abcde'])
        with self.engine.connect() as conn:
            registry = tables_mod.TableRegistry.reflect(conn, _TABLES)
        self.service = service_mod.SnapshotService(
            self.engine, registry, service_mod.SnapshotLimits(chunk_rows=4))
        self.addCleanup(self.service.close)

    def pages(self, table, fetch):
        snap = self.service.open_snapshot(table)
        pages = []
        while True:
            page = fetch(snap['id'], 100)
            pages.append(page['rows'])
            if page['done']:
                return pages

    def db_rows(self, table):
        with self.engine.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(
                sa.select(m.Base.metadata.tables[table]))]

    def test_decoded_rows_are_the_decoded_encoded_rows(self):
        for table in _TABLES:
            encoded = self.pages(table, self.service.fetch)
            decoded = self.pages(table, self.service.fetch_decoded)
            # Chunks of at most chunk_rows, then an empty last page.
            self.assertEqual([len(p) for p in encoded],
                             [len(p) for p in decoded])
            self.assertEqual([], decoded[-1])
            self.assertTrue(all(len(p) <= 4 for p in decoded))
            want = [[codec.decode_row(r) for r in p] for p in encoded]
            self.assertEqual(want, decoded)
            self.assertEqual(
                [[{k: type(v) for k, v in r.items()} for r in p]
                 for p in want],
                [[{k: type(v) for k, v in r.items()} for r in p]
                 for p in decoded])
            self.assertEqual(sorted(self.db_rows(table), key=_key),
                             sorted((r for p in decoded for r in p),
                                    key=_key))

    def test_fetch_after_the_end_is_an_error(self):
        snap = self.service.open_snapshot('tags')
        while not self.service.fetch_decoded(snap['id'], 100)['done']:
            pass
        self.assertRaises(service_mod.exceptions.SnapshotError,
                          self.service.fetch_decoded, snap['id'], 100)


backends.for_each_backend(SnapshotServiceTest)
