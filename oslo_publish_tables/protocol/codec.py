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

"""Lossless JSON-safe encoding of column values.

Column values travel inside oslo.messaging notifications, whose payloads
must be plain JSON. Values JSON can carry as they are (``None``, bool,
int, finite float, str) are sent unchanged. Everything else is sent as a
tagged object ``{"$t": TAG, "v": TEXT}``:

=========  ====================================================
tag        value
=========  ====================================================
``dt``     :class:`datetime.datetime`, ISO 8601 (keeps tzinfo)
``d``      :class:`datetime.date`, ISO 8601
``tm``     :class:`datetime.time`, ISO 8601
``td``     :class:`datetime.timedelta`, as ``[days, seconds, us]``
``dec``    :class:`decimal.Decimal`, its exact string
``b``      :class:`bytes`, base64
``uuid``   :class:`uuid.UUID`, canonical string
``f``      non-finite float: ``"nan"``, ``"inf"``, ``"-inf"``
``json``   a JSON column's value (list or dict), as is
=========  ====================================================

Lists and dicts only ever appear inside a ``json`` tag, so a tagged object
can never be confused with data.

:func:`normalize_row` gives, without building the encoded form, the row
that ``decode_row(encode_row(row))`` would: for rows that never leave the
process (an in-process snapshot source).
"""

import base64
import datetime
import decimal
import math
import uuid

from oslo_publish_tables import exceptions
from oslo_publish_tables.protocol import redaction

_PLAIN = (str, bool, int, type(None))
# Exact types passed through by a type() lookup, without a call (the
# common case by far); subclasses and floats take the full path.
_AS_IS = frozenset(_PLAIN)
PLAIN_TYPES = _AS_IS  # encode() and decode() return these values as they are


def encode(value):
    """Return a JSON-safe form of one column value."""
    if isinstance(value, _PLAIN):
        return value
    if isinstance(value, float):
        if math.isfinite(value):
            return value
        return {'$t': 'f', 'v': repr(value)}
    if isinstance(value, datetime.datetime):
        return {'$t': 'dt', 'v': value.isoformat()}
    if isinstance(value, datetime.date):
        return {'$t': 'd', 'v': value.isoformat()}
    if isinstance(value, datetime.time):
        return {'$t': 'tm', 'v': value.isoformat()}
    if isinstance(value, datetime.timedelta):
        return {'$t': 'td',
                'v': [value.days, value.seconds, value.microseconds]}
    if isinstance(value, decimal.Decimal):
        return {'$t': 'dec', 'v': str(value)}
    if isinstance(value, (bytes, bytearray, memoryview)):
        return {'$t': 'b', 'v': base64.b64encode(bytes(value)).decode()}
    if isinstance(value, uuid.UUID):
        return {'$t': 'uuid', 'v': str(value)}
    if isinstance(value, (list, tuple, dict)):
        return {'$t': 'json', 'v': value}
    raise exceptions.EnvelopeError(
        'cannot encode a value of type %s' % type(value).__name__)


def _timedelta(v):
    days, seconds, micros = v
    return datetime.timedelta(days=days, seconds=seconds,
                              microseconds=micros)


def _decimal(v):
    value = decimal.Decimal(v)
    if value.is_snan():  # raises on any comparison: no column holds one
        raise ValueError('signalling NaN')
    return value


_DECODERS = {
    'dt': datetime.datetime.fromisoformat,
    'd': datetime.date.fromisoformat,
    'tm': datetime.time.fromisoformat,
    'td': _timedelta,
    'dec': _decimal,
    'b': base64.b64decode,
    'uuid': uuid.UUID,
    'f': float,
    'json': lambda v: v,
}


def decode(value):
    """Invert :func:`encode`; raise EnvelopeError on anything unknown."""
    if isinstance(value, _PLAIN) or isinstance(value, float):
        return value
    if isinstance(value, dict) and set(value) == {'$t', 'v'}:
        tag = value['$t']
        decoder = _DECODERS.get(tag) if isinstance(tag, str) else None
        if decoder is not None:
            try:
                return decoder(value['v'])
            except (TypeError, ValueError, ArithmeticError,
                    AttributeError) as exc:  # uuid.UUID(5): AttributeError
                raise exceptions.EnvelopeError(
                    'bad %r value %s: %s' % (
                        tag, redaction.short_repr(value['v']),
                        redaction.short_text(exc)))
    raise exceptions.EnvelopeError('not an encoded value: %s'
                                   % redaction.short_repr(value))


def encode_row(row):
    """Encode a mapping of column name to value."""
    return {name: value if type(value) in _AS_IS else encode(value)
            for name, value in row.items()}


# Exact types whose values decode(encode(v)) gives back unchanged (when
# naive and not folded, for the date and time types): no round trip.
_SAME = frozenset((float, decimal.Decimal, uuid.UUID, bytes))
_NAIVE = frozenset((datetime.datetime, datetime.time))


def normalize(value):
    """Return ``decode(encode(value))``, skipping the round trip if it can."""
    kind = type(value)
    if kind in _AS_IS:
        return value
    if kind in _SAME:
        if kind is not float or math.isfinite(value):
            return value
    elif kind in _NAIVE:
        if value.tzinfo is None and not value.fold:
            return value
    elif kind is datetime.date:
        return value
    return decode(encode(value))


def normalize_row(row):
    """Return ``decode_row(encode_row(row))`` (a new dict) more cheaply."""
    return {name: value if type(value) in _AS_IS else normalize(value)
            for name, value in row.items()}


def decode_row(row):
    """Decode a mapping produced by :func:`encode_row`."""
    if not isinstance(row, dict):
        raise exceptions.EnvelopeError('a row must be an object, not %r'
                                       % (type(row).__name__,))
    return {str(name): value if type(value) in _AS_IS else decode(value)
            for name, value in row.items()}
