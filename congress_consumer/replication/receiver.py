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

"""Receives ``publish_tables.*`` notifications with oslo.messaging.

:class:`Receiver` listens on the producers' topic and passes every
decoded batch to a :class:`~.sync.Synchronizer`. A malformed, unknown or
wrong-version message is logged, counted and acknowledged (deliberately
discarded); it never reaches the replica. So is one oslo.messaging drops
before any endpoint is called (an undecodable body, a wrong content
type, an unknown priority: see :mod:`.dropped`). With an ``authenticator``
(:mod:`.authentication`) a message must pass its signature check before
it is even decoded. A batch is acknowledged after
its changes are in the replica. Listening starts before any snapshot is
taken (the first step of the sync protocol).

``exchange`` is the exchange the producers publish to (default: the
transport's ``control_exchange``). The listener reads queue ``pool``,
else the topic's default queue ``<topic>.info``; either is declared by
the listener and kept while the consumer is down. The producers do not
declare ``<topic>.info`` (see :mod:`oslo_publish_tables.transport`): no
queue fills up without a reader. Independent consumers of the same
topic each need a ``pool`` of their own (see :mod:`.queues`).
"""

import logging

import oslo_messaging
from oslo_messaging.notify import dispatcher as notify_dispatcher
from oslo_messaging.notify import listener as listener_mod

from oslo_publish_tables import exceptions as pt_exceptions
from oslo_publish_tables.protocol import envelope
from oslo_publish_tables.protocol import redaction

from congress_consumer.replication import dropped
from congress_consumer.replication import ratelimit

LOG = logging.getLogger(__name__)


class _Endpoint(object):
    """Takes every notification of the topic: none is dropped uncounted.

    Producers send at ``info``; anything else on the topic (another
    priority, another event type) is counted as discarded.
    """

    def __init__(self, receiver):
        self.receiver = receiver

    def info(self, ctxt, publisher_id, event_type, payload, metadata):
        self.receiver.deliver(event_type, payload)

    def _other(self, ctxt, publisher_id, event_type, payload, metadata):
        self.receiver.discard_priority(event_type)

    audit = debug = warn = error = critical = sample = _other


class Receiver(object):
    """An oslo.messaging notification listener feeding a synchroniser."""

    def __init__(self, transport, synchronizer, topic='publish_tables',
                 pool=None, executor='threading', authenticator=None,
                 exchange=None):
        self.synchronizer = synchronizer
        self.authenticator = authenticator
        self.received = 0
        self.pool = pool
        self.log = LOG  # the driver names its datasource in every line
        self._log = ratelimit.LogLimiter(LOG)
        # What oslo.messaging would drop uncounted reaches drop().
        self._listener = listener_mod.NotificationServer(
            transport, [oslo_messaging.Target(topic=topic,
                                              exchange=exchange)],
            dropped.CountingDispatcher([_Endpoint(self)], self.drop),
            executor, allow_requeue=False, pool=pool)
        # The queues the RabbitMQ driver consumes from: the pool's, else
        # one per priority.
        self._queues = [pool] if pool else [
            '%s.%s' % (topic, p) for p in notify_dispatcher.PRIORITIES]
        self._running = False

    def deliver(self, event_type, payload):
        """Decode and apply one notification payload; never raises."""
        self.received += 1
        if event_type not in envelope.EVENT_TYPES:
            self._log.warning('unknown type', 'datasource %s: discarded a '
                              'notification of unknown type %s',
                              self.synchronizer.name,
                              redaction.short_repr(event_type))
            self.synchronizer.discard('unknown_event')
            return
        if self.authenticator is not None and \
                not self.authenticator.check(event_type, payload):
            return  # logged (rate-limited) and counted by the check
        try:
            batch = envelope.parse(payload)
        except pt_exceptions.EnvelopeError as exc:
            self._log.warning('malformed', 'datasource %s: discarded a '
                              'malformed %s message: %s',
                              self.synchronizer.name, event_type,
                              ratelimit.safe(str(exc)))
            self.synchronizer.discard('malformed')
            return
        self.synchronizer.handle(batch)

    def discard_priority(self, event_type):
        """Count a notification sent at a priority producers never use."""
        self.received += 1
        self.synchronizer.discard('wrong_priority')
        self._log.warning('wrong priority', 'datasource %s: discarded a '
                          'notification %s not sent at info priority',
                          self.synchronizer.name,
                          ratelimit.safe(event_type, 64))

    def drop(self, reason, detail):
        """Count a message oslo.messaging dropped before our endpoint."""
        self.received += 1
        self.synchronizer.discard(reason)
        self._log.warning(reason, 'datasource %s: discarded a message '
                          'oslo.messaging could not deliver (%s): %s',
                          self.synchronizer.name, reason,
                          ratelimit.safe(detail))

    def start(self):
        dropped.WATCH.watch(self._queues, self.drop)
        try:
            self._listener.start()
        except oslo_messaging.MessagingException:
            dropped.WATCH.unwatch(self._queues)
            raise
        self._running = True

    def stop(self):
        """Stop listening; safe to call twice or before :meth:`start`."""
        # oslo.messaging's stop() waits for a start() that never came.
        if not self._running:
            return
        self._running = False
        self._listener.stop()
        self._listener.wait()
        dropped.WATCH.unwatch(self._queues)
