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

"""Row filters of a subscription.

A subscription's ``filters`` is a JSON list of objects::

    [{"column": "host", "value": "compute-1"},
     {"column": "vm_state", "value": ["active", "error"]}]

A filter matches a row whose ``column`` equals ``value``, or one of the
values of a list. A row matches the subscription if **any** of its
filters matches (the filters are OR-ed); an empty list matches every
row. Values are JSON scalars (string, number, boolean, null) and are
compared with the row's value as the consumer's datasource shows it:
dates and times as ISO 8601 text, decimals as floats, UUIDs as text.
"""

from congress_consumer.datasources import values as values_mod
from congress_consumer import exceptions

_SCALARS = (str, int, float, bool, type(None))


def _invalid(reason):
    return exceptions.InvalidParamError(param='filters', reason=reason)


def parse(filters, columns=None):
    """Validate ``filters``; return ``[(column, (value, ...)), ...]``.

    ``columns``, when known, are the table's columns: a filter on any
    other column is refused. Raises InvalidParamError naming the problem.
    """
    if filters is None:
        return []
    if not isinstance(filters, list):
        raise _invalid('expected a list of {"column": ..., "value": ...}')
    parsed = []
    for index, item in enumerate(filters):
        where = 'filter %d' % index
        if not isinstance(item, dict) or set(item) != {'column', 'value'}:
            raise _invalid('%s: expected an object with exactly the keys '
                           'column and value' % where)
        column, value = item['column'], item['value']
        if not isinstance(column, str) or not column:
            raise _invalid('%s: column must be a non-empty string' % where)
        if columns is not None and column not in columns:
            raise _invalid('%s: no column %r (columns: %s)'
                           % (where, column, ', '.join(columns)))
        values = value if isinstance(value, list) else [value]
        if not values:
            raise _invalid('%s: empty value list' % where)
        for one in values:
            if not isinstance(one, _SCALARS):
                raise _invalid('%s: value %r is not a string, number, '
                               'boolean or null' % (where, one))
        parsed.append((column, tuple(values)))
    return parsed


def to_json(parsed):
    """The JSON form of parsed filters; a one-value list becomes a value."""
    return [{'column': c, 'value': list(v) if len(v) != 1 else v[0]}
            for c, v in parsed]


def matcher(parsed):
    """Return ``match(row) -> bool`` for parsed filters."""
    if not parsed:
        return lambda row: True
    compiled = [(column, frozenset(values)) for column, values in parsed]

    def match(row):
        for column, values in compiled:
            try:
                if values_mod.congress_value(row.get(column)) in values:
                    return True
            except TypeError:  # an unhashable value never matches
                continue
        return False

    return match
