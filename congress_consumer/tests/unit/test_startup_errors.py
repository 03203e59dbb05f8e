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

"""Every start-up error of the CLIs is one line naming option and value.

The consumer and the agent run as subprocesses, as deployed: no
traceback, exit status 1, the option and the value in the message.
"""

import os
import socket
import subprocess
import sys

import fixtures
import testtools

CONSUMER = """\
[consumer]
datasources = %(datasources)s
api_port = %(port)d

[datasource_nova]
tables = instances
transport_url = fake://
%(extra)s
"""

AGENT = """\
[database]
connection = sqlite:///%(db)s

[publish_tables]
tables = instances
transport_url = fake://
%(extra)s
"""


class StartupErrorTest(testtools.TestCase):

    def setUp(self):
        super().setUp()
        self.tmp = self.useFixture(fixtures.TempDir()).path

    def run_cli(self, module, text, hide=()):
        path = os.path.join(self.tmp, 'test.conf')
        with open(path, 'w') as f:
            f.write(text)
        paths = [os.getcwd()] + sys.path
        if hide:  # modules the subprocess cannot import, as if missing
            hidden = os.path.join(self.tmp, 'hide')
            os.makedirs(hidden, exist_ok=True)
            with open(os.path.join(hidden, 'sitecustomize.py'), 'w') as f:
                f.write('import sys\n' + ''.join(
                    'sys.modules[%r] = None\n' % name for name in hide))
            paths.insert(0, hidden)
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(paths))
        proc = subprocess.run(
            [sys.executable, '-m', module, '--config-file', path],
            capture_output=True, text=True, timeout=120, env=env,
            cwd=self.tmp)
        output = proc.stdout + proc.stderr
        self.assertEqual(1, proc.returncode, output)
        self.assertNotIn('Traceback', output)
        return [line for line in output.splitlines()
                if ' ERROR ' in line or line.startswith('ERROR')]

    def consumer(self, extra='', datasources='nova', port=0):
        return self.run_cli('congress_consumer.cmd.consumer', CONSUMER % {
            'datasources': datasources, 'port': port or self.free_port(),
            'extra': extra})

    @staticmethod
    def free_port():
        with socket.socket() as sock:
            sock.bind(('127.0.0.1', 0))
            return sock.getsockname()[1]

    def assertOneLine(self, errors, *fragments):
        self.assertEqual(1, len(errors), errors)
        for fragment in fragments:
            self.assertIn(fragment, errors[0])

    def test_float_options_refuse_nan_and_infinity(self):
        self.assertOneLine(self.consumer('gap_timeout = nan'),
                           'gap_timeout', 'nan')
        self.assertOneLine(self.consumer('tombstone_ttl = inf'),
                           'tombstone_ttl', 'inf')

    def test_no_datasource(self):
        self.assertOneLine(self.consumer(datasources=''), 'datasources',
                           'list at least one datasource')

    def test_port_in_use(self):
        with socket.socket() as busy:
            busy.bind(('127.0.0.1', 0))
            busy.listen(1)
            port = busy.getsockname()[1]
            self.assertOneLine(self.consumer(port=port), 'api_port',
                               str(port))

    def test_agent_refuses_an_infinite_send_interval(self):
        db = os.path.join(self.tmp, 'nova.sqlite')
        self.assertOneLine(
            self.run_cli('oslo_publish_tables.cmd.agent', AGENT % {
                'db': db, 'extra': 'min_send_interval = inf'}),
            'min_send_interval', 'inf')

    def test_a_missing_database_driver_names_the_extra(self):
        consumer_conf = CONSUMER % {
            'datasources': 'nova', 'port': self.free_port(),
            'extra': 'snapshot_source = database\n'
                     'database_url = mysql+pymysql://u:s3cret@db/nova'}
        self.assertOneLine(
            self.run_cli('congress_consumer.cmd.consumer', consumer_conf,
                         hide=['pymysql']),
            '[datasource_nova] database_url', 'mysql+pymysql://u:***@db',
            'pip install "oslo-publish-tables[mysql]"')
        agent_conf = (AGENT % {'db': 'x', 'extra': ''}).replace(
            'sqlite:///x', 'postgresql://u:s3cret@db/nova')
        errors = self.run_cli('oslo_publish_tables.cmd.agent', agent_conf,
                              hide=['psycopg2'])
        self.assertOneLine(errors, '[database] connection',
                           'pip install "oslo-publish-tables[postgresql]"')
        self.assertNotIn('s3cret', errors[0])
