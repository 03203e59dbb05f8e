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

import logging
import os
import sys

sys.path.insert(0, os.path.abspath('../..'))

# -- General configuration ----------------------------------------------------

extensions = [
    'sphinx.ext.autodoc',
    'oslo_config.sphinxext',
    'oslo_config.sphinxconfiggen',
    'oslo_policy.sphinxext',
]

# oslo_config.sphinxconfiggen: generate the sample configuration files into
# _static/ at build time (they are not committed).
config_generator_config_file = [
    ('../../etc/oslo-config-generator/oslo-publish-tables.conf',
     '_static/oslo-publish-tables'),
    ('../../etc/oslo-config-generator/congress-consumer.conf',
     '_static/congress-consumer'),
]
sample_config_basename = '_static/oslo-publish-tables'

source_suffix = {'.rst': 'restructuredtext'}
master_doc = 'index'

project = 'oslo-publish-tables'
copyright = '2025, OpenStack Foundation'

add_module_names = True
pygments_style = 'sphinx'
nitpicky = False
exclude_patterns = ['build']

autodoc_member_order = 'bysource'

# -- Options for HTML output --------------------------------------------------

html_theme = 'alabaster'
html_static_path = ['_static']
htmlhelp_basename = 'oslo-publish-tablesdoc'


# The user/ and reference/ sections list their pages with a ':glob:' toctree;
# a section whose pages are not written yet must not break 'sphinx-build -W'.
# (Sphinx gives this warning no type, so suppress_warnings cannot do it.)
class _EmptyGlobFilter(logging.Filter):
    def filter(self, record):
        return "didn't match any documents" not in str(record.msg)


def setup(app):
    for handler in logging.getLogger('sphinx').handlers:
        handler.filters.insert(0, _EmptyGlobFilter())
