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

"""Rules of ``/v1/data-sources``: reads, actions and pushes."""

from oslo_policy import policy

from congress_consumer.policies import base

PREFIX = 'congress_consumer:datasource:%s'
DS = '/v1/data-sources/{ds}'
TABLE = DS + '/tables/{table}'

READ_DATASOURCES = PREFIX % 'get'
READ_STATUS = PREFIX % 'get_status'
READ_TABLES = PREFIX % 'get_tables'
READ_ROWS = PREFIX % 'get_rows'
READ_EXECUTIONS = PREFIX % 'get_executions'
REQUEST_REFRESH = PREFIX % 'request_refresh'
REQUEST_VERIFY = PREFIX % 'request_verify'
EXECUTE = PREFIX % 'execute'
PUSH = PREFIX % 'push'


def _rule(name, check_str, description, operations):
    return policy.DocumentedRuleDefault(
        name=name, check_str=check_str, description=description,
        operations=[{'method': m, 'path': p} for m, p in operations])


RULES = [
    _rule(READ_DATASOURCES, base.READER,
          'List data sources, show one, its schema and its actions.',
          [('GET', '/v1/data-sources'), ('GET', DS),
           ('GET', DS + '/schema'), ('GET', DS + '/actions')]),
    _rule(READ_STATUS, base.READER,
          'Show the status of a data source (state, lag, tables).',
          [('GET', DS + '/status')]),
    _rule(READ_TABLES, base.READER,
          'List the tables of a data source, show one and its columns.',
          [('GET', DS + '/tables'), ('GET', TABLE),
           ('GET', TABLE + '/spec')]),
    _rule(READ_ROWS, base.READER,
          'Read the rows of a replicated table.',
          [('GET', TABLE + '/rows')]),
    _rule(READ_EXECUTIONS, base.READER,
          'List the executions of actions and show one.',
          [('GET', DS + '/executions'),
           ('GET', DS + '/executions/{execution}')]),
    _rule(REQUEST_REFRESH, base.ADMIN,
          'Ask a data source to reload every table (a resync).',
          [('POST', DS + '?action=request-refresh')]),
    _rule(REQUEST_VERIFY, base.ADMIN,
          'Ask a data source to verify its replica now.',
          [('POST', DS + '?action=verify')]),
    _rule(EXECUTE, base.ADMIN,
          'Execute an action of a data source.',
          [('POST', DS + '?action=execute')]),
    _rule(PUSH, base.SERVICE_OR_ADMIN,
          'Push rows or row deltas to a push data source (the data '
          'source token is checked as well).',
          [('PUT', TABLE + '/rows'), ('PATCH', TABLE + '/rows')]),
]

ACTIONS = {
    'execute': EXECUTE,
    'request-refresh': REQUEST_REFRESH,
    'verify': REQUEST_VERIFY,
}


def list_rules():
    return RULES
