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

"""Durable delivery to subscriber topics (``[subscriptions] durable``).

With RabbitMQ, oslo.messaging declares the queue of a notification
topic durable only with ``[oslo_messaging_rabbit] amqp_durable_queues``,
a setting of the whole transport. The consumer's own queues (the
producers' topics) must keep what their producers declared, so the
notifications for subscribers go through a transport of their own: a
private configuration copied from the consumer's (the same broker, TLS
and credentials) with ``amqp_durable_queues = true`` and
``control_exchange`` set to ``[subscriptions] durable_exchange``. The
exchange is separate because RabbitMQ refuses to declare an existing
non-durable exchange durable. Messages are sent persistent (kombu's
default), so they survive a broker restart in the durable queue
``<subscriber_topic>.info`` of that exchange; how long they are kept
is the broker's retention policy (see the user guide).
"""

from oslo_config import cfg
import oslo_messaging
from oslo_messaging import opts as messaging_opts

from oslo_publish_tables import transport as transport_mod

RABBIT_GROUP = 'oslo_messaging_rabbit'


def _copy(conf, private):
    """Register oslo.messaging's options on ``private``, values of ``conf``."""
    for group, options in messaging_opts.list_opts():
        group = None if group in (None, 'DEFAULT') else group
        private.register_opts(options, group=group)
        for opt in options:
            try:
                value = (conf if group is None else conf[group])[opt.dest]
            except (cfg.NoSuchOptError, cfg.NoSuchGroupError, KeyError):
                continue  # not registered on the consumer's conf: default
            private.set_override(opt.dest, value, group)


def transport(conf, exchange):
    """A notification transport declaring durable queues on ``exchange``.

    Returns ``(transport, private_conf)``; clean the transport up.
    """
    private = cfg.ConfigOpts()
    private([], project='congress-consumer-subscriptions',
            default_config_files=[], default_config_dirs=[])
    _copy(conf, private)
    private.set_override('amqp_durable_queues', True, RABBIT_GROUP)
    private.set_override('control_exchange', exchange)
    url = transport_mod.notification_url(conf)
    return oslo_messaging.get_notification_transport(private, url=url), \
        private
