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

"""The demo prints no library deprecation warnings; ours still show."""

import configparser
import os
import subprocess
import sys

import testtools

from publish_tables_demo import entry

TOP = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__)))))


def _run(code):
    # Every warning shown unless the entry point says otherwise.
    env = dict(os.environ, PYTHONWARNINGS='always')
    return subprocess.run([sys.executable, '-c', code], env=env,
                          capture_output=True, text=True, timeout=300,
                          cwd=TOP)


class DemoEntryTest(testtools.TestCase):

    def test_the_console_script_is_the_quiet_entry_point(self):
        parser = configparser.ConfigParser()
        parser.read(os.path.join(TOP, 'setup.cfg'))
        scripts = parser['entry_points']['console_scripts']
        self.assertIn('publish-tables-demo = publish_tables_demo.entry:main',
                      scripts)

    def test_the_demo_prints_no_library_deprecation_warning(self):
        result = _run('import sys; from publish_tables_demo import entry; '
                      'sys.exit(entry.main(["--steps", "10"]))')
        self.assertEqual(0, result.returncode, result.stderr)
        self.assertIn('replica equals the database', result.stdout)
        self.assertNotIn('Warning:', result.stderr)
        self.assertNotIn('deprecated', result.stderr.lower())

    def test_without_it_the_libraries_do_warn(self):
        # The test can fail: the same imports, without the entry point.
        result = _run('import publish_tables_demo.cmd')
        self.assertIn('Warning:', result.stderr)

    def test_our_own_deprecations_still_show(self):
        result = _run(
            'import warnings, sys\n'
            'from publish_tables_demo import entry, cmd\n'
            'def main(argv):\n'
            '    warnings.warn_explicit(\n'
            '        "old", DeprecationWarning, "w.py", 1,\n'
            '        module="publish_tables_demo.workload")\n'
            'cmd.main = main\n'
            'entry.main([])\n')
        self.assertIn('DeprecationWarning: old', result.stderr)
        self.assertTrue(entry.OURS)
