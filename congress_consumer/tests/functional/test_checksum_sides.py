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

"""Both sides of a verification compute the same digests, on every backend.

A table with every kind of value (NULLs, unicode, decimals, floats,
datetimes, dates, bytes, booleans, a composite key and an excluded
column) is digested by the snapshot service in the database's process
and by a consumer over the rows it loaded, through the bus's JSON and
through the in-process path. Equal means no chunk differs; one row
changed behind the consumer's back means exactly its chunk differs and
is repaired.
"""

import datetime
import decimal
import json

import sqlalchemy as sa
import testtools

from oslo_publish_tables.capture import tables as tables_mod
from oslo_publish_tables import fixture as backends
from oslo_publish_tables.protocol import checksum
from oslo_publish_tables.snapshot import service as service_mod

from congress_consumer.replication import sync
from congress_consumer.replication import verification

TABLE = 'kinds'


def _rows():
    when = datetime.datetime(2024, 2, 29, 23, 59, 58)
    texts = ['', 'plain', 'é ß 日本語', "quote ' and # and \\", None]
    for i in range(40):
        yield {'zone': 'z%d' % (i % 3), 'id': i,
               'name': texts[i % len(texts)],
               'ratio': None if i % 7 == 0 else
               decimal.Decimal('1.2500') * i,
               'load': None if i % 5 == 0 else 0.1 * i,
               'seen': None if i % 6 == 0 else
               when + datetime.timedelta(seconds=i),
               'day': datetime.date(2024, 1, 1 + i % 28),
               'blob': None if i % 4 == 0 else bytes([i, 0, 255]),
               'on': bool(i % 2), 'secret': 'hidden %d' % i}


class _JsonSource(object):
    """The service as an RPC client sees it: JSON replies, no decoded path."""

    def __init__(self, service):
        def json_of(call):
            return lambda *args: json.loads(json.dumps(call(*args)))

        self.open = json_of(service.open_snapshot)
        self.fetch = json_of(service.fetch)
        self.close = service.close_snapshot
        self.open_checksum = json_of(service.open_checksum)
        self.checksum = json_of(service.checksum)
        self.open_chunks = json_of(service.open_chunks)


class _DirectSource(object):
    """The service as a DirectSnapshotSource sees it."""

    def __init__(self, service):
        self.service = service
        self.open = service.open_snapshot
        self.fetch_decoded = service.fetch_decoded
        self.close = service.close_snapshot
        self.open_checksum = service.open_checksum
        self.checksum = service.checksum
        self.open_chunks = service.open_chunks


class ChecksumSidesTest(testtools.TestCase):
    backend = 'sqlite'

    def setUp(self):
        super().setUp()
        db = self.useFixture(backends.DatabaseFixture(self.backend))
        self.engine = sa.create_engine(db.url)
        self.addCleanup(self.engine.dispose)
        meta = sa.MetaData()
        self.table = sa.Table(
            TABLE, meta,
            sa.Column('zone', sa.String(8), primary_key=True),
            sa.Column('id', sa.Integer, primary_key=True,
                      autoincrement=False),
            sa.Column('name', sa.Unicode(40)),
            sa.Column('ratio', sa.Numeric(12, 4)),
            sa.Column('load', sa.Float),
            sa.Column('seen', sa.DateTime),
            sa.Column('day', sa.Date),
            sa.Column('blob', sa.LargeBinary),
            sa.Column('on', sa.Boolean),
            sa.Column('secret', sa.String(40)))
        meta.create_all(self.engine)
        with self.engine.begin() as conn:
            conn.execute(sa.insert(self.table), list(_rows()))
        with self.engine.connect() as conn:
            registry = tables_mod.TableRegistry.reflect(
                conn, [TABLE], ['%s.secret' % TABLE])
        self.service = service_mod.SnapshotService(
            self.engine, registry, service_mod.SnapshotLimits(chunk_rows=7))
        self.addCleanup(self.service.close)

    def consumer(self, source):
        synchronizer = sync.Synchronizer([TABLE], None, source,
                                         chunk_rows=9)
        synchronizer.sync_table(TABLE)
        self.assertEqual(sync.LIVE, synchronizer.status[TABLE].state)
        verifier = verification.Verifier(
            synchronizer, source, 'test',
            verification.VerifyPace(rows_per_second=0, chunk_rows=6,
                                    settle=0))
        return synchronizer, verifier

    def test_same_digests_through_json_and_in_process(self):
        for source in (_JsonSource(self.service),
                       _DirectSource(self.service)):
            synchronizer, verifier = self.consumer(source)
            found = verifier.verify_table(TABLE)
            self.assertTrue(found['verified'], found)
            self.assertEqual(7, found['chunks'])  # 40 rows / 6
            self.assertEqual(7, found['chunks_checked'])
            self.assertEqual([], found['mismatched'])
            self.assertNotIn('secret', synchronizer.replicas[TABLE].columns)

    def test_a_row_changed_in_the_database_is_found_and_repaired(self):
        synchronizer, verifier = self.consumer(_JsonSource(self.service))
        with self.engine.begin() as conn:  # not captured: no delta
            conn.execute(self.table.update().where(
                self.table.c.id == 11).values(ratio=decimal.Decimal('2'),
                                              name='changed'))
        found = verifier.verify_table(TABLE)
        chunk = checksum.chunk_of(('z2', 11), 7)
        self.assertEqual([chunk], found['mismatched'])
        self.assertEqual([{'chunk': chunk, 'added': 0, 'changed': 1,
                           'removed': 0}], found['repairs'])
        row = synchronizer.replicas[TABLE].rows[('z2', 11)]
        self.assertEqual(('changed', decimal.Decimal('2')),
                         (row['name'], row['ratio']))
        self.assertEqual([], verifier.verify_table(TABLE)['mismatched'])


backends.for_each_backend(ChecksumSidesTest)
