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

"""The shipped recipe, as an operator runs it, over the real RabbitMQ.

``python -m congress_consumer.congress_compat engine --config-file F``
(what ``congress-with-publish-tables engine`` runs) in a process of its
own, with the user guide's ``congress-engine.conf`` (and a second file
for what differs here: URLs, topics, the snapshot source): the
compatibility step, a DSE2 node on RabbitMQ with Congress's policy
engine, a ``publish_tables`` datasource created through
Congress's entry point, a policy rule from the file, and the policy
tables published on the bus. The test writes the producer's database
and follows ``classification:error`` with a downstream
``PublishTablesDriver``, as any service on the bus would.
"""

import os
import subprocess
import sys
import uuid

import fixtures
from oslo_config import cfg
import oslo_messaging
from oslo_messaging import conffixture
import sqlalchemy as sa
import testtools

from oslo_publish_tables import fixture as backends
from oslo_publish_tables.tests import capture_fixture
from publish_tables_demo import schema as demo_schema

from congress_consumer.replication import driver as driver_mod
from congress_consumer.replication import snapshots
from congress_consumer.subscriptions import republisher as rep_mod
from congress_consumer.tests import congress as congress_tests
from congress_consumer.tests.congress import test_dse
from congress_consumer.tests import pipeline

EXAMPLE = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.dirname(os.path.abspath(__file__))))),
    'doc', 'source', 'user', 'examples', 'congress-engine.conf')

# Given after the user guide's file: what differs on this machine.
OVERRIDES = """\
[DEFAULT]
transport_url = {url}

[engine]
node_id = recipe-{run}
policy_topic_prefix = {prefix}

[engine_datasource_nova]
topic = {topic}
pool = {topic}_congress
snapshot_source = database
database_url = {db}
"""


class RecipeTest(testtools.TestCase):

    def setUp(self):
        super().setUp()
        if not congress_tests.ENABLED:
            self.skipTest('needs openstack-congress: run tox -e congress')
        self.useFixture(fixtures.Timeout(180, gentle=True))
        self.rabbit = self.useFixture(backends.RabbitFixture())
        self.url = self.useFixture(backends.DatabaseFixture('sqlite')).url
        engine = sa.create_engine(self.url)
        demo_schema.create(engine)
        engine.dispose()
        self.prefix = 'recipe_' + uuid.uuid4().hex[:12]
        self.topic, self.rpc_topic = rep_mod.topics(self.prefix, 'policies')
        # Listener pools name their queues.
        for queue in (self.rabbit.topic + '_congress', self.topic + '_copy',
                      self.rpc_topic):
            self.rabbit.add_queue(queue)
        self.conf = cfg.ConfigOpts()
        self.conf([], project='recipe', default_config_files=[],
                  default_config_dirs=[])
        conffixture.ConfFixture(self.conf)

    def _start_engine(self):
        tmp = self.useFixture(fixtures.TempDir()).path
        path = os.path.join(tmp, 'engine.conf')
        with open(path, 'w') as f:
            f.write(OVERRIDES.format(
                url=self.rabbit.transport_url, run=uuid.uuid4().hex[:8],
                prefix=self.prefix, topic=self.rabbit.topic, db=self.url))
        log = open(os.path.join(tmp, 'engine.log'), 'w+')
        self.addCleanup(log.close)
        env = dict(os.environ, PYTHONPATH=os.getcwd())
        proc = subprocess.Popen(
            [sys.executable, '-m', 'congress_consumer.congress_compat',
             'engine', '--config-file', EXAMPLE, '--config-file', path],
            stdout=log, stderr=subprocess.STDOUT, env=env)
        self.addCleanup(proc.wait)
        self.addCleanup(proc.kill)
        self.addOnException(lambda exc_info: self.addDetail(
            'engine-log', testtools.content.content_from_file(
                log.name, buffer_now=True)))
        return proc

    def _downstream(self):
        notify = oslo_messaging.get_notification_transport(
            self.conf, url=self.rabbit.transport_url)
        self.addCleanup(notify.cleanup)
        rpc = oslo_messaging.get_rpc_transport(
            self.conf, url=self.rabbit.transport_url)
        self.addCleanup(rpc.cleanup)
        driver = driver_mod.PublishTablesDriver(
            'errors', {'tables': ['classification:error'],
                       'topic': self.topic, 'pool': self.topic + '_copy',
                       'gap_timeout': 1, 'producer_timeout': 10},
            conf=self.conf, transport=notify,
            snapshot_source=snapshots.RpcSnapshotSource(rpc, self.rpc_topic,
                                                        timeout=5))
        driver.start()
        self.addCleanup(driver.stop)
        return driver

    def test_engine_command_publishes_policy_results(self):
        proc = self._start_engine()
        producer = self.useFixture(pipeline.Producer(
            self.url, capture_fixture.make_conf(tables=['instances']),
            self.rabbit.notification_transport(), self.rabbit.topic,
            ['instances']))
        instances = demo_schema.Instance.__table__

        def write(statement):
            with producer.engine.begin() as conn:
                conn.execute(statement)

        write(sa.insert(instances).values(uuid='vm-a', host='h1',
                                          vm_state='error'))
        copy = self._downstream()

        def errors():
            try:
                return sorted(r[0] for r in
                              copy.get_snapshot('classification:error'))
            except driver_mod.exceptions.UnknownTableError:
                return None

        def expect(value):
            test_dse.wait_for(lambda: errors() == value, timeout=60)
            self.assertIsNone(proc.poll())  # the engine still runs
            self.assertEqual(value, errors())

        expect(['vm-a'])
        write(sa.insert(instances).values(uuid='vm-b', host='h1',
                                          vm_state='error'))
        expect(['vm-a', 'vm-b'])
        write(sa.update(instances).where(instances.c.uuid == 'vm-a')
              .values(vm_state='active'))
        expect(['vm-b'])
