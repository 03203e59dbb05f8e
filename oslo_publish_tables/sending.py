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

"""``[publish_tables] sending = process``: a child process does the sending.

In-process, the Sender's thread spends about 1 to 2 ms of CPU per
notification in oslo.messaging, kombu and amqp, under the service's GIL:
while the service's own thread waits for its database, the Sender takes
the GIL and the service waits up to a switch interval (5 ms) to get it
back. :class:`ProcessTransport` replaces the
:class:`~oslo_publish_tables.transport.NotificationTransport` of the
Sender: its ``send`` writes the payload, as one length-prefixed JSON
frame, to a child process (``python -m oslo_publish_tables.sending``)
and waits for its one-frame answer, blocking in ``read`` without the
GIL. The child sends the notification with an ordinary
``NotificationTransport`` (the same message, the same wire format) and
answers ``ok`` or the error; the Sender's retries, spool, sequence
numbers and outbox deletes are unchanged. The child's CPU is not the
service's, but it still runs on the same host.

The child is started at the first send, reads the service's
configuration files (``--config-file``/``--config-dir`` of the service)
for its ``[oslo_messaging_*]`` options, and gets the transport URL
through its standard input, never on its command line. It exits when
its standard input closes (the service stopped or died). A child that
died is restarted at the next attempt; a forked service process starts
a child of its own.
"""

import json
import logging
import os
import struct
import subprocess
import sys
import threading

from oslo_config import cfg

from oslo_publish_tables import transport as transport_mod

LOG = logging.getLogger(__name__)
_HEADER = struct.Struct('>I')

try:  # about 8 times faster than json.dumps on a batch; optional
    import orjson
except ImportError:  # pragma: no cover - depends on the environment
    orjson = None


def dumps(value):
    """JSON bytes of ``value`` (orjson if installed, else json).

    Whatever orjson refuses (a subclass of a JSON type, an integer
    beyond 64 bits) goes through json, which takes what oslo.messaging's
    own serialisation takes.
    """
    if orjson is not None:
        try:
            return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS)
        except TypeError:
            pass
    return json.dumps(value, separators=(',', ':')).encode()


def _write_frame(stream, data):
    """Write one frame; a raw (eventlet's green) pipe may write less."""
    view = memoryview(_HEADER.pack(len(data)) + data)
    while view:
        written = stream.write(view)
        if written is None:  # a non-blocking pipe that is full
            written = 0
        view = view[written:]
    stream.flush()


def _read_exactly(stream, size):
    chunks, missing = [], size
    while missing:
        chunk = stream.read(missing)
        if not chunk:
            return None  # end of file
        chunks.append(chunk)
        missing -= len(chunk)
    return b''.join(chunks)


def _read_frame(stream):
    header = _read_exactly(stream, _HEADER.size)
    if header is None:
        return None
    return _read_exactly(stream, _HEADER.unpack(header)[0])


class ProcessTransport(object):
    """A transport whose ``send`` goes through a sending child process."""

    def __init__(self, conf, topic, publisher_id, driver='messagingv2',
                 transport_url=None, retry=0):
        self.topic = topic
        self.publisher_id = publisher_id
        self._setup = {'topic': topic, 'publisher_id': publisher_id,
                       'driver': driver, 'transport_url': transport_url,
                       'retry': retry,
                       'config_files': list(conf.config_file or ()),
                       'config_dirs': list(conf.config_dir or ())}
        self._lock = threading.Lock()
        self._child = None
        if hasattr(os, 'register_at_fork'):
            os.register_at_fork(after_in_child=self._forget)

    @property
    def pid(self):
        child = self._child
        return child.pid if child is not None else None

    def _forget(self):
        """In a forked process: the child is the parent's, not ours."""
        child, self._child = self._child, None
        self._lock = threading.Lock()
        if child is not None:
            for stream in (child.stdin, child.stdout):
                try:
                    stream.close()
                except OSError:
                    pass

    def _start(self):
        child = subprocess.Popen(
            [sys.executable, '-m', 'oslo_publish_tables.sending'],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, close_fds=True)
        try:
            _write_frame(child.stdin, dumps(self._setup))
            answer = _read_frame(child.stdout)
        except OSError as exc:
            answer = None
            LOG.warning('publish_tables: sending process: %s', exc)
        if answer is None or json.loads(answer).get('error'):
            self._stop(child)
            raise transport_mod.SendError(
                'the sending process did not start: %s'
                % (json.loads(answer)['error'] if answer else 'it exited'))
        self._child = child

    def send(self, event_type, payload):
        """Send through the child; raise SendError if it did not go out."""
        try:
            frame = dumps([event_type, payload])
        except (TypeError, ValueError) as exc:  # as oslo.messaging's would
            raise transport_mod.SendError('cannot serialise: %s' % exc)
        with self._lock:
            if self._child is None:  # a dead one fails below: no poll
                self._start()
            child = self._child
            try:
                _write_frame(child.stdin, frame)
                answer = _read_frame(child.stdout)
            except (OSError, ValueError) as exc:
                answer = None
                LOG.warning('publish_tables: sending process: %s', exc)
            if answer is None:
                self._child = None
                self._stop(child)
                raise transport_mod.SendError('the sending process died')
        error = json.loads(answer).get('error')
        if error:
            raise transport_mod.SendError(error)

    @staticmethod
    def _stop(child, timeout=5.0):
        try:
            child.stdin.close()
        except OSError:
            pass
        try:
            child.wait(timeout)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()
        child.stdout.close()

    def close(self):
        with self._lock:
            child, self._child = self._child, None
        if child is not None:
            self._stop(child)


def make_transport(conf, topic, publisher_id, driver, transport_url,
                   sending):
    """The Sender's transport for ``[publish_tables] sending``."""
    if sending == 'process':
        return ProcessTransport(conf, topic, publisher_id, driver=driver,
                                transport_url=transport_url)
    return transport_mod.NotificationTransport(
        conf, topic, publisher_id, driver=driver,
        transport_url=transport_url)


def _child_transport(setup):
    conf = cfg.ConfigOpts()
    conf([], project='publish_tables_sending',
         default_config_files=setup['config_files'],
         default_config_dirs=setup['config_dirs'])
    transport = transport_mod.NotificationTransport(
        conf, setup['topic'], setup['publisher_id'],
        driver=setup['driver'], transport_url=setup['transport_url'],
        retry=setup['retry'])
    transport.load()  # a transport that cannot load: "did not start"
    return transport


def main():
    """The child: read frames from stdin, send them, answer on stdout."""
    logging.basicConfig(level=logging.WARNING,
                        format='publish-tables-sending %(levelname)s '
                               '%(name)s: %(message)s')
    stdin, stdout = sys.stdin.buffer, sys.stdout.buffer
    sys.stdout = sys.stderr  # nothing else may write to the answer pipe
    setup = _read_frame(stdin)
    if setup is None:
        return 0
    try:
        notifier = _child_transport(json.loads(setup))
    except Exception as exc:  # any setup failure goes back to the parent
        _write_frame(stdout, dumps({'error': '%s: %s' % (
            type(exc).__name__, exc)}))
        return 1
    _write_frame(stdout, b'{}')
    try:
        while True:
            frame = _read_frame(stdin)
            if frame is None:
                return 0
            event_type, payload = json.loads(frame)
            try:
                notifier.send(event_type, payload)
            except transport_mod.SendError as exc:
                _write_frame(stdout, dumps({'error': str(exc)}))
            else:
                _write_frame(stdout, b'{}')
    finally:
        notifier.close()


if __name__ == '__main__':
    sys.exit(main())
