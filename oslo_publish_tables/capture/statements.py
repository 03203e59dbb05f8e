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

"""Find the primary keys an INSERT, UPDATE or DELETE touches.

A statement becomes a :class:`Plan` before it runs and is finished after
it ran, when its result is known. Where the database can, the statement
is made to return the rows it wrote, whole (``return_defaults()`` with
``supplemental_cols``, which leaves the caller's result as it was), so
that they need not be read back before ``COMMIT``; on PostgreSQL it
returns the clock too (see :func:`.clock.returning_column_for`):

* INSERT: ``RETURNING`` its rows (all three databases; executemany
  through SQLAlchemy's insertmanyvalues); else keys from the parameters,
  else from the result (executemany inserts are asked for their keys);
* UPDATE: ``RETURNING`` its rows where the database has it for UPDATE
  (PostgreSQL, SQLite) and the statement runs once;
* else an UPDATE/DELETE whose ``WHERE`` is an equality on the whole
  primary key: keys from the parameters, no extra query (unit-of-work
  flushes);
* a single DELETE: ``RETURNING`` its whole rows (keys and before-images)
  where the database has DELETE ... RETURNING (all three);
* any other UPDATE/DELETE: ``SELECT pk ... WHERE <same criteria> FOR
  UPDATE`` before it runs (for a DELETE, the whole rows: they are its
  before-images), and the row count checked after;
* an executemany DELETE by key reads its rows first (before-images).

A statement that already asks for ``RETURNING`` itself
(``.returning()``, or supplemental columns of its own) is left alone:
its rows are read back. A table that a foreign key action (``ON DELETE
CASCADE``, ``SET NULL``...) can change behind a statement's back is
always read back too.

Anything it cannot pin down raises :class:`Unanalysable`, which the
caller turns into a resync marker.
"""

import dataclasses
import typing

import sqlalchemy as sa
from sqlalchemy.sql import elements
from sqlalchemy.sql import operators

from oslo_publish_tables import exceptions

_CHUNK = 500

# InnoDB's REPEATABLE READ: a plain SELECT reads the transaction's
# snapshot, and a row that an UPDATE matched but left unchanged keeps its
# snapshot version there, older than the latest commit. A locking read
# sees the latest committed row (plus this transaction's own changes);
# the transaction's DML already holds those row locks, so it waits for
# nothing new.
_STALE_READS = ('mysql', 'mariadb')

# Where a caller's own RETURNING is shared (its rows are peeked at and
# rewound): psycopg2 reports the row count of UPDATE ... RETURNING.
_SHARE_RETURNING = ('postgresql',)


class Unanalysable(exceptions.PublishTablesError):
    """The statement's effect on published rows cannot be determined."""


def param_sets(multiparams, params):
    """Return the list of parameter dicts a statement runs with."""
    if multiparams:
        return [dict(p) for p in multiparams]
    return [dict(params or {})]


def _column_name(key):
    if isinstance(key, str):
        return key
    if isinstance(key, elements.ColumnClause):
        return key.name
    prop = getattr(key, 'property', None)
    if prop is not None and getattr(prop, 'columns', None):
        return prop.columns[0].name
    return str(key)


def _conjuncts(where):
    """The terms of a WHERE that are AND-ed together, nesting flattened."""
    if (isinstance(where, elements.BooleanClauseList)
            and where.operator is operators.and_):
        for clause in where.clauses:
            yield from _conjuncts(clause)
    elif isinstance(where, elements.Grouping):
        yield from _conjuncts(where.element)
    else:
        yield where


def _where_binds(where, info, names=None):
    """Return {name: BindParameter} if ``where`` pins all of ``names``.

    ``names``: the columns of a key, the primary key by default; each
    must be equal to a bound value in a conjunct of the ``WHERE``.
    """
    if where is None:
        return None
    names = info.pk_names if names is None else names
    found = {}
    for clause in _conjuncts(where):
        if not (isinstance(clause, elements.BinaryExpression)
                and clause.operator is operators.eq):
            continue
        left, right = clause.left, clause.right
        if isinstance(left, elements.BindParameter):
            left, right = right, left
        if (isinstance(left, elements.ColumnClause) and isinstance(
                right, elements.BindParameter)
                and getattr(left.table, 'name', None) == info.name
                and left.name in names):
            found[left.name] = right
    if set(found) == set(names):
        return found
    return None


def _bind_value(bind, params):
    if bind.key in params:
        return params[bind.key]
    return bind.effective_value


@dataclasses.dataclass(eq=False, repr=False)
class Plan(object):
    """What one statement does to the published rows of one table.

    ``returned``: the names of the columns the statement was made to
    return at the end of each of its rows, or None; ``images``: they are
    whole rows (for a DELETE, the rows as they were); ``stamped``: the
    last of them is the stamp.
    """

    info: object
    op: str
    keys: typing.Optional[list] = None
    before: typing.Optional[dict] = None  # {key: row as it was}
    changed: tuple = ()
    expected: typing.Optional[int] = None
    returned: typing.Optional[tuple] = None
    images: bool = False
    stamped: bool = False
    # (key, op) entries journaled before the statement's own keys:
    # the old keys of a primary key change.
    first: tuple = ()
    # The key of the one row updated is the result's lastrowid
    # (SET id = LAST_INSERT_ID(id), see planner._reports_key).
    last_insert_id: bool = False
    # The number of columns the caller's own RETURNING asked for,
    # when the plan's columns were added to it (see _share_returning).
    shared: typing.Optional[int] = dataclasses.field(default=None,
                                                     init=False)
    # Column values the statement itself holds (``.values(...)``).
    values: typing.Optional[dict] = dataclasses.field(default=None,
                                                      init=False)
    # {pk name: BindParameter}: the keys are the parameters' values.
    key_binds: typing.Optional[dict] = dataclasses.field(default=None,
                                                         init=False)
    # A journal.UniqueKey: the row is the one holding it, journaled by
    # unique_finish (see .unique).
    unique: typing.Optional[tuple] = dataclasses.field(default=None,
                                                       init=False)
    unique_finish: typing.Optional[typing.Callable] = dataclasses.field(
        default=None, init=False)

    def __post_init__(self):
        self.tables = (self.info.name,)
        self.before = self.before or {}
        self.changed = tuple(self.changed)

    def finish(self, result, journal, sets):
        """Record the statement's keys in ``journal`` after it ran."""
        info = self.info
        keys = self.keys
        before = self.before
        images = {}
        stamp = None
        if self.returned is not None:
            labels, names = self.returned
            if self.shared is not None:
                rows = _take_shared_rows(result, self.shared)
            else:
                rows = result.returned_defaults_rows or ()
            if rows:
                # By name: the database may return the columns in another
                # order than they were asked for.
                fields = rows[0]._fields
                at = [fields.index(label) for label in labels]
            for row in rows:
                mapping = {n: row[i] for n, i in zip(names, at)}
                if self.stamped:
                    value = mapping.pop(names[-1])
                    if stamp is None or value > stamp:
                        stamp = value
                images[info.key_of(mapping)] = mapping
            keys = list(images)
            if self.op == 'delete':
                before = images
            if self.op == 'delete' or not self.images:
                images = {}
        elif self.last_insert_id:
            keys = _reported_keys(info, result)
        elif self.unique is not None:
            self.unique_finish(self, result, journal)
            keys = ()
        elif self.key_binds is not None:
            binds = self.key_binds
            keys = [info.key([_bind_value(binds[n], p)
                              for n in info.pk_names]) for p in sets]
        elif keys is None:
            values = self.values
            if values:
                sets = [dict(values, **p) for p in sets]
            keys = _inserted_keys(info, result, sets)
        elif self.expected is not None and result.rowcount >= 0 and (
                result.rowcount != self.expected):
            raise Unanalysable('%s matched %d rows, expected %d'
                               % (self.op, result.rowcount, self.expected))
        # The last row's stamp was read after every row lock this
        # statement took; a statement that read none leaves no stamp.
        journal.stamp = stamp
        for key, op in self.first:
            journal.add(info.name, key, op, before.get(key), self.changed)
        for key in keys:
            journal.add(info.name, key, self.op, before.get(key),
                        self.changed, images.get(key))

    @property
    def reusable(self):
        """Whether the plan holds nothing of one execution.

        Its keys come from the statement's result or from each
        execution's parameters (``key_binds``), not from a query: the same
        statement, run with parameters of the same names, gets the same
        plan.
        """
        return ((self.returned is not None or self.last_insert_id
                 or self.key_binds is not None)
                and self.keys is None and not self.first
                and not self.before and self.expected is None)


def _reported_keys(info, result):
    """The key an UPDATE left in LAST_INSERT_ID(), by its row count."""
    if result.rowcount == 0:
        return []
    if result.rowcount == 1 and result.lastrowid:
        return [info.key([result.lastrowid])]
    raise Unanalysable('UPDATE of %s setting LAST_INSERT_ID matched %d rows'
                       % (info.name, result.rowcount))


def _take_shared_rows(result, width):
    """The rows of a RETURNING shared with the caller; hide our columns.

    The caller gets its result back as it would have been: rewound to
    its first row, with only the ``width`` columns it asked for.
    """
    rows = result.all()
    result._rewind(rows)
    result._metadata = result._metadata._reduce(list(result.keys())[:width])
    return rows


def _inserted_keys(info, result, sets):
    try:
        rows = result.inserted_primary_key_rows
    except (sa.exc.InvalidRequestError, AttributeError):
        rows = [None] * len(sets)
    keys = []
    for row, params in zip(rows, sets):
        values = []
        # A lightweight table (sa.table()) declares no primary key: its
        # rows are empty.
        known = row is not None and len(row) == len(info.pk_names)
        for i, name in enumerate(info.pk_names):
            value = row[i] if known else None
            if value is None:
                value = params.get(name)
            if value is None and len(sets) == 1:
                value = _last_row_id(info, result)
            if value is None:
                raise Unanalysable('insert into %s: primary key unknown'
                                   % info.name)
            values.append(value)
        keys.append(info.key(values))
    return keys


def _last_row_id(info, result):
    """The generated key of a one-row INSERT on SQLite or MySQL."""
    if len(info.pk_columns) != 1 or result.context.dialect.name not in (
            'sqlite', 'mysql', 'mariadb'):
        return None
    if info.pk_columns[0].autoincrement not in (True, 'auto'):
        return None
    return result.lastrowid or None


def _returned(conn, clause, info, stamp):
    """The image columns (and stamp) to return, and their labels and names.

    The labels are the images' own (see :func:`_image_columns`), distinct
    from the columns the caller may ask the statement to return.
    """
    images = _image_columns(conn, clause.table, info)
    cache = info.__dict__.setdefault('_returned', {})
    found = cache.get((id(images), id(stamp)))
    if found is not None and found[0] is images and found[1] is stamp:
        return found[2]
    cols = list(images)
    names = [c.name for c in info.table.columns]
    if stamp is not None:
        cols.append(stamp)
        names.append(stamp.name)
    returned = tuple(cols), (tuple(c.name for c in cols), tuple(names))
    cache[id(images), id(stamp)] = (images, stamp, returned)
    return returned


def _return_rows(conn, clause, info, stamp):
    """``(clause, names)``: the clause made to return its rows' images.

    The caller's own ``return_defaults()`` columns are kept as they are
    (or, where it asked for none, only the primary key is added), so its
    ``inserted_primary_key``, ``returned_defaults`` and ``rowcount`` stay
    what they were.
    """
    cols, names = _returned(conn, clause, info, stamp)
    if clause._return_defaults:
        keep = clause._return_defaults_columns
    else:
        keep = tuple(clause.table.primary_key.columns)
    return with_returned(clause, keep, cols), names


def _may_return_rows(clause, info, supported):
    return (supported and info.returns_images
            and not clause._returning
            and clause._supplemental_returning is None
            and clause.table.implicit_returning)


def plan_insert(conn, clause, sets, info, stamp=None):
    """Return ``(plan, clause)``; the clause may now return its rows."""
    dialect = conn.dialect
    if getattr(clause, 'select', None) is not None:
        raise Unanalysable('INSERT ... SELECT into %s' % info.name)
    if getattr(clause, '_multi_values', None):
        raise Unanalysable('multi-VALUES INSERT into %s' % info.name)
    op = 'upsert' if getattr(clause, '_post_values_clause', None) \
        is not None else 'insert'
    changed = [c.name for c in info.columns]
    # An upsert that does nothing returns no row: read those back.
    if op == 'insert' and _may_return_rows(
            clause, info, dialect.insert_returning if len(sets) == 1
            else dialect.insert_executemany_returning):
        clause, names = _return_rows(conn, clause, info, stamp)
        return Plan(info, op, changed=changed, returned=names,
                    images=True, stamped=stamp is not None), clause
    values = statement_values(clause)
    if values:
        sets = [dict(values, **p) for p in sets]
    if all(p.get(n) is not None for p in sets for n in info.pk_names):
        keys = [info.key_of(p) for p in sets]
        return Plan(info, op, keys=keys, changed=changed), clause
    if (len(sets) > 1 and not clause._returning
            and not clause._return_defaults
            and dialect.insert_executemany_returning):
        clause = clause.return_defaults(*clause.table.primary_key.columns)
    plan = Plan(info, op, changed=changed)
    plan.values = values
    return plan, clause


def statement_values(clause):
    """``{column name: value}`` of the plain values the clause holds."""
    values = {}
    items = list((clause._values or {}).items())
    items.extend(getattr(clause, '_ordered_values', None) or ())
    for key, value in items:
        if isinstance(value, elements.BindParameter) and not \
                value.expanding and value.callable is None:
            values[_column_name(key)] = value.value
    return values


def _changed_columns(clause, sets, binds, info):
    names = {_column_name(k) for k in (clause._values or {})}
    names.update(_column_name(k) for k, _ in
                 (getattr(clause, '_ordered_values', None) or ()))
    bound = {b.key for b in (binds or {}).values()}
    names.update(k for k in sets[0] if k not in bound)
    names.update(c.name for c in clause.table.columns if c.onupdate)
    published = {c.name for c in info.columns}
    return sorted((names & published) - set(info.pk_names))


def key_select(info, extra=None, lock=False):
    """``SELECT <all columns> [, extra] WHERE pk IN :keys`` (expanding).

    ``lock``: ``FOR UPDATE``. Built once per table, ``extra`` column and
    ``lock``, then reused: the same statement object keeps its cache key,
    which SQLAlchemy would otherwise compute again at each execution.
    """
    cache = info.__dict__.setdefault('_key_selects', {})
    name = (None if extra is None else extra.name, lock)
    if name not in cache:
        select = _key_select(info, extra)
        cache[name] = select.with_for_update() if lock else select
    return cache[name]


def _key_select(info, extra):
    cols = list(info.table.columns)
    if extra is not None:
        cols.append(extra)
    keys = sa.bindparam('keys', expanding=True)
    if len(info.pk_columns) > 1:
        return sa.select(*cols).where(sa.tuple_(*info.pk_columns).in_(keys))
    return sa.select(*cols).where(info.pk_columns[0].in_(keys))


def read_rows(conn, info, keys, extra=None, lock=False):
    """Read the current rows for ``keys``.

    Returns ``({key: {column: value}}, extra)``: ``extra`` is the last
    value of the column ``extra`` (a clock column), if given.
    The rows are keyed by their keys as the database holds them, which
    may differ from the ``keys`` asked for (a case-insensitive collation
    matches ``'ABC'`` to ``'abc'``). ``lock``: read them ``FOR UPDATE``
    (always on MySQL/MariaDB).
    """
    lock = lock or conn.dialect.name in _STALE_READS
    select = key_select(info, extra, lock)
    names = [c.name for c in info.table.columns]
    width = len(names)
    single = len(info.pk_columns) == 1
    rows, extra = {}, None
    keys = list(keys)
    for start in range(0, len(keys), _CHUNK):
        chunk = keys[start:start + _CHUNK]
        if single:
            chunk = [k[0] for k in chunk]
        for row in conn.execute(select, {'keys': chunk}):
            mapping = dict(zip(names, row[:width]))
            rows[info.key_of(mapping)] = mapping
            if len(row) > width:
                extra = row[width]
    return rows, extra


def _can_return(clause, op, dialect, sets):
    # return_defaults() keeps the rows from the caller: its result has no
    # rows and its rowcount counts the returned ones.
    supported = (dialect.delete_returning if op == 'delete'
                 else dialect.update_returning)
    # A lightweight table (sa.table()) gets no returned defaults.
    return (supported and len(sets) == 1 and not clause._returning
            and isinstance(clause.table, sa.Table)
            and not clause._return_defaults)


def _can_return_rows(clause, op, dialect, sets, info):
    supported = (dialect.delete_returning if op == 'delete'
                 else dialect.update_returning)
    return len(sets) == 1 and _may_return_rows(clause, info, supported)


class ImageColumn(elements.Label):
    """A column the capture adds to a statement, keyed once.

    ``<target>.<column> AS publish_tables_<n>``. SQLAlchemy computes the
    cache key of every statement it runs, element by element; these
    columns' keys are computed when they are built, so adding a table's
    worth of them to a statement costs one call each, not a traversal.
    """

    inherit_cache = True

    def __init__(self, sql, type_, name):
        super().__init__(name, sa.literal_column(sql, type_), type_)
        self._publish_tables_key = (ImageColumn, sql, name,
                                    type_._static_cache_key)

    def _gen_cache_key(self, anon_map, bindparams):
        return self._publish_tables_key


def _image_columns(conn, target, info):
    """The reflected table's columns, qualified by the target's name.

    The database may have columns the code's table does not declare.
    Built once per table and target name, then reused.
    """
    cache = info.__dict__.setdefault('_image_columns', {})
    ident = (conn.dialect.name, type(target), getattr(target, 'schema', None),
             target.name)
    cols = cache.get(ident)
    if cols is None:
        quote = conn.dialect.identifier_preparer
        prefix = quote.format_table(target)
        cols = cache[ident] = tuple(
            ImageColumn('%s.%s' % (prefix, quote.quote(c.name)), c.type,
                        'publish_tables_%d' % i)
            for i, c in enumerate(info.table.columns))
    return cols


def with_returned(clause, keep, supplemental=None):
    """``clause.return_defaults(*keep, supplemental_cols=supplemental)``.

    Without its per-call coercion of columns the capture built already:
    ``keep`` are the clause's own ``return_defaults()`` columns (kept as
    they are) or columns of its table; ``supplemental`` the capture's
    own, distinct, on a clause that had none.
    """
    new = clause._generate()
    if not clause._return_defaults:
        new._return_defaults_columns = tuple(keep)
    new._return_defaults = True
    if supplemental:
        new._supplemental_returning = tuple(supplemental)
    return new


def _key_columns(conn, target, info):
    """The primary key columns of :func:`_image_columns`, in key order."""
    by_name = {c.name: i for i, c in enumerate(info.table.columns)}
    cols = _image_columns(conn, target, info)
    return tuple(cols[by_name[n]] for n in info.pk_names)


def plan_update_delete(conn, clause, sets, info, stamp=None):
    """Return ``(plan, clause)`` of an UPDATE or DELETE (may query ``conn``).

    The clause may now return the rows it touches (a DELETE: the rows
    as they were), or else their keys. A statement that changes primary
    keys is planned by :mod:`.planner`, not here.
    """
    op = 'delete' if clause.is_delete else 'update'
    if _can_share_returning(clause, op, conn.dialect, sets, info):
        return _share_returning(conn, clause, op, sets, info, stamp)
    if op == 'delete' and _can_return(clause, op, conn.dialect, sets):
        cols, names = _returned(conn, clause, info, stamp)
        clause = with_returned(clause, cols)
        return Plan(info, op, returned=names, images=True,
                    stamped=stamp is not None), clause
    binds = _where_binds(clause.whereclause, info)
    changed = () if op == 'delete' else _changed_columns(
        clause, sets, binds, info)
    if op == 'update' and _can_return_rows(clause, op, conn.dialect, sets,
                                           info):
        clause, names = _return_rows(conn, clause, info, stamp)
        return Plan(info, op, changed=changed, returned=names,
                    images=True, stamped=stamp is not None), clause
    if binds is not None and (info.exact_keys or len(sets) > 1
                              or op == 'delete'):
        return _plan_by_key(conn, op, sets, info, binds, changed), clause
    if len(sets) > 1:
        raise Unanalysable('executemany %s on %s without a key criterion'
                           % (op.upper(), info.name))
    return _plan_by_criteria(conn, clause, op, sets, info, changed)


def _can_share_returning(clause, op, dialect, sets, info):
    """Whether the rows' images can ride along the caller's RETURNING.

    The caller asked for RETURNING itself (oslo.db's ``update_on_match``
    on PostgreSQL returns the primary key).
    """
    supported = (dialect.delete_returning if op == 'delete'
                 else dialect.update_returning)
    return (supported and dialect.name in _SHARE_RETURNING
            and len(sets) == 1 and bool(clause._returning)
            and not clause._return_defaults
            and clause._supplemental_returning is None
            and isinstance(clause.table, sa.Table)
            and info.returns_images)


def _share_returning(conn, clause, op, sets, info, stamp):
    """Add the images (and stamp) to the caller's own RETURNING."""
    cols, names = _returned(conn, clause, info, stamp)
    width = len(clause._returning)
    plan = Plan(info, op, returned=names, images=True,
                stamped=stamp is not None,
                changed=() if op == 'delete' else _changed_columns(
                    clause, sets, None, info))
    plan.shared = width
    return plan, clause.returning(*cols)


def _plan_by_key(conn, op, sets, info, binds, changed):
    """The statement's WHERE pins the whole key in each parameter set.

    An UPDATE's keys are its parameters' when the database compares keys
    exactly; otherwise (MySQL/MariaDB strings), and for a DELETE, the
    keys are those of the rows the database holds for them, read (and
    locked) first. A DELETE's row count must then match them.
    """
    keys = [info.key([_bind_value(binds[n], p) for n in info.pk_names])
            for p in sets]
    if op == 'update' and info.exact_keys:
        plan = Plan(info, op, changed=changed)
        plan.key_binds = binds  # the keys are each execution's own
        return plan
    found = read_rows(conn, info, keys, lock=True)[0]
    if op == 'update':  # each row is read back at COMMIT
        return Plan(info, op, keys=list(found), changed=changed)
    if len(sets) == 1 or conn.dialect.supports_sane_multi_rowcount:
        return Plan(info, op, keys=list(found), before=found,
                    expected=len(found))
    # No row count to check: COMMIT's read-back tells which went.
    return Plan(info, 'update', keys=list(found), before=found)


def _plan_by_criteria(conn, clause, op, sets, info, changed):
    """Keys from RETURNING, or from a locking SELECT of the criteria."""
    target = clause.table
    key_cols = _key_columns(conn, target, info)
    if _can_return(clause, op, conn.dialect, sets):
        names = tuple(info.pk_names)
        clause = with_returned(clause, key_cols)
        return Plan(info, op, changed=changed,
                    returned=(tuple(c.name for c in key_cols), names)), clause
    if op == 'delete':
        # Keys and before-images in one query.
        select = sa.select(*_image_columns(conn, target, info))
        names = [c.name for c in info.table.columns]
    else:
        names = info.pk_names
        select = sa.select(*key_cols)
    select = select.select_from(target)
    if clause.whereclause is not None:
        select = select.where(clause.whereclause)
    if conn.dialect.name != 'sqlite':
        select = select.with_for_update(of=target)
    found = {}
    for row in conn.execute(select, sets[0]):
        mapping = dict(zip(names, row))
        found[info.key_of(mapping)] = mapping
    before = found if op == 'delete' else None
    return Plan(info, op, keys=list(found), before=before, changed=changed,
                expected=len(found)), clause
