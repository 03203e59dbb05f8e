"""Send notifications through oslo.messaging, seeing every failure.

:class:`oslo_messaging.Notifier` logs and swallows every send error, and
so does the ``messaging``/``messagingv2`` driver itself, so neither can
tell a caller that a message was lost. The sender must know, to keep the
message and try again. For those two drivers this module therefore does
what the driver does (send the notification on ``<topic>.info`` of the
notification transport, in the 1.0 or 2.0 message format) without the
blanket ``except``; any other driver (``test``, ``log``, ``routing``) is
loaded by name through stevedore, like the Notifier does.
"""

import uuid

import oslo_messaging
from oslo_utils import timeutils
from stevedore import driver as stevedore_driver

from oslo_publish_tables import exceptions
from oslo_publish_tables.protocol import redaction

_NAMESPACE = 'oslo.messaging.notify.drivers'
_MESSAGING = {'messaging': 1.0, 'messagingv2': 2.0}


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
        self._transport = transport or \
            oslo_messaging.get_notification_transport(conf, url=transport_url)
        self._version = _MESSAGING.get(driver)
        self._target = oslo_messaging.Target(topic='%s.info' % topic)
        if self._version is not None:
            self._driver = None
            return
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
            if self._driver is None:
                self._transport._send_notification(
                    self._target, {}, message, version=self._version,
                    retry=self.retry)
            else:
                self._driver.notify({}, message, 'info', self.retry)
        except Exception as exc:  # drivers raise anything; normalise it
            raise SendError(redaction.redact(
                '%s: %s' % (type(exc).__name__, exc), self._secrets)) from exc

    def close(self):
        if self._owned:
            self._transport.cleanup()
