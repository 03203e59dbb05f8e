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

"""Plan a DML statement on published tables: which keys it touches.

The entry point of statement analysis (:func:`plan`). Ordinary
statements are planned by :mod:`.statements`; this module handles the
statements that touch more keys than their rows:

* an UPDATE that changes a primary key (``SET id = id + 1000``, a
  unit-of-work flush that assigns a new key) is a delete of each old
  key and an insert of each new one. Both are journaled without an
  image, so ``COMMIT``'s read-back decides what each key holds then
  (a new key may be another row's old one). The old keys come from the
  statement's ``WHERE`` when it pins them exactly and the new ones are
  plain values; otherwise from a locking ``SELECT`` of its criteria that
  also evaluates the new key expressions (MySQL/MariaDB evaluate ``SET``
  left to right: a key expression that reads another column the
  statement sets is not analysed);
* an UPDATE whose ``WHERE`` pins a unique key other than the primary
  key, on MySQL/MariaDB: no ``SELECT`` first (:mod:`.unique`);
* a MySQL/MariaDB multi-table UPDATE (``UPDATE a, b ... SET a.x = ...,
  b.y = ...``): the keys of every published table it writes, from a
  locking ``SELECT`` of its criteria, read back at ``COMMIT``.

Anything it cannot pin down raises :class:`.statements.Unanalysable`,
which the caller turns into a resync marker.
"""

import sqlalchemy as sa
from sqlalchemy.sql import elements
from sqlalchemy.sql import visitors

from oslo_publish_tables.capture import statements
from oslo_publish_tables.capture import unique

_MYSQL = ('mysql', 'mariadb')

# A key value given as a plain parameter of the execution.
_PARAM = object()


def _set_items(clause):
    items = list((clause._values or {}).items())
    items.extend(getattr(clause, '_ordered_values', None) or ())
    return items


def _table_name(key):
    table = getattr(key, 'table', None)
    return getattr(table, 'name', None)


def write_targets(clause):
    """The names of the tables ``clause`` writes, its target first."""
    target = clause.table.name
    names = [target]
    if clause.is_update:
        for key, _ in _set_items(clause):
            name = _table_name(key)
            if name is not None and name not in names:
                names.append(name)
    return names


def set_values(clause, sets, info):
    """``{column name: value}`` the UPDATE sets on ``info``'s table.

    A value is the statement's own element, or :data:`_PARAM` for a
    value of the execution's parameters.
    """
    found = {}
    for key, value in _set_items(clause):
        name = _table_name(key)
        if name is None or name == info.name:
            found[statements._column_name(key)] = value
    # SQLAlchemy reserves a column's name for its SET value: a parameter
    # named like a column sets it.
    for name in sets[0]:
        if name in info.table.columns and name not in found:
            found[name] = _PARAM
    return found


def plan(conn, clause, sets, names, lookup, stamp=None):
    """``(plan, clause)`` of a DML statement writing tables ``names``.

    ``lookup(name)`` is the published table's ``TableInfo`` or None;
    at least one of ``names`` is published.
    """
    if len(names) > 1:
        return plan_multi_table(conn, clause, sets, names, lookup), clause
    info = lookup(names[0])
    if clause.is_insert:
        return statements.plan_insert(conn, clause, sets, info, stamp)
    if clause.is_update:
        values = set_values(clause, sets, info)
        if any(n in values and not _keeps_key(values[n], n)
               for n in info.pk_names):
            return plan_key_change(conn, clause, sets, info, values)
        if _reports_key(conn, clause, sets, info, values):
            return statements.Plan(
                info, 'update', last_insert_id=True,
                changed=statements._changed_columns(clause, sets, None,
                                                    info)), clause
        by_unique = unique.plan(conn, clause, sets, info,
                                statements._changed_columns(
                                    clause, sets, None, info))
        if by_unique is not None:
            return by_unique, clause
    return statements.plan_update_delete(conn, clause, sets, info, stamp)


def _reports_key(conn, clause, sets, info, values):
    """Whether the UPDATE reports its one row's key itself.

    ``SET id = LAST_INSERT_ID(id)`` (oslo.db's ``update_on_match`` on
    MySQL/MariaDB, nova's ``instance_update``) leaves the key of the row
    it updated in the result's ``lastrowid`` (the OK packet's insert id):
    no ``SELECT`` of the keys is needed. Only where the ``WHERE`` does
    not pin the key already, and the statement runs once.
    """
    name = info.pk_names[0]
    return (conn.dialect.name in _MYSQL and len(info.pk_names) == 1
            and len(sets) == 1 and name in values
            and _keeps_key(values[name], name)
            and statements._where_binds(clause.whereclause, info) is None)


def _keeps_key(value, name):
    """Whether a SET value leaves the key as it is.

    ``SET id = LAST_INSERT_ID(id)``: oslo.db's ``update_on_match`` on
    MySQL/MariaDB.
    """
    if getattr(value, 'name', '').lower() != 'last_insert_id':
        return False
    args = list(getattr(value, 'clauses', ()))
    return len(args) == 1 and isinstance(
        args[0], elements.ColumnClause) and args[0].name == name


def _plain_value(value, params):
    if value is _PARAM:
        return True, None
    if (isinstance(value, elements.BindParameter) and not value.expanding
            and value.callable is None):
        return True, statements._bind_value(value, params)
    return False, None


def _new_key(info, values, params, old):
    """The new key of the row whose old key is ``old`` (plain values)."""
    new = []
    for name, value in zip(info.pk_names, old):
        if name in values:
            value = params[name] if values[name] is _PARAM else \
                _plain_value(values[name], params)[1]
        new.append(value)
    return info.key(new)


def plan_key_change(conn, clause, sets, info, values):
    """Plan an UPDATE that sets primary key columns (see module doc)."""
    changed = sorted(c.name for c in info.columns)
    binds = statements._where_binds(clause.whereclause, info)
    plain = all(_plain_value(values[n], sets[0])[0]
                for n in info.pk_names if n in values)
    if binds is not None and info.exact_keys and plain:
        old = [info.key([statements._bind_value(binds[n], p)
                         for n in info.pk_names]) for p in sets]
        new = [_new_key(info, values, p, k) for p, k in zip(sets, old)]
        return statements.Plan(
            info, 'upsert', keys=new, changed=changed,
            first=[(k, 'update') for k in old]), clause
    if len(sets) > 1:
        raise statements.Unanalysable(
            'executemany UPDATE changing primary keys of %s' % info.name)
    return _plan_by_evaluation(conn, clause, sets[0], info, values,
                               changed), clause


def _check_evaluation_order(conn, info, values, exprs):
    """MySQL/MariaDB: a key expression must not read a column set."""
    if conn.dialect.name not in _MYSQL:
        return
    for name, expr in exprs.items():
        read = {c.name for c in visitors.iterate(expr)
                if isinstance(c, elements.ColumnClause)}
        if read & (set(values) - {name}):
            raise statements.Unanalysable(
                'UPDATE of %s sets the primary key column %s from a '
                'column it also sets' % (info.name, name))


def _plan_by_evaluation(conn, clause, params, info, values, changed):
    """The matched rows, locked, with their new keys evaluated."""
    target = clause.table
    exprs = {n: values[n] for n in info.pk_names
             if n in values and not _plain_value(values[n], params)[0]}
    _check_evaluation_order(conn, info, values, exprs)
    cols = statements._image_columns(conn, target, info)
    extra = [sa.type_coerce(e, info.table.columns[n].type).label(
        'publish_tables_new_%d' % i) for i, (n, e) in enumerate(
        exprs.items())]
    select = sa.select(*cols, *extra).select_from(target)
    if clause.whereclause is not None:
        select = select.where(clause.whereclause)
    if conn.dialect.name != 'sqlite':
        select = select.with_for_update(of=target)
    names = [c.name for c in info.table.columns]
    found, new = {}, []
    for row in conn.execute(select, params):
        mapping = dict(zip(names, row))
        old = info.key_of(mapping)
        found[old] = mapping
        evaluated = dict(zip(exprs, row[len(names):]))
        key = list(_new_key(info, {n: v for n, v in values.items()
                                   if n not in exprs}, params, old))
        for i, name in enumerate(info.pk_names):
            if name in evaluated:
                key[i] = evaluated[name]
        new.append(info.key(key))
    return statements.Plan(info, 'upsert', keys=new, before=found,
                           changed=changed, expected=len(found),
                           first=[(k, 'update') for k in found])


class MultiPlan(object):
    """The plans of the published tables one statement writes."""

    def __init__(self, plans):
        self.plans = plans
        self.tables = tuple(p.info.name for p in plans)

    def finish(self, result, journal, sets):
        for one in self.plans:
            one.finish(result, journal, sets)


def plan_multi_table(conn, clause, sets, names, lookup):
    """Plan a multi-table UPDATE (see module doc)."""
    if len(sets) > 1:
        raise statements.Unanalysable(
            'executemany UPDATE of several tables (%s)' % ', '.join(names))
    tables = {clause.table.name: clause.table}
    for key, _ in _set_items(clause):
        if _table_name(key) is not None:
            tables.setdefault(_table_name(key), key.table)
    plans = []
    for name in names:
        info = lookup(name)
        if info is None:
            continue
        if _sets_key(clause, sets, info, name == clause.table.name):
            raise statements.Unanalysable(
                'UPDATE of several tables changes a primary key of %s'
                % name)
        plans.append(_plan_table_keys(conn, clause, sets[0], info,
                                      tables[name]))
    return MultiPlan(plans)


def _sets_key(clause, sets, info, is_target):
    for key, _ in _set_items(clause):
        name = _table_name(key)
        if (name == info.name or (name is None and is_target)) and \
                statements._column_name(key) in info.pk_names:
            return True
    return is_target and any(n in sets[0] for n in info.pk_names)


def _plan_table_keys(conn, clause, params, info, table):
    """The keys of ``table``'s rows the criteria match, locked."""
    key_cols = statements._key_columns(conn, table, info)
    select = sa.select(*key_cols).select_from(table)
    if clause.whereclause is not None:
        select = select.where(clause.whereclause)
    select = select.with_for_update()
    keys = {info.key(row) for row in conn.execute(select, params)}
    return statements.Plan(info, 'update', keys=list(keys),
                           changed=sorted(c.name for c in info.columns))
