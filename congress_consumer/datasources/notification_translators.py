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

"""Notification translators: how notifications become rows.

A *notification translator* is a dict telling
:class:`~congress_consumer.datasources.notifications.NotificationDriver`
what to do with the notifications a service already sends:

``translator``
    an ordinary flat ``HDICT`` translator (see
    :mod:`congress_consumer.datasources.translators`) that makes one row
    of its table from one object;
``key``
    the column that identifies a row: a new row replaces the row with
    the same key, a deletion removes it;
``event_types``
    ``{event_type: 'upsert' | 'delete'}``; other event types are
    ignored (and counted);
``payload``
    optional callable: the object to translate, from the payload
    (default: the payload itself).

They are found by name on the ``congress_consumer.notification_translators``
entry point; a datasource names them in its ``translators`` option. A
deployment adds its own in a package of its own::

    # setup.cfg of my_translators
    [entry_points]
    congress_consumer.notification_translators =
        cinder_volumes = my_translators:CINDER_VOLUMES

:data:`NOVA_INSTANCES` maps nova's versioned notifications
(``[notifications] notification_format = versioned``, topic
``versioned_notifications``): ``instance.create.end``,
``instance.update`` and the other ``instance.*`` actions that carry an
``InstancePayload`` upsert a row; ``instance.delete.end`` removes it.
"""

from congress_consumer.datasources import translators as tr_mod

C = tr_mod.TranslatorConstants
UPSERT = 'upsert'
DELETE = 'delete'
ACTIONS = (UPSERT, DELETE)


def versioned_data(payload):
    """The fields of a versioned (``nova_object``) payload."""
    return payload['nova_object.data']


def _value(field, desc):
    return {C.FIELDNAME: field, C.DESCRIPTION: desc,
            C.TRANSLATOR: {C.TRANSLATION_TYPE: C.VALUE}}


NOVA_INSTANCES = {
    'translator': {
        C.TRANSLATION_TYPE: C.HDICT,
        C.TABLE_NAME: 'instances',
        C.SELECTOR_TYPE: C.DICT_SELECTOR,
        C.FIELD_TRANSLATORS: (
            _value('uuid', 'instance UUID'),
            _value('display_name', 'name given by the user'),
            _value('host', 'compute host'),
            _value('state', 'vm state, e.g. active, error'),
            _value('task_state', 'task in progress, or null'),
            _value('power_state', 'power state'),
            _value('tenant_id', 'project id'),
        ),
    },
    'key': 'uuid',
    'event_types': dict(
        [(event, UPSERT) for event in (
            'instance.create.end', 'instance.update',
            'instance.power_on.end', 'instance.power_off.end',
            'instance.pause.end', 'instance.unpause.end',
            'instance.suspend.end', 'instance.resume.end',
            'instance.reboot.end', 'instance.rebuild.end',
            'instance.resize.end', 'instance.shelve.end',
            'instance.unshelve.end', 'instance.live_migration_post.end')]
        + [('instance.delete.end', DELETE)]),
    'payload': versioned_data,
}
