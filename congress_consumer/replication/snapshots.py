"""Where a consumer's snapshots come from.

* :class:`RpcSnapshotSource`: the snapshot service of
  ``publish-tables-agent`` over oslo.messaging RPC; the consumer needs no
  database credentials.
* :class:`DirectSnapshotSource`: the same service run in process on a
  read-only database URL (the user needs the table lock privilege). Where
  the database has the outbox table (durable mode), its snapshots state
  their outbox mark, as the agent's do.

Both return rows encoded with :mod:`oslo_publish_tables.protocol.codec` from
``fetch``. A source may also have ``fetch_decoded``, which returns the
rows already decoded (``DirectSnapshotSource``: they never leave the
process, so they skip the encoded form); the synchroniser then uses it.

An :class:`RpcSnapshotSource` given a
:class:`~congress_consumer.replication.authentication.
SnapshotAuthenticator` sends a fresh nonce with every call and loads
nothing from a reply that fails it: the call raises
:class:`~oslo_publish_tables.protocol.signing.SignatureError`, which fails the
snapshot (counted in ``snapshot_failures`` and logged by the
synchronizer, then retried).
"""

import secrets
import threading

import oslo_messaging
import sqlalchemy as sa

from oslo_publish_tables import exceptions
from oslo_publish_tables.protocol import snapshot_rpc
from oslo_publish_tables.snapshot import service as service_mod


class DirectSnapshotSource(object):
    """Snapshots read from the database directly."""

    def __init__(self, url, tables, exclude_columns=(), chunk_rows=5000,
                 lock_timeout=10.0):
        self.engine = sa.create_engine(url)
        self._service = service_mod.SnapshotService.for_database(
            self.engine, tables, exclude_columns, chunk_rows, lock_timeout)

    def open(self, table):
        return self._service.open_snapshot(table)

    def fetch(self, snapshot_id, max_rows):
        return self._service.fetch(snapshot_id, max_rows)

    def fetch_decoded(self, snapshot_id, max_rows):
        return self._service.fetch_decoded(snapshot_id, max_rows)

    def close(self, snapshot_id):
        self._service.close_snapshot(snapshot_id)

    def cleanup(self):
        self._service.close()
        self.engine.dispose()


class RpcSnapshotSource(object):
    """Snapshots from the snapshot service of ``publish-tables-agent``.

    ``authenticator`` (a :class:`~congress_consumer.replication.
    authentication.SnapshotAuthenticator`) checks every reply; the
    source keeps the table and the position of each open snapshot to
    know what a genuine reply must be bound to.
    """

    def __init__(self, transport, topic='publish_tables_snapshot',
                 timeout=60, authenticator=None):
        target = oslo_messaging.Target(
            topic=topic, namespace=snapshot_rpc.NAMESPACE,
            version=snapshot_rpc.VERSION)
        self._client = oslo_messaging.get_rpc_client(transport, target,
                                                     timeout=timeout)
        self.authenticator = authenticator
        self._lock = threading.Lock()
        self._snapshots = {}  # id -> [table, rows received]

    def _call(self, request, **kwargs):
        if self.authenticator is None:
            return self._client.call({}, request['method'], **kwargs)
        nonce = secrets.token_hex(16)
        reply = self._client.call({snapshot_rpc.NONCE_KEY: nonce},
                                  request['method'], **kwargs)
        return self.authenticator.check(reply, dict(request, nonce=nonce))

    def open(self, table):
        snap = self._call({'method': 'open_snapshot', 'table': table},
                          table=table)
        with self._lock:
            self._snapshots[snap['id']] = [table, 0]
        return snap

    def fetch(self, snapshot_id, max_rows):
        with self._lock:
            state = self._snapshots.get(snapshot_id)
        if state is None:
            raise exceptions.SnapshotError('no open snapshot %r'
                                           % (snapshot_id,))
        table, position = state
        page = self._call({'method': 'fetch', 'snapshot_id': snapshot_id,
                           'table': table, 'position': position},
                          snapshot_id=snapshot_id, max_rows=max_rows)
        with self._lock:
            state[1] += len(page['rows'])
            if page['done']:
                self._snapshots.pop(snapshot_id, None)
        return page

    def close(self, snapshot_id):
        with self._lock:
            self._snapshots.pop(snapshot_id, None)
        self._client.cast({}, 'close_snapshot', snapshot_id=snapshot_id)

    def cleanup(self):
        pass
