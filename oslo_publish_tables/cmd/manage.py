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

"""``publish-tables-manage``: database commands for durable mode.

Run it with the service's configuration file, like the agent::

    publish-tables-manage --config-file /etc/nova/nova.conf db_sync
    publish-tables-manage --config-file /etc/nova/nova.conf db_version

``db_sync`` creates (or upgrades) the ``publish_tables_outbox`` table in
the database of ``[database] connection`` with the alembic migrations
shipped in :mod:`oslo_publish_tables.outbox`; ``db_version`` prints the
outbox schema revision (``None`` before the first ``db_sync``).
``outbox_wait`` waits until the relay has emptied the outbox (before a
maintenance, or to watch a backlog drain), with a progress bar on a
terminal and progress lines otherwise; it fails after ``--timeout``
seconds with rows left.
"""

import sys
import time

from oslo_config import cfg
from oslo_db.sqlalchemy import engines
import sqlalchemy as sa

from oslo_publish_tables.cmd import agent
from oslo_publish_tables import exceptions
from oslo_publish_tables.outbox import migration
from oslo_publish_tables.outbox import store as store_mod
from oslo_publish_tables import progress
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
    wait = subparsers.add_parser('outbox_wait', help='wait until the '
                                 'outbox is empty, showing progress')
    wait.add_argument('--timeout', type=float, default=3600.0,
                      help='seconds to wait at most (default 3600)')
    wait.add_argument('--interval', type=float, default=1.0,
                      help='seconds between two counts (default 1)')
    wait.set_defaults(func=_outbox_wait)


_command_opt = cfg.SubCommandOpt('command', title='Commands',
                                 handler=_add_commands)


def _engine(conf):
    url, _ = agent.database_url(conf)
    return engines.create_engine(url, logging_name=PROJECT)


def _outbox_schema(conf):
    """``[publish_tables] outbox_schema``, from the plugin's own file too."""
    _, config_file = agent.database_url(conf)
    return agent.conf_of_plugin(conf, config_file)['publish_tables'] \
        .outbox_schema


def _db_sync(conf, out):
    engine = _engine(conf)
    try:
        where = _outbox_schema(conf)
        migration.upgrade(engine, conf.command.revision, where)
        out.write('%s\n' % migration.version(engine, where))
    finally:
        engine.dispose()


def _db_version(conf, out):
    engine = _engine(conf)
    try:
        out.write('%s\n' % migration.version(engine, _outbox_schema(conf)))
    finally:
        engine.dispose()


class OutboxNotEmpty(exceptions.PublishTablesError):
    """``outbox_wait`` timed out with rows left."""


def _outbox_wait(conf, out):
    clock, sleep = time.monotonic, time.sleep
    engine = _engine(conf)
    try:
        store = store_mod.OutboxStore(
            engine, schema_name=_outbox_schema(conf))
        first = left = store.count()
        display = progress.cli_progress('outbox of %s' % engine.url.database,
                                        total=first, clock=clock)
        deadline = clock() + conf.command.timeout
        while left and clock() < deadline:
            sleep(conf.command.interval)
            now_left = store.count()
            # New records may arrive meanwhile: count what went out.
            display.update(max(left - now_left, 0))
            left = now_left
        display.close()
        if left:
            raise OutboxNotEmpty('%d outbox rows left after %.0f s'
                                 % (left, conf.command.timeout))
        out.write('outbox empty\n')
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
