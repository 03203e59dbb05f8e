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

"""What every handler of the HTTP API answers with: JSON and errors."""

import datetime
import json

import webob

from congress_consumer.datasources import values
from congress_consumer import exceptions


class HTTPError(exceptions.CongressConsumerError):
    """An API error, answered as a JSON error body."""

    msg_fmt = 'HTTP error %(code)s'

    def __init__(self, code, message, allow=None):
        super().__init__(message, code=code)
        self.code = code
        self.allow = allow


def _json_default(value):
    if isinstance(value, (set, frozenset)):
        return sorted(value, key=repr)
    converted = values.congress_value(value)
    return str(value) if converted is value else converted


def to_json(value):
    """Serialise ``value``; sets, dates, Decimals etc. become JSON types."""
    return json.dumps(value, default=_json_default, sort_keys=True)


def _response(status, body, allow=None):
    resp = webob.Response(status=status, content_type='application/json',
                          charset='utf-8')
    resp.text = to_json(body)
    if allow:
        resp.allow = allow
    return resp


def _error(code, message, allow=None):
    resp = _response(code, {'error': {'message': message, 'code': code}},
                     allow=allow)
    if code == 401:
        resp.www_authenticate = ('Bearer', {'realm': 'congress-consumer'})
    return resp


def _reject_constant(name):
    raise ValueError('%s is not a JSON number' % name)


def _now():
    return datetime.datetime.now(datetime.timezone.utc)
