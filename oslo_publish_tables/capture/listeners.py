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

"""Core event listeners that capture committed changes on one engine.

:class:`EngineCapture` binds a :class:`~.tables.TableRegistry` and a
``submit`` callable to one :class:`sqlalchemy.engine.Engine`. Install and
uninstall are a matched pair; nothing is registered at import time and
nothing outside the engine is touched.

What is listened to, and why this level: the ORM's unit of work, its bulk
``UPDATE``/``DELETE`` and plain Core statements all reach the engine as
Core statements, so ``ConnectionEvents`` on the engine see every write
whatever issued it, with no session-level hooks needed.

* ``begin``: a fresh journal;
* ``before_execute`` / ``after_execute``: plan a DML statement on a
  published table, then record its keys;
* ``before_cursor_execute``: SQL text (``text()``, ``exec_driver_sql``)
  that writes a published table becomes a resync marker;
* ``rollback_savepoint`` / ``release_savepoint``; a new savepoint is
  seen through the dialect's ``do_savepoint``, wrapped for this engine
  only, because the ``savepoint`` event has no name yet for the
  savepoints SQLAlchemy names itself (``begin_nested()``);
* ``commit``: read back the rows no statement returned, and the stamp,
  before ``COMMIT``;
* ``rollback``: discard;
* the dialect's ``do_commit`` is wrapped for this engine only, because
  no event says that ``COMMIT`` succeeded: the prepared record is handed
  to ``submit`` only then.
"""

import functools
import logging
import re
import uuid

from oslo_db import exception as db_exc
from sqlalchemy import event
from sqlalchemy import exc as sa_exc
from sqlalchemy.sql import elements

from oslo_publish_tables.capture import clock
from oslo_publish_tables.capture import journal as journal_mod
from oslo_publish_tables.capture import planner
from oslo_publish_tables.capture import sqltext
from oslo_publish_tables.capture import statements
from oslo_publish_tables.capture import unique
from oslo_publish_tables import exceptions
from oslo_publish_tables.protocol import envelope
from oslo_publish_tables.protocol import records

LOG = logging.getLogger(__name__)

# Errors the database raised on our own queries, raw or as oslo.db
# translates them (DBDeadlock, ...): they are the service's, not ours.
_DATABASE_ERRORS = (sa_exc.DBAPIError, db_exc.DBError)

_JOURNAL = 'publish_tables.journal'
_DDL_SEEN = 'publish_tables.ddl'
# A statement that may change a table's shape (seen on this engine).
_DDL = re.compile(r'\s*(ALTER|DROP|CREATE|RENAME)\b', re.IGNORECASE)
_WORD = re.compile(r'[A-Za-z_][A-Za-z0-9_$]*')
_PENDING = 'publish_tables.pending'
_PLAN = 'publish_tables.plan'

# Reusable plans kept per engine (see EngineCapture._plan).
_PLANS_KEPT = 256


Draft = records.Draft


def _roll_back(conn):
    """End the transaction whose ``COMMIT`` our read-back failed.

    SQLAlchemy counts it as ended and returns the connection to the pool
    without a rollback: on PostgreSQL it would stay aborted, on MySQL
    hold the service's uncommitted writes and their locks.
    """
    try:
        conn.connection.dbapi_connection.rollback()
    except conn.dialect.loaded_dbapi.Error:
        pass  # a dead connection: the pool finds out on its next use


class EngineCapture(object):
    """Capture of committed changes on published tables of one engine."""

    def __init__(self, registry, submit, strict=False, clock_source=None):
        self.registry = registry
        self.submit = submit
        self.strict = strict
        self.clock_source = clock_source or 'database'
        # Durable mode sets an oslo_publish_tables.outbox.store.OutboxStore.
        self.outbox = None
        self.stats = {'statements': 0, 'transactions': 0, 'resyncs': 0,
                      'errors': 0, 'schema_changes': 0}
        # Set by install(), cleared by uninstall().
        self._engine = self._clock_sql = self._clock_column = None
        self._clock_returning = self._do_commit = self._do_savepoint = None
        self._text = sqltext.TextWrites(registry.names)
        # (id(clause), one parameter set, parameter names) ->
        # (clause, planned clause, reusable plan): see _plan.
        self._plans = {}
        self._multi_table = True

    # -- install / uninstall --------------------------------------------

    _EVENTS = ('begin', 'after_execute', 'before_cursor_execute',
               'rollback_savepoint', 'release_savepoint',
               'commit', 'rollback', 'handle_error')

    def install(self, engine):
        """Start capturing on ``engine``."""
        if self._engine is not None:
            raise exceptions.PublishTablesError('already installed')
        self._engine = engine
        # Only MySQL/MariaDB write several tables in one UPDATE.
        self._multi_table = engine.dialect.name in ('mysql', 'mariadb')
        self._clock_sql = clock.sql_for(engine.dialect.name,
                                        self.clock_source)
        self._clock_column = clock.column_for(engine.dialect.name,
                                              self.clock_source)
        self._clock_returning = clock.returning_column_for(
            engine.dialect.name, self.clock_source)
        self.registry.on_change = self._schema_changed
        event.listen(engine, 'before_execute', self._before_execute,
                     retval=True)
        for name in self._EVENTS:
            event.listen(engine, name, getattr(self, '_on_' + name))
        dialect = engine.dialect
        self._do_commit = dialect.do_commit
        dialect.do_commit = self._wrapped_do_commit
        self._do_savepoint = dialect.do_savepoint
        dialect.do_savepoint = self._wrapped_do_savepoint

    def uninstall(self):
        """Stop capturing; the engine is left exactly as it was."""
        engine = self._engine
        if engine is None:
            return
        event.remove(engine, 'before_execute', self._before_execute)
        for name in self._EVENTS:
            event.remove(engine, name, getattr(self, '_on_' + name))
        engine.dialect.__dict__.pop('do_commit', None)
        engine.dialect.__dict__.pop('do_savepoint', None)
        self.registry.on_change = None
        self._engine = None

    # -- helpers ----------------------------------------------------------

    def _journal(self, conn):
        info = conn.info
        journal = info.get(_JOURNAL)
        if journal is None:
            journal = info[_JOURNAL] = journal_mod.Journal()
        return journal

    def _failed(self, conn, tables, reason, exc=None):
        """Capture failed: resync marker, or raise in strict mode."""
        self.stats['errors'] += 1
        if self.strict:
            raise exceptions.CaptureError(reason) from exc
        LOG.warning('publish_tables: %s; consumers will resync %s',
                    reason, ', '.join(sorted(tables)))
        journal = self._journal(conn)
        journal.stamp = None  # a write we know nothing of came later
        for table in tables:
            journal.request_resync(table, reason)

    # -- statements -------------------------------------------------------

    def _on_begin(self, conn):
        conn.info[_JOURNAL] = journal_mod.Journal()
        conn.info.pop(_PENDING, None)
        conn.info.pop(_PLAN, None)

    def _before_execute(self, conn, clause, multiparams, params, options):
        if not getattr(clause, 'is_dml', False):
            return clause, multiparams, params
        try:
            planned = self._plan(conn, clause, multiparams, params)
        except _DATABASE_ERRORS:
            # The database failed our query (deadlock, lock timeout): the
            # transaction may already be rolled back (InnoDB) or aborted
            # (PostgreSQL). Swallowing it would let the service go on as
            # if it were alive; raise it as its own statement would have.
            raise
        except Exception as exc:  # capture must not break the service
            self._cannot_analyse(conn, self._targets(clause), exc)
            return clause, multiparams, params
        if planned is not None:
            clause = planned[0]
            conn.info[_PLAN] = planned
        return clause, multiparams, params

    def _plan(self, conn, clause, multiparams, params):
        """``(clause, plan, sets)`` or None: no published table written.

        A plan that holds nothing of one execution (see
        :attr:`.statements.Plan.reusable`) is kept with the clause it
        made, for the next execution of the same statement object (the
        ORM's unit of work reuses its ``UPDATE`` and ``DELETE``
        statements): planned once, and SQLAlchemy's cache key of the
        clause is computed once. A kept plan serves only while the
        tables it was made for keep their reflected shape (a schema
        change gives them a new one, :mod:`.reflection`).
        """
        lookup = functools.partial(self.registry.get, connection=conn)
        if lookup(getattr(clause.table, 'name', None)) is None and not (
                self._multi_table and clause.is_update):
            return None  # the common case of an unpublished table: cheap
        sets = statements.param_sets(multiparams, params)
        journal = conn.info.get(_JOURNAL)
        if journal is not None and journal.deferred:
            self._resolve_moved(conn, clause, sets, lookup, journal)
        ident = (id(clause), len(sets) == 1, tuple(sets[0]))
        known = self._plans.get(ident)
        if known is not None and known[0] is clause and all(
                lookup(name) is info for name, info in known[3]):
            return known[1], known[2], sets
        names = planner.write_targets(clause)
        shapes = tuple((name, lookup(name)) for name in names)
        if not any(info is not None for _, info in shapes):
            return None
        plan, planned = planner.plan(conn, clause, sets, names, lookup,
                                     self._clock_returning)
        if getattr(plan, 'reusable', False):
            if len(self._plans) >= _PLANS_KEPT:
                self._plans.clear()
            self._plans[ident] = (clause, planned, plan, shapes)
        return planned, plan, sets

    def _resolve_moved(self, conn, clause, sets, lookup, journal):
        """Pin pending unique-key entries this statement may move.

        See :mod:`.unique`: before a statement that may take a pending
        entry's unique key off its row, the entry gets the row's key.
        """
        for name in planner.write_targets(clause):
            if name in journal.deferred:
                info = lookup(name)
                if not unique.keeps_pending(clause, sets, info):
                    unique.resolve(conn, journal, info)

    def _targets(self, clause):
        """The published tables ``clause`` writes (all, if unknown)."""
        try:
            names = planner.write_targets(clause)
        except Exception:  # an odd clause: assume the worst
            return sorted(self.registry.names)
        return [n for n in names if n in self.registry] or \
            sorted(self.registry.names)

    def _cannot_analyse(self, conn, tables, exc):
        """Capture's own failure: a resync marker, never the caller's.

        The one boundary between the service's statements and the
        analysis: whatever the analysis raises (an :class:`Unanalysable`
        statement or a bug of ours) becomes a resync marker for the
        tables concerned; in strict mode, a
        :class:`~oslo_publish_tables.exceptions.CaptureError`.
        """
        if isinstance(exc, exceptions.CaptureError):
            raise exc
        if isinstance(exc, statements.Unanalysable):
            reason = str(exc)
        else:
            reason = 'cannot analyse a statement on %s: %s: %s' % (
                ', '.join(tables), type(exc).__name__, exc)
        self._failed(conn, tables, reason, exc)

    def _on_after_execute(self, conn, clause, multiparams, params, options,
                          result):
        pending = conn.info.pop(_PLAN, None)
        if pending is None or pending[0] is not clause:
            return
        _, plan, sets = pending
        self.stats['statements'] += 1
        try:
            plan.finish(result, self._journal(conn), sets)
        except Exception as exc:  # capture must not break the service
            self._cannot_analyse(conn, list(plan.tables), exc)

    def _on_before_cursor_execute(self, conn, cursor, statement, parameters,
                                  context, executemany):
        if _DDL.match(statement):
            self._ddl_seen(conn, statement)
            return
        compiled = context.compiled if context is not None else None
        if compiled is not None and not isinstance(
                compiled.statement, elements.TextClause):
            return
        try:
            tables = self._text.tables(statement)
        except Exception as exc:  # capture must not break the service
            self._cannot_analyse(conn, sorted(self.registry.names), exc)
            return
        if tables:
            self._failed(conn, tables, 'SQL text writes a published table '
                         '(%s)' % statement[:80])

    # -- schema changes ---------------------------------------------------

    def _ddl_seen(self, conn, statement):
        """A DDL statement names published tables: check them at COMMIT."""
        tables = set(_WORD.findall(statement)) & self.registry.names
        if tables:
            self.registry.forget(tables)
            conn.info.setdefault(_DDL_SEEN, set()).update(tables)

    def _on_handle_error(self, context):
        """A planned statement failed: its tables may have changed."""
        conn = context.connection
        if conn is None or conn.invalidated:
            return
        pending = conn.info.get(_PLAN)
        if pending is not None:
            self.registry.forget(pending[1].tables)

    def _check_after_ddl(self, conn):
        for table in sorted(conn.info.pop(_DDL_SEEN, ())):
            self.registry.get(table, conn)

    def _schema_changed(self, table, reason):
        """Consumers reload ``table`` (called by the registry)."""
        self.stats['schema_changes'] += 1
        LOG.warning('publish_tables: %s; consumers will reload table %s',
                    reason, table)
        self.submit(Draft.resync([table], reason))

    # -- transactions -----------------------------------------------------

    def _wrapped_do_savepoint(self, conn, name):
        self._guarded(conn, 'savepoint', name)
        self._do_savepoint(conn, name)

    def _guarded(self, conn, method, name):
        """Run a journal method; on a bug, resync its tables."""
        journal = self._journal(conn)
        try:
            getattr(journal, method)(name)
        except Exception as exc:  # capture must not break the service
            tables = {e.table for e in journal.entries} or \
                self.registry.names
            self._cannot_analyse(conn, sorted(tables), exc)

    # An invalidated connection (a disconnect) still gets the rollback
    # events, but touching its info would raise PendingRollbackError; its
    # journal is gone with it and the next begin starts a fresh one.

    def _on_rollback_savepoint(self, conn, name, context):
        if not conn.invalidated:
            self._guarded(conn, 'rollback_to', name)

    def _on_release_savepoint(self, conn, name, context):
        if not conn.invalidated:
            self._guarded(conn, 'release', name)

    def _on_rollback(self, conn):
        if conn.invalidated:
            return
        conn.info.pop(_JOURNAL, None)
        conn.info.pop(_PENDING, None)
        conn.info.pop(_PLAN, None)

    def _on_commit(self, conn):
        if _DDL_SEEN in conn.info:
            self._check_after_ddl(conn)
        journal = conn.info.pop(_JOURNAL, None)
        if not journal:
            return
        tables = set(journal.resync)
        try:
            changes, ts = self._build_changes(conn, journal)
            if ts is None:  # no row read back, or the local clock
                ts = clock.now(conn, self._clock_sql)
        except _DATABASE_ERRORS:
            # The transaction is broken: COMMIT must not pretend. A
            # migration may have changed the tables read back.
            self.registry.forget({e.table for e in journal.entries})
            _roll_back(conn)
            raise
        except Exception as exc:  # capture must not break the service
            tables.update(e.table for e in journal.entries)
            if self.strict:
                raise exceptions.CaptureError(
                    'cannot read back committed rows: %s' % exc) from exc
            self.stats['errors'] += 1
            LOG.warning('publish_tables: cannot read back rows before '
                        'COMMIT (%s); consumers will resync %s', exc,
                        ', '.join(sorted(tables)))
            self._set_pending(conn, [Draft.resync(tables, str(exc))])
            return
        drafts = []
        if changes:
            drafts.append(Draft('txn', ts, uuid.uuid4().hex, changes))
        if tables:
            drafts.append(Draft('resync', ts, tables=sorted(tables),
                                reason='; '.join(journal.resync.values())))
        self._set_pending(conn, drafts)

    def _set_pending(self, conn, drafts):
        # Durable mode: the records go into the outbox in this same
        # transaction, before COMMIT (see oslo_publish_tables.outbox).
        if self.outbox is not None:
            drafts = self.outbox.write(conn, drafts)
        conn.info[_PENDING] = drafts

    def _wrapped_do_commit(self, dbapi_connection):
        drafts = dbapi_connection.info.pop(_PENDING, None)
        try:
            self._do_commit(dbapi_connection)
        except BaseException:
            if drafts:
                tables = set()
                for draft in drafts:
                    tables.update(draft.tables)
                    tables.update(c.table for c in draft.changes)
                self.stats['resyncs'] += 1
                self.submit(Draft.resync(tables, 'COMMIT failed; outcome '
                                         'unknown'))
            raise
        if drafts:
            self.stats['transactions'] += 1
            for draft in drafts:
                if draft.kind == 'resync':
                    self.stats['resyncs'] += 1
                self.submit(draft)

    def _read_pending(self, conn, journal):
        """Rows of the entries pending under a unique key, and a stamp.

        Returns ``({table: {key: row}}, stamp or None)``; the entries
        are resolved (see :func:`.unique.read_pending`).
        """
        known, ts = {}, None
        for table in sorted(journal.deferred):
            info = self.registry.get(table, conn)
            known[table], stamp = unique.read_pending(
                conn, journal, info, self._clock_column)
            if stamp is not None:
                ts = int(stamp)
        return known, ts

    def _build_changes(self, conn, journal):
        """The changes and their stamp; reads back what was not returned.

        A key's image is the row its last statement returned; a key
        whose last statement returned none is read back, and the stamp
        comes with it (one round trip per table; rows updated by a unique
        key are read back by it first, :mod:`.unique`): every read-back runs
        after the transaction's last write, so the clock column of any of
        them is a valid stamp; the last one read is kept. Without a
        read-back, the stamp is the clock the last write statement
        returned (:attr:`.Journal.stamp`), if it did. A key whose last
        statement deleted it is not read back: it is gone. A row read back
        under a key nobody asked for (a collation matched it) is
        published as it is. Returns
        ``(changes, stamp or None)``.
        """
        changes, ts = [], journal.stamp
        if ts is not None:
            ts = int(ts)
        known, stamp = self._read_pending(conn, journal)
        if stamp is not None:
            ts = stamp
        last_op = {(e.table, e.key): e.op for e in journal.entries}
        for table, nets in journal.fold().items():
            info = self.registry.get(table, conn)
            rows = known.get(table, {})
            keys = [k for k, net in nets.items()
                    if last_op[table, k] != 'delete' and net.image is None
                    and k not in rows]
            if keys:
                more, stamp = statements.read_rows(conn, info, keys,
                                                   self._clock_column)
                rows = {**rows, **more}
                if stamp is not None:
                    ts = int(stamp)
            for key, net in nets.items():
                pk = dict(zip(info.pk_names, key))
                row = None
                if last_op[table, key] != 'delete':
                    row = net.image if net.image is not None \
                        else rows.get(key)
                if row is not None:
                    op = 'insert' if net.first_op == 'insert' else 'update'
                    changes.append(envelope.Change(
                        table, op, pk, info.image(row),
                        sorted(net.changed)))
                elif net.first_op != 'insert':
                    before = net.before or pk
                    changes.append(envelope.Change(
                        table, 'delete', pk,
                        {k: v for k, v in before.items()
                         if k not in info.excluded}, ()))
            # A key asked for as a statement spelt it ('ABC') may be the
            # database's 'abc' (collations): publish the row as it is.
            for key in rows.keys() - nets.keys():
                changes.append(envelope.Change(
                    table, 'update', dict(zip(info.pk_names, key)),
                    info.image(rows[key]), sorted(c.name
                                                  for c in info.columns)))
        return changes, ts
