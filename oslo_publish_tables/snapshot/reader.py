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

"""A consistent, fenced snapshot of one table (see sync-protocol).

:func:`open_snapshot` takes the fence, starts a consistent read, reads the
snapshot stamp ``S`` from the database clock and releases the fence; rows
are then streamed in chunks with :meth:`TableSnapshot.fetch`. Every change
stamped ``<= S`` is in the snapshot and every change stamped ``> S`` is
not. The fence is a share lock held for a few milliseconds:

* PostgreSQL: ``LOCK TABLE t IN SHARE MODE`` on a second connection,
  released right after ``REPEATABLE READ`` has taken its snapshot;
* MySQL/MariaDB: ``LOCK TABLES t READ`` on a second connection, released
  right after ``START TRANSACTION WITH CONSISTENT SNAPSHOT``;
* SQLite: ``BEGIN IMMEDIATE`` on a second connection; rows are read in
  full at once (SQLite tables are small; no read transaction stays open).

The lock waits for transactions that have already written the table,
for at most ``lock_timeout`` seconds.

With ``outbox=True`` (durable mode) the snapshot also reads, under the
fence, the highest outbox id allocated (``outbox_id``): it contains
exactly the records of this table whose outbox id is ``<= outbox_id``,
a rule that needs no clock (see the durable mode guide).
"""

import functools
import logging
import time

import sqlalchemy as sa

from oslo_publish_tables.capture import clock
from oslo_publish_tables import exceptions
from oslo_publish_tables.outbox import attached
from oslo_publish_tables.outbox import store as outbox_store

LOG = logging.getLogger(__name__)


class TableSnapshot(object):
    """An open snapshot: its stamp and a cursor over its rows."""

    def __init__(self, info, ts, connection, result, rows=None, keys=None):
        self.info = info
        self.ts = ts
        self.columns = [c.name for c in info.columns]
        self.pk_names = list(info.pk_names)
        self._connection = connection
        self._result = result
        self._rows = rows
        self._next = 0
        # The names of the values of each row, as Row._mapping has them.
        self.keys = list(keys if result is None else result.keys())
        self.fence_seconds = 0.0
        self.outbox_id = None  # outbox high-water mark (durable mode)

    def fetch(self, max_rows):
        """Return up to ``max_rows`` rows (dicts); [] when exhausted."""
        keys = self.keys
        return [dict(zip(keys, values))
                for values in self.fetch_values(max_rows)]

    def fetch_values(self, max_rows):
        """Like :meth:`fetch`, each row a sequence in :attr:`keys` order."""
        if self._rows is not None:
            start, end = self._next, self._next + max_rows
            chunk = self._rows[start:end]
            # Drop the references as we go instead of copying the rest.
            self._rows[start:end] = [None] * len(chunk)
            self._next = end
            return chunk
        if self._result is None:
            return []
        rows = self._result.fetchmany(max_rows)
        if not rows:
            self.close()
        return rows

    def close(self):
        """End the read transaction and return the connection."""
        result, connection = self._result, self._connection
        self._result = self._connection = None
        self._rows = None
        if result is not None:
            result.close()
        if connection is not None:
            connection.close()


def _quote(engine, info):
    return engine.dialect.identifier_preparer.format_table(info.table)


def open_snapshot(engine, info, lock_timeout=10.0, outbox=False,
                  outbox_schema=None):
    """Fence ``info``'s table and open a consistent snapshot of it.

    ``outbox_schema``: where the outbox is (``[publish_tables]
    outbox_schema``), whose high-water mark the snapshot reads.
    """
    name = engine.dialect.name
    opener = {'postgresql': _open_postgresql, 'mysql': _open_mysql,
              'mariadb': _open_mysql,
              'sqlite': functools.partial(
                  _open_sqlite, outbox_schema=outbox_schema if outbox
                  else None)}.get(name)
    if opener is None:
        raise exceptions.SnapshotError('snapshots of %s databases are not '
                                       'supported' % name)
    started = time.monotonic()
    try:
        mark = (functools.partial(outbox_store.high_water,
                                  schema_name=outbox_schema)
                if outbox else None)
        snapshot = opener(engine, info, lock_timeout, mark)
    except sa.exc.DBAPIError as exc:
        raise exceptions.SnapshotError(
            'cannot snapshot %s: %s' % (info.name, exc.orig)) from exc
    snapshot.fence_seconds = time.monotonic() - started
    return snapshot


def _select(info):
    return sa.select(*info.columns)


def _stream(engine, info, begin_sql):
    """Second connection: consistent read, clock, then a row cursor."""
    conn = engine.connect().execution_options(
        isolation_level='REPEATABLE READ', stream_results=True)
    if begin_sql:
        conn.exec_driver_sql(begin_sql)
    return conn


def _streamed(info, ts, conn, mark):
    """The snapshot whose rows ``conn`` streams from now on."""
    snapshot = TableSnapshot(info, ts, conn, conn.execute(_select(info)))
    snapshot.outbox_id = mark
    return snapshot


def _high_water(conn, mark):
    return mark(conn) if mark is not None else None


def _open_postgresql(engine, info, lock_timeout, outbox):
    fence = engine.connect()
    try:
        fence.exec_driver_sql("SET LOCAL lock_timeout = '%dms'"
                              % int(lock_timeout * 1000))
        fence.exec_driver_sql('LOCK TABLE %s IN SHARE MODE'
                              % _quote(engine, info))
        conn = _stream(engine, info, None)
        ts = clock.now(conn, clock.sql_for('postgresql'))
        mark = _high_water(conn, outbox)
    finally:
        fence.rollback()
        fence.close()
    return _streamed(info, ts, conn, mark)


def _open_mysql(engine, info, lock_timeout, outbox):
    fence = engine.connect()
    try:
        fence.exec_driver_sql('SET SESSION lock_wait_timeout = %d'
                              % max(1, int(lock_timeout)))
        fence.exec_driver_sql('LOCK TABLES %s READ' % _quote(engine, info))
        try:
            conn = _stream(engine, info,
                           'START TRANSACTION WITH CONSISTENT SNAPSHOT')
            ts = clock.now(conn, clock.sql_for(engine.dialect.name))
            mark = _high_water(conn, outbox)
        finally:
            fence.exec_driver_sql('UNLOCK TABLES')
    finally:
        fence.close()
    return _streamed(info, ts, conn, mark)


def _open_sqlite(engine, info, lock_timeout, outbox, outbox_schema=None):
    """A snapshot under a ``BEGIN IMMEDIATE`` fence.

    ``outbox_schema``: the attached outbox database, read but not
    fenced (the service's transactions write it with the fenced table).
    """
    fence = engine.raw_connection()
    try:
        raw = fence.driver_connection
        saved = raw.isolation_level
        raw.isolation_level = None
        try:
            raw.execute('PRAGMA busy_timeout = %d' % int(lock_timeout * 1000))
            raw.execute('BEGIN IMMEDIATE')
            with engine.connect() as conn:
                attached.attach(conn, outbox_schema)
                ts = clock.local_now()
                result = conn.execute(_select(info))
                keys = list(result.keys())
                rows = [tuple(r) for r in result]
                mark = _high_water(conn, outbox)
                conn.rollback()
            raw.execute('ROLLBACK')
        finally:
            raw.isolation_level = saved
    finally:
        fence.close()
    snapshot = TableSnapshot(info, ts, None, None, rows=rows, keys=keys)
    snapshot.outbox_id = mark
    return snapshot
