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

"""The real RabbitMQ broker, stopped and started for a broker outage.

:class:`Broker` stops the local node's RabbitMQ application with
``rabbitmqctl stop_app`` (the Erlang node stays up: the gentle way; every
client connection is closed and the non-durable queues, which is all
that oslo.messaging declares by default, are gone) and starts it again
with ``rabbitmqctl start_app``, falling back to ``rabbitmq-server
-detached`` as ``.ci/run`` does if the node itself is down, then waits
until the broker answers an AMQP handshake again.

Whoever stops the broker must start it again whatever happens: use the
instance as a context manager, or call :meth:`Broker.ensure_started` in
a ``finally``. Every other user of the broker (tests running beside the
suite) loses its connections for the outage, so the quick run (CI)
never uses it: it cuts a proxy instead (:mod:`proxy`).
"""

import subprocess
import time

import kombu

CTL_TIMEOUT = 120


class BrokerError(Exception):
    """The broker could not be stopped or did not come back."""


class Broker(object):
    """The RabbitMQ node on this machine, reached at ``url``."""

    def __init__(self, url='amqp://guest:guest@127.0.0.1:5672//',
                 start_timeout=120.0):
        self.url = url
        self.start_timeout = start_timeout
        self.stopped = False
        self.restarts = 0
        self.stopped_at = None
        self.downtime = []  # seconds from stop to answering, per outage

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.ensure_started()

    def answers(self, timeout=2.0):
        """True if the broker completes an AMQP handshake."""
        try:
            with kombu.Connection(self.url, connect_timeout=timeout) as conn:
                conn.connect()
            return True
        except Exception:  # refused, reset, handshake timeout, ...
            return False

    def stop(self):
        """``rabbitmqctl stop_app``: the broker goes away for everyone."""
        self.stopped = True
        self.stopped_at = time.monotonic()
        _ctl('stop_app')

    def start(self):
        """Start the broker and wait until it answers; return the wait."""
        begin = time.monotonic()
        try:
            _ctl('start_app')
        except BrokerError:
            # The node itself is down: start it as .ci/run does.
            subprocess.run(['rabbitmq-server', '-detached'],
                           stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL, timeout=CTL_TIMEOUT)
        deadline = begin + self.start_timeout
        while not self.answers():
            if time.monotonic() > deadline:
                raise BrokerError('RabbitMQ did not answer %ds after it was '
                                  'started' % self.start_timeout)
            time.sleep(0.2)
        self.stopped = False
        self.restarts += 1
        if self.stopped_at is not None:
            self.downtime.append(time.monotonic() - self.stopped_at)
            self.stopped_at = None
        return time.monotonic() - begin

    def ensure_started(self):
        """Start the broker if this object stopped it (for ``finally``)."""
        if self.stopped:
            self.start()


def _ctl(command):
    try:
        result = subprocess.run(['rabbitmqctl', command],
                                stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT,
                                timeout=CTL_TIMEOUT)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise BrokerError('rabbitmqctl %s: %s' % (command, exc))
    if result.returncode:
        raise BrokerError('rabbitmqctl %s exited with %d: %s' % (
            command, result.returncode,
            result.stdout.decode(errors='replace').strip()[-300:]))
