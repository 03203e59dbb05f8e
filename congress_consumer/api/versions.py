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

"""Version discovery: ``GET /`` and ``GET /v1``, before authentication.

As other OpenStack APIs do, ``GET /`` lists the API versions and ``GET
/v1`` describes version 1, each with a link to it; clients (and people
trying the API) need no token for them. :class:`VersionsFilter` answers
exactly those two paths (``HEAD`` too) and passes every other request
down the pipeline.
"""

import webob

from congress_consumer.api import responses

VERSION = 'v1'
STATUS = 'CURRENT'
MEDIA_TYPE = 'application/json'


def version(request):
    """The document of version 1, its link relative to ``request``."""
    return {'id': VERSION, 'status': STATUS,
            'links': [{'rel': 'self',
                       'href': '%s/%s/' % (request.application_url,
                                           VERSION)}],
            'media-types': [{'base': MEDIA_TYPE, 'type': MEDIA_TYPE}]}


class VersionsFilter(object):
    """Paste filter answering ``GET /`` and ``GET /v1``."""

    PATHS = {'/': 'versions', '': 'versions', '/v1': 'version',
             '/v1/': 'version'}

    def __init__(self, application):
        self.application = application

    @classmethod
    def factory(cls, global_conf, **local_conf):
        return cls

    def __call__(self, environ, start_response):
        request = webob.Request(environ)
        kind = self.PATHS.get(request.path_info)
        if kind is None:
            return self.application(environ, start_response)
        if request.method not in ('GET', 'HEAD'):
            response = responses._error(
                405, 'method %s not allowed on %s; use GET'
                % (request.method, request.path_info or '/'), allow=['GET'])
        elif kind == 'versions':
            response = responses._response(
                200, {'versions': [version(request)]})
        else:
            response = responses._response(
                200, {'version': version(request)})
        return response(environ, start_response)
