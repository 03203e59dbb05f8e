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

"""Options and construction of the other drivers of ``congress-consumer``.

The notification, polling, action and custom drivers; their options
are :data:`congress_consumer.opts.DRIVER_OPTS`.

``[datasource_<name>] driver`` names a built-in driver (``publish_tables``,
``push``, ``notifications``, ``sql_polling``, ``rpc_actions``) or any
driver registered on the ``congress_consumer.datasource.drivers`` entry
point. A custom driver is a class taking ``(name, args)``; its ``args``
are the section's ``driver_args`` plus ``tables`` and ``columns`` when
set (see the user guide's worked example).
"""

from stevedore import driver as stevedore_driver

from congress_consumer.datasources import notifications
from congress_consumer.datasources import rpc_actions
from congress_consumer.datasources import sql_polling
from congress_consumer import exceptions

NAMESPACE = 'congress_consumer.datasource.drivers'
BUILT_IN = ('publish_tables', 'push', 'notifications', 'sql_polling',
            'rpc_actions')


def _notifications(name, values, columns):
    args = {'translators': values['translators'],
            'topics': values['notification_topics'],
            'exchange': values['exchange'] or 'nova'}
    for option in ('pool', 'transport_url'):
        if values[option]:
            args[option] = values[option]
    return notifications.NotificationDriver(name, args)


def _sql_polling(name, values, columns):
    return sql_polling.SqlPollingDriver(name, {
        'database_url': values['database_url'], 'tables': values['tables'],
        'columns': columns, 'poll_time': values['poll_time']})


def _rpc_actions(name, values, columns):
    args = {'topic': values['rpc_topic'],
            'actions': ','.join(values['actions']),
            'action_args': ','.join(values['action_args']),
            'timeout': values['rpc_timeout']}
    for option in ('exchange', 'transport_url'):
        if values[option]:
            args[option] = values[option]
    return rpc_actions.RpcActionDriver(name, args)


_BUILDERS = {'notifications': _notifications,
             'sql_polling': _sql_polling,
             'rpc_actions': _rpc_actions}


def _custom(kind, name, values, columns):
    try:
        driver_class = stevedore_driver.DriverManager(NAMESPACE, kind).driver
    except (RuntimeError, ImportError, AttributeError):
        return None
    args = dict(values['driver_args'])
    if values['tables']:
        args['tables'] = values['tables']
    if columns:
        args['columns'] = columns
    return driver_class(name, args)


def build_driver(kind, name, values, columns, config_error):
    """The driver of a datasource of kind ``kind``.

    For every kind but publish_tables and push; ``values`` are the
    section's options.

    :raises config_error: for an unknown driver or bad args, naming
        the option.
    """
    group = 'datasource_' + name
    try:
        builder = _BUILDERS.get(kind)
        driver = (builder(name, values, columns) if builder else
                  _custom(kind, name, values, columns))
    except exceptions.CongressConsumerError as exc:
        raise config_error('[%s] %s' % (group, exc)) from None
    if driver is None:
        raise config_error(
            group=group, option='driver', value=repr(kind),
            reason='not a driver: use one of %s or a name on the %s entry '
            'point' % (', '.join(BUILT_IN), NAMESPACE))
    return driver
