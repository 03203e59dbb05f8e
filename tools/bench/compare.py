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

"""Item 1 side by side: this checkout's capture against another's.

``python -m tools.bench.compare --base /work/main`` runs the overhead
workloads of :mod:`overhead` (and, where nova imports, of
:mod:`nova_workload`) with five modes interleaved on one engine: off,
"on" and "capture only" (see :mod:`overhead`) with the base checkout's
library, and the same two with this checkout's. On a shared machine the
load drifts by more than the changes being measured; interleaving the
rounds (the order reversed every other round) charges the drift to every
mode alike, which back-to-back runs do not.

The base checkout's ``oslo_publish_tables`` is copied to a temporary
directory as ``oslo_publish_tables_base`` (imports rewritten), so both
versions live in one process; each has its own Sender and transport.
"""

import argparse
import importlib
import os
import re
import shutil
import sys
import tempfile
import time

from oslo_db.sqlalchemy import orm as db_orm
import sqlalchemy as sa

from publish_tables_demo import schema as demo_schema

from tools.bench import benchlib
from tools.bench import nova_workload
from tools.bench import overhead

MODES = ('off', 'on base', 'on new', 'capture base', 'capture new')


def load_base(checkout, workdir):
    """Import ``checkout``'s library as ``oslo_publish_tables_base``."""
    target = os.path.join(workdir, 'oslo_publish_tables_base')
    shutil.copytree(os.path.join(checkout, 'oslo_publish_tables'), target,
                    ignore=shutil.ignore_patterns('tests', '__pycache__'))
    for root, _, files in os.walk(target):
        for name in files:
            if name.endswith('.py'):
                path = os.path.join(root, name)
                with open(path) as f:
                    text = f.read()
                with open(path, 'w') as f:
                    f.write(re.sub(r'\boslo_publish_tables\b',
                                   'oslo_publish_tables_base', text))
    sys.path.insert(0, workdir)
    return {name: importlib.import_module('oslo_publish_tables_base.' + name)
            for name in ('publisher', 'sender', 'transport')}


class Library(object):
    """One version of the library: its conf, Sender and install()."""

    def __init__(self, publisher, sender_mod, transport_mod, tables,
                 exclude, topic):
        from oslo_config import cfg
        self.publisher = publisher
        self.conf = cfg.ConfigOpts()
        publisher.register_opts(self.conf)
        self.conf([], default_config_files=[])
        self.conf.set_override('tables', list(tables), 'publish_tables')
        self.conf.set_override('exclude_columns', list(exclude),
                               'publish_tables')
        notification = transport_mod.NotificationTransport(
            self.conf, topic, 'publish_tables.bench', driver='messagingv2',
            transport_url=benchlib.rabbit_url())
        self.sender = sender_mod.Sender(notification, heartbeat_interval=10)

    def close(self):
        self.sender.stop()
        self.sender.transport.close()


def _discard(draft):
    pass


def rounds(engine, libs, work, count, seconds):
    statements = [0]

    def _count(*args):
        statements[0] += 1

    sa.event.listen(engine, 'before_cursor_execute', _count)
    for lib in libs.values():  # warm up both paths and the AMQP links
        lib.publisher.install(engine, lib.conf, submit=lib.sender.submit)
        work.run_for(min(1.0, seconds))
        lib.publisher.uninstall(engine)
        lib.sender.flush(30)
    work.run_for(min(1.0, seconds))
    cpu = {m: 0.0 for m in MODES}
    tps = {m: [] for m in MODES}
    lat = {m: [] for m in MODES}
    sql = {m: 0 for m in MODES}
    for index in range(count):
        order = MODES if index % 2 == 0 else MODES[::-1]
        for mode in order:
            kind, _, version = mode.partition(' ')
            lib = libs.get(version)
            if lib is not None:
                submit = lib.sender.submit if kind == 'on' else _discard
                lib.publisher.install(engine, lib.conf, submit=submit)
            mark = len(work.commits)
            executed = statements[0]
            start = time.process_time()
            txns, elapsed = work.run_for(seconds)
            cpu[mode] += time.process_time() - start
            sql[mode] += statements[0] - executed
            if lib is not None:
                lib.publisher.uninstall(engine)
                lib.sender.flush(60)
            tps[mode].append(txns / elapsed)
            lat[mode].extend(work.commits[mark:])
    sa.event.remove(engine, 'before_cursor_execute', _count)
    return {m: {'tps': benchlib.median(tps[m]),
                'p50': benchlib.percentile(lat[m], 50) * 1e3,
                'p99': benchlib.percentile(lat[m], 99) * 1e3,
                'sql': sql[m] / len(lat[m]),
                'cpu': cpu[m] / len(lat[m]) * 1e3}
            for m in MODES}


def measure(backend, base_mods, new_mods, topic, count, seconds, nova):
    exclude = ['instances.user_data'] if nova else []
    tables = nova_workload.PUBLISHED if nova else demo_schema.PUBLISHED
    libs = {}
    with benchlib.scratch_database(backend) as url:
        if nova:
            engine, restore = nova_workload.prepare_engine(backend, url)
            from nova import context as nova_context
            work = nova_workload.Workload(nova_context.get_admin_context())
        else:
            engine, restore = sa.create_engine(url), None
            demo_schema.create(engine)
            work = overhead.Workload(db_orm.get_maker(engine))
        try:
            for version, mods in (('base', base_mods), ('new', new_mods)):
                libs[version] = Library(
                    mods['publisher'], mods['sender'], mods['transport'],
                    tables, exclude, topic)
            return rounds(engine, libs, work, count, seconds)
        finally:
            for lib in libs.values():
                lib.close()
            engine.dispose()
            if restore is not None:
                restore()


def report(name, figures):
    off = figures['off']
    print('%-22s off %6.1f tx/s p99 %6.2f ms SQL %.1f CPU %.2f ms'
          % (name, off['tps'], off['p99'], off['sql'], off['cpu']))
    for mode in MODES[1:]:
        f = figures[mode]
        print('  %-13s on/off %.3f  tx/s %6.1f  p99 %6.2f ms (%+6.2f)  '
              'p50 %5.2f  SQL/txn %.1f  CPU ms/txn %.2f (off/this %.3f)'
              % (mode, f['tps'] / off['tps'], f['tps'], f['p99'],
                 f['p99'] - off['p99'], f['p50'], f['sql'], f['cpu'],
                 off['cpu'] / f['cpu']))
    sys.stdout.flush()


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--base', required=True,
                        help='checkout whose library is the baseline')
    parser.add_argument('--backends', default='sqlite,postgresql,mysql')
    parser.add_argument('--rounds', type=int, default=5)
    parser.add_argument('--seconds', type=float, default=3.0)
    parser.add_argument('--no-nova', action='store_true')
    args = parser.parse_args()
    workdir = tempfile.mkdtemp(prefix='pt_compare_')
    try:
        base = load_base(args.base, workdir)
        new = {name: importlib.import_module('oslo_publish_tables.' + name)
               for name in ('publisher', 'sender', 'transport')}
        with benchlib.scratch_topic('pt_bench_compare_') as (topic, _):
            for backend in args.backends.split(','):
                report(backend, measure(backend, base, new, topic,
                                        args.rounds, args.seconds, False))
                if not args.no_nova and nova_workload.available():
                    report('nova ' + backend, measure(
                        backend, base, new, topic, args.rounds,
                        args.seconds, True))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == '__main__':
    main()
