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
    POST /v1/data-sources/{ds}?action=execute
    POST /v1/data-sources/{ds}?action=request-refresh

Bodies are JSON. Errors are ``{"error": {"message": ..., "code": ...}}``
with status 400 (bad request), 404 (unknown path, datasource or table),
405 (wrong method; the ``Allow`` header lists the right ones) or 500.

``execute`` takes ``{"name": action, "args": {"positional": [...],
"named": {...}}}``, runs the action and answers 202; an unknown action
or malformed arguments answer 400. ``request-refresh`` asks the driver
for fresh data (a resync of every table of a ``publish_tables``
datasource) and answers 202.

:func:`serve` runs an application on a threading
:mod:`wsgiref.simple_server` in a background thread.
"""

import base64
import datetime
import decimal
import json
import re
import socketserver
import threading
import uuid
from wsgiref import simple_server

from oslo_log import log as logging
import webob

from congress_consumer import exceptions

LOG = logging.getLogger(__name__)

DEFAULT_HOST = '127.0.0.1'
DEFAULT_PORT = 8780

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
    if isinstance(value, (datetime.datetime, datetime.date,
                          datetime.time)):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return float(value)
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, bytes):
        return base64.b64encode(value).decode()
    return str(value)


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
    return _response(code, {'error': {'message': message, 'code': code}},
                     allow=allow)


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

    def __init__(self, drivers, extra_routes=()):
        self.drivers = drivers
        self._routes = [
            (re.compile(r'^/v1/data-sources/?$'),
             {'GET': self.list_datasources}),
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
             {'GET': self.list_rows}),
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

    def _execute(self, request, ds, driver):
        try:
            body = json.loads(request.body or b'{}')
        except ValueError as exc:
            raise HTTPError(400, 'request body is not JSON: %s' % exc)
        if not isinstance(body, dict) or not isinstance(body.get('name'),
                                                        str):
            raise HTTPError(400, 'expected a JSON object {"name": action, '
                            '"args": {"positional": [...], "named": {...}}}')
        if not hasattr(driver, 'execute'):
            raise HTTPError(400, 'data source %s has no actions' % ds)
        name = body['name']
        try:
            driver.execute(name, body.get('args') or {})
        except exceptions.CongressConsumerError as exc:
            raise HTTPError(400, str(exc))
        except TypeError as exc:  # the arguments do not fit the action
            raise HTTPError(400, 'action %s: %s' % (name, exc))
        LOG.info('executed action %s on data source %s', name, ds)
        return _response(202, {})

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
