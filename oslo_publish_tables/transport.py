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

"""Send notifications through oslo.messaging, seeing every failure.

:class:`oslo_messaging.Notifier` logs and swallows every send error, and
so does the ``messaging``/``messagingv2`` driver itself, so neither can
tell a caller that a message was lost. The sender must know, to keep the
message and try again. For those two drivers this module therefore does
what the driver does (send the notification on ``<topic>.info`` of the
notification transport, in the 1.0 or 2.0 message format) without the
blanket ``except``; any other driver (``test``, ``log``, ``routing``) is
loaded by name through stevedore, like the Notifier does.

On an AMQP driver (RabbitMQ) the notification goes out like an RPC cast
to routing key ``<topic>.info``: the notifier's path would also declare
the queue ``<topic>.info``, which then keeps every message for ever when
the consumers read queues of their own (a ``pool``). Each consumer
declares the queue it reads before it takes its snapshots, so a message
published before any queue exists is covered by those snapshots.

The oslo.messaging transport and driver are loaded at the first send,
on the sender's thread, not when the service's engine starts (loading
them looks the drivers up among the installed packages): a transport
that cannot be loaded is then a :class:`SendError`, retried like any
other, as with ``sending = process``. Only the URL's form is checked at
once.
"""

import threading
import uuid

import oslo_messaging
from oslo_messaging._drivers import amqpdriver
from oslo_messaging import opts as messaging_opts
from oslo_utils import timeutils
from stevedore import driver as stevedore_driver

from oslo_publish_tables import exceptions
from oslo_publish_tables.protocol import redaction

_NAMESPACE = 'oslo.messaging.notify.drivers'
_MESSAGING = {'messaging': 1.0, 'messagingv2': 2.0}
_NOTIFICATIONS_GROUP = 'oslo_messaging_notifications'


def notification_url(conf, url=None):
    """The URL of the notification transport of ``conf`` (or None).

    ``url`` if given, else ``[oslo_messaging_notifications]
    transport_url``; None means ``[DEFAULT] transport_url``, as for
    :func:`oslo_messaging.get_notification_transport`. The snapshot RPC
    runs on this transport too, so that a consumer reaches the agent
    where it reads the notifications.
    """
    if url:
        return url
    for group, options in messaging_opts.list_opts():
        if group == _NOTIFICATIONS_GROUP:
            conf.register_opts(options, group=group)
    return conf[_NOTIFICATIONS_GROUP].transport_url or None


class SendError(exceptions.PublishTablesError):
    """A notification could not be handed to the transport."""


class NotificationTransport(object):
    """One oslo.messaging notification driver bound to one topic."""

    def __init__(self, conf, topic, publisher_id, driver='messagingv2',
                 transport_url=None, retry=0, transport=None):
        self.topic = topic
        self.publisher_id = publisher_id
        self.retry = retry
        self._owned = transport is None
        # Driver errors may quote the URL: keep its passwords out of them.
        self._secrets = redaction.url_passwords(transport_url)
        if transport_url:
            # Its form now (InvalidTransportURL); its driver at the load.
            oslo_messaging.TransportURL.parse(conf, transport_url)
        self._conf, self._url, self._driver_name = conf, transport_url, driver
        self._transport = transport
        self._version = _MESSAGING.get(driver)
        self._target = oslo_messaging.Target(topic='%s.info' % topic)
        self._driver = None
        self._loaded = False
        self._load_lock = threading.Lock()

    def load(self):
        """Load the oslo.messaging transport and driver (idempotent).

        Raises what oslo.messaging and stevedore raise for a transport or
        driver that cannot be loaded.
        """
        if self._loaded:
            return
        with self._load_lock:
            if self._loaded:
                return
            if self._transport is None:
                self._transport = oslo_messaging.get_notification_transport(
                    self._conf, url=self._url)
            if self._version is None:
                self._driver = stevedore_driver.DriverManager(
                    _NAMESPACE, self._driver_name, invoke_on_load=True,
                    invoke_args=(self._conf,),
                    invoke_kwds={'topics': [self.topic],
                                 'transport': self._transport}).driver
            self._loaded = True

    def send(self, event_type, payload):
        """Send one notification; raise SendError if it did not go out."""
        message = {'message_id': str(uuid.uuid4()),
                   'publisher_id': self.publisher_id,
                   'event_type': event_type,
                   'priority': 'INFO',
                   'payload': payload,
                   'timestamp': str(timeutils.utcnow())}
        try:
            self.load()
            if self._driver is None:
                self._send_messaging(message)
            else:
                self._driver.notify({}, message, 'info', self.retry)
        except Exception as exc:  # drivers raise anything; normalise it
            raise SendError(redaction.redact(
                '%s: %s' % (type(exc).__name__, exc), self._secrets)) from exc

    def _send_messaging(self, message):
        driver = self._transport._driver
        if isinstance(driver, amqpdriver.AMQPDriverBase):
            # A cast to <topic>.info: it declares no queue.
            driver._send(self._target, {}, message,
                         envelope=self._version == 2.0, retry=self.retry)
        else:
            self._transport._send_notification(
                self._target, {}, message, version=self._version,
                retry=self.retry)

    def close(self):
        with self._load_lock:
            transport = self._transport if self._owned else None
            if transport is not None:
                self._transport, self._loaded = None, False
        if transport is not None:
            transport.cleanup()
