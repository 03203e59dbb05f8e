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

"""A published nova-like database whose captured records land in a list."""

import fixtures
from oslo_db.sqlalchemy import orm as db_orm
import sqlalchemy as sa
import testtools

from oslo_publish_tables import fixture as backends
from oslo_publish_tables import publisher
from publish_tables_demo import schema as demo_schema


make_conf = backends.make_conf


class CapturedDatabase(fixtures.Fixture):
    """A database with the demo schema and capture installed.

    ``drafts`` receives every record handed off after a commit.
    """

    def __init__(self, backend, tables=demo_schema.PUBLISHED,
                 exclude_columns=(), strict=False, create=demo_schema.create):
        super().__init__()
        self.backend = backend
        self.tables = tables
        self.exclude_columns = exclude_columns
        self.strict = strict
        self.create = create

    def _setUp(self):
        db = self.useFixture(backends.DatabaseFixture(self.backend))
        self.url = db.url
        self.engine = sa.create_engine(db.url)
        self.addCleanup(self.engine.dispose)
        self.create(self.engine)
        self.conf = make_conf(tables=list(self.tables),
                              exclude_columns=list(self.exclude_columns),
                              strict=self.strict)
        self.drafts = []
        self.capture = publisher.install(self.engine, self.conf,
                                         submit=self.drafts.append)
        self.addCleanup(publisher.uninstall, self.engine)
        self.maker = db_orm.get_maker(self.engine)

    def changes(self):
        """All captured row changes, in hand-off order."""
        return [c for d in self.drafts if d.kind == 'txn'
                for c in d.changes]

    def resyncs(self):
        return [t for d in self.drafts if d.kind == 'resync'
                for t in d.tables]

    def rows(self, table):
        """The table's current rows as {pk tuple: row dict}."""
        info = self.capture.registry.get(table)
        with self.engine.connect() as conn:
            result = conn.execute(sa.select(*info.columns))
            return {info.key_of(r._mapping): dict(r._mapping)
                    for r in result}


class Replica(object):
    """What a consumer would hold: captured changes replayed in order.

    :meth:`catch_up` applies the records handed off since the last call;
    a resync marker reloads its tables from the database as they are
    then, as a consumer's resync would. Call it after every transaction.
    """

    def __init__(self, db):
        self.db = db
        self.seen = len(db.drafts)
        self.tables = {t: db.rows(t) for t in db.tables}
        self.resynced = []

    def catch_up(self):
        drafts = self.db.drafts[self.seen:]
        self.seen = len(self.db.drafts)
        for draft in drafts:
            if draft.kind == 'resync':
                self.resynced.extend(draft.tables)
                for table in draft.tables:
                    self.tables[table] = self.db.rows(table)
                continue
            for change in draft.changes:
                info = self.db.capture.registry.get(change.table)
                rows = self.tables[change.table]
                key = info.key_of(change.pk)
                if change.op == 'delete':
                    rows.pop(key, None)
                else:
                    rows[key] = change.row
        return drafts

    def differences(self):
        """{table: (replica rows, database rows)} where they differ."""
        self.catch_up()
        found = {}
        for table, rows in self.tables.items():
            actual = self.db.rows(table)
            if rows != actual:
                found[table] = (rows, actual)
        return found


class CaptureTestCase(testtools.TestCase):
    """A test on a :class:`CapturedDatabase` of ``backend`` with a replica.

    ``instances.user_data`` is excluded, as nova deployments do.
    """

    backend = 'sqlite'

    def setUp(self):
        super().setUp()
        self.db = self.useFixture(CapturedDatabase(
            self.backend, exclude_columns=['instances.user_data']))
        self.replica = Replica(self.db)
