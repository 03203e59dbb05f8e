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

"""The wire protocol: the only code producer and consumers share.

A producer (:mod:`oslo_publish_tables`) publishes committed row changes
as oslo.messaging notifications; a consumer (:mod:`congress_consumer`,
or anyone's) keeps a replica of the published tables from them and from
snapshots. Both sides speak through the modules of this package and
nothing else, so either side can change its insides without the other
noticing:

* :mod:`.envelope`: the versioned message format. A notification's
  payload is a *batch* of records: committed transactions (``txn``),
  resync markers (``resync``) and, with no records, a heartbeat; since
  version 1.2 a batch may travel compressed. ``envelope.build_*`` makes
  them on the producer side, ``envelope.parse`` validates and decodes
  them on the consumer side.
* :mod:`.codec`: the lossless JSON-safe encoding of column values
  (datetimes, decimals, bytes, UUIDs, non-finite floats, JSON columns).
* :mod:`.compression`: the ``zlib-1`` encoding of a compressed batch.
* :mod:`.signing`: HMAC signatures on batches and snapshot replies, and
  their verification with the current and previous keys.
* :mod:`.redaction`: what never appears in a log line (credentials in
  URLs, signatures, row values).
* :mod:`.snapshot_rpc`: the names (topic option, namespace, version,
  context key) and reply shapes of the snapshot RPC, and the binding of
  a signed reply to the request it answers.
* :mod:`.stamps`: what a record's ``ts`` stamp is (microseconds since the
  epoch) and the local clock that makes one.

The message format is described field by field in
``doc/source/reference/message-format.rst`` and the synchronisation
protocol built on it in ``doc/source/reference/sync-protocol.rst``.
Nothing in this package opens a connection, registers an option on a
global ``ConfigOpts`` or keeps state between calls.
"""
