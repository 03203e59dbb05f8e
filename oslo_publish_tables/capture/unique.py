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

"""An UPDATE by a unique key that is not the primary key (MySQL/MariaDB).

nova updates an instance by ``uuid`` (unique) while its primary key is
``id``. MySQL/MariaDB have no ``UPDATE ... RETURNING``, so such an
UPDATE's key used to come from a locking ``SELECT`` of its criteria
before it ran. Where its ``WHERE`` pins a whole unique key (equalities
with plain values, among any other criteria) and it does not set that
key, no ``SELECT`` runs: the statement's row count says whether it
matched the row (0 or 1; anything else makes it unanalysable), and its
entry is journaled under the unique key (:class:`.journal.UniqueKey`).
At ``COMMIT`` the row is read back, locked, by that unique key, in place
of a read-back by primary key.

Why that is the row the statement changed: the statement locked the row
it matched (row R, holding the value ``X``), so no other transaction can
change R or give ``X`` to another row before ``COMMIT`` (the unique index
entry of ``X`` stays locked while R holds it). Only this transaction can
move ``X`` off R: by an UPDATE that sets a column of the key or the
primary key, a DELETE, an upsert, or a multi-table UPDATE. Before any
such statement on the table runs, :func:`resolve` reads each pending
entry's primary key (the locking ``SELECT`` the statement would have
cost, only now), so the entry is pinned while R still holds ``X``.
Inserts and UPDATEs that set other columns leave the entries pending.
What the capture cannot analyse (SQL text, a statement it cannot plan)
makes the table's consumers resync anyway. A table that a foreign key
action can change behind a statement's back does not take this path,
nor does a key with a generated column (computed from columns a
statement may set).

The read-back compares the same values with the same operator as the
statement did (the database's collation, trailing spaces...), and the
values must be of the key column's kind (a string for a string column,
an integer for an integer column), so that no cast can make one value
match several rows.
"""

import sqlalchemy as sa
from sqlalchemy.sql import base as sql_base

from oslo_publish_tables.capture import journal as journal_mod
from oslo_publish_tables.capture import statements

_MYSQL = ('mysql', 'mariadb')


def set_names(clause, params):
    """The names of the columns an UPDATE sets (its own, or by parameter).

    A parameter named like a column of the statement's table sets it
    (SQLAlchemy reserves those names), and so do Python-side ``onupdate``
    defaults.
    """
    names = {statements._column_name(k) for k in (clause._values or {})}
    names.update(statements._column_name(k) for k, _ in
                 (getattr(clause, '_ordered_values', None) or ()))
    columns = clause.table.columns
    names.update(k for k in params if k in columns)
    names.update(c.name for c in columns
                 if getattr(c, 'onupdate', None) is not None)
    return names


def _single_table(clause):
    """Whether the UPDATE reads no table but its target (no UPDATE a, b).

    As SQLAlchemy finds the extra tables: in its criteria and values.
    """
    if not isinstance(clause.table, sa.sql.expression.TableClause):
        return False
    seen = clause.table._cloned_set
    consider = list(clause._where_criteria)
    consider.extend((clause._values or {}).values())
    consider.extend(v for _, v in
                    (getattr(clause, '_ordered_values', None) or ()))
    for crit in consider:
        for item in sql_base._from_objects(crit):
            if not seen.intersection(item._cloned_set):
                return False
    return True


def _exact_value(bind, value, column, dialect):
    """Whether ``value`` reaches the database as itself, of the column's kind.

    A bind type that processes values (a TypeDecorator) would compare
    something else than the read-back does; a value of another kind
    would be cast (``'5abc' = 5``).
    """
    if bind.expanding or bind.type._cached_bind_processor(dialect):
        return False
    if isinstance(column.type, sa.String):
        return isinstance(value, str)
    return isinstance(value, int) and not isinstance(value, bool)


def _unique_values(clause, params, info, dialect):
    """``UniqueKey`` a single-table UPDATE's WHERE pins, or None."""
    for names in info.unique_keys:
        binds = statements._where_binds(clause.whereclause, info, names)
        if binds is None:
            continue
        values = []
        for name in names:
            value = statements._bind_value(binds[name], params)
            if not _exact_value(binds[name], value,
                                info.table.columns[name], dialect):
                break
            values.append(value)
        else:
            return journal_mod.UniqueKey(names, tuple(values))
    return None


def plan(conn, clause, sets, info, changed):
    """A :class:`.statements.Plan` for an UPDATE by a unique key, or None.

    None where this path does not apply (see the module doc): the caller
    then locks the rows first as before.
    """
    if (conn.dialect.name not in _MYSQL or len(sets) != 1
            or not info.returns_images or not info.unique_keys
            or not _single_table(clause) or statements._where_binds(
                clause.whereclause, info) is not None):
        return None
    found = _unique_values(clause, sets[0], info, conn.dialect)
    if found is None:
        return None
    moved = set(found.names) | set(info.pk_names)
    if set_names(clause, sets[0]) & moved:
        return None  # it moves the key itself: lock its rows first
    one = statements.Plan(info, 'update', changed=changed)
    one.unique, one.unique_finish = found, finish
    return one


def finish(plan, result, journal):
    """Journal the one row the UPDATE matched, under its unique key."""
    count = result.rowcount
    if count == 1:
        journal.defer(plan.info.name, plan.unique, plan.changed)
    elif count != 0:
        raise statements.Unanalysable(
            'UPDATE of %s by its unique key (%s) matched %d rows'
            % (plan.info.name, ', '.join(plan.unique.names), count))


def keeps_pending(clause, sets, info):
    """Whether a statement on ``info``'s table cannot move a pending key.

    A plain INSERT, or an UPDATE of that table alone that sets no column
    of a unique key nor of the primary key.
    """
    if clause.is_insert:
        return (getattr(clause, '_post_values_clause', None) is None
                and getattr(clause, 'select', None) is None)
    if not clause.is_update or getattr(
            clause.table, 'name', None) != info.name:
        return False
    moved = set(info.pk_names)
    for names in info.unique_keys:
        moved.update(names)
    return not (set_names(clause, sets[0]) & moved)


def _select(info, names, extra=None):
    """``SELECT <all columns> [, extra] WHERE <names> IN :values FOR UPDATE``.

    Built once per table, key and extra column.
    """
    cache = info.__dict__.setdefault('_unique_selects', {})
    ident = (names, None if extra is None else extra.name)
    select = cache.get(ident)
    if select is None:
        cols = list(info.table.columns)
        if extra is not None:
            cols.append(extra)
        values = sa.bindparam('values', expanding=True)
        columns = [info.table.columns[n] for n in names]
        where = columns[0].in_(values) if len(columns) == 1 else \
            sa.tuple_(*columns).in_(values)
        select = cache[ident] = sa.select(*cols).where(
            where).with_for_update()
    return select


def read(conn, info, names, values, extra=None):
    """The rows holding ``values`` of the unique key ``names``, locked.

    Returns ``({key: row}, extra)`` as :func:`.statements.read_rows`.
    """
    columns = [c.name for c in info.table.columns]
    width = len(columns)
    params = [v[0] for v in values] if len(names) == 1 else list(values)
    rows, last = {}, None
    for row in conn.execute(_select(info, names, extra),
                            {'values': params}):
        mapping = dict(zip(columns, row[:width]))
        rows[info.key_of(mapping)] = mapping
        if len(row) > width:
            last = row[width]
    return rows, last


def resolve(conn, journal, info):
    """Pin each pending entry of ``info``'s table to its primary key.

    Before a statement that may move the key: one locking ``SELECT`` per
    entry (what the statement would have cost before it ran); each entry
    keeps its place, so savepoints still discard exactly their own.
    """
    for index, entry in journal.pending(info.name):
        rows = read(conn, info, entry.key.names, [entry.key.values])[0]
        if len(rows) > 1:
            raise statements.Unanalysable(
                'unique key (%s) of %s holds %d rows'
                % (', '.join(entry.key.names), info.name, len(rows)))
        journal.resolve(index, next(iter(rows), None))
    journal.deferred.discard(info.name)


def read_pending(conn, journal, info, extra=None):
    """At ``COMMIT``: read the rows of the pending entries, locked.

    Each row is journaled (after every other entry, which leaves the
    fold as it was: see the module doc) with the columns its statements
    changed; one ``SELECT`` per table and set of changed columns. Returns
    ``({key: row}, extra)``.
    """
    groups = {}
    for index, entry in journal.pending(info.name):
        groups.setdefault((entry.key.names, entry.changed), []).append(
            entry.key.values)
        journal.resolve(index, None)
    found, last = {}, None
    for (names, changed), values in groups.items():
        rows, stamp = read(conn, info, names, values, extra)
        if stamp is not None:
            last = stamp
        for key, row in rows.items():
            journal.add(info.name, key, 'update', None, changed)
        found.update(rows)
    journal.deferred.discard(info.name)
    return found, last
