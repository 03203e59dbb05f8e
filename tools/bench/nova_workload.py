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

"""Issue item 1 with nova's real database API (``nova.db.main.api``).

Only where nova is installed (``tox -e nova``, or ``tox -e bench`` with
nova added); :func:`available` says so. The schema comes from nova's own
migrations and every call goes through nova's enginefacade, as in a
nova-conductor. One cycle is an instance's life in ten calls, each one
writer transaction: ``instance_create`` (with metadata, system metadata,
info cache and extra rows), three ``instance_update_and_get_original``
state transitions (one with ``expected_task_state``), an
``instance_update`` of metadata in place, ``instance_info_cache_update``,
``instance_extra_update_by_uuid``, ``instance_tag_set``,
``instance_metadata_update`` and ``instance_destroy``. The latency is
that of the whole call.
"""

import time

import sqlalchemy as sa

from tools.bench import benchlib


try:
    from oslo_db.sqlalchemy import enginefacade

    import nova.conf
    from nova import context as nova_context
    from nova.db.main import api as nova_db
    from nova.db import migration as nova_migration
except ImportError as exc:  # the default environments lack nova
    nova_db = None
    MISSING = str(exc)
else:
    MISSING = ''

PUBLISHED = ('instances', 'instance_extra', 'instance_info_caches',
             'instance_metadata', 'instance_system_metadata', 'tags',
             'block_device_mapping', 'compute_nodes', 'security_groups')


def available():
    return nova_db is not None


class Workload(benchlib.Cycles):
    """The nova cycle; same interface as ``overhead.Workload``."""

    def __init__(self, ctxt):
        self.ctxt = ctxt
        self.cycles = 0
        self.commits = []        # seconds per call (one transaction each)
        self.rollbacks = 0

    def _call(self, func, *args):
        start = time.perf_counter()
        result = func(self.ctxt, *args)
        self.commits.append(time.perf_counter() - start)
        return result

    def cycle(self):
        n = self.cycles = self.cycles + 1
        ident = self._call(nova_db.instance_create, {
            'project_id': 'project-1', 'user_id': 'user-1',
            'host': 'compute-%d' % (n % 16), 'node': 'node-1',
            'vm_state': 'building', 'task_state': 'scheduling',
            'memory_mb': 2048, 'vcpus': 2, 'root_gb': 20,
            'display_name': 'vm-%d' % n, 'user_data': 'x' * 200,
            'metadata': {'role': 'web', 'owner': 'u%d' % n},
            'system_metadata': {'image_os_type': 'linux'}})['uuid']
        for old, new in (('scheduling', 'networking'),
                         ('networking', 'spawning'), ('spawning', None)):
            self._call(nova_db.instance_update_and_get_original, ident,
                       {'task_state': new, 'expected_task_state': old,
                        'vm_state': 'active' if new is None
                        else 'building'})
        self._call(nova_db.instance_update, ident,
                   {'metadata': {'role': 'db', 'tier': 'gold'}})
        self._call(nova_db.instance_info_cache_update, ident,
                   {'network_info': '[{"id": "vif-%d"}]' % n})
        self._call(nova_db.instance_extra_update_by_uuid, ident,
                   {'numa_topology': '{"cells": []}'})
        self._call(nova_db.instance_tag_set, ident, ['web', 'prod'])
        self._call(nova_db.instance_metadata_update, ident,
                   {'role': 'cache'}, False)
        self._call(nova_db.instance_destroy, ident)


def _nova_engine(url):
    """nova's schema by its migrations, and nova's own writer engine."""
    conf = nova.conf.CONF
    conf([], project='nova', default_config_files=[],
         default_config_dirs=[])
    ctxt = nova_context.get_admin_context()
    ctxt.db_connection = nova_db.create_context_manager(url)
    try:
        nova_migration.db_sync(database='main', context=ctxt)
    finally:
        ctxt.db_connection.writer.get_engine().dispose()
    conf.set_override('connection', url, group='database')
    restore = nova_db.context_manager.patch_factory(
        enginefacade.transaction_context())
    nova_db.configure(conf)
    return nova_db.get_engine(), restore


def prepare_engine(backend, url):
    """nova's engine on the scratch database ``url``; ``(engine, restore)``.

    ``restore()`` puts nova's enginefacade back after ``engine.dispose()``.
    """
    if backend == benchlib.MYSQL:
        url = url + ('&' if '?' in url else '?') + 'charset=utf8'
        raw = sa.create_engine(url)
        with raw.begin() as conn:
            conn.exec_driver_sql('ALTER DATABASE `%s` CHARACTER SET utf8'
                                 % raw.url.database)
        raw.dispose()
    return _nova_engine(url)


def measure_backend(backend, rounds, seconds, topic, rounds_func):
    """Alternate off/on/capture with the nova cycle on ``backend``."""
    with benchlib.scratch_database(backend) as url:
        engine, restore = prepare_engine(backend, url)
        try:
            conf = benchlib.make_conf(
                tables=list(PUBLISHED),
                exclude_columns=['instances.user_data'])
            sender = benchlib.make_sender(conf, topic)
            child = benchlib.make_sender(conf, topic, sending='process')
            try:
                work = Workload(nova_context.get_admin_context())
                return rounds_func(engine, conf, sender, rounds, seconds,
                                   work, process_sender=child)
            finally:
                for each in (sender, child):
                    each.stop()
                    each.transport.close()
        finally:
            engine.dispose()
            restore()
