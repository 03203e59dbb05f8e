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

"""The built-in HTTP server of the API, bounded against slow clients.

wsgiref with one thread per connection gives every half-sent request a
thread that waits forever: a few thousand of them starve normal clients.
:class:`BoundedWSGIServer` reads requests itself, without a thread per
connection: one reader thread collects the bytes of every connection
with a selector until a whole request (head, then ``Content-Length``
bytes) is there, and only then hands it to a fixed pool of ``workers``
threads. A connection that has not sent its whole request within
``request_timeout`` seconds is closed, and so is the oldest incomplete
one when ``max_connections`` are open; responses are written with the
same timeout. Normal clients are therefore served whatever slow ones do.
"""

import collections
from concurrent import futures
import io
import logging
import re
import selectors
import socketserver
import threading
import time
from wsgiref import simple_server

LOG = logging.getLogger(__name__)

_HEAD_END = b'\r\n\r\n'
_LENGTH = re.compile(rb'^content-length:[ \t]*(\d{1,12})[ \t]*\r?$',
                     re.IGNORECASE | re.MULTILINE)


class _Pending(object):
    __slots__ = ('address', 'data', 'deadline', 'needed')

    def __init__(self, address, deadline):
        self.address = address
        self.data = bytearray()
        self.deadline = deadline
        self.needed = None  # total bytes of the request, once known


class BoundedWSGIServer(simple_server.WSGIServer):
    """A WSGI server with a reader thread and a bounded worker pool."""

    workers = 16
    request_queue_size = 256  # the listen backlog
    request_timeout = 10.0
    max_connections = 1024
    max_request_bytes = 16 * 1024 * 1024
    max_head_bytes = 64 * 1024

    def __init__(self, *args, **kwargs):
        # Before binding: a failed bind calls server_close().
        self._pool = futures.ThreadPoolExecutor(
            self.workers, thread_name_prefix='congress-consumer-api')
        self._selector = selectors.DefaultSelector()
        self._pending = collections.OrderedDict()  # socket -> _Pending
        self._lock = threading.Lock()
        self._closing = threading.Event()
        self._reader = None
        super().__init__(*args, **kwargs)
        self._reader = threading.Thread(target=self._read_loop,
                                        name='congress-consumer-api-reader',
                                        daemon=True)
        self._reader.start()

    # -- accepting (serve_forever's thread) -----------------------------

    def process_request(self, request, client_address):
        """Queue the connection for the reader; never blocks."""
        request.setblocking(False)
        with self._lock:
            while len(self._pending) >= self.max_connections:
                oldest, _ = self._pending.popitem(last=False)
                self._drop(oldest)
            self._pending[request] = _Pending(
                client_address, time.monotonic() + self.request_timeout)
            self._selector.register(request, selectors.EVENT_READ)

    # -- reading (the reader thread) -----------------------------------------

    def _read_loop(self):
        while not self._closing.is_set():
            try:
                events = self._selector.select(0.2)
            except (OSError, ValueError):  # no socket registered yet, closed
                self._closing.wait(0.05)
                events = []
            for key, _mask in events:
                self._read(key.fileobj)
            self._expire()

    def _read(self, sock):
        with self._lock:
            pending = self._pending.get(sock)
        if pending is None:
            return
        try:
            chunk = sock.recv(65536)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            chunk = b''
        if not chunk:
            return self._forget(sock)
        pending.data += chunk
        if pending.needed is None:
            pending.needed = self._request_size(pending.data)
        if pending.needed is False or len(pending.data) > \
                self.max_request_bytes:
            return self._forget(sock)
        if pending.needed is not None and len(pending.data) >= \
                pending.needed:
            with self._lock:
                self._pending.pop(sock, None)
                self._selector.unregister(sock)
            self._pool.submit(self._serve, sock, pending)

    def _request_size(self, data):
        """Bytes of the whole request; None if unknown yet, False if bad."""
        end = data.find(_HEAD_END)
        if end < 0:
            return False if len(data) > self.max_head_bytes else None
        head = bytes(data[:end])
        match = _LENGTH.search(head)
        return end + len(_HEAD_END) + (int(match.group(1)) if match else 0)

    def _expire(self):
        now = time.monotonic()
        with self._lock:
            late = [s for s, p in self._pending.items() if p.deadline < now]
        for sock in late:
            self._forget(sock)

    def _forget(self, sock):
        with self._lock:
            if self._pending.pop(sock, None) is None:
                return
        self._drop(sock)

    def _drop(self, sock):
        try:
            self._selector.unregister(sock)
        except (KeyError, ValueError):
            pass
        self.shutdown_request(sock)

    # -- serving (a worker) -------------------------------------------------

    def _serve(self, sock, pending):
        try:
            sock.setblocking(True)
            sock.settimeout(self.request_timeout)
            self.RequestHandlerClass(sock, pending.address, self,
                                     bytes(pending.data))
        except OSError as exc:  # the client went away, or is too slow
            LOG.debug('API client %s: %s', pending.address, exc)
        finally:
            self.shutdown_request(sock)

    def server_close(self):
        self._closing.set()
        if self._reader is not None:
            self._reader.join(5)
        with self._lock:
            socks, self._pending = list(self._pending), \
                collections.OrderedDict()
        for sock in socks:
            self._drop(sock)
        self._pool.shutdown(wait=False)
        self._selector.close()
        super().server_close()

    def stop(self):
        """End the running :meth:`serve_forever`, then close."""
        self.shutdown()
        self.server_close()


class BufferedRequestHandler(simple_server.WSGIRequestHandler):
    """Handles a request whose bytes were already read by the server."""

    def __init__(self, request, client_address, server, data):
        self._data = data
        super().__init__(request, client_address, server)

    def setup(self):
        self.connection = self.request
        self.rfile = io.BytesIO(self._data)
        self.wfile = socketserver._SocketWriter(self.connection)

    def log_message(self, format, *args):
        LOG.debug('%s - %s', self.address_string(), format % args)
