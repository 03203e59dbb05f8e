"""Receives ``publish_tables.*`` notifications with oslo.messaging.

:class:`Receiver` listens on the producers' topic and passes every
decoded batch to a :class:`~.sync.Synchronizer`. A malformed, unknown or
wrong-version message is logged, counted and acknowledged (deliberately
discarded); it never reaches the replica. With an ``authenticator``
(:mod:`.authentication`) a message must pass its signature check before
it is even decoded. A batch is acknowledged after
its changes are in the replica. Listening starts before any snapshot is
taken (the first step of the sync protocol).

Without a ``pool`` the listener shares the topic's default queue, which
the producers' notifier declares, so records wait there while the
consumer is down. Independent consumers of the same topic each need a
``pool`` name of their own.
"""

import logging

import oslo_messaging

from oslo_publish_tables import exceptions as pt_exceptions
from oslo_publish_tables.protocol import envelope
from oslo_publish_tables.protocol import redaction

LOG = logging.getLogger(__name__)


class _Endpoint(object):
    filter_rule = oslo_messaging.NotificationFilter(
        event_type=r'^publish_tables\.')

    def __init__(self, receiver):
        self.receiver = receiver

    def info(self, ctxt, publisher_id, event_type, payload, metadata):
        self.receiver.deliver(event_type, payload)


class Receiver(object):
    """An oslo.messaging notification listener feeding a synchroniser."""

    def __init__(self, transport, synchronizer, topic='publish_tables',
                 pool=None, executor='threading', authenticator=None):
        self.synchronizer = synchronizer
        self.authenticator = authenticator
        self.received = 0
        self._listener = oslo_messaging.get_notification_listener(
            transport, [oslo_messaging.Target(topic=topic)],
            [_Endpoint(self)], executor=executor, pool=pool)
        self._running = False

    def deliver(self, event_type, payload):
        """Decode and apply one notification payload; never raises."""
        self.received += 1
        if event_type not in envelope.EVENT_TYPES:
            LOG.warning('discarded a notification of unknown type %s',
                        redaction.short_repr(event_type))
            self.synchronizer.discard('unknown_event')
            return
        if self.authenticator is not None and \
                not self.authenticator.check(event_type, payload):
            return  # logged (rate-limited) and counted by the check
        try:
            batch = envelope.parse(payload)
        except pt_exceptions.EnvelopeError as exc:
            LOG.warning('discarded a malformed %s message: %s', event_type,
                        exc)
            self.synchronizer.discard('malformed')
            return
        self.synchronizer.handle(batch)

    def start(self):
        self._listener.start()
        self._running = True

    def stop(self):
        """Stop listening; safe to call twice or before :meth:`start`."""
        # oslo.messaging's stop() waits for a start() that never came.
        if not self._running:
            return
        self._running = False
        self._listener.stop()
        self._listener.wait()
