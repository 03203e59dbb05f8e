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

"""``snapshot_source = database`` with the producers' ``outbox_schema``.

Producers in durable mode keep their outbox in a schema (PostgreSQL),
database (MySQL/MariaDB) or attached database (SQLite) of its own. A
consumer that reads its snapshots from the database itself finds the
outbox there only with the datasource option ``outbox_schema``: its
snapshots then carry the outbox id, and the replica is ordered by
outbox ids like the records (``OUTBOX``). Without the option (the
control) the snapshots carry none and the table falls back to stamps.
"""

import uuid

from sqlalchemy import orm
import testtools

from oslo_publish_tables import fixture as backends
from publish_tables_demo import schema as m

from congress_consumer.replication import replica as replica_mod
from congress_consumer.tests import pipeline


class DatabaseSnapshotOutboxSchemaTest(testtools.TestCase):
    backend = 'postgresql'

    def setUp(self):
        super().setUp()
        self.p = self.useFixture(pipeline.Pipeline(
            self.backend, tables=['instances'], delivery='durable',
            outbox_schema=True))
        for _ in range(3):
            self._add()
        self.p.driver.stop()  # it would share the topic's queue

    def _add(self):
        with orm.Session(self.p.producer.engine) as s, s.begin():
            s.add(m.Instance(uuid=str(uuid.uuid4())))

    def _converged(self, **args):
        driver = self.p.new_driver(snapshot_source='database', **args)
        self.assertEqual([], self.p.converge(driver=driver))
        self._add()  # a record with its outbox id, after the snapshot
        self.assertEqual([], self.p.converge(driver=driver))
        with driver.sync.lock:
            return (driver.sync.replicas['instances'].order,
                    driver.sync.counts['reordered'])

    def test_snapshots_carry_the_outbox_id(self):
        self.assertEqual((replica_mod.OUTBOX, 0),
                         self._converged(outbox_schema=self.p.where))

    def test_without_the_option_they_carry_none(self):
        self.assertEqual(replica_mod.STAMP, self._converged()[0])


backends.for_each_backend(DatabaseSnapshotOutboxSchemaTest)
