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

"""Every option the documentation names exists.

The docs named a ``resync_interval`` that no code ever read. Timing and
size options (names ending in ``_interval``, ``_timeout``, ``_ttl``,
``_period``, ``_size``, ``_rows``) that the docs quote must be options
of one side.
"""

from importlib import metadata
import os
import re

import testtools

from oslo_publish_tables import opts as producer_opts

from congress_consumer import opts as consumer_opts

DOC = os.path.join(os.path.dirname(__file__), '..', '..', '..', 'doc',
                   'source')
_OPTION_LIKE = re.compile(
    r'``([a-z][a-z0-9]*(?:_[a-z0-9]+)*_(?:interval|timeout|ttl|period|'
    r'size|rows))``')
# Named in the docs, but not options: PostgreSQL's setting, a field of
# the subscriptions API, a nova-manage command.
_NOT_OURS = {'deadlock_timeout', 'initial_rows', 'archive_deleted_rows'}
_METRIC_PREFIXES = ('congress_consumer_', 'publish_tables_')


# The libraries' options our sample configuration lists (the namespaces
# of etc/oslo-config-generator/congress-consumer.conf).
_LIBRARY_NAMESPACES = ('keystonemiddleware.auth_token', 'oslo.middleware',
                       'oslo.policy')


def _library_list_opts():
    found = metadata.entry_points(group='oslo.config.opts')
    return [ep.load() for ep in found if ep.name in _LIBRARY_NAMESPACES]


def _known():
    names = set()
    for list_opts in [producer_opts.list_opts, consumer_opts.list_opts] + \
            _library_list_opts():
        for _group, options in list_opts():
            names.update(o.dest for o in options)
    return names


class DocOptionsTest(testtools.TestCase):

    def test_docs_name_only_existing_options(self):
        known = _known() | _NOT_OURS
        missing = []
        for root, _dirs, files in os.walk(DOC):
            for name in files:
                if not name.endswith('.rst'):
                    continue
                path = os.path.join(root, name)
                with open(path) as f:
                    for option in _OPTION_LIKE.findall(f.read()):
                        if option.startswith(_METRIC_PREFIXES):
                            continue  # a Prometheus metric, not an option
                        if option not in known:
                            missing.append('%s: %s' % (
                                os.path.relpath(path, DOC), option))
        self.assertTrue(os.path.isdir(DOC))
        self.assertEqual([], sorted(set(missing)))

    def test_nova_guide_names_nova_34_module(self):
        with open(os.path.join(DOC, 'user', 'enable-in-nova.rst')) as f:
            text = f.read()
        # nova 34 has nova.db.main.api.context_manager, nothing else.
        self.assertEqual(
            (True, True, False),
            ('from nova.db.main import api as main_db' in text,
             'main_db.context_manager' in text,
             'main_context_manager' in text))
