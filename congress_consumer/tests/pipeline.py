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

"""Producer database + sender + consumer driver, wired for tests.

On ``fake://`` both sides share one transport object (the fake driver
keeps messages per transport); on RabbitMQ they connect separately.
"""

import collections
import time
import uuid

import fixtures
import oslo_messaging
import sqlalchemy as sa

from oslo_publish_tables import fixture as backends
from oslo_publish_tables.outbox import migration
from oslo_publish_tables import publisher
from oslo_publish_tables import sender as sender_mod
from oslo_publish_tables.tests import capture_fixture
from oslo_publish_tables import transport as transport_mod
from publish_tables_demo import schema as demo_schema

from congress_consumer.replication import driver as driver_mod
from congress_consumer.replication import snapshots


class Producer(fixtures.Fixture):
    """An engine with publishing installed and its own sender."""

    def __init__(self, url, conf, transport, topic, tables,
                 compression=None, signer=None):
        super().__init__()
        self.signer = signer
        self.url, self.conf = url, conf
        self.transport, self.topic, self.tables = transport, topic, tables
        self.compression = compression
        self.encodings = collections.Counter()  # 'plain' or the encoding

    def _setUp(self):
        self.engine = sa.create_engine(self.url)
        self.addCleanup(self.engine.dispose)
        notifications = transport_mod.NotificationTransport(
            self.conf, self.topic, 'test-producer', transport=self.transport)
        send = notifications.send

        def counting_send(event_type, payload):
            send(event_type, payload)
            self.encodings[payload.get('encoding', 'plain')] += 1

        notifications.send = counting_send
        self.sender = sender_mod.Sender(notifications, heartbeat_interval=0.5,
                                        compression=self.compression,
                                        signer=self.signer)
        self.addCleanup(self.sender.stop)
        self.capture = publisher.install(self.engine, self.conf,
                                         submit=self.sender.submit)
        if self.conf.publish_tables.delivery != 'relayed':
            self.sender.start()  # announced at once, as the plugin does
        self.addCleanup(publisher.uninstall, self.engine)


class Pipeline(fixtures.Fixture):
    """A published database and a consumer driver replicating it."""

    def __init__(self, backend='sqlite', rabbit=False,
                 tables=demo_schema.PUBLISHED, driver_args=None,
                 delivery='direct', compression=None, exclude_columns=(),
                 transport_url=None, config_files=(), outbox_schema=False,
                 signer=None):
        super().__init__()
        self.signer = signer  # the producers' signing.Signer, if any
        # outbox_schema: the outbox in a schema/database of its own.
        self.outbox_schema = outbox_schema
        # transport_url: a broker of the test's own (e.g. a cluster);
        # config_files: loaded into the conf of both sides.
        self.own_url = transport_url
        self.config_files = config_files
        self.compression = compression
        self.exclude_columns = list(exclude_columns)
        self.backend = backend
        self.delivery = delivery
        self.rabbit = rabbit
        self.tables = list(tables)
        self.driver_args = driver_args or {}

    def _setUp(self):
        db = self.useFixture(backends.DatabaseFixture(self.backend))
        self.url = db.url
        engine = sa.create_engine(db.url)
        demo_schema.create(engine)
        self.where = None
        if self.outbox_schema:
            self.where = self.useFixture(
                backends.OutboxSchemaFixture(db)).name
        if self.delivery in ('durable', 'relayed'):
            migration.upgrade(engine, schema_name=self.where)
        engine.dispose()
        self.conf = capture_fixture.make_conf(
            tables=self.tables, delivery=self.delivery,
            exclude_columns=self.exclude_columns,
            config_files=self.config_files, outbox_schema=self.where)
        if self.own_url:
            self.rabbit = True  # a transport per side, as on RabbitMQ
            self.topic = 'pt_test_%s' % uuid.uuid4().hex[:16]
            self.transport_url = self.own_url
        elif self.rabbit:
            rabbit = self.useFixture(backends.RabbitFixture())
            self.topic = rabbit.topic
            self.transport_url = rabbit.transport_url
        else:
            self.topic = 'publish_tables'
            self.transport_url = 'fake://'
        self._shared = None if self.rabbit else self.new_transport()
        self.producers = []
        self.producer = self.add_producer()
        self.driver = self.new_driver()

    def new_transport(self):
        transport = oslo_messaging.get_notification_transport(
            self.conf, url=self.transport_url)
        self.addCleanup(transport.cleanup)
        return transport

    def add_producer(self):
        """Another producer process-equivalent writing the same database."""
        transport = self._shared or self.new_transport()
        producer = self.useFixture(Producer(
            self.url, self.conf, transport, self.topic, self.tables,
            self.compression, self.signer))
        self.producers.append(producer)
        return producer

    def encodings(self):
        """The payload forms every producer sent: 'plain', 'zlib-1'."""
        return {e for p in self.producers for e in p.encodings}

    def new_driver(self, start=True, **overrides):
        args = dict(tables=self.tables, topic=self.topic, gap_timeout=0.5,
                    producer_timeout=3.0)
        args.update(self.driver_args)
        args.update(overrides)
        source = None  # snapshot_source = database: the driver's own
        if args.get('snapshot_source') == 'database':
            args['database_url'] = self.url
        else:
            source = snapshots.DirectSnapshotSource(
                self.url, self.tables, outbox_schema=self.where)
        driver = driver_mod.PublishTablesDriver(
            'nova', args, conf=self.conf,
            transport=self._shared or self.new_transport(),
            snapshot_source=source)
        if start:
            driver.start()
            self.addCleanup(driver.stop)
        return driver

    def db_rows(self, table):
        info = self.producer.capture.registry.get(table)
        with self.producer.engine.connect() as conn:
            return {info.key_of(r._mapping): dict(r._mapping)
                    for r in conn.execute(sa.select(*info.columns))}

    def replica_rows(self, table, driver=None):
        driver = driver or self.driver
        with driver.sync.lock:
            return dict(driver.sync.replicas[table].rows)

    def diverging(self, driver=None):
        """Tables whose replica differs from the database (row for row)."""
        return [t for t in self.tables
                if self.db_rows(t) != self.replica_rows(t, driver)]

    def converge(self, timeout=20.0, driver=None):
        """Wait until every replica equals its table; return leftovers."""
        driver = driver or self.driver
        deadline = time.monotonic() + timeout
        while True:
            driver.sync.tick()
            bad = self.diverging(driver)
            with driver.sync.lock:
                bad += [t + ' (%s)' % s.state
                        for t, s in driver.sync.status.items()
                        if s.state != 'LIVE']
            if not bad or time.monotonic() > deadline:
                return bad
            time.sleep(0.05)
