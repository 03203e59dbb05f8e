"""A Congress-compatible, read-mostly HTTP API over datasource drivers.

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
:data:`EXECUTIONS_KEPT` finished executions of the API are kept.
``request-refresh`` asks the driver for fresh data (a resync of every
table of a ``publish_tables`` datasource) and answers 202.

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
import datetime
import json
import re
import socketserver
import threading
import uuid
from wsgiref import simple_server

from oslo_log import log as logging
import webob

from congress_consumer.datasources import http_push
from congress_consumer.datasources import values
from congress_consumer import exceptions

LOG = logging.getLogger(__name__)

DEFAULT_HOST = '127.0.0.1'
DEFAULT_PORT = 8780
DEFAULT_MAX_BODY_BYTES = 1024 * 1024
EXECUTIONS_KEPT = 100
MAX_WAIT = 300.0

RUNNING = 'RUNNING'
SUCCEEDED = 'SUCCEEDED'
FAILED = 'FAILED'

LIVE = 'LIVE'
SYNCING = 'SYNCING'
RESYNCING = 'RESYNCING'


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


class Execution(object):
    """One action run in the background by ``?action=execute``."""

    def __init__(self, datasource, name, call):
        self.id = uuid.uuid4().hex
        self.datasource = datasource
        self.name = name
        self.status = RUNNING
        self.result = None
        self.error = None
        self.started = _now()
        self.finished = None
        self._call = call
        self.thread = threading.Thread(target=self._run, daemon=True,
                                       name='action-%s' % name)

    def _run(self):
        try:
            self.result = self._call()
            self.status = SUCCEEDED
        except Exception as exc:  # any failure of the action is reported
            LOG.exception('action %s on data source %s failed', self.name,
                          self.datasource)
            self.error = '%s: %s' % (type(exc).__name__, exc)
            self.status = FAILED
        finally:
            self.finished = _now()

    def describe(self):
        return {'id': self.id, 'datasource': self.datasource,
                'name': self.name, 'status': self.status,
                'result': json.loads(to_json(self.result)),
                'error': self.error, 'started': self.started,
                'finished': self.finished}


def datasource_state(status):
    """Overall state of a datasource from its ``get_status()`` dict.

    ``SYNCING`` while a table has never been loaded, else ``RESYNCING``
    while a table is being reloaded, else ``LIVE``. Drivers without
    per-table states are ``LIVE`` once initialized.
    """
    tables = status.get('tables')
    states = set()
    if isinstance(tables, dict):
        states = {t.get('state') for t in tables.values()
                  if isinstance(t, dict)}
    if not states:
        return LIVE if status.get('initialized') else SYNCING
    if SYNCING in states:
        return SYNCING
    if RESYNCING in states:
        return RESYNCING
    return LIVE


_DS = r'/v1/data-sources/(?P<ds>[^/]+)'
_TABLE = _DS + r'/tables/(?P<table>[^/]+)'


class API(object):
    """The WSGI application; ``drivers`` maps datasource names to drivers.

    The mapping is read on every request, so datasources may be added or
    removed while serving. ``extra_routes`` are more ``(compiled path
    pattern, {method: handler})`` entries served by other components
    (e.g. :mod:`congress_consumer.subscriptions.api`).
    """

    def __init__(self, drivers, push_enabled=False,
                 max_body_bytes=DEFAULT_MAX_BODY_BYTES, extra_routes=()):
        self.drivers = drivers
        self.push_enabled = push_enabled
        self.max_body_bytes = max_body_bytes
        self._executions = collections.OrderedDict()
        self._executions_lock = threading.Lock()
        self._routes = [
            (re.compile(r'^/v1/data-sources/?$'),
             {'GET': self.list_datasources, 'POST': self.qualified_action}),
            (re.compile('^' + _DS + '/?$'),
             {'GET': self.show_datasource, 'POST': self.action}),
            (re.compile('^' + _DS + '/status/?$'),
             {'GET': self.show_status}),
            (re.compile('^' + _DS + '/schema/?$'),
             {'GET': self.show_schema}),
            (re.compile('^' + _DS + '/actions/?$'),
             {'GET': self.list_actions}),
            (re.compile('^' + _DS + '/tables/?$'),
             {'GET': self.list_tables}),
            (re.compile('^' + _TABLE + '/?$'),
             {'GET': self.show_table}),
            (re.compile('^' + _TABLE + '/spec/?$'),
             {'GET': self.show_table_spec}),
            (re.compile('^' + _TABLE + '/rows/?$'),
             {'GET': self.list_rows, 'PUT': self.push_rows,
              'PATCH': self.push_deltas}),
            (re.compile('^' + _DS + '/executions/?$'),
             {'GET': self.list_executions}),
            (re.compile('^' + _DS + '/executions/(?P<execution>[^/]+)/?$'),
             {'GET': self.show_execution}),
        ]
        self._routes.extend(extra_routes)

    def __call__(self, environ, start_response):
        request = webob.Request(environ)
        return self.handle(request)(environ, start_response)

    def handle(self, request):
        """Return the :class:`webob.Response` for ``request``."""
        try:
            handler, params = self._route(request)
            return handler(request, **params)
        except HTTPError as exc:
            return _error(exc.code, exc.message, exc.allow)
        except exceptions.UnknownTableError as exc:
            return _error(404, exc.message)
        except Exception:
            LOG.exception('%s %s failed', request.method, request.path)
            return _error(500, 'internal error; see the consumer log')

    def _route(self, request):
        path = request.path_info
        for pattern, methods in self._routes:
            match = pattern.match(path)
            if match is None:
                continue
            method = request.method
            if method == 'HEAD':
                method = 'GET'
            if method not in methods:
                allow = sorted(methods)
                raise HTTPError(405, 'method %s not allowed on %s; use %s'
                                % (request.method, path, ', '.join(allow)),
                                allow=allow)
            return methods[method], match.groupdict()
        raise HTTPError(404, 'no resource at %s' % path)

    # -- helpers ------------------------------------------------------------

    def _driver(self, name):
        driver = self.drivers.get(name)
        if driver is None:
            raise HTTPError(404, 'data source %s not found' % name)
        return driver

    @staticmethod
    def _tablenames(driver):
        # A table whose columns are learnt from its first snapshot is
        # in ``state`` before it is in the schema.
        return set(driver.get_tablenames()) | set(getattr(driver, 'state',
                                                          {}))

    def _table(self, ds, table):
        driver = self._driver(ds)
        if table not in self._tablenames(driver):
            raise HTTPError(404, 'table %s not found in data source %s'
                            % (table, ds))
        return driver

    def _describe(self, name, driver):
        info = driver.get_datasource_info()
        return {'id': name, 'name': name, 'driver': info['id'],
                'description': info.get('description', ''),
                'enabled': True,
                'status': datasource_state(driver.get_status())}

    # -- handlers -----------------------------------------------------------

    def list_datasources(self, request):
        return _response(200, {'results': [
            self._describe(name, driver)
            for name, driver in sorted(self.drivers.items())]})

    def show_datasource(self, request, ds):
        return _response(200, self._describe(ds, self._driver(ds)))

    def show_status(self, request, ds):
        status = dict(self._driver(ds).get_status())
        status.setdefault('state', datasource_state(status))
        return _response(200, status)

    def show_schema(self, request, ds):
        driver = self._driver(ds)
        schema = driver.get_schema()
        return _response(200, {'tables': [
            {'table_id': table, 'columns': self._columns(schema[table])}
            for table in sorted(schema)]})

    def list_actions(self, request, ds):
        driver = self._driver(ds)
        if not hasattr(driver, 'get_actions'):
            return _response(200, {'results': []})
        return _response(200, driver.get_actions())

    @staticmethod
    def _columns(columns):
        return [{'name': c['name'], 'description': c.get('desc', '')}
                for c in columns]

    def list_tables(self, request, ds):
        driver = self._driver(ds)
        return _response(200, {'results': [
            {'id': t} for t in sorted(self._tablenames(driver))]})

    def show_table(self, request, ds, table):
        self._table(ds, table)
        return _response(200, {'id': table})

    def show_table_spec(self, request, ds, table):
        schema = self._table(ds, table).get_schema()
        return _response(200, {'columns': self._columns(
            schema.get(table, ()))})

    def list_rows(self, request, ds, table):
        driver = self._table(ds, table)
        if table not in driver.get_tablenames():
            return _response(200, {'results': []})  # columns not known yet
        rows = driver.get_row_data(table)
        return _response(200, {'results': [{'data': list(r['data'])}
                                           for r in rows]})

    def action(self, request, ds):
        driver = self._driver(ds)
        action = request.params.get('action')
        if action == 'execute':
            return self._execute(request, ds, driver)
        if action == 'request-refresh':
            return self._refresh(ds, driver)
        raise HTTPError(400, 'action=%s: expected execute or '
                        'request-refresh' % action)

    def qualified_action(self, request):
        """``POST /v1/data-sources?action=execute``: ``{"name": "ds:act"}``."""
        if request.params.get('action') != 'execute':
            raise HTTPError(400, 'action=%s: expected execute'
                            % request.params.get('action'))
        body = self._json_body(request, require_json=False)
        name = body.get('name') if isinstance(body, dict) else None
        ds, sep, action = (name or '').partition(':')
        if not sep or not ds or not action:
            raise HTTPError(400, 'name: expected <datasource>:<action>, '
                            'e.g. nova:resync, got %r' % (name,))
        return self._execute(request, ds, self._driver(ds),
                             dict(body, name=action))

    def _execute(self, request, ds, driver, body=None):
        if body is None:
            body = self._json_body(request, require_json=False)
        if not isinstance(body, dict) or not isinstance(body.get('name'),
                                                        str) \
                or not body['name']:
            raise HTTPError(400, 'expected a JSON object {"name": action, '
                            '"args": {"positional": [...], "named": {...}}, '
                            '"options": {...}}')
        extra = sorted(set(body) - {'name', 'args', 'options'})
        if extra:
            raise HTTPError(400, 'unknown key(s) %s; expected name, args '
                            'and options' % extra)
        wait, timeout = self._execute_options(body.get('options'))
        if not hasattr(driver, 'prepare'):
            raise HTTPError(400, 'data source %s has no actions' % ds)
        name = body['name']
        args = body.get('args')
        if isinstance(args, list):  # the spec's form: positional only
            args = {'positional': args}
        try:
            call = driver.prepare(name, {} if args is None else args)
        except exceptions.CongressConsumerError as exc:
            raise HTTPError(400, str(exc))
        execution = Execution(ds, name, call)
        with self._executions_lock:
            self._executions[execution.id] = execution
            self._prune_executions()
        execution.thread.start()
        LOG.info('action %s on data source %s started (execution %s)',
                 name, ds, execution.id)
        if wait:
            execution.thread.join(timeout)
        done = wait and execution.status != RUNNING
        resp = _response(200 if done else 202, execution.describe())
        resp.location = '%s/v1/data-sources/%s/executions/%s' % (
            request.script_name, ds, execution.id)
        return resp

    @staticmethod
    def _execute_options(options):
        if options is None:
            options = {}
        if not isinstance(options, dict):
            raise HTTPError(400, 'options: expected a JSON object')
        extra = sorted(set(options) - {'wait', 'timeout'})
        if extra:
            raise HTTPError(400, 'options: unknown key(s) %s; expected wait '
                            'and timeout' % extra)
        wait = options.get('wait', False)
        if not isinstance(wait, bool):
            raise HTTPError(400, 'options: wait must be true or false')
        timeout = options.get('timeout', 30)
        if isinstance(timeout, bool) or not isinstance(
                timeout, (int, float)) or not 0 < timeout <= MAX_WAIT:
            raise HTTPError(400, 'options: timeout must be a number of '
                            'seconds, more than 0 and at most %d'
                            % MAX_WAIT)
        return wait, float(timeout)

    def _prune_executions(self):
        finished = [i for i, e in self._executions.items()
                    if e.status != RUNNING]
        for execution_id in finished[:max(0, len(finished) -
                                          EXECUTIONS_KEPT)]:
            del self._executions[execution_id]

    def list_executions(self, request, ds):
        self._driver(ds)
        with self._executions_lock:
            self._prune_executions()
            found = [e.describe() for e in self._executions.values()
                     if e.datasource == ds]
        return _response(200, {'results': found})

    def show_execution(self, request, ds, execution):
        self._driver(ds)
        with self._executions_lock:
            found = self._executions.get(execution)
        if found is None or found.datasource != ds:
            raise HTTPError(404, 'execution %s not found in data source %s'
                            % (execution, ds))
        return _response(200, found.describe())

    # -- pushes --------------------------------------------------------------

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

    def _push_driver(self, request, ds, table):
        driver = self._table(ds, table)
        if not self.push_enabled:
            raise HTTPError(403, 'pushing data is disabled on this API '
                            '([consumer] enable_push)')
        if not hasattr(driver, 'push') or not hasattr(driver,
                                                      'authenticate'):
            raise HTTPError(405, 'data source %s does not accept pushed '
                            'data; use GET' % ds, allow=['GET', 'HEAD'])
        token = request.headers.get('X-Auth-Token')
        if token is None:
            scheme, _sep, value = request.headers.get(
                'Authorization', '').partition(' ')
            if scheme.lower() == 'bearer':
                token = value.strip()
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

    def _refresh(self, ds, driver):
        if hasattr(driver, 'resync'):
            driver.resync()
        elif hasattr(driver, 'request_refresh'):
            driver.request_refresh()
        else:
            raise HTTPError(400, 'data source %s cannot be refreshed' % ds)
        LOG.info('refresh of data source %s requested through the API', ds)
        return _response(202, {})


class ThreadingWSGIServer(socketserver.ThreadingMixIn,
                          simple_server.WSGIServer):
    """A wsgiref server handling each request in its own thread."""

    daemon_threads = True
    allow_reuse_address = True


class _RequestHandler(simple_server.WSGIRequestHandler):
    """Logs requests through oslo.log instead of stderr."""

    def log_message(self, format, *args):
        LOG.debug('%s - %s', self.address_string(), format % args)


def serve(app, host=DEFAULT_HOST, port=DEFAULT_PORT):
    """Serve ``app`` on ``host``:``port`` in a daemon thread.

    Port 0 picks a free port; ``server.server_address`` tells which.
    Returns the :class:`ThreadingWSGIServer`; stop it with
    ``server.shutdown()`` then ``server.server_close()``.
    """
    server = simple_server.make_server(
        host, port, app, server_class=ThreadingWSGIServer,
        handler_class=_RequestHandler)
    thread = threading.Thread(target=server.serve_forever,
                              name='congress-consumer-api', daemon=True)
    thread.start()
    server.thread = thread
    LOG.info('API listening on http://%s:%d/v1/data-sources',
             *server.server_address[:2])
    return server
