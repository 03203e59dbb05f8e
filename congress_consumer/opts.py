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

"""The options of congress_consumer, defined here and only here.

``congress-consumer`` reads ``[consumer]`` (:data:`CONSUMER_OPTS`), one
``[datasource_<name>]`` section (:data:`DATASOURCE_OPTS`) for every name
in ``[consumer] datasources``, and ``[subscriptions]``
(:data:`SUBSCRIPTIONS_OPTS`) for the table subscriptions, and
``[metrics]`` (:data:`METRICS_OPTS`) for the Prometheus endpoint. The
options are registered on the ``ConfigOpts`` the caller gives, never at
import time.
A datasource's options also are the ``args`` of its driver (see
:func:`congress_consumer.cmd.consumer.driver_args`), whose defaults are
:data:`DATASOURCE_DEFAULTS`: the defaults written here, once.

A generator needs fixed group names, so :func:`list_opts` lists the
datasource options once, under ``[datasource_nova]``: the section of a
datasource named ``nova``.
"""

import copy

from oslo_config import cfg

from oslo_publish_tables import optypes

GROUP = 'consumer'
SUBSCRIPTIONS_GROUP = 'subscriptions'
METRICS_GROUP = 'metrics'
DATASOURCE_GROUP_PREFIX = 'datasource_'
DATASOURCE_EXAMPLE = 'nova'

DEFAULT_HOST = '127.0.0.1'
DEFAULT_PORT = 8780
DEFAULT_MAX_BODY_BYTES = 1024 * 1024

CONSUMER_OPTS = [
    cfg.ListOpt('datasources', default=[],
                help='Names of the datasources to run. Each name <name> '
                     'is configured in its own section '
                     '[datasource_<name>] and served by the API as '
                     'data source <name>.'),
    cfg.HostAddressOpt('api_host', default=DEFAULT_HOST,
                       help='Address the HTTP API listens on.'),
    cfg.PortOpt('api_port', default=DEFAULT_PORT,
                help='Port the HTTP API listens on (0: any free port).'),
    cfg.BoolOpt('enable_push', default=False,
                help='Accept data pushed over HTTP (PUT and PATCH of '
                     '/v1/data-sources/<name>/tables/<table>/rows) by '
                     'datasources with driver = push. Off by default: '
                     'pushes are refused with 403.'),
    cfg.IntOpt('push_max_body_bytes', default=DEFAULT_MAX_BODY_BYTES,
               min=1,
               help='Largest request body, in bytes, the API accepts for '
                    'a push or an action; larger ones are refused with '
                    '413.'),
    cfg.StrOpt('auth_strategy', default='noauth',
               choices=[('noauth', 'every request is an administrator\'s '
                         '(the demo default; bind the API to a trusted '
                         'address)'),
                        ('keystone', 'keystonemiddleware auth_token '
                         'validates tokens ([keystone_authtoken])')],
               help='How the HTTP API authenticates requests; either way '
                    'oslo.policy ([oslo_policy] policy_file) authorises '
                    'them. Selects the pipeline of that name in '
                    'api_paste_config.'),
    cfg.StrOpt('api_paste_config', default='api-paste.ini',
               help='The PasteDeploy file of the HTTP API (middleware '
                    'pipelines noauth and keystone), looked up like a '
                    'configuration file (next to consumer.conf, '
                    '/etc/congress-consumer), then in the installed '
                    'etc/congress-consumer.'),
]

DATASOURCE_OPTS = optypes.finite([
    cfg.StrOpt('driver', default='publish_tables',
               help='Datasource driver: publish_tables (replicas of '
                    'tables published by the publish_tables plugin), '
                    'push (tables pushed over HTTP; needs [consumer] '
                    'enable_push, columns for every table and '
                    'push_token), notifications (rows from the '
                    'notifications services send), sql_polling (SQL '
                    'tables polled every poll_time), rpc_actions '
                    '(actions sent as RPC to rpc_topic), or a driver '
                    'registered on the congress_consumer.datasource.'
                    'drivers entry point.'),
    cfg.ListOpt('tables', default=[],
                help='Tables of the datasource (required). For '
                     'publish_tables: published tables to replicate, e.g. '
                     'instances,compute_nodes; they must be published by '
                     'the producers ([publish_tables] tables). For push: '
                     'the tables pushers may set.'),
    cfg.StrOpt('push_token', secret=True,
               help='For driver = push (required there): the secret '
                    'pushers send in the X-Auth-Token header (or as '
                    'Authorization: Bearer <token>).'),
    cfg.ListOpt('columns', default=[],
                help='Columns to keep, as table.column entries in row '
                     'order, e.g. instances.uuid,instances.host. A table '
                     'with no entry keeps every published column, in the '
                     'order of its snapshot.'),
    cfg.StrOpt('topic', default='publish_tables',
               help='Notification topic of the producers '
                    '([publish_tables] topic).'),
    cfg.StrOpt('pool',
               help='Notification listener pool: the datasource reads '
                    'queue <pool>.<datasource name>, so datasources may '
                    'use the same pool. Without a pool the datasource '
                    'reads the topic\'s default queue <topic>.info, '
                    'which two datasources of one topic cannot share. '
                    'Every independent consumer process of a topic needs '
                    'a pool name of its own.'),
    cfg.StrOpt('transport_url', secret=True,
               help='Transport of the notifications and of the snapshot '
                    'RPC calls; defaults to [oslo_messaging_notifications] '
                    'transport_url, then [DEFAULT] transport_url.'),
    cfg.StrOpt('control_exchange',
               help='Exchange the producers publish to and their '
                    'publish-tables-agent serves snapshots on: the '
                    'producers\' [DEFAULT] control_exchange (nova\'s is '
                    'nova). Default: this file\'s [DEFAULT] '
                    'control_exchange.'),
    cfg.StrOpt('snapshot_source', default='rpc',
               choices=[('rpc', 'ask publish-tables-agent over RPC'),
                        ('database', 'read the database at database_url')],
               help='Where table snapshots come from.'),
    cfg.StrOpt('snapshot_topic', default='publish_tables_snapshot',
               help='RPC topic of publish-tables-agent\'s snapshot '
                    'service ([publish_tables] snapshot_topic).'),
    cfg.StrOpt('database_url', secret=True,
               help='SQLAlchemy URL of a read-only database account, for '
                    'snapshot_source = database. The account needs the '
                    'privilege to lock the tables in share mode.'),
    cfg.StrOpt('outbox_schema', regex=r'^[A-Za-z_][A-Za-z0-9_]{0,62}$',
               help='For snapshot_source = database, when the producers '
                    'run in durable mode with [publish_tables] '
                    'outbox_schema: the same name, where the outbox is '
                    '(a schema on PostgreSQL, a database of the same '
                    'server on MySQL/MariaDB, an attached database file '
                    'beside the main one on SQLite). The snapshots then '
                    'carry the outbox position that tells the records '
                    'they already hold from those that follow. Unset: '
                    'the outbox is looked for in the database\'s own '
                    'schema.'),
    cfg.ListOpt('exclude_columns', default=[],
                help='For snapshot_source = database: the columns the '
                     'producer does not publish (its [publish_tables] '
                     'exclude_columns), as table.column entries. They are '
                     'never loaded from the database.'),
    cfg.FloatOpt('gap_timeout', default=5.0,
                 help='Seconds a missing record may take to arrive before '
                      'it counts as lost and the tables are resynced.'),
    cfg.FloatOpt('producer_timeout', default=30.0,
                 help='Seconds of silence (no batch nor heartbeat) after '
                      'which a producer counts as vanished and the tables '
                      'are resynced, and after which a datasource that '
                      'hears no producer at all is STALE instead of LIVE '
                      '(at least three of the producers\' heartbeat '
                      'intervals). Keep it well above the producers\' '
                      '[publish_tables] heartbeat_interval.'),
    cfg.FloatOpt('tombstone_ttl', default=600.0,
                 help='Seconds deleted rows are remembered to recognise '
                      'late changes.'),
    cfg.IntOpt('chunk_rows', default=5000,
               help='Rows fetched per snapshot chunk.'),
    cfg.BoolOpt('gc_freeze', default=True,
                help='Move what a snapshot load creates out of the way of '
                     'Python\'s cyclic garbage collector (gc.freeze after '
                     'every chunk, one full collection at the end of the '
                     'load): without it, the collector\'s full '
                     'collections walk every row of every replica, which '
                     'more than doubles the time of a large load. The '
                     'collector is per process, so this applies to the '
                     'whole consumer once any datasource enables it.'),
    cfg.FloatOpt('verify_interval', default=600.0, min=0,
                 help='Seconds between two verifications of every LIVE '
                      'table against its source: per chunk of keys, the '
                      'snapshot source digests the table at a fenced '
                      'position and the consumer its replica at the same '
                      'position; chunks that differ are reloaded (see the '
                      'sync protocol). 0: only when asked (POST '
                      '/v1/data-sources/<name>?action=verify or '
                      'congress-consumer-verify).'),
    cfg.FloatOpt('verify_rows_per_second', default=20000.0, min=0,
                 help='Most rows per second a verification has the '
                      'snapshot source read (digests and repairs), to '
                      'bound its cost to the database. 0: no limit.'),
    cfg.IntOpt('verify_chunk_rows', default=1000, min=1,
               help='Rows per verification chunk, on average: the unit '
                    'compared (one count and one 64-bit sum cross the '
                    'bus per chunk) and reloaded when it differs.'),
    cfg.StrOpt('signing_key', secret=True,
               help='Key that the producers sign their messages with '
                    '([publish_tables] signing_key). Set: messages are '
                    'authenticated, see require_signature. Unset: '
                    'messages are not authenticated; anyone who can '
                    'publish on the topic can change the replicas.'),
    cfg.StrOpt('signing_key_id', default='default',
               help='Id of signing_key ([publish_tables] signing_key_id).'),
    cfg.StrOpt('previous_signing_key', secret=True,
               help='A second key still accepted while producers move '
                    'to a new key: the old key during a rotation. '
                    'Remove it once every producer uses signing_key.'),
    cfg.StrOpt('previous_signing_key_id',
               help='Id of previous_signing_key; must differ from '
                    'signing_key_id.'),
    cfg.BoolOpt('require_signature', default=True,
                help='With signing_key set: discard (log and count) '
                     'every unsigned message. False accepts unsigned '
                     'messages but still discards messages whose '
                     'signature is wrong; use it only while producers '
                     'are being given their key. Without signing_key '
                     'nothing is checked.'),
    cfg.FloatOpt('max_clock_skew', default=300.0, min=0,
                 help='Seconds a change\'s stamp may be ahead of this '
                      'host\'s clock. A message stamped further ahead (a '
                      'forged one, or a producer whose clock is wrong) is '
                      'discarded, counted and its tables resynced.'),
    cfg.FloatOpt('min_resync_interval', default=10.0, min=0,
                 help='Least seconds between two resyncs of a table (or '
                      'of all tables) caused by messages: lost records, '
                      'resync markers, rejected messages. Requests in '
                      'between are merged into the next one, so a flood '
                      'of forged messages costs one resync per interval.'),
], maxima={'tombstone_ttl': 30 * optypes.DAY,
           'max_clock_skew': 30 * optypes.DAY})

# The options of the notifications, sql_polling, rpc_actions and custom
# drivers (see congress_consumer.cmd.driver_options); also in each
# [datasource_<name>] section.
DRIVER_OPTS = [
    cfg.ListOpt('translators', default=['nova_instances'],
                help='For driver = notifications: notification '
                     'translators, names on the '
                     'congress_consumer.notification_translators entry '
                     'point; each fills one table.'),
    cfg.ListOpt('notification_topics', default=['versioned_notifications'],
                help='For driver = notifications: the topics the '
                     'services notify on (nova: versioned_notifications).'),
    cfg.StrOpt('exchange',
               help='For driver = notifications: the services\' '
                    'control_exchange (default nova). For driver = '
                    'rpc_actions: the exchange of the receiving service '
                    '(default: the transport\'s control_exchange).'),
    cfg.FloatOpt('poll_time', default=10.0, min=0.001,
                 help='For driver = sql_polling: seconds between two '
                      'polls.'),
    cfg.StrOpt('rpc_topic',
               help='For driver = rpc_actions (required there): the RPC '
                    'topic of the service that receives the actions.'),
    cfg.ListOpt('actions', default=[],
                help='For driver = rpc_actions: the actions, as '
                     'name:cast or name:call entries, e.g. '
                     'evacuate:cast,host_state:call.'),
    cfg.ListOpt('action_args', default=[],
                help='For driver = rpc_actions: every action\'s '
                     'arguments in order, as action.argument entries, '
                     'e.g. evacuate.host,evacuate.reason.'),
    cfg.FloatOpt('rpc_timeout', default=30.0, min=0.001,
                 help='For driver = rpc_actions: seconds a call waits for '
                      'its reply.'),
    cfg.DictOpt('driver_args', default={},
                help='For a driver registered on the '
                     'congress_consumer.datasource.drivers entry point: '
                     'more args of the driver, as key:value entries.'),
]

SUBSCRIPTIONS_OPTS = [
    cfg.StrOpt('connection', secret=True,
               help='SQLAlchemy URL of the database that keeps the '
                    'filtered subscriptions (any database oslo.db '
                    'supports; the table is created if missing). Unset: '
                    'no filtered subscriptions and no /v1/subscriptions '
                    'API.'),
    cfg.FloatOpt('stale_timeout', default=600.0, min=1,
                 help='Seconds without a sign of life (an ack through the '
                      'API, or a consumer seen on the subscriber\'s '
                      'RabbitMQ queue) after which a subscriber is '
                      'reported stale.'),
    cfg.FloatOpt('stale_check_interval', default=60.0, min=0.1,
                 help='Seconds between two checks for stale subscribers.'),
    cfg.BoolOpt('check_queues', default=True,
                help='With a RabbitMQ notification transport, count a '
                     'consumer on the subscriber\'s queue '
                     '<subscriber_topic>.info as a sign of life.'),
    cfg.FloatOpt('expire_after', default=0.0, min=0,
                 help='Seconds without a sign of life after which a '
                      'subscription is deleted, counted as for '
                      'stale_timeout and checked every '
                      'stale_check_interval. 0: never; stale '
                      'subscriptions are only reported.'),
    cfg.BoolOpt('durable', default=False,
                help='Deliver to subscriber topics through durable '
                     'RabbitMQ queues (<subscriber_topic>.info on '
                     'durable_exchange, persistent messages), which '
                     'survive a broker restart. Subscribers must listen '
                     'on that exchange with durable queues '
                     '([oslo_messaging_rabbit] amqp_durable_queues).'),
    cfg.StrOpt('durable_exchange', default='congress_subscriptions',
               help='With durable: the exchange of the subscriber '
                    'topics (a durable exchange of its own: RabbitMQ '
                    'refuses to redeclare a non-durable exchange '
                    'durable).'),
    cfg.IntOpt('queue_size', default=10000, min=1,
               help='Most notifications for subscribers held while the '
                    'broker is unreachable; beyond it they are dropped and '
                    'subscribers see a hole in seq.'),
    cfg.ListOpt('republish', default=[],
                help='Datasources whose tables are republished in the '
                     'publish_tables format for downstream publish_tables '
                     'drivers: deltas on <topic_prefix>.<datasource>, '
                     'snapshots over RPC on '
                     '<topic_prefix>_snapshot.<datasource>.'),
    cfg.StrOpt('topic_prefix', default='congress_tables',
               help='Prefix of the topics of republished datasources.'),
    cfg.FloatOpt('heartbeat_interval', default=10.0, min=0.1,
                 help='Seconds between heartbeats of an idle republished '
                      'datasource.'),
    cfg.StrOpt('signing_key', secret=True,
               help='Shared secret that signs the republished records '
                    '(HMAC-SHA256, as [publish_tables] signing_key does '
                    'for producers), at least 16 characters. Unset: not '
                    'signed.'),
    cfg.StrOpt('signing_key_id', default='default',
               help='Name of signing_key, sent with every signature.'),
    cfg.IntOpt('snapshot_max_open', default=8, min=1, max=1000,
               help='Most snapshots of republished tables held open at '
                    'once (each holds a copy of a replica\'s rows); a '
                    'request beyond it is refused and retried by the '
                    'downstream consumer. With signing_key set, only '
                    'snapshot requests signed with it are served.'),
    cfg.FloatOpt('snapshot_idle_timeout', default=120.0, min=1,
                 help='An open snapshot of a republished table nobody '
                      'fetched from for this many seconds is closed.'),
    cfg.FloatOpt('snapshot_max_duration', default=900.0, min=1,
                 help='An open snapshot of a republished table is closed '
                      'after this many seconds even if it is still being '
                      'fetched from.'),
]


DEFAULT_METRICS_PORT = 9781

METRICS_OPTS = [
    cfg.BoolOpt('enabled', default=False,
                help='Serve Prometheus metrics (lag, caught-up state, '
                     'deltas applied and dropped, gaps, resyncs, snapshot '
                     'progress per datasource and table) on '
                     'http://<host>:<port>/metrics.'),
    cfg.HostAddressOpt('host', default='127.0.0.1',
                       help='Address the metrics endpoint listens on.'),
    cfg.PortOpt('port', default=DEFAULT_METRICS_PORT,
                help='Port of the metrics endpoint (0: any free port).'),
]


DATASOURCE_DEFAULTS = {opt.dest: opt.default for opt in DATASOURCE_OPTS
                       if opt.default is not None}


def datasource_group(name):
    """The name of datasource ``name``'s section."""
    return DATASOURCE_GROUP_PREFIX + name


def register_subscriptions_opts(conf):
    """Register the ``[subscriptions]`` options on ``conf``."""
    conf.register_opts(SUBSCRIPTIONS_OPTS, group=SUBSCRIPTIONS_GROUP)


def register_opts(conf):
    """Register ``[consumer]``, ``[subscriptions]`` and ``[metrics]``."""
    conf.register_opts(CONSUMER_OPTS, group=GROUP)
    register_subscriptions_opts(conf)
    conf.register_opts(METRICS_OPTS, group=METRICS_GROUP)


def register_datasource_opts(conf, name):
    """Register the options of datasource ``name`` on its group."""
    conf.register_opts(DATASOURCE_OPTS + DRIVER_OPTS,
                       group=datasource_group(name))


def list_opts():
    """Return ``[(group, [options])]`` for the sample config file."""
    example = cfg.OptGroup(
        datasource_group(DATASOURCE_EXAMPLE),
        help='Options of one datasource. Every name <name> listed in '
             '[consumer] datasources has a section [datasource_<name>] '
             'with these options; this one configures a datasource named '
             '%s.' % DATASOURCE_EXAMPLE)
    return [(GROUP, copy.deepcopy(CONSUMER_OPTS)),
            (example, copy.deepcopy(DATASOURCE_OPTS + DRIVER_OPTS)),
            (SUBSCRIPTIONS_GROUP, copy.deepcopy(SUBSCRIPTIONS_OPTS)),
            (METRICS_GROUP, copy.deepcopy(METRICS_OPTS))]


def update_library_defaults():
    """The libraries' defaults the consumer changes, for the sample file.

    ``oslo-config-generator`` calls it (entry point
    ``oslo.config.opts.defaults``) before listing the options: the API
    pipeline's body limit defaults to ``push_max_body_bytes``
    (:func:`congress_consumer.api.app.check_body_limits` sets it on the
    consumer's own configuration at start).
    """
    from oslo_middleware import sizelimit

    cfg.set_defaults(sizelimit.OPTS,
                     max_request_body_size=DEFAULT_MAX_BODY_BYTES)
