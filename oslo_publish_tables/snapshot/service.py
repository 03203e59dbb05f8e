"""The snapshot service: consistent table snapshots, served in chunks.

Consumers ask for snapshots instead of reading the service's database
themselves, so they need no database credentials. The same
:class:`SnapshotService` serves the oslo.messaging RPC endpoint run by
``publish-tables-agent`` and, in process, a consumer given a read-only
database URL. Rows leave the service encoded with
:mod:`oslo_publish_tables.codec`.

RPC interface (topic ``[publish_tables] snapshot_topic``, namespace
``publish_tables_snapshot``, version 1.0)::

    open_snapshot(table) -> {"id", "ts", "columns", "pk", "outbox_id"}

``outbox_id`` (durable mode only, else absent) is the highest outbox id
allocated under the snapshot's fence: the snapshot contains exactly the
records of the table whose ``outbox_id`` is not above it.
    fetch(snapshot_id, max_rows) -> {"rows": [...], "done": bool,
                                     "table", "position"}
    close_snapshot(snapshot_id) -> None

``position`` is the number of rows of the snapshot returned before this
chunk.

Signed replies: with ``[publish_tables] signing_key`` the agent signs
every reply of ``open_snapshot`` and ``fetch`` like a notification (see
:mod:`oslo_publish_tables.signing`), after adding a ``request`` field
that binds it to the call it answers::

    "request": {"method": "open_snapshot", "table": ..., "nonce": ...}
    "request": {"method": "fetch", "snapshot_id": ..., "table": ...,
                "position": ..., "nonce": ...}

``nonce`` is the value the caller put in the RPC context under
:data:`NONCE_KEY` (None if it sent none), so a reply cannot be replayed
to another call, nor a chunk into another snapshot or position.
"""

import collections
import threading
import time
import uuid

from oslo_config import cfg
import oslo_messaging

from oslo_publish_tables import codec
from oslo_publish_tables import exceptions
from oslo_publish_tables.snapshot import estimate as estimate_mod
from oslo_publish_tables.snapshot import reader

GROUP = 'publish_tables'
NAMESPACE = 'publish_tables_snapshot'
VERSION = '1.0'
# RPC context key of the caller's nonce, echoed in the signed reply.
NONCE_KEY = 'publish_tables_nonce'
REQUEST_FIELD = 'request'

_opts = [
    cfg.StrOpt('snapshot_topic', default='publish_tables_snapshot',
               help='RPC topic of the snapshot service.'),
    cfg.IntOpt('snapshot_chunk_rows', default=5000, min=1,
               help='Most rows returned by one fetch of a snapshot.'),
    cfg.FloatOpt('snapshot_lock_timeout', default=10.0, min=0.1,
                 help='Longest wait for the share lock that fences a '
                      'snapshot against writers.'),
    cfg.FloatOpt('snapshot_idle_timeout', default=120.0, min=1,
                 help='An open snapshot nobody fetched from for this many '
                      'seconds is closed.'),
]


class SnapshotService(object):
    """Open, page through and close snapshots of published tables."""

    def __init__(self, engine, registry, chunk_rows=5000, lock_timeout=10.0,
                 idle_timeout=120.0, outbox=False):
        self.engine = engine
        self.outbox = outbox
        self.registry = registry
        self.chunk_rows = chunk_rows
        self.lock_timeout = lock_timeout
        self.idle_timeout = idle_timeout
        self._open = {}
        self._lock = threading.Lock()
        self.stats = collections.Counter()  # for metrics

    def open_snapshot(self, table):
        info = self.registry.get(table)
        if info is None:
            raise exceptions.SnapshotError('table %r is not published'
                                           % table)
        self._expire()
        self.stats['snapshot_requests'] += 1
        snap = reader.open_snapshot(self.engine, info, self.lock_timeout,
                                    outbox=self.outbox)
        sid = uuid.uuid4().hex
        with self._lock:
            # snapshot, last used, table, rows returned so far
            self._open[sid] = [snap, time.monotonic(), table, 0]
        opened = {'id': sid, 'ts': snap.ts, 'columns': snap.columns,
                  'pk': snap.pk_names, 'fence_ms': snap.fence_seconds * 1e3}
        if snap.outbox_id is not None:
            opened['outbox_id'] = snap.outbox_id
        with self.engine.connect() as connection:
            estimate = estimate_mod.estimate_rows(connection, info.table)
        if estimate is not None:  # for progress ETAs only
            opened['rows_estimate'] = estimate
        return opened

    def fetch(self, snapshot_id, max_rows=None):
        snap, values, page = self._fetch(snapshot_id, max_rows)
        keys = snap.keys
        page['rows'] = [codec.encode_row(dict(zip(keys, v)))
                        for v in values]
        return page

    def fetch_decoded(self, snapshot_id, max_rows=None):
        """Like :meth:`fetch`, rows as :func:`codec.decode_row` gives them.

        For a consumer in the same process: the rows are those a
        ``decode_row`` of :meth:`fetch`'s would be, without the encoded
        form in between (see :func:`codec.normalize_row`).
        """
        snap, values, page = self._fetch(snapshot_id, max_rows)
        keys, plain, normalize = snap.keys, codec.PLAIN_TYPES, codec.normalize
        page['rows'] = [dict(zip(keys, [v if type(v) in plain
                                        else normalize(v) for v in row]))
                        for row in values]
        return page

    def _fetch(self, snapshot_id, max_rows):
        """The snapshot, its next values and the page without its rows."""
        with self._lock:
            entry = self._open.get(snapshot_id)
            if entry is None:
                raise exceptions.SnapshotError('no open snapshot %r'
                                               % snapshot_id)
            entry[1] = time.monotonic()
        snap = entry[0]
        values = snap.fetch_values(min(max_rows or self.chunk_rows,
                                       self.chunk_rows))
        with self._lock:
            position = entry[3]
            entry[3] += len(values)
            self.stats['snapshot_rows'] += len(values)
        if not values:
            self.close_snapshot(snapshot_id)
        return snap, values, {'done': not values, 'table': entry[2],
                              'position': position}

    def close_snapshot(self, snapshot_id):
        with self._lock:
            entry = self._open.pop(snapshot_id, None)
        if entry is not None:
            entry[0].close()

    def _expire(self):
        now = time.monotonic()
        with self._lock:
            stale = [sid for sid, entry in self._open.items()
                     if now - entry[1] > self.idle_timeout]
        for sid in stale:
            self.close_snapshot(sid)

    def close(self):
        for sid in list(self._open):
            self.close_snapshot(sid)


class SnapshotEndpoint(object):
    """The RPC endpoint in front of a :class:`SnapshotService`.

    With a ``signer`` (:class:`oslo_publish_tables.signing.Signer`) every
    reply of ``open_snapshot`` and ``fetch`` is signed and bound to its
    request (see the module docstring).
    """

    target = oslo_messaging.Target(namespace=NAMESPACE, version=VERSION)

    def __init__(self, service, signer=None):
        self.service = service
        self.signer = signer

    def open_snapshot(self, ctxt, table):
        return signed_open(self.signer, ctxt, table,
                           self.service.open_snapshot(table))

    def fetch(self, ctxt, snapshot_id, max_rows=None):
        return signed_fetch(self.signer, ctxt, snapshot_id,
                            self.service.fetch(snapshot_id, max_rows))

    def close_snapshot(self, ctxt, snapshot_id):
        self.service.close_snapshot(snapshot_id)


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


def rpc_server(conf, transport, service, server='publish-tables-agent',
               signer=None):
    """Return an oslo.messaging RPC server exposing ``service``.

    ``signer`` signs the replies (see :class:`SnapshotEndpoint`).
    """
    target = oslo_messaging.Target(topic=conf[GROUP].snapshot_topic,
                                   server=server)
    return oslo_messaging.get_rpc_server(
        transport, target, [SnapshotEndpoint(service, signer)],
        executor='threading',
        access_policy=oslo_messaging.DefaultRPCAccessPolicy)
