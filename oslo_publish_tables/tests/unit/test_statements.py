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

"""The columns the capture adds to statements, their cache keys, and
when an UPDATE by a unique key may skip its locking SELECT."""

import sqlalchemy as sa
from sqlalchemy.dialects import mysql
from sqlalchemy.dialects import postgresql
import testtools

from oslo_publish_tables.capture import statements
from oslo_publish_tables.capture import tables as capture_tables
from oslo_publish_tables.capture import unique


def _tables():
    meta = sa.MetaData()
    return [sa.Table(name, meta, sa.Column('id', sa.Integer,
                                           primary_key=True),
                     sa.Column('x', sa.String(20)))
            for name in ('a', 'b')]


def _image(table, column='x', type_=None, index=1):
    return statements.ImageColumn(
        '"%s"."%s"' % (table.name, column), type_ or sa.String(20),
        'publish_tables_%d' % index)


class ImageColumnTest(testtools.TestCase):

    def _key(self, stmt):
        return stmt._generate_cache_key().key

    def test_cache_key_tells_tables_columns_and_types_apart(self):
        a, b = _tables()
        stmt = a.update().where(a.c.id == 1)
        keys = {self._key(statements.with_returned(stmt, [a.c.id], [col]))
                for col in (_image(a), _image(b), _image(a, 'id'),
                            _image(a, type_=sa.Integer()),
                            _image(a, index=2))}
        self.assertEqual(5, len(keys))
        self.assertEqual(
            self._key(statements.with_returned(stmt, [a.c.id], [_image(a)])),
            self._key(statements.with_returned(stmt, [a.c.id], [_image(a)])))

    def test_with_returned_is_return_defaults(self):
        a, _ = _tables()
        dialect = postgresql.dialect()
        cols = [_image(a, 'id', sa.Integer(), 0), _image(a)]
        for stmt in (a.update().where(a.c.x == 'y').values(x='z'),
                     a.insert().values(x='z'),
                     a.insert().return_defaults(a.c.x)):
            keep = stmt._return_defaults_columns or [a.c.id]
            mine = statements.with_returned(stmt, keep, cols)
            theirs = stmt.return_defaults(*keep, supplemental_cols=cols)
            self.assertEqual(str(theirs.compile(dialect=dialect)),
                             str(mine.compile(dialect=dialect)))
            self.assertEqual(self._key(theirs), self._key(mine))
            self.assertIsNone(stmt._supplemental_returning)


class _Conn(object):
    def __init__(self, dialect):
        self.dialect = dialect


class _Processed(sa.types.TypeDecorator):
    impl = sa.String(36)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        return value.lower()


class UniqueKeyPlanTest(testtools.TestCase):
    """When an UPDATE by a unique key may skip its locking SELECT."""

    def setUp(self):
        super().setUp()
        meta = sa.MetaData()
        self.t = sa.Table(
            't', meta, sa.Column('id', sa.Integer, primary_key=True),
            sa.Column('uuid', sa.String(36), unique=True),
            sa.Column('num', sa.Integer), sa.Column('x', sa.String(20)),
            sa.Column('e', sa.Enum('a', 'b')),
            sa.Column('g', sa.String(36), sa.Computed('LOWER(x)')),
            sa.UniqueConstraint('num', 'x'), sa.Index('ue', 'e', unique=True),
            sa.Index('ug', 'g', unique=True))
        self.other = sa.Table('o', meta, sa.Column('id', sa.Integer,
                                                   primary_key=True))
        self.info = capture_tables.TableInfo(self.t, ())
        self.conn = _Conn(mysql.dialect())

    def _plan(self, stmt, params=None, conn=None):
        return unique.plan(conn or self.conn, stmt, [params or {}],
                           self.info, ('x',))

    def test_unique_keys_of_integer_and_string_columns(self):
        self.assertEqual({('uuid',), ('num', 'x')},
                         set(self.info.unique_keys))

    def test_where_pinning_a_unique_key(self):
        t = self.t
        one = self._plan(t.update().where(t.c.uuid == 'U', t.c.x == 'y')
                         .values(x='z'))
        self.assertEqual((('uuid',), ('U',)), tuple(one.unique))
        # Setting another unique key's column leaves this one in place.
        two = self._plan(t.update().where(t.c.num == 4, t.c.x == 'y')
                         .values(uuid='new'))
        self.assertEqual((('num', 'x'), (4, 'y')), tuple(two.unique))
        three = self._plan(t.update().where(sa.and_(
            t.c.x == 'y', t.c.num == sa.bindparam('n'))).values(e='a'),
            {'n': 4})
        self.assertEqual((('num', 'x'), (4, 'y')), tuple(three.unique))

    def test_not_taken(self):
        t = self.t
        for stmt, params in (
                # the key itself is set, by value or by parameter
                (t.update().where(t.c.uuid == 'U').values(uuid='V'), {}),
                (t.update().where(t.c.uuid == 'U'), {'uuid': 'V'}),
                (t.update().where(t.c.uuid == 'U').values(id=5), {}),
                # a value of another kind: MySQL would cast it
                (t.update().where(t.c.uuid == 5).values(x='z'), {}),
                (t.update().where(t.c.num == '4', t.c.x == 'y')
                 .values(e='a'), {}),
                (t.update().where(t.c.num == True, t.c.x == 'y')  # noqa
                 .values(e='a'), {}),
                # no whole key, or not by equality
                (t.update().where(t.c.num == 4).values(x='z'), {}),
                (t.update().where(t.c.uuid.in_(['U'])).values(x='z'), {}),
                (t.update().where(sa.or_(t.c.uuid == 'U', t.c.x == 'y'))
                 .values(x='z'), {}),
                # the primary key is pinned: its own path
                (t.update().where(t.c.uuid == 'U', t.c.id == 1)
                 .values(x='z'), {}),
                # another table in the criteria or values (UPDATE t, o)
                (t.update().where(t.c.uuid == 'U', t.c.num == self.other.c.id)
                 .values(x='z'), {}),
                (t.update().where(t.c.uuid == 'U')
                 .values(x=self.other.c.id), {}),
                # a generated column is no key (set x, and g changes)
                (t.update().where(t.c.g == 'u').values(x='Z'), {})):
            self.assertIsNone(self._plan(stmt, params), str(stmt))

    def test_only_mysql_single_execution_and_exact_binds(self):
        t = self.t
        stmt = t.update().where(t.c.uuid == 'U').values(x='z')
        self.assertIsNone(self._plan(stmt, conn=_Conn(
            postgresql.dialect())))
        self.assertIsNone(unique.plan(self.conn, stmt, [{}, {}], self.info,
                                      ()))
        processed = t.update().where(
            t.c.uuid == sa.bindparam('u', type_=_Processed())).values(x='z')
        self.assertIsNone(self._plan(processed, {'u': 'U'}))

    def test_keeps_pending(self):
        t = self.t
        keeps = unique.keeps_pending
        self.assertTrue(keeps(t.insert().values(uuid='U'), [{}], self.info))
        self.assertTrue(keeps(t.update().where(t.c.id == 1).values(e='a'),
                              [{}], self.info))
        for stmt, params in (
                (t.update().where(t.c.id == 1).values(uuid='V'), {}),
                (t.update().where(t.c.id == 1), {'x': 'V'}),
                (t.update().where(t.c.id == 1).values(id=2), {}),
                (t.delete().where(t.c.id == 1), {}),
                (mysql.insert(t).values(uuid='U').on_duplicate_key_update(
                    uuid='V'), {})):
            self.assertFalse(keeps(stmt, [params], self.info), str(stmt))
