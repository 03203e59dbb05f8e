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

"""Secrets stay out of logs: URL passwords and signing keys."""

import logging
import time

import fixtures
from oslo_config import cfg
import oslo_messaging
import testtools

from oslo_publish_tables.capture import listeners
from oslo_publish_tables.protocol import envelope
from oslo_publish_tables.protocol import redaction
from oslo_publish_tables.protocol import signing
from oslo_publish_tables import sender as sender_mod
from oslo_publish_tables import transport as transport_mod

PASSWORD = 'Sup3r-S3cret-pw'
KEY = 'signing-key-that-must-not-leak'


def _draft(n):
    return listeners.Draft(
        'txn', 1700000000000000 + n, txn='x%d' % n,
        changes=[envelope.Change('instances', 'insert', {'id': n},
                                 {'id': n}, ['id'])])


class RedactTest(testtools.TestCase):

    def test_url_passwords(self):
        self.assertEqual(['pw'], redaction.url_passwords(
            'rabbit://user:pw@host:5672/'))
        self.assertEqual(['p1', 'p2'], redaction.url_passwords(
            'rabbit://u:p1@h1:5672,u:p2@h2:5672/vhost'))
        self.assertEqual(['p%40ss', 'p@ss'], redaction.url_passwords(
            'rabbit://u:p%40ss@h/'))
        for url in (None, '', 'fake://', 'rabbit://h:5672/',
                    'amqp://user@h/'):
            self.assertEqual([], redaction.url_passwords(url))

    def test_redact(self):
        self.assertEqual(
            'cannot reach rabbit://u:***@h1:5672,u:***@h2:5672/ (x)',
            redaction.redact('cannot reach rabbit://u:p1@h1:5672,'
                             'u:p2@h2:5672/ (x)'))
        self.assertEqual('bad password *** for ***@h',
                         redaction.redact('bad password p@ssw0rd for '
                                          'p@ssw0rd@h', ['p@ssw0rd']))
        # Short literals are not masked (they would hide ordinary words);
        # within URLs every password is.
        self.assertEqual('a pw', redaction.redact('a pw', ['pw']))
        self.assertEqual('mysql://ro:***@db/nova',
                         redaction.redact(ValueError('mysql://ro:pw@db/nova')))


class ProducerLogsTest(testtools.TestCase):
    """Start a sender on a URL with a password and let every send fail."""

    def setUp(self):
        super().setUp()
        self.log = self.useFixture(fixtures.FakeLogger(level=logging.DEBUG))
        self.conf = cfg.ConfigOpts()
        self.conf([])

    def run_sender(self, transport):
        sender = sender_mod.Sender(
            transport, max_retry_interval=0.05, shutdown_timeout=0.2,
            signer=signing.Signer('k1', KEY))
        self.addCleanup(sender.stop)
        sender.submit(_draft(1))
        deadline = time.monotonic() + 10
        while (sender.stats['send_failures'] < 3 and
               time.monotonic() < deadline):
            time.sleep(0.01)
        sender.stop()
        self.assertGreaterEqual(sender.stats['send_failures'], 3)
        self.assertIn('send failed', self.log.output)
        return self.log.output

    def test_unreachable_broker(self):
        # A real rabbit driver, on a port where nothing listens: the
        # connection is refused at once, at every attempt.
        url = 'rabbit://nova:%s@127.0.0.1:1/' % PASSWORD
        transport = transport_mod.NotificationTransport(
            self.conf, 'publish_tables', 'publish_tables.test',
            transport_url=url, retry=0)
        self.addCleanup(transport.close)
        output = self.run_sender(transport)
        self.assertNotIn(PASSWORD, output)
        self.assertNotIn(KEY, output)

    def test_driver_error_quoting_the_url(self):
        url = 'rabbit://nova:%s@broker-1:5672,nova:%s@broker-2:5672/' % (
            PASSWORD, PASSWORD)
        fake = oslo_messaging.get_notification_transport(self.conf,
                                                         url='fake://')
        self.addCleanup(fake.cleanup)
        transport = transport_mod.NotificationTransport(
            self.conf, 'publish_tables', 'publish_tables.test',
            transport_url=url, transport=fake)

        def fail(*args, **kwargs):
            # Some drivers do this; the password must still not show.
            raise oslo_messaging.MessageDeliveryFailure(
                'cannot send to %s (password %s)' % (url, PASSWORD))

        self.useFixture(fixtures.MockPatchObject(
            fake, '_send_notification', fail))
        output = self.run_sender(transport)
        self.assertIn('broker-1', output)
        self.assertNotIn(PASSWORD, output)
        self.assertNotIn(KEY, output)
