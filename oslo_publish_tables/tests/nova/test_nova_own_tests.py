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

"""nova's own ``ArchiveTestCase``, plugin on, durable mode, on SQLite.

nova's DB-API tests run on an in-memory SQLite database, with nova's
schema from nova's migrations; ``ArchiveTestCase`` holds nova's
``archive_deleted_rows`` tests and its shadow-table check
(``test_shadow_tables``). They run here unchanged, in a process of
their own (:mod:`.run_nova_tests`: importing nova's unit tests
monkey-patches with eventlet), with ``?plugin=publish_tables`` in
nova's ``[database] connection`` and ``[publish_tables] delivery =
durable``:

* with ``outbox_schema`` (the outbox in a database attached to each of
  nova's connections) every test passes, and the plugin wrote outbox
  rows while they ran;
* the control, the outbox in nova's own database, makes nova's archive
  fail: it looks every table of its database up among its models
  (``KeyError: 'publish_tables_alembic_version'``). There nova's
  shadow-table check passes only because nova's first migration, run
  after the outbox was created, gave the outbox tables shadow twins.
"""

import importlib.util
import json
import os
import subprocess
import sys

import testtools

from oslo_publish_tables.tests.nova import database

TEST_API = ('tests', 'unit', 'db', 'main', 'test_api.py')


def _nova_tests_missing():
    """Why nova's own tests cannot run here, or ''.

    Without importing them: nova's unit tests monkey-patch with eventlet
    when imported, which this process must not be.
    """
    if database.NOVA_MISSING:
        return database.NOVA_MISSING
    nova = importlib.util.find_spec('nova')
    if importlib.util.find_spec('wsgi_intercept') is None:
        return ('nova\'s test requirement wsgi-intercept is not installed; '
                'these tests run with "tox -e nova"')
    if not os.path.exists(os.path.join(
            os.path.dirname(nova.origin), *TEST_API)):
        return 'nova\'s wheel does not ship %s' % '/'.join(TEST_API)
    return ''


NOVA_MISSING = _nova_tests_missing()

ARCHIVE_TESTS = 'nova.tests.unit.db.main.test_api.ArchiveTestCase'
# The tests of ArchiveTestCase in nova 34.0.0.
COUNT = 8


def run_nova(*args):
    """Run nova's ArchiveTestCase with the plugin; its JSON summary."""
    done = subprocess.run(
        [sys.executable, '-m', 'oslo_publish_tables.tests.nova.'
         'run_nova_tests'] + list(args) + [ARCHIVE_TESTS],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        timeout=1200, env=dict(os.environ, PYTHONWARNINGS='ignore'))
    if done.returncode:
        raise AssertionError('the nova test run failed:\n%s'
                             % done.stderr[-4000:])
    return json.loads(done.stdout.strip().splitlines()[-1])


@testtools.skipIf(NOVA_MISSING, NOVA_MISSING)
class NovaOwnArchiveTests(testtools.TestCase):

    def test_they_pass_with_outbox_schema(self):
        summary = run_nova('--outbox-schema', 'pt_outbox')
        self.assertEqual({}, summary['failed'])
        self.assertEqual({}, summary['errors'])
        self.assertEqual([], summary['skipped'])
        self.assertEqual(COUNT, summary['run'])
        # The plugin was on, in durable mode, on nova's engines.
        self.assertGreater(summary['installs'], 0)
        self.assertGreater(summary['outbox_rows'], 0)

    def test_the_outbox_in_novas_schema_breaks_them(self):
        summary = run_nova('--outbox-in-nova')
        self.assertEqual(COUNT, summary['run'])
        self.assertGreater(summary['installs'], 0)
        broken = dict(summary['failed'], **summary['errors'])
        self.assertIn(ARCHIVE_TESTS + '.test_archive_deleted_rows', broken)
        for text in broken.values():
            self.assertIn("KeyError: 'publish_tables_", text)
