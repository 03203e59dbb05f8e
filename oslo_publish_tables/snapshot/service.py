"""The snapshot service: consistent table snapshots, served in chunks.

Consumers ask for snapshots instead of reading the service's database
themselves, so they need no database credentials. The same
:class:`SnapshotService` serves the oslo.messaging RPC endpoint run by
``publish-tables-agent`` and, in process, a consumer given a read-only
database URL. Rows leave the service encoded with
:mod:`oslo_publish_tables.protocol.codec`.

The RPC's names and reply shapes, and how a reply is signed, are part
of the protocol: :mod:`oslo_publish_tables.protocol.snapshot_rpc`.
"""

import threading
import time
import uuid

import oslo_messaging
import sqlalchemy as sa

from oslo_publish_tables.capture import tables as tables_mod
from oslo_publish_tables import exceptions
from oslo_publish_tables.outbox import schema as outbox_schema
from oslo_publish_tables.protocol import codec
from oslo_publish_tables.protocol import snapshot_rpc
from oslo_publish_tables.snapshot import reader

GROUP = 'publish_tables'


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

    @classmethod
    def for_database(cls, engine, tables, exclude_columns=(),
                     chunk_rows=5000, lock_timeout=10.0):
        """A service of ``tables`` of ``engine``'s database, as it is.

        For a reader that has no ``[publish_tables]`` configuration (a
        consumer given a read-only database URL): the tables are
        reflected from the database, and durable mode is on if the
        outbox table exists.
        """
        with engine.connect() as conn:
            registry = tables_mod.TableRegistry.reflect(
                conn, tables, exclude_columns)
            outbox = sa.inspect(conn).has_table(outbox_schema.TABLE_NAME)
        return cls(engine, registry, chunk_rows, lock_timeout,
                   outbox=outbox)

    def open_snapshot(self, table):
        info = self.registry.get(table)
        if info is None:
            raise exceptions.SnapshotError('table %r is not published'
                                           % table)
        self._expire()
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


class SnapshotEndpoint(snapshot_rpc.Endpoint):
    """The RPC endpoint in front of a :class:`SnapshotService`.

    With a ``signer`` (:class:`oslo_publish_tables.protocol.signing.Signer`)
    every reply of ``open_snapshot`` and ``fetch`` is signed and bound to
    its request (see :mod:`oslo_publish_tables.protocol.snapshot_rpc`).
    """


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
