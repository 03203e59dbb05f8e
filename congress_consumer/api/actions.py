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

"""Actions: ``?action=execute``, ``request-refresh``, ``verify``."""

import json
import logging
import threading
import uuid

from congress_consumer.api.responses import _now
from congress_consumer.api.responses import _response
from congress_consumer.api.responses import HTTPError
from congress_consumer.api.responses import to_json
from congress_consumer import exceptions

LOG = logging.getLogger(__name__)

EXECUTIONS_KEPT = 100
MAX_WAIT = 300.0

RUNNING = 'RUNNING'
SUCCEEDED = 'SUCCEEDED'
FAILED = 'FAILED'


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


class ActionsAPI(object):
    """The action handlers of :class:`~congress_consumer.api.wsgi.API`."""

    def action(self, request, ds):
        driver = self._driver(ds)
        action = request.params.get('action')
        if action == 'execute':
            return self._execute(request, ds, driver)
        if action == 'request-refresh':
            return self._refresh(ds, driver)
        if action == 'verify':
            return self._verify(request, ds, driver)
        raise HTTPError(400, 'action=%s: expected execute, '
                        'request-refresh or verify' % action)

    def _verify(self, request, ds, driver):
        if not hasattr(driver, 'verify'):
            raise HTTPError(400, 'data source %s cannot be verified' % ds)
        table = request.params.get('table')
        if table is not None:
            self._table(ds, table)
        wait = request.params.get('wait', 'false').lower()
        if wait not in ('true', 'false'):
            raise HTTPError(400, 'wait must be true or false')
        try:
            timeout = float(request.params.get('timeout', 30))
        except ValueError:
            raise HTTPError(400, 'timeout must be a number of seconds')
        wait, timeout = self._execute_options({'wait': wait == 'true',
                                               'timeout': timeout})
        return self._start(request, Execution(
            ds, 'verify', lambda: driver.verify(table)), wait, timeout)

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
        return self._start(request, Execution(ds, name, call), wait,
                           timeout)

    def _start(self, request, execution, wait, timeout):
        """Run ``execution``; 202 with it, or 200 once done if ``wait``."""
        ds, name = execution.datasource, execution.name
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

    def _refresh(self, ds, driver):
        if hasattr(driver, 'resync'):
            driver.resync()
        elif hasattr(driver, 'request_refresh'):
            driver.request_refresh()
        else:
            raise HTTPError(400, 'data source %s cannot be refreshed' % ds)
        LOG.info('refresh of data source %s requested through the API', ds)
        return _response(202, {})
