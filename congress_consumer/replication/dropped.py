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

"""The messages oslo.messaging drops before a receiver sees them.

oslo.messaging's RabbitMQ driver rejects a message whose body it cannot
decode (not JSON, a wrong content type, a broken envelope, not an
object) and ignores one whose ``_unique_id`` it has seen, in both cases
with nothing but a log line of its own, before any endpoint is called;
its notification dispatcher drops a message of an unknown priority.
:class:`DropWatch` turns the driver's log lines into calls of the
receiver that owns the queue (found on the stack of the driver's
consumer, the thread that logs them), which logs one line naming its
datasource and counts the message as discarded; the dispatcher is
replaced by :class:`CountingDispatcher`.

A receiver :meth:`DropWatch.watch`\\ es its queues when it starts and
:meth:`DropWatch.unwatch`\\ es them when it stops; the log filters are
installed with the first queue watched and removed with the last.
"""

import inspect
import logging
import threading

from oslo_messaging.notify import dispatcher as notify_dispatcher

# The driver's log lines of dropped messages, and why each was dropped.
DRIVER_LOGS = {
    'Failed to process message ... skipping it.': 'undecodable',
    'ignoring duplicate message %s': 'duplicate_id',
}
# Where they are logged (oslo.log's loggers say "oslo.", not "oslo_").
LOGGERS = ('oslo.messaging._drivers.impl_rabbit',
           'oslo_messaging._drivers.impl_rabbit',
           'oslo_messaging._drivers.amqpdriver')
UNKNOWN_PRIORITY = 'unknown_priority'


def _queue_on_stack():
    """The queue of the RabbitMQ consumer calling us, or None."""
    try:
        from oslo_messaging._drivers import impl_rabbit
    except ImportError:  # no kombu: no RabbitMQ driver either
        return None
    frame = inspect.currentframe()
    try:
        while frame is not None:
            owner = frame.f_locals.get('self')
            if isinstance(owner, impl_rabbit.Consumer):
                return owner.queue_name
            frame = frame.f_back
        return None
    finally:
        del frame


class DropWatch(logging.Filter):
    """Routes the driver's "dropped a message" lines to their receiver."""

    def __init__(self):
        super().__init__()
        self._queues = {}  # queue name -> on_drop(reason, detail)
        self._lock = threading.Lock()

    def watch(self, queues, on_drop):
        with self._lock:
            if not self._queues:
                for name in LOGGERS:
                    logging.getLogger(name).addFilter(self)
            for queue in queues:
                self._queues[queue] = on_drop

    def unwatch(self, queues):
        with self._lock:
            for queue in queues:
                self._queues.pop(queue, None)
            if not self._queues:
                for name in LOGGERS:
                    logging.getLogger(name).removeFilter(self)

    def filter(self, record):
        """Hand a drop to its receiver; keep every other line."""
        reason = DRIVER_LOGS.get(record.msg)
        if reason is None:
            return True
        on_drop = self._queues.get(_queue_on_stack())
        if on_drop is None:
            return True  # not ours: the driver's own line stays
        exc = record.exc_info[1] if record.exc_info else None
        on_drop(reason, '%s: %s' % (type(exc).__name__, exc)
                if exc is not None else '')
        return False  # the receiver logged one line with its datasource


WATCH = DropWatch()


class CountingDispatcher(notify_dispatcher.NotificationDispatcher):
    """A notification dispatcher that counts what it would drop.

    oslo.messaging drops a message whose priority is missing, not a
    string or unknown, with a warning naming no queue; this one hands
    it to ``on_drop(reason, detail)`` and acknowledges it.
    """

    def __init__(self, endpoints, on_drop):
        super().__init__(endpoints, None)
        self._on_drop = on_drop

    def dispatch(self, incoming):
        priority = incoming.message.get('priority')
        if not isinstance(priority, str) or \
                priority.lower() not in notify_dispatcher.PRIORITIES:
            self._on_drop(UNKNOWN_PRIORITY, 'priority %r' % (priority,))
            return notify_dispatcher.NotificationResult.HANDLED
        return super().dispatch(incoming)
