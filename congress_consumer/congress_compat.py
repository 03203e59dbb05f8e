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

"""Run OpenStack Congress 11 on Python 3.10+ with this project's drivers.

Congress 11.0.0 (its last release) predates Python 3.10: it imports
``collections.MutableSet`` and ``collections.Hashable``, moved to
:mod:`collections.abc`, and its DSE2 bus runs under
``eventlet.monkey_patch()``. :func:`apply` does both, before anything of
Congress is imported, then imports ``congress.common.config`` (Congress
registers its options there first). It is the one compatibility step,
used by the console script below and by ``tox -e congress``. Both
commands below run a policy engine that follows a datasource's new
columns (Congress 11 takes a datasource's schema once; see
:mod:`congress_consumer.congress_schema` and
:func:`follow_schemas_in_server`).

``congress-with-publish-tables`` (or ``python -m
congress_consumer.congress_compat``) applies it, then runs:

``congress-with-publish-tables server [congress-server options]``
    Congress's own ``congress-server`` (its API, policy engine and
    datasource nodes, per its ``--config-file``); the drivers of this
    distribution are on Congress's ``congress.datasource.drivers``
    entry point.
``congress-with-publish-tables engine --config-file FILE``
    a DSE2 node with Congress's policy engine
    (:class:`PolicyEngine`) and the datasources of ``[engine]
    datasources`` (see :func:`engine_opts`), without Congress's
    database: Congress 11's database code does not run on current
    oslo.db, so the policy-rule synchronizer is off and each datasource
    is registered with the engine as the synchronizer would.
"""

import collections
import collections.abc
import sys
import threading

_ALIASES = ('MutableSet', 'Hashable', 'Mapping', 'MutableMapping',
            'Sequence', 'Iterable', 'Callable')
_applied = threading.Event()


def apply():
    """Make this Python able to run Congress 11; idempotent."""
    if _applied.is_set():
        return
    import eventlet

    eventlet.monkey_patch()
    for name in _ALIASES:
        if not hasattr(collections, name):
            setattr(collections, name, getattr(collections.abc, name))
    import congress.common.config  # noqa: Congress's options come first
    _applied.set()


def follow_schemas_in_server():
    """Have ``congress-server``'s engine follow new columns.

    Congress's harness creates ``agnostic.DseRuntime``; it is given a
    copy of that module whose ``DseRuntime`` is
    :func:`congress_consumer.congress_schema.following` of Congress's
    (Congress's own methods name ``DseRuntime`` in ``super()``, so the
    module's class itself stays).
    """
    import types

    from congress import harness
    from congress.policy_engines import agnostic

    from congress_consumer import congress_schema

    module = types.ModuleType(agnostic.__name__, agnostic.__doc__)
    module.__dict__.update(vars(agnostic))
    module.DseRuntime = congress_schema.following(agnostic.DseRuntime)
    harness.agnostic = module


def policy_engine_class():
    """Congress's ``DseRuntime`` without the database synchronizer.

    It follows its datasources' new columns
    (:mod:`congress_consumer.congress_schema`).
    """
    from congress.policy_engines import agnostic

    from congress_consumer import congress_schema

    class PolicyEngine(congress_schema.following(agnostic.DseRuntime)):
        """The policy engine; policies live in memory only."""

        def set_synchronizer(self):
            self.synchronizer = None

    return PolicyEngine


def add_datasource(node, engine, name, driver, config):
    """Create datasource ``name`` as Congress's datasource manager does.

    Validates ``config`` against the driver's info, loads the driver
    from ``congress.datasource.drivers``, registers the service on
    ``node`` and gives ``engine`` its schema.

    :returns: the datasource service.
    """
    node.load_drivers()
    request = {'name': name, 'driver': driver, 'config': dict(config)}
    node.validate_create_datasource(request)
    service = node.create_datasource_service(request)
    node.register_service(service)
    schema = node.invoke_service_rpc(name, 'get_datasource_schema',
                                     {'source_id': name})
    engine.initialize_datasource(name, schema)
    return service


def engine_opts():
    """The ``[engine]`` options of the ``engine`` command."""
    from oslo_config import cfg

    return [
        cfg.StrOpt('node_id', default='publish-tables-engine',
                   help='Name of the DSE2 node.'),
        cfg.ListOpt('datasources', default=[],
                    help='Datasources to create; each <name> has a '
                         'section [engine_datasource_<name>] with a '
                         '"driver" and the driver\'s config options.'),
        cfg.MultiStrOpt('rules', default=[],
                        help='policy:rule entries inserted at start, e.g. '
                             'classification:error(id) :- '
                             'nova:instances(uuid=id, vm_state="error")'),
        cfg.BoolOpt('publish_policy_tables', default=False,
                    help='Publish the policy tables that downstream '
                         'publish_tables drivers subscribe to: deltas on '
                         '<policy_topic_prefix>.policies, snapshots over '
                         'RPC on <policy_topic_prefix>_snapshot.policies, '
                         'on [DEFAULT] transport_url.'),
        cfg.StrOpt('policy_topic_prefix', default='congress_tables',
                   help='Topic prefix of the published policy tables.'),
    ]


def _sections(conf, prefix):
    """``{section: {option: value}}`` of the config files' sections."""
    from oslo_config import cfg

    found = {}
    for path in conf.config_file or []:
        sections = {}
        cfg.ConfigParser(path, sections).parse()
        for section, options in sections.items():
            if section.startswith(prefix):
                found.setdefault(section, {}).update(
                    {k: v[-1] for k, v in options.items()})
    return found


def start_engine(conf):
    """Build and start the node, engine and datasources of ``conf``."""
    import uuid

    from congress.datalog import compile as datalog_compile
    from congress.dse2 import dse_node

    group = conf.engine
    node = dse_node.DseNode(conf, group.node_id, [],
                            partition_id=uuid.uuid4().hex)
    engine = policy_engine_class()('__engine')
    node.register_service(engine)
    sections = _sections(conf, 'engine_datasource_')
    for name in group.datasources:
        config = dict(sections.get('engine_datasource_' + name, {}))
        driver = config.pop('driver', 'publish_tables')
        add_datasource(node, engine, name, driver, config)
    for entry in group.rules:
        policy, _sep, rule = entry.partition(':')
        if policy not in engine.policy_names():
            engine.create_policy(policy)
        engine.process_policy_update([datalog_compile.Event(
            datalog_compile.parse1(rule), target=policy)])
    return node, engine


def publish_policy_tables(conf, engine, name='policies'):
    """Serve ``engine``'s policy tables to downstream drivers.

    :returns: a callable that stops publishing.
    """
    import oslo_messaging

    from oslo_publish_tables import sender as sender_mod
    from oslo_publish_tables import transport as transport_mod

    from congress_consumer import policy_tables
    from congress_consumer.subscriptions import republisher as rep_mod

    topic, rpc_topic = rep_mod.topics(conf.engine.policy_topic_prefix,
                                      name)
    sender = sender_mod.Sender(transport_mod.NotificationTransport(
        conf, topic, 'congress.%s' % name))
    republisher = policy_tables.PolicyRepublisher(engine, sender)
    rpc = oslo_messaging.get_rpc_transport(conf)
    server = rep_mod.rpc_server(rpc, republisher, rpc_topic,
                                server=conf.engine.node_id)
    server.start()

    def stop():
        server.stop()
        server.wait()
        republisher.detach()
        sender.stop()
        rpc.cleanup()
    return stop


def _run_engine(argv):
    from oslo_config import cfg
    from oslo_log import log as logging

    conf = cfg.CONF
    conf.register_opts(engine_opts(), group='engine')
    conf(argv, project='congress')
    logging.setup(conf, 'congress')
    node, engine = start_engine(conf)
    stop = None
    if conf.engine.publish_policy_tables:
        stop = publish_policy_tables(conf, engine)
    try:
        node.wait()
    except KeyboardInterrupt:
        pass
    finally:
        if stop is not None:
            stop()
        node.stop()
    return 0


def main(argv=None):
    """``congress-with-publish-tables {server|engine} [options]``."""
    argv = list(sys.argv[1:] if argv is None else argv)
    command = argv.pop(0) if argv else ''
    if command not in ('server', 'engine'):
        sys.stderr.write('usage: congress-with-publish-tables '
                         '{server|engine} [options]\n')
        return 2
    apply()
    if command == 'engine':
        return _run_engine(argv)
    from congress.server import congress_server

    follow_schemas_in_server()
    sys.argv = ['congress-server'] + argv
    return congress_server.main()


if __name__ == '__main__':
    sys.exit(main())
