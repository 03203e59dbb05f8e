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

"""Log lines that say which datasource (and table) they are about.

A consumer runs several datasources in one process; a line such as
``snapshot of instances failed`` is no help without the datasource.
:func:`for_datasource` wraps a logger so that every line it writes
starts with ``datasource <name>:``; the messages name their table.
"""

import logging


class DatasourceLogger(logging.LoggerAdapter):
    """Prefixes every message with ``datasource <name>: ``."""

    def process(self, msg, kwargs):
        return 'datasource %s: %s' % (self.extra['datasource'], msg), kwargs


def for_datasource(logger, name):
    """``logger`` naming datasource ``name`` in every line."""
    return DatasourceLogger(logger, {'datasource': name})
