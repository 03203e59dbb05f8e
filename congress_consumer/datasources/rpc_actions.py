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

"""Actions that reach another service: oslo.messaging RPC casts and calls.

:class:`RpcActionDriver` is an execution driver with no tables: each of
its declared actions sends one oslo.messaging RPC to a configured topic,
so a Congress policy (``execute[ops:evacuate(host)] :- ...``) or an
operator (``POST /v1/data-sources/ops?action=execute``) acts on a
service that serves that topic.

``args``:

``topic``
    the RPC topic of the receiving service (required);
``actions``
    ``{action: 'cast' | 'call'}`` (required): the RPC methods that may be
    sent, each as a cast (fire and forget) or a call (waits for the
    reply, which becomes the action's result). Congress's command line
    gives it as ``evacuate:cast,host_state:call``;
``action_args``
    ``action.argument`` entries naming every action's arguments, in
    order, e.g. ``evacuate.host,evacuate.reason,host_state.host``.
    The arguments travel as keyword arguments of the RPC method;
``exchange``, ``server``, ``version``
    the RPC target's (defaults: the transport's control exchange, any
    server, ``1.0``);
``timeout``
    seconds a call waits for its reply (default 30);
``transport_url``
    the RPC transport (default: the configuration's).

Only the declared actions exist: an unknown action, an unknown argument
or a missing one is refused before anything is sent. A failed send or
call raises :class:`ActionFailedError`.
"""

import collections.abc
import inspect

from oslo_config import cfg
from oslo_log import log as logging
import oslo_messaging

from congress_consumer.datasources import datasource_driver
from congress_consumer.datasources import execution
from congress_consumer import exceptions

LOG = logging.getLogger(__name__)

CAST = 'cast'
CALL = 'call'


class ActionFailedError(exceptions.CongressConsumerError):
    """An action could not be sent or its receiver failed."""

    msg_fmt = 'action %(action)s of %(datasource)s failed: %(reason)s'


def _as_list(value):
    if isinstance(value, str):
        return [v.strip() for v in value.split(',') if v.strip()]
    return list(value or ())


def _as_mapping(value, param):
    """``{'a': 'cast'}`` from a mapping or ``a:cast,b:call`` text."""
    if isinstance(value, collections.abc.Mapping):
        return dict(value)
    mapping = {}
    for entry in _as_list(value):
        key, sep, mode = entry.partition(':')
        if not sep or not key.strip():
            raise exceptions.InvalidParamError(
                param=param, reason='%r: expected action:cast or '
                'action:call' % entry)
        mapping[key.strip()] = mode.strip()
    return mapping


def parse_action_args(value, actions):
    """``{action: [arg, ...]}`` from ``action.arg`` entries."""
    names = {action: [] for action in actions}
    for entry in _as_list(value):
        action, dot, arg = entry.partition('.')
        if not dot or not arg.isidentifier() or action not in names:
            raise exceptions.InvalidParamError(
                param='action_args', reason='%r: expected action.argument '
                'of an action listed in actions' % entry)
        names[action].append(arg)
    return names


class RpcActionDriver(datasource_driver.DataSourceDriver,
                      execution.ExecutionDriver):
    """Declared actions sent as RPC casts or calls to a service."""

    DRIVER_INFO = {
        'id': 'rpc_actions',
        'description': 'Actions sent as oslo.messaging RPC casts or calls '
                       'to a service topic.',
        'config': {'topic': 'required', 'actions': 'required',
                   'action_args': 'optional', 'exchange': 'optional',
                   'server': 'optional', 'version': 'optional',
                   'timeout': 'optional', 'transport_url': 'optional'},
        'secret': ['transport_url'],
    }

    def __init__(self, name='', args=None, transport=None, conf=None):
        super().__init__(name, args)
        self.modes = _as_mapping(self.args.get('actions'), 'actions')
        if not self.modes:
            raise exceptions.InvalidParamError(param='actions',
                                               reason='no action declared')
        for action, mode in sorted(self.modes.items()):
            if mode not in (CAST, CALL):
                raise exceptions.InvalidParamError(
                    param='actions', reason='%s:%s: expected cast or call'
                    % (action, mode))
        arg_names = parse_action_args(self.args.get('action_args'),
                                      self.modes)
        try:
            self.timeout = float(self.args.get('timeout', 30))
        except (TypeError, ValueError):
            self.timeout = -1
        if not self.timeout > 0:
            raise exceptions.InvalidParamError(
                param='timeout', reason='must be a number of seconds > 0')
        self._conf = conf if conf is not None else cfg.CONF
        self._transport = transport
        self._client = None
        for action, mode in sorted(self.modes.items()):
            self.add_executable_method(
                action, [{'name': a, 'description': 'argument %s' % a}
                         for a in arg_names[action]],
                'RPC %s of %s on topic %s' % (mode, action,
                                              self.args['topic']),
                method=self._sender(action, mode, arg_names[action]))
        self.initialized = True

    def _sender(self, action, mode, arg_names):
        """The method of ``action``, with the declared arguments.

        Its signature lets ``prepare`` refuse bad arguments before
        anything is sent.
        """
        def send(*positional, **named):
            kwargs = dict(zip(arg_names, positional))
            kwargs.update(named)
            return self._send(action, mode, kwargs)

        send.__signature__ = inspect.Signature([
            inspect.Parameter(a, inspect.Parameter.POSITIONAL_OR_KEYWORD)
            for a in arg_names])
        return send

    def _rpc_client(self):
        if self._client is None:
            if self._transport is None:
                self._transport = oslo_messaging.get_rpc_transport(
                    self._conf, url=self.args.get('transport_url'))
            target = oslo_messaging.Target(
                topic=self.args['topic'], exchange=self.args.get('exchange'),
                server=self.args.get('server'),
                version=self.args.get('version', '1.0'))
            self._client = oslo_messaging.get_rpc_client(
                self._transport, target, timeout=self.timeout)
        return self._client

    def _send(self, action, mode, kwargs):
        LOG.info('datasource %s: RPC %s %s(%s) on topic %s', self.name,
                 mode, action, ', '.join(sorted(kwargs)), self.args['topic'])
        try:
            client = self._rpc_client()
            if mode == CAST:
                client.cast({}, action, **kwargs)
                return None
            return client.call({}, action, **kwargs)
        except oslo_messaging.MessagingException as exc:
            raise ActionFailedError(action=action, datasource=self.name,
                                    reason='%s: %s' % (type(exc).__name__,
                                                       exc)) from None

    def start(self):
        """Nothing runs in the background; the client connects lazily."""

    def stop(self):
        self._client = None

    def get_status(self):
        status = super().get_status()
        status['topic'] = self.args['topic']
        return status
