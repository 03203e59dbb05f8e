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

"""A datasource follows producers that publish on another exchange.

nova sets ``control_exchange = nova``: its plugin publishes there and
``publish-tables-agent``, run on nova's configuration, serves snapshots
there, on the notification transport. A datasource with
``control_exchange = nova`` takes its snapshot through that agent and
receives the changes, whatever its own process's ``control_exchange``.
Real RabbitMQ.
"""

import time

import fixtures

from oslo_config import cfg
import oslo_messaging
from oslo_messaging import conffixture  # noqa: F401
import sqlalchemy as sa
import testtools

from oslo_publish_tables.cmd import agent as agent_mod
from oslo_publish_tables import fixture as backends
from oslo_publish_tables import publisher
from publish_tables_demo import schema as m

from congress_consumer.replication import driver as driver_mod

# The RPC bus of the service, which the consumer cannot reach: the agent
# must serve on the notification transport.
_UNREACHABLE_RPC = 'rabbit://guest:guest@127.0.0.1:1/'


def _producer_conf(path):
    conf = cfg.ConfigOpts()
    agent_mod.register_opts(conf)
    conf(['--config-file', path], project='nova-test',
         default_config_files=[], default_config_dirs=[])
    oslo_messaging.conffixture.ConfFixture(conf)
    return conf


class ExchangeTest(testtools.TestCase):

    def setUp(self):
        super().setUp()
        self.rabbit = self.useFixture(backends.RabbitFixture())
        db = self.useFixture(backends.DatabaseFixture('sqlite'))
        self.engine = sa.create_engine(db.url)
        self.addCleanup(self.engine.dispose)
        m.create(self.engine)
        with self.engine.begin() as conn:
            conn.execute(sa.insert(m.Instance.__table__), [
                {'uuid': 'u%d' % i, 'hostname': 'vm%d' % i, 'deleted': 0}
                for i in range(3)])
        topic = self.rabbit.topic
        self.snapshot_topic = topic + '_snapshot'
        for name in (self.snapshot_topic, self.snapshot_topic + '.agent',
                     topic + '.ds'):
            self.rabbit.add_queue(name)
        path = self.useFixture(fixtures.TempDir()).join(
            'nova.conf')
        with open(path, 'w') as out:
            out.write(
                '[DEFAULT]\ncontrol_exchange = nova\ntransport_url = %s\n'
                '[oslo_messaging_notifications]\ntransport_url = %s\n'
                '[database]\nconnection = %s\n'
                '[publish_tables]\ntables = instances\ntopic = %s\n'
                'snapshot_topic = %s\n' % (
                    _UNREACHABLE_RPC, self.rabbit.transport_url,
                    backends.add_query(db.url, plugin='publish_tables'),
                    topic, self.snapshot_topic))
        self.nova_conf = _producer_conf(path)

    def start_agent(self):
        agent = agent_mod.Agent(self.nova_conf, server_name='agent')
        agent.start()
        self.addCleanup(agent.stop)

    def consumer_driver(self):
        conf = cfg.ConfigOpts()
        conf([], project='consumer-test', default_config_files=[],
             default_config_dirs=[])
        oslo_messaging.conffixture.ConfFixture(conf)
        # The consumer's own process keeps oslo.messaging's default.
        driver = driver_mod.PublishTablesDriver(
            'nova', {'tables': 'instances', 'topic': self.rabbit.topic,
                     'pool': 'ds', 'snapshot_topic': self.snapshot_topic,
                     'transport_url': self.rabbit.transport_url,
                     'control_exchange': 'nova'}, conf=conf)
        self.addCleanup(driver.stop)
        return driver

    def replica(self, driver):
        return sorted(r['hostname']
                      for r in driver.sync.replicas['instances']
                      .rows.values())

    def test_snapshot_and_changes_on_the_nova_exchange(self):
        self.start_agent()
        driver = self.consumer_driver()
        driver.start()
        self.assertTrue(driver.wait_live(30), driver.get_status())
        self.assertEqual(['vm0', 'vm1', 'vm2'], self.replica(driver))
        publisher.install(self.engine, self.nova_conf)
        self.addCleanup(publisher.uninstall, self.engine)
        with self.engine.begin() as conn:
            conn.execute(sa.insert(m.Instance.__table__).values(
                uuid='u9', hostname='vm9', deleted=0))
        deadline = time.monotonic() + 20
        while ('vm9' not in self.replica(driver)
               and time.monotonic() < deadline):
            time.sleep(0.05)
        self.assertEqual(['vm0', 'vm1', 'vm2', 'vm9'], self.replica(driver))
        # The batch, and maybe the heartbeat that announced the producer.
        self.assertIn(driver.receiver.received, (1, 2))
