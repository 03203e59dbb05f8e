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

"""The options of oslo_publish_tables, defined here and only here.

Every option of the producer (the SQLAlchemy plugin, the capture, the
sender, the snapshot service and the outbox relay of
``publish-tables-agent``) lives in the ``[publish_tables]`` group and is
defined in this module, as are publish-tables-agent's metrics options
(``[publish_tables_metrics]``). :func:`register_opts` registers them on the
``ConfigOpts`` the caller gives (never on a global one);
:func:`list_opts` lists them for oslo-config-generator and the
configuration reference. The modules read them from the ``ConfigOpts``
they are handed.
"""

import copy

from oslo_config import cfg

from oslo_publish_tables import optypes
from oslo_publish_tables.outbox import schema as outbox_schema
from oslo_publish_tables.outbox import store
from oslo_publish_tables.protocol import compression
from oslo_publish_tables.protocol import signing

GROUP = 'publish_tables'
# publish-tables-agent's Prometheus endpoint (see oslo_publish_tables.metrics)
METRICS_GROUP = 'publish_tables_metrics'
DEFAULT_METRICS_PORT = 9782

_opts = optypes.finite([
    # capture.tables: what is captured
    cfg.ListOpt('tables', default=[],
                help='Tables whose committed changes are published. '
                     'Tables not listed are never published.'),
    cfg.ListOpt('exclude_columns', default=[],
                help='Columns never published, as table.column entries, '
                     'e.g. instances.user_data. Primary key columns '
                     'cannot be excluded.'),
    # publisher: how it is captured
    cfg.BoolOpt('strict', default=False,
                help='Fail the service transaction when a change cannot '
                     'be captured. By default the failure is logged and '
                     'consumers are told to resync the table instead.'),
    cfg.StrOpt('clock', default='database', choices=['database', 'local'],
               help='Where change stamps come from: the database server '
                    'clock (one clock for every producer; orders changes '
                    'of a row across hosts) or this host\'s clock.'),
    # sender: where and how records are sent
    cfg.StrOpt('topic', default='publish_tables',
               help='Notification topic the deltas are published on.'),
    cfg.StrOpt('publisher_id',
               help='Publisher id of the notifications; defaults to '
                    'publish_tables.<host name>.'),
    cfg.StrOpt('transport_url', secret=True,
               help='Transport for the deltas; defaults to the '
                    'notification transport of [oslo_messaging_'
                    'notifications] and then [DEFAULT] transport_url.'),
    cfg.StrOpt('driver', default='messagingv2',
               help='oslo.messaging notification driver that sends the '
                    'deltas (messagingv2, or test/log for testing).'),
    cfg.IntOpt('max_batch_changes', default=1000, min=1,
               help='Most row changes carried by one notification; a '
                    'larger transaction is split into numbered parts.'),
    cfg.FloatOpt('min_send_interval', default=0.0, min=0,
                 help='Least seconds between two notifications, unless '
                      'one is full: commits arriving meanwhile share the '
                      'next one. Saves the service CPU under load at the '
                      'price of up to this much latency; 0 (default) '
                      'sends every commit at once.'),
    cfg.IntOpt('spool_size', default=100000, min=1,
               help='Most records held while the broker is unreachable. '
                    'Beyond it records are dropped and consumers see a '
                    'sequence gap, which makes them resync.'),
    cfg.FloatOpt('schema_check_interval', default=5.0, min=0,
                 help='Seconds between two checks of a published table\'s '
                      'columns against the database, made on a write to '
                      'the table. A migration run by another process '
                      '(nova-manage db sync) is noticed within this time: '
                      'the table\'s consumers then reload it. 0 checks on '
                      'every write.'),
    cfg.FloatOpt('heartbeat_interval', default=10.0, min=0.1,
                 help='Seconds between heartbeats of an idle producer.'),
    cfg.FloatOpt('max_retry_interval', default=30.0, min=0.1,
                 help='Longest wait between two attempts to send.'),
    cfg.FloatOpt('shutdown_timeout', default=5.0, min=0,
                 help='Seconds a clean shutdown waits to flush the spool.'),
    cfg.StrOpt('sending', default='thread', choices=['thread', 'process'],
               help='thread: the Sender\'s background thread sends the '
                    'notifications with oslo.messaging in the service '
                    'process. process: it hands each notification, as '
                    'JSON, to a child process that sends it (python -m '
                    'oslo_publish_tables.sending), which keeps '
                    'oslo.messaging\'s CPU out of the service process '
                    'and its GIL; the child reads the service\'s '
                    'configuration files for its [oslo_messaging_*] '
                    'options.'),
    # protocol.compression: compression of the notifications
    cfg.StrOpt('compression', default=compression.NONE,
               choices=[compression.NONE, compression.ZLIB],
               help='Compress the body of every notification (zlib with a '
                    'preset dictionary, base64 in the JSON payload, '
                    'message format 1.2) when that makes it smaller. '
                    'Only consumers that read format 1.2 can decode '
                    'compressed messages; older ones discard them as '
                    'malformed, so enable it once every consumer is '
                    'upgraded.'),
    # protocol.signing: signatures of the notifications and snapshot replies
    cfg.StrOpt('signing_key', secret=True,
               help='Shared secret that signs every notification and '
                    'every snapshot reply of publish-tables-agent '
                    '(HMAC-SHA256), at least %d characters. Consumers '
                    'configured with the same key and key id reject '
                    'messages that are not signed with it. Unset: '
                    'messages are not signed.' % signing.MIN_KEY_LENGTH),
    cfg.StrOpt('signing_key_id', default='default',
               help='Name of signing_key, sent with every signature so '
                    'that consumers can pick the key (letters, digits, '
                    '".", "_" and "-", at most 64). Give every new key a '
                    'new id when rotating keys.'),
    # snapshot.service: the snapshot service of publish-tables-agent
    cfg.StrOpt('snapshot_topic', default='publish_tables_snapshot',
               help='RPC topic of the snapshot service.'),
    cfg.IntOpt('snapshot_chunk_rows', default=5000, min=1,
               help='Most rows returned by one fetch of a snapshot.'),
    cfg.FloatOpt('snapshot_lock_timeout', default=10.0, min=0.1,
                 help='Longest wait for the share lock that fences a '
                      'snapshot against writers.'),
    cfg.FloatOpt('snapshot_idle_timeout', default=120.0, min=1,
                 help='An open snapshot nobody fetched from for this many '
                      'seconds is closed.'),
    cfg.IntOpt('snapshot_max_open', default=8, min=1, max=1000,
               help='Most snapshots the agent holds open at once (each '
                    'holds a database connection: keep it below the '
                    '[database] max_pool_size + max_overflow); a request '
                    'beyond it is refused and retried by the consumer.'),
    cfg.FloatOpt('snapshot_max_duration', default=900.0, min=1,
                 help='An open snapshot is closed after this many seconds '
                      'even if it is still being fetched from.'),
    # outbox.store: delivery: direct, durable or relayed
    cfg.StrOpt('delivery', default=store.DIRECT,
               choices=[store.DIRECT, store.DURABLE, store.RELAYED],
               help='direct: publish each committed transaction from the '
                    'service process (at most once: a process that dies '
                    'between COMMIT and publishing loses the record and '
                    'consumers resync). durable: also write the record '
                    'into the publish_tables_outbox table in the same '
                    'transaction; publish-tables-agent publishes the '
                    'records a dead process left behind. relayed: write '
                    'the outbox only; publish-tables-agent publishes '
                    'every record (the least work in the service, plus '
                    'up to relayed_poll_interval of latency). durable '
                    'and relayed need "publish-tables-manage db_sync".'),
    # outbox.schema: where the outbox lives
    cfg.StrOpt('outbox_schema', regex=outbox_schema.SCHEMA_NAME.pattern,
               help='Durable and relayed delivery: put the outbox table '
                    'and its version table in this schema (PostgreSQL) '
                    'or database (MySQL/MariaDB) of the same server '
                    'instead of the service\'s own, still written in '
                    'the service\'s transaction. Tools that expect '
                    'every table of their database to be theirs (nova\'s '
                    'archive_deleted_rows, purge and shadow-table checks) '
                    'then never see it. "publish-tables-manage db_sync" '
                    'creates it; the service\'s database user needs '
                    'rights there. Unset: the service\'s own schema. '
                    'Refused on SQLite.'),
    # outbox.relay: the outbox relay (durable and relayed delivery)
    cfg.FloatOpt('outbox_grace_period', default=15.0, min=0,
                 help='Durable mode: the relay in publish-tables-agent '
                      'publishes outbox rows older than this many '
                      'seconds (their process died before publishing '
                      'them). Longer than a healthy sender needs, and '
                      'shorter than the consumers\' producer_timeout (30 '
                      'by default), so that the relay delivers before '
                      'they give up on the dead process and resync.'),
    cfg.FloatOpt('outbox_relay_interval', default=5.0, min=0.01,
                 help='Durable mode: seconds between two scans of the '
                      'outbox by the relay.'),
    cfg.FloatOpt('relayed_poll_interval', default=0.02, min=0.001,
                 help='delivery = relayed: seconds between two scans of '
                      'the outbox by the relay when the last scan found '
                      'nothing (the latency the mode adds, at the cost of '
                      'one query per scan).'),
    cfg.IntOpt('outbox_relay_batch', default=500, min=1,
               help='Durable mode: most outbox rows one relay claims at '
                    'a time.'),
    cfg.FloatOpt('outbox_claim_lease', default=120.0, min=1,
                 help='Durable mode: seconds a relay owns the rows it '
                      'claimed; another relay takes them over after '
                      'that.'),
], maxima={'min_send_interval': 60.0})


METRICS_OPTS = [
    cfg.BoolOpt('enabled', default=False,
                help='Serve Prometheus metrics of publish-tables-agent '
                     '(outbox depth, relayed records, snapshot requests) '
                     'on http://<host>:<port>/metrics.'),
    cfg.HostAddressOpt('host', default='127.0.0.1',
                       help='Address the metrics endpoint listens on.'),
    cfg.PortOpt('port', default=DEFAULT_METRICS_PORT,
                help='Port of the metrics endpoint (0: any free port).'),
    cfg.StrOpt('multiprocess_dir',
               help='Also serve the producers\' counters (records '
                    'captured, sent, send failures, spool depth), read '
                    'from this directory: the PROMETHEUS_MULTIPROC_DIR '
                    'the service processes of this host run with.'),
]


def list_opts():
    """Return ``[(group, [options])]`` for the sample config file."""
    return [(GROUP, copy.deepcopy(_opts)),
            (METRICS_GROUP, copy.deepcopy(METRICS_OPTS))]


def register_opts(conf):
    """Register every option of the producer on ``conf``."""
    conf.register_opts(_opts, group=GROUP)


def register_metrics_opts(conf):
    """Register publish-tables-agent's ``[publish_tables_metrics]``."""
    conf.register_opts(METRICS_OPTS, group=METRICS_GROUP)
