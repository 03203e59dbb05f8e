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

"""Run nova's own unit tests with the plugin on, in durable mode.

``python -m oslo_publish_tables.tests.nova.run_nova_tests
(--outbox-schema NAME | --outbox-in-nova) TEST_NAME...``

nova's test base (``nova.test.TestCase``) points ``[database]
connection`` at an in-memory SQLite database (``sqlite://``) and builds
nova's schema with nova's migrations. Here its configuration fixture
also adds ``?plugin=publish_tables`` to that URL and sets
``[publish_tables]`` (durable delivery, a few tables nova's archive
writes, the ``noop`` notification driver), so that nova's own
enginefacade loads the plugin exactly as in a nova service:

* ``--outbox-schema NAME``: the outbox in the in-memory database
  attached as ``NAME`` on every connection (nothing else to do);
* ``--outbox-in-nova``: the outbox in nova's own database, created
  there (as ``publish-tables-manage db_sync`` would) before the
  plugin installs on an engine: the control.

Importing nova's unit tests monkey-patches the process with eventlet,
as nova's own test runs do: hence a process of its own
(:mod:`.test_nova_own_tests`). Prints one JSON line: the number of
tests run, the ids of those that failed or erred with their
tracebacks, how many engines the plugin was installed on and how many
outbox rows it wrote.
"""

import argparse
import collections
import importlib
import json
import sqlite3
import sys
import unittest

import sqlalchemy as sa

from oslo_publish_tables.outbox import attached
from oslo_publish_tables.outbox import schema

PUBLISHED = ('instances', 'instance_id_mappings', 'instance_actions',
             'instance_actions_events', 'migrations', 'task_log')


def _configure(outbox_schema):
    from nova.tests.fixtures import conf as conf_fixture

    from oslo_publish_tables import publisher

    original = conf_fixture.ConfFixture.setUp

    def set_up(self):
        original(self)
        publisher.register_opts(self.conf)
        self.config(connection='sqlite://?plugin=publish_tables',
                    group='database')
        self.config(group='publish_tables', tables=list(PUBLISHED),
                    delivery='durable', outbox_schema=outbox_schema,
                    driver='noop', transport_url='fake://',
                    topic='pt_nova_own')

    conf_fixture.ConfFixture.setUp = set_up


class _WithoutOutbox(collections.defaultdict):
    """nova's cache of its schema (an SQL dump), kept without the outbox.

    nova replays the dump on each new in-memory database, where the
    plugin has created the outbox already.
    """

    def __setitem__(self, key, dump):
        if dump:  # not the empty default
            dump = self._without_outbox(dump)
        super().__setitem__(key, dump)

    @staticmethod
    def _without_outbox(dump):
        scratch = sqlite3.connect(':memory:')
        try:
            scratch.executescript(dump)
            scratch.executescript('DROP TABLE IF EXISTS %s; DROP TABLE IF '
                                  'EXISTS %s;' % (schema.TABLE_NAME,
                                                  schema.VERSION_TABLE))
            if scratch.execute("SELECT 1 FROM sqlite_master WHERE name = "
                               "'sqlite_sequence'").fetchall():
                scratch.execute('DELETE FROM sqlite_sequence WHERE name = ?',
                                (schema.TABLE_NAME,))
                scratch.commit()
            return ''.join(scratch.iterdump())
        finally:
            scratch.close()


def _outbox_in_nova():
    """The control: the outbox in nova's own (in-memory) databases.

    Created, as ``db_sync`` would, on each engine's first connection
    just before the plugin installs there and looks for it.
    """
    from oslo_publish_tables import publisher

    # (the package's attribute "nova" is the nova package itself)
    nova_fixtures = importlib.import_module('nova.tests.fixtures.nova')
    nova_fixtures.DB_SCHEMA = _WithoutOutbox(str)
    install = publisher.install

    def create_outbox(raw, record=None):
        if not raw.execute("SELECT 1 FROM sqlite_master WHERE name = ?",
                           (schema.TABLE_NAME,)).fetchall():
            for statement in attached.ddl(None):
                raw.execute(statement)
            raw.commit()

    def install_after_db_sync(engine, conf=None, submit=None,
                              connection=None):
        create_outbox(connection.connection.driver_connection)
        # nova disposes of engines: each new in-memory database too.
        sa.event.listen(engine, 'connect', create_outbox)
        return install(engine, conf, submit=submit, connection=connection)

    publisher.install = install_after_db_sync


_seen = {'installs': 0, 'outbox_rows': 0}


def _count():
    """Count the plugin's installs and the outbox rows it writes."""
    from oslo_publish_tables.outbox import store
    from oslo_publish_tables import publisher

    install, write = publisher.install, store.OutboxStore.write

    def counted_install(*args, **kwargs):
        capture = install(*args, **kwargs)
        _seen['installs'] += 1
        return capture

    def counted_write(self, conn, drafts):
        written = write(self, conn, drafts)
        _seen['outbox_rows'] += len(written)
        return written

    publisher.install = counted_install
    store.OutboxStore.write = counted_write


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument('--outbox-schema')
    where.add_argument('--outbox-in-nova', action='store_true')
    parser.add_argument('tests', nargs='+')
    args = parser.parse_args(argv)
    import nova.tests.unit  # noqa: F401 (eventlet, as nova's tests run)
    _configure(args.outbox_schema)
    _count()
    if args.outbox_in_nova:
        _outbox_in_nova()
    suite = unittest.defaultTestLoader.loadTestsFromNames(args.tests)
    result = unittest.TestResult()
    suite.run(result)
    print(json.dumps({
        'run': result.testsRun,
        'failed': {t.id(): text for t, text in result.failures},
        'errors': {t.id(): text for t, text in result.errors},
        'skipped': [t.id() for t, _ in result.skipped],
        'installs': _seen['installs'], 'outbox_rows': _seen['outbox_rows']}))
    return 0


if __name__ == '__main__':
    sys.exit(main())
