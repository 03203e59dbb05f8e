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
