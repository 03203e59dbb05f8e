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

"""A tiny Keystone identity server: what ``auth_token`` asks of one.

A real HTTP server on a free loopback port, in the test process, under
``/identity`` (the path of the documented ``auth_url``):

* ``GET /identity`` and ``GET /identity/v3``: version discovery;
* ``POST /identity/v3/auth/tokens``: password authentication of the
  service user (name, password, user and project domain, project as
  configured), answered with ``X-Subject-Token`` and a token whose
  catalog has the identity endpoint on every interface;
* ``GET /identity/v3/auth/tokens``: validation of ``X-Subject-Token``
  for a caller holding a service token: 200 and the token, 404 for a
  token it never issued, 401 without a valid ``X-Auth-Token``.

User tokens are added with :meth:`FakeKeystone.add_token` (roles as
keystone lists them: a ``member`` token also has the ``reader`` role
that keystone's default ``member`` role implies). ``requests`` records
``(method, path)`` of every request.
"""

import datetime
import http.server
import json
import threading
import uuid

import fixtures

PREFIX = '/identity'


def _now():
    return datetime.datetime.now(datetime.timezone.utc)


def _time(when):
    return when.strftime('%Y-%m-%dT%H:%M:%S.000000Z')


class FakeKeystone(fixtures.Fixture):
    """The identity server; ``url`` is its ``auth_url``."""

    def __init__(self, username, password, project_name,
                 domain_name='Default'):
        super().__init__()
        self.service_user = (username, password, project_name, domain_name)
        self.tokens = {}
        self.requests = []
        self.lock = threading.Lock()

    def _setUp(self):
        server = http.server.ThreadingHTTPServer(('127.0.0.1', 0),
                                                 _handler(self))
        server.daemon_threads = True
        self.url = 'http://127.0.0.1:%d%s' % (server.server_address[1],
                                              PREFIX)
        thread = threading.Thread(target=server.serve_forever,
                                  name='fake-keystone', daemon=True)
        thread.start()
        self.addCleanup(thread.join, 30)
        self.addCleanup(server.server_close)
        self.addCleanup(server.shutdown)

    def add_token(self, token_id, user, project, roles):
        """A token of ``user`` scoped to ``project`` with ``roles``."""
        self.tokens[token_id] = self.token_body(user, project, roles)

    def token_body(self, user, project, roles):
        domain = {'id': 'default', 'name': self.service_user[3]}
        now = _now()
        return {'token': {
            'methods': ['password'],
            'issued_at': _time(now),
            'expires_at': _time(now + datetime.timedelta(hours=1)),
            'user': {'id': user + '-id', 'name': user, 'domain': domain,
                     'password_expires_at': None},
            'project': {'id': project + '-id', 'name': project,
                        'domain': domain},
            'roles': [{'id': role + '-id', 'name': role} for role in roles],
            'catalog': [{
                'type': 'identity', 'name': 'keystone', 'id': 'identity-id',
                'endpoints': [{'id': interface + '-id', 'url': self.url,
                               'interface': interface,
                               'region': 'RegionOne',
                               'region_id': 'RegionOne'}
                              for interface in ('public', 'internal',
                                                'admin')]}],
        }}

    def version(self):
        return {'id': 'v3.14', 'status': 'stable',
                'updated': '2020-04-07T00:00:00Z',
                'links': [{'rel': 'self', 'href': self.url + '/v3/'}],
                'media-types': [{
                    'base': 'application/json',
                    'type': 'application/vnd.openstack.identity-v3+json'}]}

    def password_token(self, body):
        """The service user's new token id, or None."""
        try:
            auth = body['auth']
            user = auth['identity']['password']['user']
            project = auth['scope']['project']
            given = (user['name'], user['password'], project['name'],
                     user['domain']['name'])
        except (KeyError, TypeError):
            return None
        if given != self.service_user or \
                project['domain']['name'] != self.service_user[3]:
            return None
        token_id = 'service-' + uuid.uuid4().hex
        self.tokens[token_id] = self.token_body(
            given[0], given[2], ['service', 'admin'])
        return token_id


def _handler(keystone):

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = 'HTTP/1.1'

        def log_message(self, *args):
            pass  # the test's output stays the consumer's

        def reply(self, status, body=None, headers=()):
            data = json.dumps(body).encode() if body is not None else b''
            self.send_response(status)
            for name, value in headers:
                self.send_header(name, value)
            self.send_header('Content-Type', 'application/json')
            self.send_header('Content-Length', str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def path_only(self):
            with keystone.lock:
                keystone.requests.append((self.command, self.path))
            return self.path.split('?')[0].rstrip('/')

        def do_GET(self):
            path = self.path_only()
            if path == PREFIX:
                return self.reply(300, {'versions': {
                    'values': [keystone.version()]}})
            if path == PREFIX + '/v3':
                return self.reply(200, {'version': keystone.version()})
            if path != PREFIX + '/v3/auth/tokens':
                return self.reply(404, {'error': {'code': 404}})
            caller = keystone.tokens.get(self.headers.get('X-Auth-Token'))
            if caller is None:
                return self.reply(401, {'error': {'code': 401}})
            subject = self.headers.get('X-Subject-Token')
            body = keystone.tokens.get(subject)
            if body is None:
                return self.reply(404, {'error': {'code': 404}})
            self.reply(200, body, [('X-Subject-Token', subject)])

        def do_POST(self):
            path = self.path_only()
            length = int(self.headers.get('Content-Length') or 0)
            try:
                body = json.loads(self.rfile.read(length) or b'{}')
            except ValueError:
                body = None
            if path != PREFIX + '/v3/auth/tokens':
                return self.reply(404, {'error': {'code': 404}})
            token_id = keystone.password_token(body)
            if token_id is None:
                return self.reply(401, {'error': {'code': 401}})
            self.reply(201, keystone.tokens[token_id],
                       [('X-Subject-Token', token_id)])

    return Handler
