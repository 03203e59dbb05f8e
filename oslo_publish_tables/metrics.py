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

"""Prometheus metrics: status dicts turned into metrics at scrape time.

Nothing here sits on a hot path. :class:`StatusCollector` asks a
callable for status dicts when Prometheus scrapes and turns every
number in them into a metric (:func:`families`): counters for the keys
known to only grow (:data:`COUNTER_KEYS`), gauges for the rest, nested
dicts flattened into the name. Counters another part of the project
adds to a status dict (verification, ...) therefore show up without a
change here.

:class:`MetricsServer` serves a registry on ``host:port``
(``prometheus_client.start_http_server``).

Producers (the service processes, e.g. nova's) open no port: with the
environment variable ``PROMETHEUS_MULTIPROC_DIR`` set for them,
:class:`ProducerExporter` copies their sender's counters every
``interval`` seconds into prometheus_client's multiprocess files in
that directory, and ``publish-tables-agent`` with
``[publish_tables_metrics] multiprocess_dir`` serves the sum over every
process. (Why not oslo.metrics: it carries only oslo.messaging's RPC
metrics and needs one more daemon; the multiprocess files need none and
survive a process's restart.)
"""

import logging
import numbers
import os
import re
import threading

from oslo_publish_tables import opts

LOG = logging.getLogger(__name__)

AGENT_GROUP = opts.METRICS_GROUP
MULTIPROC_ENV = 'PROMETHEUS_MULTIPROC_DIR'
PRODUCER_INTERVAL = 5.0

# Status keys whose values only grow: exported as counters (*_total).
COUNTER_KEYS = frozenset([
    'applied', 'duplicate', 'late', 'unresolvable', 'snapshots',
    'resyncs', 'gaps', 'vanished_producers', 'unproven_baselines',
    'received', 'discarded',
    'relayed', 'errors', 'notifications', 'records', 'send_failures',
    'dropped', 'outbox_deleted', 'outbox_delete_failures',
    'snapshot_requests', 'snapshot_rows', 'snapshot_failures',
    'number_of_updates', 'captured', 'relay_errors',
])

_NAME = re.compile(r'[^a-zA-Z0-9_]')


def metric_name(*parts):
    """``a``, ``b:c`` -> ``a_b_c`` (Prometheus' name alphabet)."""
    return _NAME.sub('_', '_'.join(p for p in parts if p)).strip('_')


def _number(value):
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, numbers.Real):
        return float(value)
    return None


def flatten(status, prefix=''):
    """``(name, leaf key, value)`` for every number in ``status``.

    Nested keys are joined into the name; booleans count as 0/1;
    strings, lists and None are left out.
    """
    for key, value in sorted(status.items(), key=lambda kv: str(kv[0])):
        name = metric_name(prefix, str(key))
        if isinstance(value, dict):
            yield from flatten(value, name)
            continue
        number = _number(value)
        if number is not None:
            yield name, str(key), number


def is_counter(key):
    """True for a status key whose value only grows."""
    return (key in COUNTER_KEYS or key.endswith('_total')
            or key.startswith('discarded:'))


class Families(object):
    """Metric families being built for one scrape, by name."""

    def __init__(self, prefix, documentation=None):
        self.prefix = prefix
        self.documentation = documentation or {}
        self._families = {}

    def add(self, key, labels, value, kind='gauge'):
        from prometheus_client import core

        name = metric_name(self.prefix, key)
        family = self._families.get(name)
        if family is None:
            cls = (core.CounterMetricFamily if kind == 'counter'
                   else core.GaugeMetricFamily)
            doc = self.documentation.get(key, 'Status value %s.' % key)
            family = cls(name, doc, labels=sorted(labels))
            self._families[name] = family
        family.add_metric([labels[k] for k in sorted(labels)], value)

    def add_status(self, status, labels, prefix=''):
        for key, leaf, value in flatten(status, prefix):
            self.add(key, labels, value,
                     'counter' if is_counter(leaf) else 'gauge')

    def __iter__(self):
        return iter(self._families.values())


class StatusCollector(object):
    """A prometheus_client collector calling ``build(families)``.

    ``build`` fills a :class:`Families` from live status at each scrape;
    an error in it is logged and counted, never breaks the scrape.
    """

    def __init__(self, prefix, build, documentation=None):
        self.prefix = prefix
        self.build = build
        self.documentation = documentation
        self.scrape_errors = 0

    def collect(self):
        families = Families(self.prefix, self.documentation)
        try:
            self.build(families)
        except Exception:  # a scrape must answer whatever happens
            self.scrape_errors += 1
            LOG.exception('%s metrics: reading the status failed',
                          self.prefix)
        families.add('scrape_errors', {}, self.scrape_errors, 'counter')
        return iter(families)


class MetricsServer(object):
    """``/metrics`` of a registry on ``host:port``; :meth:`stop` ends it."""

    def __init__(self, registry, host, port):
        self.registry = registry
        self.host = host
        self.port = port
        self._server = None
        self._thread = None

    def start(self):
        import prometheus_client

        self._server, self._thread = prometheus_client.start_http_server(
            self.port, addr=self.host, registry=self.registry)
        self.port = self._server.server_address[1]
        LOG.info('serving Prometheus metrics on http://%s:%d/metrics',
                 self.host, self.port)
        return self

    @property
    def url(self):
        host = '[%s]' % self.host if ':' in self.host else self.host
        return 'http://%s:%d/metrics' % (host, self.port)

    def stop(self):
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._thread.join(5)
            self._server = self._thread = None


def new_registry(*collectors):
    from prometheus_client import core

    registry = core.CollectorRegistry(auto_describe=False)
    for collector in collectors:
        registry.register(collector)
    return registry


def multiprocess_collector(registry, path):
    """Add the sum of the producers' multiprocess files in ``path``."""
    from prometheus_client import multiprocess

    multiprocess.MultiProcessCollector(registry, path=path)


# -- publish-tables-agent ----------------------------------------------

AGENT_PREFIX = 'publish_tables_agent'


def agent_status(agent):
    """The agent's figures as a status dict (read at each scrape)."""
    import sqlalchemy as sa

    status = {}
    service = agent.service
    if service is not None:
        status.update(service.stats)
        status['open_snapshots'] = len(service.snapshots)
    relay = agent.relay
    if relay is not None:
        status['relayed'] = relay.stats['relayed']
        status['relay_errors'] = relay.stats['errors']
        status['relay_stalled_seconds'] = relay.stalled_for()
        if relay.backlog is not None:
            status['relay_backlog'] = relay.backlog.as_dict()
        try:
            status['outbox_depth'] = relay.store.count()
        except sa.exc.SQLAlchemyError as exc:
            LOG.warning('publish-tables-agent metrics: outbox depth '
                        'unknown: %s', exc)
    sender = agent.relay_sender
    if sender is not None:
        status['sender'] = dict(sender.stats,
                                spool_depth=spool_depth(sender))
    return status


def start_agent_metrics(conf, agent):
    """Serve ``agent``'s metrics if configured; the server or None."""
    group = conf[AGENT_GROUP]
    if not group.enabled:
        return None
    collector = StatusCollector(
        AGENT_PREFIX, lambda families: families.add_status(
            agent_status(agent), {}))
    registry = new_registry(collector)
    if group.multiprocess_dir:
        multiprocess_collector(registry, group.multiprocess_dir)
    return MetricsServer(registry, group.host, group.port).start()


# -- producers ---------------------------------------------------------

class ProducerExporter(object):
    """Copies a sender's counters into multiprocess metric files.

    Runs only when ``PROMETHEUS_MULTIPROC_DIR`` is set in the process's
    environment (prometheus_client reads it at import); a daemon thread
    wakes every ``interval`` seconds, never on the commit path.
    """

    COUNTERS = (('records', 'records sent'),
                ('notifications', 'notifications sent'),
                ('send_failures', 'failed sends (retried)'),
                ('dropped', 'records dropped by a full spool'),
                ('outbox_deleted', 'outbox rows deleted after sending'))

    def __init__(self, sender, topic, interval=PRODUCER_INTERVAL):
        from prometheus_client import Counter
        from prometheus_client import Gauge

        self.sender = sender
        self.interval = interval
        self._counters = {
            key: Counter('publish_tables_producer_%s' % key, doc,
                         ['topic'], registry=None).labels(topic)
            for key, doc in self.COUNTERS}
        self._captured = Counter(
            'publish_tables_producer_captured', 'records handed to the '
            'sender after a commit', ['topic'], registry=None).labels(topic)
        self._spool = Gauge(
            'publish_tables_producer_spool_depth', 'records waiting in '
            'the spool', ['topic'], registry=None,
            multiprocess_mode='livesum').labels(topic)
        self._seen = {}
        self._stop = threading.Event()
        self._thread = None

    @staticmethod
    def wanted():
        return bool(os.environ.get(MULTIPROC_ENV))

    def export(self):
        """Copy the sender's figures now (also called by the thread)."""
        stats = dict(self.sender.stats)
        for key, counter in self._counters.items():
            self._bump(counter, key, stats.get(key, 0))
        self._bump(self._captured, 'captured',
                   getattr(self.sender, 'last_seq', 0))
        self._spool.set(spool_depth(self.sender))

    def _bump(self, counter, key, value):
        delta = value - self._seen.get(key, 0)
        if delta > 0:
            counter.inc(delta)
        self._seen[key] = value

    def _run(self):
        while not self._stop.wait(self.interval):
            try:
                self.export()
            except (OSError, ValueError) as exc:
                LOG.warning('publish_tables metrics: %s', exc)

    def start(self):
        self._thread = threading.Thread(
            target=self._run, daemon=True, name='publish-tables-metrics')
        self._thread.start()
        return self

    def stop(self):
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)
            self._thread = None
        try:
            self.export()
            self._spool.set(0)
        except (OSError, ValueError) as exc:
            LOG.warning('publish_tables metrics: %s', exc)


def spool_depth(sender):
    """Records a sender holds: waiting in its spool or being sent."""
    waiting = len(getattr(sender, '_spool', ()))
    return waiting + getattr(sender, '_inflight', 0)


def attach_producer(sender, topic):
    """A started :class:`ProducerExporter` if wanted here, else None."""
    if not ProducerExporter.wanted():
        return None
    return ProducerExporter(sender, topic).start()
