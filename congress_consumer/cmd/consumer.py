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

"""``congress-consumer``: replicas of published tables behind an HTTP API.

Configuration (``--config-file /etc/congress-consumer/consumer.conf``)::

    [DEFAULT]
    transport_url = rabbit://consumer:secret@rabbit:5672/

    [consumer]
    datasources = nova
    api_host = 127.0.0.1
    api_port = 8780

    [datasource_nova]
    tables = instances,compute_nodes
    columns = instances.uuid,instances.host,instances.vm_state
    pool = congress

    [subscriptions]
    connection = mysql+pymysql://consumer:secret@db/subs
    republish = nova

Every name listed in ``[consumer] datasources`` has a section
``[datasource_<name>]`` with the options of
:data:`congress_consumer.opts.DATASOURCE_OPTS`;
they become the ``args`` of a
:class:`~congress_consumer.replication.driver.PublishTablesDriver`
(see :func:`driver_args`), or, with ``driver = push``, of an
:class:`~congress_consumer.datasources.http_push.HttpPushDriver` whose
tables monitoring systems push over HTTP (see :func:`push_driver_args`;
pushes are refused unless ``[consumer] enable_push = true``)::

    [consumer]
    datasources = nova,alarms
    enable_push = true

    [datasource_alarms]
    driver = push
    tables = alarms
    columns = alarms.id,alarms.state
    push_token = <a long random secret>
 The command starts every driver (each listens
first, then takes its snapshots), serves :mod:`congress_consumer.api.wsgi`
and runs until SIGTERM or SIGINT. ``[subscriptions]`` (see
:mod:`congress_consumer.subscriptions.service`) adds the
``/v1/subscriptions`` API and republished datasources. A bad value
stops it with an error naming ``[group] option = value``; secrets
(transport and database URLs) are never logged.
"""

import re
import signal
import sys
import threading

from oslo_config import cfg
from oslo_db import exception as db_exc
from oslo_log import log as logging
import oslo_messaging
import sqlalchemy as sa

from oslo_publish_tables import exceptions as pt_exceptions
from oslo_publish_tables.protocol import redaction

from congress_consumer.api import app
from congress_consumer.api import wsgi
from congress_consumer.cmd import driver_options
from congress_consumer.datasources import http_push
from congress_consumer import exceptions
from congress_consumer import metrics
from congress_consumer import opts
from congress_consumer.replication import argcheck
from congress_consumer.replication import driver as driver_mod
from congress_consumer.replication import queues
from congress_consumer.subscriptions import api as subscriptions_api
from congress_consumer.subscriptions import service as subscriptions

LOG = logging.getLogger(__name__)

PROJECT = 'congress-consumer'
GROUP = opts.GROUP

_POSITIVE = ('chunk_rows',)
_NAME = re.compile(r'^[A-Za-z0-9_-]+$')


def mask(text):
    """Hide the passwords of URLs in ``text`` (every host's)."""
    return redaction.redact(text)


register_opts = opts.register_opts
ConfigError = exceptions.ConfigError


def _sections(conf):
    """``[(path, {section: {option: [values]}})]`` of the config files."""
    try:
        files = list(conf.config_file or [])
    except cfg.NoSuchOptError:  # conf was never parsed
        return []
    parsed = []
    for path in files:
        sections = {}
        try:
            cfg.ConfigParser(path, sections).parse()
        except (OSError, cfg.ParseError):
            continue
        parsed.append((path, sections))
    return parsed


def _raw_value(conf, group, option):
    """The option's text in the config files, for error messages."""
    found = None
    for _path, sections in _sections(conf):
        values = sections.get(group, {}).get(option)
        if values:
            found = values[-1]
    return found


def check_unknown_options(conf, group, options):
    """Refuse an option of ``group`` in the files that is not known.

    A misspelt option would otherwise be ignored silently, its default
    used instead.
    """
    known = set()
    for opt in options:
        known.update((opt.dest, opt.name.replace('-', '_')))
        known.update(d.name for d in opt.deprecated_opts
                     if d.name and d.group in (None, group))
    for path, sections in _sections(conf):
        for option, values in sorted(sections.get(group, {}).items()):
            if option.replace('-', '_') not in known:
                raise ConfigError(group=group, option=option,
                                  value=repr(values[-1]),
                                  reason='no such option (in %s)' % path)


def _get(conf, group, option):
    try:
        return conf[group][option]
    except ValueError as exc:  # oslo.config's ConfigFileValueError & co
        value = _raw_value(conf, group, option)
        reason = str(exc).rpartition(' is not valid: ')[2]
        raise ConfigError(group=group, option=option,
                          value='?' if value is None else repr(value),
                          reason=reason) from None


def datasource_names(conf):
    """The validated list of ``[consumer] datasources``."""
    check_unknown_options(conf, GROUP, opts.CONSUMER_OPTS)
    names = _get(conf, GROUP, 'datasources')
    if not names:
        raise ConfigError(group=GROUP, option='datasources', value="''",
                          reason='list at least one datasource')
    seen = set()
    for name in names:
        if not _NAME.match(name):
            raise ConfigError(group=GROUP, option='datasources',
                              value=repr(name),
                              reason='use letters, digits, _ and - only')
        if name in seen:
            raise ConfigError(group=GROUP, option='datasources',
                              value=repr(name), reason='listed twice')
        seen.add(name)
    return list(names)


def _tables(group, entries, what):
    """The listed tables, each once; at least one ``what``."""
    tables = [t.strip() for t in entries if t.strip()]
    if not tables:
        raise ConfigError(group=group, option='tables', value="''",
                          reason='list at least one %s' % what)
    if len(set(tables)) != len(tables):
        raise ConfigError(group=group, option='tables',
                          value=repr(','.join(tables)),
                          reason='a table is listed twice')
    return tables


def _columns(group, entries, tables):
    columns = {}
    for entry in entries:
        table, dot, column = entry.strip().partition('.')
        if not dot or not table or not column:
            raise ConfigError(group=group, option='columns',
                              value=repr(entry),
                              reason='expected table.column')
        if table not in tables:
            raise ConfigError(group=group, option='columns',
                              value=repr(entry),
                              reason='table %s is not listed in tables'
                              % table)
        if column in columns.setdefault(table, []):
            raise ConfigError(group=group, option='columns',
                              value=repr(entry), reason='listed twice')
        columns[table].append(column)
    return columns


def _exclusions(group, entries, tables):
    found = []
    for entry in entries:
        table, dot, column = entry.strip().partition('.')
        if not dot or not column or table not in tables:
            raise ConfigError(group=group, option='exclude_columns',
                              value=repr(entry),
                              reason='expected table.column of a listed '
                                     'table')
        found.append('%s.%s' % (table, column))
    return found


def _check_numbers(group, values):
    """Raise ConfigError for a count or duration out of its bounds."""
    for option in _POSITIVE:
        if values[option] <= 0:
            raise ConfigError(group=group, option=option,
                              value=repr(values[option]),
                              reason='must be greater than 0')
    for option, bounds in argcheck.TIMING.items():
        try:
            argcheck.bounded_float(option, values[option], *bounds[1:])
        except exceptions.InvalidParamError:
            low, high, low_ok = bounds[1:]
            raise ConfigError(group=group, option=option,
                              value=repr(values[option]),
                              reason='must be %s %g and at most %g' % (
                                  'at least' if low_ok else 'greater than',
                                  low, high)) from None


def driver_args(conf, name):
    """The ``args`` of datasource ``name``'s driver, from its section.

    Registers the section's options if needed. Unset optional options
    are left out, so the driver's own defaults apply.
    """
    group = opts.datasource_group(name)
    opts.register_datasource_opts(conf, name)
    check_unknown_options(conf, group, opts.DATASOURCE_OPTS)
    values = {opt.dest: _get(conf, group, opt.dest)
              for opt in opts.DATASOURCE_OPTS}
    tables = _tables(group, values['tables'], 'published table')
    _check_numbers(group, values)
    if values['snapshot_source'] == 'database' and \
            not values['database_url']:
        raise ConfigError(group=group, option='database_url', value="''",
                          reason='required by snapshot_source = database')
    args = {'tables': tables,
            'topic': values['topic'],
            'snapshot_source': values['snapshot_source'],
            'snapshot_topic': values['snapshot_topic'],
            'gap_timeout': values['gap_timeout'],
            'producer_timeout': values['producer_timeout'],
            'tombstone_ttl': values['tombstone_ttl'],
            'max_clock_skew': values['max_clock_skew'],
            'min_resync_interval': values['min_resync_interval'],
            'chunk_rows': values['chunk_rows'],
            'gc_freeze': values['gc_freeze'],
            'verify_interval': values['verify_interval'],
            'verify_rows_per_second': values['verify_rows_per_second'],
            'verify_chunk_rows': values['verify_chunk_rows']}
    columns = _columns(group, values['columns'], tables)
    if columns:
        args['columns'] = columns
    for option in ('pool', 'transport_url', 'database_url',
                   'control_exchange', 'outbox_schema'):
        if values[option]:
            args[option] = values[option]
    if values['exclude_columns']:
        args['exclude_columns'] = _exclusions(
            group, values['exclude_columns'], tables)
    if values['previous_signing_key'] and not values['signing_key']:
        raise ConfigError(group=group, option='previous_signing_key',
                          value='***', reason='set signing_key too')
    if values['signing_key']:
        for option in ('signing_key', 'signing_key_id',
                       'previous_signing_key', 'previous_signing_key_id',
                       'require_signature'):
            if values[option] is not None:
                args[option] = values[option]
    return args


def push_driver_args(conf, name):
    """The ``args`` of push datasource ``name``, from its section."""
    group = opts.datasource_group(name)
    opts.register_datasource_opts(conf, name)
    check_unknown_options(conf, group, opts.DATASOURCE_OPTS)
    tables = _tables(group, _get(conf, group, 'tables'), 'table')
    columns = _columns(group, _get(conf, group, 'columns'), tables)
    for table in tables:
        if table not in columns:
            raise ConfigError(group=group, option='columns', value='...',
                              reason='driver push needs the columns of '
                                     'table %s (%s.<column> entries)'
                                     % (table, table))
    token = _get(conf, group, 'push_token')
    if not token:
        raise ConfigError(group=group, option='push_token', value="''",
                          reason='required by driver = push')
    return {'tables': tables, 'columns': columns, 'push_token': token}


def build_driver(conf, name, transport=None, snapshot_source=None):
    """Make the (not started) driver of datasource ``name``.

    ``transport`` and ``snapshot_source`` replace the ones made from the
    configuration (tests share a ``fake://`` transport this way).
    """
    group = opts.datasource_group(name)
    opts.register_datasource_opts(conf, name)
    kind = _get(conf, group, 'driver')
    if kind not in ('publish_tables', 'push'):
        values = {opt.dest: _get(conf, group, opt.dest)
                  for opt in opts.DATASOURCE_OPTS + opts.DRIVER_OPTS}
        return driver_options.build_driver(
            kind, name, values, _columns(group, values['columns'],
                                         values['tables']), ConfigError)
    if kind == 'push':
        try:
            return http_push.HttpPushDriver(name, push_driver_args(conf,
                                                                   name))
        except ConfigError:
            raise
        except exceptions.CongressConsumerError as exc:
            raise ConfigError('[%s] %s' % (group, exc)) from None
    args = driver_args(conf, name)
    try:
        return driver_mod.PublishTablesDriver(
            name, args, conf=conf, transport=transport,
            snapshot_source=snapshot_source)
    except exceptions.CongressConsumerError as exc:
        raise ConfigError('[%s] %s' % (group, mask(exc))) from None
    except oslo_messaging.MessagingException as exc:
        option = ('transport_url' if args.get('transport_url') else
                  'transport_url (default: [oslo_messaging_notifications] '
                  'or [DEFAULT] transport_url)')
        raise ConfigError(group=group, option=option, value='***',
                          reason=mask(exc)) from None
    except (sa.exc.SQLAlchemyError, pt_exceptions.PublishTablesError) as exc:
        raise ConfigError(group=group, option='database_url', value='***',
                          reason='%s: %s' % (type(exc).__name__,
                                             mask(exc))) from None


def _check_queues(conf, names):
    """Refuse two datasources that would read one queue (see queues)."""
    readers = {}
    for name in names:
        group = opts.datasource_group(name)
        opts.register_datasource_opts(conf, name)
        if _get(conf, group, 'driver') != 'publish_tables':
            continue
        args = driver_args(conf, name)
        key = (args.get('transport_url'), args.get('control_exchange'),
               queues.queue_of(name, args['topic'], args.get('pool')))
        if key in readers:
            raise ConfigError(
                '[%s] pool and [%s] pool: both unset, so both datasources '
                'would read queue %s (same topic and exchange) and each '
                'would miss the messages the other takes; set pool in '
                'each section' % (opts.datasource_group(readers[key]), group,
                                  key[2]))
        readers[key] = name


def build_drivers(conf):
    """``{name: driver}`` for every name in ``[consumer] datasources``."""
    drivers = {}
    _check_queues(conf, datasource_names(conf))
    try:
        for name in datasource_names(conf):
            drivers[name] = build_driver(conf, name)
    except BaseException:
        for driver in drivers.values():
            driver.stop()
        raise
    return drivers


class Consumer(object):
    """The running drivers and their API server."""

    def __init__(self, conf, drivers):
        self.conf = conf
        self.drivers = drivers
        self.server = None
        self.subscriptions = None
        self.metrics = None
        self._started = []  # (what, part): stop() stops them, last first

    def start(self):
        """Start every driver (listen, then sync), then serve the API."""
        application = self.start_application()
        group = self.conf[GROUP]
        try:
            try:
                self.server = self._started_part('the API server', wsgi.serve(
                    application, group.api_host, group.api_port))
            except OSError as exc:  # e.g. the port is in use
                raise ConfigError(group=GROUP, option='api_port',
                                  value=group.api_port,
                                  reason='cannot listen on %s: %s' % (
                                      group.api_host, exc.strerror or exc)
                                  ) from None
            self.metrics = self._started_part(
                'the metrics endpoint', metrics.start(self.conf, self.drivers))
        except BaseException:
            self.stop()
            raise

    def start_application(self):
        """Start every driver; return the API's WSGI pipeline.

        The pipeline is :func:`congress_consumer.api.app.build_application`
        (``[consumer] auth_strategy`` and the policy); the built-in server
        of :meth:`start` and the ``wsgi_scripts`` entry point both serve
        it.
        """
        try:
            for name, driver in sorted(self.drivers.items()):
                driver.start()
                self._started_part('datasource %s' % name, driver)
                LOG.info('datasource %s started: tables %s', name,
                         ', '.join(sorted(driver.get_tablenames() |
                                          set(driver.state))))
            routes = self._start_subscriptions()
            group = self.conf[GROUP]
            if not group.enable_push and any(
                    isinstance(d, http_push.HttpPushDriver)
                    for d in self.drivers.values()):
                LOG.warning('push datasources are configured but '
                            '[consumer] enable_push is false: pushes are '
                            'refused')
            api = wsgi.API(self.drivers, push_enabled=group.enable_push,
                           max_body_bytes=group.push_max_body_bytes,
                           extra_routes=routes)
            return app.build_application(self.conf, api)
        except BaseException:
            self.stop()
            raise

    def _start_subscriptions(self):
        """Start ``[subscriptions]`` if configured; return its routes."""
        try:
            self.subscriptions = self._started_part(
                'the subscriptions',
                subscriptions.from_conf(self.conf, self.drivers))
            if self.subscriptions is None:
                return []
            self.subscriptions.start()
        except (sa.exc.SQLAlchemyError, db_exc.DBError) as exc:
            raise ConfigError(group=subscriptions.GROUP,
                              option='connection', value='***',
                              reason='%s: %s' % (type(exc).__name__,
                                                 mask(exc))) from None
        except oslo_messaging.MessagingException as exc:
            raise ConfigError(group=subscriptions.GROUP, option='(topics)',
                              value='***',
                              reason='the transport failed: %s'
                              % mask(exc)) from None
        except pt_exceptions.ConfigError as exc:  # the signing key
            raise ConfigError('%s' % str(exc).replace(
                '[%s]' % exc.group, '[%s]' % subscriptions.GROUP,
                1)) from None
        if self.subscriptions.registry is None:
            return []
        return subscriptions_api.SubscriptionsAPI(
            self.subscriptions).routes()

    @property
    def url(self):
        """Base URL of the API, e.g. ``http://127.0.0.1:8780``."""
        host, port = self.server.server_address[:2]
        if ':' in host:
            host = '[%s]' % host
        return 'http://%s:%d' % (host, port)

    def _started_part(self, what, part):
        """Have :meth:`stop` stop ``part`` (unless None); return it."""
        if part is not None:
            self._started.append((what, part))
        return part

    def stop(self):
        """Stop what was started, the last first; never raises.

        The metrics endpoint, the API server, the subscriptions, then
        every driver.
        """
        while self._started:
            what, part = self._started.pop()
            try:
                part.stop()
            except Exception:
                LOG.exception('stopping %s failed', what)
        self.metrics = self.server = self.subscriptions = None


def run(conf, stop_event):
    """Build, start and serve until ``stop_event`` is set; return 0."""
    consumer = Consumer(conf, build_drivers(conf))
    conf.log_opt_values(LOG, logging.DEBUG)  # secret options show ****
    consumer.start()
    try:
        while not stop_event.wait(0.5):
            pass
    finally:
        LOG.info('stopping')
        consumer.stop()
    return 0


def _install_signal_handlers(stop_event):
    def handler(signum, frame):
        LOG.info('signal %d received', signum)
        stop_event.set()

    return {sig: signal.signal(sig, handler)
            for sig in (signal.SIGTERM, signal.SIGINT)}


def main(argv=None, conf=None):
    """Entry point of ``congress-consumer``; returns the exit status."""
    conf = cfg.CONF if conf is None else conf
    register_opts(conf)
    logging.register_options(conf)
    conf(sys.argv[1:] if argv is None else argv, project=PROJECT)
    logging.setup(conf, PROJECT)
    stop_event = threading.Event()
    previous = _install_signal_handlers(stop_event)
    try:
        return run(conf, stop_event)
    except (exceptions.CongressConsumerError, cfg.Error) as exc:
        LOG.error('%s', mask(exc))
        return 1
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


if __name__ == '__main__':
    sys.exit(main())
