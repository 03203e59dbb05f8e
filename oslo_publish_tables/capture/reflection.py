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

"""Published tables reflected on first use, not at engine creation.

The capture of an engine knows the configured names from the start and
reflects a table the first time a statement writes it, on that
statement's own connection (inside its transaction: never a second
connection, which SQLite's single writer and small pools would not
allow). Creating an engine therefore needs no table, and a service's
schema tooling (``nova-manage db sync``, alembic) runs with the plugin
on: a configured table that does not exist yet is not published, with
one warning naming it, until it exists.

:meth:`LazyRegistry.forget` (a DDL statement or a failed statement
seen on the engine) and ``schema_check_interval`` make a table's next
write check it again: a new shape, or a table dropped and created again,
is reported so that its consumers reload it.
"""

import contextlib
import logging
import threading
import time

from sqlalchemy import exc as sa_exc

from oslo_publish_tables.capture import tables as tables_mod

LOG = logging.getLogger(__name__)


@contextlib.contextmanager
def _keeping_options(connection):
    """Reflect on the service's connection and leave it as it was.

    SQLAlchemy's MySQL reflection sets ``skip_user_error_events`` on the
    connection it is given, for good: the service's later errors on it
    would skip oslo.db's translation (``DBDuplicateEntry``...).
    """
    options = connection._execution_options
    try:
        yield
    finally:
        connection._execution_options = options


class LazyRegistry(object):
    """The published tables of one engine, each reflected on first use.

    ``tables`` and ``exclude_columns`` are the options; their form is
    validated now (:class:`~oslo_publish_tables.exceptions.ConfigError`),
    their columns when each table is reflected. A reflected table is
    checked again on a write at most every ``check_interval`` seconds
    (None: never), and on its next write after :meth:`forget`; when its
    shape (:attr:`.TableInfo.fingerprint`) changed, or it was dropped and
    created again, ``on_change(name, reason)`` is called.
    """

    def __init__(self, engine, tables, exclude_columns=(),
                 check_interval=None):
        names, self._excluded = tables_mod._configured(tables,
                                                       exclude_columns)
        self._names = frozenset(names)
        self._engine = engine
        self.check_interval = check_interval
        self.on_change = None
        self._infos = {}
        self._checked = {}  # name -> monotonic time of the last check
        self._stale = set()
        self._known = {}  # name -> last fingerprint, kept while missing
        self._missing = set()
        self._lock = threading.Lock()

    def __contains__(self, name):
        return name in self._names

    @property
    def names(self):
        return self._names

    @property
    def reflected(self):
        """The names of the tables reflected so far."""
        return frozenset(self._infos)

    def get(self, name, connection=None):
        """The :class:`~.tables.TableInfo` of ``name``, or None.

        None for a table not configured, or configured but missing from
        the database. ``connection`` reflects it if needed (and checks
        it when due); without one, a connection of the engine's own
        reflects a table never reflected (outside any transaction of the
        service only: tools and tests).
        """
        info = self._infos.get(name)
        if info is not None:
            if connection is None or not self._due(name):
                return info
            if self._unchanged(connection, info):
                return info
            return self._reflect(connection, name)
        if name not in self._names:
            return None
        if connection is not None:
            return self._reflect(connection, name)
        with self._engine.connect() as own:
            return self._reflect(own, name)

    def _due(self, name):
        if name in self._stale:
            return True
        if self.check_interval is None:
            return False
        return (time.monotonic() - self._checked.get(name, 0.0)
                >= self.check_interval)

    def _unchanged(self, connection, info):
        """The periodic check: one query, a reflection only if it differs."""
        if info.name in self._stale:
            return False
        now = time.monotonic()
        if tables_mod.signature(connection, info.name) != info.signature:
            return False
        self._checked[info.name] = now
        return True

    def _reflect(self, connection, name):
        # No lock while reflecting: a reflection waiting on a database
        # lock must not hold up the other tables' statements.
        now = time.monotonic()
        try:
            with _keeping_options(connection):
                info = tables_mod._reflect_one(
                    connection, name, self._excluded.get(name, ()),
                    again=name in self._known)
        except sa_exc.NoSuchTableError:
            self._note_missing(name)
            return None
        with self._lock:
            self._stale.discard(name)
            self._checked[name] = now
            old = self._infos.get(name)
            self._infos[name] = info
            reason = self._change(name, old, info)
        if reason and self.on_change is not None:
            self.on_change(name, reason)
        return info

    def _change(self, name, old, info):
        """Why ``name``'s consumers must reload it, or None (locked)."""
        known = self._known.get(name)
        self._known[name] = (info.fingerprint, info.signature)
        reason = None
        if name in self._missing:
            self._missing.discard(name)
            LOG.info('publish_tables: table %s exists now; publishing '
                     'its changes', name)
            if known is not None:
                reason = 'table %s was dropped and created again' % name
        elif known is None:
            pass
        elif known[0] != info.fingerprint:
            reason = 'the columns of table %s changed' % name
        elif known[1] != info.signature:
            reason = 'table %s was created again (or, on SQLite, the ' \
                'schema changed)' % name
        return reason

    def warn_missing(self, connection, existing=None):
        """Warn of each configured table the database does not have.

        ``existing``: the table names, if the caller listed them
        (:func:`.tables.existing_tables`).
        """
        if existing is None:
            with _keeping_options(connection):
                existing = tables_mod.existing_tables(connection)
        for name in sorted(self._names - existing):
            self._note_missing(name)

    def _note_missing(self, name):
        with self._lock:
            self._infos.pop(name, None)
            if name in self._missing:
                return
            self._missing.add(name)
        LOG.warning('publish_tables: table %s is listed in [publish_tables] '
                    'tables but does not exist in the database (yet); its '
                    'changes are published once it exists', name)

    def forget(self, names):
        """Check ``names`` against the database on their next write."""
        with self._lock:
            self._stale.update(n for n in names if n in self._names)
