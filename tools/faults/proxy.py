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

"""A loopback TCP proxy in front of RabbitMQ that can cut the line.

Producers and the consumer reach the broker through :class:`Proxy`, so
an outage is simulated without touching the broker other tests share:
:meth:`Proxy.cut` resets every open connection and refuses new ones
until :meth:`Proxy.restore`. To the AMQP clients this looks exactly like
a broker that went away and came back (connection reset, then refused).
"""

import socket
import threading


class Proxy(object):
    """Forwards 127.0.0.1:<port> to ``target``; cut() and restore()."""

    def __init__(self, target_port, target_host='127.0.0.1'):
        self.target = (target_host, target_port)
        self._listener = socket.create_server(('127.0.0.1', 0))
        self.port = self._listener.getsockname()[1]
        self._lock = threading.Lock()
        self._sockets = set()
        self._cut = False
        self._closed = False
        self.cuts = 0

    def start(self):
        threading.Thread(target=self._accept, daemon=True,
                         name='faults-proxy').start()
        return self

    def url(self, user='guest', password='guest'):
        return 'rabbit://%s:%s@127.0.0.1:%d/' % (user, password, self.port)

    def _accept(self):
        while not self._closed:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            with self._lock:
                refused = self._cut or self._closed
            if refused:
                _reset(client)
                continue
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                _reset(client)
                continue
            upstream.settimeout(None)
            with self._lock:
                self._sockets.update((client, upstream))
            for src, dst in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(src, dst),
                                 daemon=True).start()

    def _pump(self, src, dst):
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (src, dst):
                self._forget(sock)

    def _forget(self, sock):
        with self._lock:
            self._sockets.discard(sock)
        _reset(sock)

    def cut(self):
        """Reset every connection and refuse new ones."""
        with self._lock:
            self._cut = True
            self.cuts += 1
            sockets = list(self._sockets)
            self._sockets.clear()
        for sock in sockets:
            _reset(sock)

    def restore(self):
        with self._lock:
            self._cut = False

    def close(self):
        self._closed = True
        self.cut()
        self._listener.close()


def _reset(sock):
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                        b'\x01\x00\x00\x00\x00\x00\x00\x00')
    except OSError:
        pass
    try:
        sock.close()
    except OSError:
        pass
