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

"""Prometheus metrics of ``congress-consumer``, read from driver status.

With ``[metrics] enabled = true`` the consumer serves
``http://<host>:<port>/metrics`` (port 9781 by default). At each scrape
every datasource's ``get_status()`` is turned into metrics (see
:mod:`oslo_publish_tables.metrics`), labelled ``datasource`` and, for
per-table figures, ``table``:

- ``congress_consumer_table_caught_up``: 1 when the table is LIVE;
  ``congress_consumer_table_state{state=...}``: 1 for its state;
- ``congress_consumer_table_lag_ms``, ``..._rows``;
- ``congress_consumer_table_deltas_applied_total`` and
  ``congress_consumer_table_deltas_dropped_total{reason=duplicate|late|
  unresolvable}``;
- ``congress_consumer_table_snapshots_total``,
  ``congress_consumer_table_resyncs_total``;
- ``congress_consumer_table_snapshot_progress_*`` (``done``, ``total``,
  ``rate_per_s``, ``eta_s``, ...) of the last snapshot load;
- ``congress_consumer_datasource_gaps_total``,
  ``..._vanished_producers_total``, ``..._unproven_baselines_total``,
  ``..._received_total``,
  ``congress_consumer_datasource_discarded_total{reason=...}``;
- every other number of the status, as a gauge named after its key
  (verification counters, signatures, ...).
"""

from oslo_publish_tables import metrics as pt_metrics

from congress_consumer import opts

GROUP = opts.METRICS_GROUP
PREFIX = 'congress_consumer'

# Table status keys with a metric of their own (not exported as is).
_DROPPED = ('duplicate', 'late', 'unresolvable')
_SPECIAL_TABLE_KEYS = frozenset(('state', 'applied') + _DROPPED)
_SPECIAL_KEYS = frozenset(('tables', 'discarded', 'name'))

DOCUMENTATION = {
    'table_caught_up': 'The table is LIVE: loaded and following deltas.',
    'table_state': 'Sync state of the table (1 for the current one).',
    'table_deltas_applied': 'Changes applied to the replica.',
    'table_deltas_dropped': 'Changes not applied, by reason.',
    'table_lag_ms': 'Commit-to-apply delay of the last applied change.',
    'datasource_discarded': 'Messages discarded, by reason.',
}


def _table(families, labels, status):
    state = status.get('state')
    families.add('table_caught_up', labels, float(state == 'LIVE'),
                 'gauge')
    families.add('table_state', dict(labels, state=str(state)), 1.0,
                 'gauge')
    families.add('table_deltas_applied', labels,
                 status.get('applied', 0), 'counter')
    for reason in _DROPPED:
        families.add('table_deltas_dropped', dict(labels, reason=reason),
                     status.get(reason, 0), 'counter')
    rest = {k: v for k, v in status.items() if k not in _SPECIAL_TABLE_KEYS}
    families.add_status(rest, labels, 'table')


def _datasource(families, name, status):
    labels = {'datasource': name}
    for table, table_status in sorted(status.get('tables', {}).items()):
        _table(families, dict(labels, table=table), table_status)
    for key, count in sorted(status.get('discarded', {}).items()):
        if ':' in key:  # 'discarded:<reason>'; the plain key is the sum
            families.add('datasource_discarded',
                         dict(labels, reason=key.split(':', 1)[1]), count,
                         'counter')
    rest = {k: v for k, v in status.items() if k not in _SPECIAL_KEYS}
    families.add_status(rest, labels, 'datasource')


def collector(drivers):
    """A collector of ``drivers`` (``{name: driver}``, read per scrape)."""
    def build(families):
        for name, driver in sorted(drivers.items()):
            _datasource(families, name, driver.get_status())
    return pt_metrics.StatusCollector(PREFIX, build, DOCUMENTATION)


def start(conf, drivers):
    """Serve ``drivers``' metrics if ``[metrics] enabled``; else None."""
    group = conf[GROUP]
    if not group.enabled:
        return None
    registry = pt_metrics.new_registry(collector(drivers))
    return pt_metrics.MetricsServer(registry, group.host, group.port).start()
