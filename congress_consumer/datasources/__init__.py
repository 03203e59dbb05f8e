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

"""Congress-compatible data source driver framework.

Modules, one job each:

* :mod:`.translators` -- the translator format: keys and table layout.
* :mod:`.validation` -- translator validation and table schemas.
* :mod:`.conversion` -- objects to ``(table, row)`` pairs.
* :mod:`.datasource_driver` -- :class:`DataSourceDriver`, state and
  publishing of diffs to subscribers.
* :mod:`.polling` -- :class:`PollingDataSourceDriver`.
* :mod:`.pushed` -- :class:`PushedDataSourceDriver`.
* :mod:`.http_push` -- a pushed driver whose tables are pushed over HTTP.
* :mod:`.execution` -- the :class:`ExecutionDriver` mixin.
"""

from congress_consumer.datasources.conversion import compute_hash  # noqa
from congress_consumer.datasources.conversion import convert_obj  # noqa
from congress_consumer.datasources.conversion import convert_objs  # noqa
from congress_consumer.datasources.datasource_driver import (  # noqa
    DataSourceDriver)
from congress_consumer.datasources.execution import ExecutionDriver  # noqa
from congress_consumer.datasources.polling import (  # noqa
    PollingDataSourceDriver)
from congress_consumer.datasources.pushed import (  # noqa
    PushedDataSourceDriver)
from congress_consumer.datasources.translators import (  # noqa
    TranslatorConstants)
from congress_consumer.datasources.validation import get_schema  # noqa
from congress_consumer.datasources.validation import (  # noqa
    validate_translator)

__all__ = ['DataSourceDriver', 'ExecutionDriver', 'PollingDataSourceDriver',
           'PushedDataSourceDriver', 'TranslatorConstants', 'compute_hash',
           'convert_obj', 'convert_objs', 'get_schema',
           'validate_translator']
