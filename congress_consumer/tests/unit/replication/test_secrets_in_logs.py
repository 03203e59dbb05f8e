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

"""A datasource with secrets in its config never logs them."""

import logging
import time

import fixtures

from oslo_publish_tables import exceptions as pt_exceptions
from oslo_publish_tables.protocol import signing

from congress_consumer.cmd import consumer
from congress_consumer.tests.unit.replication import test_receiver_driver
from congress_consumer.tests.unit import test_consumer_cmd

PASSWORD = 'Sup3r-S3cret-pw'
KEY = 'signing-key-that-must-not-leak'
OLD_KEY = 'old-signing-key-that-must-not-leak'
URL = 'fake://congress:%s@broker:5672/' % PASSWORD


class FailingSource(test_receiver_driver.FakeSource):
    """A snapshot source whose errors quote the transport URL."""

    def __init__(self):
        super().__init__({})
        self.attempts = 0

    def open(self, table):
        self.attempts += 1
        raise pt_exceptions.SnapshotError(
            'no answer from publish-tables-agent at %s' % URL)


class DriverLogsTest(test_consumer_cmd.ConfTestCase):

    def test_secrets_stay_out_of_the_logs(self):
        log = self.useFixture(fixtures.FakeLogger(level=logging.DEBUG))
        conf = self.make_conf(
            '[consumer]\ndatasources = nova\n'
            '[datasource_nova]\ntables = instances\n'
            'transport_url = %s\nsigning_key = %s\nsigning_key_id = k2\n'
            'previous_signing_key = %s\nprevious_signing_key_id = k1\n'
            % (URL, KEY, OLD_KEY))
        source = FailingSource()
        driver = consumer.build_driver(conf, 'nova',
                                       snapshot_source=source)
        self.addCleanup(driver.stop)
        driver.sync.retry_interval = 0.01
        conf.log_opt_values(logging.getLogger('test'), logging.DEBUG)
        driver.start()
        # Failing snapshots, and a forged message.
        deadline = time.monotonic() + 10
        while source.attempts < 3 and time.monotonic() < deadline:
            time.sleep(0.01)
        forged = signing.Signer('k2', 'x' * 32).sign(
            test_receiver_driver._payload(
                1, 1, test_receiver_driver._change('instances', 'insert',
                                                   1)))
        driver.receiver.deliver('publish_tables.batch', forged)
        driver.stop()

        output = log.output
        self.assertGreaterEqual(source.attempts, 3)
        self.assertIn('snapshot of instances failed', output)
        self.assertIn('fake://congress:***@broker', output)
        self.assertIn('unauthenticated', output)
        for secret in (PASSWORD, KEY, OLD_KEY):
            self.assertNotIn(secret, output)
        status = repr(driver.get_status())
        for secret in (PASSWORD, KEY, OLD_KEY):
            self.assertNotIn(secret, status)
