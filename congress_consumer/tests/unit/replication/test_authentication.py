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

"""Tests of signature checks on the consumer: receiver, driver, config."""

import copy
import logging

import fixtures
import testtools

from oslo_publish_tables.protocol import envelope
from oslo_publish_tables.protocol import signing

from congress_consumer.cmd import consumer
from congress_consumer import exceptions
from congress_consumer.replication import authentication
from congress_consumer.replication import driver as driver_mod
from congress_consumer.replication import receiver as receiver_mod
from congress_consumer.replication import sync as sync_mod
from congress_consumer.tests.unit.replication import test_receiver_driver
from congress_consumer.tests.unit import test_consumer_cmd

KEY = 'current-key-0123456789abcdef'
OLD_KEY = 'previous-key-0123456789abcdef'
ARGS = {'tables': 't', 'signing_key': KEY, 'signing_key_id': 'k2',
        'previous_signing_key': OLD_KEY, 'previous_signing_key_id': 'k1'}


def _signed(payload, key_id='k2', key=KEY):
    return signing.Signer(key_id, key).sign(payload)


class Clock(object):
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


class VerifierFromArgsTest(testtools.TestCase):

    def test_no_key_no_checks(self):
        self.assertIsNone(authentication.verifier_from_args({}))
        self.assertIsNone(authentication.verifier_from_args(
            {'require_signature': True}))

    def test_keys_and_defaults(self):
        verifier = authentication.verifier_from_args({'signing_key': KEY})
        self.assertEqual(['default'], verifier.key_ids)
        self.assertIs(True, verifier.require)
        verifier = authentication.verifier_from_args(
            dict(ARGS, require_signature='False'))
        self.assertEqual(['k1', 'k2'], verifier.key_ids)
        self.assertIs(False, verifier.require)

    def test_bad_args_never_show_a_key(self):
        for args, param in (
                ({'previous_signing_key': OLD_KEY}, 'previous_signing_key'),
                ({'signing_key': 'short'}, 'signing_key'),
                (dict(ARGS, previous_signing_key='short'),
                 'previous_signing_key'),
                (dict(ARGS, previous_signing_key_id='k2'),
                 'previous_signing_key_id'),
                ({'signing_key': KEY, 'previous_signing_key': OLD_KEY},
                 'previous_signing_key_id'),
                (dict(ARGS, require_signature='maybe'),
                 'require_signature')):
            exc = self.assertRaises(exceptions.InvalidParamError,
                                    authentication.verifier_from_args, args)
            self.assertIn(param, str(exc))
            for secret in (KEY, OLD_KEY, 'short'):
                self.assertNotIn(secret, str(exc))


class ReceiverTest(testtools.TestCase):

    def setUp(self):
        super().setUp()
        _conf, transport = test_receiver_driver._transport(self)
        self.sync = sync_mod.Synchronizer(
            ['t'], {'t': ('id',)}, test_receiver_driver.FakeSource({}))
        self.clock = Clock()
        self.auth = authentication.Authenticator(
            authentication.verifier_from_args(ARGS), self.sync,
            log_interval=60.0, clock=self.clock)
        self.receiver = receiver_mod.Receiver(transport, self.sync,
                                              authenticator=self.auth)
        self.log = self.useFixture(fixtures.FakeLogger(
            name=authentication.__name__, level=logging.WARNING))
        self.payload = test_receiver_driver._payload(
            1, 100, test_receiver_driver._change('t', 'insert', 1, name='a'))

    def rows(self):
        return self.sync.replicas['t'].rows

    def assertNothingApplied(self):
        self.assertEqual({}, self.rows())
        self.assertEqual({}, self.sync.replicas['t'].versions)
        self.assertEqual(0, len(self.sync.tracker))

    def test_signed_with_current_or_previous_key_is_applied(self):
        self.receiver.deliver(envelope.EVENT_BATCH, _signed(self.payload))
        self.assertEqual({(1,): {'id': 1, 'name': 'a'}}, self.rows())
        later = test_receiver_driver._payload(
            2, 200, test_receiver_driver._change('t', 'update', 1, name='b'))
        self.receiver.deliver(envelope.EVENT_BATCH,
                              _signed(later, 'k1', OLD_KEY))
        self.assertEqual({(1,): {'id': 1, 'name': 'b'}}, self.rows())
        self.assertEqual({'verified:k1': 1, 'verified:k2': 1},
                         dict(self.auth.counts))
        self.assertEqual(0, self.sync.counts['discarded'])

    def test_rejected_messages_are_counted_and_never_applied(self):
        forged = _signed(self.payload)
        forged['records'][0]['changes'][0]['row']['name'] = 'evil'
        cases = [
            (self.payload, 'unsigned'),
            (_signed(self.payload, 'k2', OLD_KEY), 'bad_signature'),
            (_signed(self.payload, 'k3', KEY), 'unknown_key'),
            (forged, 'bad_signature'),
            (dict(self.payload, signature='x'), 'malformed_signature'),
        ]
        for payload, reason in cases:
            self.receiver.deliver(envelope.EVENT_BATCH, payload)
            self.assertNothingApplied()
        self.assertEqual(5, self.sync.counts['discarded'])
        self.assertEqual(1, self.sync.counts['discarded:unauthenticated:'
                                             'unsigned'])
        self.assertEqual(2, self.sync.counts['discarded:unauthenticated:'
                                             'bad_signature'])
        self.assertEqual(0, self.sync.counts['discarded:malformed'])
        # The key never reaches the log, nor does the forged row.
        self.assertNotIn(KEY, self.log.output)
        self.assertNotIn('evil', self.log.output)

    def test_compressed_and_signed(self):
        packed = envelope.compress(self.payload)
        forged = envelope.compress(test_receiver_driver._payload(
            1, 100, test_receiver_driver._change('t', 'insert', 1,
                                                 name='evil')))
        signed = _signed(packed)
        # Another body under the signature of the genuine one.
        self.receiver.deliver(envelope.EVENT_BATCH,
                              dict(signed, body=forged['body']))
        self.receiver.deliver(envelope.EVENT_BATCH, packed)  # unsigned
        self.assertNothingApplied()
        self.assertEqual(1, self.sync.counts['discarded:unauthenticated:'
                                             'bad_signature'])
        self.assertEqual(0, self.sync.counts['discarded:malformed'])
        self.receiver.deliver(envelope.EVENT_BATCH, copy.deepcopy(signed))
        self.assertEqual({(1,): {'id': 1, 'name': 'a'}}, self.rows())
        self.assertEqual(1, self.auth.counts['verified:k2'])

    def test_signed_bad_body_is_malformed_after_the_check(self):
        packed = dict(envelope.compress(self.payload), body='AAAA')
        self.receiver.deliver(envelope.EVENT_BATCH, _signed(packed))
        self.assertNothingApplied()
        self.assertEqual(1, self.auth.counts['verified:k2'])
        self.assertEqual(1, self.sync.counts['discarded:malformed'])

    def test_heartbeats_and_goodbyes_need_signatures_too(self):
        goodbye = envelope.batch(test_receiver_driver.PRODUCER, 5, [], 10.0,
                                 final=True)
        for event in (envelope.EVENT_HEARTBEAT, envelope.EVENT_GOODBYE):
            self.receiver.deliver(event, goodbye)
        self.assertNothingApplied()
        self.assertEqual(2, self.sync.counts['discarded'])

    def test_rejections_are_logged_once_per_interval_and_reason(self):
        for _ in range(50):
            self.receiver.deliver(envelope.EVENT_BATCH, self.payload)
        self.receiver.deliver(envelope.EVENT_BATCH,
                              _signed(self.payload, 'k3', KEY))
        lines = self.log.output.splitlines()
        self.assertEqual(2, len(lines), lines)
        self.assertIn('(unsigned)', lines[0])
        self.assertIn('(unknown_key)', lines[1])

        self.clock.now += 61
        self.receiver.deliver(envelope.EVENT_BATCH, self.payload)
        lines = self.log.output.splitlines()
        self.assertEqual(3, len(lines))
        self.assertIn('49 more discarded for this reason', lines[2])
        self.assertEqual(51, self.auth.counts['unsigned'])

    def test_replay_is_only_a_duplicate(self):
        signed = _signed(self.payload)
        newer = _signed(test_receiver_driver._payload(
            2, 200, test_receiver_driver._change('t', 'update', 1,
                                                 name='b')))
        self.receiver.deliver(envelope.EVENT_BATCH, signed)
        self.receiver.deliver(envelope.EVENT_BATCH, newer)
        # An eavesdropper sends the first message again: it verifies, but
        # the replica keeps the newer row and the tracker sees no gap.
        self.receiver.deliver(envelope.EVENT_BATCH, copy.deepcopy(signed))
        self.assertEqual({(1,): {'id': 1, 'name': 'b'}}, self.rows())
        self.assertEqual(0, self.sync.counts['discarded'])
        self.assertEqual([], self.sync.tracker.check())

    def test_lenient_mode_accepts_unsigned_but_not_wrong(self):
        self.auth.verifier.require = False
        self.receiver.deliver(envelope.EVENT_BATCH,
                              _signed(self.payload, 'k2', OLD_KEY))
        self.assertNothingApplied()
        self.receiver.deliver(envelope.EVENT_BATCH, self.payload)
        self.assertEqual({(1,): {'id': 1, 'name': 'a'}}, self.rows())
        self.assertEqual(1, self.auth.counts['unsigned_accepted'])


class DriverTest(testtools.TestCase):
    """The driver arguments reach the receiver."""

    ARGS = {'tables': 'instances', 'table_names': {'instances': 'servers'},
            'columns': {'instances': ['id', 'name']}}

    def setUp(self):
        super().setUp()
        self.conf, self.transport = test_receiver_driver._transport(self)
        self.source = test_receiver_driver.FakeSource({
            'instances': (1000, ['id', 'name'], [{'id': 1, 'name': 'vm1'}])})

    def make_driver(self, args=None):
        return driver_mod.PublishTablesDriver(
            'nova', args or self.ARGS, conf=self.conf,
            transport=self.transport, snapshot_source=self.source)

    def deliver(self, driver, payload):
        driver.receiver.deliver(envelope.EVENT_BATCH, payload)

    def sync_all(self, driver):
        for table in driver.sync._due():
            driver.sync.sync_table(table)

    def test_driver_checks_signatures(self):
        driver = self.make_driver(dict(self.ARGS, signing_key=KEY,
                                       signing_key_id='k2'))
        self.sync_all(driver)
        payload = test_receiver_driver._payload(
            1, 2000, test_receiver_driver._change(
                'instances', 'insert', 2, name='vm2'))
        self.deliver(driver, payload)               # unsigned: dropped
        self.assertEqual(1, len(driver.state['servers']))
        self.deliver(driver, _signed(payload))
        self.assertEqual(2, len(driver.state['servers']))
        status = driver.get_status()
        self.assertEqual({'key_ids': ['k2'], 'require_signature': True,
                          'counts': {'unsigned': 1, 'verified:k2': 1}},
                         status['signatures'])
        self.assertEqual(1, status['discarded']['discarded:'
                                                'unauthenticated:unsigned'])
        self.assertNotIn(KEY, repr(status))
        self.assertIn('signing_key',
                      driver.get_datasource_info()['secret'])

    def test_driver_without_key_warns(self):
        log = self.useFixture(fixtures.FakeLogger(level=logging.WARNING))
        driver = self.make_driver()
        self.assertIsNone(driver.authenticator)
        self.assertIn('messages are not authenticated', log.output)

    def test_bad_key_is_refused(self):
        exc = self.assertRaises(exceptions.InvalidParamError,
                                self.make_driver,
                                dict(self.ARGS, signing_key='short-key'))
        self.assertNotIn('short-key', str(exc))


class ConfigTest(test_consumer_cmd.ConfTestCase):

    def args(self, section):
        conf = self.make_conf('[datasource_nova]\ntables = t\n' + section)
        return consumer.driver_args(conf, 'nova')

    def test_no_key_no_signing_args(self):
        args = self.args('require_signature = false\n')
        self.assertNotIn('require_signature', args)
        self.assertIsNone(authentication.verifier_from_args(args))

    def test_keys_reach_the_driver_args(self):
        args = self.args('signing_key = %s\nsigning_key_id = k2\n'
                         'previous_signing_key = %s\n'
                         'previous_signing_key_id = k1\n'
                         'require_signature = false\n' % (KEY, OLD_KEY))
        self.assertEqual(dict(ARGS, tables=['t'], require_signature=False),
                         {k: args[k] for k in list(ARGS) +
                          ['require_signature']})
        verifier = authentication.verifier_from_args(args)
        self.assertEqual(['k1', 'k2'], verifier.key_ids)
        self.assertIs(False, verifier.require)
        self.assertIs(True, authentication.verifier_from_args(
            self.args('signing_key = %s\n' % KEY)).require)

    def test_previous_key_alone_is_an_error(self):
        exc = self.assertRaises(exceptions.ConfigError, self.args,
                                'previous_signing_key = %s\n' % OLD_KEY)
        self.assertIn('[datasource_nova] previous_signing_key', str(exc))
        self.assertNotIn(OLD_KEY, str(exc))

    def test_short_key_names_the_option(self):
        conf = self.make_conf('[consumer]\ndatasources = nova\n'
                              '[datasource_nova]\ntables = t\n'
                              'signing_key = short-key\n')
        exc = self.assertRaises(exceptions.ConfigError, consumer.build_driver,
                                conf, 'nova')
        self.assertIn('[datasource_nova]', str(exc))
        self.assertIn('signing_key', str(exc))
        self.assertNotIn('short-key', str(exc))
