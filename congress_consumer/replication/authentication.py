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

"""Checks the signatures of received notifications (see reference/security).

:class:`Authenticator` sits in front of the decoder: a payload that fails
:meth:`oslo_publish_tables.protocol.signing.Verifier.verify` is counted as
discarded with the reason (``discarded:unauthenticated:<reason>``) and
never parsed nor applied. Rejections are logged at most once per
``log_interval`` seconds for each reason, with the number suppressed in
between, so a flood of forged messages cannot flood the log.

Driver args (all optional; nothing is checked without ``signing_key``):

``signing_key``, ``signing_key_id`` (default ``default``)
    the current key, as the producers' ``[publish_tables]``;
``previous_signing_key``, ``previous_signing_key_id``
    the key being rotated out, still accepted;
``require_signature`` (default true)
    reject unsigned messages; false accepts them but still rejects a
    signature that is present and wrong (for a rolling change).

:class:`SnapshotAuthenticator` checks the replies of the snapshot
service (see :class:`~congress_consumer.replication.snapshots.
RpcSnapshotSource`) with the same keys: a signed reply must also answer
the very request it was sent for (method, table, snapshot id, chunk
position and the caller's nonce), else it fails with
:data:`WRONG_REQUEST`. A reply that fails is never loaded: the snapshot
fails and is retried.
"""

import collections
import logging
import time

from oslo_publish_tables import exceptions as pt_exceptions
from oslo_publish_tables.protocol import signing
from oslo_publish_tables.protocol import snapshot_rpc

from congress_consumer import exceptions

LOG = logging.getLogger(__name__)

DEFAULT_KEY_ID = 'default'
LOG_INTERVAL = 60.0
# A signed snapshot reply that answers another request (a replay).
WRONG_REQUEST = 'wrong_request'
_TRUE = ('1', 'true', 'yes', 'on')
_FALSE = ('0', 'false', 'no', 'off')


def _bool(value, name):
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in _TRUE or text in _FALSE:
        return text in _TRUE
    raise exceptions.InvalidParamError(param=name,
                                       reason='expected true or false')


def verifier_from_args(args):
    """The :class:`~.signing.Verifier` of the driver args.

    Returns None if no ``signing_key`` is given. Raises
    :class:`~congress_consumer.exceptions.InvalidParamError` (never
    showing a key) for a bad key, key id or flag.
    """
    require = _bool(args.get('require_signature', True),
                    'require_signature')
    key = args.get('signing_key')
    previous = args.get('previous_signing_key')
    if not key:
        if previous:
            raise exceptions.InvalidParamError(
                param='previous_signing_key',
                reason='set only together with signing_key')
        return None
    keys = [(args.get('signing_key_id') or DEFAULT_KEY_ID, key)]
    if previous:
        keys.append((args.get('previous_signing_key_id') or '', previous))
    try:
        return signing.Verifier(keys, require=require)
    except pt_exceptions.ConfigError as exc:
        raise exceptions.InvalidParamError(
            param=exc.option, reason=str(exc).rpartition(': ')[2]) from None


def signer_from_args(args):
    """The :class:`~oslo_publish_tables.signing.Signer` of the current key.

    It signs snapshot requests; None without ``signing_key``.
    """
    if not args.get('signing_key'):
        return None
    return signing.Signer(args.get('signing_key_id') or DEFAULT_KEY_ID,
                          args['signing_key'])


class _RateLimitedLog(object):
    """Logs a warning per reason at most once per ``log_interval``."""

    def __init__(self, log_interval=LOG_INTERVAL, clock=time.monotonic):
        self.log_interval = log_interval
        self.log = LOG  # the driver names its datasource in every line
        self._clock = clock
        self._logged = {}       # reason -> when last logged
        self._suppressed = collections.Counter()

    def _warn(self, reason, text, *args):
        now = self._clock()
        last = self._logged.get(reason)
        if last is not None and now - last < self.log_interval:
            self._suppressed[reason] += 1
            return
        self._logged[reason] = now
        suppressed = self._suppressed.pop(reason, 0)
        self.log.warning(text + '%s', *(args + (
            '; %d more discarded for this reason in the last %.0fs'
            % (suppressed, now - last) if suppressed else '',)))


class Authenticator(_RateLimitedLog):
    """Lets through only payloads that pass the verifier."""

    def __init__(self, verifier, synchronizer, log_interval=LOG_INTERVAL,
                 clock=time.monotonic):
        super().__init__(log_interval, clock)
        self.verifier = verifier
        self.synchronizer = synchronizer
        self.counts = collections.Counter()

    def check(self, event_type, payload):
        """Return True if ``payload`` may be decoded and applied."""
        try:
            key_id = self.verifier.verify(payload)
        except signing.SignatureError as exc:
            self.counts[exc.reason] += 1
            self.synchronizer.discard('unauthenticated:' + exc.reason)
            self._log(event_type, exc)
            return False
        # Per key id: shows when the previous key is no longer in use.
        self.counts['verified:%s' % key_id if key_id
                    else 'unsigned_accepted'] += 1
        return True

    def _log(self, event_type, exc):
        self._warn(exc.reason, 'discarded an unauthenticated %s message '
                   '(%s): %s', event_type, exc.reason, exc)

    def status(self):
        return {'key_ids': self.verifier.key_ids,
                'require_signature': self.verifier.require,
                'counts': dict(self.counts)}


class SnapshotAuthenticator(_RateLimitedLog):
    """Checks the signature and the binding of snapshot replies.

    ``counts`` has, per reason, the replies rejected (``unsigned``,
    ``bad_signature``, ``wrong_request``, ...) and the replies accepted
    (``verified:<key id>``, ``unsigned_accepted``).
    """

    def __init__(self, verifier, log_interval=LOG_INTERVAL,
                 clock=time.monotonic):
        super().__init__(log_interval, clock)
        self.verifier = verifier
        self.counts = collections.Counter()

    def check(self, reply, request):
        """Return ``reply`` without its signature and binding fields.

        ``request`` is the ``request`` field a genuine reply has (see
        :mod:`oslo_publish_tables.protocol.snapshot_rpc`). Raises
        :class:`~oslo_publish_tables.protocol.signing.SignatureError` if
        the reply is unsigned (and signatures are required), its signature
        fails, or it was signed for another request.
        """
        try:
            key_id = self.verifier.verify(reply)
            if key_id is not None and \
                    reply.get(snapshot_rpc.REQUEST_FIELD) != request:
                raise signing.SignatureError(
                    WRONG_REQUEST, 'signed reply to another request '
                    '(replayed?)')
        except signing.SignatureError as exc:
            self.counts[exc.reason] += 1
            self._warn(exc.reason, 'rejected an unauthenticated snapshot '
                       'reply to %s of %.64r (%s): %s', request['method'],
                       request.get('table'), exc.reason, exc)
            raise
        self.counts['verified:%s' % key_id if key_id
                    else 'unsigned_accepted'] += 1
        return {k: v for k, v in reply.items()
                if k not in (signing.FIELD, snapshot_rpc.REQUEST_FIELD)}

    def status(self):
        return dict(self.counts)
