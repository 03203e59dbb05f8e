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

"""Tests of the FilteredPublisher: what each subscriber is sent."""

import time

import testtools

from oslo_publish_tables.protocol import codec
from oslo_publish_tables import transport as transport_mod

from congress_consumer.replication import sync as sync_mod
from congress_consumer.subscriptions import delivery
from congress_consumer.subscriptions import registry as registry_mod


class FakeTopic(object):
    def __init__(self, fail=0):
        self.sent = []
        self.fail = fail

    def send(self, event_type, payload):
        if self.fail:
            self.fail -= 1
            raise transport_mod.SendError('broker away')
        self.sent.append((event_type, payload))

    def close(self):
        pass


class DeliveryTest(testtools.TestCase):

    def setUp(self):
        super().setUp()
        self.sync = sync_mod.Synchronizer(['t'], {'t': ('id',)}, None)
        replica = self.sync.replicas['t']
        replica.begin_load(1)
        replica.load([{'id': 1, 'host': 'h1'}, {'id': 2, 'host': 'h2'}])
        replica.end_load()
        self.pub = delivery.FilteredPublisher(None, {'ds': self.sync}, None,
                                              max_retry_interval=0.05)
        self.addCleanup(self.pub.stop, 1.0)

    def subscribe(self, sid, payload='delta', fail=0):
        topic = self.pub._topics[sid] = FakeTopic(fail)
        seq, rows = self.pub.add(registry_mod.Subscription(
            sid, sid, 'ds', 't', [{'column': 'host', 'value': 'h1'}],
            payload))
        return topic, seq, rows

    def apply(self, op, key, host, ts):
        with self.sync.lock:
            self.sync.replicas['t'].apply(op, {'id': key},
                                          {'id': key, 'host': host}, ts)

    def workload(self):
        self.apply('update', 2, 'h1', 10)   # enters the filter: insert
        self.apply('update', 1, 'h3', 11)   # leaves it: delete
        self.apply('update', 5, 'h9', 12)   # never matches: nothing
        self.apply('update', 2, 'h1', 13)   # same row: not visible
        self.apply('delete', 2, None, 14)   # deleted: delete

    def wait_sent(self, topic, count):
        deadline = time.monotonic() + 5
        while len(topic.sent) < count and time.monotonic() < deadline:
            time.sleep(0.01)
        return [p for _, p in topic.sent]

    def test_delta_ops_as_the_subscriber_sees_them(self):
        topic, seq, rows = self.subscribe('a')
        self.assertEqual((0, {'t': [{'id': 1, 'host': 'h1'}]}), (seq, rows))
        self.pub.start()
        self.workload()
        sent = self.wait_sent(topic, 3)
        self.assertEqual(
            [(1, 'insert', {'id': 2}, {'id': 2, 'host': 'h1'}, 10),
             (2, 'delete', {'id': 1}, {'id': 1, 'host': 'h1'}, 11),
             (3, 'delete', {'id': 2}, {'id': 2, 'host': 'h1'}, 14)],
            [(p['seq'], p['op'], codec.decode_row(p['pk']),
              codec.decode_row(p['row']), p['ts']) for p in sent])
        self.assertEqual({self.pub.epoch}, {p['epoch'] for p in sent})
        self.assertEqual({delivery.EVENT_DELTA},
                         {e for e, _ in topic.sent})

    def test_snapshot_payload_and_retry_in_order(self):
        topic, _, _ = self.subscribe('s', payload='snapshot', fail=2)
        self.pub.start()
        self.workload()
        sent = self.wait_sent(topic, 3)
        self.assertEqual(
            [[1, 2], [2], []],
            [sorted(codec.decode_row(r)['id'] for r in p['rows'])
             for p in sent])
        self.assertEqual([1, 2, 3], [p['seq'] for p in sent])
        self.assertEqual(2, self.pub.stats['send_failures'])

    def test_nothing_queued_without_subscribers(self):
        self.pub.start()
        self.workload()
        self.assertEqual(0, len(self.pub._queue))

    def test_unsubscribed_notifications_are_not_sent(self):
        topic, _, _ = self.subscribe('u')
        self.pub._watchers['ds'] = watcher = self.pub._watcher('ds')
        self.sync.replicas['t'].watchers.append(watcher)
        self.workload()
        self.assertEqual(3, len(self.pub._queue))
        self.pub.remove('u')
        self.pub.start()
        self.pub.stop(1.0)
        self.assertEqual([], topic.sent)
        self.assertEqual(0, len(self.pub._queue))

    def test_restored_subscription_waits_for_the_load(self):
        sync = sync_mod.Synchronizer(['t'], {'t': ('id',)}, None)
        self.pub.syncs['later'] = sync
        topic = self.pub._topics['r'] = FakeTopic()
        self.pub.start()
        self.pub.restore(registry_mod.Subscription(
            'r', 'r', 'later', 't', [{'column': 'host', 'value': 'h1'}]))
        self.assertTrue(self.pub._by_id['r'].pending)
        replica = sync.replicas['t']
        replica.watchers.append(self.pub._watcher('later'))
        with sync.lock:
            replica.begin_load(1)
            replica.load([{'id': 1, 'host': 'h1'}, {'id': 2, 'host': 'h2'}])
        self.assertEqual([], topic.sent)  # loading: nothing sent
        with sync.lock:
            replica.end_load()
        [payload] = self.wait_sent(topic, 1)
        self.assertEqual(('restart', 1, [{'id': 1, 'host': 'h1'}]),
                         (payload['reason'], payload['seq'],
                          [codec.decode_row(r) for r in payload['rows']]))
        self.assertFalse(self.pub._by_id['r'].pending)
