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

"""Tests for the background sender, with an in-memory transport."""

import json
import logging
import os
import threading
import time

import fixtures
import testtools

from oslo_publish_tables.capture import listeners
from oslo_publish_tables.protocol import envelope
from oslo_publish_tables.protocol import signing
from oslo_publish_tables import sender as sender_mod
from oslo_publish_tables import transport as transport_mod

TS = 1700000000000000


class FakeTransport(object):
    """Records what it is asked to send; can fail or block on demand."""

    def __init__(self, fail=0, gate=None, delay=0.0):
        self.fail = fail
        self.gate = gate
        self.delay = delay
        self.attempts = 0
        self.sent = []
        self.entered = threading.Event()

    def send(self, event_type, payload):
        self.attempts += 1
        self.entered.set()
        if self.gate is not None:
            self.gate.wait(10)
        if self.delay:
            time.sleep(self.delay)
        if self.fail > 0:
            self.fail -= 1
            raise transport_mod.SendError('broker unreachable')
        # What a broker would carry: JSON, validated as a consumer would.
        self.sent.append((event_type,
                          envelope.parse(json.loads(json.dumps(payload)))))

    def batches(self, event_type=envelope.EVENT_BATCH):
        return [b for e, b in self.sent if e == event_type]

    def records(self):
        return [r for b in self.batches() for r in b.records]

    def seqs(self):
        return [r.seq for r in self.records()]


def _draft(n, changes=1):
    return listeners.Draft(
        'txn', TS + n, txn='x%d' % n,
        changes=[envelope.Change('instances', 'update', {'id': n * 1000 + i},
                                 {'id': n * 1000 + i, 'vm_state': 'active'},
                                 ['vm_state'])
                 for i in range(changes)])


def _wait_for(predicate, timeout=5.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.005)
    return predicate()


class SenderTest(testtools.TestCase):

    def make_sender(self, transport, **kwargs):
        kwargs.setdefault('shutdown_timeout', 5.0)
        kwargs.setdefault('max_retry_interval', 0.1)
        sender = sender_mod.Sender(transport, **kwargs)
        self.addCleanup(sender.stop)
        return sender

    def test_sequence_numbers_have_no_holes(self):
        transport = FakeTransport()
        sender = self.make_sender(transport, max_batch_changes=4)
        sender.submit(_draft(1))
        sender.submit(_draft(2, changes=9))      # 3 parts
        sender.submit(listeners.Draft.resync(['tags'], 'SQL text'))
        self.assertTrue(sender.flush(5))
        sender.submit(_draft(3, changes=0))
        for n in range(4, 10):
            sender.submit(_draft(n))
        self.assertEqual(12, sender.last_seq)
        sender.stop()

        self.assertEqual(list(range(1, 13)), transport.seqs())
        kinds = [r.kind for r in transport.records()]
        self.assertEqual(['txn'] * 4 + ['resync'] + ['txn'] * 7, kinds)
        # Every batch says how far the producer has numbered.
        for batch in transport.batches():
            self.assertGreaterEqual(batch.last_seq,
                                    max(r.seq for r in batch.records))
        self.assertEqual(1, len({b.producer['id'] for _, b in
                                 transport.sent}))

    def test_every_message_says_the_stamps_before_it(self):
        # ts_before: the highest stamp of the records numbered before the
        # message's first (all of them in the goodbye), across failures.
        transport = FakeTransport(fail=2)
        sender = self.make_sender(transport, max_batch_changes=2)
        for n in (5, 9, 7):  # stamps out of order, as threads commit
            sender.submit(_draft(n))
        sender.submit(_draft(8, changes=3))  # 2 parts, one stamp
        self.assertTrue(sender.flush(5))
        sender.stop()
        stamps = {1: TS + 5, 2: TS + 9, 3: TS + 7, 4: TS + 8, 5: TS + 8}
        sent = [b for _, b in transport.sent]
        self.assertGreater(len(sent), 2)
        for batch in sent:
            first = min([r.seq for r in batch.records],
                        default=batch.last_seq + 1)
            self.assertEqual(
                max([ts for seq, ts in stamps.items() if seq < first],
                    default=0), batch.ts_before, batch)
        self.assertTrue(sent[-1].final)
        self.assertEqual(TS + 9, sent[-1].ts_before)

    def test_stop_with_unsent_records_says_so(self):
        # Without the goodbye the consumers resync once they find the
        # producer silent; the operator learns why from this line.
        log = self.useFixture(fixtures.FakeLogger(level=logging.WARNING))
        sender = self.make_sender(FakeTransport(fail=10 ** 6),
                                  shutdown_timeout=0.2)
        sender.submit(_draft(1))
        sender.submit(listeners.Draft.resync(['tags'], 'SQL text'))
        sender.stop()
        self.assertIn('stopping with 2 records not sent', log.output)
        self.assertIn('(tables: instances, tags)', log.output)

    def test_concurrent_submits_are_numbered_once(self):
        transport = FakeTransport()
        sender = self.make_sender(transport)
        start = threading.Event()

        def work(base):
            start.wait(5)
            for n in range(50):
                sender.submit(_draft(base + n))

        threads = [threading.Thread(target=work, args=(i * 100,))
                   for i in range(4)]
        for thread in threads:
            thread.start()
        start.set()
        for thread in threads:
            thread.join(10)
        sender.stop()
        self.assertEqual(list(range(1, 201)), transport.seqs())
        self.assertEqual(200, len({r.txn for r in transport.records()}))

    def test_many_records_are_packed_into_few_notifications(self):
        transport = FakeTransport(delay=0.002)
        sender = self.make_sender(transport)
        for n in range(1, 501):
            sender.submit(_draft(n))
        self.assertTrue(sender.flush(10))
        self.assertTrue(_wait_for(lambda: len(transport.seqs()) == 500))

        batches = transport.batches()
        self.assertLess(len(batches), 500 // 5)
        self.assertEqual(list(range(1, 501)), transport.seqs())
        self.assertEqual(['x%d' % n for n in range(1, 501)],
                         [r.txn for r in transport.records()])
        self.assertEqual(500, sender.stats['records'])

    def test_notification_size_is_bounded(self):
        transport = FakeTransport(gate=threading.Event())
        self.addCleanup(transport.gate.set)
        sender = self.make_sender(transport, max_batch_changes=10)
        sender.submit(_draft(0))
        self.assertTrue(transport.entered.wait(5))
        for n in range(1, 31):
            sender.submit(_draft(n, changes=3))
        transport.gate.set()
        sender.stop()
        self.assertEqual(list(range(1, 32)), transport.seqs())
        for batch in transport.batches()[1:]:
            self.assertLessEqual(
                sum(len(r.changes) for r in batch.records), 10)
            self.assertEqual(3, len(batch.records))

    def test_large_transaction_is_split_into_parts(self):
        transport = FakeTransport()
        sender = self.make_sender(transport, max_batch_changes=10)
        sender.submit(_draft(1))
        big = _draft(2, changes=25)
        sender.submit(big)
        sender.submit(_draft(3))
        sender.stop()

        records = transport.records()
        self.assertEqual([1, 2, 3, 4, 5], [r.seq for r in records])
        parts = records[1:4]
        self.assertEqual([(0, 3), (1, 3), (2, 3)],
                         [(r.part, r.parts) for r in parts])
        self.assertEqual([10, 10, 5], [len(r.changes) for r in parts])
        self.assertEqual({'x2'}, {r.txn for r in parts})
        self.assertEqual({TS + 2}, {r.ts for r in parts})
        self.assertEqual([c.pk for c in big.changes],
                         [c.pk for r in parts for c in r.changes])
        self.assertEqual([(0, 1), (0, 1)],
                         [(r.part, r.parts) for r in (records[0],
                                                      records[4])])
        # No notification carries more than max_batch_changes changes.
        for batch in transport.batches():
            self.assertLessEqual(
                sum(len(r.changes) for r in batch.records), 10)

    def test_failed_sends_are_retried_without_loss(self):
        transport = FakeTransport(fail=3)
        sender = self.make_sender(transport)
        for n in range(1, 6):
            sender.submit(_draft(n))
        self.assertTrue(_wait_for(lambda: transport.attempts >= 2))
        for n in range(6, 11):
            sender.submit(_draft(n))
        self.assertTrue(_wait_for(lambda: len(transport.seqs()) >= 10))
        sender.stop()

        self.assertEqual(list(range(1, 11)), transport.seqs())
        self.assertEqual(3, sender.stats['send_failures'])
        self.assertEqual(0, sender.stats['dropped'])
        self.assertGreaterEqual(transport.attempts, 4)

    def test_spool_overflow_drops_records_but_keeps_numbers(self):
        log = self.useFixture(fixtures.FakeLogger(
            name='oslo_publish_tables.sender'))
        gate = threading.Event()
        self.addCleanup(gate.set)
        transport = FakeTransport(gate=gate)
        sender = self.make_sender(transport, spool_size=5)
        # Hold the spool's lock so that the background thread cannot take
        # anything before all 20 records have been submitted (the lock is
        # reentrant, so submit() itself still gets it).
        with sender._cond:
            for n in range(1, 21):
                sender.submit(_draft(n))
        self.assertEqual(20, sender.last_seq)
        self.assertEqual(15, sender.stats['dropped'])
        self.assertTrue(transport.entered.wait(5))
        gate.set()
        self.assertTrue(_wait_for(lambda: transport.batches()))
        self.assertTrue(sender.flush(5))

        self.assertEqual([1, 2, 3, 4, 5], transport.seqs())
        last = transport.batches()[-1]
        self.assertEqual(20, last.last_seq)
        self.assertEqual(15, sender.stats['dropped'])
        self.assertIn('dropped 15 records', log.output)

        # The dropped numbers are not reused: consumers see 6..20 missing.
        sender.submit(_draft(21))
        sender.stop()
        self.assertEqual([1, 2, 3, 4, 5, 21], transport.seqs())
        goodbye, = transport.batches(envelope.EVENT_GOODBYE)
        self.assertEqual(21, goodbye.last_seq)

    def test_heartbeat_when_idle(self):
        transport = FakeTransport()
        sender = self.make_sender(transport, heartbeat_interval=0.05)
        sender.submit(_draft(1))
        sender.submit(_draft(2))
        self.assertTrue(_wait_for(
            lambda: len(transport.batches(envelope.EVENT_HEARTBEAT)) >= 2))
        heartbeats = transport.batches(envelope.EVENT_HEARTBEAT)
        for beat in heartbeats:
            self.assertEqual([], beat.records)
            self.assertEqual(2, beat.last_seq)
            self.assertIs(False, beat.final)
            self.assertEqual(0.05, beat.heartbeat_interval)
        self.assertEqual(sender.identity, heartbeats[0].producer)
        # The heartbeats came after the data, not instead of it.
        self.assertEqual(envelope.EVENT_BATCH, transport.sent[0][0])
        self.assertEqual([1, 2], transport.seqs())

    def test_no_heartbeat_while_busy_within_the_interval(self):
        transport = FakeTransport()
        sender = self.make_sender(transport, heartbeat_interval=10.0)
        sender.submit(_draft(1))
        self.assertTrue(sender.flush(5))
        time.sleep(0.1)
        self.assertEqual([], transport.batches(envelope.EVENT_HEARTBEAT))

    def test_full_identity_only_until_a_batch_went_out(self):
        transport = FakeTransport(fail=1)
        sender = self.make_sender(transport, heartbeat_interval=10.0)
        sender.submit(_draft(1))
        self.assertTrue(sender.flush(5))  # the first attempt failed
        sender.submit(_draft(2))
        self.assertTrue(sender.flush(5))
        sender._send(envelope.EVENT_HEARTBEAT, [], sender.last_seq)
        sender.submit(_draft(3))
        self.assertTrue(sender.flush(5))
        sender.stop()
        producers = [(e, b.producer) for e, b in transport.sent]
        short = {'id': sender.identity['id']}
        self.assertEqual([(envelope.EVENT_BATCH, sender.identity),
                          (envelope.EVENT_BATCH, short),
                          (envelope.EVENT_HEARTBEAT, sender.identity),
                          (envelope.EVENT_BATCH, short),
                          (envelope.EVENT_GOODBYE, sender.identity)],
                         producers)
        self.assertEqual({'id', 'host', 'pid', 'started'},
                         set(sender.identity))

    def test_compressed_notifications(self):
        raw = []
        transport = FakeTransport()
        send = transport.send

        def keep(event_type, payload):
            raw.append(json.loads(json.dumps(payload)))
            send(event_type, payload)

        transport.send = keep
        sender = self.make_sender(transport, compression='zlib',
                                  max_batch_changes=3,
                                  signer=signing.Signer('k1', 's' * 32))
        sender.submit(_draft(1))
        sender.submit(_draft(2, changes=5))  # split in two parts
        self.assertTrue(sender.flush(5))
        sender.stop()
        verifier = signing.Verifier([('k1', 's' * 32)])
        for payload in raw:
            self.assertEqual({'format', 'version', 'encoding', 'body',
                              'signature'}, set(payload))
            self.assertEqual(envelope.VERSION, payload['version'])
            self.assertEqual('k1', verifier.verify(payload))
        records = transport.records()
        self.assertEqual([1, 2, 3], [r.seq for r in records])
        self.assertEqual([(None, 0, 1), ('x2', 0, 2), ('x2', 1, 2)],
                         [(r.txn, r.part, r.parts) for r in records])
        self.assertEqual([1, 3, 2], [len(r.changes) for r in records])
        self.assertEqual(['instances'], [t for r in records[:1]
                                         for t in r.tables])
        goodbye, = transport.batches(envelope.EVENT_GOODBYE)
        self.assertEqual(sender.identity, goodbye.producer)

    def test_plain_by_default(self):
        raw = []
        transport = FakeTransport()
        send = transport.send
        transport.send = lambda e, p: (raw.append(p), send(e, p))
        sender = self.make_sender(transport)
        sender.submit(_draft(1))
        self.assertTrue(sender.flush(5))
        self.assertIn('records', raw[0])
        self.assertNotIn('body', raw[0])
        self.assertEqual('x1', transport.records()[0].txn)

    def test_stop_flushes_and_says_goodbye(self):
        transport = FakeTransport(delay=0.01)
        sender = self.make_sender(transport, max_batch_changes=2)
        for n in range(1, 8):
            sender.submit(_draft(n))
        thread = sender._thread
        sender.stop()

        self.assertFalse(thread.is_alive())
        self.assertEqual(list(range(1, 8)), transport.seqs())
        event, goodbye = transport.sent[-1]
        self.assertEqual(envelope.EVENT_GOODBYE, event)
        self.assertIs(True, goodbye.final)
        self.assertEqual(7, goodbye.last_seq)
        self.assertEqual([], goodbye.records)
        for _event, batch in transport.sent[:-1]:
            self.assertIs(False, batch.final)
        # Idempotent: a second stop sends nothing.
        count = len(transport.sent)
        sender.stop()
        self.assertEqual(count, len(transport.sent))

    def test_every_notification_is_signed(self):
        raw = []
        transport = FakeTransport()
        send = transport.send

        def keep(event_type, payload):
            raw.append(json.loads(json.dumps(payload)))
            send(event_type, payload)

        transport.send = keep
        sender = self.make_sender(
            transport, heartbeat_interval=0.1,
            signer=signing.Signer('k1', 's' * 32))
        sender.submit(_draft(1))
        sender.submit(_draft(2))
        self.assertTrue(sender.flush(5))
        time.sleep(0.3)
        sender.stop()

        events = {e for e, _b in transport.sent}
        self.assertEqual({envelope.EVENT_BATCH, envelope.EVENT_HEARTBEAT,
                          envelope.EVENT_GOODBYE}, events)
        verifier = signing.Verifier([('k1', 's' * 32)])
        self.assertEqual(len(transport.sent), len(raw))
        for payload in raw:
            self.assertEqual('k1', verifier.verify(payload))
        self.assertEqual([1, 2], transport.seqs())

    def test_stop_without_records_sends_nothing(self):
        transport = FakeTransport()
        sender = self.make_sender(transport)
        sender.stop()
        self.assertEqual([], transport.sent)

    def test_forked_child_is_a_new_producer(self):
        if not hasattr(os, 'fork'):
            self.skipTest('os.fork is not available')
        transport = FakeTransport()
        sender = self.make_sender(transport)
        sender.submit(_draft(1))
        sender.submit(_draft(2))
        self.assertTrue(sender.flush(5))
        parent_id = sender.identity['id']

        read_fd, write_fd = os.pipe()
        pid = os.fork()
        if pid == 0:  # pragma: no cover - runs in the child
            code = 1
            try:
                os.close(read_fd)
                report = {'id': sender.identity['id'],
                          'pid': sender.identity['pid'],
                          'seq': sender.last_seq,
                          'spool': len(sender._spool),
                          'getpid': os.getpid()}
                # The child numbers its own records from 1.
                del transport.sent[:]
                sender.submit(_draft(3))
                sender.flush(5)
                _wait_for(lambda: transport.sent)
                report['sent'] = [(r.seq, b.producer['id'])
                                  for _e, b in transport.sent
                                  for r in b.records]
                os.write(write_fd, json.dumps(report).encode())
                code = 0
            finally:
                os._exit(code)
        os.close(write_fd)
        chunks = []
        while True:
            chunk = os.read(read_fd, 65536)
            if not chunk:
                break
            chunks.append(chunk)
        os.close(read_fd)
        _pid, status = os.waitpid(pid, 0)
        self.assertEqual(0, os.waitstatus_to_exitcode(status))
        report = json.loads(b''.join(chunks))

        self.assertNotEqual(parent_id, report['id'])
        self.assertEqual(0, report['seq'])
        self.assertEqual(0, report['spool'])
        self.assertEqual(report['getpid'], report['pid'])
        self.assertEqual([[1, report['id']]], report['sent'])
        # The parent is untouched.
        self.assertEqual(parent_id, sender.identity['id'])
        self.assertEqual(2, sender.last_seq)
        self.assertEqual(os.getpid(), sender.identity['pid'])
