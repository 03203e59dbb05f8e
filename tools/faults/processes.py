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

"""The processes of one fault scenario, and the files they leave.

:class:`Processes` starts the producer processes (:mod:`producer`), the
real ``congress-consumer`` and, in durable mode, ``publish-tables-agent``
with configuration files it writes into the scenario's work directory,
kills them with SIGKILL when the timeline says so, and reads the
consumer's HTTP API.
"""

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request

from publish_tables_demo import schema as demo_schema

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
TABLES = demo_schema.PUBLISHED
_RELAYED = re.compile(r'relay: publishing (\d+) outbox records')


def _env():
    env = dict(os.environ)
    env['PYTHONPATH'] = os.pathsep.join(
        [REPO] + [p for p in [env.get('PYTHONPATH')] if p])
    return env


class Processes(object):
    """Producer and consumer processes of one scenario, with their files."""

    def __init__(self, workdir, url, transport_url, topic, delivery):
        self.workdir = workdir
        self.url = url
        self.transport_url = transport_url
        self.topic = topic
        self.delivery = delivery
        self.producers = []
        self.consumer = None
        self.consumer_runs = 0
        self.agent = None
        self.agent_runs = 0
        self.api_port = None
        self.stop_file = os.path.join(workdir, 'stop-writing')

    def start_producer(self, seconds, seed, mischief=False):
        """A producer writing for ``seconds`` or until :meth:`stop_writing`."""
        stats = os.path.join(self.workdir, 'producer-%d.stats' % seed)
        args = [sys.executable, '-m', 'tools.faults.producer',
                '--url', self.url, '--transport-url', self.transport_url,
                '--topic', self.topic, '--tables', ','.join(TABLES),
                '--seconds', str(seconds), '--stop-file', self.stop_file,
                '--seed', str(seed),
                '--stats', stats, '--delivery', self.delivery]
        if mischief:
            args += ['--duplicate', '0.2', '--reorder', '0.2']
        log = open(os.path.join(self.workdir, 'producer-%d.log' % seed), 'w')
        proc = subprocess.Popen(args, env=_env(), stdout=log,
                                stderr=subprocess.STDOUT)
        self.producers.append((proc, stats))
        return proc

    def _consumer_config(self):
        port = self.api_port
        columns = ','.join('%s.%s' % (t, c.name) for t in TABLES for c in
                           demo_schema.Base.metadata.tables[t].columns)
        path = os.path.join(self.workdir, 'consumer.conf')
        with open(path, 'w') as f:
            f.write('[DEFAULT]\ntransport_url = %s\n\n'
                    '[consumer]\ndatasources = nova\napi_port = %d\n\n'
                    '[datasource_nova]\ntables = %s\ncolumns = %s\n'
                    'topic = %s\nsnapshot_source = database\n'
                    'database_url = %s\ngap_timeout = 1\n'
                    'producer_timeout = %d\n'
                    % (self.transport_url, port, ','.join(TABLES), columns,
                       self.topic, self.url, self._producer_timeout()))
        return path

    def _producer_timeout(self):
        # Durable mode must lose nothing: the consumer is told to wait far
        # longer than the run before it gives up on a silent producer and
        # resyncs, so only the relay can bring a dead producer's records.
        return 3 if self.delivery == 'direct' else 600

    def start_agent(self):
        """publish-tables-agent: the outbox relay, with a short grace."""
        path = os.path.join(self.workdir, 'agent.conf')
        with open(path, 'w') as f:
            # debug: the relay logs each batch it publishes at DEBUG
            # in relayed mode; relayed() counts them in the log.
            f.write('[DEFAULT]\ndebug = %s\n\n'
                    '[database]\nconnection = %s\n\n[publish_tables]\n'
                    'tables = %s\ntopic = %s\ntransport_url = %s\n'
                    'delivery = %s\noutbox_grace_period = 2\n'
                    'outbox_relay_interval = 0.5\noutbox_claim_lease = 3\n'
                    'snapshot_topic = %s_snapshot\n'
                    % (self.delivery == 'relayed', self.url,
                       ','.join(TABLES), self.topic, self.transport_url,
                       self.delivery, self.topic))
        self.agent_runs += 1
        log = open(os.path.join(self.workdir, 'agent-%d.log'
                                % self.agent_runs), 'w')
        self.agent = subprocess.Popen(
            [sys.executable, '-m', 'oslo_publish_tables.cmd.agent',
             '--config-file', path],
            env=_env(), stdout=log, stderr=subprocess.STDOUT)

    def start_consumer(self):
        if self.api_port is None:
            with socket.socket() as s:
                s.bind(('127.0.0.1', 0))
                self.api_port = s.getsockname()[1]
        self.consumer_runs += 1
        log = open(os.path.join(self.workdir, 'consumer-%d.log'
                                % self.consumer_runs), 'w')
        self.consumer = subprocess.Popen(
            [sys.executable, '-m', 'congress_consumer.cmd.consumer',
             '--config-file', self._consumer_config()],
            env=_env(), stdout=log, stderr=subprocess.STDOUT)

    def wait_writing(self, timeout=60):
        """Wait until every running producer has committed something."""
        deadline = time.monotonic() + timeout
        for proc, path in self.producers:
            while proc.poll() is None and time.monotonic() < deadline:
                if os.path.exists(path) and os.path.getsize(path):
                    break
                time.sleep(0.05)

    def stop_writing(self):
        """Tell every producer to finish its transaction and stop."""
        open(self.stop_file, 'w').close()

    def kill(self, proc):
        proc.send_signal(signal.SIGKILL)
        proc.wait()

    def api(self, path):
        url = 'http://127.0.0.1:%d/v1/data-sources/nova%s' % (
            self.api_port, path)
        with urllib.request.urlopen(url, timeout=5) as response:
            return json.load(response)

    def stop(self):
        for proc, _ in self.producers:
            if proc.poll() is None:
                self.kill(proc)
        for proc in (self.consumer, self.agent):
            if proc is not None and proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(10)
                except subprocess.TimeoutExpired:
                    self.kill(proc)

    def relayed(self):
        """Records the relay published for dead producers, from its logs."""
        if self.delivery == 'direct':
            return '-'
        total = 0
        for run in range(1, self.agent_runs + 1):
            path = os.path.join(self.workdir, 'agent-%d.log' % run)
            with open(path) as f:
                total += sum(int(n) for n in _RELAYED.findall(f.read()))
        return total
