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

"""The built-in API server under slow clients and hostile requests.

Hundreds of half-sent requests must not starve a normal client (no
timing assertion: the normal request only has to succeed within a
generous timeout); a path that is not UTF-8 and a body nested deeper
than any parser goes answer 400, not 500.
"""

import http.client
import json
import socket
import threading

import testtools

from congress_consumer.api import wsgi
from congress_consumer.tests.unit.api import test_execute

HALF_OPEN = 300


class ServerBoundsTest(testtools.TestCase):

    def setUp(self):
        super().setUp()
        self.api = wsgi.API({'ops': test_execute.OpsDriver()})
        self.server = wsgi.serve(self.api, '127.0.0.1', 0)
        self.addCleanup(self.server.server_close)
        self.addCleanup(self.server.shutdown)
        self.port = self.server.server_address[1]

    def request(self, method, path, body=None, headers=None):
        conn = http.client.HTTPConnection('127.0.0.1', self.port,
                                          timeout=60)
        self.addCleanup(conn.close)
        conn.request(method, path, body=body, headers=headers or {})
        response = conn.getresponse()
        return response.status, response.read()

    def test_half_open_requests_do_not_starve_a_normal_client(self):
        sockets = []
        self.addCleanup(lambda: [s.close() for s in sockets])
        threads_before = threading.active_count()
        for _ in range(HALF_OPEN):
            sock = socket.create_connection(('127.0.0.1', self.port))
            sock.sendall(b'GET /v1/data-sources HTTP/1.1\r\nHost: x\r\n')
            sockets.append(sock)
        status, body = self.request('GET', '/v1/data-sources')
        self.assertEqual(200, status, body)
        self.assertEqual('ops', json.loads(body)['results'][0]['id'])
        # No thread per connection.
        self.assertLess(threading.active_count(), threads_before + 20)

    def test_a_path_that_is_not_utf8_answers_400(self):
        sock = socket.create_connection(('127.0.0.1', self.port),
                                        timeout=60)
        self.addCleanup(sock.close)
        sock.sendall(b'GET /v1/data-sources/\xff\xfe HTTP/1.0\r\n\r\n')
        reply = b''
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                break
            reply += chunk
        self.assertIn(b' 400 ', reply.split(b'\r\n')[0])
        self.assertNotIn(b'Traceback', reply)

    def test_deeply_nested_json_answers_400(self):
        body = b'{"name": ' + b'[' * 100000 + b']' * 100000 + b'}'
        status, reply = self.request(
            'POST', '/v1/data-sources/ops?action=execute', body=body,
            headers={'Content-Type': 'application/json'})
        self.assertEqual(400, status, reply[:200])
        self.assertIn(b'nested', reply)
