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

:meth:`LazyRegistry.forget` drops a table's reflection so that its next
use reflects it again (after a schema change).
"""

import logging
import threading

import sqlalchemy as sa
from sqlalchemy import exc as sa_exc

from oslo_publish_tables.capture import tables as tables_mod

LOG = logging.getLogger(__name__)


class LazyRegistry(object):
    """The published tables of one engine, each reflected on first use.

    ``tables`` and ``exclude_columns`` are the options; their form is
    validated now (:class:`~oslo_publish_tables.exceptions.ConfigError`),
    their columns when each table is reflected.
    """

    def __init__(self, engine, tables, exclude_columns=()):
        names, self._excluded = tables_mod._configured(tables,
                                                       exclude_columns)
        self._names = frozenset(names)
        self._engine = engine
        self._infos = {}
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
        the database. ``connection`` reflects it if needed; without one,
        a connection of the engine's own is used (outside any
        transaction of the service only: tools and tests).
        """
        info = self._infos.get(name)
        if info is not None or name not in self._names:
            return info
        if connection is not None:
            return self._reflect(connection, name)
        with self._engine.connect() as own:
            return self._reflect(own, name)

    def _reflect(self, connection, name):
        # No lock while reflecting: a reflection waiting on a database
        # lock must not hold up the other tables' statements.
        try:
            info = tables_mod._reflect_one(connection, name,
                                           self._excluded.get(name, ()))
        except sa_exc.NoSuchTableError:
            self._note_missing(name)
            return None
        with self._lock:
            if name in self._missing:
                self._missing.discard(name)
                LOG.info('publish_tables: table %s exists now; publishing '
                         'its changes', name)
            return self._infos.setdefault(name, info)

    def warn_missing(self, connection):
        """Warn of each configured table the database does not have."""
        existing = set(sa.inspect(connection).get_table_names())
        for name in sorted(self._names - existing):
            self._note_missing(name)

    def _note_missing(self, name):
        with self._lock:
            if name in self._missing:
                return
            self._missing.add(name)
        LOG.warning('publish_tables: table %s is listed in [publish_tables] '
                    'tables but does not exist in the database (yet); its '
                    'changes are published once it exists', name)

    def forget(self, names):
        """Reflect ``names`` again on their next use."""
        with self._lock:
            for name in names:
                self._infos.pop(name, None)
