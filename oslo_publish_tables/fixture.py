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

"""Public test fixtures: real services, a private configuration.

For the tests of this project, of its consumers and of the benchmarks
(``tools/``). Like ``oslo_config.fixture``, this module needs the test
requirements (``fixtures``, ``testtools``); nothing else in the library
imports it.

In the spirit of oslo.db's "opportunistic" tests: a test that needs
PostgreSQL, MySQL/MariaDB or RabbitMQ runs against the server on localhost
when it answers, and is skipped with a reason when it does not.  When the
environment variable ``CI`` is set to a true value (``CI=true``), a missing
server is an error instead, so that CI fails rather than silently skipping.

Servers, each overridable by an environment variable:

* postgresql: ``postgresql+psycopg2://root@127.0.0.1:5432/postgres``
  (``PUBLISH_TABLES_PG_URL``)
* mysql: ``mysql+pymysql://root@127.0.0.1:3306/``
  (``PUBLISH_TABLES_MYSQL_URL``)
* rabbit: ``rabbit://guest:guest@127.0.0.1:5672/``
  (``PUBLISH_TABLES_RABBIT_URL``)

:class:`DatabaseFixture` creates a fresh, randomly named database on the
server (or a temporary SQLite file) and drops it again at cleanup. On the
servers it provisions with oslo.db's opportunistic-test machinery
(:class:`oslo_db.sqlalchemy.provision.Backend`, the layer under
``oslo_db.sqlalchemy.test_fixtures``), pointed at the URLs below rather
than at oslo.db's ``openstack_citest`` account; the skip-or-fail rule
stays this module's.  It only
hands out a URL: tests create their own engines, since the plugin under test
has to be named in the URL (see :func:`add_query`).

Example::

    import sqlalchemy
    import testtools

    from oslo_publish_tables import fixture


    class CaptureTest(testtools.TestCase):
        backend = 'sqlite'  # replaced by for_each_backend()

        def setUp(self):
            super().setUp()
            db = self.useFixture(fixture.DatabaseFixture(self.backend))
            url = fixture.add_query(db.url, plugin='publish_tables')
            self.engine = sqlalchemy.create_engine(url)
            self.addCleanup(self.engine.dispose)

        def test_insert(self):
            ...


    fixture.for_each_backend(CaptureTest)
    # The module now has CaptureTestSQLite, CaptureTestPostgreSQL and
    # CaptureTestMySQL (and no longer CaptureTest itself).

:func:`backend_scenarios` returns the same three variants as a
testscenarios-style list, for code that prefers scenarios.

:class:`RabbitFixture` gives a ``transport_url`` and a ``topic`` unique to the
test, so that concurrently running tests never see each other's messages.

:func:`make_conf` gives a private ``ConfigOpts`` with the producer's
options registered and ``[publish_tables]`` overrides set.
"""

import os
import socket
import sys
import threading
import urllib.parse
import uuid

import fixtures
from oslo_config import cfg
from oslo_db.sqlalchemy import provision
import sqlalchemy as sa
from sqlalchemy import pool as sa_pool
import testtools

from oslo_publish_tables import publisher

SQLITE = 'sqlite'
POSTGRESQL = 'postgresql'
MYSQL = 'mysql'
RABBIT = 'rabbit'

BACKENDS = (SQLITE, POSTGRESQL, MYSQL)

DEFAULT_URLS = {
    POSTGRESQL: 'postgresql+psycopg2://root@127.0.0.1:5432/postgres',
    MYSQL: 'mysql+pymysql://root@127.0.0.1:3306/',
    RABBIT: 'rabbit://guest:guest@127.0.0.1:5672/',
}

URL_ENV_VARS = {
    POSTGRESQL: 'PUBLISH_TABLES_PG_URL',
    MYSQL: 'PUBLISH_TABLES_MYSQL_URL',
    RABBIT: 'PUBLISH_TABLES_RABBIT_URL',
}

DISPLAY_NAMES = {
    SQLITE: 'SQLite',
    POSTGRESQL: 'PostgreSQL',
    MYSQL: 'MySQL',
    RABBIT: 'RabbitMQ',
}

DEFAULT_PORTS = {POSTGRESQL: 5432, MYSQL: 3306, RABBIT: 5672}

# Seconds to wait for a server to answer the availability probe.
PROBE_TIMEOUT = 3.0

_FALSE_VALUES = ('', '0', 'false', 'no', 'off', 'n', 'f')

# (service, url) -> (available, reason); filled once per process.
_availability = {}
_availability_lock = threading.Lock()
# (service, url) -> oslo_db.sqlalchemy.provision.Backend
_provision_backends = {}


class ServiceNotAvailable(RuntimeError):
    """A required service does not answer and CI says it must."""


def ci_enabled():
    """Whether ``$CI`` asks for missing services to be failures."""
    return os.environ.get('CI', '').strip().lower() not in _FALSE_VALUES


def server_url(service):
    """The server URL for *service*, from the environment or the default."""
    if service == SQLITE:
        return 'sqlite://'
    return os.environ.get(URL_ENV_VARS[service]) or DEFAULT_URLS[service]


def _host_port(service, url):
    if service == RABBIT:
        # oslo.messaging URLs may list several hosts; probe the first one.
        netloc = urllib.parse.urlsplit(url).netloc.split(',')[0]
        parsed = urllib.parse.urlsplit('//' + netloc)
        return (parsed.hostname or '127.0.0.1',
                parsed.port or DEFAULT_PORTS[service])
    parsed = sa.engine.make_url(url)
    return parsed.host or '127.0.0.1', parsed.port or DEFAULT_PORTS[service]


def location(service, url=None):
    """``host:port`` of *service*, for messages."""
    host, port = _host_port(service, url or server_url(service))
    return '%s:%s' % (host, port)


def _probe(service, url):
    """Check once whether *service* answers at *url*.

    Returns ``(available, reason)``.  Databases must accept a real
    connection, so that a server without the expected account also counts
    as unavailable; for RabbitMQ a TCP connection is enough.
    """
    if service == SQLITE:
        return True, None
    host, port = _host_port(service, url)
    try:
        with socket.create_connection((host, port), timeout=PROBE_TIMEOUT):
            pass
    except OSError as exc:
        return False, 'cannot connect to %s:%s: %s' % (host, port, exc)
    if service == RABBIT:
        return True, None
    try:
        connect_args = {'connect_timeout': int(PROBE_TIMEOUT)}
        engine = sa.create_engine(url, poolclass=sa_pool.NullPool,
                                  connect_args=connect_args)
        try:
            with engine.connect() as conn:
                conn.execute(sa.text('SELECT 1'))
        finally:
            engine.dispose()
    except Exception as exc:  # driver missing, auth refused, ...
        return False, '%s: %s' % (type(exc).__name__, exc)
    return True, None


def is_available(service, url=None):
    """Return ``(available, reason)``, probing at most once per process."""
    url = url or server_url(service)
    key = (service, url)
    with _availability_lock:
        if key not in _availability:
            _availability[key] = _probe(service, url)
        return _availability[key]


def require(service, url=None):
    """Make sure *service* answers, or skip (or, with ``CI``, fail).

    Raises :class:`ServiceNotAvailable` when ``CI`` is true, otherwise
    ``testtools.TestCase.skipException`` (``unittest.SkipTest``), which
    test runners report as a skip with the reason.
    """
    url = url or server_url(service)
    available, reason = is_available(service, url)
    if available:
        return
    name = DISPLAY_NAMES[service]
    where = location(service, url)
    if ci_enabled():
        raise ServiceNotAvailable(
            'CI=%s and %s at %s does not answer (%s)'
            % (os.environ.get('CI'), name, where, reason))
    raise testtools.TestCase.skipException(
        '%s not available at %s (set CI=true to make this a failure): %s'
        % (name, where, reason))


def provision_backend(service):
    """oslo.db's provisioning :class:`~oslo_db.sqlalchemy.provision.Backend`.

    One per server URL and process, verified (connected) on first use;
    it creates and drops the tests' databases. :func:`require` must have
    passed first: an unreachable server raises
    ``oslo_db.exception.BackendNotAvailable`` here.
    """
    url = server_url(service)
    with _availability_lock:
        backend = _provision_backends.get((service, url))
        if backend is None:
            backend = _provision_backends[(service, url)] = \
                provision.Backend(service, sa.engine.make_url(url))
    return backend._verify()


def add_query(url, **params):
    """Return *url* (a string or URL) with query parameters added.

    Values may be strings or sequences of strings.  A parameter that is
    already present gets the new values appended, so that, e.g.,
    ``add_query(url, plugin='publish_tables')`` keeps other plugins.
    """
    parsed = sa.engine.make_url(url).update_query_dict(params, append=True)
    return parsed.render_as_string(hide_password=False)


class DatabaseFixture(fixtures.Fixture):
    """A fresh, empty database for one test.

    :param backend: ``'sqlite'``, ``'postgresql'`` or ``'mysql'``.

    After setUp, ``url`` is the SQLAlchemy URL (a string) of the new
    database.  For SQLite it is a file in a temporary directory; for the
    servers it is a randomly named database that is dropped at cleanup.
    No engine is created here.
    """

    def __init__(self, backend):
        super().__init__()
        if backend not in BACKENDS:
            raise ValueError('unknown backend %r, expected one of %s'
                             % (backend, ', '.join(BACKENDS)))
        self.backend = backend
        self.url = None
        self.database = None
        self.server_url = None

    def setUp(self):
        # Checked before Fixture.setUp, so that the skip reaches the test
        # as a plain SkipTest rather than wrapped in MultipleExceptions.
        if self.backend != SQLITE:
            require(self.backend)
        super().setUp()

    def _setUp(self):
        if self.backend == SQLITE:
            tmpdir = self.useFixture(fixtures.TempDir()).path
            self.database = os.path.join(tmpdir, 'test.sqlite')
            # An empty file is a valid, empty SQLite database.
            open(self.database, 'wb').close()
            self.server_url = 'sqlite://'
            self.url = 'sqlite:///' + self.database
            return
        self.server_url = server_url(self.backend)
        self.database = 'pt_test_' + uuid.uuid4().hex[:16]
        backend = provision_backend(self.backend)
        backend.create_named_database(self.database)
        self.addCleanup(self._drop, backend)
        if self.backend == MYSQL:  # whatever the server's default
            with backend.engine.begin() as conn:
                conn.execute(sa.text(
                    'ALTER DATABASE `%s` CHARACTER SET utf8mb4'
                    % self.database))
        self.url = backend.provisioned_database_url(
            self.database).render_as_string(hide_password=False)

    def _drop(self, backend):
        if self.backend == MYSQL:
            # oslo.db's DROP DATABASE would wait for the locks of
            # connections a test left open: end them first.
            with backend.engine.connect() as conn:
                rows = conn.execute(
                    sa.text('SELECT id FROM information_schema.processlist '
                            'WHERE db = :db AND id <> CONNECTION_ID()'),
                    {'db': self.database}).fetchall()
                for (thread_id,) in rows:
                    try:
                        conn.execute(sa.text('KILL %d' % int(thread_id)))
                    except sa.exc.DBAPIError:
                        pass  # already gone
        # PostgreSQL: oslo.db ends the sessions of our user, then drops.
        backend.drop_named_database(self.database, conditional=True)


class OutboxSchemaFixture(fixtures.Fixture):
    """A name for ``[publish_tables] outbox_schema``, cleaned up after.

    :param database: the test's :class:`DatabaseFixture` (PostgreSQL or
        MySQL). After setUp, ``name`` is a fresh schema name; nothing is
        created (``db_sync`` does). At cleanup a MySQL database of that
        name is dropped; a PostgreSQL schema goes with its database.
    """

    def __init__(self, database):
        super().__init__()
        self.database = database
        self.name = None

    def _setUp(self):
        self.name = 'pt_outbox_' + uuid.uuid4().hex[:16]
        if self.database.backend == MYSQL:
            backend = provision_backend(MYSQL)
            self.addCleanup(backend.drop_named_database, self.name,
                            conditional=True)


class RabbitFixture(fixtures.Fixture):
    """RabbitMQ for one test: a transport URL and a topic of its own.

    After setUp: ``transport_url`` (an oslo.messaging URL string) and
    ``topic``, a name no other test uses.  Queues named after the topic
    (``<topic>`` and ``<topic>.<priority>``, as made by oslo.messaging
    notification listeners), and any passed to :meth:`add_queue`, are
    deleted at cleanup on a best-effort basis.
    """

    PRIORITIES = ('audit', 'debug', 'info', 'warn', 'error', 'critical',
                  'sample')

    def __init__(self, topic_prefix='pt_test_'):
        super().__init__()
        self.topic_prefix = topic_prefix
        self.transport_url = None
        self.topic = None
        self._queues = []

    def setUp(self):
        require(RABBIT)
        super().setUp()

    def _setUp(self):
        self.transport_url = server_url(RABBIT)
        self.topic = self.topic_prefix + uuid.uuid4().hex[:16]
        self._queues = [self.topic] + ['%s.%s' % (self.topic, p)
                                       for p in self.PRIORITIES]
        self.addCleanup(self._delete_queues)

    def add_queue(self, name):
        """Have queue *name* deleted at cleanup too."""
        self._queues.append(name)

    def notification_transport(self, conf=None):
        """An oslo.messaging notification transport, cleaned up after."""
        from oslo_config import cfg
        import oslo_messaging

        if conf is None:
            conf = cfg.ConfigOpts()
            conf([], project='oslo-publish-tables-tests',
                 default_config_files=[], default_config_dirs=[])
        transport = oslo_messaging.get_notification_transport(
            conf, url=self.transport_url)
        self.addCleanup(transport.cleanup)
        return transport

    def _delete_queues(self):
        try:
            import kombu
        except ImportError:
            return
        amqp_url = 'amqp' + self.transport_url[len('rabbit'):]
        try:
            with kombu.Connection(amqp_url,
                                  connect_timeout=PROBE_TIMEOUT) as conn:
                for name in self._queues:
                    # A fresh channel each time: deleting a queue that is
                    # missing may close the channel on some brokers.
                    try:
                        with conn.channel() as channel:
                            channel.queue_delete(name)
                    except Exception:  # best effort
                        pass
        except Exception:  # broker went away; nothing to clean then
            pass


def backend_scenarios(backends=BACKENDS):
    """testscenarios-style list: ``[(name, {'backend': name}), ...]``."""
    return [(backend, {'backend': backend}) for backend in backends]


def for_each_backend(test_case_class, backends=BACKENDS):
    """Make one subclass of *test_case_class* per database backend.

    The subclasses, named ``<Name>SQLite``, ``<Name>PostgreSQL`` and
    ``<Name>MySQL``, have ``backend`` set and are put in the module that
    defines *test_case_class*.  The class itself is removed from that
    module so that test discovery does not also run it without a backend.

    Returns the tuple of generated classes.  It can also be used as a class
    decorator; the decorated name is then bound to that tuple.
    """
    module = sys.modules[test_case_class.__module__]
    base_name = test_case_class.__name__
    generated = []
    for name, attrs in backend_scenarios(backends):
        class_name = base_name + DISPLAY_NAMES[name]
        qualname = test_case_class.__qualname__[:-len(base_name)] + class_name
        namespace = dict(attrs, __module__=test_case_class.__module__,
                         __qualname__=qualname)
        subclass = type(class_name, (test_case_class,), namespace)
        setattr(module, class_name, subclass)
        generated.append(subclass)
    if getattr(module, base_name, None) is test_case_class:
        delattr(module, base_name)
    return tuple(generated)


def make_conf(config_files=(), **overrides):
    """A private ConfigOpts with ``[publish_tables]`` overrides.

    ``config_files`` are loaded too (e.g. ``[oslo_messaging_rabbit]``).
    """
    conf = cfg.ConfigOpts()
    publisher.register_opts(conf)
    conf([], default_config_files=list(config_files))
    for name, value in overrides.items():
        conf.set_override(name, value, 'publish_tables')
    return conf
