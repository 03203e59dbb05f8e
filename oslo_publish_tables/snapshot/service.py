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

import dataclasses

import oslo_messaging
import sqlalchemy as sa

from oslo_publish_tables.capture import tables as tables_mod
from oslo_publish_tables import exceptions
from oslo_publish_tables.outbox import attached
from oslo_publish_tables.outbox import schema as outbox_table
from oslo_publish_tables.protocol import checksum as checksum_mod
from oslo_publish_tables.protocol import codec
from oslo_publish_tables.protocol import snapshot_requests as requests
from oslo_publish_tables.protocol import snapshot_rpc
from oslo_publish_tables.snapshot import bounds
from oslo_publish_tables.snapshot import estimate as estimate_mod
from oslo_publish_tables.snapshot import reader

GROUP = 'publish_tables'


@dataclasses.dataclass(frozen=True)
class SnapshotLimits(object):
    """What one snapshot service allows.

    The defaults are the ``snapshot_*`` options' of the same names,
    which :mod:`oslo_publish_tables.opts` defines and a unit test holds
    equal.
    """

    chunk_rows: int = 5000
    lock_timeout: float = 10.0
    idle_timeout: float = 120.0
    max_open: int = 8
    max_duration: float = 900.0

    @classmethod
    def from_conf(cls, group):
        """The limits of the ``[publish_tables]`` options ``group``."""
        return cls(group.snapshot_chunk_rows, group.snapshot_lock_timeout,
                   group.snapshot_idle_timeout, group.snapshot_max_open,
                   group.snapshot_max_duration)


class SnapshotService(object):
    """Open, page through and close snapshots of published tables.

    ``outbox``: durable mode, the snapshots are fenced on the outbox too
    (in schema ``outbox_schema`` if given).
    """

    def __init__(self, engine, registry, limits=SnapshotLimits(),
                 outbox=False, outbox_schema=None):
        self.engine = engine
        self.registry = registry
        self.limits = limits
        self.outbox = outbox
        self.outbox_schema = outbox_schema
        self.snapshots = bounds.OpenSnapshots(
            lambda snap: snap.close(), limits.max_open, limits.idle_timeout,
            limits.max_duration)

    @property
    def stats(self):
        """Counters for metrics (see :class:`.bounds.OpenSnapshots`)."""
        return self.snapshots.stats

    @classmethod
    def for_database(cls, engine, tables, exclude_columns=(),
                     chunk_rows=SnapshotLimits.chunk_rows,
                     lock_timeout=SnapshotLimits.lock_timeout,
                     outbox_schema=None):
        """A service of ``tables`` of ``engine``'s database, as it is.

        For a reader that has no ``[publish_tables]`` configuration (a
        consumer given a read-only database URL): the tables are
        reflected from the database, and durable mode is on if the
        outbox table exists (in schema ``outbox_schema`` if given).
        """
        with engine.connect() as conn:
            attached.attach(conn, outbox_schema)  # SQLite
            registry = tables_mod.TableRegistry.reflect(
                conn, tables, exclude_columns)
            outbox = sa.inspect(conn).has_table(outbox_table.TABLE_NAME,
                                                schema=outbox_schema)
        limits = SnapshotLimits(chunk_rows=chunk_rows,
                                lock_timeout=lock_timeout)
        return cls(engine, registry, limits, outbox=outbox,
                   outbox_schema=outbox_schema)

    def _current(self, table):
        """``table``'s info, reflected again: a migration may change it."""
        if self.registry.get(table) is None:
            raise exceptions.SnapshotError('table %r is not published'
                                           % table)
        try:
            with self.engine.connect() as connection:
                return self.registry.refresh(connection, table)
        except sa.exc.NoSuchTableError:
            raise exceptions.SnapshotError('table %r does not exist (a '
                                           'migration dropped it?)' % table)

    def open_snapshot(self, table, wrap=None):
        """Open a fenced snapshot; ``wrap(snapshot)`` may replace it."""
        info = self._current(table)
        with self.snapshots.reserve():
            snap = reader.open_snapshot(self.engine, info,
                                        self.limits.lock_timeout,
                                        outbox=self.outbox,
                                        outbox_schema=self.outbox_schema)
            if wrap is not None:
                snap = wrap(snap)
            sid = self.snapshots.add(snap, table)
        opened = {'id': sid, 'ts': snap.ts, 'columns': snap.columns,
                  'pk': snap.pk_names, 'fence_ms': snap.fence_seconds * 1e3}
        if snap.outbox_id is not None:
            opened['outbox_id'] = snap.outbox_id
        with self.engine.connect() as connection:
            estimate = estimate_mod.estimate_rows(connection, info.table)
        if estimate is not None:  # for progress ETAs only
            opened['rows_estimate'] = estimate
        return opened

    def open_checksum(self, table, chunks):
        """Open a fenced snapshot to digest in ``chunks`` chunks."""
        snapshot_rpc.check_args(table=table, chunks=chunks)
        opened = self.open_snapshot(table, wrap=lambda snap: (
            checksum_mod.ChecksumCursor(snap, chunks)))
        opened['chunks'] = chunks
        return opened

    def checksum(self, checksum_id, max_rows=None):
        """Digest more rows; the digests come with the last page."""
        entry = self.snapshots.get(checksum_id, checksum_mod.ChecksumCursor)
        cursor = entry.snap
        rows = cursor.advance(min(max_rows or self.limits.chunk_rows,
                                  self.limits.chunk_rows))
        page = {'done': cursor.done, 'table': entry.table,
                'position': self.snapshots.advance(entry, rows),
                'rows': rows}
        if cursor.done:
            page['digests'] = cursor.digests.as_list()
            self.close_snapshot(checksum_id)
        return page

    def open_chunks(self, table, chunks, only):
        """Open a snapshot of the rows of chunks ``only`` (a repair)."""
        snapshot_rpc.check_args(table=table, chunks=chunks, only=only)
        return self.open_snapshot(table, wrap=lambda snap: (
            checksum_mod.ChunkFilter(snap, chunks, only)))

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
        entry = self.snapshots.get(snapshot_id)
        snap = entry.snap
        values = snap.fetch_values(min(max_rows or self.limits.chunk_rows,
                                       self.limits.chunk_rows))
        position = self.snapshots.advance(entry, len(values))
        if not values:
            self.close_snapshot(snapshot_id)
        return snap, values, {'done': not values, 'table': entry.table,
                              'position': position}

    def close_snapshot(self, snapshot_id):
        self.snapshots.close(snapshot_id)

    def close(self):
        self.snapshots.close_all()


class SnapshotEndpoint(snapshot_rpc.ChecksumEndpoint):
    """The RPC endpoint in front of a :class:`SnapshotService`.

    With a ``signer`` (:class:`oslo_publish_tables.protocol.signing.Signer`)
    every reply is signed and bound to its request (see
    :mod:`oslo_publish_tables.protocol.snapshot_rpc`).
    """


def rpc_server(conf, transport, service, server='publish-tables-agent',
               signer=None, check_requests=True):
    """Return an oslo.messaging RPC server exposing ``service``.

    ``signer`` signs the replies (see :class:`SnapshotEndpoint`); with it
    (and ``check_requests``) only requests signed with ``conf``'s key
    are served (:mod:`.protocol.snapshot_requests`).
    """
    target = oslo_messaging.Target(topic=conf[GROUP].snapshot_topic,
                                   server=server)
    checker = requests.checker_from_conf(conf) \
        if signer and check_requests else None
    return oslo_messaging.get_rpc_server(
        transport, target, [SnapshotEndpoint(service, signer, checker)],
        executor='threading',
        access_policy=oslo_messaging.DefaultRPCAccessPolicy)
