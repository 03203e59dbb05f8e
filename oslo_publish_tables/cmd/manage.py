"""``publish-tables-manage``: database commands for durable mode.

Run it with the service's configuration file, like the agent::

    publish-tables-manage --config-file /etc/nova/nova.conf db_sync
    publish-tables-manage --config-file /etc/nova/nova.conf db_version

``db_sync`` creates (or upgrades) the ``publish_tables_outbox`` table in
the database of ``[database] connection`` with the alembic migrations
shipped in :mod:`oslo_publish_tables.outbox`; ``db_version`` prints the
outbox schema revision (``None`` before the first ``db_sync``).
"""

import sys

from oslo_config import cfg
from oslo_db.sqlalchemy import engines
import sqlalchemy as sa

from oslo_publish_tables.cmd import agent
from oslo_publish_tables import exceptions
from oslo_publish_tables.outbox import migration
from oslo_publish_tables.protocol import redaction

PROJECT = 'publish-tables-manage'


def _add_commands(subparsers):
    sync = subparsers.add_parser('db_sync', help='create or upgrade the '
                                 'publish_tables_outbox table')
    sync.add_argument('revision', nargs='?', default='head')
    sync.set_defaults(func=_db_sync)
    show = subparsers.add_parser('db_version', help='print the outbox '
                                 'schema revision')
    show.set_defaults(func=_db_version)


_command_opt = cfg.SubCommandOpt('command', title='Commands',
                                 handler=_add_commands)


def _engine(conf):
    url, _ = agent.database_url(conf)
    return engines.create_engine(url, logging_name=PROJECT)


def _db_sync(conf, out):
    engine = _engine(conf)
    try:
        migration.upgrade(engine, conf.command.revision)
        out.write('%s\n' % migration.version(engine))
    finally:
        engine.dispose()


def _db_version(conf, out):
    engine = _engine(conf)
    try:
        out.write('%s\n' % migration.version(engine))
    finally:
        engine.dispose()


def main(argv=None, conf=None, out=None):
    """Entry point of ``publish-tables-manage``; returns the exit status."""
    conf = cfg.ConfigOpts() if conf is None else conf
    agent.register_opts(conf)
    conf.register_cli_opt(_command_opt)
    conf(sys.argv[1:] if argv is None else argv, project=PROJECT)
    try:
        conf.command.func(conf, out or sys.stdout)
    except (exceptions.PublishTablesError, sa.exc.SQLAlchemyError) as exc:
        sys.stderr.write('%s: %s\n' % (PROJECT, redaction.redact(exc)))
        return 1
    return 0


if __name__ == '__main__':
    sys.exit(main())
