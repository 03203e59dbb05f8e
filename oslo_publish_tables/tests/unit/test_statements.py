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

"""The columns the capture adds to statements, and their cache keys."""

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
import testtools

from oslo_publish_tables.capture import statements


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
