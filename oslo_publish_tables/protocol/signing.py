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

"""HMAC-SHA256 signatures of notification payloads.

A producer with ``[publish_tables] signing_key`` adds a ``signature``
field to every payload (see doc/source/reference/security)::

    "signature": {"alg": "HMAC-SHA256", "key_id": "2025-01",
                  "value": "<64 hex digits>"}

``value`` is HMAC-SHA256, under the key named ``key_id``, of the
canonical form of the payload without its ``signature`` field:
:func:`canonical`, UTF-8 JSON with sorted keys, compact separators and
``\\u`` escapes for every non-ASCII character. The producer's id, the
sequence numbers and every record are inside the signed part.

A consumer checks it with a :class:`Verifier`, which knows up to two keys
(the current and the previous one, for rotation) and compares in constant
time. This module only signs and checks; what a consumer does with a
message that fails is up to the consumer.
"""

import hashlib
import hmac
import json
import re


from oslo_publish_tables import exceptions

GROUP = 'publish_tables'
FIELD = 'signature'
ALGORITHM = 'HMAC-SHA256'
MIN_KEY_LENGTH = 16
_KEY_ID = re.compile(r'^[A-Za-z0-9._-]{1,64}$')
_HEX = re.compile(r'^[0-9a-f]{64}$')
_SIGNATURE_FIELDS = frozenset(('alg', 'key_id', 'value'))

# Reasons a payload fails verification, as counted by consumers.
UNSIGNED = 'unsigned'
MALFORMED = 'malformed_signature'
UNKNOWN_KEY = 'unknown_key'
INVALID = 'bad_signature'


class SignatureError(exceptions.EnvelopeError):
    """A payload's signature is missing, malformed, unknown or wrong.

    ``reason`` is one of :data:`UNSIGNED`, :data:`MALFORMED`,
    :data:`UNKNOWN_KEY` and :data:`INVALID`. The message never contains a
    key or a signature value.
    """

    def __init__(self, reason, message):
        self.reason = reason
        super().__init__(message)


def canonical(payload):
    """The bytes that are signed: ``payload`` minus its signature field.

    Raises :class:`SignatureError` if ``payload`` is not a JSON object
    that JSON can represent exactly (non-string keys, NaN, ...).
    """
    if not isinstance(payload, dict):
        raise SignatureError(MALFORMED, 'payload is not an object')
    unsigned = {k: v for k, v in payload.items() if k != FIELD}
    try:
        text = json.dumps(unsigned, sort_keys=True, separators=(',', ':'),
                          ensure_ascii=True, allow_nan=False)
    except (TypeError, ValueError, RecursionError) as exc:
        raise SignatureError(MALFORMED, 'payload cannot be serialised: %s'
                             % type(exc).__name__)
    return text.encode('ascii')


def _check_key(key_id, key, option='signing_key'):
    if not isinstance(key_id, str) or not _KEY_ID.match(key_id):
        raise exceptions.ConfigError(
            option + '_id', key_id, 'use 1 to 64 letters, digits, ".", '
            '"_" or "-"')
    if not isinstance(key, str) or len(key) < MIN_KEY_LENGTH:
        # Never put the key itself in the message.
        raise exceptions.ConfigError(
            option, '***', 'must be at least %d characters long'
            % MIN_KEY_LENGTH)
    return key.encode('utf-8')


def _mac(key, payload):
    return hmac.new(key, canonical(payload), hashlib.sha256).hexdigest()


class Signer(object):
    """Signs payloads with one key."""

    def __init__(self, key_id, key):
        self.key_id = key_id
        self._key = _check_key(key_id, key)

    def __repr__(self):
        return '<Signer key_id=%r>' % self.key_id

    def sign(self, payload):
        """Return a copy of ``payload`` with its ``signature`` field."""
        signed = dict(payload)
        signed[FIELD] = {'alg': ALGORITHM, 'key_id': self.key_id,
                         'value': _mac(self._key, payload)}
        return signed


class Verifier(object):
    """Checks payload signatures against up to two keys.

    ``keys`` are ``(key_id, key)`` pairs: the current key, then possibly
    the previous one. With ``require`` an unsigned payload fails; without
    it an unsigned payload passes, but a signature that is present is
    always checked.
    """

    def __init__(self, keys, require=True):
        keys = list(keys)
        if not 1 <= len(keys) <= 2:
            raise exceptions.ConfigError('signing_key', '***',
                                         'give one or two keys')
        self._keys = {}
        for index, (key_id, key) in enumerate(keys):
            option = 'previous_signing_key' if index else 'signing_key'
            if key_id in self._keys:
                raise exceptions.ConfigError(
                    option + '_id', key_id, 'the two keys need different '
                    'ids')
            self._keys[key_id] = _check_key(key_id, key, option)
        self.require = require

    def __repr__(self):
        return '<Verifier key_ids=%r require=%r>' % (sorted(self._keys),
                                                     self.require)

    @property
    def key_ids(self):
        return sorted(self._keys)

    def verify(self, payload):
        """Return the key id that signed ``payload``, or None if unsigned.

        Raises :class:`SignatureError` if the payload is unsigned and
        signatures are required, or if its signature does not verify.
        """
        if not isinstance(payload, dict):
            raise SignatureError(MALFORMED, 'payload is not an object')
        if FIELD not in payload:
            if self.require:
                raise SignatureError(UNSIGNED, 'message is not signed')
            return None
        signature = payload[FIELD]
        if not isinstance(signature, dict):
            raise SignatureError(MALFORMED, 'signature is not an object')
        if set(signature) != _SIGNATURE_FIELDS:
            # The signature object itself is not signed: accept nothing
            # in it that could be changed without detection.
            raise SignatureError(MALFORMED, 'signature must have exactly '
                                 'the fields alg, key_id and value')
        if signature.get('alg') != ALGORITHM:
            raise SignatureError(MALFORMED, 'unsupported signature '
                                 'algorithm')
        key_id = signature.get('key_id')
        value = signature.get('value')
        if not isinstance(value, str) or not _HEX.match(value):
            raise SignatureError(MALFORMED, 'signature value is not 64 '
                                 'lower-case hex digits')
        key = self._keys.get(key_id) if isinstance(key_id, str) else None
        if key is None:
            raise SignatureError(UNKNOWN_KEY, 'signed with an unknown key '
                                 'id %.64r' % (key_id,))
        if not hmac.compare_digest(_mac(key, payload), value):
            raise SignatureError(INVALID, 'signature does not match (key '
                                 'id %r)' % key_id)
        return key_id


def signer_from_conf(conf):
    """The :class:`Signer` of ``conf``'s ``[publish_tables]``, or None.

    The options must be registered (see
    :func:`oslo_publish_tables.opts.register_opts`).
    """
    group = conf[GROUP]
    if not group.signing_key:
        return None
    return Signer(group.signing_key_id, group.signing_key)
