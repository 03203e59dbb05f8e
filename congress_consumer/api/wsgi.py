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

"""A Congress-compatible, read-mostly HTTP API over datasource drivers.

This module routes; the handlers live by job in :mod:`.rows` (datasources,
status, schema, tables, rows), :mod:`.actions` (execute, refresh,
executions) and :mod:`.push` (pushed rows), their answers in
:mod:`.responses`; the subscriptions' routes come from
:mod:`congress_consumer.subscriptions.api`.

:class:`API` is a WSGI application serving a registry of drivers,
``{datasource name: driver}``, under Congress's ``/v1/data-sources``
paths; the datasource name is also its id::

    GET  /v1/data-sources
    GET  /v1/data-sources/{ds}
    GET  /v1/data-sources/{ds}/status
    GET  /v1/data-sources/{ds}/schema
    GET  /v1/data-sources/{ds}/actions
    GET  /v1/data-sources/{ds}/tables
    GET  /v1/data-sources/{ds}/tables/{table}
    GET  /v1/data-sources/{ds}/tables/{table}/spec
    GET  /v1/data-sources/{ds}/tables/{table}/rows
    PUT  /v1/data-sources/{ds}/tables/{table}/rows     (push: all rows)
    PATCH /v1/data-sources/{ds}/tables/{table}/rows    (push: row deltas)
    POST /v1/data-sources/{ds}?action=execute
    POST /v1/data-sources?action=execute        ("name": "ds:action")
    POST /v1/data-sources/{ds}?action=request-refresh
    POST /v1/data-sources/{ds}?action=verify[&table=T][&wait=true]
    GET  /v1/data-sources/{ds}/executions
    GET  /v1/data-sources/{ds}/executions/{id}

Bodies are JSON. Errors are ``{"error": {"message": ..., "code": ...}}``
with status 400 (bad request), 401 (push without the right token), 403
(push disabled), 404 (unknown path, datasource, table or execution),
405 (wrong method; the ``Allow`` header lists the right ones), 411, 413
and 415 (push body without length, too large, not JSON) or 500.

``execute`` takes ``{"name": action, "args": {"positional": [...],
"named": {...}}, "options": {"wait": false, "timeout": 30}}``; only
``name`` is required, and ``args`` may also be a plain list (the
positional arguments). ``POST /v1/data-sources?action=execute`` takes
the same body with a service-qualified name, ``{"name":
"nova:resync"}``. Everything that can be checked before the call is
checked first and answers 400: the body, an unknown action, arguments
that do not fit the action. Then the action runs in a thread of its own
and the answer is 202 with the execution, ``{"id", "datasource", "name",
"status": "RUNNING", ...}``; ``GET .../executions/{id}`` tells later
whether it ``SUCCEEDED`` (with its ``result``) or ``FAILED`` (with its
``error``). With ``"wait": true`` the answer waits up to ``timeout``
seconds (at most 300) and is 200 once the action has finished. The last
:data:`~congress_consumer.api.actions.EXECUTIONS_KEPT` finished
executions of the API are kept.
``request-refresh`` asks the driver for fresh data (a resync of every
table of a ``publish_tables`` datasource) and answers 202. ``verify``
runs the datasource's ``verify`` action (compare every table, or
``table``, with its source and repair what differs) as an execution,
like ``execute``; ``wait`` and ``timeout`` are its options.

Pushes (see :mod:`congress_consumer.datasources.http_push`) are
refused with 403 unless the API was made with ``push_enabled=True``,
and with 405 by datasources that are not push datasources. The token
goes in ``X-Auth-Token`` or ``Authorization: Bearer``; the body must be
``application/json`` with a ``Content-Length`` of at most
``max_body_bytes``. A body that does not fit the table answers 400 and
changes nothing.

:func:`serve` runs an application on a threading
:mod:`wsgiref.simple_server` in a background thread.
"""

import collections
import threading
from wsgiref import simple_server

from oslo_log import log as logging
import webob

from congress_consumer.api import actions
from congress_consumer.api import push
from congress_consumer.api import responses
from congress_consumer.api import router
from congress_consumer.api import rows
from congress_consumer.api import server as server_mod
from congress_consumer import exceptions
from congress_consumer import opts

LOG = logging.getLogger(__name__)

DEFAULT_HOST = opts.DEFAULT_HOST
DEFAULT_PORT = opts.DEFAULT_PORT
DEFAULT_MAX_BODY_BYTES = opts.DEFAULT_MAX_BODY_BYTES

# The names the API's users know it by.
HTTPError = responses.HTTPError
to_json = responses.to_json
RUNNING = actions.RUNNING


class API(rows.RowsAPI, actions.ActionsAPI, push.PushAPI):
    """The WSGI application; ``drivers`` maps datasource names to drivers.

    The mapping is read on every request, so datasources may be added or
    removed while serving. ``extra_routes`` are more ``(path template,
    {method: (handler, policy rule)})`` entries served by other
    components (e.g. :mod:`congress_consumer.subscriptions.api`); see
    :mod:`.router`. ``authorizer`` (a :class:`.policy.Authorizer`)
    checks each route's rule; the application factory
    (:mod:`.app`) always gives one, an API made without one checks
    nothing.
    """

    def __init__(self, drivers, push_enabled=False,
                 max_body_bytes=DEFAULT_MAX_BODY_BYTES, extra_routes=(),
                 authorizer=None):
        self.drivers = drivers
        self.push_enabled = push_enabled
        self.max_body_bytes = max_body_bytes
        self._executions = collections.OrderedDict()
        self._executions_lock = threading.Lock()
        self.authorizer = authorizer
        self._router = router.Router(
            router.datasource_routes(self) + list(extra_routes))

    def __call__(self, environ, start_response):
        request = webob.Request(environ)
        return self.handle(request)(environ, start_response)

    def handle(self, request):
        """Return the :class:`webob.Response` for ``request``."""
        try:
            handler, rule, params = self._router.match(request)
            if self.authorizer is not None:
                self.authorizer.authorize(request, rule, params)
            return handler(request, **params)
        except UnicodeDecodeError:
            return responses._error(400, 'the request path or query is '
                                    'not UTF-8')
        except HTTPError as exc:
            return responses._error(exc.code, exc.message, exc.allow)
        except exceptions.UnknownTableError as exc:
            return responses._error(404, exc.message)
        except Exception:
            LOG.exception('%s %r failed', request.method,
                          request.environ.get('PATH_INFO'))
            return responses._error(500,
                                    'internal error; see the consumer log')

    # -- helpers ------------------------------------------------------------

    def _driver(self, name):
        driver = self.drivers.get(name)
        if driver is None:
            raise HTTPError(404, 'data source %s not found' % name)
        return driver


def serve(app, host=DEFAULT_HOST, port=DEFAULT_PORT):
    """Serve ``app`` on ``host``:``port`` in a daemon thread.

    Port 0 picks a free port; ``server.server_address`` tells which.
    Returns the :class:`~congress_consumer.api.server.BoundedWSGIServer`;
    ``server.stop()`` stops it.
    """
    server = simple_server.make_server(
        host, port, app, server_class=server_mod.BoundedWSGIServer,
        handler_class=server_mod.BufferedRequestHandler)
    thread = threading.Thread(target=server.serve_forever,
                              name='congress-consumer-api', daemon=True)
    thread.start()
    server.thread = thread
    LOG.info('API listening on http://%s:%d/v1/data-sources',
             *server.server_address[:2])
    return server
