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

"""The settings objects built from ``[publish_tables]`` and their defaults."""

from oslo_config import cfg
import testtools

from oslo_publish_tables import opts
from oslo_publish_tables.outbox import relay
from oslo_publish_tables.snapshot import service


class SettingsTest(testtools.TestCase):

    def setUp(self):
        super().setUp()
        self.conf = cfg.ConfigOpts()
        opts.register_opts(self.conf)
        self.conf([])
        self.group = self.conf[opts.GROUP]

    def test_defaults_are_the_options(self):
        self.assertEqual(relay.RelaySettings(),
                         relay.RelaySettings.from_conf(self.group))
        self.assertEqual(service.SnapshotLimits(),
                         service.SnapshotLimits.from_conf(self.group))

    def test_options_reach_the_settings(self):
        self.conf.set_override('outbox_claim_lease', 7.0, opts.GROUP)
        self.conf.set_override('clock', 'local', opts.GROUP)
        self.conf.set_override('snapshot_max_open', 3, opts.GROUP)
        self.conf.set_override('snapshot_lock_timeout', 2.5, opts.GROUP)
        settings = relay.RelaySettings.from_conf(self.group)
        self.assertEqual((7.0, 'local'),
                         (settings.lease, settings.clock_source))
        limits = service.SnapshotLimits.from_conf(self.group)
        self.assertEqual((3, 2.5), (limits.max_open, limits.lock_timeout))

    def test_relayed_delivery_scans_without_grace(self):
        self.conf.set_override('delivery', 'relayed', opts.GROUP)
        settings = relay.RelaySettings.from_conf(self.group)
        self.assertEqual((0.0, self.group.relayed_poll_interval),
                         (settings.grace_period, settings.interval))
