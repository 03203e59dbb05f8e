"""Where a consumer's snapshots come from.

* :class:`RpcSnapshotSource`: the snapshot service of
  ``publish-tables-agent`` over oslo.messaging RPC; the consumer needs no
  database credentials.
* :class:`DirectSnapshotSource`: the same service run in process on a
  read-only database URL (the user needs the table lock privilege). Where
  the database has the outbox table (durable mode), its snapshots state
  their outbox mark, as the agent's do.

Both return rows encoded with :mod:`oslo_publish_tables.codec`.
"""

import oslo_messaging
import sqlalchemy as sa

from oslo_publish_tables.capture import tables as tables_mod
from oslo_publish_tables.outbox import schema as outbox_schema
from oslo_publish_tables.snapshot import service as service_mod


class DirectSnapshotSource(object):
    """Snapshots read from the database directly."""

    def __init__(self, url, tables, exclude_columns=(), chunk_rows=5000,
                 lock_timeout=10.0):
        self.engine = sa.create_engine(url)
        with self.engine.connect() as conn:
            registry = tables_mod.TableRegistry.reflect(
                conn, tables, exclude_columns)
            outbox = sa.inspect(conn).has_table(outbox_schema.TABLE_NAME)
        self._service = service_mod.SnapshotService(
            self.engine, registry, chunk_rows, lock_timeout, outbox=outbox)

    def open(self, table):
        return self._service.open_snapshot(table)

    def fetch(self, snapshot_id, max_rows):
        return self._service.fetch(snapshot_id, max_rows)

    def close(self, snapshot_id):
        self._service.close_snapshot(snapshot_id)

    def cleanup(self):
        self._service.close()
        self.engine.dispose()


class RpcSnapshotSource(object):
    """Snapshots from the snapshot service of ``publish-tables-agent``."""

    def __init__(self, transport, topic='publish_tables_snapshot',
                 timeout=60):
        target = oslo_messaging.Target(
            topic=topic, namespace=service_mod.NAMESPACE,
            version=service_mod.VERSION)
        self._client = oslo_messaging.get_rpc_client(transport, target,
                                                     timeout=timeout)

    def open(self, table):
        return self._client.call({}, 'open_snapshot', table=table)

    def fetch(self, snapshot_id, max_rows):
        return self._client.call({}, 'fetch', snapshot_id=snapshot_id,
                                 max_rows=max_rows)

    def close(self, snapshot_id):
        self._client.cast({}, 'close_snapshot', snapshot_id=snapshot_id)

    def cleanup(self):
        pass
