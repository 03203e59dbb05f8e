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

"""Pushes: rows and row deltas sent over HTTP to push datasources."""

import json
import logging

from congress_consumer.api.responses import _reject_constant
from congress_consumer.api.responses import _response
from congress_consumer.api.responses import HTTPError
from congress_consumer.datasources import http_push
from congress_consumer import exceptions

LOG = logging.getLogger(__name__)


class PushAPI(object):
    """The push handlers of :class:`~congress_consumer.api.wsgi.API`."""

    def _json_body(self, request, require_json=True):
        """The decoded JSON body, within ``max_body_bytes``."""
        length = request.content_length
        if length is None and require_json:
            raise HTTPError(411, 'a Content-Length header is required')
        if length is not None and length > self.max_body_bytes:
            raise HTTPError(413, 'request body of %d bytes is larger than '
                            'the limit of %d bytes'
                            % (length, self.max_body_bytes))
        if require_json and request.content_type != 'application/json':
            raise HTTPError(415, 'Content-Type must be application/json, '
                            'not %r' % (request.content_type or ''))
        raw = request.body if length else b''
        if not raw:
            if require_json:
                raise HTTPError(400, 'request body is empty')
            return {}
        try:
            return json.loads(raw.decode('utf-8'),
                              parse_constant=_reject_constant)
        except (UnicodeDecodeError, ValueError) as exc:
            raise HTTPError(400, 'request body is not JSON: %s' % exc)
        except RecursionError:
            raise HTTPError(400, 'request body is nested too deeply')

    def _push_driver(self, request, ds, table):
        driver = self._table(ds, table)
        if not self.push_enabled:
            raise HTTPError(403, 'pushing data is disabled on this API '
                            '([consumer] enable_push)')
        if not hasattr(driver, 'push') or not hasattr(driver,
                                                      'authenticate'):
            raise HTTPError(405, 'data source %s does not accept pushed '
                            'data; use GET' % ds, allow=['GET', 'HEAD'])
        # Bearer first: behind keystone, X-Auth-Token is a keystone token.
        token = None
        scheme, _sep, value = request.headers.get(
            'Authorization', '').partition(' ')
        if scheme.lower() == 'bearer':
            token = value.strip()
        if token is None:
            token = request.headers.get('X-Auth-Token')
        if not driver.authenticate(token):
            LOG.warning('push to %s/%s refused: %s token', ds, table,
                        'no' if token is None else 'wrong')
            raise HTTPError(401, 'a valid token is required in X-Auth-Token '
                            'or Authorization: Bearer')
        return driver

    def _push(self, request, ds, table, mode):
        driver = self._push_driver(request, ds, table)
        body = self._json_body(request)
        try:
            to_add, to_del = driver.push(table, body, mode)
        except exceptions.UnknownTableError:
            raise
        except exceptions.CongressConsumerError as exc:
            raise HTTPError(400, str(exc))
        LOG.info('push to %s/%s: %d row(s) added, %d deleted', ds, table,
                 len(to_add), len(to_del))
        return _response(200, {'added': len(to_add),
                               'deleted': len(to_del),
                               'rows': len(driver.get_snapshot(table))})

    def push_rows(self, request, ds, table):
        return self._push(request, ds, table, http_push.REPLACE)

    def push_deltas(self, request, ds, table):
        return self._push(request, ds, table, http_push.DELTAS)
