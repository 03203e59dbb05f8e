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

"""Run the ``publish_tables`` datasource inside OpenStack Congress.

Congress (DSE2) runs every datasource as a
``congress.dse2.data_service.DataService`` on a ``DseNode``. It finds
drivers through the ``congress.datasource.drivers`` entry point and
creates one with ``plugin(name=..., args=config)``. The plugins are the
classes of :data:`DRIVERS`, thin ``DataService`` classes around our
drivers: :class:`PublishTablesDataSource` around a
:class:`~congress_consumer.replication.driver.PublishTablesDriver`,
and ``HttpPushDataSource``, ``NotificationDataSource``,
``SqlPollingDataSource`` and ``RpcActionDataSource``. Installing this
distribution next to Congress is enough::

    $ openstack congress datasource create publish_tables nova \\
        --config tables=instances \\
        --config transport_url=rabbit://congress:secret@rabbit:5672/ \\
        --config pool=congress

What Congress sees:

* the driver's ``DRIVER_INFO`` (``openstack congress driver show
  publish_tables``) and, per datasource, its schema through the
  ``get_datasource_schema`` RPC, which the policy engine uses for
  column references such as ``nova:instances(uuid=id)``;
* Congress's own reliable publication protocol: a subscriber gets a
  snapshot of a table with sequence number 0
  (``get_last_published_data_with_seqnum``), then every change of the
  replica as a ``[to_add, to_del]`` delta with the next sequence number.
  Nothing is published for a table before its first subscriber;
* the table's current columns: when a migration changes the columns of
  a published table (``columns`` not configured), the datasource's
  schema and rows take the new ones at once, subscribers get the whole
  table in the new shape as the next numbered publication, and policy
  engines take the new schema (:mod:`congress_consumer.congress_schema`);
* ``get_row_data``, ``get_status``, ``get_actions``, ``request_refresh``
  (a resync of every table) and ``request_execute`` (the driver's
  actions, ``resync`` and ``refresh_snapshot``, run in a thread of their
  own), the RPCs behind Congress's datasource API.

Congress's command line passes every option as a string: see
:func:`driver_args` for the forms ``columns`` and the other mapping
options take there, e.g. ``--config columns=instances.uuid,instances.host``.

Congress is imported only when a class of :data:`DRIVERS` is first
looked up (the entry point does that), so this module imports without
Congress installed. Congress 11.0.0 also needs, on Python 3.10 and
later, the compatibility step of
:mod:`congress_consumer.congress_compat` before it is imported
(``congress-with-publish-tables`` applies it).
"""

import importlib
import json
import threading

from oslo_log import log as logging

from congress_consumer.api import wsgi
from congress_consumer import congress_schema
from congress_consumer import exceptions
from congress_consumer.replication import driver as driver_mod

LOG = logging.getLogger(__name__)

# The DataService classes Congress's entry points name, and the driver
# each one serves (``congress.datasource.drivers`` in setup.cfg).
DRIVERS = {
    'PublishTablesDataSource':
        'congress_consumer.replication.driver:PublishTablesDriver',
    'HttpPushDataSource':
        'congress_consumer.datasources.http_push:HttpPushDriver',
    'NotificationDataSource':
        'congress_consumer.datasources.notifications:NotificationDriver',
    'SqlPollingDataSource':
        'congress_consumer.datasources.sql_polling:SqlPollingDriver',
    'RpcActionDataSource':
        'congress_consumer.datasources.rpc_actions:RpcActionDriver',
}
_classes = {}
_classes_lock = threading.Lock()


_MAPPING_ARGS = ('columns', 'table_names', 'rename', 'types')


def driver_args(config):
    """The driver's ``args`` from a Congress datasource ``config``.

    Congress's command line gives every value as a string
    (``--config columns=...``), so the mapping-valued options
    ``columns``, ``table_names``, ``rename`` and ``types`` may also be
    JSON objects in a string; ``columns`` may also be ``table.column``
    entries separated by commas, in row order. Congress's own ``ds_id``
    is dropped.

    :raises InvalidParamError: for a string that is neither.
    """
    args = dict(config or {})
    args.pop('ds_id', None)
    for option in _MAPPING_ARGS:
        value = args.get(option)
        if not isinstance(value, str):
            continue
        text = value.strip()
        if text.startswith('{'):
            try:
                value = json.loads(text)
            except ValueError as exc:
                raise exceptions.InvalidParamError(
                    param=option, reason='not a JSON object: %s' % exc
                ) from None
        elif option == 'columns':
            value = {}
            for entry in filter(None, (e.strip() for e in text.split(','))):
                table, dot, column = entry.partition('.')
                if not dot or not table or not column:
                    raise exceptions.InvalidParamError(
                        param=option, reason='%r: expected table.column'
                        % entry)
                value.setdefault(table, []).append(column)
        if not isinstance(value, dict):
            raise exceptions.InvalidParamError(
                param=option, reason='expected a JSON object, got %r'
                % (args[option],))
        args[option] = value
    return args


def _jsonable(value):
    """``value`` as plain JSON types, for replies on the message bus."""
    return json.loads(wsgi.to_json(value))


class _Endpoints(object):
    """The RPCs Congress's API and policy engine call on a datasource.

    Every public method is remotely callable; keep helpers private.
    """

    def __init__(self, service):
        self.service = service

    def get_row_data(self, context, table_id, source_id, trace):
        return _jsonable(self.service.driver.get_row_data(table_id))

    def get_tablename(self, context, table_id, source_id):
        if table_id in self.service.driver.get_tablenames():
            return table_id
        return None

    def get_tablenames(self, context, source_id):
        return sorted(self.service.driver.get_tablenames())

    def get_status(self, context, source_id, params):
        return _jsonable(self.service.driver.get_status())

    def get_datasource_schema(self, context, source_id):
        return _jsonable(self.service.driver.get_schema())

    def get_actions(self, context, source_id):
        return _jsonable(self.service.driver.get_actions())

    def get_datasource_info(self, context):
        return self.service.get_datasource_info()

    def request_refresh(self, context, source_id):
        self.service.driver.resync()

    def request_execute(self, context, action, action_args, wait):
        self.service.request_execute(action, action_args, wait)

    def update_entire_data(self, context, table_id, source_id, objs):
        # Congress's PUT /v1/data-sources/{ds}/tables/{t}/rows.
        replace = getattr(self.service.driver, 'replace_entire_table_data',
                          None)
        if replace is None or hasattr(self.service.driver, 'sync'):
            raise exceptions.InvalidParamError(
                param='datasource', reason='%s does not take pushes'
                % self.service.name)
        replace(table_id, objs)


class _DataServiceMethods(object):
    """What our DataService classes add to Congress's ``DataService``.

    Kept apart from the class so that this module imports Congress only
    when the class is asked for (see :func:`_build`).
    """

    driver_class = driver_mod.PublishTablesDriver

    def __init__(self, name='', args=None, **driver_kwargs):
        # Congress adds the datasource's database id to the config.
        self.ds_id = (args or {}).get('ds_id')
        args = driver_args(args)
        self.name = name
        self.type = 'datasource_driver'
        self.driver = self.driver_class(name, args, **driver_kwargs)
        self._driver_running = False
        super().__init__(name)
        self.add_rpc_endpoint(_Endpoints(self))
        self.driver.subscribe(self._on_diff)
        subscribe_schema = getattr(self.driver, 'subscribe_schema', None)
        if subscribe_schema is not None:
            subscribe_schema(self._on_schema)

    @classmethod
    def get_datasource_info(cls):
        return cls.driver_class.get_datasource_info()

    @classmethod
    def get_schema(cls):
        # Tables depend on the datasource's config; each instance
        # answers get_datasource_schema with its own.
        return cls.driver_class.get_schema()

    # -- lifecycle (called by the DseNode) -----------------------------

    def start(self):
        super().start()
        if not self._driver_running:
            getattr(self.driver, 'start', _nothing)()
            self._driver_running = True

    def stop(self):
        if self._driver_running:
            self._driver_running = False
            getattr(self.driver, 'stop', _nothing)()
        super().stop()

    # -- Congress's sequenced publication ------------------------------

    def get_snapshot(self, table):
        try:
            return self.driver.get_snapshot(table)
        except exceptions.UnknownTableError:
            return set()  # columns not learnt yet, or no such table

    def get_last_published_data_with_seqnum(self, table):
        # Under the replica lock no change is applied, so the snapshot
        # and its number agree with the deltas numbered after it.
        # (The replica's lock for publish_tables, else the driver's.)
        reading = getattr(self.driver, 'reading', None)
        with reading() if reading else self.driver._lock:
            if table not in self.sender_seqnums:
                self.sender_seqnums[table] = 0
                self._last_published_data[table] = set(
                    self.get_snapshot(table))
            return (self.sender_seqnums[table],
                    [list(row) for row in
                     self._last_published_data[table]])

    def _on_diff(self, table, to_add, to_del):
        # Called by the driver, under the replica lock, for every
        # change of a table's rows.
        if self.node is None or table not in self.sender_seqnums:
            return  # no subscriber yet: its snapshot will hold it
        data = self._last_published_data[table]
        # What subscribers do not have yet: after a change of columns
        # (_on_schema) they have the whole table in the new shape.
        to_add = [row for row in to_add if row not in data]
        to_del = [row for row in to_del if row in data]
        if not to_add and not to_del:
            return
        data.difference_update(to_del)
        data.update(to_add)
        self.sender_seqnums[table] += 1
        self.node.publish_table_sequenced(
            self.service_id, table,
            [[list(r) for r in to_add], [list(r) for r in to_del]],
            False, self.sender_seqnums[table])

    def _on_schema(self, table):
        # Called by the driver, under the replica lock, when the table's
        # columns changed: its rows and schema have the new ones. Its
        # subscribers get the whole table in the new shape as the next
        # numbered publication (Congress's own publish(use_snapshot=True));
        # policy engines not subscribed to it are told to fetch the
        # schema (congress_schema).
        if self.node is None:
            return
        if table in self.sender_seqnums:
            data = set(self.get_snapshot(table))
            self._last_published_data[table] = data
            self.sender_seqnums[table] += 1
            self.node.publish_table_sequenced(
                self.service_id, table, [list(row) for row in data], True,
                self.sender_seqnums[table])
        congress_schema.announce(self.node, self.service_id, table)

    # -- actions -------------------------------------------------------

    def request_execute(self, action, action_args, wait=False):
        """Run a driver action in its own thread; errors are logged."""

        def run():
            try:
                self.driver.execute(action, action_args)
            except (exceptions.CongressConsumerError, TypeError,
                    ValueError) as exc:
                LOG.error('action %s on %s failed: %s', action,
                          self.name, exc)

        thread = threading.Thread(target=run, daemon=True,
                                  name='publish-tables-action')
        thread.start()
        if wait:
            thread.join()
        return thread


def _driver_class(class_name):
    module, _sep, attr = DRIVERS[class_name].partition(':')
    return getattr(importlib.import_module(module), attr)


def _nothing():
    """Start or stop of a driver that has no thread of its own."""


def _build(class_name):
    from congress.dse2 import data_service  # Congress installed: load it

    return type(class_name, (_DataServiceMethods, data_service.DataService),
                {'driver_class': _driver_class(class_name),
                 '__doc__': 'A Congress DataService serving a %s.'
                 % DRIVERS[class_name].partition(':')[2]})


def __getattr__(name):
    if name not in DRIVERS:
        raise AttributeError('module %r has no attribute %r'
                             % (__name__, name))
    with _classes_lock:
        if name not in _classes:
            _classes[name] = _build(name)
        return _classes[name]
