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

"""Tests for payload signatures (HMAC-SHA256) and their verification."""

import hashlib
import hmac
import json

from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st
from oslo_config import cfg
import testtools

from oslo_publish_tables import exceptions
from oslo_publish_tables import opts
from oslo_publish_tables.protocol import envelope
from oslo_publish_tables.protocol import signing
from oslo_publish_tables.tests.unit import test_envelope

KEY = 'k' * 32
OLD_KEY = 'o' * 32


def _signed(key_id='2025-02', key=KEY):
    return _wire(signing.Signer(key_id, key).sign(
        test_envelope._valid_payload()))


def _wire(payload):
    return json.loads(json.dumps(payload))


def _text(payload):
    """A representation that tells 1 from 1.0 from True (== does not)."""
    return json.dumps(payload, sort_keys=True)


class SignTest(testtools.TestCase):

    def test_signature_field(self):
        payload = test_envelope._valid_payload()
        signed = signing.Signer('2025-02', KEY).sign(payload)

        self.assertNotIn('signature', payload)  # the input is not changed
        signature = signed.pop('signature')
        self.assertEqual(payload, signed)
        self.assertEqual({'alg', 'key_id', 'value'}, set(signature))
        self.assertEqual('HMAC-SHA256', signature['alg'])
        self.assertEqual('2025-02', signature['key_id'])
        # Independently computed: HMAC-SHA256 of sorted, compact JSON.
        text = json.dumps(payload, sort_keys=True, separators=(',', ':'))
        self.assertEqual(
            hmac.new(KEY.encode(), text.encode(), hashlib.sha256)
            .hexdigest(), signature['value'])

    def test_canonical_form(self):
        self.assertEqual(b'{"a":[1,2.5,"\\u00e9"],"b":{"c":null}}',
                         signing.canonical({'b': {'c': None},
                                            'signature': 'ignored',
                                            'a': [1, 2.5, '\xe9']}))

    def test_canonical_rejects_what_json_cannot_carry(self):
        for payload in ([], None, {'a': float('nan')}, {'a': object()},
                        {'a': {1: 2, 'b': 3}}):
            exc = self.assertRaises(signing.SignatureError,
                                    signing.canonical, payload)
            self.assertEqual(signing.MALFORMED, exc.reason)

    def test_signed_payload_still_parses(self):
        # A consumer that does not check signatures ignores the field.
        batch = envelope.parse(_signed())
        self.assertEqual(3, len(batch.records))

    def test_signature_survives_the_wire(self):
        verifier = signing.Verifier([('2025-02', KEY)])
        self.assertEqual('2025-02', verifier.verify(_signed()))

    def test_bad_keys_are_rejected_without_showing_them(self):
        short = 'short-secret'
        exc = self.assertRaises(exceptions.ConfigError, signing.Signer,
                                'id', short)
        self.assertEqual('signing_key', exc.option)
        self.assertNotIn(short, str(exc))
        for key_id in ('', 'has space', 'x' * 65, None, 'k\u00e9y'):
            self.assertRaises(exceptions.ConfigError, signing.Signer,
                              key_id, KEY)
        self.assertNotIn(KEY, repr(signing.Signer('id', KEY)))

    def test_signer_from_conf(self):
        conf = cfg.ConfigOpts()
        opts.register_opts(conf)
        conf([])
        self.assertIsNone(signing.signer_from_conf(conf))
        conf.set_override('signing_key', KEY, group='publish_tables')
        conf.set_override('signing_key_id', 'k2', group='publish_tables')
        signer = signing.signer_from_conf(conf)
        self.assertEqual('k2', signer.key_id)
        opt = conf._groups['publish_tables']._opts['signing_key']['opt']
        self.assertTrue(opt.secret)


class VerifyTest(testtools.TestCase):

    def setUp(self):
        super().setUp()
        self.verifier = signing.Verifier([('2025-02', KEY),
                                          ('2025-01', OLD_KEY)])

    def assertFails(self, reason, payload, verifier=None):
        exc = self.assertRaises(signing.SignatureError,
                                (verifier or self.verifier).verify, payload)
        self.assertEqual(reason, exc.reason)
        self.assertIsInstance(exc, exceptions.EnvelopeError)
        self.assertNotIn(KEY, str(exc))
        self.assertNotIn(OLD_KEY, str(exc))
        return exc

    def test_current_and_previous_key(self):
        self.assertEqual('2025-02', self.verifier.verify(_signed()))
        self.assertEqual('2025-01', self.verifier.verify(
            _signed('2025-01', OLD_KEY)))

    def test_unknown_key_id(self):
        self.assertFails(signing.UNKNOWN_KEY, _signed('2024-12', KEY))

    def test_right_id_wrong_key(self):
        self.assertFails(signing.INVALID, _signed('2025-02', OLD_KEY))
        self.assertFails(signing.INVALID, _signed('2025-01', KEY))

    def test_unsigned(self):
        payload = _wire(test_envelope._valid_payload())
        self.assertFails(signing.UNSIGNED, payload)
        lenient = signing.Verifier([('2025-02', KEY)], require=False)
        self.assertIsNone(lenient.verify(payload))

    def test_lenient_verifier_still_checks_present_signatures(self):
        lenient = signing.Verifier([('2025-02', KEY)], require=False)
        payload = _signed()
        payload['last_seq'] += 1
        self.assertFails(signing.INVALID, payload, lenient)

    def test_malformed_signatures(self):
        value = _signed()['signature']['value']
        for signature in (None, 'abc', [], {'alg': 'HMAC-SHA256'},
                          {'alg': 'HMAC-MD5', 'key_id': '2025-02',
                           'value': value},
                          {'alg': 'HMAC-SHA256', 'key_id': '2025-02',
                           'value': value.upper()},
                          {'alg': 'HMAC-SHA256', 'key_id': '2025-02',
                           'value': value[:-1]},
                          {'alg': 'HMAC-SHA256', 'key_id': '2025-02',
                           'value': 17},
                          # Found by the fuzzer: the signature object is
                          # not itself signed, so nothing extra in it.
                          {'alg': 'HMAC-SHA256', 'key_id': '2025-02',
                           'value': value, '': None}):
            payload = _signed()
            payload['signature'] = signature
            self.assertFails(signing.MALFORMED, payload)
        for key_id in (None, 7, ['2025-02'], {'a': 1}):
            payload = _signed()
            payload['signature']['key_id'] = key_id
            self.assertFails(signing.UNKNOWN_KEY, payload)
        payload = _signed()
        del payload['signature']['key_id']
        self.assertFails(signing.MALFORMED, payload)
        self.assertFails(signing.MALFORMED, ['not', 'a', 'payload'])

    def test_producer_and_numbers_are_signed(self):
        for mutate in (lambda p: p['producer'].__setitem__('id', 'b' * 32),
                       lambda p: p.__setitem__('last_seq', 10),
                       lambda p: p['records'][0].__setitem__('seq', 6),
                       lambda p: p.__setitem__('final', True),
                       lambda p: p['records'].pop(),
                       lambda p: p.__setitem__('extra', 1)):
            payload = _signed()
            mutate(payload)
            self.assertFails(signing.INVALID, payload)

    def test_key_configuration(self):
        self.assertRaises(exceptions.ConfigError, signing.Verifier, [])
        self.assertRaises(exceptions.ConfigError, signing.Verifier,
                          [('a', KEY), ('b', KEY), ('c', KEY)])
        exc = self.assertRaises(exceptions.ConfigError, signing.Verifier,
                                [('a', KEY), ('a', OLD_KEY)])
        self.assertEqual('previous_signing_key_id', exc.option)
        exc = self.assertRaises(exceptions.ConfigError, signing.Verifier,
                                [('a', KEY), ('b', 'short')])
        self.assertEqual('previous_signing_key', exc.option)
        self.assertNotIn(KEY, repr(self.verifier))


# -- property-based: every change to a signed payload is caught ----------

@st.composite
def _mutated_signed(draw):
    """A signed payload changed by 1-4 random structural edits.

    The edits may hit the signature field too (its key id, value or the
    field itself) and the records, changes and values inside.
    """
    payload = _signed()
    for _ in range(draw(st.integers(min_value=1, max_value=4))):
        containers = list(test_envelope._containers(payload))
        _path, target = draw(st.sampled_from(containers))
        action = draw(st.sampled_from(['delete', 'replace', 'add']))
        if isinstance(target, dict):
            if action == 'add' or not target:
                target[draw(st.text(max_size=6))] = draw(test_envelope._json)
                continue
            key = draw(st.sampled_from(sorted(target)))
        else:
            if action == 'add' or not target:
                target.insert(draw(st.integers(0, len(target))),
                              draw(test_envelope._json))
                continue
            key = draw(st.integers(min_value=0, max_value=len(target) - 1))
        if action == 'delete':
            del target[key]
        else:
            target[key] = draw(test_envelope._json)
    return payload


class MutationTest(testtools.TestCase):

    def setUp(self):
        super().setUp()
        self.original = _signed()
        self.verifier = signing.Verifier([('2025-02', KEY),
                                          ('2025-01', OLD_KEY)])

    def _assert_rejected_if_changed(self, payload, verifier=None):
        if _text(payload) == _text(self.original):
            # Edits that cancel out (or replace a value by itself).
            self.assertEqual('2025-02', self.verifier.verify(payload))
            return
        exc = self.assertRaises(signing.SignatureError,
                                (verifier or self.verifier).verify, payload)
        self.assertIn(exc.reason, (signing.UNSIGNED, signing.MALFORMED,
                                   signing.UNKNOWN_KEY, signing.INVALID))

    @settings(max_examples=300, deadline=None)
    @given(_mutated_signed())
    def test_structural_mutation_is_rejected(self, payload):
        self._assert_rejected_if_changed(_wire(payload))

    @settings(max_examples=300, deadline=None)
    @given(st.data())
    def test_byte_mutation_is_rejected(self, data):
        """Flip, drop or insert bytes of the JSON text on the wire."""
        text = bytearray(json.dumps(self.original).encode())
        for _ in range(data.draw(st.integers(min_value=1, max_value=3))):
            index = data.draw(st.integers(0, len(text) - 1))
            action = data.draw(st.sampled_from(['flip', 'drop', 'insert']))
            if action == 'flip':
                text[index] ^= data.draw(st.integers(1, 255))
            elif action == 'drop':
                del text[index]
            else:
                text.insert(index, data.draw(st.integers(0, 255)))
        try:
            payload = json.loads(bytes(text))
        except ValueError:  # not JSON (or not UTF-8) any more
            return
        self._assert_rejected_if_changed(payload)

    @settings(max_examples=200, deadline=None)
    @given(_mutated_signed())
    def test_lenient_verifier_rejects_changes_that_keep_a_signature(
            self, payload):
        lenient = signing.Verifier([('2025-02', KEY)], require=False)
        payload = _wire(payload)
        if 'signature' not in payload:
            # The documented limit of "verify when present": stripping
            # the signature is not detected, hence require_signature.
            self.assertIsNone(lenient.verify(payload))
            return
        if _text(payload) != _text(self.original):
            self.assertRaises(signing.SignatureError, lenient.verify,
                              payload)

    @settings(max_examples=200, deadline=None)
    @given(test_envelope._json)
    def test_arbitrary_input_raises_only_signature_error(self, payload):
        try:
            self.verifier.verify(payload)
        except signing.SignatureError:
            return
        self.fail('%r verified' % (payload,))
