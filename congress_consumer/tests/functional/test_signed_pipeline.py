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

"""Signed messages end to end: producer, oslo.messaging, consumer driver.

The payloads go through the notifier and the listener of the ``fake``
driver (a JSON round trip), so the signature is checked on what a
consumer really receives; a forger on the same bus changes nothing.
"""

import time

import oslo_messaging
import testtools

from oslo_publish_tables.protocol import envelope
from oslo_publish_tables.protocol import signing
from publish_tables_demo import workload as demo_workload

from congress_consumer.tests import pipeline

KEY = 'pipeline-signing-key-0123456789'


class SignedPipelineTest(testtools.TestCase):
    compression = None

    def setUp(self):
        super().setUp()
        self.p = self.useFixture(pipeline.Pipeline(
            driver_args={'signing_key': KEY, 'signing_key_id': 'k1'},
            compression=self.compression, signer=signing.Signer('k1', KEY)))

    def _forge(self):
        """Publish, on the consumer's bus, a batch it must not apply."""
        notifier = oslo_messaging.Notifier(
            self.p._shared, publisher_id='attacker', driver='messaging',
            topics=[self.p.topic])
        instance = envelope.Change(
            'instances', 'insert', {'id': 999999},
            {'id': 999999, 'uuid': 'forged', 'host': 'evil'}, ['uuid'])
        producer = {'id': 'f' * 32, 'host': 'x', 'pid': 1, 'started': 1}
        ts = int(time.time() * 1e6) + 10 ** 9
        payload = envelope.batch(
            producer, 1, [envelope.txn_record(1, ts, 'forged', [instance])],
            10.0)
        if self.compression:
            payload = envelope.compress(payload)
        notifier.info({}, envelope.EVENT_BATCH, payload)      # unsigned
        notifier.info({}, envelope.EVENT_BATCH,               # wrong key
                      signing.Signer('k1', 'x' * 32).sign(payload))

    def test_signed_changes_converge_and_forgeries_do_not(self):
        workload = demo_workload.Workload(self.p.producer.engine, seed=3)
        for _ in range(20):
            workload.step()
        self._forge()
        for _ in range(20):
            workload.step()
        self.assertEqual([], self.p.converge())

        status = self.p.driver.get_status()
        counts = status['signatures']['counts']
        self.assertGreater(counts.get('verified:k1', 0), 0)
        deadline = time.monotonic() + 10
        while (self.p.driver.sync.counts['discarded'] < 2 and
               time.monotonic() < deadline):
            time.sleep(0.01)
        discarded = self.p.driver.sync.counts
        self.assertEqual(1, discarded['discarded:unauthenticated:unsigned'])
        self.assertEqual(
            1, discarded['discarded:unauthenticated:bad_signature'])
        self.assertNotIn((999999,), self.p.replica_rows('instances'))
        self.assertEqual([], self.p.diverging())
        self.assertEqual(0, discarded['discarded:malformed'])
        self.assertEqual({'zlib-1' if self.compression else 'plain'},
                         self.p.encodings())


class CompressedSignedPipelineTest(SignedPipelineTest):
    """Signed and compressed: the signature covers the body as sent."""

    compression = 'zlib'
