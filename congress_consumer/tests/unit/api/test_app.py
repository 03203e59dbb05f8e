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

"""The API's WSGI application: pipeline, keystone, policy, uwsgi, gunicorn.

The keystone tests drive the paste pipeline in the test process (the
fake tokens of keystonemiddleware's fixture live here); real gunicorn
and uwsgi processes serve the same factory (noauth) to a real HTTP
client, and a real uwsgi process serves it behind keystone, asking a
real (tiny) identity server in the test process.
"""

import json
import os
import shutil
import socket
import subprocess
import sys
import time

import fixtures
from keystonemiddleware import fixture as ksm_fixture
from oslo_config import cfg
from oslo_policy import opts as policy_opts
import requests
import testtools
import webob

from oslo_middleware import http_proxy_to_wsgi
from oslo_middleware import sizelimit

from congress_consumer.api import wsgi_app
from congress_consumer.cmd import consumer
from congress_consumer import exceptions
from congress_consumer.tests.unit.api import fake_keystone

CONF_DIR = os.path.join(os.path.dirname(__file__), 'conf')
ROWS = '/v1/data-sources/alarms/tables/alarms/rows'
MIDDLEWARE_OPTS = {opt.dest: [opt] for opt in
                   sizelimit.OPTS + http_proxy_to_wsgi.OPTS}


def _free_port():
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


class AppTest(testtools.TestCase):

    def make_app(self, auth_strategy, policy=None, overrides=()):
        conf = cfg.ConfigOpts()
        consumer.register_opts(conf)
        conf([], default_config_files=[os.path.join(CONF_DIR,
                                                    'consumer.conf')])
        conf.set_override('auth_strategy', auth_strategy, 'consumer')
        for group, name, value in overrides:
            conf.register_opts(MIDDLEWARE_OPTS.get(name, []), group=group)
            conf.set_override(name, value, group)
        if policy is not None:
            path = self.useFixture(fixtures.TempDir()).join('policy.yaml')
            with open(path, 'w') as f:
                json.dump(policy, f)
            policy_opts.set_defaults(conf, policy_file=path)
        service = consumer.Consumer(conf, consumer.build_drivers(conf))
        self.addCleanup(service.stop)
        return service.start_application()

    @staticmethod
    def call(application, path, method='GET', body=None, **headers):
        request = webob.Request.blank(path, method=method, headers=headers)
        if body is not None:
            request.body = json.dumps(body).encode()
            request.content_type = 'application/json'
        return request.get_response(application)

    def test_noauth_serves_and_checks_health(self):
        application = self.make_app('noauth')
        resp = self.call(application, '/v1/data-sources')
        self.assertEqual(200, resp.status_int)
        self.assertEqual(['alarms'], [d['id'] for d in resp.json['results']])
        self.assertTrue(resp.headers['x-openstack-request-id']
                        .startswith('req-'))
        self.assertEqual(200, self.call(application,
                                        '/healthcheck').status_int)

    def test_policy_rule_overridden_to_deny_answers_403(self):
        application = self.make_app(
            'noauth', {'congress_consumer:datasource:get_rows': '!'})
        resp = self.call(application, ROWS)
        self.assertEqual(403, resp.status_int)
        self.assertIn('congress_consumer:datasource:get_rows',
                      resp.json['error']['message'])
        self.assertEqual(200, self.call(
            application, '/v1/data-sources/alarms/status').status_int)

    def test_keystone_token_refused_and_accepted(self):
        tokens = self.useFixture(ksm_fixture.AuthTokenFixture())
        tokens.add_token_data(token_id='reader-token', project_id='p1',
                              role_list=['reader'])
        tokens.add_token_data(token_id='service-token', project_id='p1',
                              role_list=['service'])
        application = self.make_app('keystone')
        self.assertEqual(401, self.call(application, ROWS).status_int)
        self.assertEqual(401, self.call(application, ROWS,
                                        X_Auth_Token='forged').status_int)
        self.assertEqual(200, self.call(application, '/healthcheck')
                         .status_int)
        # Version discovery needs no token.
        self.assertEqual(200, self.call(application, '/').status_int)
        self.assertEqual(200, self.call(application, '/v1').status_int)
        resp = self.call(application, '/v1/data-sources/alarms/tables'
                         '/alarms/rows', method='PUT', body=[['a1', 'ok']],
                         X_Auth_Token='service-token',
                         Authorization='Bearer T0ken')
        self.assertEqual(200, resp.status_int, resp.text)
        resp = self.call(application, ROWS, X_Auth_Token='reader-token')
        self.assertEqual(200, resp.status_int, resp.text)
        self.assertEqual([{'data': ['a1', 'ok']}], resp.json['results'])
        # The default policy: pushing needs the service or admin role.
        resp = self.call(application, ROWS, method='PUT',
                         body=[['a2', 'ok']], X_Auth_Token='reader-token',
                         Authorization='Bearer T0ken')
        self.assertEqual(403, resp.status_int)

    def test_middleware_reads_the_consumers_conf_not_cfg_conf(self):
        # A process-wide cfg.CONF nobody may touch.
        global_conf = cfg.ConfigOpts()
        self.useFixture(fixtures.MockPatchObject(cfg, 'CONF', global_conf))
        untouched = sorted(global_conf)
        application = self.make_app('noauth', overrides=[
            ('consumer', 'push_max_body_bytes', 300 * 1024),
            ('oslo_middleware', 'enable_proxy_headers_parsing', True)])
        self.assertEqual(untouched, sorted(global_conf))
        rows = [['a%06d' % i, 'ok'] for i in range(9000)]  # ~150 KiB
        self.assertGreater(len(json.dumps(rows)), 112 * 1024)
        resp = self.call(application, ROWS, 'PUT', rows,
                         Authorization='Bearer T0ken')
        self.assertEqual(200, resp.status_int, resp.text)
        too_big = rows * 3  # ~450 KiB: above push_max_body_bytes
        resp = self.call(application, ROWS, 'PUT', too_big,
                         Authorization='Bearer T0ken')
        self.assertEqual(413, resp.status_int)
        # [oslo_middleware] of this conf: proxy headers are parsed.
        resp = self.call(application, '/healthcheck',
                         **{'X-Forwarded-Proto': 'https'})
        self.assertEqual(200, resp.status_int)
        self.assertEqual(untouched, sorted(global_conf))

    def test_version_documents(self):
        application = self.make_app('noauth', overrides=[
            ('oslo_middleware', 'enable_proxy_headers_parsing', True)])
        version = {'id': 'v1', 'status': 'CURRENT',
                   'links': [{'rel': 'self',
                              'href': 'http://localhost/v1/'}],
                   'media-types': [{'base': 'application/json',
                                    'type': 'application/json'}]}
        for path in ('/', ''):
            resp = self.call(application, path)
            self.assertEqual(200, resp.status_int)
            self.assertEqual({'versions': [version]}, resp.json)
        for path in ('/v1', '/v1/'):
            resp = self.call(application, path)
            self.assertEqual(200, resp.status_int)
            self.assertEqual({'version': version}, resp.json)
        self.assertEqual(405, self.call(application, '/v1', 'POST',
                                        {}).status_int)
        # Behind a proxy ([oslo_middleware] of the consumer's own conf).
        resp = self.call(application, '/', **{
            'X-Forwarded-Proto': 'https', 'X-Forwarded-Host': 'api.example'})
        self.assertEqual('https://api.example/v1/',
                         resp.json['versions'][0]['links'][0]['href'])
        self.assertEqual(200, self.call(application, '/v1/data-sources')
                         .status_int)

    def test_body_limit_below_push_limit_is_a_config_error(self):
        exc = self.assertRaises(
            exceptions.ConfigError, self.make_app, 'noauth', overrides=[
                ('oslo_middleware', 'max_request_body_size', 1024)])
        self.assertIn('max_request_body_size', str(exc))
        self.assertIn('1024', str(exc))
        self.assertIn('push_max_body_bytes (1048576)', str(exc))

    def test_wsgi_scripts_entry_point(self):
        from importlib import metadata
        found = [ep.value for ep in metadata.entry_points(
            group='wsgi_scripts') if ep.name == 'congress-consumer-api']
        self.assertEqual(['congress_consumer.api.wsgi_app:init_application'],
                         found)

    def test_uwsgi_snippet_serves_the_wsgi_script(self):
        import configparser
        parser = configparser.ConfigParser()
        parser.read(os.path.join(CONF_DIR, 'uwsgi.ini'))
        uwsgi = parser['uwsgi']
        self.assertEqual('congress-consumer-api',
                         os.path.basename(uwsgi['wsgi-file']))
        self.assertEqual('1', uwsgi['processes'])  # replicas in-process
        self.assertIn(wsgi_app.CONFIG_DIR_ENV, uwsgi['env'])
        self.assertEqual('true', uwsgi['die-on-term'])  # SIGTERM stops it

    def test_config_files_from_environment(self):
        self.assertEqual(['/etc/congress-consumer/consumer.conf'],
                         wsgi_app.config_files({}))
        self.assertEqual(['/c/a.conf', '/c/b.conf'], wsgi_app.config_files(
            {wsgi_app.CONFIG_DIR_ENV: '/c',
             wsgi_app.CONFIG_FILES_ENV: 'a.conf;b.conf'}))


# What pbr's wsgi_scripts entry point installs as congress-consumer-api
# (an editable install has no such script).
WSGI_SCRIPT = """from congress_consumer.api.wsgi_app import init_application
application = init_application()
"""


class ServerMixin(object):
    """A real server process serves the factory to a real client."""

    def conf_dir(self, **replace):
        """The documented consumer.conf, noauth unless ``replace`` says.

        ``replace``: ``{text: new text}`` of the file's.
        """
        replace = replace or {'auth_strategy = keystone':
                              'auth_strategy = noauth'}
        tmp = self.useFixture(fixtures.TempDir()).path
        with open(os.path.join(CONF_DIR, 'consumer.conf')) as f:
            text = f.read()
        for old, new in replace.items():
            self.assertIn(old, text)
            text = text.replace(old, new)
        with open(os.path.join(tmp, 'consumer.conf'), 'w') as f:
            f.write(text)
        return tmp

    def start(self, command, conf_dir, port):
        """Run ``command``; its base URL once /healthcheck answers."""
        env = dict(os.environ, OS_CONGRESS_CONSUMER_CONFIG_DIR=conf_dir)
        proc = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL,
                                stderr=subprocess.PIPE)
        self.addCleanup(proc.wait, 30)
        self.addCleanup(proc.terminate)
        base = 'http://127.0.0.1:%d' % port
        deadline = time.monotonic() + 60
        while True:
            self.assertIsNone(proc.poll(), '%s exited' % command[0])
            try:
                health = requests.get(base + '/healthcheck', timeout=30)
                break
            except (requests.ConnectionError, requests.Timeout):
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        self.assertEqual(200, health.status_code)
        return base

    def uwsgi_command(self, conf_dir, port):
        """uwsgi serving the WSGI script with the documented snippet."""
        import configparser
        script = os.path.join(conf_dir, 'congress-consumer-api')
        with open(script, 'w') as f:
            f.write(WSGI_SCRIPT)
        parser = configparser.ConfigParser()
        parser.read(os.path.join(CONF_DIR, 'uwsgi.ini'))
        parser['uwsgi'].update({
            'wsgi-file': script, 'http-socket': '127.0.0.1:%d' % port,
            'env': '%s=%s' % (wsgi_app.CONFIG_DIR_ENV, conf_dir),
            'home': sys.prefix, 'threads': '4', 'need-app': 'true'})
        ini = os.path.join(conf_dir, 'uwsgi.ini')
        with open(ini, 'w') as f:
            parser.write(f)
        return [self.executable('uwsgi'), '--ini', ini]

    def serve(self, command, conf_dir, port):
        base = self.start(command, conf_dir, port)
        resp = requests.put(base + ROWS, json=[['a1', 'ok']],
                            headers={'Authorization': 'Bearer T0ken'},
                            timeout=5)
        self.assertEqual(200, resp.status_code, resp.text)
        resp = requests.get(base + ROWS, timeout=5)
        self.assertEqual([{'data': ['a1', 'ok']}], resp.json()['results'])
        self.assertEqual(405, requests.delete(base + ROWS,
                                              timeout=5).status_code)

    def executable(self, name):
        path = shutil.which(name, path=os.path.dirname(sys.executable))
        self.assertIsNotNone(path, '%s is a test requirement' % name)
        return path


class GunicornTest(ServerMixin, testtools.TestCase):

    def test_gunicorn_serves_the_api(self):
        port = _free_port()
        self.serve([self.executable('gunicorn'), '--workers', '1',
                    '--threads', '4', '--bind', '127.0.0.1:%d' % port,
                    'congress_consumer.api.wsgi_app:init_application()'],
                   self.conf_dir(), port)


class UwsgiTest(ServerMixin, testtools.TestCase):

    def test_uwsgi_serves_the_api_with_the_documented_snippet(self):
        tmp = self.conf_dir()
        port = _free_port()
        self.serve(self.uwsgi_command(tmp, port), tmp, port)


class KeystoneUwsgiTest(ServerMixin, testtools.TestCase):
    """uwsgi serves the API behind keystone: a real identity server.

    The documented consumer.conf, with its ``[keystone_authtoken]``
    pointing at :class:`~.fake_keystone.FakeKeystone`, served by a real
    uwsgi process; a real HTTP client sends the tokens.
    """

    DOC_URL = 'http://keystone.example.org/identity'

    def setUp(self):
        super().setUp()
        # The service user of the documented [keystone_authtoken].
        self.keystone = self.useFixture(fake_keystone.FakeKeystone(
            'congress-consumer', 'secret', 'service'))
        self.keystone.add_token('member-token', 'alice', 'demo',
                                ['member', 'reader'])
        self.keystone.add_token('admin-token', 'root', 'admin',
                                ['admin', 'member', 'reader'])
        tmp = self.conf_dir(**{self.DOC_URL: self.keystone.url})
        port = _free_port()
        self.base = self.start(self.uwsgi_command(tmp, port), tmp, port)

    def request(self, method, path, token=None, **kwargs):
        headers = kwargs.pop('headers', {})
        if token is not None:
            headers['X-Auth-Token'] = token
        return requests.request(method, self.base + path, headers=headers,
                                timeout=30, **kwargs)

    def test_tokens_refused_accepted_and_policy_denies(self):
        resp = self.request('GET', ROWS)
        self.assertEqual(401, resp.status_code)
        # Where to get a token: www_authenticate_uri.
        self.assertEqual('Keystone uri="%s"' % self.keystone.url,
                         resp.headers['WWW-Authenticate'])
        self.assertEqual(401, self.request('GET', ROWS,
                                           'unknown-token').status_code)
        resp = self.request('GET', ROWS, 'member-token')
        self.assertEqual(200, resp.status_code, resp.text)
        self.assertEqual([], resp.json()['results'])
        # auth_token asked the identity server: the service user's
        # password authentication, then each user token's validation.
        validated = [path for method, path in self.keystone.requests
                     if method == 'GET' and '/v3/auth/tokens' in path]
        self.assertEqual(2, len(validated), self.keystone.requests)
        self.assertIn(('POST', '/identity/v3/auth/tokens'),
                      self.keystone.requests)
        # The policy: refresh needs admin, pushing service or admin.
        resp = self.request(
            'POST', '/v1/data-sources/alarms?action=request-refresh',
            'member-token')
        self.assertEqual(403, resp.status_code, resp.text)
        self.assertIn('congress_consumer:datasource:request_refresh',
                      resp.json()['error']['message'])
        push = {'Authorization': 'Bearer T0ken'}
        resp = self.request('PUT', ROWS, 'member-token', headers=push,
                            json=[['a1', 'ok']])
        self.assertEqual(403, resp.status_code, resp.text)
        resp = self.request('PUT', ROWS, 'admin-token', headers=push,
                            json=[['a1', 'ok']])
        self.assertEqual(200, resp.status_code, resp.text)
        resp = self.request('GET', ROWS, 'member-token')
        self.assertEqual([{'data': ['a1', 'ok']}], resp.json()['results'])
