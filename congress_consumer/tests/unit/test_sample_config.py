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

"""The sample configuration files committed in etc/ are up to date.

Each is generated again with ``oslo-config-generator`` (the command
``tox -e genconfig`` runs, in a process of its own) and compared with
the committed file.
"""

import configparser
import difflib
import os
import shutil
import subprocess
import sys

import fixtures
import testtools

TOP = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__)))))
GENERATOR_DIR = os.path.join(TOP, 'etc', 'oslo-config-generator')


class SampleConfigTest(testtools.TestCase):

    def check(self, name):
        config = os.path.join(GENERATOR_DIR, name)
        parser = configparser.ConfigParser(strict=False)
        parser.read(config)
        committed = os.path.join(TOP, parser['DEFAULT']['output_file'])
        generator = shutil.which('oslo-config-generator',
                                 path=os.path.dirname(sys.executable))
        self.assertIsNotNone(generator, 'oslo.config is a requirement')
        fresh = self.useFixture(fixtures.TempDir()).join('fresh.sample')
        subprocess.run([generator, '--config-file', config,
                        '--output-file', fresh], check=True, cwd=TOP,
                       capture_output=True, timeout=120)
        with open(fresh) as f:
            want = f.readlines()
        with open(committed) as f:
            have = f.readlines()
        diff = ''.join(difflib.unified_diff(have, want, committed,
                                            'generated'))
        self.assertEqual('', diff, '%s is out of date: run tox -e '
                         'genconfig and commit it' % committed)

    def test_producer_sample_is_up_to_date(self):
        self.check('oslo-publish-tables.conf')

    def test_consumer_sample_is_up_to_date(self):
        self.check('congress-consumer.conf')
