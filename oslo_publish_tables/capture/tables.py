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

"""Which tables and columns are published, validated against the schema.

Options (group ``[publish_tables]``):

``tables``
    Names of the tables to publish. Nothing else is ever published.
``exclude_columns``
    ``table.column`` entries never published (passwords, user data...).
    Primary key columns cannot be excluded.
"""

import hashlib

import sqlalchemy as sa
from sqlalchemy.dialects import mysql

from oslo_publish_tables import exceptions

GROUP = 'publish_tables'


_INERT = ('NO ACTION', 'RESTRICT')


class TableInfo(object):
    """A published table: its reflected schema and published columns."""

    def __init__(self, table, excluded):
        self.name = table.name
        self.table = table
        self.pk_columns = tuple(table.primary_key.columns)
        self.pk_names = tuple(c.name for c in self.pk_columns)
        self.excluded = frozenset(excluded)
        self.columns = tuple(c for c in table.columns
                             if c.name not in self.excluded)
        self._coercers = tuple(_coercer(c) for c in self.pk_columns)
        self.fingerprint = fingerprint(table)
        self.signature = None  # see signature()
        # Whether the database compares this table's keys exactly, so
        # that a key literal of a statement is the key of the row it
        # matches: see :meth:`use_dialect`.
        self.exact_keys = True
        # A foreign key action can change or delete a row after the
        # statement that returned it: such a table's rows are read back.
        self.returns_images = not any(
            (fk.ondelete or 'NO ACTION').upper() not in _INERT
            or (fk.onupdate or 'NO ACTION').upper() not in _INERT
            for fk in table.foreign_keys)
        # The unique keys, other than the primary key, that an UPDATE's
        # WHERE may pin instead of it (see :mod:`.unique`).
        self.unique_keys = unique_keys(table)

    def exclude(self, columns):
        """Stop publishing ``columns`` (primary key columns stay)."""
        columns = set(columns) - set(self.pk_names)
        self.excluded = self.excluded | columns
        self.columns = tuple(c for c in self.columns
                             if c.name not in columns)

    def use_dialect(self, dialect_name):
        """Learn how ``dialect_name``'s database compares the keys.

        Integers compare exactly everywhere. MySQL/MariaDB compare
        strings by collation (case-insensitive, trailing spaces ignored
        by default), and so does a column with an explicit collation
        elsewhere: then ``'ABC'`` in a statement may match the key
        ``'abc'``, and keys must be read from the database.
        """
        self.exact_keys = all(_exact(c, dialect_name)
                              for c in self.pk_columns)

    def key(self, values):
        """Return the canonical key tuple for a sequence of pk values."""
        return tuple(coerce(v) for coerce, v in zip(self._coercers, values))

    def key_of(self, mapping):
        """Return the key tuple of a row mapping (column name -> value)."""
        return self.key([mapping[n] for n in self.pk_names])

    def image(self, mapping):
        """Return the published image of a row (exclusions applied)."""
        return {c.name: mapping[c.name] for c in self.columns}


def _plain_unique(index_or_constraint):
    """Whether a unique index or constraint holds on whole columns.

    Not one on expressions, nor a partial index (``WHERE``); a MySQL
    prefix index (``UNIQUE (uuid(8))``) is unique on the whole value too.
    """
    expressions = getattr(index_or_constraint, 'expressions', None)
    if expressions is not None and len(expressions) != len(
            index_or_constraint.columns):
        return False
    return not any(options.get('where') is not None for options in
                   index_or_constraint.dialect_options.values()
                   if 'where' in options)


def _key_column(column):
    """A column whose equality a statement can pin: integer or string.

    Not a generated column: setting the columns it is computed from
    would change it behind the statement.
    """
    if column.computed is not None or isinstance(
            column.type, (sa.Enum, mysql.SET)):
        return False
    return isinstance(column.type, (sa.Integer, sa.String))


def unique_keys(table):
    """The column names of ``table``'s unique keys but its primary key.

    Only keys of integer and string columns, on whole columns, each once.
    """
    found = []
    pk = set(c.name for c in table.primary_key.columns)
    candidates = [c for c in table.constraints
                  if isinstance(c, sa.UniqueConstraint)]
    candidates.extend(i for i in table.indexes if i.unique)
    for each in candidates:
        columns = list(each.columns)
        names = tuple(c.name for c in columns)
        if (columns and _plain_unique(each) and set(names) != pk
                and all(_key_column(c) for c in columns)
                and names not in found):
            found.append(names)
    return tuple(found)


def fingerprint(table):
    """A short digest of ``table``'s shape: columns, types and key."""
    shape = repr(([(c.name, str(c.type), c.nullable) for c in table.columns],
                  [c.name for c in table.primary_key.columns]))
    return hashlib.sha1(shape.encode('utf-8')).hexdigest()[:12]


_SIGNATURE = {
    # One cheap query whose answer changes when the table's columns do,
    # or when it is dropped and created again (its oid).
    'postgresql':
        "SELECT CAST(c.oid AS text) || ':' || md5(string_agg("
        "a.attname || ' ' || format_type(a.atttypid, a.atttypmod) || "
        "CASE WHEN a.attnotnull THEN ' nn' ELSE '' END, ',' "
        "ORDER BY a.attnum)) FROM pg_class c JOIN pg_attribute a "
        "ON a.attrelid = c.oid WHERE c.oid = to_regclass(:name) "
        "AND a.attnum > 0 AND NOT a.attisdropped GROUP BY c.oid",
    # ... its creation time (to the second).
    'mysql':
        "SELECT CONCAT((SELECT CREATE_TIME FROM information_schema.tables "
        "WHERE TABLE_SCHEMA = :schema AND TABLE_NAME = :name), ':', "
        "COUNT(*), ':', SUM(CRC32(CONCAT_WS(' ', ORDINAL_POSITION, "
        "COLUMN_NAME, COLUMN_TYPE, IS_NULLABLE)))) "
        "FROM information_schema.columns "
        "WHERE TABLE_SCHEMA = :schema AND TABLE_NAME = :name",
    # Any schema change of the database (SQLite keeps no per-table mark;
    # a dropped table's root page is reused).
    'sqlite': 'PRAGMA schema_version',
}


# The names of a schema's tables in one cheap query (no reflection
# machinery: engine start must stay fast with many tables configured).
# ``%s``: the quoted schema (SQLite).
_TABLES = {
    'postgresql': sa.text(
        "SELECT tablename FROM pg_catalog.pg_tables "
        "WHERE schemaname = COALESCE(:schema, current_schema())"),
    'sqlite': "SELECT name FROM %s.sqlite_master WHERE type = 'table'",
    'mysql': 'SHOW FULL TABLES',
}
# MySQL/MariaDB, another database (which may not exist).
_MYSQL_TABLES_OF = sa.text(
    "SELECT TABLE_NAME FROM information_schema.TABLES "
    "WHERE TABLE_SCHEMA = :schema AND TABLE_TYPE = 'BASE TABLE'")


def existing_tables(connection, schema=None):
    """The set of table names of ``schema`` (None: the default one).

    One query (PostgreSQL: ``pg_tables``; MySQL/MariaDB: ``SHOW FULL
    TABLES``; SQLite: the schema's ``sqlite_master``); other databases go
    through SQLAlchemy's inspector. Views are not tables.
    """
    dialect = connection.dialect
    name = 'mysql' if dialect.name == 'mariadb' else dialect.name
    sql = _TABLES.get(name)
    if sql is None:
        return set(sa.inspect(connection).get_table_names(schema=schema))
    if name == 'postgresql':
        return set(connection.execute(sql, {'schema': schema}).scalars())
    if name == 'sqlite':
        quoted = dialect.identifier_preparer.quote_identifier(
            schema or 'main')
        return set(connection.exec_driver_sql(sql % quoted).scalars())
    if schema is not None:
        return set(connection.execute(_MYSQL_TABLES_OF,
                                      {'schema': schema}).scalars())
    return {row[0] for row in connection.exec_driver_sql(sql)
            if row[1] == 'BASE TABLE'}


def signature(connection, name):
    """A cheap mark of ``name``'s shape and identity, or None.

    Reflecting a table again takes tens of milliseconds (PostgreSQL's
    catalog queries); this is one query. PostgreSQL: oid and columns;
    MySQL/MariaDB: creation time and columns; SQLite: the database's
    schema version (any DDL). None for a table that does not exist (or
    another database).
    """
    dialect = connection.dialect.name
    sql = _SIGNATURE.get('mysql' if dialect == 'mariadb' else dialect)
    if sql is None:
        return None
    # MySQL reads information_schema fast only for constant names.
    params = {} if sql.startswith('PRAGMA') else {
        'name': name, 'schema': connection.dialect.default_schema_name}
    value = connection.execute(sa.text(sql), params).scalar()
    return None if value is None else str(value)


def _coercer(column):
    try:
        python_type = column.type.python_type
    except NotImplementedError:
        return _identity
    if python_type in (int, str):
        return lambda v: v if v is None else python_type(v)
    return _identity


def _exact(column, dialect_name):
    try:
        if column.type.python_type is int:
            return True
    except NotImplementedError:
        return False
    if dialect_name in ('mysql', 'mariadb'):
        return False
    return getattr(column.type, 'collation', None) is None


def _identity(value):
    return value


def _split_exclusions(entries, tables):
    excluded = {}
    for entry in entries:
        table, dot, column = entry.partition('.')
        if not dot or not table or not column:
            raise exceptions.ConfigError(
                'exclude_columns', entry, 'expected table.column')
        if table not in tables:
            raise exceptions.ConfigError(
                'exclude_columns', entry,
                'table %r is not listed in [publish_tables] tables' % table)
        excluded.setdefault(table, set()).add(column)
    return excluded


def _reflect_one(connection, name, excluded, again=False):
    """The :class:`TableInfo` of ``name``; ConfigError if unusable.

    Raises :class:`sqlalchemy.exc.NoSuchTableError` if it does not exist.
    ``again``: a table reflected before, whose excluded columns a
    migration may have dropped since.
    """
    table = sa.Table(name, sa.MetaData(), autoload_with=connection)
    if not table.primary_key.columns:
        raise exceptions.ConfigError(
            'tables', name, 'the table has no primary key')
    if again:
        excluded = [c for c in excluded if c in table.columns]
    for column in excluded:
        if column not in table.columns:
            raise exceptions.ConfigError(
                'exclude_columns', '%s.%s' % (name, column),
                'no such column')
        if table.columns[column].primary_key:
            raise exceptions.ConfigError(
                'exclude_columns', '%s.%s' % (name, column),
                'primary key columns cannot be excluded')
    info = TableInfo(table, excluded)
    info.use_dialect(connection.dialect.name)
    info.signature = signature(connection, name)
    return info


def _configured(tables, exclude_columns):
    """``(names, {table: excluded columns})``; ConfigError if malformed."""
    tables = [t.strip() for t in tables if t.strip()]
    if not tables:
        raise exceptions.ConfigError(
            'tables', tables, 'no table is listed; nothing to publish')
    return tables, _split_exclusions(exclude_columns, set(tables))


class TableRegistry(object):
    """The validated set of published tables of one engine."""

    def __init__(self, infos):
        self._infos = {info.name: info for info in infos}

    def __contains__(self, name):
        return name in self._infos

    def get(self, name, connection=None):
        """Return the :class:`TableInfo` for ``name`` or None."""
        return self._infos.get(name)

    @property
    def names(self):
        return frozenset(self._infos)

    def refresh(self, connection, name):
        """Reflect ``name`` again (its shape may have changed)."""
        info = self._infos.get(name)
        if info is not None:
            info = self._infos[name] = _reflect_one(
                connection, name, info.excluded, again=True)
        return info

    @classmethod
    def reflect(cls, connection, tables, exclude_columns=()):
        """Reflect ``tables`` on ``connection`` and validate the options.

        Raises :class:`~oslo_publish_tables.exceptions.ConfigError` naming
        the option and value for an unknown table or column.
        """
        tables, excluded = _configured(tables, exclude_columns)
        existing = set(sa.inspect(connection).get_table_names())
        infos = []
        for name in tables:
            if name not in existing:
                raise exceptions.ConfigError(
                    'tables', name, 'no such table in the database')
            infos.append(_reflect_one(connection, name,
                                      excluded.get(name, ())))
        return cls(infos)
