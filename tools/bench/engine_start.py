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

"""What the plugin adds to engine creation and the first connection.

``python -m tools.bench.engine_start [--backends sqlite,postgresql,mysql]
[--tables 111] [--repeat 7] [--delivery direct|durable] [--nova]
[--profile]``

Each sample is a fresh Python process, as a service's first engine is:
it imports what a service has imported before it creates its engine
(SQLAlchemy, the driver, oslo.config, oslo.db, oslo.messaging), reads
its configuration into the global ``cfg.CONF`` as nova does (the
``[publish_tables]`` options, a topic of its own on the real RabbitMQ),
and then times, with ``time.perf_counter`` (wall) and
``time.thread_time`` (the thread's CPU):

* ``import``: what SQLAlchemy does first at a ``create_engine`` naming
  the plugin (``sqlalchemy.dialects.plugins.load``): find it among the
  installed packages' entry points and import ``oslo_publish_tables.
  plugin`` with what it pulls in that the service had not imported
  (plugin on only). SQLAlchemy keeps what it found: once per process,
  so apart;
* ``create``: ``sqlalchemy.create_engine(url)`` (plugin off: the plain
  URL; on: ``?plugin=publish_tables``);
* ``connect``: the engine's first ``connect()``, where the plugin
  installs publishing;
* ``second``: ``create`` plus ``connect`` of a second engine in the same
  process (a service with several databases).

Plugin off and on alternate, ``--repeat`` times each; the table gives
the median and the minimum of each figure. The database holds
``--tables`` tables (all configured in ``[publish_tables] tables``), or
with ``--nova`` (in ``tox -e nova``) nova's main models' tables.
``--profile`` runs one more plugin-on sample under cProfile (thread CPU
clock) and prints the calls under both engines' creation and connection.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid

from tools.bench import benchlib

_CHILD_IMPORTS = ('sqlalchemy', 'oslo_config.cfg',
                  'oslo_db.sqlalchemy.enginefacade', 'oslo_messaging')
_DRIVERS = {benchlib.SQLITE: 'sqlite3', benchlib.POSTGRESQL: 'psycopg2',
            benchlib.MYSQL: 'pymysql'}
FIGURES = ('import', 'create', 'connect', 'second')


def _schema(url, count, nova):
    """Create the tables; return their names."""
    import sqlalchemy as sa
    engine = sa.create_engine(url)
    try:
        if nova:
            from nova.db.main import models
            metadata = models.BASE.metadata
        else:
            metadata = sa.MetaData()
            for n in range(count):
                sa.Table('bench_%03d' % n, metadata,
                         sa.Column('id', sa.Integer, primary_key=True),
                         sa.Column('uuid', sa.String(36)),
                         sa.Column('host', sa.String(255)),
                         sa.Column('deleted', sa.Integer))
        metadata.create_all(engine)
        return sorted(metadata.tables)
    finally:
        engine.dispose()


def _outbox(url):
    from oslo_publish_tables.outbox import migration
    import sqlalchemy as sa
    engine = sa.create_engine(url)
    try:
        migration.upgrade(engine)
    finally:
        engine.dispose()


def _config_file(tables, delivery):
    """The service's configuration; a topic of its own per sample."""
    handle, path = tempfile.mkstemp(suffix='.conf', prefix='pt_bench_')
    with os.fdopen(handle, 'w') as f:
        f.write('[publish_tables]\ntables = %s\ndelivery = %s\n'
                'transport_url = %s\ntopic = pt_bench_%s\n'
                % (','.join(tables), delivery, benchlib.rabbit_url(),
                   uuid.uuid4().hex[:12]))
    return path


def child(args):
    """One sample: print the figures as JSON (see the module)."""
    import importlib
    for name in _CHILD_IMPORTS + (_DRIVERS[args.backend],):
        importlib.import_module(name)
    from oslo_config import cfg
    import sqlalchemy as sa
    cfg.CONF([], project='pt_bench', default_config_files=[args.config])
    url = args.url
    figures = {'import': 0.0, 'import_cpu': 0.0}
    if args.plugin:
        url += ('&' if '?' in url else '?') + 'plugin=publish_tables'
        # What SQLAlchemy does first at a create_engine naming a plugin:
        # find it among the packages' entry points, import it.
        from sqlalchemy.dialects import plugins
        figures['import'], figures['import_cpu'] = _timed(
            lambda: plugins.load('publish_tables'))
    profiler = None
    if args.profile:
        import cProfile
        profiler = cProfile.Profile(time.thread_time)
    engines = []
    for label in ('first', 'second'):
        if profiler is not None:
            profiler.enable()
        engine, create = _timed(lambda: sa.create_engine(url), True)
        connection, connect = _timed(engine.connect, True)
        if profiler is not None:
            profiler.disable()
        connection.close()
        engines.append(engine)
        if label == 'first':
            figures['create'], figures['create_cpu'] = create
            figures['connect'], figures['connect_cpu'] = connect
        else:
            figures['second'] = create[0] + connect[0]
            figures['second_cpu'] = create[1] + connect[1]
    _close(engines, args.plugin)
    if profiler is not None:
        import pstats
        pstats.Stats(profiler, stream=sys.stderr).sort_stats(
            'cumulative').print_stats(
                int(os.environ.get('PT_BENCH_PROFILE_LINES', 40)))
    print(json.dumps(figures))


def _timed(func, keep=False):
    wall, cpu = time.perf_counter(), time.thread_time()
    result = func()
    spent = (time.perf_counter() - wall, time.thread_time() - cpu)
    return (result, spent) if keep else spent


def _close(engines, plugin):
    if plugin:
        from oslo_publish_tables import publisher
        for engine in engines:
            publisher.uninstall(engine)
    for engine in engines:
        engine.dispose()


def _sample(backend, url, tables, delivery, plugin, profile=False):
    config = _config_file(tables, delivery)
    try:
        return _run_child(backend, url, config, plugin, profile)
    finally:
        os.unlink(config)


def _run_child(backend, url, config, plugin, profile):
    command = [sys.executable, '-m', 'tools.bench.engine_start', '--child',
               '--backends', backend, '--url', url, '--config', config]
    if plugin:
        command.append('--plugin')
    if profile:
        command.append('--profile')
    done = subprocess.run(command, stdout=subprocess.PIPE,
                          stderr=None if profile else subprocess.PIPE,
                          text=True, timeout=300, check=False)
    if done.returncode:
        raise RuntimeError('sample failed: %s' % (done.stderr or '')[-2000:])
    return json.loads(done.stdout.strip().splitlines()[-1])


def measure(backend, args):
    """{'off': [samples], 'on': [samples]} for ``backend``."""
    with benchlib.scratch_database(backend) as url:
        tables = _schema(url, args.tables, args.nova)
        if args.delivery == 'durable':
            _outbox(url)
        samples = {'off': [], 'on': []}
        for _ in range(args.repeat):
            for mode in ('off', 'on'):
                samples[mode].append(_sample(backend, url, tables,
                                             args.delivery, mode == 'on'))
        if args.profile:
            _sample(backend, url, tables, args.delivery, True, profile=True)
        return len(tables), samples


def _row(name, count, mode, samples):
    row = [name, count, mode]
    for figure in FIGURES:
        values = [s[figure] for s in samples]
        cpu = [s[figure + '_cpu'] for s in samples]
        row.append('%.4f / %.4f' % (statistics.median(values), min(values)))
        row.append('%.4f' % statistics.median(cpu))
    return row


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--backends', default='sqlite,postgresql,mysql')
    parser.add_argument('--tables', type=int, default=111)
    parser.add_argument('--repeat', type=int, default=7)
    parser.add_argument('--delivery', default='direct',
                        choices=('direct', 'durable'))
    parser.add_argument('--nova', action='store_true')
    parser.add_argument('--profile', action='store_true')
    parser.add_argument('--child', action='store_true',
                        help=argparse.SUPPRESS)
    parser.add_argument('--plugin', action='store_true',
                        help=argparse.SUPPRESS)
    parser.add_argument('--url', help=argparse.SUPPRESS)
    parser.add_argument('--config', help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    benchlib.quiet_warnings()
    benchlib.quiet_logging()
    if args.child:
        args.backend = args.backends
        return child(args)
    rows = []
    for backend in args.backends.split(','):
        ok, reason = benchlib.available(backend)
        if not ok:
            print('skipped %s: %s' % (backend, reason))
            continue
        count, samples = measure(backend, args)
        for mode in ('off', 'on'):
            rows.append(_row(benchlib.NAMES[backend], count, mode,
                             samples[mode]))
    headers = ['backend', 'tables', 'plugin']
    for figure in FIGURES:
        headers += [figure + ' s (median / min)', 'cpu s']
    benchlib.table('Engine start, %s mode, %d samples each (seconds)'
                   % (args.delivery, args.repeat), headers, rows)
    print('load average: %.1f %.1f %.1f' % os.getloadavg())


if __name__ == '__main__':
    main()
