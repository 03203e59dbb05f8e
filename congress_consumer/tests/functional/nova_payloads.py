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

"""Payloads in nova's versioned notification format (nova_object.*)."""


def _instance(uuid, state, host='compute-1'):
    return {'uuid': uuid, 'display_name': uuid + '-name', 'host': host,
            'node': host, 'state': state, 'task_state': None,
            'power_state': 'running', 'tenant_id': 'project-1',
            'user_id': 'user-1', 'flavor': {
                'nova_object.name': 'FlavorPayload',
                'nova_object.namespace': 'nova',
                'nova_object.version': '1.4',
                'nova_object.data': {'flavorid': 'm1.small',
                                     'memory_mb': 2048, 'vcpus': 1}},
            'ip_addresses': [], 'metadata': {}, 'locked': False}


def _versioned(name, version, data):
    return {'nova_object.name': name, 'nova_object.namespace': 'nova',
            'nova_object.version': version, 'nova_object.data': data}


def update(uuid, state, host='compute-1'):
    """An ``instance.update`` payload (InstanceUpdatePayload)."""
    data = _instance(uuid, state, host)
    data.update(audit_period={}, bandwidth=[], old_display_name=None)
    data['state_update'] = _versioned(
        'InstanceStateUpdatePayload', '1.0',
        {'old_state': 'building', 'state': state, 'old_task_state': None,
         'new_task_state': None})
    return _versioned('InstanceUpdatePayload', '2.0', data)


def action(uuid, state, host='compute-1'):
    """An ``instance.<action>.end`` payload (InstanceActionPayload)."""
    data = _instance(uuid, state, host)
    data.update(fault=None, action_initiator_user='user-1')
    return _versioned('InstanceActionPayload', '1.8', data)
