"""Send notifications through an oslo.messaging notification driver.

:class:`oslo_messaging.Notifier` logs and swallows every send error, so a
caller can never tell that a message was lost. The sender must know, to
keep the message and try again, so it calls the notification driver
(loaded by name through stevedore, like the Notifier does) directly and
sees its exceptions.
"""

import uuid

import oslo_messaging
from oslo_utils import timeutils
from stevedore import driver as stevedore_driver

from oslo_publish_tables import exceptions

_NAMESPACE = 'oslo.messaging.notify.drivers'


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
        self._transport = transport or \
            oslo_messaging.get_notification_transport(conf, url=transport_url)
        self._driver = stevedore_driver.DriverManager(
            _NAMESPACE, driver, invoke_on_load=True,
            invoke_args=(conf,),
            invoke_kwds={'topics': [topic],
                         'transport': self._transport}).driver

    def send(self, event_type, payload):
        """Send one notification; raise SendError if it did not go out."""
        message = {'message_id': str(uuid.uuid4()),
                   'publisher_id': self.publisher_id,
                   'event_type': event_type,
                   'priority': 'INFO',
                   'payload': payload,
                   'timestamp': str(timeutils.utcnow())}
        try:
            self._driver.notify({}, message, 'info', self.retry)
        except Exception as exc:  # drivers raise anything; normalise it
            raise SendError('%s: %s' % (type(exc).__name__, exc)) from exc

    def close(self):
        if self._owned:
            self._transport.cleanup()
