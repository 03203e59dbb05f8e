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

"""Drivers that poll their data source periodically.

Register, for each top-level translator, a method returning the current
list of objects; each poll calls every method, translates the result and
publishes the per-table differences (only for tables that changed)::

    class FlavorDriver(PollingDataSourceDriver):
        TRANSLATORS = [flavors_translator]

        def __init__(self, name='', args=None):
            super().__init__(name, args)
            self.add_update_method(self._list_flavors, flavors_translator)

    driver = FlavorDriver('flavors', {'poll_time': 30})
    driver.subscribe(on_change)
    driver.start()            # background thread: poll now, then every 30s
    driver.request_refresh()  # poll again as soon as possible
    driver.stop()             # wake the thread and join it

``poll()`` may also be called directly (tests, one-shot tools).  Polls are
serialised.  A failing poll is logged, recorded in ``last_error`` and
leaves the state as it was; the thread keeps polling.  Drivers may instead
override ``update_from_datasource()`` and assign ``self.state[table]``
themselves, as Congress drivers did.
"""

import threading

from oslo_log import log as logging

from congress_consumer.datasources import datasource_driver
from congress_consumer import exceptions

LOG = logging.getLogger(__name__)


class PollingDataSourceDriver(datasource_driver.DataSourceDriver):
    """A driver whose state is refreshed by polling."""

    DEFAULT_POLL_TIME = 10

    def __init__(self, name='', args=None):
        super().__init__(name, args)
        self.poll_time = self._parse_poll_time(
            self.args.get('poll_time', self.DEFAULT_POLL_TIME))
        self.update_methods = []
        self.last_poll_time = None
        self.number_of_polls = 0
        self._poll_lock = threading.Lock()
        self._thread_lock = threading.Lock()
        self._stop_event = threading.Event()
        self._wake_event = threading.Event()
        self._thread = None

    @staticmethod
    def _parse_poll_time(value):
        try:
            poll_time = float(value)
        except (TypeError, ValueError):
            poll_time = None
        if poll_time is None or not poll_time > 0:
            raise exceptions.InvalidParamError(
                param='poll_time',
                reason='must be a positive number, got %r' % (value,))
        return poll_time

    def add_update_method(self, method, translator):
        """Poll ``method()`` for objects translated with ``translator``.

        The translator is registered unless it (the same dict object or
        an equal one) already is.
        """
        table = translator[self.TABLE_NAME]
        if table in self._table_deps:
            if self.get_translator(table) != translator:
                raise exceptions.InvalidTranslatorError(
                    "table '%s' is registered with another translator"
                    % table, reason='duplicate table')
        else:
            self.register_translator(translator)
        self.update_methods.append((method, translator))

    def update_from_datasource(self):
        """Call every update method and install the translated tables.

        All methods run before anything is changed, so an error leaves the
        state untouched.  Every table of a translator is (re)set, empty
        ones included, so deletions are noticed.
        """
        new_state = {}
        for method, translator in self.update_methods:
            table = translator[self.TABLE_NAME]
            for name in self._table_deps[table]:
                new_state[name] = set()
            for name, row in self.convert_objs(method(), translator):
                new_state[name].add(row)
        with self._lock:
            self.state.update(new_state)

    def poll(self):
        """Poll once and publish the tables that changed.

        :returns: ``{table: (to_add, to_del)}`` for the changed tables.
        :raises: whatever ``update_from_datasource`` raised, after
            recording it in ``last_error`` and restoring the state.
        """
        with self._poll_lock:
            with self._lock:
                prior = {t: set(rows) for t, rows in self.state.items()}
            try:
                self.update_from_datasource()
            except Exception as exc:
                with self._lock:
                    self.state.clear()
                    self.state.update(prior)
                    self.last_error = '%s: %s' % (type(exc).__name__, exc)
                    self.number_of_polls += 1
                    self.last_poll_time = datasource_driver._now()
                raise
            return self._publish_changes(prior)

    def _publish_changes(self, prior):
        changes = {}
        with self._lock:
            self.number_of_polls += 1
            self.last_poll_time = datasource_driver._now()
            for table in sorted(set(prior) | set(self.state)):
                old = prior.get(table, set())
                new = self.state[table] = set(self.state.get(table, ()))
                if new != old:
                    changes[table] = (new - old, old - new)
                    self.publish_diff(table, *changes[table])
            self._mark_updated()
            self.initialized = True
        return changes

    # -- background thread -------------------------------------------------

    def _poll_loop(self):
        while not self._stop_event.is_set():
            self._wake_event.clear()
            try:
                self.poll()
            except Exception:
                LOG.exception('Polling data source %s failed', self.name)
            self._wake_event.wait(self.poll_time)

    def start(self):
        """Start the polling thread (no-op if it is already running)."""
        with self._thread_lock:
            if self.is_running():
                return
            self._stop_event.clear()
            self._thread = threading.Thread(
                target=self._poll_loop, name='poll-%s' % self.name,
                daemon=True)
            self._thread.start()

    def is_running(self):
        """Return True while the polling thread is alive."""
        return self._thread is not None and self._thread.is_alive()

    def request_refresh(self):
        """Ask the polling thread to poll now instead of waiting."""
        self._wake_event.set()

    def stop(self, timeout=None):
        """Stop the polling thread and wait for it to end.

        A poll in progress finishes first.  Returns True if the thread
        has ended (always, unless ``timeout`` expired).
        """
        with self._thread_lock:
            self._stop_event.set()
            self._wake_event.set()
            thread = self._thread
            if thread is not None and thread is not threading.current_thread():
                thread.join(timeout)
            return thread is None or not thread.is_alive()

    def get_status(self):
        status = super().get_status()
        last = self.last_poll_time
        status.update(poll_time=self.poll_time,
                      number_of_polls=self.number_of_polls,
                      last_poll=last.isoformat() if last else None,
                      running=self.is_running())
        return status
