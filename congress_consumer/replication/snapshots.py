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

"""Where a consumer's snapshots come from.

* :class:`RpcSnapshotSource`: the snapshot service of
  ``publish-tables-agent`` over oslo.messaging RPC; the consumer needs no
  database credentials.
* :class:`DirectSnapshotSource`: the same service run in process on a
  read-only database URL (the user needs the table lock privilege). It
  must leave out the columns the producer does not publish: give it the
  producer's ``exclude_columns``; columns it loads that the producer's
  changes then lack are excluded from then on (see
  :meth:`~congress_consumer.publish_tables.sync.Synchronizer.handle`). Where
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
synchronizer, then retried); a rejected ``open_snapshot`` reply still
closes the snapshot it names, so that the agent does not hold it. Given
a ``signer`` it also signs every request (see
:mod:`oslo_publish_tables.protocol.snapshot_requests`): an agent with a key
serves no others.
"""

import secrets
import threading

import oslo_messaging
import sqlalchemy as sa

from oslo_publish_tables import exceptions
from oslo_publish_tables.protocol import signing
from oslo_publish_tables.protocol import snapshot_requests as requests
from oslo_publish_tables.protocol import snapshot_rpc
from oslo_publish_tables.snapshot import service as service_mod


class DirectSnapshotSource(object):
    """Snapshots read from the database directly."""

    def __init__(self, url, tables, exclude_columns=(), chunk_rows=5000,
                 lock_timeout=10.0, outbox_schema=None):
        self.engine = sa.create_engine(url)
        self._service = service_mod.SnapshotService.for_database(
            self.engine, tables, exclude_columns, chunk_rows, lock_timeout,
            outbox_schema)

    def exclude(self, table, columns):
        """Load ``table`` without ``columns`` from now on.

        The producer does not publish them (its ``exclude_columns``):
        the synchronizer learns that from its changes.
        """
        self._service.registry.get(table).exclude(columns)

    def open(self, table):
        return self._service.open_snapshot(table)

    def fetch(self, snapshot_id, max_rows):
        return self._service.fetch(snapshot_id, max_rows)

    def fetch_decoded(self, snapshot_id, max_rows):
        return self._service.fetch_decoded(snapshot_id, max_rows)

    def close(self, snapshot_id):
        self._service.close_snapshot(snapshot_id)

    def open_checksum(self, table, chunks):
        return self._service.open_checksum(table, chunks)

    def checksum(self, checksum_id, max_rows):
        return self._service.checksum(checksum_id, max_rows)

    def open_chunks(self, table, chunks, only):
        return self._service.open_chunks(table, chunks, only)

    def cleanup(self):
        self._service.close()
        self.engine.dispose()


class RpcSnapshotSource(object):
    """Snapshots from the snapshot service of ``publish-tables-agent``.

    ``exchange`` is the agent's ``control_exchange`` (default: the
    transport's). ``authenticator`` (a
    :class:`~congress_consumer.replication.authentication.
    SnapshotAuthenticator`) checks every reply; the
    source keeps the table and the position of each open snapshot to
    know what a genuine reply must be bound to.
    """

    def __init__(self, transport, topic='publish_tables_snapshot',
                 timeout=60, authenticator=None, exchange=None,
                 signer=None):
        target = oslo_messaging.Target(
            topic=topic, exchange=exchange, namespace=snapshot_rpc.NAMESPACE,
            version=snapshot_rpc.BASE_VERSION)
        self._client = oslo_messaging.get_rpc_client(transport, target,
                                                     timeout=timeout)
        self.authenticator = authenticator
        self.signer = signer
        self._lock = threading.Lock()
        self._snapshots = {}  # id -> [table, rows received]

    def _context(self, method, kwargs):
        nonce = secrets.token_hex(16)
        ctxt = {snapshot_rpc.NONCE_KEY: nonce}
        if self.signer is not None:
            ctxt.update(requests.signed_context(self.signer, method, kwargs,
                                                nonce))
        return nonce, ctxt

    def _call(self, request, version=None, **kwargs):
        client = self._client if version is None else \
            self._client.prepare(version=version)
        if self.authenticator is None and self.signer is None:
            return client.call({}, request['method'], **kwargs)
        nonce, ctxt = self._context(request['method'], kwargs)
        reply = client.call(ctxt, request['method'], **kwargs)
        if self.authenticator is None:
            return reply
        try:
            return self.authenticator.check(reply,
                                            dict(request, nonce=nonce))
        except signing.SignatureError:
            sid = reply.get('id') if isinstance(reply, dict) else None
            if request['method'] == 'open_snapshot' and \
                    isinstance(sid, str) and len(sid) <= 64:
                self._cast_close(sid)  # do not leave it open on the agent
            raise

    def open(self, table):
        snap = self._call({'method': 'open_snapshot', 'table': table},
                          table=table)
        with self._lock:
            self._snapshots[snap['id']] = [table, 0]
        return snap

    def open_chunks(self, table, chunks, only):
        """A snapshot of the rows of chunks ``only``; ``fetch`` it."""
        snap = self._call({'method': 'open_chunks', 'table': table,
                           'chunks': chunks, 'only': only},
                          version=snapshot_rpc.VERSION, table=table,
                          chunks=chunks, only=only)
        with self._lock:
            self._snapshots[snap['id']] = [table, 0]
        return snap

    def open_checksum(self, table, chunks):
        opened = self._call({'method': 'open_checksum', 'table': table,
                             'chunks': chunks},
                            version=snapshot_rpc.VERSION, table=table,
                            chunks=chunks)
        with self._lock:
            self._snapshots[opened['id']] = [table, 0]
        return opened

    def checksum(self, checksum_id, max_rows):
        with self._lock:
            state = self._snapshots.get(checksum_id)
        if state is None:
            raise exceptions.SnapshotError('no open checksum %r'
                                           % (checksum_id,))
        table, position = state
        page = self._call({'method': 'checksum', 'checksum_id': checksum_id,
                           'table': table, 'position': position},
                          version=snapshot_rpc.VERSION,
                          checksum_id=checksum_id, max_rows=max_rows)
        with self._lock:
            state[1] += page['rows']
            if page['done']:
                self._snapshots.pop(checksum_id, None)
        return page

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
        self._cast_close(snapshot_id)

    def _cast_close(self, snapshot_id):
        kwargs = {'snapshot_id': snapshot_id}
        ctxt = {} if self.signer is None else \
            self._context('close_snapshot', kwargs)[1]
        self._client.cast(ctxt, 'close_snapshot', **kwargs)

    def cleanup(self):
        pass
