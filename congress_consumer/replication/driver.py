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

"""The publish_tables datasource driver (the spec's OsloMsgReceiverDriver).

A :class:`~congress_consumer.datasources.PushedDataSourceDriver` whose
tables are exact replicas of tables published by one or more services
running the ``publish_tables`` plugin. ``args`` (Congress-style):

``topic`` (default ``publish_tables``), ``pool``
    the notification topic and an optional listener pool name: the
    datasource reads queue ``<pool>.<datasource name>``, else
    ``<topic>.info`` (see :mod:`.queues`);
``transport_url``
    default: the notification transport of the consumer's config;
    the snapshot RPC calls go there too;
``control_exchange``
    the exchange the producers publish to and their agent serves
    snapshots on (nova's is ``nova``); default: the consumer's
    ``[DEFAULT] control_exchange``;
``tables``
    published table names, list or comma-separated string (required);
``table_names``
    ``{published: datasource table}`` renames of whole tables;
``columns``
    ``{table: [column, ...]}`` columns to keep (default: all published,
    following the table's columns when a migration changes them);
``rename``
    ``{table: {column: new name}}``;
``types``
    ``{table: {column: int|float|str|bool|json}}`` conversions;
``snapshot_source``
    ``rpc`` (default; the producer's ``publish-tables-agent``) or
    ``database`` with ``database_url`` (a read-only URL),
    ``exclude_columns`` (list or comma-separated ``table.column``: the
    producer's ``[publish_tables] exclude_columns``, never loaded) and
    ``outbox_schema`` (the producer's ``[publish_tables]
    outbox_schema``: where its durable outbox is);
``snapshot_topic``, ``gap_timeout``, ``producer_timeout``,
``tombstone_ttl``, ``chunk_rows``
    see :mod:`congress_consumer.replication.sync`;
``gc_freeze`` (default true)
    keep loaded snapshots out of the cyclic garbage collector's full
    collections (process-wide), see
    :mod:`congress_consumer.replication.heap`;
``verify_interval``, ``verify_rows_per_second``, ``verify_chunk_rows``
    verification of the replicas against their tables, see
    :mod:`congress_consumer.replication.verification`;
``signing_key``, ``signing_key_id``, ``previous_signing_key``,
``previous_signing_key_id``, ``require_signature``
    signatures of messages and of snapshot replies over RPC, see
    :mod:`congress_consumer.replication.authentication`.

Rows are tuples of Congress values: datetimes become ISO strings,
Decimals floats, UUIDs and bytes strings, JSON values JSON text.
"""

import collections
import datetime
import json
import logging
import operator
import time

from oslo_config import cfg
import oslo_messaging

from oslo_publish_tables import transport as transport_mod

from congress_consumer.datasources import databases
from congress_consumer.datasources import execution
from congress_consumer.datasources import pushed
from congress_consumer.datasources import values
from congress_consumer import exceptions
from congress_consumer import opts
from congress_consumer.replication import argcheck
from congress_consumer.replication import authentication
from congress_consumer.replication import heap
from congress_consumer.replication import logs
from congress_consumer.replication import queues
from congress_consumer.replication import receiver as receiver_mod
from congress_consumer.replication import snapshots
from congress_consumer.replication import sync
from congress_consumer.replication import verification

LOG = logging.getLogger(__name__)


_AS_IS = values.AS_IS
congress_value = values.congress_value  # the name callers have used


_CONVERSIONS = {'int': int, 'float': float, 'str': str, 'bool': bool,
                'json': lambda v: json.dumps(v, sort_keys=True)}


def _as_list(value):
    if isinstance(value, str):
        return [v.strip() for v in value.split(',') if v.strip()]
    return list(value or ())


def _as_bool(name, value):
    if isinstance(value, str):
        if value.strip().lower() in ('1', 'true', 'yes', 'on'):
            return True
        if value.strip().lower() in ('0', 'false', 'no', 'off'):
            return False
        raise exceptions.InvalidParamError(
            param=name, reason='expected true or false, got %r' % value)
    return bool(value)


def _setting(args, name):
    """``args[name]``, or its default: the datasource option's."""
    return args.get(name, opts.DATASOURCE_DEFAULTS[name])


class _TableMap(object):
    """How one published table becomes one datasource table."""

    def __init__(self, name, args, columns=None):
        self.source = name
        self.name = (args.get('table_names') or {}).get(name, name)
        configured = (args.get('columns') or {}).get(name)
        # Configured columns stay; learnt ones follow the table's.
        self.configured = bool(configured)
        self.missing = []  # configured columns the table lacks
        self.columns = list(configured or columns or ())
        renames = (args.get('rename') or {}).get(name, {})
        self.names = [renames.get(c, c) for c in self.columns]
        types = (args.get('types') or {}).get(name, {})
        for column, kind in types.items():
            if kind not in _CONVERSIONS:
                raise exceptions.InvalidParamError(
                    'types: %s.%s = %r: expected one of %s' % (
                        name, column, kind, ', '.join(sorted(_CONVERSIONS))))
        self.converters = [_CONVERSIONS.get(types.get(c)) for c in
                           self.columns]
        self._converting = any(self.converters)
        # itemgetter of one name returns the value, not a 1-tuple.
        self._values_of = operator.itemgetter(*self.columns) \
            if len(self.columns) > 1 else None
        self.unique = None  # rows are unique: they keep the whole key

    def learn_key(self, pk_names):
        """Note whether translated rows keep the primary key unchanged."""
        if self.unique is None and pk_names is not None:
            kept = {c for c, f in zip(self.columns, self.converters)
                    if f is None}
            self.unique = set(pk_names) <= kept

    def row(self, row):
        if not self._converting:
            values = None
            if self._values_of is not None:
                try:
                    values = self._values_of(row)
                except KeyError:  # a column the row lacks: None
                    pass
            if values is None:
                values = map(row.get, self.columns)
            return tuple([v if type(v) in _AS_IS else congress_value(v)
                          for v in values])
        values = []
        for column, convert in zip(self.columns, self.converters):
            value = row.get(column)
            if convert is not None and value is not None:
                value = convert(value)
            values.append(congress_value(value))
        return tuple(values)

    def translator(self):
        return {'translation-type': 'HDICT', 'table-name': self.name,
                'selector-type': 'DICT_SELECTOR',
                'field-translators': [
                    {'fieldname': n, 'translator': {'translation-type':
                                                    'VALUE'}}
                    for n in self.names]}


class PublishTablesDriver(pushed.PushedDataSourceDriver,
                          execution.ExecutionDriver):
    """Replicas of published tables, synced from snapshot + deltas."""

    DRIVER_INFO = {
        'id': 'publish_tables',
        'description': 'Exact replicas of tables pushed by services that '
                       'run the oslo.publish_tables plugin.',
        'config': {'tables': 'required', 'topic': 'optional',
                   'pool': 'optional', 'transport_url': 'optional',
                   'control_exchange': 'optional',
                   'table_names': 'optional', 'columns': 'optional',
                   'rename': 'optional', 'types': 'optional',
                   'snapshot_source': 'optional',
                   'snapshot_topic': 'optional',
                   'database_url': 'optional',
                   'outbox_schema': 'optional',
                   'exclude_columns': 'optional', 'gap_timeout': 'optional',
                   'producer_timeout': 'optional',
                   'tombstone_ttl': 'optional', 'chunk_rows': 'optional',
                   'max_clock_skew': 'optional',
                   'min_resync_interval': 'optional',
                   'gc_freeze': 'optional',
                   'verify_interval': 'optional',
                   'verify_rows_per_second': 'optional',
                   'verify_chunk_rows': 'optional',
                   'signing_key': 'optional', 'signing_key_id': 'optional',
                   'previous_signing_key': 'optional',
                   'previous_signing_key_id': 'optional',
                   'require_signature': 'optional'},
        'secret': ['transport_url', 'database_url', 'signing_key',
                   'previous_signing_key'],
    }

    def __init__(self, name='', args=None, conf=None, transport=None,
                 snapshot_source=None):
        super().__init__(name, args)
        args = self.args
        tables = _as_list(args.get('tables'))
        if not tables:
            raise exceptions.InvalidParamError('tables: no table listed')
        self.conf = cfg.CONF if conf is None else conf
        self._queue = None  # the claim of the queue read, once started
        verifier = authentication.verifier_from_args(args)
        if verifier is None:
            LOG.warning('datasource %s: no signing_key, messages are not '
                        'authenticated: anyone who can publish on the '
                        'topic can change its tables', name)
        # Snapshot replies over RPC are checked with the same keys.
        self.snapshot_authenticator = None if verifier is None else \
            authentication.SnapshotAuthenticator(verifier)
        self._maps = {t: _TableMap(t, args) for t in tables}
        self._schema_subscribers = []
        self._counts = {m.name: collections.Counter()
                        for m in self._maps.values()}
        for table_map in self._maps.values():
            self.state[table_map.name] = set()
            if table_map.columns:
                self.register_translator(table_map.translator())
        self._transport = transport or \
            oslo_messaging.get_notification_transport(
                self.conf, url=args.get('transport_url'))
        self.snapshot_source = snapshot_source or self._snapshot_source()
        self.sync = sync.Synchronizer(
            tables, None, self.snapshot_source, listener=self._on_change,
            name=name, chunk_rows=int(_setting(args, 'chunk_rows')),
            **argcheck.timing_args(args))
        self.sync.on_columns = self._learn_columns
        if _as_bool('gc_freeze', _setting(args, 'gc_freeze')):
            self.sync.on_chunk = heap.chunk_loaded
            self.sync.on_loaded = heap.load_done
        self.verifier = verification.Verifier.from_args(
            self.sync, self.snapshot_source, name, args)
        self.authenticator = None if verifier is None else \
            authentication.Authenticator(verifier, self.sync)
        self.receiver = receiver_mod.Receiver(
            self._transport, self.sync, topic=_setting(args, 'topic'),
            pool=queues.pool_of(name, args.get('pool')),
            authenticator=self.authenticator,
            exchange=args.get('control_exchange'))
        self._name_logs()
        self._add_actions()

    def _add_actions(self):
        """The datasource's executable actions (``execute``)."""
        self.add_executable_method(
            'resync', [{'name': 'table', 'description': 'table to resync '
                        '(all tables if omitted)'}],
            'Take a fresh snapshot of a table.', method=self.resync)
        self.add_executable_method(
            'refresh_snapshot',
            [{'name': 'table', 'description': 'table to reload (all '
              'tables if omitted)'},
             {'name': 'timeout', 'description': 'seconds to wait for the '
              'snapshot to load (default 30)'}],
            'Take a fresh snapshot of a table and wait until it is loaded.',
            method=self.refresh_snapshot)
        self.add_executable_method(
            'restart', [], 'Stop the datasource and start it again, as '
            'Congress does when a datasource is updated.',
            method=self.restart)
        self.add_executable_method(
            'verify', [{'name': 'table', 'description': 'table to verify '
                        '(all tables if omitted)'}],
            'Verify tables against their source now and repair them.',
            method=self.verify)

    def _name_logs(self):
        """Have every log line of this datasource name it."""
        log = logs.for_datasource(LOG, self.name)
        for part in (self.sync, self.sync.liveness, self.receiver,
                     self.authenticator, self.snapshot_authenticator):
            if part is not None:
                part.log = log
        self.sync.liveness.where = 'topic %s of exchange %s' % (
            _setting(self.args, 'topic'),
            self.args.get('control_exchange') or '(control_exchange)')

    def _snapshot_source(self):
        kind = _setting(self.args, 'snapshot_source')
        if kind == 'database':
            url = self.args.get('database_url')
            if not url:
                raise exceptions.InvalidParamError(
                    'snapshot_source = database needs database_url')
            if 'exclude_columns' not in self.args:
                LOG.warning('datasource %s: snapshot_source = database '
                            'without exclude_columns: columns the producer '
                            'excludes are loaded until its changes show '
                            'them missing', self.name)
            databases.require_driver(url, opts.datasource_group(self.name),
                                     'database_url')
            return snapshots.DirectSnapshotSource(
                url, list(self._maps),
                _as_list(self.args.get('exclude_columns')),
                chunk_rows=int(_setting(self.args, 'chunk_rows')),
                outbox_schema=self.args.get('outbox_schema') or None)
        if kind != 'rpc':
            raise exceptions.InvalidParamError(
                'snapshot_source = %r: expected rpc or database' % kind)
        # Where the notifications come from, where the agent serves.
        rpc = oslo_messaging.get_rpc_transport(
            self.conf, url=transport_mod.notification_url(
                self.conf, self.args.get('transport_url')))
        return snapshots.RpcSnapshotSource(
            rpc, _setting(self.args, 'snapshot_topic'),
            authenticator=self.snapshot_authenticator,
            exchange=self.args.get('control_exchange'),
            signer=authentication.signer_from_args(self.args))

    def _learn_columns(self, table, columns):
        """Take the columns of a snapshot about to load (replica locked).

        Learnt columns (``columns`` not configured) follow the table's:
        the first snapshot sets them and a migration that adds, drops,
        renames or reorders columns changes them. The table's schema
        (:meth:`get_schema`, its translator) and its rows take the new
        columns at once: :meth:`subscribe_schema` callbacks are told,
        diff subscribers get the change of rows, and the snapshot's rows
        then arrive as changes in the new shape.
        """
        table_map = self._maps[table]
        if table_map.configured:
            self._check_configured(table_map, columns)
            return
        if table_map.columns == list(columns):
            return
        before = table_map.columns
        self._maps[table] = table_map = _TableMap(table, self.args, columns)
        table_map.learn_key(self.sync.pk_names(table))
        self.replace_translator(table_map.translator())
        old_rows = self.state[table_map.name]
        self._rebuild(table, table_map)
        if before:
            LOG.warning('datasource %s: table %s: columns changed from %s '
                        'to %s: its schema and rows follow', self.name,
                        table_map.name, ', '.join(before),
                        ', '.join(table_map.columns))
        for callback in list(self._schema_subscribers):
            callback(table_map.name)
        rows = self.state[table_map.name]
        self.publish_diff(table_map.name, rows - old_rows, old_rows - rows)

    def _check_configured(self, table_map, columns):
        """Warn once that configured columns are not in the table."""
        missing = sorted(set(table_map.columns) - set(columns))
        if missing and missing != table_map.missing:
            LOG.warning('datasource %s: table %s: configured columns %s '
                        'are not in the table: their values are None',
                        self.name, table_map.name, ', '.join(missing))
        table_map.missing = missing

    def _rebuild(self, table, table_map):
        """The rows of ``table`` anew, from its replica, in the map's shape.

        Rows the replica got before the columns were known, or in the
        previous shape, are all there (a snapshot load reports only the
        rows it changes).
        """
        counts = collections.Counter(
            table_map.row(row) for row in self.sync.rows(table).values())
        self._counts[table_map.name] = collections.Counter() \
            if table_map.unique else counts
        self.state[table_map.name] = set(counts)

    def subscribe_schema(self, callback):
        """Call ``callback(table)`` when ``table``'s columns change.

        It is called under the replica lock, once :meth:`get_schema` and
        the table's rows (:meth:`get_snapshot`) have the new columns and
        before any diff of rows in them; the diff from the rows before
        to the rows in the new columns follows. The first columns
        learnt count as a change.
        """
        self._schema_subscribers.append(callback)

    def _on_change(self, table, old, new):
        table_map = self._maps[table]
        if not table_map.columns:
            return
        if table_map.unique is None:
            table_map.learn_key(self.sync.pk_names(table))
        rows = self.state[table_map.name]
        if old is None and table_map.unique and not self._subscribers:
            # The common case of a snapshot load: one new row, nobody to
            # tell.
            if new is not None:
                rows.add(table_map.row(new))
            return
        if table_map.unique:
            # One tuple per key: a set says it all, no counts needed.
            to_add, to_del = set(), set()
            if old is not None:
                before = table_map.row(old)
                rows.discard(before)
                to_del.add(before)
            if new is not None:
                after = table_map.row(new)
                rows.add(after)
                to_add.add(after)
        else:
            to_add, to_del = self._counted(table_map, rows, old, new)
        if self._subscribers and (to_add or to_del):
            self.publish_diff(table_map.name, to_add - to_del,
                              to_del - to_add)

    def _counted(self, table_map, rows, old, new):
        """Rows that may repeat (key not kept): count each tuple."""
        counts = self._counts[table_map.name]
        to_add, to_del = set(), set()
        if old is not None:
            before = table_map.row(old)
            counts[before] -= 1
            if counts[before] <= 0:
                del counts[before]
                rows.discard(before)
                to_del.add(before)
        if new is not None:
            after = table_map.row(new)
            counts[after] += 1
            if after not in rows:
                rows.add(after)
                to_add.add(after)
        return to_add, to_del

    # -- lifecycle ----------------------------------------------------------

    def start(self):
        """Listen first, then sync every table (the protocol's order).

        :raises queues.SharedQueueError: another datasource (or another
            instance of this one) of this process reads the same queue.
        """
        self._queue = queues.claim(
            self.name, self, self.args.get('transport_url'),
            self.args.get('control_exchange'),
            _setting(self.args, 'topic'), self.args.get('pool'))
        try:
            self.receiver.start()
        except BaseException:
            queues.release(self._queue, self)
            raise
        self.sync.start()
        self.verifier.start()

    def stop(self):
        self.receiver.stop()
        if self._queue is not None:
            queues.release(self._queue, self)
            self._queue = None
        self.verifier.stop()
        self.sync.stop()
        self.snapshot_source.cleanup()

    def restart(self):
        """Executable action: :meth:`stop`, then :meth:`start`."""
        self.stop()
        self.start()

    def wait_live(self, timeout=30.0):
        live = self.sync.wait_live(timeout)
        self.initialized = live
        return live

    def _sources(self, table):
        """Published tables behind datasource ``table`` (None: all)."""
        if table is None:
            return list(self._maps)
        sources = [t for t, m in self._maps.items() if m.name == table
                   or t == table]
        if not sources:
            raise exceptions.UnknownTableError(table=table,
                                               datasource=self.name)
        return sources

    def prepare(self, action, action_args=None):
        """Check an action's call, its ``table`` argument included."""
        call = super().prepare(action, action_args)
        if action in ('resync', 'refresh_snapshot'):
            table = call.keywords.get('table',
                                      call.args[0] if call.args else None)
            self._sources(table)  # UnknownTableError before the call
        return call

    def resync(self, table=None):
        """Executable action: resync one table, or all.

        Only schedules the snapshots and returns at once.
        """
        tables = None if table is None else self._sources(table)
        self.sync.request_resync(tables, 'requested by execute')

    def refresh_snapshot(self, table=None, timeout=30.0):
        """Executable action: reload one table, or all, from a snapshot.

        Unlike :meth:`resync` it blocks until a snapshot taken after the
        call has been loaded into every table concerned, or ``timeout``
        seconds have passed.

        :returns: True if every table was reloaded in time.
        """
        try:
            timeout = float(timeout)
        except (TypeError, ValueError):
            raise exceptions.InvalidParamError(
                param='timeout', reason='must be a number of seconds, got '
                '%r' % (timeout,)) from None
        tables = self._sources(table)
        before = self.sync.snapshots_taken(tables)
        self.sync.request_resync(tables, 'snapshot refresh requested')
        deadline = time.monotonic() + timeout
        while True:
            if self.sync.reloaded(before):
                return True
            if time.monotonic() >= deadline:
                LOG.warning('refresh_snapshot of %s on %s: not loaded '
                            'after %.1f s', ', '.join(tables), self.name,
                            timeout)
                return False
            time.sleep(0.05)

    def reading(self):
        """A context in which the rows do not change.

        See :meth:`congress_consumer.replication.sync.Synchronizer.reading`.
        """
        return self.sync.reading()

    def verify(self, table=None):
        """Executable action: verify one table, or all, now (blocking).

        :returns: ``{table: result}``, see
            :meth:`~.verification.Verifier.verify_table`.
        """
        tables = None if table is None else self._sources(table)
        found = self.verifier.verify(tables)
        return {self._maps[t].name: r for t, r in found.items()}

    def get_snapshot(self, table_id):
        with self.sync.reading():
            return super().get_snapshot(table_id)

    def get_status(self):
        status = super().get_status()
        # Congress's fields: what the replica applied, not what the base
        # class counts (its polls and pushes, which never happen here).
        count, last = self.sync.updates()
        status['number_of_updates'] = count
        status['last_updated'] = None if last is None else \
            datetime.datetime.fromtimestamp(
                last, datetime.timezone.utc).isoformat()
        status['tables'] = {self._maps[t].name: self.sync.table_status(t)
                            for t in self._maps}
        for t in self._maps:
            status['tables'][self._maps[t].name]['verification'] = \
                self.verifier.table_status(t)
        status.update(self.sync.counters())
        status['received'] = self.receiver.received
        if self.authenticator is not None:
            status['signatures'] = self.authenticator.status()
        checked = getattr(self.snapshot_source, 'authenticator', None)
        if checked is not None:
            status.setdefault('signatures', {})['snapshot_counts'] = \
                checked.status()
        return status
