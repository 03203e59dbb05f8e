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

"""A RabbitMQ node dies while producers write and a consumer is LIVE.

Three RabbitMQ nodes of the test's own (loopback ports 5681-5683, see
:mod:`oslo_publish_tables.tests.rabbit_cluster`), the quorum-queue
configuration of the admin guide loaded by every side, two producers
writing PostgreSQL, publish-tables-agent serving snapshots over RPC
through the cluster and a consumer replicating them. The first node of
every client's transport URL is killed mid-workload; the replica must
still equal the database (also after a snapshot over RPC through the
survivors), and the queues must be quorum queues.
"""

import concurrent.futures
import os

from oslo_config import cfg
import oslo_messaging
from oslo_messaging import conffixture
import testtools

from oslo_publish_tables.cmd import agent as agent_mod
from oslo_publish_tables import fixture as backends
from oslo_publish_tables.tests import rabbit_cluster
from publish_tables_demo import workload as demo_workload

from congress_consumer.replication import driver as driver_mod
from congress_consumer.replication import snapshots
from congress_consumer.replication import sync
from congress_consumer.tests import pipeline

SAMPLE = os.path.join(os.path.dirname(__file__), '..', '..', '..', 'doc',
                      'source', 'admin', 'samples', 'quorum-queues.conf')
POOL = 'pt_cluster_pool'


def _steps(workload, count):
    for _ in range(count):
        workload.step()


class NodeLossTest(testtools.TestCase):

    def setUp(self):
        super().setUp()
        backends.require(backends.POSTGRESQL)
        self.cluster = self.useFixture(rabbit_cluster.RabbitClusterFixture())
        self.p = self.useFixture(pipeline.Pipeline(
            'postgresql', transport_url=self.cluster.urls,
            config_files=[SAMPLE]))
        self.snapshot_topic = self.p.topic + '_snapshot'
        conffixture.ConfFixture(self.p.conf)  # registers the RPC options
        self.start_agent()
        rpc = oslo_messaging.get_rpc_transport(self.p.conf,
                                               url=self.cluster.urls)
        self.addCleanup(rpc.cleanup)
        self.driver = driver_mod.PublishTablesDriver(
            'nova', dict(tables=self.p.tables, topic=self.p.topic,
                         pool=POOL, gap_timeout=0.5, producer_timeout=5.0),
            conf=self.p.conf, transport=self.p.new_transport(),
            snapshot_source=snapshots.RpcSnapshotSource(
                rpc, self.snapshot_topic, timeout=20))
        self.driver.start()
        self.addCleanup(self.driver.stop)

    def start_agent(self):
        conf = cfg.ConfigOpts()
        agent_mod.register_opts(conf)
        conf([], project='publish-tables-agent-tests',
             default_config_files=[SAMPLE], default_config_dirs=[])
        conffixture.ConfFixture(conf)
        conf.set_override('connection', self.p.url, 'database')
        for name, value in (('tables', self.p.tables),
                            ('snapshot_topic', self.snapshot_topic),
                            ('transport_url', self.cluster.urls)):
            conf.set_override(name, value, 'publish_tables')
        agent = agent_mod.Agent(conf, server_name='pt-cluster-agent')
        agent.start()
        self.addCleanup(agent.stop)

    def queue_types(self):
        survivor = self.cluster.nodes[1]
        out = survivor.ctl('list_queues', '--quiet', '--no-table-headers',
                           'name', 'type')
        return dict(line.split('\t')[:2] for line in out.splitlines()
                    if '\t' in line)

    def test_node_killed_while_producers_write(self):
        producers = [self.p.producer, self.p.add_producer()]
        loads = [demo_workload.Workload(p.engine, seed=i)
                 for i, p in enumerate(producers)]
        self.assertTrue(self.driver.wait_live(60))
        with concurrent.futures.ThreadPoolExecutor(2) as pool:
            running = [pool.submit(_steps, load, 30) for load in loads]
            _steps(demo_workload.Workload(self.p.producer.engine, seed=9),
                   5)
            self.cluster.nodes[0].kill()  # first host of every URL
            for future in running:
                future.result()
        for load in loads:
            _steps(load, 10)  # after the failover
        self.assertFalse(self.cluster.nodes[0].running())
        self.assertEqual([], self.p.converge(timeout=90,
                                             driver=self.driver))
        for table in self.p.tables:
            self.assertEqual(sync.LIVE, self.driver.sync.status[table].state)
        self.assertTrue(self.p.db_rows('instances'))
        # A snapshot over RPC through the surviving nodes.
        snapshots_before = self.driver.sync.replicas['instances'].counts[
            'snapshots']
        self.driver.sync.request_resync(['instances'], 'test')
        self.assertEqual([], self.p.converge(timeout=60,
                                             driver=self.driver))
        self.assertGreater(
            self.driver.sync.replicas['instances'].counts['snapshots'],
            snapshots_before)
        types = self.queue_types()
        # Each datasource reads a queue of its own: <pool>.<datasource>.
        self.assertEqual('quorum', types.get(POOL + '.nova'), types)
        self.assertEqual('quorum', types.get(self.snapshot_topic), types)
        self.assertEqual('quorum', types.get(self.p.topic + '.info'), types)
