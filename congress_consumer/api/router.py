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

"""Routing of the HTTP API with Routes, and the policy rule of each route.

A route is a Routes path template and ``{method: (handler, rule)}``;
``rule`` is the name of an oslo.policy rule
(:mod:`congress_consumer.policies`), or a function of the request giving
it (``POST /v1/data-sources/{ds}?action=...`` has one rule per action).
Paths are matched by :class:`routes.Mapper`; the method is checked
afterwards so that a known path with the wrong method answers 405 with
the right ``Allow`` header rather than 404.
"""

import routes

from congress_consumer.api import responses
from congress_consumer.policies import datasources as ds_rules

DS = ds_rules.DS
TABLE = ds_rules.TABLE


def action_rule(request):
    """The rule of ``POST /v1/data-sources/{ds}?action=...``.

    ``None`` for an unknown action: the handler refuses it with 400
    before doing anything.
    """
    return ds_rules.ACTIONS.get(request.params.get('action'))


def datasource_routes(api):
    """The routes of ``/v1/data-sources`` served by ``api``."""
    return [
        ('/v1/data-sources',
         {'GET': (api.list_datasources, ds_rules.READ_DATASOURCES),
          'POST': (api.qualified_action, action_rule)}),
        (DS, {'GET': (api.show_datasource, ds_rules.READ_DATASOURCES),
              'POST': (api.action, action_rule)}),
        (DS + '/status', {'GET': (api.show_status, ds_rules.READ_STATUS)}),
        (DS + '/schema',
         {'GET': (api.show_schema, ds_rules.READ_DATASOURCES)}),
        (DS + '/actions',
         {'GET': (api.list_actions, ds_rules.READ_DATASOURCES)}),
        (DS + '/tables', {'GET': (api.list_tables, ds_rules.READ_TABLES)}),
        (TABLE, {'GET': (api.show_table, ds_rules.READ_TABLES)}),
        (TABLE + '/spec',
         {'GET': (api.show_table_spec, ds_rules.READ_TABLES)}),
        (TABLE + '/rows', {'GET': (api.list_rows, ds_rules.READ_ROWS),
                           'PUT': (api.push_rows, ds_rules.PUSH),
                           'PATCH': (api.push_deltas, ds_rules.PUSH)}),
        (DS + '/executions',
         {'GET': (api.list_executions, ds_rules.READ_EXECUTIONS)}),
        (DS + '/executions/{execution}',
         {'GET': (api.show_execution, ds_rules.READ_EXECUTIONS)}),
    ]


class Router(object):
    """Finds the handler, rule and path parameters of a request."""

    def __init__(self, route_list):
        self.mapper = routes.Mapper(explicit=True)
        self.mapper.minimization = False
        self._methods = {}
        for path, methods in route_list:
            self.add(path, methods)

    def add(self, path, methods):
        """Serve ``path`` with ``{method: (handler, rule)}``."""
        name = 'route-%d' % len(self._methods)
        self.mapper.connect(name, path, _route=name)
        self._methods[name] = dict(methods)

    def match(self, request):
        """``(handler, rule, params)``; raises 404 or 405."""
        path = request.path_info
        if len(path) > 1 and path.endswith('/'):
            path = path[:-1]
        found = self.mapper.match(path)
        if found is None:
            raise responses.HTTPError(404, 'no resource at %s'
                                      % request.path_info)
        params = dict(found)
        methods = self._methods[params.pop('_route')]
        method = 'GET' if request.method == 'HEAD' else request.method
        if method not in methods:
            allow = sorted(methods)
            raise responses.HTTPError(
                405, 'method %s not allowed on %s; use %s'
                % (request.method, request.path_info, ', '.join(allow)),
                allow=allow)
        handler, rule = methods[method]
        if callable(rule):
            rule = rule(request)
        return handler, rule, params
