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

"""Mixin letting policy actions be executed through a driver.

Actions are called with Congress's argument form,
``{'positional': [...], 'named': {...}}``::

    class NovaDriver(PollingDataSourceDriver, ExecutionDriver):
        def __init__(self, name='', args=None):
            super().__init__(name, args)
            self.add_executable_method(
                'servers.reboot', [{'name': 'server', 'description': 'id'}],
                'Reboot a server', method=self._reboot)

        @execution.action([{'name': 'server', 'description': 'id'}],
                          'Pause a server')
        def pause(self, server):
            ...

    driver.execute('servers.reboot', {'positional': ['vm1']})
    driver.execute('pause', {'named': {'server': 'vm1'}})

:meth:`ExecutionDriver.prepare` makes every check ``execute`` makes
(the action exists, the arguments are well formed and fit the method's
signature) without calling anything, and returns the call to make; the
API uses it to answer errors before running an action in the
background.

Only what a driver declares is executable: an action registered with
:meth:`ExecutionDriver.add_executable_method` (dispatched to the callable
given, else to the driver's own method of that name) or a method
decorated with :func:`action`. Everything else -- the driver's
lifecycle (``start``, ``stop``, ``wait_live``), its attributes
(``conf``), the framework's methods, names starting with ``_`` -- raises
``UnknownActionError`` naming the action: an action is reachable from
the REST API, so executability is an allow-list, never a default.
"""

import functools
import inspect

from congress_consumer import exceptions

_FRAMEWORK_MODULES = frozenset(
    'congress_consumer.datasources.' + name
    for name in ('datasource_driver', 'execution', 'polling', 'pushed',
                 'translators', 'validation', 'conversion'))


_DECLARED = '_executable_action'
# The field callers send the arguments in (REST API and Congress): errors
# name it.
ARGS = 'args'


def action(args=(), description=''):
    """Declare the decorated driver method an executable action.

    :param args: list of ``{'name', 'description'}`` dicts or names.
    :param description: a human readable description.
    """
    def declare(method):
        setattr(method, _DECLARED, {
            'args': [a if isinstance(a, dict)
                     else {'name': a, 'description': ''} for a in args],
            'description': description})
        return method
    return declare


class ExecutionDriver(object):
    """Mixin providing ``execute`` and an action registry."""

    @property
    def executable_methods(self):
        """``{name: {'name', 'args', 'description', 'method'}}``.

        Registered actions and the methods declared with :func:`action`.
        """
        methods = self.__dict__.get('_executable_methods')
        if methods is None:
            methods = self.__dict__['_executable_methods'] = \
                self._declared_actions()
        return methods

    def _declared_actions(self):
        declared = {}
        for klass in reversed(type(self).__mro__):
            for name, member in vars(klass).items():
                info = getattr(member, _DECLARED, None)
                if info is not None and not name.startswith('_'):
                    declared[name] = dict(info, name=name, method=None)
        return declared

    def add_executable_method(self, method_name, method_args,
                              method_desc='', method=None):
        """Register an action.

        :param method_name: the action name.
        :param method_args: list of ``{'name', 'description'}`` dicts
            (plain strings are accepted as names).
        :param method_desc: a human readable description.
        :param method: the callable to run; defaults to the driver's own
            method named ``method_name``.
        """
        if not isinstance(method_name, str) or not method_name:
            raise exceptions.InvalidParamError(
                param='method_name', reason='must be a non-empty string')
        if method is not None and not callable(method):
            raise exceptions.InvalidParamError(
                param='method', reason='must be callable')
        args = [a if isinstance(a, dict) else {'name': a, 'description': ''}
                for a in (method_args or [])]
        self.executable_methods[method_name] = {
            'name': method_name, 'args': args,
            'description': method_desc, 'method': method}

    def get_actions(self):
        """Return ``{'results': [{'name', 'args', 'description'}, ...]}``."""
        results = [{'name': m['name'], 'args': list(m['args']),
                    'description': m['description']}
                   for _name, m in sorted(self.executable_methods.items())]
        return {'results': results}

    def _is_framework_name(self, name):
        for klass in type(self).__mro__:
            if klass is object or klass.__module__ in _FRAMEWORK_MODULES:
                if name in vars(klass):
                    return True
        return False

    def _find_action(self, action):
        entry = self.executable_methods.get(action) \
            if isinstance(action, str) else None
        if entry is not None and entry['method'] is not None:
            return entry['method']
        if (entry is not None and not action.startswith('_')
                and not self._is_framework_name(action)):
            method = getattr(self, action, None)
            if callable(method):
                return method
        raise exceptions.UnknownActionError(
            action=action, datasource=getattr(self, 'name', ''))

    def prepare(self, action, action_args=None):
        """Check a call of ``action`` without making it.

        Finds the method, checks the form of ``action_args`` and that the
        arguments fit the method's signature.

        :returns: a callable taking no argument that makes the call.
        :raises UnknownActionError: if no method serves ``action``.
        :raises InvalidParamError: if ``action_args`` is malformed or does
            not fit the method.
        """
        method = self._find_action(action)
        action_args = {} if action_args is None else action_args
        if not isinstance(action_args, dict):
            raise exceptions.InvalidParamError(
                param=ARGS, reason='must be a list or a dict, got %r'
                % type(action_args).__name__)
        extra = sorted(set(action_args) - {'positional', 'named'})
        if extra:
            raise exceptions.InvalidParamError(
                param=ARGS, reason='unknown key(s) %s; expected positional '
                'and named' % extra)
        positional = action_args.get('positional') or []
        named = action_args.get('named') or {}
        if not isinstance(positional, (list, tuple)):
            raise exceptions.InvalidParamError(
                param=ARGS + '.positional', reason='must be a list')
        if not isinstance(named, dict) or not all(
                isinstance(k, str) for k in named):
            raise exceptions.InvalidParamError(
                param=ARGS + '.named',
                reason='must be a dict with string keys')
        try:
            signature = inspect.signature(method)
        except (TypeError, ValueError):
            signature = None  # not introspectable: let the call decide
        if signature is not None:
            try:
                signature.bind(*positional, **named)
            except TypeError as exc:
                raise exceptions.InvalidParamError(
                    param=ARGS,
                    reason='action %s: %s' % (action, exc)) from None
        positional = list(positional)
        named = dict(named)
        return functools.partial(method, *positional, **named)

    def execute(self, action, action_args=None):
        """Run ``action`` and return its result.

        :param action_args: ``{'positional': list, 'named': dict}``; both
            keys are optional.
        :raises UnknownActionError: if no method serves ``action``.
        :raises InvalidParamError: if ``action_args`` is malformed or
            does not fit the action's arguments.
        """
        return self.prepare(action, action_args)()
