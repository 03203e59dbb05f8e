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

NAMESPACE = 'publish_tables_snapshot'
VERSION = '1.0'
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

    target = oslo_messaging.Target(namespace=NAMESPACE, version=VERSION)

    def __init__(self, source, signer=None):
        self.source = source
        self.signer = signer

    def open_snapshot(self, ctxt, table):
        return signed_open(self.signer, ctxt, table,
                           self.source.open_snapshot(table))

    def fetch(self, ctxt, snapshot_id, max_rows=None):
        return signed_fetch(self.signer, ctxt, snapshot_id,
                            self.source.fetch(snapshot_id, max_rows))

    def close_snapshot(self, ctxt, snapshot_id):
        self.source.close_snapshot(snapshot_id)
