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

"""Base class of Congress-style data source drivers.

A driver declares its tables with translators (see
:mod:`congress_consumer.datasources.translators`) and keeps the current
content of each table in ``state`` (``{table: set of row tuples}``)::

    class FlavorDriver(DataSourceDriver):
        DRIVER_INFO = {'id': 'flavors', 'description': 'Compute flavors',
                       'config': {'auth_url': 'required',
                                  'poll_time': 'optional'}}
        TRANSLATORS = [flavors_translator]

    FlavorDriver.get_schema()        # {'flavors': ({'name': 'id', ...},)}
    driver = FlavorDriver('flavors', {'auth_url': 'http://keystone'})
    driver.subscribe(lambda table, to_add, to_del: ...)
    driver.publish('flavors', driver.convert_objs(objs, flavors_translator))

``publish(table, data)`` replaces a table and hands the difference,
``(table, to_add, to_del)``, to every subscriber; nothing is sent when the
table did not change.  Subclasses normally do not call it directly: use
:class:`~congress_consumer.datasources.polling.PollingDataSourceDriver` or
:class:`~congress_consumer.datasources.pushed.PushedDataSourceDriver`.

``get_schema``, ``get_tablenames``, ``get_translators`` and
``get_column_names`` work on the class (``TRANSLATORS`` only) and on an
instance (which also knows translators added by ``register_translator``).
All state changes happen under ``self._lock``, a re-entrant lock.
"""

import copy
import datetime
import threading
import types

from oslo_log import log as logging

from congress_consumer.datasources import conversion
from congress_consumer.datasources import translators
from congress_consumer.datasources import validation
from congress_consumer import exceptions

LOG = logging.getLogger(__name__)


class classorinstancemethod(object):
    """Decorator: bind to the instance when there is one, else the class."""

    def __init__(self, func):
        self.__func__ = func
        self.__doc__ = func.__doc__

    def __get__(self, obj, objtype=None):
        return types.MethodType(self.__func__,
                                objtype if obj is None else obj)


def _now():
    return datetime.datetime.now(datetime.timezone.utc)


class DataSourceDriver(translators.TranslatorConstants):
    """Keeps translated tables and publishes their changes."""

    TRANSLATORS = []
    DRIVER_INFO = {'id': None, 'description': '', 'config': {},
                   'secret': []}

    def __init__(self, name='', args=None):
        self.name = name
        self.args = dict(args or {})
        self.state = {}
        self.last_updated_time = None
        self.last_error = None
        self.number_of_updates = 0
        self.initialized = False
        self._lock = threading.RLock()
        self._subscribers = []
        self._subscriber_counts = []  # callables: more subscribers
        self._translators = []
        self._schema = {}
        self._table_deps = {}
        self.check_config(self.args)
        for translator in self.TRANSLATORS:
            self.register_translator(translator)

    # -- description of the driver ---------------------------------------

    @classmethod
    def get_datasource_info(cls):
        """Return ``{'id', 'description', 'config', 'secret'}``.

        ``config`` maps option names to ``'required'`` or ``'optional'``.
        ``id`` defaults to the lower-cased class name.
        """
        info = copy.deepcopy(cls.DRIVER_INFO)
        info.setdefault('config', {})
        info.setdefault('secret', [])
        info.setdefault('description', '')
        if not info.get('id'):
            info['id'] = cls.__name__.lower()
        return info

    @classmethod
    def check_config(cls, args):
        """Raise InvalidParamError if a required config option is absent."""
        config = cls.get_datasource_info()['config']
        for option, need in sorted(config.items()):
            if need == 'required' and args.get(option) is None:
                raise exceptions.InvalidParamError(
                    param=option, reason='required by driver %s'
                    % cls.get_datasource_info()['id'])

    @classorinstancemethod
    def get_translators(self_or_cls):
        """Return the list of top-level translators."""
        if isinstance(self_or_cls, type):
            return list(self_or_cls.TRANSLATORS)
        return list(self_or_cls._translators)

    @classorinstancemethod
    def get_schema(self_or_cls):
        """Return ``{table: ({'name': ..., 'desc': ...}, ...)}``."""
        if isinstance(self_or_cls, type):
            return validation.get_schema(self_or_cls.TRANSLATORS)
        return dict(self_or_cls._schema)

    @classorinstancemethod
    def get_tablenames(self_or_cls):
        """Return the set of all table names, sub-tables included."""
        return set(self_or_cls.get_schema())

    @classorinstancemethod
    def get_column_names(self_or_cls, table):
        """Return the tuple of column names of ``table``."""
        schema = self_or_cls.get_schema()
        if table not in schema:
            raise exceptions.UnknownTableError(
                table=table, datasource=getattr(self_or_cls, 'name', ''))
        return tuple(column['name'] for column in schema[table])

    def get_translator(self, table):
        """Return the registered top-level translator of ``table``."""
        for translator in self._translators:
            if translator[self.TABLE_NAME] == table:
                return translator
        raise exceptions.UnknownTableError(table=table, datasource=self.name)

    def get_table_deps(self):
        """Map each top-level table to all the tables its translator fills."""
        return {table: list(deps) for table, deps in self._table_deps.items()}

    def register_translator(self, translator):
        """Validate ``translator`` and add its tables to the schema.

        :raises InvalidTranslatorError: if it is invalid or one of its
            tables is already registered.
        """
        schema = validation.get_schema([translator])
        with self._lock:
            clash = sorted(set(schema) & set(self._schema))
            if clash:
                raise exceptions.InvalidTranslatorError(
                    'table(s) %s already registered in %s' % (
                        clash, self.name), reason='duplicate table')
            self._translators.append(translator)
            self._schema.update(schema)
            self._table_deps[translator[self.TABLE_NAME]] = (
                translators.get_tables(translator))

    def replace_translator(self, translator):
        """Put ``translator`` in place of the one of the same table.

        The table's schema becomes the new translator's (a table whose
        columns changed); a table not registered yet is registered.

        :raises InvalidTranslatorError: if it is invalid, or one of its
            sub-tables belongs to another translator.
        """
        table = translator[self.TABLE_NAME]
        with self._lock:
            old = [t for t in self._translators if t[self.TABLE_NAME] == table]
            if not old:
                return self.register_translator(translator)
            schema = validation.get_schema([translator])
            before = validation.get_schema(old)
            clash = sorted(set(schema) & (set(self._schema) - set(before)))
            if clash:
                raise exceptions.InvalidTranslatorError(
                    'table(s) %s already registered in %s' % (
                        clash, self.name), reason='duplicate table')
            self._translators[self._translators.index(old[0])] = translator
            for name in before:
                del self._schema[name]
            self._schema.update(schema)
            self._table_deps[table] = translators.get_tables(translator)

    @staticmethod
    def convert_objs(objs, translator):
        """Translate objects; see :func:`conversion.convert_objs`."""
        return conversion.convert_objs(objs, translator)

    # -- reading state -----------------------------------------------------

    def _check_table(self, table):
        if table not in self._schema:
            raise exceptions.UnknownTableError(table=table,
                                               datasource=self.name)

    def get_snapshot(self, table_id):
        """Return a copy of the rows of ``table_id`` as a set of tuples."""
        self._check_table(table_id)
        with self._lock:
            return set(self.state.get(table_id, ()))

    def get_row_data(self, table_id, *args, **kwargs):
        """Return ``[{'data': row_tuple}, ...]``, sorted for stable output."""
        rows = sorted(self.get_snapshot(table_id), key=repr)
        return [{'data': row} for row in rows]

    def get_status(self):
        """Return a dict summarising the driver's health."""
        last = self.last_updated_time
        return {'name': self.name,
                'initialized': self.initialized,
                'last_updated': last.isoformat() if last else None,
                'number_of_updates': self.number_of_updates,
                'last_error': self.last_error,
                'subscribers': len(self._subscribers) + sum(
                    count() for count in list(self._subscriber_counts))}

    # -- changing state and publishing -------------------------------------

    def update_from_datasource(self):
        """Refresh ``self.state`` from the data source (subclass hook)."""
        raise NotImplementedError(
            '%s must implement update_from_datasource()'
            % type(self).__name__)

    def _update_state(self, table, new_rows):
        """Replace a table's rows; return the ``(to_add, to_del)`` diff."""
        new = set(new_rows)
        with self._lock:
            old = self.state.get(table, set())
            self.state[table] = new
            return new - old, old - new

    def _mark_updated(self):
        self.last_updated_time = _now()
        self.number_of_updates += 1
        self.last_error = None

    def add_subscriber_count(self, count):
        """Add ``count()`` to the ``subscribers`` of :meth:`get_status`.

        For components that serve this driver's tables to subscribers
        of their own (filtered subscriptions, republishing); remove it
        with :meth:`remove_subscriber_count`.
        """
        self._subscriber_counts.append(count)

    def remove_subscriber_count(self, count):
        if count in self._subscriber_counts:
            self._subscriber_counts.remove(count)

    def subscribe(self, callback):
        """Call ``callback(table, to_add, to_del)`` on every change."""
        with self._lock:
            self._subscribers.append(callback)
        return callback

    def unsubscribe(self, callback):
        """Stop calling ``callback``; unknown callbacks are ignored."""
        with self._lock:
            if callback in self._subscribers:
                self._subscribers.remove(callback)

    def publish(self, table, data):
        """Set ``table`` to ``data`` (row tuples) and publish the diff.

        :returns: the ``(to_add, to_del)`` sets actually published.
        """
        with self._lock:
            to_add, to_del = self._update_state(table, data)
            self.publish_diff(table, to_add, to_del)
            return to_add, to_del

    def publish_diff(self, table, to_add, to_del):
        """Hand a diff to the subscribers; empty diffs are not sent.

        Subscribers are called in registration order while the state lock
        is held, so they see diffs in the order they were made.  A failing
        subscriber is logged and does not stop the others.
        """
        if not to_add and not to_del:
            return
        to_add, to_del = frozenset(to_add), frozenset(to_del)
        with self._lock:
            for callback in list(self._subscribers):
                try:
                    callback(table, to_add, to_del)
                except Exception:
                    LOG.exception('Subscriber %r of %s failed on table %s',
                                  callback, self.name, table)
