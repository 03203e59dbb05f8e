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

"""Write records into the outbox, read them back, delete them.

:class:`OutboxStore` is bound to one engine. The capture calls
:meth:`OutboxStore.write` on the committing connection just before
``COMMIT`` (one ``INSERT`` per record, in the service's transaction); the
sender calls :meth:`OutboxStore.delete` from its background thread once
the transport confirmed a record; the relay claims old rows with
:meth:`OutboxStore.claim`.

SQLite has one writer per file, and a transaction that read (oslo.db
begins each with a deferred ``BEGIN``) fails at once with "database is
locked" when it then writes while another connection holds the write
lock: SQLite cannot make it wait without risking a deadlock. So on
SQLite nothing of ours writes the file beside the service's own
transactions: the published rows are deleted inside the service's next
write transaction (:meth:`OutboxStore.write`), or, when the service is
idle, by the sender while no service transaction of the process is
open and none may begin (:meth:`OutboxStore.install` counts them), and
``delivery = relayed``, whose agent writes the outbox all the time, is
refused (:meth:`OutboxStore.check`).
"""

import json
import logging
import re
import threading
import uuid

import sqlalchemy as sa
from sqlalchemy import event

from oslo_publish_tables.capture import listeners
from oslo_publish_tables.capture import tables as tables_mod
from oslo_publish_tables import exceptions
from oslo_publish_tables.outbox import attached
from oslo_publish_tables.outbox import schema
from oslo_publish_tables.protocol import codec
from oslo_publish_tables.protocol import envelope
from oslo_publish_tables.protocol import redaction

LOG = logging.getLogger(__name__)
GROUP = 'publish_tables'
DIRECT = 'direct'
DURABLE = 'durable'
RELAYED = 'relayed'
OUTBOX_MODES = (DURABLE, RELAYED)


_CHUNK = 500
_OWN = 'publish_tables.outbox_own'  # connection.info: our own connection


class OutboxError(exceptions.PublishTablesError):
    """The outbox cannot be used (missing table, bad row)."""


class OutboxDraft(listeners.Draft):
    """A Draft whose record also sits in an outbox row.

    ``outbox`` is the :class:`OutboxStore` holding row ``outbox_id``;
    ``keep`` is set when a part of the record was dropped before it was
    sent, so that the row stays for the relay.
    """

    __slots__ = ('outbox', 'outbox_id', 'keep')

    def __init__(self, kind, ts, txn=None, changes=(), tables=(),
                 reason='', outbox=None, outbox_id=None):
        super().__init__(kind, ts, txn, changes, tables, reason)
        self.outbox = outbox
        self.outbox_id = outbox_id
        self.keep = False


def encode_payload(draft):
    """The JSON text stored for ``draft``."""
    if draft.kind == 'resync':
        body = {'tables': sorted(draft.tables), 'reason': draft.reason}
    else:
        body = {'changes': [envelope.encode_change(c)
                            for c in draft.changes]}
    return json.dumps(body, separators=(',', ':'), sort_keys=True)


def decode_row(row, store=None):
    """Return the :class:`OutboxDraft` stored in outbox row ``row``."""
    try:
        body = json.loads(row.payload)
        if row.kind == 'resync':
            return OutboxDraft('resync', row.created,
                               tables=sorted(body['tables']),
                               reason=body.get('reason', ''),
                               outbox=store, outbox_id=row.id)
        changes = [envelope.Change(c['table'], c['op'],
                                   codec.decode_row(c['pk']),
                                   codec.decode_row(c['row']),
                                   tuple(c['changed']))
                   for c in body['changes']]
    except (ValueError, KeyError, TypeError, RecursionError,
            exceptions.EnvelopeError) as exc:  # deep nesting: RecursionError
        raise OutboxError('outbox row %s is unreadable: %s'
                          % (row.id, exc)) from exc
    return OutboxDraft('txn', row.created, row.txn, changes,
                       outbox=store, outbox_id=row.id)


_TABLE_NAME = re.compile(r'"table"\s*:\s*"([^"\\]{1,128})"')


def unreadable_marker(row, exc, tables=(), store=None):
    """The resync marker that replaces an unreadable outbox row ``row``.

    Its tables are the ones the row's text names, else ``tables`` (all
    the published tables); it keeps the row's id so that publishing it
    deletes the row.
    """
    named = set(_TABLE_NAME.findall(str(row.payload or '')[:1000000]))
    marked = sorted(named & set(tables) if tables else named) or \
        sorted(tables)
    return OutboxDraft('resync', row.created or 0, tables=marked,
                       reason='unreadable outbox row %s' % row.id,
                       outbox=store, outbox_id=row.id)


class OutboxStore(object):
    """The outbox of one engine's database.

    ``tables`` are the published tables: an unreadable row becomes a
    resync marker for them when it does not say which it is about.
    ``schema_name`` is ``[publish_tables] outbox_schema``: the schema or
    database the outbox lives in (None: the service's own).
    """

    def __init__(self, engine, tables=(), schema_name=None):
        self.engine = engine
        self.tables = tuple(tables)
        self.schema_name = schema_name
        self.table = schema.table(schema_name)
        self.single_writer = engine.dialect.name == 'sqlite'
        self._gate = threading.Condition()
        self._open = 0           # service transactions open (SQLite)
        self._deleting = False   # our own delete holds the write lock
        self._deletable = set()  # published ids not deleted yet (SQLite)
        self._installed = False

    @classmethod
    def check(cls, connection, published, delivery=DURABLE,
              schema_name=None, existing=None):
        """Raise ConfigError unless ``delivery`` can work on ``connection``.

        ``published`` are the configured table names: the outbox itself
        is never published (the capture must not capture its own writes).
        ``schema_name``: where the outbox lives (see :class:`OutboxStore`).
        ``existing``: the names of the tables there, if already listed.
        """
        schema.check_name(schema_name, connection.dialect.name)
        if delivery == RELAYED and connection.dialect.name == 'sqlite':
            raise exceptions.ConfigError(
                'delivery', RELAYED,
                'SQLite has one writer per database file: the agent\'s '
                'outbox claims and deletes would make the service\'s own '
                'transactions fail with "database is locked"; use '
                'durable or direct on SQLite')
        if schema.TABLE_NAME in published:
            raise exceptions.ConfigError(
                'tables', schema.TABLE_NAME,
                'the outbox of durable mode cannot be published')
        if existing is None:
            existing = tables_mod.existing_tables(connection, schema_name)
        if schema.TABLE_NAME not in existing:
            raise exceptions.ConfigError(
                'delivery', delivery,
                'the table %s does not exist; run '
                '"publish-tables-manage db_sync" first'
                % schema.table(schema_name).fullname)

    # -- SQLite: keep our writes out of the service's way -----------------

    def install(self):
        """Count the engine's open transactions (SQLite only)."""
        if not self.single_writer or self._installed:
            return
        event.listen(self.engine, 'begin', self._on_begin)
        event.listen(self.engine, 'commit', self._on_end)
        event.listen(self.engine, 'rollback', self._on_end)
        self._installed = True

    def uninstall(self):
        if not self._installed:
            return
        event.remove(self.engine, 'begin', self._on_begin)
        event.remove(self.engine, 'commit', self._on_end)
        event.remove(self.engine, 'rollback', self._on_end)
        self._installed = False

    def _on_begin(self, conn):
        if conn.info.get(_OWN):
            return
        with self._gate:
            # Our delete holds the write lock for a moment: wait, as the
            # service would for another of its own writers.
            self._gate.wait_for(lambda: not self._deleting)
            self._open += 1

    def _on_end(self, conn):
        if conn.info.get(_OWN):
            return
        with self._gate:
            self._open = max(0, self._open - 1)

    def _take_deletable(self):
        """Up to ``_CHUNK`` published ids to delete in a service txn."""
        with self._gate:
            if len(self._deletable) <= _CHUNK:
                ids, self._deletable = self._deletable, set()
            else:
                ids = set(sorted(self._deletable)[:_CHUNK])
                self._deletable -= ids
        return ids

    # -- capture (request path, inside the service's transaction) -------

    def write(self, conn, drafts):
        """Insert one row per draft on ``conn``; return OutboxDrafts.

        Runs in the committing transaction, so the rows commit or roll
        back with it. Errors propagate: a durable record that cannot be
        written must not be committed without it. On SQLite it first
        deletes rows published since (see the module's docstring).
        """
        if self._deletable:
            ids = self._take_deletable()
            if ids:
                conn.execute(self.table.delete().where(
                    self.table.c.id.in_(sorted(ids))))
        durable = []
        for draft in drafts:
            try:
                payload = encode_payload(draft)
            except exceptions.EnvelopeError as exc:
                # A value the codec cannot carry: consumers resync.
                tables = sorted({c.table for c in draft.changes})
                draft = listeners.Draft('resync', draft.ts, tables=tables,
                                        reason=str(exc))
                payload = encode_payload(draft)
            result = conn.execute(self.table.insert().values(
                created=draft.ts, kind=draft.kind, txn=draft.txn,
                payload=payload))
            durable.append(OutboxDraft(
                draft.kind, draft.ts, draft.txn, draft.changes,
                draft.tables, draft.reason, outbox=self,
                outbox_id=result.inserted_primary_key[0]))
        return durable

    # -- sender and relay (background threads) -----------------------------

    def delete(self, ids):
        """Delete the rows ``ids`` (published), in chunks.

        Installed on SQLite, the ids are queued instead, and deleted now
        only if no service transaction of the process is open (new ones
        wait meanwhile); else the next service write transaction deletes
        them. Returns the number of ids still queued: the caller calls
        again later (with no ids) until it is 0.
        """
        if not self._installed:  # never was, or no longer (uninstalled)
            with self._gate:
                ids, self._deletable = set(ids) | self._deletable, set()
            self._delete_now(sorted(ids))
            return 0
        with self._gate:
            self._deletable.update(ids)
            if self._open or not self._deletable:
                return len(self._deletable)
            ids, self._deletable = sorted(self._deletable), set()
            self._deleting = True
        try:
            self._delete_now(ids, own=True)
        except BaseException:
            with self._gate:
                self._deletable.update(ids)
            raise
        finally:
            with self._gate:
                self._deleting = False
                self._gate.notify_all()
        return 0

    def _connect(self):
        """A connection of the engine, the outbox attached (SQLite)."""
        conn = self.engine.connect()
        try:
            attached.attach(conn, self.schema_name)
        except BaseException:
            conn.close()
            raise
        return conn

    def _delete_now(self, ids, own=False):
        with self._connect() as conn:
            if own:
                conn.info[_OWN] = True
            try:
                with conn.begin():
                    for start in range(0, len(ids), _CHUNK):
                        conn.execute(self.table.delete().where(
                            self.table.c.id.in_(ids[start:start + _CHUNK])))
            finally:
                conn.info.pop(_OWN, None)

    def count(self):
        with self._connect() as conn:
            return conn.execute(sa.select(sa.func.count()).select_from(
                self.table)).scalar()

    def claim(self, now, older_than, lease_until, limit, owner=None,
              dated_ahead=None):
        """Claim up to ``limit`` rows created before ``older_than``.

        Rows created after ``dated_ahead`` (a stamp ahead of the clock:
        their age is unknown) are claimed too, so that none waits
        unseen.

        A row is claimable when nobody holds a lease on it, or the lease
        ended before ``now`` (its relay died or stalled). The claim is an
        ``UPDATE`` whose ``WHERE`` repeats the condition, so that of two
        relays racing for a row only one claims it: the second one's
        ``UPDATE`` waits for the first one's row lock and then finds the
        lease taken (PostgreSQL re-checks the row, InnoDB reads the
        latest version, SQLite has one writer). Returns the claimed rows
        as :class:`OutboxDraft` objects, oldest first; an unreadable row
        becomes a resync marker (:func:`unreadable_marker`).
        """
        t = self.table
        owner = owner or uuid.uuid4().hex
        free = sa.or_(t.c.claimed_until.is_(None), t.c.claimed_until < now)
        due = t.c.created < older_than
        if dated_ahead is not None:
            due = sa.or_(due, t.c.created > dated_ahead)
        with self._connect() as conn, conn.begin():
            ids = [r.id for r in conn.execute(
                sa.select(t.c.id).where(due, free)
                .order_by(t.c.id).limit(limit))]
            if not ids:
                return []
            conn.execute(t.update().where(t.c.id.in_(ids), free).values(
                claimed_by=owner, claimed_until=lease_until))
            rows = conn.execute(sa.select(t).where(
                t.c.id.in_(ids), t.c.claimed_by == owner).order_by(t.c.id))
            drafts = []
            for row in rows:
                try:
                    drafts.append(decode_row(row, self))
                except OutboxError as exc:
                    marker = unreadable_marker(row, exc, self.tables, self)
                    LOG.error('publish_tables: %s; consumers of %s are '
                              'told to resync', redaction.short_text(exc),
                              ', '.join(marker.tables) or '(no table)')
                    drafts.append(marker)
            return drafts


def high_water(conn, schema_name=None):
    """The highest outbox id allocated so far, read on ``conn``.

    Not an MVCC read: the allocation counter itself (PostgreSQL: the
    ``id`` sequence; MySQL/MariaDB: the table's ``AUTO_INCREMENT``;
    SQLite: ``sqlite_sequence``). Read under a snapshot's fence, it
    separates the records of the transactions that wrote the fenced
    table before the fence (ids ``<=``) from those that write it after
    (ids ``>``): see the durable mode guide. ``schema_name``: where the
    outbox lives (``[publish_tables] outbox_schema``).
    """
    name = conn.dialect.name
    attached.attach(conn, schema_name)  # SQLite; before its transaction
    if name == 'postgresql':
        qualified = conn.dialect.identifier_preparer.format_table(
            schema.table(schema_name))
        seq = conn.execute(sa.text("SELECT pg_get_serial_sequence(:t, 'id')"),
                           {'t': qualified}).scalar()
        value, called = conn.exec_driver_sql(
            'SELECT last_value, is_called FROM %s' % seq).one()
        return int(value) if called else int(value) - 1
    if name in ('mysql', 'mariadb'):
        if not getattr(conn.dialect, 'is_mariadb', False):
            # MySQL 8 caches information_schema statistics by default.
            conn.exec_driver_sql(
                'SET SESSION information_schema_stats_expiry = 0')
        value = conn.execute(sa.text(
            "SELECT AUTO_INCREMENT FROM information_schema.tables "
            "WHERE table_schema = COALESCE(:s, DATABASE()) "
            "AND table_name = :t"),
            {'s': schema_name, 't': schema.TABLE_NAME}).scalar()
        return int(value or 1) - 1
    if name == 'sqlite':
        # outbox_schema: the attached database's own sequence table.
        value = conn.exec_driver_sql(
            "SELECT seq FROM %ssqlite_sequence WHERE name = '%s'"
            % ('"%s".' % schema_name if schema_name else '',
               schema.TABLE_NAME)).scalar()
        return int(value or 0)
    raise OutboxError('no outbox high-water mark on %s' % name)
