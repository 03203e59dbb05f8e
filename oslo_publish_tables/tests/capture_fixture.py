"""A published nova-like database whose captured records land in a list."""

import fixtures
from oslo_db.sqlalchemy import orm as db_orm
import sqlalchemy as sa

from oslo_publish_tables import fixture as backends
from oslo_publish_tables import publisher
from publish_tables_demo import schema as demo_schema


make_conf = backends.make_conf


class CapturedDatabase(fixtures.Fixture):
    """A database with the demo schema and capture installed.

    ``drafts`` receives every record handed off after a commit.
    """

    def __init__(self, backend, tables=demo_schema.PUBLISHED,
                 exclude_columns=(), strict=False):
        super().__init__()
        self.backend = backend
        self.tables = tables
        self.exclude_columns = exclude_columns
        self.strict = strict

    def _setUp(self):
        db = self.useFixture(backends.DatabaseFixture(self.backend))
        self.url = db.url
        self.engine = sa.create_engine(db.url)
        self.addCleanup(self.engine.dispose)
        demo_schema.create(self.engine)
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
