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

"""The ``publish-tables-demo`` command, without library deprecation noise.

Libraries the demo imports warn about their own deprecations (eventlet,
through oslo.service, warns on import); a newcomer running the demo can
do nothing about them. :func:`main` ignores them while the demo runs,
imports included, and only there: the warnings of this project's own
packages still show, and nothing changes for the services and tests
that import the same libraries.
"""

import warnings

OURS = r'(oslo_publish_tables|congress_consumer|publish_tables_demo)(\.|$)'


def main(argv=None):
    with warnings.catch_warnings():
        for category in (DeprecationWarning, PendingDeprecationWarning):
            warnings.filterwarnings('ignore', category=category)
        # eventlet's EventletDeprecationWarning is a plain Warning.
        warnings.filterwarnings('ignore', message=r'(?s).*deprecated',
                                category=Warning)
        warnings.filterwarnings('default', category=DeprecationWarning,
                                module=OURS)
        from publish_tables_demo import cmd
        return cmd.main(argv)
