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

"""The API's policy in code: one rule per route and action.

:func:`list_rules` is registered on the ``oslo.policy.policies`` entry
point (``oslopolicy-sample-generator --namespace congress_consumer``)
and :func:`congress_consumer.api.policy.get_enforcer` on
``oslo.policy.enforcer``. Each module holds the rules of one job.
"""

import itertools

from congress_consumer.policies import base
from congress_consumer.policies import datasources
from congress_consumer.policies import subscriptions


def list_rules():
    """Every default rule of the API, base rules first."""
    return list(itertools.chain(base.list_rules(),
                                datasources.list_rules(),
                                subscriptions.list_rules()))
