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

"""Tests of ProducerTracker: loss detection per producer."""

import testtools

from congress_consumer.replication import producers


class FakeClock(object):
    def __init__(self, now=1000.0):
        self.now = now

    def __call__(self):
        return self.now

    def advance(self, seconds):
        self.now += seconds


class ProducerTrackerTest(testtools.TestCase):

    def setUp(self):
        super().setUp()
        self.clock = FakeClock()
        self.tracker = producers.ProducerTracker(
            gap_timeout=1.0, producer_timeout=5.0, clock=self.clock)

    def observe(self, seqs, last_seq=None, pid='p1', final=False,
                interval=1.0):
        if last_seq is None:
            last_seq = max(seqs)
        self.tracker.observe(pid, seqs, last_seq, final, interval)

    def later(self, seconds):
        self.clock.advance(seconds)
        return self.tracker.check()

    def test_first_seq_is_the_baseline(self):
        # 1..41 predate the subscription: not missing.
        self.observe([42])
        self.observe([43, 44])
        self.assertEqual([], self.later(1.5))
        self.assertEqual(0, self.tracker.gaps)
        self.assertEqual(1, len(self.tracker))

    def test_reordering_within_gap_timeout_heals(self):
        self.observe([1])
        self.observe([3, 4])
        self.assertEqual([], self.later(0.9))
        self.observe([2])
        self.assertEqual([], self.later(5 * 0.9))
        self.assertEqual(0, self.tracker.gaps)

    def test_reordering_below_baseline_is_not_a_gap(self):
        self.observe([5])
        self.observe([4])
        self.observe([6])
        self.assertEqual([], self.later(1.5))

    def test_missing_seq_reported_once_then_covered(self):
        self.observe([1])
        self.observe([3])
        self.assertEqual([], self.later(0.5))
        reasons = self.later(0.6)
        self.assertEqual(1, len(reasons))
        self.assertIn('records 2..3 missing', reasons[0])
        self.assertEqual(1, self.tracker.gaps)
        self.assertEqual([], self.later(2))
        # The lost record turning up late changes nothing.
        self.observe([2])
        self.observe([4])
        self.assertEqual([], self.later(2))
        self.assertEqual(1, self.tracker.gaps)

    def test_every_gap_is_detected_not_only_the_first(self):
        self.observe([1])
        self.observe([3])
        self.assertEqual(1, len(self.later(1.5)))
        self.observe([4])
        self.observe([6])       # second gap: 5
        reasons = self.later(1.5)
        self.assertEqual(1, len(reasons))
        self.assertIn('records 5..6 missing', reasons[0])
        self.observe([7])
        self.observe([10])      # third gap: 8, 9
        reasons = self.later(1.5)
        self.assertEqual(1, len(reasons))
        self.assertIn('records 8..10 missing', reasons[0])
        self.assertEqual(3, self.tracker.gaps)
        self.observe([11])
        self.assertEqual([], self.later(1.5))
        self.assertEqual(3, self.tracker.gaps)

    def test_heartbeat_announcing_more_than_received_is_a_gap(self):
        self.observe([1, 2])
        self.observe([], last_seq=4)
        self.assertEqual([], self.later(0.5))
        self.observe([3])       # 4 never comes
        reasons = self.later(0.6)
        self.assertEqual(1, len(reasons))
        self.assertIn('records 4..4 missing', reasons[0])
        self.observe([], last_seq=4)
        self.assertEqual([], self.later(1.5))

    def test_heartbeat_matching_received_is_not_a_gap(self):
        self.observe([1, 2])
        self.observe([], last_seq=2)
        self.assertEqual([], self.later(1.5))

    def test_first_heartbeat_sets_baseline_after_announced(self):
        self.observe([], last_seq=7)
        self.assertEqual([], self.later(1.5))
        self.observe([9])       # 8 is missing
        self.assertEqual(1, len(self.later(1.5)))

    def test_silent_producer_reported_once_and_forgotten(self):
        self.observe([1])
        for _ in range(4):
            self.assertEqual([], self.later(1.0))
        reasons = self.later(1.0)
        self.assertEqual(1, len(reasons))
        self.assertIn('silent', reasons[0])
        self.assertEqual(1, self.tracker.vanished)
        self.assertEqual(0, len(self.tracker))
        self.assertEqual([], self.later(100))
        self.assertEqual(1, self.tracker.vanished)

    def test_silence_limit_is_three_heartbeat_intervals(self):
        self.observe([1], interval=4.0)
        self.assertEqual([], self.later(11.9))
        self.assertEqual(1, len(self.later(0.2)))

    def test_heartbeats_keep_a_producer_alive(self):
        self.observe([1])
        for _ in range(20):
            self.clock.advance(1.0)
            self.observe([], last_seq=1)
            self.assertEqual([], self.tracker.check())
        self.assertEqual(1, len(self.tracker))

    def test_goodbye_with_nothing_missing_is_forgotten_silently(self):
        self.observe([1, 2])
        self.observe([], last_seq=2, final=True)
        self.assertEqual(0, len(self.tracker))
        self.assertEqual([], self.later(100))
        self.assertEqual(0, self.tracker.gaps)
        self.assertEqual(0, self.tracker.vanished)

    def test_goodbye_with_records_missing_reports_the_gap(self):
        self.observe([1])
        self.observe([], last_seq=3, final=True)
        self.assertEqual(1, len(self.tracker))
        reasons = self.later(1.5)
        self.assertEqual(1, len(reasons))
        self.assertIn('records 2..3 missing', reasons[0])
        self.assertEqual(0, len(self.tracker))
        self.assertEqual([], self.later(100))

    def test_goodbye_then_missing_records_arrive(self):
        self.observe([1])
        self.observe([], last_seq=3, final=True)
        self.observe([2, 3])
        self.assertEqual(0, len(self.tracker))
        self.assertEqual([], self.later(100))

    def test_restarted_producer_is_tracked_separately(self):
        self.observe([1, 2, 3], pid='old')
        self.observe([], last_seq=3, pid='old', final=True)
        self.observe([1], pid='new')
        self.observe([2], pid='new')
        self.assertEqual(1, len(self.tracker))
        self.assertEqual([], self.later(1.5))
        self.observe([4], pid='new')   # 3 of the new one is lost
        reasons = self.later(1.5)
        self.assertEqual(1, len(reasons))
        self.assertIn('producer new', reasons[0])

    def test_restarted_producer_without_goodbye(self):
        self.observe([1, 2, 3], pid='old')
        for _ in range(5):
            self.clock.advance(1.0)
            self.observe([], last_seq=1, pid='new')
        reasons = self.tracker.check()
        self.assertEqual(1, len(reasons))
        self.assertIn('producer old silent', reasons[0])
        self.assertEqual(1, len(self.tracker))

    def test_producers_are_independent(self):
        self.observe([1], pid='a')
        self.observe([7], pid='b')
        self.observe([3], pid='a')
        self.observe([8], pid='b')
        reasons = self.later(1.5)
        self.assertEqual(1, len(reasons))
        self.assertIn('producer a', reasons[0])

    def test_gap_reported_even_when_clock_starts_at_zero(self):
        self.clock.now = 0.0
        self.observe([1])
        self.observe([3])
        self.clock.advance(0.6)
        self.observe([4])
        self.assertEqual(1, len(self.later(0.5)))

    def test_vanished_producer_that_resumes_keeps_its_position(self):
        # A producer silent past the timeout is reported (the consumer
        # resyncs); if it was only cut off and resumes, a record it lost
        # after that resync must still be detected, not taken for a
        # pre-subscription record.
        self.observe([1, 2])
        self.assertEqual(1, len(self.later(6)))
        self.assertEqual(0, len(self.tracker))
        self.observe([4])       # 3 was lost after the resync
        reasons = self.later(1.5)
        self.assertEqual(1, len(reasons))
        self.assertIn('records 3..4 missing', reasons[0])

    def test_duplicate_after_goodbye_is_not_a_new_producer(self):
        self.observe([1, 2])
        self.observe([], last_seq=2, final=True)
        self.observe([2])       # redelivered
        self.assertEqual(0, len(self.tracker))
        self.assertEqual([], self.later(100))
        self.assertEqual(0, self.tracker.vanished)
