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

"""The API's WSGI application: pipeline, keystone, policy, gunicorn.

The keystone tests drive the paste pipeline in the test process (the
fake tokens of keystonemiddleware's fixture live here); a real gunicorn
process serves the same factory (noauth) to a real HTTP client.
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

from congress_consumer.api import wsgi_app
from congress_consumer.cmd import consumer

CONF_DIR = os.path.join(os.path.dirname(__file__), 'conf')
ROWS = '/v1/data-sources/alarms/tables/alarms/rows'


def _free_port():
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


class AppTest(testtools.TestCase):

    def make_app(self, auth_strategy, policy=None):
        conf = cfg.ConfigOpts()
        consumer.register_opts(conf)
        conf([], default_config_files=[os.path.join(CONF_DIR,
                                                    'consumer.conf')])
        conf.set_override('auth_strategy', auth_strategy, 'consumer')
        if policy is not None:
            path = self.useFixture(fixtures.TempDir()).join('policy.yaml')
            with open(path, 'w') as f:
                json.dump(policy, f)
            policy_opts.set_defaults(conf, policy_file=path)
        service = consumer.Consumer(conf, consumer.build_drivers(conf))
        application = service.start_application()
        self.addCleanup(service.stop)
        return application

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

    def test_config_files_from_environment(self):
        self.assertEqual(['/etc/congress-consumer/consumer.conf'],
                         wsgi_app.config_files({}))
        self.assertEqual(['/c/a.conf', '/c/b.conf'], wsgi_app.config_files(
            {wsgi_app.CONFIG_DIR_ENV: '/c',
             wsgi_app.CONFIG_FILES_ENV: 'a.conf;b.conf'}))


class GunicornTest(testtools.TestCase):
    """A real gunicorn process serves the factory to a real client."""

    def test_gunicorn_serves_the_api(self):
        gunicorn = shutil.which('gunicorn', path=os.path.dirname(
            sys.executable))
        self.assertIsNotNone(gunicorn, 'gunicorn is a test requirement')
        tmp = self.useFixture(fixtures.TempDir()).path
        with open(os.path.join(CONF_DIR, 'consumer.conf')) as f:
            text = f.read()
        with open(os.path.join(tmp, 'consumer.conf'), 'w') as f:
            f.write(text.replace('auth_strategy = keystone',
                                 'auth_strategy = noauth'))
        port = _free_port()
        env = dict(os.environ, OS_CONGRESS_CONSUMER_CONFIG_DIR=tmp)
        proc = subprocess.Popen(
            [gunicorn, '--workers', '1', '--threads', '4', '--bind',
             '127.0.0.1:%d' % port,
             'congress_consumer.api.wsgi_app:init_application()'],
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        self.addCleanup(proc.wait, 30)
        self.addCleanup(proc.terminate)
        base = 'http://127.0.0.1:%d' % port
        deadline = time.monotonic() + 60
        while True:
            self.assertIsNone(proc.poll(), 'gunicorn exited')
            try:
                health = requests.get(base + '/healthcheck', timeout=5)
                break
            except requests.ConnectionError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        self.assertEqual(200, health.status_code)
        resp = requests.put(base + ROWS, json=[['a1', 'ok']],
                            headers={'Authorization': 'Bearer T0ken'},
                            timeout=5)
        self.assertEqual(200, resp.status_code, resp.text)
        resp = requests.get(base + ROWS, timeout=5)
        self.assertEqual([{'data': ['a1', 'ok']}], resp.json()['results'])
        self.assertEqual(405, requests.delete(base + ROWS,
                                              timeout=5).status_code)
