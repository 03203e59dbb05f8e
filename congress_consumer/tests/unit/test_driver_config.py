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

"""The user guide's configuration files of the other drivers, loaded.

Each file of ``doc/source/user/examples`` is read as the guide shows it
and built by ``congress-consumer``'s own code; the custom-driver example
registers ``my_drivers.py`` on the entry points as a package would.
"""

import json
import os
import shutil
import sys

import fixtures
from oslo_config import cfg
import testtools

from congress_consumer.cmd import consumer
from congress_consumer.datasources import notifications
from congress_consumer.datasources import rpc_actions
from congress_consumer.datasources import sql_polling

EXAMPLES = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.dirname(os.path.abspath(__file__))))),
    'doc', 'source', 'user', 'examples')

ENTRY_POINTS = """\
[congress_consumer.datasource.drivers]
inventory_file = my_drivers:InventoryFileDriver

[congress_consumer.notification_translators]
cinder_volumes = my_drivers:CINDER_VOLUMES
"""


class DriverConfigTest(testtools.TestCase):

    def load(self, name, text=''):
        path = os.path.join(EXAMPLES, name)
        extra = self.useFixture(fixtures.TempDir()).join('extra.conf')
        with open(extra, 'w') as f:
            f.write(text)
        conf = cfg.ConfigOpts()
        consumer.register_opts(conf)
        conf(['--config-file', path, '--config-file', extra],
             project='congress-consumer-tests', default_config_files=[],
             default_config_dirs=[])
        return consumer.build_drivers(conf)

    def test_notifications_example(self):
        driver = self.load('consumer-notifications.conf')['nova_events']
        self.assertIsInstance(driver, notifications.NotificationDriver)
        self.assertEqual(['versioned_notifications'], driver.topics)
        self.assertEqual('nova', driver.exchange)
        self.assertEqual({'instances'}, driver.get_tablenames())

    def test_sql_polling_example(self):
        driver = self.load('consumer-sql-polling.conf')['inventory']
        self.addCleanup(driver.stop)
        self.assertIsInstance(driver, sql_polling.SqlPollingDriver)
        self.assertEqual(30, driver.poll_time)
        self.assertEqual(('name', 'state'),
                         driver.get_column_names('hosts'))

    def test_rpc_actions_example(self):
        driver = self.load('consumer-rpc-actions.conf')['ops']
        self.assertIsInstance(driver, rpc_actions.RpcActionDriver)
        self.assertEqual(
            {'evacuate': 'cast', 'host_state': 'call'}, driver.modes)
        self.assertEqual(['host', 'reason'], [
            a['name'] for a in driver.get_actions()['results'][0]['args']])

    def test_unknown_driver_names_the_option(self):
        exc = self.assertRaises(
            consumer.ConfigError, self.load, 'consumer-sql-polling.conf',
            '[datasource_inventory]\ndriver = sql_pollin\n')
        self.assertIn("[datasource_inventory] driver = 'sql_pollin'",
                      str(exc))

    def test_bad_driver_args_name_the_section(self):
        exc = self.assertRaises(
            consumer.ConfigError, self.load, 'consumer-rpc-actions.conf',
            '[datasource_ops]\nactions = evacuate:shout\n')
        self.assertIn('[datasource_ops]', str(exc))
        self.assertIn('evacuate:shout', str(exc))

    def _install_example_package(self):
        """my_drivers.py and its entry points, as a package installs them."""
        root = self.useFixture(fixtures.TempDir()).path
        shutil.copy(os.path.join(EXAMPLES, 'my_drivers.py'), root)
        info = os.path.join(root, 'my_drivers-1.0.dist-info')
        os.mkdir(info)
        with open(os.path.join(info, 'METADATA'), 'w') as f:
            f.write('Metadata-Version: 2.1\nName: my-drivers\n'
                    'Version: 1.0\n')
        with open(os.path.join(info, 'entry_points.txt'), 'w') as f:
            f.write(ENTRY_POINTS)
        self.useFixture(fixtures.MonkeyPatch('sys.path',
                                             [root] + sys.path))
        # stevedore keeps the entry points of a namespace once listed.
        self.useFixture(fixtures.MonkeyPatch(
            'stevedore.extension.ExtensionManager.ENTRY_POINT_CACHE', {}))
        self.addCleanup(sys.modules.pop, 'my_drivers', None)
        return root

    def test_custom_driver_and_translator_example(self):
        root = self._install_example_package()
        path = os.path.join(root, 'racks.json')
        with open(path, 'w') as f:
            json.dump({'racks': [{'name': 'r1', 'room': 'a'}]}, f)
        drivers = self.load('consumer-custom-driver.conf',
                            '[datasource_racks]\ndriver_args = path:%s\n'
                            % path)
        racks = drivers['racks']
        self.assertEqual('InventoryFileDriver', type(racks).__name__)
        self.assertEqual({'racks': ({('r1', 'a')}, set())}, racks.poll())
        volumes = drivers['volumes']
        self.assertEqual({'volumes'}, volumes.get_tablenames())
        volumes.receive('volume.create.end', {
            'volume_id': 'v1', 'status': 'available', 'size': 1,
            'tenant_id': 'p'})
        self.assertEqual({('v1', 'available', 1, 'p')},
                         volumes.get_snapshot('volumes'))
