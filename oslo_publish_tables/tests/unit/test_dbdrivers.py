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

"""A missing database driver is named with the pip extra installing it."""

import configparser
import os

import fixtures
import testtools

from oslo_publish_tables import dbdrivers

TOP = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__)))))


class DbDriversTest(testtools.TestCase):

    def test_installed_drivers_and_other_dialects_pass(self):
        self.assertIsNone(dbdrivers.missing('sqlite://'))
        self.assertIsNone(dbdrivers.missing('mysql+pymysql://u:p@h/d'))
        self.assertIsNone(dbdrivers.missing('postgresql://u:p@h/d'))

    def test_a_missing_driver_names_its_extra(self):
        self.useFixture(fixtures.MockPatch(
            'importlib.util.find_spec', return_value=None))
        self.assertEqual(
            'the mysql driver pymysql (PyMySQL) is not installed: pip '
            'install "oslo-publish-tables[mysql]"',
            dbdrivers.missing('mysql+pymysql://u:p@h/d'))
        self.assertIn('[postgresql]', dbdrivers.missing('postgresql://h/d'))
        self.assertIn('pip install mysqlclient',
                      dbdrivers.missing('mysql://h/d'))
        self.assertEqual('mysql+pymysql://u:***@h/d',
                         dbdrivers.shown('mysql+pymysql://u:p@h/d'))

    def test_every_extra_named_exists_with_its_package(self):
        parser = configparser.ConfigParser()
        parser.read(os.path.join(TOP, 'setup.cfg'))
        extras = parser['extras']
        for module, package, extra in dbdrivers.DRIVERS.values():
            if extra is not None:
                self.assertIn(package, extras[extra])
