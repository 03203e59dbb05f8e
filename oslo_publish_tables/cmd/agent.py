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

"""``publish-tables-agent``: the snapshot service next to a service's DB.

Run it with the configuration of the service whose tables are published::

    publish-tables-agent --config-file /etc/nova/nova.conf

It reads ``[database] connection`` and the ``[publish_tables]`` section,
connects to the database with the URL minus the ``publish_tables``
plugin (the agent only reads; it never captures), reflects the published
tables and serves consistent snapshots of them to consumers over
oslo.messaging RPC on ``[publish_tables] snapshot_topic`` (see
:mod:`oslo_publish_tables.snapshot.service`), until SIGTERM or SIGINT.
The RPC transport is the one the plugin publishes on:
``[publish_tables] transport_url``, else ``[oslo_messaging_notifications]
transport_url``, else ``[DEFAULT] transport_url``; the exchange is
``[DEFAULT] control_exchange``, as for the plugin. nova sets its default
``control_exchange`` to ``nova`` in its code, which the agent cannot
see: state ``control_exchange = nova`` in the file the agent reads.

When the connection URL names its own options file with
``publish_tables_config=...`` (see :mod:`oslo_publish_tables.plugin`),
the ``[publish_tables]`` options are read from that file, as the plugin
does.

Consumers with ``snapshot_source = rpc`` need no database credentials.
An open snapshot lives in the agent that opened it, so run one agent per
``snapshot_topic``.

With ``[publish_tables] delivery = durable`` the agent also runs the
outbox relay (:mod:`oslo_publish_tables.outbox.relay`): it publishes the
records that service processes committed but died before publishing,
under the agent's own producer identity. With ``delivery = relayed`` the
relay publishes every record, the service processes none. Several
agents may run the relay at once: rows are claimed with a lease.
"""

import signal
import socket
import sys
import threading

from oslo_config import cfg
from oslo_db import options as db_options
from oslo_db.sqlalchemy import engines
from oslo_log import log as logging
import oslo_messaging
import sqlalchemy as sa

from oslo_publish_tables.capture import tables as tables_mod
from oslo_publish_tables import dbdrivers
from oslo_publish_tables import exceptions
from oslo_publish_tables import metrics
from oslo_publish_tables import opts
from oslo_publish_tables import optypes
from oslo_publish_tables.outbox import relay as relay_mod
from oslo_publish_tables.outbox import store as outbox_store
from oslo_publish_tables import plugin as plugin_mod
from oslo_publish_tables.protocol import redaction
from oslo_publish_tables.protocol import signing
from oslo_publish_tables import publisher
from oslo_publish_tables import sender as sender_mod
from oslo_publish_tables.snapshot import service as service_mod
from oslo_publish_tables import transport as transport_mod

LOG = logging.getLogger(__name__)

PROJECT = 'publish-tables-agent'
PLUGIN_NAME = 'publish_tables'


def register_opts(conf):
    """Register the ``[database]`` and ``[publish_tables]`` options."""
    db_options.set_defaults(conf)
    publisher.register_opts(conf)
    opts.register_metrics_opts(conf)


def _query_values(url, name):
    value = url.query.get(name, ())
    return [value] if isinstance(value, str) else list(value)


def database_url(conf):
    """``[database] connection`` without the plugin's query parameters.

    Returns ``(url, config_file)``: the URL as a string, other engine
    plugins kept, and the ``publish_tables_config`` file named in it
    (or None).
    """
    connection = conf.database.connection
    if not connection:
        raise exceptions.ConfigError('connection', connection,
                                     'the agent needs the database URL',
                                     group='database')
    try:
        url = sa.engine.make_url(connection)
    except sa.exc.ArgumentError:
        raise exceptions.ConfigError(
            'connection', '***', 'not an SQLAlchemy URL',
            group='database') from None
    problem = dbdrivers.missing(url)
    if problem:
        raise exceptions.ConfigError('connection', dbdrivers.shown(url),
                                     problem, group='database')
    config_files = _query_values(url, plugin_mod.CONFIG_PARAM)
    others = [p for p in _query_values(url, 'plugin') if p != PLUGIN_NAME]
    url = url.difference_update_query(['plugin', plugin_mod.CONFIG_PARAM])
    if others:
        url = url.update_query_dict({'plugin': others})
    return (url.render_as_string(hide_password=False),
            config_files[-1] if config_files else None)


def conf_of_plugin(conf, config_file):
    """The conf of ``[publish_tables]``: ``config_file``'s if given."""
    if not config_file:
        return conf
    own = cfg.ConfigOpts()
    publisher.register_opts(own)
    own([], project='publish_tables', default_config_files=[config_file])
    return own


class Agent(object):
    """The agent's database engine, snapshot service and RPC server.

    ``transport`` replaces the RPC transport made from the configuration
    (on ``fake://`` the server and its clients must share one);
    ``notification_transport`` likewise replaces the relay's.
    """

    def __init__(self, conf, transport=None, server_name=None,
                 notification_transport=None):
        self.conf = conf
        self.server_name = server_name or socket.gethostname()
        # Made by start(), closed by stop().
        self.engine = self.service = self.server = None
        self.relay = self.relay_sender = None
        self.metrics = None
        self.transport = transport
        self._own_transport = transport is None
        self.notification_transport = notification_transport

    def start(self):
        """Connect, reflect the tables and start serving snapshots."""
        try:
            self._start()
        except BaseException:
            self.stop()
            raise

    def _start(self):
        url, config_file = database_url(self.conf)
        publish_conf = conf_of_plugin(self.conf, config_file)
        group = publish_conf[publisher.GROUP]
        db = self.conf.database
        self.engine = engines.create_engine(
            url, mysql_sql_mode=db.mysql_sql_mode,
            connection_recycle_time=db.connection_recycle_time,
            max_pool_size=db.max_pool_size, max_overflow=db.max_overflow,
            pool_timeout=db.pool_timeout, max_retries=db.max_retries,
            retry_interval=db.retry_interval,
            connection_parameters=db.connection_parameters,
            logging_name=PROJECT)
        with self.engine.connect() as connection:
            registry = tables_mod.TableRegistry.reflect(
                connection, group.tables, group.exclude_columns)
        self.service = service_mod.SnapshotService(
            self.engine, registry, service_mod.SnapshotLimits.from_conf(group),
            outbox=group.delivery in outbox_store.OUTBOX_MODES,
            outbox_schema=group.outbox_schema)
        if self.transport is None:
            # Where the plugin publishes, which is where consumers are.
            self.transport = oslo_messaging.get_rpc_transport(
                self.conf, url=transport_mod.notification_url(
                    self.conf, group.transport_url))
        # Snapshot replies are signed with the notifications' key.
        self.server = service_mod.rpc_server(
            publish_conf, self.transport, self.service,
            server=self.server_name,
            signer=signing.signer_from_conf(publish_conf))
        self.server.start()
        LOG.info('serving snapshots of %s on RPC topic %s of exchange %s '
                 '(server %s)', ', '.join(sorted(registry.names)),
                 group.snapshot_topic,
                 self.transport.conf.control_exchange,
                 self.server_name)
        if group.delivery in outbox_store.OUTBOX_MODES:
            self._start_relay(publish_conf)
        self.metrics = metrics.start_agent_metrics(self.conf, self)

    def _start_relay(self, conf):
        group = conf[publisher.GROUP]
        with self.engine.connect() as connection:
            outbox_store.OutboxStore.check(connection, group.tables,
                                           group.delivery)
        publisher_id = '%s.relay' % (
            group.publisher_id or 'publish_tables.%s' % socket.gethostname())
        self.relay_sender = sender_mod.Sender(
            transport_mod.NotificationTransport(
                conf, group.topic, publisher_id, driver=group.driver,
                transport_url=group.transport_url,
                transport=self.notification_transport),
            group.max_batch_changes, group.spool_size,
            group.heartbeat_interval, group.max_retry_interval,
            group.shutdown_timeout,
            # Relayed records are signed (and compressed) like the
            # service's own.
            signer=signing.signer_from_conf(conf),
            compression=group.compression)
        self.relay = relay_mod.Relay.from_conf(conf, self.engine,
                                               self.relay_sender)
        self.relay.start()
        LOG.info('relaying outbox records older than %.1fs on topic %s',
                 self.relay.settings.grace_period, group.topic)

    def dead_workers(self):
        """Names of the agent's worker threads that died."""
        dead = []
        if self.relay is not None and not self.relay.is_alive():
            dead.append('outbox relay')
        thread = getattr(self.relay_sender, '_thread', None)
        if thread is not None and not thread.is_alive():
            dead.append('relay sender')
        return dead

    def stop(self):
        """Stop serving and release everything; never raises."""
        if self.metrics is not None:
            self.metrics.stop()
            self.metrics = None
        if self.relay is not None:
            self.relay.stop()
            self.relay = None
        if self.relay_sender is not None:
            self.relay_sender.stop()
            self.relay_sender.transport.close()
            self.relay_sender = None
        if self.server is not None:
            try:
                self.server.stop()
                self.server.wait()
            except Exception:
                LOG.exception('stopping the RPC server failed')
            self.server = None
        if self.service is not None:
            self.service.close()
            self.service = None
        if self.transport is not None and self._own_transport:
            self.transport.cleanup()
            self.transport = None
        if self.engine is not None:
            self.engine.dispose()
            self.engine = None


def main(argv=None, conf=None):
    """Entry point of ``publish-tables-agent``; returns the exit status."""
    conf = cfg.CONF if conf is None else conf
    register_opts(conf)
    logging.register_options(conf)
    conf(sys.argv[1:] if argv is None else argv, project=PROJECT)
    logging.setup(conf, PROJECT)
    try:
        optypes.check_group(conf, publisher.GROUP)  # bad values fail now
    except cfg.Error as exc:
        LOG.error('cannot start: %s', exc)
        return 1
    conf.log_opt_values(LOG, logging.DEBUG)  # secret options show ****
    stop_event = threading.Event()

    def handler(signum, frame):
        LOG.info('signal %d received', signum)
        stop_event.set()

    previous = {sig: signal.signal(sig, handler)
                for sig in (signal.SIGTERM, signal.SIGINT)}
    agent = Agent(conf)
    try:
        try:
            agent.start()
        except (exceptions.PublishTablesError, sa.exc.SQLAlchemyError,
                oslo_messaging.MessagingException, cfg.Error) as exc:
            LOG.error('cannot start: %s', redaction.redact(exc))
            return 1
        dead = []
        while not dead and not stop_event.wait(0.5):
            dead = agent.dead_workers()
        if dead:  # exit, so that a supervisor restarts the agent
            LOG.error('%s thread died; exiting so that the agent is '
                      'restarted', ' and '.join(dead))
        LOG.info('stopping')
        agent.stop()
        return 1 if dead else 0
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


if __name__ == '__main__':
    sys.exit(main())
