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

"""Which broker queue a datasource reads, and that no other one reads it.

A replica needs every message of its topic: a queue shared with another
reader splits the messages between them, and each replica silently
misses the other's share (or, with one pool bound to several topics,
applies another datasource's changes). So:

* a datasource with a ``pool`` reads the queue ``<pool>.<datasource>``:
  two datasources that copy the same ``pool`` into their sections still
  read queues of their own, each bound to its own topic only;
* a datasource without a ``pool`` reads the topic's default queue
  ``<topic>.info``; two such datasources on the same exchange and topic
  of one transport would share it, and :func:`claim` refuses the second
  with an error naming both datasources and the option ``pool``.

A claim belongs to one driver instance, not to a name: two instances of
one datasource in one process (Congress re-creating a datasource before
the old instance stopped, a test starting a second ``nova``) would split
the queue as surely as two names would, so the second is refused too.

Claims are per process (Congress runs its datasources in one process);
independent consumer processes of one topic need pools of their own.
"""

import threading

from congress_consumer import exceptions

_lock = threading.Lock()
_claims = {}  # (transport url, exchange, queue) -> (datasource, owner)


class SharedQueueError(exceptions.InvalidParamError):
    """Two datasources of one process would read the same queue."""

    msg_fmt = ('datasources %(first)s and %(second)s would both read '
               'queue %(queue)s of exchange %(exchange)s: each would miss '
               'the messages the other takes; give them different pool '
               'options (or topics)')


class RunningTwiceError(SharedQueueError):
    """A second instance of a datasource would read the first's queue."""

    msg_fmt = ('datasource %(first)s is already running in this process '
               'and reading queue %(queue)s of exchange %(exchange)s: a '
               'second instance would split its messages; stop the first '
               'one before starting another')


def pool_of(datasource, pool):
    """The listener pool (queue name) of ``datasource``, or None."""
    return '%s.%s' % (pool, datasource) if pool else None


def queue_of(datasource, topic, pool):
    """The name of the queue ``datasource`` reads."""
    return pool_of(datasource, pool) or '%s.info' % topic


def claim(datasource, owner, transport_url, exchange, topic, pool):
    """Reserve for ``owner`` the queue of ``datasource``; return its key.

    :param owner: the driver instance that will read the queue; claiming
        again for the same owner is allowed (a restart).
    :raises SharedQueueError: another datasource of this process reads
        that queue.
    :raises RunningTwiceError: another instance of ``datasource`` does.
    """
    key = (transport_url or '', exchange or '',
           queue_of(datasource, topic, pool))
    with _lock:
        holder = _claims.get(key)
        if holder is not None and holder[1] is not owner:
            error = (RunningTwiceError if holder[0] == datasource
                     else SharedQueueError)
            raise error(first=holder[0], second=datasource, queue=key[2],
                        exchange=exchange or '(default)')
        _claims[key] = (datasource, owner)
    return key


def release(key, owner):
    """Give back the claim ``owner`` made by :func:`claim` (if held)."""
    with _lock:
        holder = _claims.get(key)
        if holder is not None and holder[1] is owner:
            del _claims[key]
