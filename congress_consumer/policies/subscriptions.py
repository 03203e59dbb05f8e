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

"""Rules of ``/v1/subscriptions``."""

from oslo_policy import policy

from congress_consumer.policies import base

PREFIX = 'congress_consumer:subscription:%s'
SUB = '/v1/subscriptions/{subscriber_id}'

READ = PREFIX % 'get'
CREATE = PREFIX % 'create'
UPDATE = PREFIX % 'update'
DELETE = PREFIX % 'delete'
ACK = PREFIX % 'ack'

RULES = [
    policy.DocumentedRuleDefault(
        name=READ, check_str=base.READER,
        description='List subscriptions and show one (with its rows).',
        operations=[{'method': 'GET', 'path': '/v1/subscriptions'},
                    {'method': 'GET', 'path': SUB}]),
    policy.DocumentedRuleDefault(
        name=CREATE, check_str=base.SERVICE_OR_ADMIN,
        description='Subscribe to a filtered table (with upsert, '
                    'also replace an existing subscription).',
        operations=[{'method': 'POST', 'path': '/v1/subscriptions'}]),
    policy.DocumentedRuleDefault(
        name=UPDATE, check_str=base.SERVICE_OR_ADMIN,
        description='Update a subscription (PUT, or POST with upsert).',
        operations=[{'method': 'PUT', 'path': SUB}]),
    policy.DocumentedRuleDefault(
        name=DELETE, check_str=base.SERVICE_OR_ADMIN,
        description='Unsubscribe.',
        operations=[{'method': 'DELETE', 'path': SUB}]),
    policy.DocumentedRuleDefault(
        name=ACK, check_str=base.SERVICE_OR_ADMIN,
        description='Tell the consumer a subscriber is alive.',
        operations=[{'method': 'POST', 'path': SUB + '/ack'}]),
]


def list_rules():
    return RULES
