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

"""Set up as the docs say, run as operators run it, compared row for row.

The configuration files are the documentation's own snippets
(``doc/source/_snippets/nova.conf`` and ``consumer.conf``, included by
the guides), each followed by a second file that only points them at
this test's servers and names (hosts, ports, topics, short timeouts):

* a nova-like service process (:mod:`.nova_service`): nova's
  ``control_exchange = nova``, the notification transport in
  ``[oslo_messaging_notifications]``, the plugin loaded by its URL;
* ``publish-tables-manage db_sync`` and ``publish-tables-agent`` on that
  file, as subprocesses;
* ``congress-consumer`` from its command line with two datasources that
  copy the same ``pool``;
* a datasource stopped and started again (its ``restart`` action);
* a service process killed before its first send (its broker does not
  answer);

and at the end every replica, read through the REST API, equals its
table in the database, row for row. PostgreSQL and RabbitMQ.
"""

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request

import fixtures
import sqlalchemy as sa
import testtools
import testtools.content

from oslo_publish_tables import fixture as backends
from publish_tables_demo import schema as m

SNIPPETS = os.path.join(os.path.dirname(__file__), '..', '..', '..', 'doc',
                        'source', '_snippets')
ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..',
                                    '..'))
DATASOURCES = {'nova': ('instances', 'uuid, hostname, vm_state'),
               'nova_tags': ('tags', 'resource_id, tag')}


def _free_port():
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


def _command(script, module):
    """The console script next to this Python, else ``python -m``."""
    path = os.path.join(os.path.dirname(sys.executable), script)
    if os.path.exists(path):
        return [path]
    return [sys.executable, '-m', module]


class DeploymentTest(testtools.TestCase):

    def setUp(self):
        super().setUp()
        db = self.useFixture(backends.DatabaseFixture('postgresql'))
        self.rabbit = self.useFixture(backends.RabbitFixture())
        self.engine = sa.create_engine(db.url)
        self.addCleanup(self.engine.dispose)
        m.create(self.engine)
        self.dir = self.useFixture(fixtures.TempDir()).path
        self.env = dict(os.environ, PYTHONPATH=ROOT)
        topic = self.rabbit.topic
        pool = topic + '_congress'
        for name in DATASOURCES:
            self.rabbit.add_queue('%s.%s' % (pool, name))
        for name in ('_snapshot', '_snapshot.agent'):
            self.rabbit.add_queue(topic + name)
        self.port = _free_port()
        self.nova = self.write('nova-here.conf', {
            'oslo_messaging_notifications': {
                'transport_url': self.rabbit.transport_url},
            'database': {'connection': backends.add_query(
                db.url, plugin='publish_tables')},
            'publish_tables': {
                'topic': topic, 'snapshot_topic': topic + '_snapshot',
                'heartbeat_interval': 0.5, 'outbox_grace_period': 1,
                'outbox_relay_interval': 0.2}})
        # A service process whose notification broker does not answer.
        self.cut_off = self.write('nova-cut-off.conf', {
            'oslo_messaging_notifications': {
                'transport_url': 'rabbit://guest:guest@127.0.0.1:1/'}})
        sections = {'DEFAULT': {'transport_url': self.rabbit.transport_url},
                    'consumer': {'api_port': self.port}}
        for name in DATASOURCES:
            sections['datasource_' + name] = {
                'topic': topic, 'snapshot_topic': topic + '_snapshot',
                'pool': pool, 'producer_timeout': 5, 'gap_timeout': 1}
        self.consumer = self.write('consumer-here.conf', sections)

    def write(self, name, sections):
        path = os.path.join(self.dir, name)
        with open(path, 'w') as out:
            for section, options in sections.items():
                out.write('[%s]\n' % section)
                for option, value in options.items():
                    out.write('%s = %s\n' % (option, value))
        return path

    def nova_args(self, *more):
        return ['--config-file', os.path.join(SNIPPETS, 'nova.conf'),
                '--config-file', self.nova] + [
            a for path in more for a in ('--config-file', path)]

    def service(self, steps, seed, die=False):
        """Start a nova-like service process; see :meth:`finished`."""
        command = [sys.executable, '-m',
                   'congress_consumer.tests.functional.nova_service',
                   '--steps', str(steps), '--seed', str(seed)]
        if die:
            command += ['--die'] + self.nova_args(self.cut_off)
        else:
            command += self.nova_args()
        return self.start('service-%d' % seed, command)

    def finished(self, proc, killed=False):
        self.assertEqual(-9 if killed else 0, proc.wait(60))

    def seed_rows(self):
        """Rows from before anyone listened (the plugin is not here)."""
        with self.engine.begin() as conn:
            conn.execute(sa.insert(m.Instance.__table__), [
                {'uuid': 'seed-%d' % i, 'hostname': 'vm%d' % i,
                 'vm_state': 'active', 'deleted': 0} for i in range(5)])
            conn.execute(sa.insert(m.Tag.__table__), [
                {'resource_id': 'seed-0', 'tag': t} for t in 'ab'])

    def log_says(self, name, text):
        with open(os.path.join(self.dir, name + '.log')) as log:
            return text in log.read()

    def start(self, name, command):
        log = open(os.path.join(self.dir, name + '.log'), 'w')
        self.addCleanup(log.close)
        proc = subprocess.Popen(command, env=self.env, stdout=log,
                                stderr=subprocess.STDOUT)
        # Cleanups run last first: stop, then keep the log in the result.
        self.addCleanup(lambda: self.addDetail(
            name + '.log', testtools.content.content_from_file(
                log.name, buffer_now=True)))
        self.addCleanup(self._stop, proc)
        return proc

    @staticmethod
    def _stop(proc):
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()

    def api(self, path, body=None):
        request = urllib.request.Request(
            'http://127.0.0.1:%d%s' % (self.port, path),
            data=None if body is None else json.dumps(body).encode(),
            headers={'Content-Type': 'application/json'})
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.loads(response.read())

    def replica(self, name):
        table = DATASOURCES[name][0]
        rows = self.api('/v1/data-sources/%s/tables/%s/rows' % (name, table))
        return sorted((tuple(r['data']) for r in rows['results']), key=repr)

    def database(self, name):
        table, columns = DATASOURCES[name]
        with self.engine.connect() as conn:
            rows = conn.execute(sa.text('SELECT %s FROM %s' % (columns,
                                                               table)))
            return sorted((tuple(r) for r in rows), key=repr)

    def wait_until(self, what, predicate, timeout=40):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if predicate():
                    return
            except OSError:  # the API is not up yet
                pass
            time.sleep(0.2)
        self.fail('not within %ds: %s' % (timeout, what))

    def all_live(self):
        return all(self.api('/v1/data-sources/%s/status' % n)['state']
                   == 'LIVE' for n in DATASOURCES)

    def converged(self):
        return all(self.replica(n) == self.database(n) for n in DATASOURCES)

    def test_deployed_as_documented(self):
        manage = subprocess.run(
            _command('publish-tables-manage',
                     'oslo_publish_tables.cmd.manage')
            + self.nova_args() + ['db_sync'],
            env=self.env, timeout=60, capture_output=True, text=True)
        self.assertEqual(0, manage.returncode, manage.stderr[-3000:])
        self.seed_rows()
        self.start('agent', _command('publish-tables-agent',
                                     'oslo_publish_tables.cmd.agent')
                   + self.nova_args())
        # The agent first (as the guide says): a snapshot request sent
        # before it listens waits for the RPC timeout.
        self.wait_until('the agent serving', lambda: self.log_says(
            'agent', 'serving snapshots'))
        self.start('consumer', _command(
            'congress-consumer', 'congress_consumer.cmd.consumer') + [
            '--config-file', os.path.join(SNIPPETS, 'consumer.conf'),
            '--config-file', self.consumer])
        self.wait_until('both datasources LIVE', self.all_live)
        writer = self.service(steps=40, seed=2)
        # Stop and start a datasource, as Congress does on an update,
        # while the service writes.
        result = self.api('/v1/data-sources/nova?action=execute',
                          {'name': 'restart', 'options': {'wait': True}})
        self.assertEqual('SUCCEEDED', result['status'], result)
        self.finished(writer)
        # Killed after COMMIT, before anything reached the broker.
        self.finished(self.service(steps=10, seed=4, die=True),
                      killed=True)
        self.wait_until('every replica equal to its table', self.converged)
        for name in DATASOURCES:
            self.assertTrue(self.database(name))
            self.assertEqual(self.database(name), self.replica(name))
            status = self.api('/v1/data-sources/%s/status' % name)
            table = status['tables'][DATASOURCES[name][0]]
            self.assertEqual('outbox', table['ordered_by'])
            self.assertEqual(0, status['discarded'].get('discarded', 0))
        self.wait_until('every table caught up', lambda: all(
            t['caught_up'] for n in DATASOURCES for t in self.api(
                '/v1/data-sources/%s/status' % n)['tables'].values()))
