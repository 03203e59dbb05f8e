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

"""Signed snapshot requests: only key holders may read snapshots.

Signed replies (:mod:`.service`) stop a forger from feeding a consumer;
they do not stop anyone who can publish on the bus from *asking* the
agent for whole tables. With a signing key the agent therefore serves
only requests signed with it: the caller puts in the RPC context, under
:data:`REQUEST_KEY`, the signed object::

    {"method": "open_snapshot", "args": {"table": "instances"},
     "nonce": "<32 hex>", "ts": <seconds since the epoch>,
     "signature": {...}}

:class:`RequestChecker` accepts it only if the signature verifies, the
method and arguments are those of the call, ``ts`` is within
``max_age`` seconds of the agent's clock and the nonce was not used
before (a captured request cannot be replayed to read the snapshot
again).
"""

import collections
import time

from oslo_publish_tables import exceptions
from oslo_publish_tables.protocol import signing

REQUEST_KEY = 'publish_tables_request'
MAX_AGE = 300.0


class RequestRefused(exceptions.SnapshotError):
    """A snapshot request without a valid signature (or a replay)."""


def signed_context(signer, method, args, nonce, clock=time.time):
    """The RPC context entry of a request signed with ``signer``."""
    return {REQUEST_KEY: signer.sign({
        'method': method, 'args': dict(args), 'nonce': nonce,
        'ts': int(clock())})}


class RequestChecker(object):
    """Accepts only signed, fresh, never-seen snapshot requests."""

    def __init__(self, verifier, max_age=MAX_AGE, clock=time.time):
        self.verifier = verifier
        self.max_age = max_age
        self._clock = clock
        self._seen = collections.OrderedDict()  # nonce -> ts
        self.refused = collections.Counter()

    def check(self, ctxt, method, args):
        """Return None if the call may be served; raise RequestRefused."""
        request = ctxt.get(REQUEST_KEY) if isinstance(ctxt, dict) else None
        try:
            self.verifier.verify(request)
        except signing.SignatureError as exc:
            return self._refuse(exc.reason, 'request not authenticated: %s'
                                % exc)
        now = self._clock()
        ts, nonce = request.get('ts'), request.get('nonce')
        if request.get('method') != method or request.get('args') != args:
            return self._refuse('wrong_call', 'signed for another call')
        if not isinstance(ts, int) or abs(now - ts) > self.max_age:
            return self._refuse('stale', 'request older than %.0f s or '
                                'dated ahead' % self.max_age)
        if not isinstance(nonce, str) or nonce in self._seen:
            return self._refuse('replayed', 'request replayed')
        self._seen[nonce] = ts
        while self._seen and next(iter(self._seen.values())) < \
                now - self.max_age:
            self._seen.popitem(last=False)
        return None

    def _refuse(self, reason, message):
        self.refused[reason] += 1
        raise RequestRefused('snapshot request refused (%s): %s'
                             % (reason, message))


def checker_from_conf(conf):
    """The :class:`RequestChecker` of ``[publish_tables]``, or None.

    None when no ``signing_key`` is set: requests are then not checked.
    """
    group = conf[signing.GROUP]
    return checker_for_key(group.signing_key_id, group.signing_key)


def checker_for_key(key_id, key):
    """The :class:`RequestChecker` of one key, or None without a key.

    Every snapshot server (the agent, a consumer republishing its
    tables) checks requests with it.
    """
    if not key:
        return None
    return RequestChecker(signing.Verifier([(key_id, key)]))
