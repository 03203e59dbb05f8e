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

"""The rules other rules are made of: who is an admin, reader, service."""

from oslo_policy import policy

ADMIN = 'rule:context_is_admin'
READER = 'rule:reader'
SERVICE_OR_ADMIN = 'rule:service_or_admin'

RULES = [
    policy.RuleDefault(
        name='context_is_admin', check_str='role:admin',
        description='Administrators of the cloud.'),
    policy.RuleDefault(
        name='reader', check_str='role:admin or role:reader',
        description='Who may read replicas, schemas, status and '
                    'executions. Keystone implies reader from member '
                    'and admin.'),
    policy.RuleDefault(
        name='service_or_admin', check_str='role:admin or role:service',
        description='Services (a monitoring system pushing rows, a '
                    'watcher subscribing) and administrators.'),
]


def list_rules():
    return RULES
