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

"""Table subscriptions of ``congress-consumer``: options and wiring.

Two ways to follow a replicated table from another service:

* **republished tables** (``[subscriptions] republish``): every table of
  the listed datasources is republished in the producer's own format,
  for a downstream :class:`~congress_consumer.replication.driver.\
PublishTablesDriver` (see :mod:`.republisher`);
* **filtered subscriptions** (``[subscriptions] connection``):
  subscribers register ``{subscriber_id, subscriber_topic, datasource,
  table, filters, payload}`` through the REST API
  (:mod:`congress_consumer.subscriptions.api`), stored in a database
  (:mod:`.registry`), and get notifications of the matching changes on
  their own topic (:mod:`.delivery`).

Stale subscribers: a subscription whose last sign of life is older than
``stale_timeout`` is *stale*; it is logged as a warning once and shown
with ``"stale": true`` by the API, until it comes back. Signs of life are
``POST /v1/subscriptions/{id}/ack`` by the subscriber and, when the
notification transport is RabbitMQ and ``check_queues`` is on, a
consumer seen on the subscriber's queue ``<subscriber_topic>.info``
(a passive queue declare, which also reports the backlog). A stale
subscription is reported; with ``expire_after`` it is deleted once it
has given no sign of life for that long. ``durable`` sends to the
subscriber topics through durable queues (:mod:`.durable`).
"""

import functools
import threading
import urllib.parse

from oslo_config import cfg
from oslo_db import exception as db_exc
from oslo_log import log as logging
import oslo_messaging
from oslo_utils import timeutils
import sqlalchemy as sa

from oslo_publish_tables.protocol import signing
from oslo_publish_tables.protocol import snapshot_requests as requests
from oslo_publish_tables import sender as sender_mod
from oslo_publish_tables import transport as transport_mod

from congress_consumer import exceptions
from congress_consumer import opts
from congress_consumer.subscriptions import delivery
from congress_consumer.subscriptions import driver_tables
from congress_consumer.subscriptions import durable as durable_mod
from congress_consumer.subscriptions import filters as filters_mod
from congress_consumer.subscriptions import registry as registry_mod
from congress_consumer.subscriptions import republisher as rep_mod

LOG = logging.getLogger(__name__)

GROUP = opts.SUBSCRIPTIONS_GROUP

register_opts = opts.register_subscriptions_opts


class ProbeError(exceptions.CongressConsumerError):
    """The broker could not be asked about a queue."""


class QueueProbe(object):
    """Consumer count and backlog of RabbitMQ queues (passive declare)."""

    def __init__(self, transport_url, timeout=3.0):
        parsed = urllib.parse.urlsplit(transport_url)
        netloc = parsed.netloc.split(',')[0]
        # Not urlunsplit: it drops the '//' of an empty host, and kombu
        # reads 'amqp:/' as a host name ('rabbit://' means localhost).
        self.url = 'amqp://%s%s' % (netloc, parsed.path or '/')
        self.timeout = timeout

    @classmethod
    def for_conf(cls, conf):
        """A probe if the notification transport is RabbitMQ, else None."""
        url = None
        for read in (lambda: conf.oslo_messaging_notifications.transport_url,
                     lambda: conf.transport_url):
            try:
                url = url or read()
            except (cfg.NoSuchOptError, cfg.NoSuchGroupError):
                continue  # oslo.messaging registers them on first use
        if url and url.startswith('rabbit://'):
            return cls(url)
        return None

    def status(self, queue):
        """``(messages, consumers)``, or None if the queue does not exist.

        Raises ProbeError if the broker cannot be asked.
        """
        import kombu  # only needed with RabbitMQ

        with kombu.Connection(self.url,
                              connect_timeout=self.timeout) as conn:
            try:
                with conn.channel() as channel:
                    _, messages, consumers = channel.queue_declare(
                        queue=queue, passive=True)
            except conn.channel_errors:  # NOT_FOUND: nobody declared it
                return None
            except (OSError,) + tuple(conn.connection_errors) as exc:
                raise ProbeError('%s: %s' % (type(exc).__name__, exc))
        return messages, consumers


def _with_tables(body):
    """``body`` with both ``table`` and ``tables`` (from either)."""
    tables = body.get('tables')
    if tables is None:
        return dict(body, tables=[body.get('table')])
    if 'table' in body or not isinstance(tables, list) or not tables or \
            len(set(map(str, tables))) != len(tables):
        raise exceptions.InvalidParamError(
            param='tables', reason='a non-empty list of distinct table '
                                   'names, instead of table')
    for table in tables:
        if not isinstance(table, str) or not table.strip() or \
                len(table) > 255:
            raise exceptions.InvalidParamError(
                param='tables', reason='%r is not a table name' % (table,))
    return dict(body, table=tables[0])


class Subscriptions(object):
    """The subscription services of one ``congress-consumer``."""

    def __init__(self, conf, drivers, transport=None, rpc_transport=None,
                 registry=None, probe=None, server='congress-consumer'):
        self.conf = conf
        self.drivers = drivers
        self.group = conf[GROUP]
        self._transport = transport
        self._rpc_transport = rpc_transport
        self._owned = []  # transports made here, cleaned up by stop()
        self.server = server
        # Replicated (publish_tables) datasources have a synchroniser;
        # every other driver's tables are seen through DriverTables.
        self.syncs = {n: getattr(d, 'sync', None) or
                      driver_tables.DriverTables(d)
                      for n, d in drivers.items()}
        for name in self.group.republish:
            if name not in self.syncs:
                raise exceptions.InvalidParamError(
                    param='[%s] republish' % GROUP,
                    reason='%s is not a datasource' % name)
        self.registry = registry
        if registry is None and self.group.connection:
            self.registry = registry_mod.Registry(self.group.connection)
        self.publisher = None
        if self.registry is not None:
            self.publisher = delivery.FilteredPublisher(
                conf, self.syncs, self._delivery_transport(),
                queue_size=self.group.queue_size)
        self.probe = probe
        if probe is None and self.registry is not None and \
                self.group.check_queues:
            self.probe = QueueProbe.for_conf(conf)
        self.republishers = {}
        self._servers = []
        self._stale = set()
        self.expired = 0  # subscriptions deleted by expire_after
        self._counts = {}  # datasource -> its driver's subscriber count
        self._stop = threading.Event()
        self._checker = None

    @property
    def transport(self):
        if self._transport is None:
            self._transport = oslo_messaging.get_notification_transport(
                self.conf)
            self._owned.append(self._transport)
        return self._transport

    def _delivery_transport(self):
        """The transport of subscriber topics (see :mod:`.durable`)."""
        if not self.group.durable:
            return self.transport
        transport, _ = durable_mod.transport(self.conf,
                                             self.group.durable_exchange)
        self._owned.append(transport)
        LOG.info('subscriptions: durable delivery on exchange %s',
                 self.group.durable_exchange)
        return transport

    @property
    def rpc_transport(self):
        if self._rpc_transport is None:
            self._rpc_transport = oslo_messaging.get_rpc_transport(self.conf)
            self._owned.append(self._rpc_transport)
        return self._rpc_transport

    # -- lifecycle ----------------------------------------------------------

    def subscribers_of(self, datasource):
        """Subscriptions and republished-table subscribers of a source."""
        count = 0
        if self.publisher is not None:
            count += self.publisher.count(datasource)
        republisher = self.republishers.get(datasource)
        if republisher is not None:
            count += sum(len(s) for s in
                         list(republisher.subscribers.values()))
        return count

    def _count_subscribers(self, install):
        """Install (or remove) the drivers' ``subscribers`` counts."""
        for name, driver in self.drivers.items():
            if not hasattr(driver, 'add_subscriber_count'):
                continue
            if install:
                self._counts[name] = functools.partial(
                    self.subscribers_of, name)
                driver.add_subscriber_count(self._counts[name])
            elif name in self._counts:
                driver.remove_subscriber_count(self._counts.pop(name))

    def start(self):
        self._count_subscribers(True)
        for name in self.group.republish:
            self._start_republisher(name)
        if self.registry is None:
            return
        self.publisher.start()
        for sub in self.registry.list():
            try:
                self.publisher.restore(sub)
            except exceptions.CongressConsumerError as exc:
                LOG.error('subscription %s is not served: %s',
                          sub.subscriber_id, exc)
        self._checker = threading.Thread(target=self._check_loop,
                                         daemon=True,
                                         name='congress-stale-check')
        self._checker.start()

    def _signer(self):
        """The Signer of republished records, or None.

        Raises oslo_publish_tables.exceptions.ConfigError for a bad key.
        """
        if not self.group.signing_key:
            return None
        return signing.Signer(self.group.signing_key_id,
                              self.group.signing_key)

    def _start_republisher(self, name):
        topic, rpc_topic = rep_mod.topics(self.group.topic_prefix, name)
        signer = self._signer()
        sender = sender_mod.Sender(
            transport_mod.NotificationTransport(
                self.conf, topic, 'congress-consumer.%s' % name,
                transport=self.transport),
            heartbeat_interval=self.group.heartbeat_interval,
            signer=signer)
        group = self.group
        republisher = rep_mod.Republisher(
            self.syncs[name], sender, idle_timeout=group.snapshot_idle_timeout,
            max_open=group.snapshot_max_open,
            max_duration=group.snapshot_max_duration)
        republisher.attach()
        self.republishers[name] = republisher
        # With a key, only snapshot requests signed with it are served,
        # as the agent serves them (protocol.snapshot_requests).
        checker = requests.checker_for_key(group.signing_key_id,
                                           group.signing_key)
        server = rep_mod.rpc_server(self.rpc_transport, republisher,
                                    rpc_topic, self.server, signer=signer,
                                    checker=checker)
        server.start()
        self._servers.append(server)
        LOG.info('republishing datasource %s on %s (snapshots on %s)',
                 name, topic, rpc_topic)

    def stop(self):
        self._count_subscribers(False)
        self._stop.set()
        if self._checker is not None:
            self._checker.join(10)
        for server in self._servers:
            server.stop()
            server.wait()
        self._servers = []
        for republisher in self.republishers.values():
            republisher.detach()
            republisher.close()
            republisher.sender.stop()
        self.republishers = {}
        if self.publisher is not None:
            self.publisher.stop()
        for sync in self.syncs.values():
            if isinstance(sync, driver_tables.DriverTables):
                sync.detach()
        if self.registry is not None:
            self.registry.close()
        while self._owned:
            self._owned.pop().cleanup()
        self._transport = self._rpc_transport = None

    # -- operations (the REST API's) ---------------------------------------

    _KNOWN = frozenset({'subscriber_id', 'subscriber_topic', 'datasource',
                        'table', 'filters', 'payload', 'initial_rows',
                        'notify', 'upsert', 'requestId', 'tables'}
                       | set(registry_mod.ONAP_FIELDS))

    def _parse(self, body):
        """A request body as ``(subscription, {flag: bool})``."""
        if not isinstance(body, dict):
            raise exceptions.InvalidParamError(
                param='body', reason='expected a JSON object')
        unknown = sorted(set(body) - self._KNOWN)
        if unknown:
            raise exceptions.InvalidParamError(
                param=', '.join(unknown), reason='unknown key')
        body = _with_tables(body)
        optional = registry_mod.ONAP_FIELDS + ('requestId',)
        for key in ('subscriber_id', 'subscriber_topic', 'datasource',
                    'table') + optional:
            value = body.get(key)
            if key in optional and key not in body:
                continue
            if not isinstance(value, str) or not value.strip() or \
                    len(value) > 255:
                raise exceptions.InvalidParamError(
                    param=key, reason='%sa non-empty string of at most 255 '
                    'characters' % ('' if key in optional else 'required, '))
        payload = body.get('payload', 'delta')
        if payload not in registry_mod.PAYLOADS:
            raise exceptions.InvalidParamError(
                param='payload', reason='expected one of %s'
                % ', '.join(registry_mod.PAYLOADS))
        flags = {}
        for flag in ('initial_rows', 'notify', 'upsert'):
            flags[flag] = body.get(flag, False)
            if not isinstance(flags[flag], bool):
                raise exceptions.InvalidParamError(
                    param=flag, reason='expected a boolean')
        filters = filters_mod.parse(body.get('filters', []))
        sub = registry_mod.Subscription(
            body['subscriber_id'], body['subscriber_topic'],
            body['datasource'], body['table'], filters_mod.to_json(filters),
            payload, onap={k: body[k] for k in registry_mod.ONAP_FIELDS
                           if k in body}, tables=body['tables'])
        self.publisher.validate(sub)
        return sub, flags

    def subscribe(self, body):
        """Register a subscription from a request body.

        Returns ``(subscription, seq, rows, created)``; ``rows`` are the
        matching rows at ``seq`` when ``initial_rows`` is true, else None.
        With ``upsert`` true, an existing subscription of that id is
        updated (``created`` is then False); without it, it is refused.
        """
        sub, flags = self._parse(body)
        if flags['upsert'] and sub.subscriber_id in self.registry:
            return self._update(sub, flags) + (False,)
        self.registry.add(sub)
        try:
            seq, rows = self.publisher.add(sub, notify=flags['notify'])
        except BaseException:
            self.registry.delete(sub.subscriber_id)
            raise
        LOG.info('subscription %s: %s.%s to topic %s (%s)',
                 sub.subscriber_id, sub.datasource, sub.table,
                 sub.subscriber_topic, sub.payload)
        return sub, seq, rows if flags['initial_rows'] else None, True

    def update(self, subscriber_id, body):
        """Replace subscription ``subscriber_id`` (``PUT``).

        ``body`` is a subscription as for :meth:`subscribe`; its
        ``subscriber_id``, if given, must be ``subscriber_id``. Returns
        ``(subscription, seq, rows)`` as :meth:`subscribe` does.
        """
        if isinstance(body, dict):
            body = dict(body)
            given = body.setdefault('subscriber_id', subscriber_id)
            if given != subscriber_id:
                raise exceptions.InvalidParamError(
                    param='subscriber_id',
                    reason='%r is not the id in the path' % given)
        sub, flags = self._parse(body)
        return self._update(sub, flags)

    def _update(self, sub, flags):
        old = self.registry.get(sub.subscriber_id)
        sub.created_at, sub.last_ack_at = old.created_at, old.last_ack_at
        self.registry.update(sub)
        seq, rows = self.publisher.replace(sub, notify=flags['notify'])
        self._stale.discard(sub.subscriber_id)
        LOG.info('subscription %s updated: %s.%s to topic %s (%s)',
                 sub.subscriber_id, sub.datasource, sub.table,
                 sub.subscriber_topic, sub.payload)
        return sub, seq, rows if flags['initial_rows'] else None

    def unsubscribe(self, subscriber_id):
        self.registry.delete(subscriber_id)
        self.publisher.remove(subscriber_id)
        self._stale.discard(subscriber_id)
        LOG.info('subscription %s deleted', subscriber_id)

    def describe(self, sub, now=None):
        info = sub.to_dict()
        info['stale'] = self._is_stale(sub, now)
        info['served'] = sub.subscriber_id in self.publisher
        return info

    def list(self):
        now = timeutils.utcnow()
        return [self.describe(s, now) for s in self.registry.list()]

    def show(self, subscriber_id, rows=False):
        """The subscription; with ``rows``, also ``seq`` and its rows.

        ``rows`` is ``{table: rows}``.
        """
        info = self.describe(self.registry.get(subscriber_id))
        if rows:
            if subscriber_id not in self.publisher:
                raise exceptions.InvalidParamError(
                    param='rows', reason='the subscription is not served')
            info['seq'], info['rows'] = self.publisher.current(
                subscriber_id)
            info['epoch'] = self.publisher.epoch
        return info

    def ack(self, subscriber_id):
        self.registry.ack(subscriber_id)
        self._stale.discard(subscriber_id)

    # -- stale subscribers ----------------------------------------------------

    def _is_stale(self, sub, now=None):
        now = now or timeutils.utcnow()
        age = (now - sub.last_ack_at).total_seconds()
        return age > self.group.stale_timeout

    def _expired(self, sub, now):
        """Delete ``sub`` if older than ``expire_after``; True if so."""
        limit = self.group.expire_after
        now = now or timeutils.utcnow()
        if not limit or (now - sub.last_ack_at).total_seconds() <= limit:
            return False
        try:
            self.unsubscribe(sub.subscriber_id)
        except registry_mod.SubscriptionNotFound:
            return True  # deleted meanwhile
        self.expired += 1
        LOG.warning('subscription %s (%s.%s, topic %s) expired: no sign '
                    'of life since %s', sub.subscriber_id, sub.datasource,
                    ','.join(sub.tables), sub.subscriber_topic,
                    sub.last_ack_at.isoformat())
        return True

    def check_stale(self, now=None):
        """Refresh signs of life, report stale subscribers; return ids.

        Subscriptions older than ``expire_after`` (if set) are deleted.
        """
        stale = []
        for sub in self.registry.list():
            if self.probe is not None:
                queue = '%s.info' % sub.subscriber_topic
                try:
                    status = self.probe.status(queue)
                except ProbeError as exc:
                    LOG.warning('cannot check queue %s: %s', queue, exc)
                    status = None
                if status is not None and status[1] > 0:
                    sub.last_ack_at = self.registry.ack(sub.subscriber_id)
            if self._expired(sub, now):
                continue
            if not self._is_stale(sub, now):
                if sub.subscriber_id in self._stale:
                    self._stale.discard(sub.subscriber_id)
                    LOG.info('subscriber %s is alive again',
                             sub.subscriber_id)
                continue
            stale.append(sub.subscriber_id)
            if sub.subscriber_id not in self._stale:
                self._stale.add(sub.subscriber_id)
                LOG.warning('subscriber %s is stale: no sign of life on '
                            'topic %s since %s', sub.subscriber_id,
                            sub.subscriber_topic,
                            sub.last_ack_at.isoformat())
        return stale

    def _check_loop(self):
        while not self._stop.wait(self.group.stale_check_interval):
            try:
                self.check_stale()
            except (db_exc.DBError, sa.exc.SQLAlchemyError):  # retry later
                LOG.exception('checking for stale subscribers failed')


def from_conf(conf, drivers, **kwargs):
    """The :class:`Subscriptions` configured in ``conf``, or None."""
    group = conf[GROUP]
    if not group.connection and not group.republish:
        return None
    return Subscriptions(conf, drivers, **kwargs)
