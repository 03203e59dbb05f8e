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

"""SQLite: the outbox in an attached database (``outbox_schema``).

SQLite has no schemas; a database file attached to a connection
(``ATTACH DATABASE file AS name``) is addressed as one
(``name.publish_tables_outbox``), and a transaction that writes the main
database and an attached one commits both or neither, through a
super-journal, unless a database is in WAL mode, where each file
commits on its own. So with ``[publish_tables] outbox_schema = NAME``
on SQLite:

* the outbox lives in the file ``<main database file>-NAME`` beside the
  main one (:func:`path`), attached as ``NAME``; for an in-memory main
  database, in an in-memory database attached as ``NAME``, which lives
  as long as the connection and is therefore born with the outbox and
  its version table, at the latest revision (:data:`.schema.HEAD`);
* every connection that uses the outbox attaches it first
  (:func:`attach`, idempotent, once per database connection): the
  plugin's listener on each connection of the service's engine
  (:func:`listen` / :func:`unlisten`, a matched pair), and the others
  (``db_sync``, the sender's deletes, the relay, snapshots) on the
  connections they open;
* a database in WAL mode (the main one or the attached one) is refused
  with a :class:`~oslo_publish_tables.exceptions.ConfigError` naming
  the option, when a connection attaches it.

Elsewhere (PostgreSQL, MySQL/MariaDB) everything here does nothing.
"""

import threading

import sqlalchemy as sa
from sqlalchemy.dialects import sqlite as sqlite_dialect
from sqlalchemy import event

from oslo_publish_tables import exceptions
from oslo_publish_tables.outbox import schema

_INFO = 'publish_tables.attached'  # connection record info: names attached
_MEMORY = ':memory:'

_lock = threading.Lock()
_listening = {}  # (engine, name) -> [listener, count]
_ddl = {}  # name -> DDL statements of an in-memory outbox


def applies(engine_or_connection, name):
    """Whether ``name`` is an attached database here (SQLite, set)."""
    return bool(name) and engine_or_connection.dialect.name == 'sqlite'


def path(main_file, name):
    """The attached database's file for main file ``main_file``."""
    if not main_file:
        return _MEMORY
    return '%s-%s' % (main_file, name)


def _databases(cursor):
    return {row[1]: row[2] for row in cursor.execute(
        'PRAGMA database_list').fetchall()}


def _refuse_wal(cursor, name):
    for database in ('main', name):
        mode = cursor.execute('PRAGMA "%s".journal_mode'
                              % database).fetchone()[0]
        if str(mode).lower() == 'wal':
            raise exceptions.ConfigError(
                schema.OPTION, name,
                'the SQLite database %s is in WAL mode, where an attached '
                'database commits on its own, not atomically with the '
                'main one; use another journal mode (DELETE, TRUNCATE, '
                'PERSIST) or leave %s unset' % (database, schema.OPTION))


def ddl(name=None):
    """SQLite statements creating the outbox of ``schema.HEAD`` in ``name``.

    The outbox table, its index and its version table (stamped), as the
    migrations make them; for an in-memory database, which no
    ``db_sync`` can reach (``name`` None: the main database).
    """
    found = _ddl.get(name)
    if found is None:
        dialect = sqlite_dialect.dialect()
        table = schema.table(name)
        version = schema.version_table(name)
        statements = [str(sa.schema.CreateTable(table).compile(
            dialect=dialect))]
        statements += [str(sa.schema.CreateIndex(index).compile(
            dialect=dialect)) for index in table.indexes]
        statements.append(str(sa.schema.CreateTable(version).compile(
            dialect=dialect)))
        statements.append("INSERT INTO %s%s (version_num) VALUES ('%s')" % (
            '"%s".' % name if name else '', schema.VERSION_TABLE,
            schema.HEAD))
        found = _ddl[name] = statements
    return found


def attach_dbapi(dbapi_connection, name):
    """Attach ``name`` to a sqlite3 connection unless it is (see module).

    Raises ConfigError in WAL mode.
    """
    schema.check_name(name, 'sqlite')
    cursor = dbapi_connection.cursor()
    try:
        databases = _databases(cursor)
        if name not in databases:
            target = path(databases.get('main'), name)
            cursor.execute('ATTACH DATABASE ? AS "%s"' % name, (target,))
            if target == _MEMORY:
                for statement in ddl(name):
                    cursor.execute(statement)
                # The sqlite3 module began a transaction at the INSERT:
                # there was none before (no ATTACH inside one).
                dbapi_connection.commit()
        _refuse_wal(cursor, name)
    finally:
        cursor.close()


def _attach_once(dbapi_connection, info, name):
    """``info``: the pool's dict of this database connection."""
    attached = info.get(_INFO)
    if attached is not None and name in attached:
        return
    attach_dbapi(dbapi_connection, name)
    info.setdefault(_INFO, set()).add(name)


def attach(connection, name):
    """Attach ``name`` on SQLAlchemy ``connection`` (once; see module).

    Call it before the connection's transaction begins: SQLite cannot
    attach a database inside one. Does nothing unless SQLite and
    ``name``.
    """
    if not applies(connection, name):
        return
    fairy = connection.connection
    _attach_once(fairy.dbapi_connection, fairy.info, name)


def listen(engine, name):
    """Attach ``name`` on every connection ``engine`` checks out.

    Counted per engine and name: each call needs its :func:`unlisten`.
    """
    if not applies(engine, name):
        return
    key = (engine, name)
    with _lock:
        entry = _listening.get(key)
        if entry is not None:
            entry[1] += 1
            return

        def on_checkout(dbapi_connection, record, proxy):
            _attach_once(dbapi_connection, record.info, name)

        _listening[key] = [on_checkout, 1]
    event.listen(engine, 'checkout', on_checkout)


def unlisten(engine, name):
    """Undo one :func:`listen` (attached connections stay attached)."""
    if not applies(engine, name):
        return
    key = (engine, name)
    with _lock:
        entry = _listening.get(key)
        if entry is None:
            return
        entry[1] -= 1
        if entry[1] > 0:
            return
        del _listening[key]
    event.remove(engine, 'checkout', entry[0])


def listening(engine, name):
    """Whether :func:`listen` is in force on ``engine`` for ``name``."""
    return (engine, name) in _listening
