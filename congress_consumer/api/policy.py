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

"""Authorisation of API requests with oslo.policy.

:class:`Authorizer` checks the rule of each route
(:mod:`congress_consumer.api.router`) against the credentials that the
pipeline put in the WSGI environment (keystonemiddleware's
``auth_token``, or :class:`congress_consumer.api.auth.NoAuthMiddleware`);
a refusal answers 403. Rules are defaults in code
(:mod:`congress_consumer.policies`) that ``[oslo_policy] policy_file``
overrides.
"""

import logging

from oslo_config import cfg
from oslo_context import context
from oslo_policy import policy

from congress_consumer.api import responses
from congress_consumer import policies

LOG = logging.getLogger(__name__)

PROJECT = 'congress-consumer'


def make_enforcer(conf):
    """An :class:`oslo_policy.policy.Enforcer` with every default rule."""
    enforcer = policy.Enforcer(conf)
    enforcer.register_defaults(policies.list_rules())
    return enforcer


def get_enforcer():
    """The ``oslo.policy.enforcer`` entry point (``oslopolicy-*``)."""
    conf = cfg.ConfigOpts()
    conf([], project=PROJECT)
    return make_enforcer(conf)


class Authorizer(object):
    """Checks a request's credentials against a route's rule."""

    def __init__(self, enforcer):
        self.enforcer = enforcer

    def authorize(self, request, rule, target):
        """Raise a 403 :class:`~.responses.HTTPError` unless allowed.

        ``rule`` None means the route has nothing to authorise yet (an
        unknown action, refused by its handler with 400).
        """
        if rule is None:
            return
        creds = context.RequestContext.from_environ(request.environ)
        try:
            self.enforcer.authorize(rule, dict(target), creds,
                                    do_raise=True)
        except policy.PolicyNotAuthorized:
            LOG.info('%s %s refused by policy rule %s (user %s, '
                     'roles %s)', request.method, request.path_info,
                     rule, creds.user_id, ','.join(creds.roles))
            raise responses.HTTPError(
                403, 'policy does not allow %s' % rule)
