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

"""A datasource fed by the notifications services already send.

Congress's *OsloMsgReceiverDriver*: :class:`NotificationDriver` listens
to oslo.messaging notifications (nova's versioned ``instance.update``,
``instance.delete.end``, ...) and keeps tables of rows made from their
payloads by notification translators
(:mod:`congress_consumer.datasources.notification_translators`). A
service that does not run the ``publish_tables`` plugin can thereby be
used by Congress-style policies.

``args``:

``translators``
    names on the ``congress_consumer.notification_translators`` entry
    point, a list or comma-separated (default ``nova_instances``);
``topics``
    notification topics (default ``versioned_notifications``);
``exchange``
    the services' ``control_exchange`` (default ``nova``);
``pool``
    listener pool: every independent consumer of a topic needs its own;
``transport_url``
    the notification transport (default: the configuration's).

Tables start empty and follow the notifications from the start of the
listener: a row exists once its object was created or changed. A
notification that cannot be translated is logged with the datasource and
event type, counted in the status (``discarded``) and skipped.
"""

import collections.abc

from oslo_config import cfg
from oslo_log import log as logging
import oslo_messaging
from stevedore import driver as stevedore_driver

from congress_consumer.datasources import notification_translators as nt
from congress_consumer.datasources import pushed
from congress_consumer.datasources import translators as tr_mod
from congress_consumer import exceptions

LOG = logging.getLogger(__name__)

NAMESPACE = 'congress_consumer.notification_translators'


def _as_list(value):
    if isinstance(value, str):
        return [v.strip() for v in value.split(',') if v.strip()]
    return list(value or ())


def load_translator(name):
    """The notification translator registered as ``name``."""
    try:
        return stevedore_driver.DriverManager(NAMESPACE, name).driver
    except (RuntimeError, ImportError, AttributeError) as exc:
        raise exceptions.InvalidParamError(
            param='translators', reason='%r: no such notification '
            'translator on entry point %s (%s)' % (name, NAMESPACE, exc)
        ) from None


def check_spec(name, spec):
    """Raise InvalidTranslatorError unless ``spec`` is usable."""
    def bad(reason):
        return exceptions.InvalidTranslatorError(
            'notification translator %s: %s' % (name, reason),
            reason=reason)

    if not isinstance(spec, collections.abc.Mapping):
        raise bad('not a dict')
    extra = sorted(set(spec) - {'translator', 'key', 'event_types',
                                'payload'})
    if extra:
        raise bad('unknown key(s) %s' % extra)
    translator = spec.get('translator')
    if not isinstance(translator, collections.abc.Mapping) or \
            len(tr_mod.get_tables(translator)) != 1:
        raise bad('translator must be a flat HDICT translator')
    columns = [c['name'] for c in tr_mod.table_columns(translator)]
    if spec.get('key') not in columns:
        raise bad('key %r is not one of the columns %s'
                  % (spec.get('key'), columns))
    events = spec.get('event_types')
    if not isinstance(events, collections.abc.Mapping) or not events or \
            any(a not in nt.ACTIONS for a in events.values()):
        raise bad('event_types must map event types to %s'
                  % ' or '.join(nt.ACTIONS))
    if 'payload' in spec and not callable(spec['payload']):
        raise bad('payload must be callable')


class _Endpoint(object):
    """Receives every notification priority for the driver."""

    def __init__(self, driver):
        self.driver = driver

    def _receive(self, ctxt, publisher_id, event_type, payload, metadata):
        self.driver.receive(event_type, payload, publisher_id)

    audit = debug = info = warn = error = critical = sample = _receive


class NotificationDriver(pushed.PushedDataSourceDriver):
    """Tables kept from the notifications services send."""

    DRIVER_INFO = {
        'id': 'notifications',
        'description': 'Rows made from oslo.messaging notifications '
                       'services already send (e.g. nova\'s versioned '
                       'instance.* notifications), by notification '
                       'translators.',
        'config': {'translators': 'optional', 'topics': 'optional',
                   'exchange': 'optional', 'pool': 'optional',
                   'transport_url': 'optional'},
        'secret': ['transport_url'],
    }

    def __init__(self, name='', args=None, transport=None, conf=None,
                 specs=None):
        super().__init__(name, args)
        if specs is None:
            names = _as_list(self.args.get('translators')) or \
                ['nova_instances']
            specs = {n: load_translator(n) for n in names}
        self.specs = {}
        self._events = {}
        for spec_name, spec in sorted(specs.items()):
            self._add_spec(spec_name, spec)
        self.counts = collections.Counter()
        self.topics = _as_list(self.args.get('topics')) or \
            ['versioned_notifications']
        self.exchange = self.args.get('exchange') or 'nova'
        self._conf = conf if conf is not None else cfg.CONF
        self._transport = transport
        self._listener = None

    def _add_spec(self, spec_name, spec):
        check_spec(spec_name, spec)
        self.register_translator(spec['translator'])
        table = spec['translator'][self.TABLE_NAME]
        self.specs[table] = spec
        for event_type, action in spec['event_types'].items():
            self._events.setdefault(event_type, []).append(
                (table, spec, action))

    # -- receiving ----------------------------------------------------------

    def receive(self, event_type, payload, publisher_id=None):
        """Apply one notification; never raises for bad input."""
        targets = self._events.get(event_type)
        if not targets:
            self.counts['ignored'] += 1
            return
        for table, spec, action in targets:
            try:
                self._apply(table, spec, action, payload)
            except (exceptions.CongressConsumerError, KeyError, TypeError,
                    ValueError, AttributeError) as exc:
                self.counts['discarded'] += 1
                LOG.warning('datasource %s table %s: %s notification from '
                            '%s discarded: %s: %s', self.name, table,
                            event_type, publisher_id, type(exc).__name__,
                            exc)
            else:
                self.counts['applied'] += 1

    def _apply(self, table, spec, action, payload):
        obj = spec['payload'](payload) if 'payload' in spec else payload
        rows = [row for name, row in
                self.convert_objs([obj], spec['translator'])
                if name == table]
        if len(rows) != 1:
            raise exceptions.InvalidDataError(
                reason='expected one row, got %d' % len(rows))
        row = rows[0]
        index = self.get_column_names(table).index(spec['key'])
        with self._lock:
            same_key = {r for r in self.state.get(table, ())
                        if r[index] == row[index]}
            if action == nt.DELETE:
                self.apply_row_deltas(table, to_del=same_key)
            else:
                self.apply_row_deltas(table, to_add={row},
                                      to_del=same_key - {row})

    # -- lifecycle ----------------------------------------------------------

    def start(self):
        """Start listening (no-op if listening)."""
        if self._listener is not None:
            return
        if self._transport is None:
            self._transport = oslo_messaging.get_notification_transport(
                self._conf, url=self.args.get('transport_url'))
        targets = [oslo_messaging.Target(topic=topic,
                                         exchange=self.exchange)
                   for topic in self.topics]
        self._listener = oslo_messaging.get_notification_listener(
            self._transport, targets, [_Endpoint(self)],
            executor='threading', pool=self.args.get('pool'))
        self._listener.start()
        LOG.info('datasource %s listening to %s on exchange %s', self.name,
                 ', '.join(self.topics), self.exchange)

    def stop(self):
        listener, self._listener = self._listener, None
        if listener is not None:
            listener.stop()
            listener.wait()

    def get_status(self):
        status = super().get_status()
        status.update(notifications=dict(self.counts),
                      listening=self._listener is not None,
                      topics=list(self.topics))
        return status
