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

"""``publish-tables-manage outbox_wait``: progress while the outbox drains.

A fake clock and a fake sleep that deletes rows (as the relay would):
no timing, the progress lines are exact.
"""

import io

import fixtures
from oslo_config import cfg
import sqlalchemy as sa
import testtools

from oslo_publish_tables.cmd import agent as agent_mod
from oslo_publish_tables.cmd import manage
from oslo_publish_tables import fixture as backends
from oslo_publish_tables.outbox import migration
from oslo_publish_tables.outbox import schema


class FakeTime(object):
    """``monotonic`` and a ``sleep`` that lets the 'relay' work."""

    def __init__(self, relay):
        self.now = 0.0
        self.relay = relay

    def monotonic(self):
        return self.now

    def sleep(self, seconds):
        self.now += 5.0
        self.relay()


class OutboxWaitTest(testtools.TestCase):

    def setUp(self):
        super().setUp()
        db = self.useFixture(backends.DatabaseFixture('sqlite'))
        self.url = db.url
        self.engine = sa.create_engine(db.url)
        self.addCleanup(self.engine.dispose)
        migration.upgrade(self.engine)
        with self.engine.begin() as conn:
            conn.execute(schema.outbox.insert(), [
                {'created': i, 'kind': 'batch', 'payload': '{}'}
                for i in range(12)])
        self.err = io.StringIO()
        self.useFixture(fixtures.MonkeyPatch('sys.stderr', self.err))

    def relay(self, per_call):
        def delete_some():
            with self.engine.begin() as conn:
                ids = [r.id for r in conn.execute(
                    sa.select(schema.outbox.c.id).order_by(
                        schema.outbox.c.id).limit(per_call))]
                conn.execute(schema.outbox.delete().where(
                    schema.outbox.c.id.in_(ids)))
        return delete_some

    def run_wait(self, per_call, timeout):
        fake = FakeTime(self.relay(per_call))
        self.useFixture(fixtures.MonkeyPatch(
            'oslo_publish_tables.cmd.manage.time', fake))
        conf = cfg.ConfigOpts()
        agent_mod.register_opts(conf)
        conf.set_override('connection', self.url, 'database')
        out = io.StringIO()
        status = manage.main(['outbox_wait', '--timeout', str(timeout)],
                             conf=conf, out=out)
        # Only the command's own lines: a sender left by an earlier test
        # of the same worker process may write to stderr too.
        lines = [line for line in self.err.getvalue().splitlines()
                 if 'outbox' in line and not line.startswith('publish_tables')]
        return status, out.getvalue(), lines

    def test_progress_lines_until_empty(self):
        status, out, lines = self.run_wait(per_call=3, timeout=100)
        self.assertEqual(0, status)
        self.assertEqual('outbox empty\n', out)
        name = self.engine.url.database
        self.assertEqual([
            'outbox of %s: 6/12 rows (50.0%%), 1 rows/s, ETA 10 s' % name,
            'outbox of %s: 12/12 rows (100.0%%), 1 rows/s, ETA 0 s' % name,
            'outbox of %s: 12/12 rows (100.0%%), 1 rows/s, done in 20.0 s'
            % name], lines)

    def test_timeout_with_rows_left_fails(self):
        status, out, lines = self.run_wait(per_call=1, timeout=10)
        self.assertEqual(1, status)
        self.assertEqual('', out)
        self.assertIn('10 outbox rows left after 10 s', lines[-1])
