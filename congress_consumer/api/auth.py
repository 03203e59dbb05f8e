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

"""``auth_strategy = noauth``: every request is an administrator's.

The demo default. :class:`NoAuthMiddleware` replaces whatever identity
headers a client sent with an administrator's, so that the policy
(:mod:`congress_consumer.api.policy`) allows everything. Use it only
on an API bound to a trusted address; production runs
keystonemiddleware's ``auth_token`` instead (``auth_strategy =
keystone``).
"""

import webob.dec

NOAUTH_HEADERS = {
    'HTTP_X_IDENTITY_STATUS': 'Confirmed',
    'HTTP_X_USER_ID': 'noauth',
    'HTTP_X_USER_NAME': 'noauth',
    'HTTP_X_PROJECT_ID': 'noauth',
    'HTTP_X_ROLES': 'admin,reader',
}


class NoAuthMiddleware(object):
    """Paste filter giving every request an administrator's identity."""

    def __init__(self, application):
        self.application = application

    @classmethod
    def factory(cls, global_conf, **local_conf):
        def _filter(application):
            return cls(application)
        return _filter

    @webob.dec.wsgify
    def __call__(self, request):
        request.environ.update(NOAUTH_HEADERS)
        return request.get_response(self.application)
