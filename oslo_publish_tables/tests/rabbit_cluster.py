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

"""A three-node RabbitMQ cluster on loopback ports, for tests.

:class:`RabbitClusterFixture` starts three RabbitMQ nodes of its own
(``pt-a@localhost`` .. ``pt-c@localhost``, AMQP ports 5681-5683, Erlang
distribution ports 25681-25683 by default) in a temporary directory with
a shared Erlang cookie, clusters them (classic-config peer discovery
at boot; ``rabbitmqctl stop_app``/``join_cluster``/``start_app`` for a
node it missed) and kills them again at clean-up. It never touches the
host's default node (5672): every command names its node, and the nodes
read an empty plugin list and a configuration file of their own instead
of ``/etc/rabbitmq``.

Without ``rabbitmq-server`` the test is skipped with the reason, or
fails when ``CI=true`` (as for the database and broker fixtures).
"""

import os
import shutil
import signal
import socket
import subprocess
import time

import fixtures
import testtools

RABBIT_BIN = '/usr/lib/rabbitmq/bin'
NODES = ('pt-a', 'pt-b', 'pt-c')
BASE_PORT = 5681
DIST_OFFSET = 20000
START_TIMEOUT = 90.0


class ClusterError(Exception):
    """A node of the test cluster did not start or join."""


def _binary(name):
    path = os.path.join(RABBIT_BIN, name)
    return path if os.access(path, os.X_OK) else shutil.which(name)


def available():
    """None if RabbitMQ can be started here, else the reason it cannot."""
    if _binary('rabbitmq-server') is None:
        return 'rabbitmq-server is not installed'
    if _binary('rabbitmqctl') is None:
        return 'rabbitmqctl is not installed'
    return None


def _port_open(port):
    try:
        with socket.create_connection(('127.0.0.1', port), timeout=1):
            return True
    except OSError:
        return False


class Node(object):
    """One node: its name, ports, directories and process."""

    def __init__(self, base_dir, short_name, port, cookie, peers=()):
        self.name = '%s@localhost' % short_name
        self.port = port
        self.dist_port = port + DIST_OFFSET
        self.home = base_dir
        self.dir = os.path.join(base_dir, short_name)
        self.cookie = cookie
        self.process = None
        os.makedirs(os.path.join(self.dir, 'log'))
        with open(os.path.join(self.dir, 'rabbitmq.conf'), 'w') as conf:
            conf.write('listeners.tcp.1 = 127.0.0.1:%d\n'
                       'loopback_users = none\n' % port)
            if peers:  # form the cluster at boot (no stop/join/start)
                conf.write(
                    'cluster_formation.peer_discovery_backend = '
                    'classic_config\n'
                    'cluster_formation.randomized_startup_delay_range'
                    '.min = 0\n'
                    'cluster_formation.randomized_startup_delay_range'
                    '.max = 1\n')
                for i, peer in enumerate(peers, 1):
                    conf.write('cluster_formation.classic_config.nodes.%d'
                               ' = %s\n' % (i, peer))
        with open(os.path.join(self.dir, 'enabled_plugins'), 'w') as plug:
            plug.write('[].\n')

    @property
    def url(self):
        return 'rabbit://guest:guest@127.0.0.1:%d/' % self.port

    def env(self):
        env = dict(os.environ)
        env.update({
            'HOME': self.home,
            'RABBITMQ_NODENAME': self.name,
            'RABBITMQ_NODE_IP_ADDRESS': '127.0.0.1',
            'RABBITMQ_NODE_PORT': str(self.port),
            'RABBITMQ_DIST_PORT': str(self.dist_port),
            'RABBITMQ_MNESIA_BASE': os.path.join(self.dir, 'mnesia'),
            'RABBITMQ_LOG_BASE': os.path.join(self.dir, 'log'),
            'RABBITMQ_CONFIG_FILE': os.path.join(self.dir, 'rabbitmq.conf'),
            'RABBITMQ_ENABLED_PLUGINS_FILE': os.path.join(
                self.dir, 'enabled_plugins'),
            'RABBITMQ_PID_FILE': os.path.join(self.dir, 'pid'),
        })
        env.pop('RABBITMQ_SERVER_START_ARGS', None)
        return env

    def start(self):
        self.process = subprocess.Popen(
            [_binary('rabbitmq-server')], env=self.env(),
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            start_new_session=True)

    def ctl(self, *args, timeout=60):
        """Run ``rabbitmqctl -n <this node> args``; return its output."""
        result = subprocess.run(
            [_binary('rabbitmqctl'), '-n', self.name] + list(args),
            env=self.env(), capture_output=True, text=True,
            timeout=timeout)
        if result.returncode:
            raise ClusterError('rabbitmqctl -n %s %s: %s' % (
                self.name, ' '.join(args),
                (result.stderr or result.stdout).strip()))
        return result.stdout

    def wait_started(self, timeout=START_TIMEOUT):
        """Wait for the AMQP listener: a node opens it when booted.

        (Cheaper than ``rabbitmqctl wait``: every CLI call starts an
        Erlang VM.)
        """
        deadline = time.monotonic() + timeout
        while not _port_open(self.port):
            if self.process.poll() is not None:
                raise ClusterError('%s exited with status %s; see %s'
                                   % (self.name, self.process.returncode,
                                      os.path.join(self.dir, 'log')))
            if time.monotonic() > deadline:
                raise ClusterError('%s does not listen on %d'
                                   % (self.name, self.port))
            time.sleep(0.2)

    def kill(self):
        """Kill the node's process group at once (a crash, no goodbye)."""
        if self.process is None or self.process.poll() is not None:
            return
        try:
            os.killpg(self.process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.process.wait(30)

    def running(self):
        return self.process is not None and self.process.poll() is None


class RabbitClusterFixture(fixtures.Fixture):
    """Three clustered RabbitMQ nodes; ``self.nodes`` and ``self.urls``."""

    def __init__(self, base_port=BASE_PORT, names=NODES):
        super().__init__()
        self.base_port = base_port
        self.names = names
        self.nodes = []

    def _setUp(self):
        reason = available()
        if reason is not None:
            if os.environ.get('CI', '').lower() == 'true':
                raise ClusterError('CI=true and %s' % reason)
            self.skipTest(reason)
        for offset in range(len(self.names)):
            for port in (self.base_port + offset,
                         self.base_port + offset + DIST_OFFSET):
                if _port_open(port):
                    raise ClusterError('port %d is taken: another test '
                                       'cluster running?' % port)
        base = self.useFixture(fixtures.TempDir()).path
        cookie = 'PTTESTCLUSTER%d' % os.getpid()
        cookie_file = os.path.join(base, '.erlang.cookie')
        with open(cookie_file, 'w') as out:
            out.write(cookie)
        os.chmod(cookie_file, 0o400)
        peers = ['%s@localhost' % name for name in self.names]
        self.nodes = [Node(base, name, self.base_port + i, cookie, peers)
                      for i, name in enumerate(self.names)]
        self.addCleanup(self._stop_all)
        for node in self.nodes:
            node.start()
        for node in self.nodes:
            node.wait_started()
        first = self.nodes[0]
        running = self._running(first)
        if running != len(self.nodes):
            for node in self.nodes[1:]:  # peer discovery missed some
                if self._running(node) != len(self.nodes):
                    node.ctl('stop_app')
                    node.ctl('join_cluster', first.name)
                    node.ctl('start_app')
            running = self._running(first)
        if running != len(self.nodes):
            raise ClusterError('cluster has %s running nodes, expected %d'
                               % (running, len(self.nodes)))

    @staticmethod
    def _running(node):
        return int(node.ctl('eval',
                            'length(rabbit_nodes:all_running()).').strip())

    @staticmethod
    def skipTest(reason):
        raise testtools.TestCase.skipException(reason)

    @property
    def urls(self):
        """One transport URL naming every node.

        oslo.messaging fails over between the hosts of a URL.
        """
        hosts = ','.join('guest:guest@127.0.0.1:%d' % n.port
                         for n in self.nodes)
        return 'rabbit://%s/' % hosts

    def _stop_all(self):
        for node in self.nodes:
            node.kill()
