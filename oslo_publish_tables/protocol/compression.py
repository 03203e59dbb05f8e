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

"""Compressed batch bodies (format 1.2, see reference/message-format).

With ``[publish_tables] compression = zlib`` the sender replaces the
fields of a payload other than ``format`` and ``version`` with::

    "encoding": "zlib-1", "body": "<base64>"

``body`` is the standard base64 of a zlib stream (RFC 1950), compressed
with the preset dictionary :data:`DICTIONARIES` ``["zlib-1"]``, of the
UTF-8 JSON text of an object holding those fields. A dictionary is never
changed once released: a new one gets a new encoding name. The stream
names its dictionary by Adler-32 and ends with an Adler-32 of the text,
both checked when it is expanded.

:func:`pack` runs in the sender's background thread, never on the
commit path. :func:`unpack` is the consumer's side: it never expands a
body beyond :data:`MAX_BODY_BYTES` and raises
:class:`~oslo_publish_tables.exceptions.EnvelopeError` for anything that
is not a well-formed body of a known encoding.
"""

import base64
import binascii
import json
import zlib


from oslo_publish_tables import exceptions
from oslo_publish_tables.protocol import redaction

GROUP = 'publish_tables'
NONE = 'none'
ZLIB = 'zlib'
ENCODING = 'zlib-1'
LEVEL = 6
# Largest expanded body a consumer accepts: RabbitMQ's default largest
# message, so compression lets through nothing bigger than plain JSON.
MAX_BODY_BYTES = 128 * 2 ** 20


# The preset dictionary: strings likely to occur in a body, the most
# likely last (deflate codes near matches more cheaply). Keys of the
# format, codec tags, and column names of oslo.db models and common
# OpenStack tables. Frozen: any change needs a new encoding name.
_FRAGMENTS_1 = (
    '"description":"', '"display_name":"', '"availability_zone":"',
    '"status":"', '"name":"', '"project_id":"', '"user_id":"',
    '"instance_uuid":"', '"resource_id":"', '"tag":"', '"key":"',
    '"value":"', '"network_id":"', '"port_id":"', '"device_id":"',
    '"mac_address":"', '"ip_address":"', '"admin_state_up":true',
    '"volume_id":"', '"size":', '"image_ref":"', '"instance_type_id":',
    '"root_gb":', '"ephemeral_gb":', '"vcpus":', '"vcpus_used":',
    '"free_ram_mb":', '"hypervisor_hostname":"', '"cpu_allocation_ratio":',
    '"stats":"', '"metadata":', '"launched_at":', '"terminated_at":',
    '{"$t":"json","v":', '{"$t":"b","v":"', '{"$t":"d","v":"',
    '{"$t":"td","v":[', '{"$t":"uuid","v":"', '{"$t":"dec","v":"',
    '"kind":"resync","ts":', '"tables":["', '"reason":"', '"txn":"',
    '"part":', '"parts":', '"outbox_id":', '"op":"delete"',
    '"op":"insert"', '"changed":[]', '"id":', '"uuid":"', '"hostname":"',
    '"host":"', '"vm_state":"active"', '"task_state":null',
    '"memory_mb":', '"locked":false', '"user_data":null',
    '"power_state":', '"deleted_at":null', '"deleted":0',
    '"created_at":{"$t":"dt","v":"', '"updated_at":{"$t":"dt","v":"',
    '"changed":["', '"producer":{"id":"', '","host":"', '","pid":',
    ',"started":', '"last_seq":', ',"final":false',
    ',"heartbeat_interval":10.0', ',"records":[{"seq":',
    ',"kind":"txn","ts":', ',"changes":[{"table":"',
    '","op":"update","pk":{"id":', '},"row":{"id":',
)

DICTIONARIES = {ENCODING: ''.join(_FRAGMENTS_1).encode('ascii')}


def pack(fields):
    """Return ``(encoding, body)``: ``fields`` compressed, as text.

    ``fields`` must be plain JSON (what the codec produces).
    """
    text = json.dumps(fields, separators=(',', ':')).encode('utf-8')
    compressor = zlib.compressobj(LEVEL, zlib.DEFLATED, zlib.MAX_WBITS,
                                  zlib.DEF_MEM_LEVEL,
                                  zlib.Z_DEFAULT_STRATEGY,
                                  DICTIONARIES[ENCODING])
    data = compressor.compress(text) + compressor.flush()
    return ENCODING, base64.b64encode(data).decode('ascii')


def _reject_constant(name):
    # json.loads accepts NaN and Infinity, which no producer writes.
    raise ValueError('%s is not JSON' % name)


def unpack(encoding, body, limit=MAX_BODY_BYTES):
    """Return the object that :func:`pack` compressed into ``body``.

    Raises :class:`~oslo_publish_tables.exceptions.EnvelopeError` for an
    unknown encoding, bad base64, a damaged or truncated stream, one with
    another dictionary or with trailing bytes, a body that expands beyond
    ``limit`` bytes, or text that is not a JSON object.
    """
    zdict = DICTIONARIES.get(encoding) if isinstance(encoding, str) \
        else None
    if zdict is None:
        raise exceptions.EnvelopeError('unknown encoding %s'
                                       % redaction.short_repr(encoding))
    if not isinstance(body, str):
        raise exceptions.EnvelopeError("batch: 'body' is not a string")
    try:
        data = base64.b64decode(body, validate=True)
    except (binascii.Error, ValueError) as exc:  # ValueError: non-ASCII
        raise exceptions.EnvelopeError('body is not base64: %s'
                                       % redaction.short_text(exc))
    expander = zlib.decompressobj(zlib.MAX_WBITS, zdict)
    try:
        text = expander.decompress(data, limit)
    except zlib.error as exc:  # includes a wrong dictionary
        raise exceptions.EnvelopeError('body is not a %s stream: %s'
                                       % (encoding,
                                          redaction.short_text(exc)))
    if expander.unconsumed_tail:
        raise exceptions.EnvelopeError('body expands beyond %d bytes'
                                       % limit)
    if not expander.eof:
        raise exceptions.EnvelopeError('body is truncated')
    if expander.unused_data:
        raise exceptions.EnvelopeError('body has trailing bytes')
    try:
        fields = json.loads(text.decode('utf-8'),
                            parse_constant=_reject_constant)
    except (ValueError, RecursionError) as exc:  # incl. UnicodeError
        raise exceptions.EnvelopeError('body is not JSON: %s'
                                       % redaction.short_text(exc))
    if not isinstance(fields, dict):
        raise exceptions.EnvelopeError('body is not an object')
    return fields
