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

"""The REST API of filtered subscriptions.

Routes added to :class:`congress_consumer.api.wsgi.API` when
``[subscriptions] connection`` is set::

    POST   /v1/subscriptions                 201 subscribe
    GET    /v1/subscriptions                 200 list
    GET    /v1/subscriptions/{id}[?rows=1]   200 show (and matching rows)
    PUT    /v1/subscriptions/{id}            200 update
    DELETE /v1/subscriptions/{id}            204 unsubscribe
    POST   /v1/subscriptions/{id}/ack        204 "I am alive"

``POST /v1/subscriptions`` takes::

    {"subscriber_id": "watcher-1", "subscriber_topic": "watcher_updates",
     "datasource": "nova", "table": "instances",
     "filters": [{"column": "host", "value": ["compute-1", "compute-2"]}],
     "payload": "delta", "initial_rows": true, "notify": true}

and answers the subscription and its ``seq``, plus ``epoch`` and ``rows``
(the matching rows, encoded like the notifications) when
``initial_rows`` is true. With ``notify`` true the matching rows are also
sent to the subscriber's topic. ``PUT /v1/subscriptions/{id}`` takes the
same body (``subscriber_id`` optional) and replaces the subscription,
its ``seq`` going on; ``POST`` with ``"upsert": true`` does the same
for an existing id (200) or creates it (201). ONAP's fields are
accepted: ``ONAPName``, ``ONAPComponent`` and ``ONAPInstance`` are kept
with the subscription and shown with it, ``requestId`` (or the header
``X-ONAP-RequestID``) is echoed in the answer's body and that header.
``"tables": [...]`` instead of ``"table"`` covers several tables of the
datasource; ``rows`` is then ``{table: [rows]}``. Errors: 400 for a
malformed body or filter (:mod:`.filters`), 404 for an unknown
datasource, table or subscription, 409 for a subscriber_id already
registered.
"""

import json

import webob

from oslo_publish_tables.protocol import codec

from congress_consumer.api import wsgi
from congress_consumer import exceptions
from congress_consumer.policies import subscriptions as rules
from congress_consumer.subscriptions import registry as registry_mod

REQUEST_ID = 'X-ONAP-RequestID'


def _json(status, body=None):
    resp = webob.Response(status=status, content_type='application/json',
                          charset='utf-8')
    if body is not None:
        resp.text = wsgi.to_json(body)
    else:
        resp.content_type = None
    return resp


def _encode(tables, rows):
    """Encoded rows: a list for one table, ``{table: list}`` for more."""
    encoded = {t: [codec.encode_row(r) for r in rows[t]] for t in tables}
    return encoded[tables[0]] if len(tables) == 1 else encoded


class SubscriptionsAPI(object):
    """Handlers over a :class:`~.service.Subscriptions`."""

    def __init__(self, subscriptions):
        self.subscriptions = subscriptions

    def routes(self):
        """Route entries for :class:`congress_consumer.api.wsgi.API`."""
        return [
            ('/v1/subscriptions',
             {'GET': (self.list, rules.READ),
              'POST': (self.create, rules.CREATE)}),
            (rules.SUB, {'GET': (self.show, rules.READ),
                         'PUT': (self.update, rules.UPDATE),
                         'DELETE': (self.delete, rules.DELETE)}),
            (rules.SUB + '/ack', {'POST': (self.ack, rules.ACK)}),
        ]

    @staticmethod
    def _call(function, *args, **kwargs):
        """Run ``function``, turning our errors into HTTP errors."""
        try:
            return function(*args, **kwargs)
        except registry_mod.SubscriptionExists as exc:
            raise wsgi.HTTPError(409, str(exc))
        except (registry_mod.SubscriptionNotFound,
                exceptions.UnknownTableError) as exc:
            raise wsgi.HTTPError(404, str(exc))
        except exceptions.InvalidParamError as exc:
            if exc.kwargs.get('param') == 'datasource':
                raise wsgi.HTTPError(404, str(exc))
            raise wsgi.HTTPError(400, str(exc))

    @staticmethod
    def _body(request):
        try:
            return json.loads(request.body or b'null')
        except ValueError as exc:
            raise wsgi.HTTPError(400, 'request body is not JSON: %s' % exc)

    @staticmethod
    def _request_id(request, body):
        """ONAP's ``requestId``: from the body, or the X-ONAP-RequestID."""
        return body.get('requestId') or request.headers.get(REQUEST_ID)

    def _answer(self, status, sub, seq, rows, request_id):
        info = self.subscriptions.describe(sub)
        if request_id:
            info['requestId'] = request_id
        info['seq'] = seq
        if rows is not None:
            info['epoch'] = self.subscriptions.publisher.epoch
            info['rows'] = _encode(sub.tables, rows)
        resp = _json(status, info)
        resp.location = '/v1/subscriptions/%s' % sub.subscriber_id
        if request_id:
            resp.headers[REQUEST_ID] = request_id
        return resp

    def create(self, request):
        body = self._body(request)
        sub, seq, rows, created = self._call(self.subscriptions.subscribe,
                                             body)
        return self._answer(201 if created else 200, sub, seq, rows,
                            self._request_id(request, body))

    def update(self, request, subscriber_id):
        body = self._body(request)
        sub, seq, rows = self._call(self.subscriptions.update,
                                    subscriber_id, body)
        return self._answer(200, sub, seq, rows,
                            self._request_id(request, body))

    def list(self, request):
        return _json(200, {'results': self._call(self.subscriptions.list)})

    def show(self, request, subscriber_id):
        rows = request.params.get('rows', '').lower() in ('1', 'true', 'yes')
        info = self._call(self.subscriptions.show, subscriber_id, rows)
        if rows:
            info['rows'] = _encode(info['tables'], info['rows'])
        return _json(200, info)

    def delete(self, request, subscriber_id):
        self._call(self.subscriptions.unsubscribe, subscriber_id)
        return _json(204)

    def ack(self, request, subscriber_id):
        self._call(self.subscriptions.ack, subscriber_id)
        return _json(204)
