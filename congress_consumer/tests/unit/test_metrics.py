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

"""Status dicts turned into Prometheus metrics (no server)."""

import collections
import os
import re
import types

from oslo_config import cfg
from prometheus_client import core
from prometheus_client import exposition
import testtools
import yaml

from oslo_publish_tables.cmd import agent as agent_mod
from oslo_publish_tables import metrics

from congress_consumer.cmd import consumer as consumer_cmd
from congress_consumer import metrics as consumer_metrics


class FakeDriver(object):
    def __init__(self, status):
        self.status = status

    def get_status(self):
        if isinstance(self.status, Exception):
            raise self.status
        return self.status


def _text(*collectors):
    registry = core.CollectorRegistry(auto_describe=False)
    for collector in collectors:
        registry.register(collector)
    return exposition.generate_latest(registry).decode()


class FlattenTest(testtools.TestCase):

    def test_numbers_nested_and_booleans(self):
        status = {'a': 1, 'b': {'c:d': 2.5, 'e': None}, 'f': True,
                  'g': 'text', 'h': [1]}
        self.assertEqual([('a', 'a', 1.0), ('b_c_d', 'c:d', 2.5),
                          ('f', 'f', 1.0)],
                         list(metrics.flatten(status)))

    def test_counter_keys(self):
        self.assertTrue(metrics.is_counter('applied'))
        self.assertTrue(metrics.is_counter('chunks_repaired_total'))
        self.assertTrue(metrics.is_counter('discarded:malformed'))
        self.assertFalse(metrics.is_counter('lag_ms'))


class ConsumerCollectorTest(testtools.TestCase):

    STATUS = {
        'name': 'nova', 'initialized': True, 'gaps': 2, 'received': 40,
        'discarded': {'discarded': 3, 'discarded:malformed': 2,
                      'discarded:unknown': 1},
        'tables': {'instances': {
            'state': 'RESYNCING', 'rows': 7, 'lag_ms': 12.5,
            'applied': 30, 'duplicate': 4, 'late': 1, 'unresolvable': 0,
            'snapshots': 2, 'resyncs': 1, 'last_resync_reasons': ['gap'],
            'snapshot_progress': {'done': 7, 'rate_per_s': 70.0,
                                  'eta_s': None},
            # Another helper's counters show up without a change here.
            'verification': {'chunks_checked': 5,
                             'chunks_repaired_total': 1}}}}

    def test_every_figure_of_the_status(self):
        text = _text(consumer_metrics.collector(
            {'nova': FakeDriver(self.STATUS)}))
        labels = 'datasource="nova",table="instances"'
        for line in [
                'congress_consumer_table_caught_up{%s} 0.0' % labels,
                'congress_consumer_table_state{datasource="nova",'
                'state="RESYNCING",table="instances"} 1.0',
                'congress_consumer_table_deltas_applied_total{%s} 30.0'
                % labels,
                'congress_consumer_table_deltas_dropped_total{datasource='
                '"nova",reason="late",table="instances"} 1.0',
                'congress_consumer_table_lag_ms{%s} 12.5' % labels,
                'congress_consumer_table_resyncs_total{%s} 1.0' % labels,
                'congress_consumer_table_snapshot_progress_rate_per_s{%s} '
                '70.0' % labels,
                'congress_consumer_table_verification_chunks_checked{%s} '
                '5.0' % labels,
                'congress_consumer_table_verification_chunks_repaired'
                '_total{%s} 1.0' % labels,
                'congress_consumer_datasource_gaps_total{datasource="nova"}'
                ' 2.0',
                'congress_consumer_datasource_discarded_total{datasource='
                '"nova",reason="malformed"} 2.0',
                'congress_consumer_datasource_initialized{datasource="nova"}'
                ' 1.0',
                'congress_consumer_scrape_errors_total 0.0']:
            self.assertIn(line, text.splitlines())
        self.assertNotIn('eta_s', text)

    def test_a_failing_status_is_counted_not_raised(self):
        collector = consumer_metrics.collector(
            {'nova': FakeDriver(RuntimeError('boom'))})
        _text(collector)
        text = _text(collector)
        self.assertIn('congress_consumer_scrape_errors_total 2.0',
                      text.splitlines())


class DocumentedSamplesTest(testtools.TestCase):
    """The admin guide's samples are valid and name real metrics."""

    SAMPLES = os.path.join(os.path.dirname(__file__), '..', '..', '..',
                           'doc', 'source', 'admin', 'samples')

    def load(self, register, name):
        conf = cfg.ConfigOpts()
        register(conf)
        conf([], default_config_files=[os.path.join(self.SAMPLES, name)])
        return conf

    def test_consumer_sample(self):
        conf = self.load(consumer_cmd.register_opts, 'consumer-metrics.conf')
        self.assertTrue(conf.metrics.enabled)
        self.assertEqual(9781, conf.metrics.port)

    def test_agent_sample(self):
        conf = self.load(agent_mod.register_opts, 'agent-metrics.conf')
        group = conf[metrics.AGENT_GROUP]
        self.assertTrue(group.enabled)
        self.assertEqual(9782, group.port)
        self.assertTrue(group.multiprocess_dir)

    def exported_names(self):
        consumer = _text(consumer_metrics.collector(
            {'nova': FakeDriver(ConsumerCollectorTest.STATUS)}))
        agent = types.SimpleNamespace(
            service=types.SimpleNamespace(
                stats=collections.Counter(snapshot_requests=1,
                                          snapshot_rows=5), snapshots=[]),
            relay=types.SimpleNamespace(
                stats=collections.Counter(relayed=5), backlog=None,
                stalled_for=lambda: 0.0,
                store=types.SimpleNamespace(count=lambda: 3)),
            relay_sender=types.SimpleNamespace(
                stats=collections.Counter(records=5), _spool=[],
                _inflight=0))
        text = consumer + _text(metrics.StatusCollector(
            metrics.AGENT_PREFIX, lambda families: families.add_status(
                metrics.agent_status(agent), {})))
        names = set(re.findall(r'^([a-z_]+)', text, re.M))
        names.update('publish_tables_producer_%s_total' % key
                     for key, _ in metrics.ProducerExporter.COUNTERS)
        names.update(['publish_tables_producer_captured_total',
                      'publish_tables_producer_spool_depth'])
        return names

    def test_alert_rules_name_exported_metrics(self):
        with open(os.path.join(self.SAMPLES, 'alerts.yaml')) as rules:
            groups = yaml.safe_load(rules)['groups']
        exported = self.exported_names()
        used = set()
        for rule in groups[0]['rules']:
            used.update(re.findall(
                r'\b((?:congress_consumer|publish_tables)_[a-z_]+)',
                rule['expr']))
        self.assertGreater(len(used), 5)
        self.assertEqual(set(), used - exported)
