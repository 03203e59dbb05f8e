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

# -- General configuration ----------------------------------------------------

extensions = [
    'reno.sphinxext',
]

source_suffix = {'.rst': 'restructuredtext'}
master_doc = 'index'

project = 'oslo-publish-tables Release Notes'
copyright = '2025, OpenStack Foundation'

# Release notes are version independent.
version = ''
release = ''

pygments_style = 'sphinx'
exclude_patterns = []

# -- Options for HTML output --------------------------------------------------

html_theme = 'alabaster'
htmlhelp_basename = 'oslo-publish-tablesReleaseNotesdoc'

# -- Options for Internationalization output ----------------------------------
locale_dirs = ['locale/']
