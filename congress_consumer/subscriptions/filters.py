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

A subscription's ``filters`` is a JSON list; a row matches the
subscription if **any** filter matches (OR); an empty list matches every
row. A filter is one condition, or ``{"and": [condition, ...]}``, which
matches when **all** its conditions do. A condition is one of::

    {"column": "host", "value": "compute-1"}            equality
    {"column": "vm_state", "value": ["active", "error"]}  any of
    {"column": "host", "prefix": "compute-"}             text prefix
    {"column": "memory_mb", "range": {"gte": 2048, "lt": 8192}}

``range`` takes any of ``gt``, ``gte``, ``lt``, ``lte``. A condition may
also name a ``table``: in a subscription covering several tables it then
applies to that table only. A table's rows are filtered by the filters
with a condition that applies to it; every row of a table no filter
applies to matches.

Values are JSON scalars (string, number, boolean, null) compared with
the row's value as the consumer's datasource shows it: dates and times
as ISO 8601 text (so ranges of them compare as text), decimals as
floats, UUIDs as text. A value whose type cannot match the column (text
for a number column, a number for a text column, a prefix of a
non-text column) is refused; the column's type is what its current
values show (:func:`kinds`), unknown for a column with no value yet.
"""

from congress_consumer.datasources import values as values_mod
from congress_consumer import exceptions

_SCALARS = (str, int, float, bool, type(None))
_BOUNDS = ('gt', 'gte', 'lt', 'lte')
_OPS = ('value', 'prefix', 'range')
# Rows of a table looked at to learn the type of its columns.
SAMPLE_ROWS = 1000


def _invalid(reason):
    return exceptions.InvalidParamError(param='filters', reason=reason)


def kind(value):
    """``boolean``, ``number``, ``text`` or None (null) of a value."""
    value = values_mod.congress_value(value)
    if isinstance(value, bool):
        return 'boolean'
    if isinstance(value, (int, float)):
        return 'number'
    if isinstance(value, str):
        return 'text'
    return None


def kinds(rows, columns):
    """``{column: kind}`` of the columns whose values agree on one."""
    seen = {c: set() for c in columns}
    for index, row in enumerate(rows):
        if index >= SAMPLE_ROWS:
            break
        for column in columns:
            found = kind(row.get(column))
            if found is not None:
                seen[column].add(found)
    return {c: k.pop() for c, k in seen.items() if len(k) == 1}


class Condition(object):
    """One condition: ``op`` is ``value``, ``prefix`` or ``range``."""

    __slots__ = ('column', 'op', 'arg', 'table')

    def __init__(self, column, op, arg, table=None):
        self.column, self.op, self.arg, self.table = column, op, arg, table

    def to_json(self):
        arg = self.arg
        if self.op == 'value':
            arg = list(arg) if len(arg) != 1 else arg[0]
        elif self.op == 'range':
            arg = dict(arg)
        out = {'column': self.column, self.op: arg}
        if self.table is not None:
            out['table'] = self.table
        return out

    def values(self):
        """The scalars the condition compares with."""
        if self.op == 'value':
            return list(self.arg)
        if self.op == 'prefix':
            return [self.arg]
        return [v for _, v in self.arg]

    def test(self, row):
        value = values_mod.congress_value(row.get(self.column))
        try:
            if self.op == 'value':
                return value in self.arg
            if value is None:
                return False
            if self.op == 'prefix':
                return isinstance(value, str) and value.startswith(self.arg)
            return all(_compare(value, bound, limit)
                       for bound, limit in self.arg)
        except TypeError:  # unhashable, or not comparable: no match
            return False


def _compare(value, bound, limit):
    if isinstance(value, bool) != isinstance(limit, bool):
        raise TypeError('booleans are not ordered with numbers')
    if bound == 'gt':
        return value > limit
    if bound == 'gte':
        return value >= limit
    if bound == 'lt':
        return value < limit
    return value <= limit


def _condition(item, where):
    if not isinstance(item, dict):
        raise _invalid('%s: expected an object' % where)
    ops = [k for k in _OPS if k in item]
    extra = set(item) - set(_OPS) - {'column', 'table'}
    if 'column' not in item or len(ops) != 1 or extra:
        raise _invalid('%s: expected an object with the key column, '
                       'exactly one of value, prefix or range, and '
                       'optionally table' % where)
    column, op, table = item['column'], ops[0], item.get('table')
    if not isinstance(column, str) or not column:
        raise _invalid('%s: column must be a non-empty string' % where)
    if table is not None and (not isinstance(table, str) or not table):
        raise _invalid('%s: table must be a non-empty string' % where)
    arg = item[op]
    if op == 'value':
        arg = tuple(arg if isinstance(arg, list) else [arg])
        if not arg:
            raise _invalid('%s: empty value list' % where)
    elif op == 'prefix' and not isinstance(arg, str):
        raise _invalid('%s: prefix must be a string' % where)
    elif op == 'range':
        if not isinstance(arg, dict) or not arg or set(arg) - set(_BOUNDS):
            raise _invalid('%s: range must be an object of gt, gte, lt '
                           'and/or lte' % where)
        arg = tuple(sorted(arg.items()))
    condition = Condition(column, op, arg, table)
    for one in condition.values():
        if not isinstance(one, _SCALARS) or (op == 'range' and one is None):
            raise _invalid('%s: value %r is not a string, number, boolean'
                           '%s' % (where, one,
                                   '' if op == 'range' else ' or null'))
    return condition


def _filter(item, where):
    """A filter: a tuple of conditions, all of which must match."""
    if isinstance(item, dict) and 'and' in item:
        if set(item) != {'and'} or not isinstance(item['and'], list) or \
                not item['and']:
            raise _invalid('%s: "and" takes a non-empty list of '
                           'conditions and nothing else' % where)
        return tuple(_condition(c, '%s, condition %d' % (where, i))
                     for i, c in enumerate(item['and']))
    return (_condition(item, where),)


def parse(filters, columns=None):
    """Validate ``filters``; return a list of filters (condition tuples).

    ``columns`` is ``{table: {column: kind}}`` (kinds from :func:`kinds`)
    of the subscription's tables, when known: a condition on a column a
    table it applies to lacks, or whose value cannot match the column's
    type, is refused. Raises InvalidParamError naming the problem.
    """
    if filters is None:
        return []
    if not isinstance(filters, list):
        raise _invalid('expected a list of {"column": ..., "value": ...}')
    parsed = [_filter(item, 'filter %d' % i)
              for i, item in enumerate(filters)]
    if columns is not None:
        for index, conditions in enumerate(parsed):
            for number, condition in enumerate(conditions):
                where = 'filter %d' % index
                if len(conditions) > 1:
                    where += ', condition %d' % number
                _check(condition, columns, where)
    return parsed


def _check(condition, columns, where):
    if condition.table is not None and condition.table not in columns:
        raise _invalid('%s: table %r is not one of the subscription\'s '
                       '(%s)' % (where, condition.table,
                                 ', '.join(sorted(columns))))
    for table, table_kinds in sorted(columns.items()):
        if condition.table not in (None, table):
            continue
        if condition.column not in table_kinds['columns']:
            raise _invalid('%s: no column %r in %s (columns: %s)' % (
                where, condition.column, table,
                ', '.join(table_kinds['columns'])))
        want = table_kinds['kinds'].get(condition.column)
        if condition.op == 'prefix' and want not in (None, 'text'):
            raise _invalid('%s: prefix on %s.%s, a %s column' % (
                where, table, condition.column, want))
        for value in condition.values():
            got = kind(value)
            if want is not None and got is not None and got != want:
                raise _invalid('%s: %r (%s) cannot match %s.%s, a %s '
                               'column' % (where, value, got, table,
                                           condition.column, want))


def to_json(parsed):
    """The JSON form of parsed filters; a one-value list becomes a value."""
    out = []
    for conditions in parsed:
        if len(conditions) == 1:
            out.append(conditions[0].to_json())
        else:
            out.append({'and': [c.to_json() for c in conditions]})
    return out


def matcher(parsed, table=None):
    """Return ``match(row) -> bool`` for parsed filters on ``table``."""
    compiled = []
    for conditions in parsed:
        mine = tuple(c for c in conditions if c.table in (None, table))
        if mine:  # a filter all about other tables is not this table's
            compiled.append(mine)
    if not compiled:
        return lambda row: True

    def match(row):
        return any(all(c.test(row) for c in conditions)
                   for conditions in compiled)

    return match
