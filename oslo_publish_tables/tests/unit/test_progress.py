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

"""Progress reporting with a fake clock: lines, rates, ETA, CLI output."""

import io

import testtools

from oslo_publish_tables import progress


class FakeClock(object):
    def __init__(self, now=100.0):
        self.now = now

    def __call__(self):
        return self.now


class TestProgress(testtools.TestCase):

    def setUp(self):
        super().setUp()
        self.clock = FakeClock()
        self.lines = []
        self.progress = progress.Progress(
            'snapshot of nova/instances', total=1000, interval=10.0,
            clock=self.clock,
            report=lambda fmt, *a: self.lines.append(fmt % a))

    def test_reports_only_after_the_interval(self):
        self.clock.now += 4
        self.assertFalse(self.progress.advance(100))
        self.clock.now += 5.9
        self.assertFalse(self.progress.advance(100))
        self.assertEqual([], self.lines)
        self.clock.now += 0.1
        self.assertTrue(self.progress.advance(50))
        self.assertEqual(
            ['snapshot of nova/instances: 250/1000 rows (25.0%), '
             '25 rows/s, ETA 30 s'], self.lines)

    def test_steady_interval_not_per_call(self):
        for _ in range(100):
            self.clock.now += 1
            self.progress.advance(5)
        self.assertEqual(10, len(self.lines))

    def test_rate_and_eta(self):
        self.clock.now += 20
        self.progress.advance(400)
        self.assertEqual(20.0, self.progress.rate())
        self.assertEqual(30.0, self.progress.eta())
        figures = self.progress.as_dict()
        self.assertEqual(400, figures['done'])
        self.assertEqual(1000, figures['total'])
        self.assertEqual(20.0, figures['rate_per_s'])
        self.assertEqual(30.0, figures['eta_s'])
        self.assertFalse(figures['finished'])

    def test_no_rate_before_time_passes(self):
        self.progress.advance(10)
        self.assertIsNone(self.progress.rate())
        self.assertIsNone(self.progress.eta())

    def test_unknown_total_has_no_eta(self):
        p = progress.Progress('relay', clock=self.clock,
                              report=lambda *a: None)
        self.clock.now += 2
        p.advance(10)
        self.assertIsNone(p.eta())
        self.assertEqual('relay: 10 rows, 5 rows/s', p.message())

    def test_estimate_passed_eta_is_zero(self):
        self.clock.now += 1
        self.progress.advance(1500)
        self.assertEqual(0.0, self.progress.eta())
        self.assertIn('(100.0%)', self.progress.message())

    def test_finish_reports_once_and_freezes_the_rate(self):
        self.clock.now += 10
        self.progress.advance(1000)
        self.progress.finish()
        self.clock.now += 100
        self.progress.finish()
        self.assertEqual(100.0, self.progress.rate())
        self.assertTrue(self.progress.as_dict()['finished'])
        self.assertIn('done in 10.0 s', self.lines[-1])
        self.assertEqual(2, len(self.lines))

    def test_set_done(self):
        self.clock.now += 10
        self.progress.set_done(300)
        self.progress.set_done(200)
        self.assertEqual(200, self.progress.done)


class TestCliProgress(testtools.TestCase):

    def test_plain_lines_off_a_terminal(self):
        clock = FakeClock()
        out = io.StringIO()
        display = progress.cli_progress('outbox drain', total=10,
                                        stream=out, interval=1.0,
                                        clock=clock)
        clock.now += 1
        display.update(4)
        display.close()
        lines = out.getvalue().splitlines()
        self.assertEqual('outbox drain: 4/10 rows (40.0%), 4 rows/s, '
                         'ETA 2 s', lines[0])
        self.assertIn('done in 1.0 s', lines[1])

    def test_tqdm_bar_on_a_terminal(self):
        class Terminal(io.StringIO):
            def isatty(self):
                return True

        out = Terminal()
        display = progress.cli_progress('outbox drain', total=10,
                                        stream=out)
        display.update(10)
        display.close()
        self.assertIn('10/10', out.getvalue())
        self.assertEqual(10, display.progress.done)


class TestRelayBacklog(testtools.TestCase):
    """The relay follows a backlog: full batches one after another."""

    def test_backlog_progress(self):
        import sqlalchemy as sa

        from oslo_publish_tables.outbox import relay as relay_mod

        engine = sa.create_engine('sqlite://')
        self.addCleanup(engine.dispose)
        relay = relay_mod.Relay(engine, None,
                                relay_mod.RelaySettings(batch=10))
        left = [25]
        relay.store.count = lambda: left[0]
        relay._track_backlog(3)  # no backlog: a partial batch
        self.assertIsNone(relay.backlog)
        for claimed in (10, 10, 5):
            left[0] -= claimed
            relay._track_backlog(claimed)
        figures = relay.backlog.as_dict()
        self.assertEqual(25, figures['done'])
        self.assertEqual(25, figures['total'])
        self.assertTrue(figures['finished'])
        relay._track_backlog(10)  # a new backlog starts afresh
        self.assertEqual(10, relay.backlog.done)
        self.assertFalse(relay.backlog.as_dict()['finished'])
