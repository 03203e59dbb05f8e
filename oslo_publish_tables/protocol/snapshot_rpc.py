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

"""The snapshot RPC: names, reply shapes and signed replies.

Consumers ask the producer's agent (``publish-tables-agent``) for
consistent snapshots of published tables over oslo.messaging RPC, on the
topic ``[publish_tables] snapshot_topic``, in the namespace
:data:`NAMESPACE`, version :data:`VERSION`::

    open_snapshot(table) -> {"id", "ts", "columns", "pk", "fence_ms",
                             "outbox_id"}
    fetch(snapshot_id, max_rows) -> {"rows": [...], "done": bool,
                                     "table", "position"}
    close_snapshot(snapshot_id) -> None

Verification (version 1.1, see :mod:`.checksum` and the sync-protocol
page), served by a :class:`ChecksumEndpoint`::

    open_checksum(table, chunks) -> open_snapshot's reply + "chunks"
    checksum(checksum_id, max_rows) -> {"done", "table", "position",
                                        "rows", "digests" (when done)}
    open_chunks(table, chunks, only) -> open_snapshot's reply

``checksum`` digests up to ``max_rows`` more rows of the fenced snapshot
``open_checksum`` took; once done, ``digests`` is ``[[count, hex sum]]``
per chunk. ``open_chunks`` opens a snapshot whose ``fetch`` returns only
the rows of the chunks ``only`` (a repair); close both kinds with
``close_snapshot``. Their replies are signed and bound like the others:
``{"method": "open_checksum", "table", "chunks"}``, ``{"method":
"checksum", "checksum_id", "table", "position"}`` (``position``: rows
digested before this call), ``{"method": "open_chunks", "table",
"chunks", "only"}``.

``outbox_id`` (durable mode only, else absent) is the highest outbox id
allocated under the snapshot's fence: the snapshot contains exactly the
records of the table whose ``outbox_id`` is not above it. ``rows`` are
encoded with :mod:`.codec`; ``position`` is the number of rows of the
snapshot returned before this chunk.

Signed replies: with ``[publish_tables] signing_key`` the server signs
every reply of ``open_snapshot`` and ``fetch`` like a notification (see
:mod:`.signing`), after adding a :data:`REQUEST_FIELD` field that binds
it to the call it answers::

    "request": {"method": "open_snapshot", "table": ..., "nonce": ...}
    "request": {"method": "fetch", "snapshot_id": ..., "table": ...,
                "position": ..., "nonce": ...}

``nonce`` is the value the caller put in the RPC context under
:data:`NONCE_KEY` (None if it sent none), so a reply cannot be replayed
to another call, nor a chunk into another snapshot or position. Every
server of this RPC (the agent, a consumer that republishes its replicas)
builds its replies with :func:`signed_open` and :func:`signed_fetch`,
through an :class:`Endpoint`.
"""

import oslo_messaging

from oslo_publish_tables import exceptions

NAMESPACE = 'publish_tables_snapshot'
VERSION = '1.1'
# open_snapshot, fetch, close_snapshot: all a 1.0 server has.
BASE_VERSION = '1.0'
MAX_NAME = 255  # longest table name or snapshot id served
MAX_ROWS = 10 ** 6  # most rows one fetch may ask for
MAX_CHUNKS = 100000
# RPC context key of the caller's nonce, echoed in the signed reply.
NONCE_KEY = 'publish_tables_nonce'
REQUEST_FIELD = 'request'


def _signed(signer, ctxt, reply, request):
    if signer is None:
        return reply
    nonce = ctxt.get(NONCE_KEY) if isinstance(ctxt, dict) else None
    request['nonce'] = nonce if isinstance(nonce, str) else None
    reply = dict(reply)
    reply[REQUEST_FIELD] = request
    return signer.sign(reply)


def signed_open(signer, ctxt, table, opened):
    """``open_snapshot``'s reply ``opened``, signed if ``signer``."""
    return _signed(signer, ctxt, opened, {'method': 'open_snapshot',
                                          'table': table})


def signed_fetch(signer, ctxt, snapshot_id, page):
    """``fetch``'s reply ``page`` (with its table and position), signed."""
    return _signed(signer, ctxt, page, {
        'method': 'fetch', 'snapshot_id': snapshot_id,
        'table': page['table'], 'position': page['position']})


class Endpoint(object):
    """The RPC endpoint of the snapshot RPC in front of ``source``.

    ``source`` opens, pages through and closes snapshots
    (``open_snapshot(table)``, ``fetch(snapshot_id, max_rows)``,
    ``close_snapshot(snapshot_id)``). With a ``signer``
    (:class:`.signing.Signer`) every reply of ``open_snapshot`` and
    ``fetch`` is signed and bound to its request.
    """

    target = oslo_messaging.Target(namespace=NAMESPACE,
                                   version=BASE_VERSION)

    def __init__(self, source, signer=None, checker=None):
        self.source = source
        self.signer = signer
        self.checker = checker  # a .snapshot_requests.RequestChecker

    def _check(self, ctxt, method, **args):
        """Refuse implausible arguments, then unsigned requests."""
        check_args(**args)
        if self.checker is not None:
            self.checker.check(ctxt, method, args)

    # Refusals are the caller's problem: no server-side traceback each.
    @oslo_messaging.expected_exceptions(exceptions.SnapshotError)
    def open_snapshot(self, ctxt, table):
        self._check(ctxt, 'open_snapshot', table=table)
        return signed_open(self.signer, ctxt, table,
                           self.source.open_snapshot(table))

    @oslo_messaging.expected_exceptions(exceptions.SnapshotError)
    def fetch(self, ctxt, snapshot_id, max_rows=None):
        self._check(ctxt, 'fetch', snapshot_id=snapshot_id,
                    max_rows=max_rows)
        return signed_fetch(self.signer, ctxt, snapshot_id,
                            self.source.fetch(snapshot_id, max_rows))

    @oslo_messaging.expected_exceptions(exceptions.SnapshotError)
    def close_snapshot(self, ctxt, snapshot_id):
        self._check(ctxt, 'close_snapshot', snapshot_id=snapshot_id)
        self.source.close_snapshot(snapshot_id)


class ChecksumEndpoint(Endpoint):
    """An :class:`Endpoint` that also serves verification (version 1.1).

    ``source`` also has ``open_checksum(table, chunks)``,
    ``checksum(checksum_id, max_rows)`` and
    ``open_chunks(table, chunks, only)``.
    """

    target = oslo_messaging.Target(namespace=NAMESPACE, version=VERSION)

    @oslo_messaging.expected_exceptions(exceptions.SnapshotError)
    def open_checksum(self, ctxt, table, chunks):
        self._check(ctxt, 'open_checksum', table=table, chunks=chunks)
        return _signed(self.signer, ctxt,
                       self.source.open_checksum(table, chunks),
                       {'method': 'open_checksum', 'table': table,
                        'chunks': chunks})

    @oslo_messaging.expected_exceptions(exceptions.SnapshotError)
    def checksum(self, ctxt, checksum_id, max_rows=None):
        self._check(ctxt, 'checksum', checksum_id=checksum_id,
                    max_rows=max_rows)
        page = self.source.checksum(checksum_id, max_rows)
        return _signed(self.signer, ctxt, page, {
            'method': 'checksum', 'checksum_id': checksum_id,
            'table': page['table'], 'position': page['position']})

    @oslo_messaging.expected_exceptions(exceptions.SnapshotError)
    def open_chunks(self, ctxt, table, chunks, only):
        self._check(ctxt, 'open_chunks', table=table, chunks=chunks,
                    only=only)
        return _signed(self.signer, ctxt,
                       self.source.open_chunks(table, chunks, only),
                       {'method': 'open_chunks', 'table': table,
                        'chunks': chunks, 'only': only})


def _name(arg, value):
    if not (isinstance(value, str) and 0 < len(value) <= MAX_NAME):
        raise exceptions.SnapshotError('%s: expected a name of 1 to %d '
                                       'characters' % (arg, MAX_NAME))


def check_args(table=None, snapshot_id=None, checksum_id=None,
               max_rows=None, chunks=None, only=None, subscriber=None):
    """Refuse arguments no genuine caller sends (SnapshotError).

    Every server of the RPC runs it through :class:`Endpoint` before
    anything is opened or read.
    """
    for arg, value in (('table', table), ('snapshot_id', snapshot_id),
                       ('checksum_id', checksum_id),
                       ('subscriber', subscriber)):
        if value is not None:
            _name(arg, value)
    if max_rows is not None and not (
            type(max_rows) is int and 0 < max_rows <= MAX_ROWS):
        raise exceptions.SnapshotError('max_rows: expected 1 to %d, got %r'
                                       % (MAX_ROWS, max_rows))
    if chunks is not None and not (
            type(chunks) is int and 0 < chunks <= MAX_CHUNKS):
        raise exceptions.SnapshotError('chunks: expected 1 to %d, got %r'
                                       % (MAX_CHUNKS, chunks))
    if only is not None and not (isinstance(only, list) and all(
            type(c) is int and 0 <= c < (chunks or 0) for c in only)):
        raise exceptions.SnapshotError('only: expected a list of chunk '
                                       'numbers below %d' % chunks)
