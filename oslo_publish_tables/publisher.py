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

"""Install and uninstall publishing on an engine or an enginefacade.

From code::

    from oslo_publish_tables import publisher

    publisher.install(engine, conf)      # conf: your oslo.config ConfigOpts
    ...
    publisher.uninstall(engine)

or on an oslo.db enginefacade context manager, for every engine it
creates from now on::

    publisher.install_on_context(main_context_manager, conf)
    publisher.uninstall_from_context(main_context_manager)

Options are read from ``conf``'s ``[publish_tables]`` group, registered
by these calls (never at import time). All engines of a process that use
the same transport, topic and driver share one background
:class:`~oslo_publish_tables.sender.Sender`.
"""

import socket
import threading

from oslo_config import cfg

from oslo_publish_tables.capture import listeners
from oslo_publish_tables.capture import reflection
from oslo_publish_tables.capture import tables as tables_mod
from oslo_publish_tables import exceptions
from oslo_publish_tables import metrics
from oslo_publish_tables import opts
from oslo_publish_tables.outbox import attached
from oslo_publish_tables.outbox import store as outbox_store
from oslo_publish_tables.protocol import signing
from oslo_publish_tables import sender as sender_mod
from oslo_publish_tables import sending

GROUP = 'publish_tables'


_lock = threading.Lock()
_senders = {}
_exporters = {}  # key -> metrics.ProducerExporter (or None)
_installed = {}


register_opts = opts.register_opts


def _sender_for(conf):
    group = conf[GROUP]
    # The signing key is not part of the key: a process has one
    # [publish_tables] and the first engine's configuration signs.
    key = (group.transport_url, group.topic, group.driver)
    with _lock:
        entry = _senders.get(key)
        if entry is None:
            signer = signing.signer_from_conf(conf)  # may raise ConfigError
            transport = sending.make_transport(
                conf, group.topic,
                group.publisher_id or 'publish_tables.%s'
                % socket.gethostname(),
                group.driver, group.transport_url, group.sending)
            entry = _senders[key] = [sender_mod.Sender(
                transport, group.max_batch_changes, group.spool_size,
                group.heartbeat_interval, group.max_retry_interval,
                group.shutdown_timeout, group.min_send_interval,
                signer=signer, compression=group.compression), 0]
            _exporters[key] = metrics.attach_producer(entry[0], group.topic)
        entry[1] += 1
        return key, entry[0]


def _release_sender(key):
    with _lock:
        entry = _senders.get(key)
        if entry is None:
            return
        entry[1] -= 1
        if entry[1] > 0:
            return
        del _senders[key]
        exporter = _exporters.pop(key, None)
    entry[0].stop()
    entry[0].transport.close()
    if exporter is not None:
        exporter.stop()


def _unless_in_outbox(submit):
    """``delivery = relayed``: the agent publishes what the outbox holds.

    Only records that never reached the outbox (the resync marker of a
    ``COMMIT`` whose outcome is unknown) go to the process's sender.
    """
    def submit_unless_in_outbox(draft):
        if getattr(draft, 'outbox_id', None) is None:
            submit(draft)
    return submit_unless_in_outbox


def _check(connection, engine, group):
    """The lazy registry of ``group``'s tables; ConfigError if unusable.

    No table is reflected here, each is on first use
    (:mod:`.capture.reflection`): one query lists the tables, to warn of
    the missing ones; durable mode finds its outbox in that list (with
    ``outbox_schema``, in one more query of that schema).
    """
    registry = reflection.LazyRegistry(
        engine, group.tables, group.exclude_columns,
        check_interval=group.schema_check_interval)
    existing = tables_mod.existing_tables(connection)
    registry.warn_missing(connection, existing)
    if group.delivery in outbox_store.OUTBOX_MODES:
        outbox_store.OutboxStore.check(
            connection, registry.names, group.delivery, group.outbox_schema,
            existing=None if group.outbox_schema else existing)
    return registry


def install(engine, conf=None, submit=None, connection=None):
    """Publish committed changes of ``engine``'s configured tables.

    ``conf`` defaults to the global :data:`oslo_config.cfg.CONF`. A bad
    option value raises
    :class:`~oslo_publish_tables.exceptions.ConfigError` naming it. The
    tables are reflected on first use: a configured table that does not
    exist is logged as a warning now and published once it exists; an
    excluded column that does not exist is reported on the table's
    first write. ``submit`` replaces the shared sender
    (for tests and tools). ``connection``, a new connection of
    ``engine`` with nothing run on it yet, is used for that check
    instead of one of its own (the plugin's deferred
    install, see :mod:`.plugin`).
    Returns the :class:`~.capture.listeners.EngineCapture`.
    """
    conf = cfg.CONF if conf is None else conf
    register_opts(conf)
    group = conf[GROUP]
    where = _attached_outbox(group)
    attached.listen(engine, where)  # SQLite: every later connection
    try:
        if connection is not None:
            try:
                attached.attach(connection, where)  # and this one
                registry = _check(connection, engine, group)
            finally:
                connection.rollback()
        else:
            registry = _check_on_own(engine, group, where)
        return _install_registry(engine, conf, group, registry, submit)
    except BaseException:
        attached.unlisten(engine, where)
        raise


def _attached_outbox(group):
    """The outbox database to attach on SQLite connections, or None."""
    if group.delivery in outbox_store.OUTBOX_MODES:
        return group.outbox_schema
    return None


def _check_on_own(engine, group, where):
    with engine.connect() as connection:
        try:
            attached.attach(connection, where)
            return _check(connection, engine, group)
        finally:
            # Inside create_engine (the plugin) the engine's other
            # listeners, such as oslo.db's, are not there yet: this
            # connection missed their set-up and must not be pooled.
            # End the check's transaction first: rollback listeners
            # (oslo.db's on SQLite) fail on an invalidated connection.
            connection.rollback()
            connection.invalidate()


def _install_registry(engine, conf, group, registry, submit):
    key = None
    if submit is None:
        key, sender = _sender_for(conf)
        submit = sender.submit
    if group.delivery == outbox_store.RELAYED:
        submit = _unless_in_outbox(submit)
    capture = listeners.EngineCapture(registry, submit, strict=group.strict,
                                      clock_source=group.clock)
    if group.delivery in outbox_store.OUTBOX_MODES:
        capture.outbox = outbox_store.OutboxStore(
            engine, schema_name=group.outbox_schema)
    with _lock:
        duplicate = engine in _installed
        if not duplicate:
            _installed[engine] = (capture, key, _attached_outbox(group))
    if duplicate:
        if key is not None:
            _release_sender(key)  # takes _lock itself: not while held
        raise exceptions.PublishTablesError(
            'publishing is already installed on %r' % engine)
    if capture.outbox is not None:
        capture.outbox.install()
    capture.install(engine)
    if key is not None and group.delivery != outbox_store.RELAYED:
        sender.start()  # announce the producer (in relayed mode the agent)
    return capture


def uninstall(engine):
    """Undo :func:`install`; flushes the sender when it was the last."""
    with _lock:
        capture, key, where = _installed.pop(engine, (None, None, None))
    if capture is None:
        return
    capture.uninstall()
    if capture.outbox is not None:
        capture.outbox.uninstall()
    attached.unlisten(engine, where)
    if key is not None:
        _release_sender(key)


def installed(engine):
    """Return the EngineCapture installed on ``engine``, or None."""
    entry = _installed.get(engine)
    return entry[0] if entry else None


class _ContextHook(object):
    def __init__(self, conf):
        self.conf = conf
        self.engines = []
        self.enabled = True

    def __call__(self, engine):
        if self.enabled:
            install(engine, self.conf)
            self.engines.append(engine)


_context_hooks = {}


def install_on_context(context_manager, conf=None):
    """Install on every engine an enginefacade context manager creates."""
    hook = _ContextHook(conf)
    _context_hooks[id(context_manager)] = hook
    context_manager.append_on_engine_create(hook)
    return hook


def uninstall_from_context(context_manager):
    """Undo :func:`install_on_context` on engines it created."""
    hook = _context_hooks.pop(id(context_manager), None)
    if hook is None:
        return
    hook.enabled = False
    for engine in hook.engines:
        uninstall(engine)
    hook.engines = []
