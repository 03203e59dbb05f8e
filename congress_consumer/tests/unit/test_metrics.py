"""Status dicts turned into Prometheus metrics (no server)."""

from prometheus_client import core
from prometheus_client import exposition
import testtools

from oslo_publish_tables import metrics

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
