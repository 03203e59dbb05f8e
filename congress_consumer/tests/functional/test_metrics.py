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

"""Scrape the real metrics endpoints after real deltas.

The consumer's endpoint (``[metrics]``) after a workload with one lost
batch; publish-tables-agent's (``[publish_tables_metrics]``) after it
served a snapshot over RPC and relayed a dead process's outbox, with
the counters of producer processes (``PROMETHEUS_MULTIPROC_DIR``).
Every figure is compared with the state it reports on.
"""

import concurrent.futures
import multiprocessing
import time
import urllib.request

import fixtures
from oslo_config import cfg
import oslo_messaging
from oslo_messaging import conffixture
import prometheus_client  # noqa: F401 (imported before the env change)
from prometheus_client import parser
import testtools

from oslo_publish_tables.cmd import agent as agent_mod
from oslo_publish_tables import metrics as pt_metrics
from oslo_publish_tables.protocol import envelope
from publish_tables_demo import workload as demo_workload

from congress_consumer.cmd import consumer as consumer_cmd
from congress_consumer import metrics
from congress_consumer.replication import snapshots
from congress_consumer.tests.functional import producer_process
from congress_consumer.tests import pipeline


def scrape(url):
    """``{(name, frozenset(labels.items())): value}`` of one scrape."""
    with urllib.request.urlopen(url, timeout=10) as response:
        text = response.read().decode('utf-8')
    return {(s.name, frozenset(s.labels.items())): s.value
            for family in parser.text_string_to_metric_families(text)
            for s in family.samples}


def value(samples, name, **labels):
    return samples[(name, frozenset(labels.items()))]


class ConsumerMetricsTest(testtools.TestCase):

    def setUp(self):
        super().setUp()
        self.p = self.useFixture(pipeline.Pipeline('sqlite'))
        conf = cfg.ConfigOpts()
        consumer_cmd.register_opts(conf)
        conf([], default_config_files=[])
        conf.set_override('enabled', True, metrics.GROUP)
        conf.set_override('port', 0, metrics.GROUP)
        self.server = metrics.start(conf, {'nova': self.p.driver})
        self.addCleanup(self.server.stop)

    def lose_one_batch(self):
        sender = self.p.producer.sender
        original = sender.transport.send
        drop = {'left': 1}

        def lossy(event_type, payload):
            if event_type == envelope.EVENT_BATCH and drop['left']:
                drop['left'] -= 1
                return
            original(event_type, payload)

        sender.transport.send = lossy
        self.addCleanup(setattr, sender.transport, 'send', original)
        workload = demo_workload.Workload(self.p.producer.engine, seed=2)
        for _ in range(5):
            workload.step()
        sender.flush()
        sender.transport.send = original

    def test_scrape_after_deltas_and_a_gap(self):
        driver = self.p.driver
        self.assertTrue(driver.wait_live(20))
        workload = demo_workload.Workload(self.p.producer.engine, seed=1)
        for _ in range(20):
            workload.step()
        self.lose_one_batch()
        for _ in range(5):
            workload.step()
        deadline = time.monotonic() + 20
        while not driver.sync.tracker.gaps and time.monotonic() < deadline:
            driver.sync.tick()
            time.sleep(0.05)
        self.assertEqual([], self.p.converge(timeout=30))
        samples = scrape(self.server.url)
        for table in self.p.tables:
            labels = dict(datasource='nova', table=table)
            self.assertEqual(1.0, value(
                samples, 'congress_consumer_table_caught_up', **labels))
            self.assertEqual(1.0, value(
                samples, 'congress_consumer_table_state', state='LIVE',
                **labels))
            self.assertEqual(len(self.p.db_rows(table)), value(
                samples, 'congress_consumer_table_rows', **labels))
            replica = driver.sync.replicas[table]
            self.assertEqual(replica.counts['applied'], value(
                samples, 'congress_consumer_table_deltas_applied_total',
                **labels))
            self.assertEqual(replica.counts['duplicate'], value(
                samples, 'congress_consumer_table_deltas_dropped_total',
                reason='duplicate', **labels))
            self.assertEqual(driver.sync.status[table].resyncs, value(
                samples, 'congress_consumer_table_resyncs_total', **labels))
            self.assertEqual(1.0, value(
                samples,
                'congress_consumer_table_snapshot_progress_finished',
                **labels))
        instances = dict(datasource='nova', table='instances')
        self.assertGreater(value(
            samples, 'congress_consumer_table_deltas_applied_total',
            **instances), 0)
        self.assertGreaterEqual(value(
            samples, 'congress_consumer_table_resyncs_total', **instances),
            1)
        gaps = value(samples, 'congress_consumer_datasource_gaps_total',
                     datasource='nova')
        self.assertEqual(driver.sync.tracker.gaps, gaps)
        self.assertGreaterEqual(gaps, 1)
        self.assertEqual(0.0, value(
            samples, 'congress_consumer_scrape_errors_total'))


class AgentMetricsTest(testtools.TestCase):
    """The agent's endpoint, producers' counters included."""

    def setUp(self):
        super().setUp()
        self.p = self.useFixture(pipeline.Pipeline(
            'sqlite', rabbit=True, delivery='durable'))
        self.multiproc = self.useFixture(fixtures.TempDir()).path

    def run_producers(self):
        """A process that dies with records in the outbox, one clean.

        Only the clean one exports its counters, so that they are exact.
        """
        context = multiprocessing.get_context('spawn')
        with concurrent.futures.ProcessPoolExecutor(
                1, mp_context=context) as pool:
            dead = pool.submit(producer_process.run_durable_and_die,
                               self.p.url, 'rabbit://guest:guest@127.0.0.1:1/',
                               self.p.topic, self.p.tables, 8, 3)
            self.assertRaises(
                concurrent.futures.process.BrokenProcessPool,
                dead.result, 120)
        self.useFixture(fixtures.EnvironmentVariable(
            pt_metrics.MULTIPROC_ENV, self.multiproc))
        with concurrent.futures.ProcessPoolExecutor(
                1, mp_context=context) as pool:
            pool.submit(producer_process.run, self.p.url,
                        self.p.transport_url, self.p.topic, self.p.tables,
                        15, 4).result(120)

    def start_agent(self):
        conf = cfg.ConfigOpts()
        agent_mod.register_opts(conf)
        conf([], default_config_files=[], default_config_dirs=[])
        conffixture.ConfFixture(conf)
        conf.set_override('connection', self.p.url, 'database')
        topic = self.p.topic + '_snapshot'
        for name, val in (('tables', self.p.tables),
                          ('snapshot_topic', topic),
                          ('topic', self.p.topic),
                          ('delivery', 'durable'),
                          ('outbox_grace_period', 0.0),
                          ('outbox_relay_interval', 0.1),
                          ('transport_url', self.p.transport_url)):
            conf.set_override(name, val, 'publish_tables')
        for name, val in (('enabled', True), ('port', 0),
                          ('multiprocess_dir', self.multiproc)):
            conf.set_override(name, val, pt_metrics.AGENT_GROUP)
        agent = agent_mod.Agent(conf, server_name='pt-metrics-agent')
        agent.start()
        self.addCleanup(agent.stop)
        rpc = oslo_messaging.get_rpc_transport(conf,
                                               url=self.p.transport_url)
        self.addCleanup(rpc.cleanup)
        return agent, snapshots.RpcSnapshotSource(rpc, topic, timeout=30)

    def test_agent_and_producer_counters(self):
        self.run_producers()
        agent, source = self.start_agent()
        snap = source.open('instances')
        rows = 0
        while True:
            page = source.fetch(snap['id'], 3)
            rows += len(page['rows'])
            if page['done']:
                break
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            samples = scrape(agent.metrics.url)
            if value(samples, 'publish_tables_agent_outbox_depth') == 0:
                break
            time.sleep(0.2)
        self.assertEqual(0, value(samples,
                                  'publish_tables_agent_outbox_depth'))
        self.assertEqual(agent.relay.stats['relayed'], value(
            samples, 'publish_tables_agent_relayed_total'))
        self.assertGreater(agent.relay.stats['relayed'], 0)
        self.assertEqual(1, value(
            samples, 'publish_tables_agent_snapshot_requests_total'))
        self.assertEqual(len(self.p.db_rows('instances')), rows)
        self.assertEqual(rows, value(
            samples, 'publish_tables_agent_snapshot_rows_total'))
        topic = dict(topic=self.p.topic)
        captured = value(samples, 'publish_tables_producer_captured_total',
                         **topic)
        self.assertGreater(captured, 0)
        # Only the clean process published: everything it captured.
        self.assertEqual(captured, value(
            samples, 'publish_tables_producer_records_total', **topic))
        self.assertEqual(0, value(
            samples, 'publish_tables_producer_send_failures_total',
            **topic))
        self.assertEqual(0, value(
            samples, 'publish_tables_producer_spool_depth', **topic))
