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

"""Columns the producer excludes never reach a replica (issue 12, item 6).

With ``snapshot_source = database`` the consumer reads the database
itself: it must leave out what the producer does not publish (e.g.
``instances.user_data``), told by ``exclude_columns`` or, failing that,
learned from the producer's changes, which lack those columns.
"""

import uuid

from sqlalchemy import orm
import testtools

from oslo_publish_tables import fixture as backends
from publish_tables_demo import schema as m

from congress_consumer.tests import pipeline


class ExcludedColumnsTest(testtools.TestCase):
    backend = 'sqlite'

    def setUp(self):
        super().setUp()
        self.p = self.useFixture(pipeline.Pipeline(
            self.backend, tables=['instances'],
            exclude_columns=['instances.user_data']))
        self.ids = [self._add('secret-%d' % i) for i in range(2)]

    def _add(self, user_data):
        with orm.Session(self.p.producer.engine) as s, s.begin():
            inst = m.Instance(uuid=str(uuid.uuid4()), user_data=user_data)
            s.add(inst)
            s.flush()
            return inst.id

    def _replica_columns(self, driver):
        rows = self.p.replica_rows('instances', driver).values()
        return {c for row in rows for c in row}

    def test_exclude_columns_are_never_loaded(self):
        self.p.driver.stop()  # it would share the topic's queue
        driver = self.p.new_driver(snapshot_source='database',
                                   exclude_columns='instances.user_data')
        self.assertEqual([], self.p.converge(driver=driver))
        self.assertEqual(2, len(self.p.replica_rows('instances', driver)))
        self.assertNotIn('user_data', self._replica_columns(driver))

    def test_exclusions_are_learned_from_the_changes(self):
        self.p.driver.stop()  # it would share the topic's queue
        driver = self.p.new_driver(snapshot_source='database',
                                   min_resync_interval=0)
        self.assertTrue(driver.sync.wait_live(20))
        with orm.Session(self.p.producer.engine) as s, s.begin():
            s.get(m.Instance, self.ids[0]).vm_state = 'changed'
        self.assertEqual([], self.p.converge(driver=driver))
        self.assertNotIn('user_data', self._replica_columns(driver))
        self.assertEqual(1, driver.sync.counts['excluded_columns'])


backends.for_each_backend(ExcludedColumnsTest)
