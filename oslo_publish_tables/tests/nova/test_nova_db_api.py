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

"""nova's own database API, with the plugin named in nova's database URL.

Each test gets a fresh database (a SQLite file, and PostgreSQL and
MySQL/MariaDB when they answer, see :mod:`oslo_publish_tables.tests.
backends`) holding nova's schema as nova's own migrations make it,
points nova's ``[database] connection`` at it with
``?plugin=publish_tables`` and lets nova's own oslo.db enginefacade
create the engine, so the plugin is loaded exactly as in a nova service:
from the URL, reading ``[publish_tables]`` from nova's global
configuration. The records go out through the oslo.messaging ``test``
notification driver.

The tests call functions of :mod:`nova.db.main.api` one by one, each a
*step*, and remember after every step what ``SELECT`` returns for the
published columns of the published tables. :meth:`NovaDbApiTest.verify`
then stops the publisher (flush and goodbye), decodes every notification
the way a consumer does (JSON round trip, :func:`envelope.parse`) and
checks that

* every record is a transaction record: nova's statements never made
  the capture fall back to a resync marker;
* sequence numbers are 1..N with no hole and no repeat, in order, and the
  goodbye announces N; transaction ids are unique;
* replaying the records step by step into a replica (key = primary key
  tuple; insert only of an unknown key, update and delete only of a known
  one; a key at most once per record; stamps strictly increasing per
  key) gives, after every step, exactly the rows ``SELECT`` returned;
* a step that committed something got exactly one record per committed
  transaction, and a step that committed nothing (a call that raised and
  rolled back) got none; values such rolled-back calls tried to write
  (``self.ghost``) appear nowhere in what was published.

nova is imported lazily: the default test environments do not install it
and only exclude this package by a regex, so discovery must not fail.
"""

import contextlib
import copy
import json
import uuid

from oslo_config import fixture as config_fixture
from oslo_db import exception as db_exc
from oslo_messaging.notify import _impl_test
import sqlalchemy as sa
from sqlalchemy import pool as sa_pool
import testtools

from oslo_publish_tables import fixture as backends
from oslo_publish_tables.protocol import envelope
from oslo_publish_tables import publisher
from oslo_publish_tables.tests.nova import database

if not database.NOVA_MISSING:
    import nova.conf
    from nova import context as nova_context
    from nova.db.main import api as nova_db
    from nova import exception as nova_exc

# Every table nova's calls below write, except the bookkeeping ones
# (instance_id_mappings, security_group_instance_association, ...), which
# therefore must never show up in a record.
PUBLISHED = ('instances', 'instance_extra', 'instance_info_caches',
             'instance_metadata', 'instance_system_metadata', 'tags',
             'block_device_mapping', 'compute_nodes', 'security_groups')
EXCLUDED = {'instances': ('user_data',)}

INSTANCE_CHILDREN = ('instance_extra', 'instance_info_caches',
                     'instance_metadata', 'instance_system_metadata')


class PublishedTable(object):
    """A published table as the test reads it: key and published columns."""

    def __init__(self, table, excluded):
        self.name = table.name
        self.table = table
        self.pk = tuple(c.name for c in table.primary_key.columns)
        self.columns = [c for c in table.columns if c.name not in excluded]
        self.names = frozenset(c.name for c in self.columns)

    def key(self, mapping):
        return tuple(mapping[n] for n in self.pk)


class Step(object):
    """One nova call (or transaction) and what it left in the database."""

    def __init__(self, name, first_seq, records):
        self.name = name
        self.first_seq = first_seq
        self.last_seq = None
        self.expected_records = records
        self.rows = None
        self.published = None  # filled by verify()

    def changes(self, table=None):
        return [c for r in self.published for c in r.changes
                if table is None or c.table == table]

    def tables(self):
        return {c.table for c in self.changes()}


@testtools.skipIf(database.NOVA_MISSING, database.NOVA_MISSING)
class NovaDbApiTest(testtools.TestCase):
    backend = backends.SQLITE  # replaced by for_each_backend()

    def setUp(self):
        super().setUp()
        db = self.useFixture(database.NovaDatabase(self.backend))
        url = db.url
        conf = nova.conf.CONF
        conf([], project='nova', default_config_files=[],
             default_config_dirs=[])
        db.migrate()
        # The test reads the database back through an engine of its own,
        # without the plugin.
        self.reader = sa.create_engine(url, poolclass=sa_pool.NullPool)
        self.addCleanup(self.reader.dispose)
        metadata = sa.MetaData()
        self.tables = {
            name: PublishedTable(
                sa.Table(name, metadata, autoload_with=self.reader),
                EXCLUDED.get(name, ()))
            for name in PUBLISHED}

        # The plugin registers [publish_tables] only when it installs;
        # register now to be able to set the options before that.
        publisher.register_opts(conf)
        config = self.useFixture(config_fixture.Config(conf))
        # A topic of its own gives the test a fresh shared sender, so that
        # its sequence numbers start at 1.
        self.topic = 'pt_nova_' + uuid.uuid4().hex[:12]
        config.config(
            group='publish_tables', tables=list(PUBLISHED),
            exclude_columns=['%s.%s' % (t, c) for t, cols in EXCLUDED.items()
                             for c in cols],
            driver='test', transport_url='fake://', topic=self.topic)
        config.config(group='database', connection=backends.add_query(
            url, plugin='publish_tables'))

        _impl_test.reset()
        self.engine = self.useFixture(database.NovaEngine(conf)).engine
        self.capture = publisher.installed(self.engine)
        self.assertIsNotNone(self.capture, 'nova [database] connection %s '
                             'did not load the plugin' % (self.engine.url,))
        self.assertNotIn('plugin', self.engine.url.query)
        self.sender = publisher._senders[('fake://', self.topic, 'test')][0]
        self.assertEqual(0, self.sender.last_seq)

        self.ctxt = nova_context.get_admin_context()
        self.ghost = 'ghost-' + uuid.uuid4().hex
        self.steps = []
        self.groups = set()
        self.initial = self.snapshot()

    # -- harness ----------------------------------------------------------

    def snapshot(self):
        """{table: {pk tuple: published row}} as SELECT returns it now."""
        rows = {}
        with self.reader.connect() as conn:
            for name, table in self.tables.items():
                result = conn.execute(sa.select(*table.columns))
                rows[name] = {table.key(r._mapping): dict(r._mapping)
                              for r in result}
        return rows

    @contextlib.contextmanager
    def step(self, name, records=1):
        """Remember the records and rows of what runs in the block.

        ``records``: how many transactions the block commits that write
        published tables, i.e. how many records it must produce.
        """
        step = Step(name, self.sender.last_seq, records)
        try:
            yield step
        finally:
            # Records are numbered in the committing thread, at COMMIT.
            step.last_seq = self.sender.last_seq
            step.rows = self.snapshot()
            self.steps.append(step)

    def call(self, func, *args, records=1, **kwargs):
        """Call ``func(self.ctxt, *args, **kwargs)`` as one step."""
        with self.step(func.__name__, records):
            return func(self.ctxt, *args, **kwargs)

    def call_fails(self, exc_class, func, *args, **kwargs):
        """A call that raises ``exc_class``: it must publish nothing."""
        with self.step(func.__name__ + ' raising ' + exc_class.__name__,
                       records=0):
            return self.assertRaises(exc_class, func, self.ctxt, *args,
                                     **kwargs)

    def create_instance(self, **values):
        base = {'project_id': 'project-1', 'user_id': 'user-1',
                'host': 'compute-1', 'node': 'node-1',
                'vm_state': 'building', 'task_state': 'spawning',
                'memory_mb': 512, 'vcpus': 1, 'root_gb': 1,
                'display_name': 'vm', 'user_data': 'c2VjcmV0IGRhdGE='}
        base.update(values)
        # The first instance_create of a project (of the request context)
        # also creates its default security group, in a transaction of
        # its own: two records.
        records = 1 if self.ctxt.project_id in self.groups else 2
        self.groups.add(self.ctxt.project_id)
        return self.call(nova_db.instance_create, base,
                         records=records)['uuid']

    @staticmethod
    def compute_node_values(host, node_uuid, **values):
        base = {'host': host, 'uuid': node_uuid,
                'hypervisor_hostname': host + '.example.org',
                'vcpus': 8, 'memory_mb': 8192, 'local_gb': 100,
                'vcpus_used': 0, 'memory_mb_used': 0, 'local_gb_used': 0,
                'hypervisor_type': 'QEMU', 'hypervisor_version': 8002000,
                'cpu_info': '{"arch": "x86_64"}', 'free_ram_mb': 8192,
                'free_disk_gb': 100, 'current_workload': 0,
                'running_vms': 0, 'disk_available_least': 100,
                'host_ip': '192.0.2.10', 'supported_instances': '[]',
                'stats': '{}', 'ram_allocation_ratio': 1.5,
                'cpu_allocation_ratio': 16.0, 'disk_allocation_ratio': 1.0}
        base.update(values)
        return base

    def published(self):
        """Stop publishing; return (txn and resync records, goodbyes)."""
        publisher.uninstall(self.engine)  # flushes, says goodbye
        producer = self.sender.identity['id']
        records, goodbyes = [], []
        self.payloads = []
        for _ctxt, message, _priority, _retry in _impl_test.NOTIFICATIONS:
            # What a real driver would put on the wire: strict JSON.
            payload = json.loads(json.dumps(message['payload']))
            batch = envelope.parse(payload)
            if batch.producer['id'] != producer:
                continue
            self.payloads.append(json.dumps(payload))
            if message['event_type'] == envelope.EVENT_BATCH:
                records.extend(batch.records)
            elif message['event_type'] == envelope.EVENT_GOODBYE:
                goodbyes.append(batch)
        return records, goodbyes

    def verify(self):
        """Check every step's records against the database; see module."""
        records, goodbyes = self.published()
        seqs = [r.seq for r in records]
        n = len(records)
        self.assertEqual(list(range(1, n + 1)), seqs,
                         'sequence numbers not 1..N in order')
        self.assertEqual(n, self.sender.last_seq)
        self.assertEqual([(True, n)], [(g.final, g.last_seq)
                                       for g in goodbyes])
        self.assertEqual([], [(r.seq, r.tables, r.reason) for r in records
                              if r.kind != 'txn'], 'resync markers')
        self.assertEqual(n, len({r.txn for r in records}))
        self.assertEqual([], [r.seq for r in records if r.parts != 1])
        self.assertEqual(n, self.steps[-1].last_seq if self.steps else 0)

        replica = copy.deepcopy(self.initial)
        versions = {}
        previous = self.initial
        for step in self.steps:
            step.published = records[step.first_seq:step.last_seq]
            self.assertEqual(step.expected_records, len(step.published),
                             'records of step %r' % step.name)
            if not step.published:
                self.assertEqual(previous, step.rows,
                                 'step %r changed the database' % step.name)
            for record in step.published:
                self._apply(record, replica, versions)
            self.assertEqual(step.rows, replica,
                             'replica differs after step %r' % step.name)
            previous = step.rows
        for payload in self.payloads:
            self.assertNotIn(self.ghost, payload)
        return records

    def _apply(self, record, replica, versions):
        seen = set()
        for change in record.changes:
            where = 'record %d: %s %s %s' % (record.seq, change.op,
                                             change.table, change.pk)
            table = self.tables.get(change.table)
            self.assertIsNotNone(table, where + ': not a published table')
            self.assertEqual(set(table.pk), set(change.pk), where)
            key = table.key(change.pk)
            self.assertNotIn((table.name, key), seen, where + ': twice')
            seen.add((table.name, key))
            held = versions.get((table.name, key))
            if held is not None:
                self.assertGreater(record.ts, held, where + ': stale stamp')
            versions[table.name, key] = record.ts
            self.assertEqual(table.names, set(change.row), where)
            rows = replica[table.name]
            if change.op == 'insert':
                self.assertNotIn(key, rows, where + ': key exists')
                rows[key] = change.row
            elif change.op == 'update':
                self.assertIn(key, rows, where + ': unknown key')
                rows[key] = change.row
            else:
                self.assertIn(key, rows, where + ': unknown key')
                del rows[key]

    # -- tests --------------------------------------------------------------

    def test_instance_lifecycle(self):
        uuid_ = self.create_instance(
            metadata={'a': '1', 'b': '2'},
            system_metadata={'image_os_type': 'linux'})
        create = self.steps[-1]
        self.call(nova_db.instance_update, uuid_,
                  {'vm_state': 'active', 'launched_on': 'compute-1'})
        update = self.steps[-1]
        old, new = self.call(nova_db.instance_update_and_get_original,
                             uuid_, {'task_state': None,
                                     'expected_task_state': 'spawning',
                                     'power_state': 1})
        self.assertEqual(('spawning', None), (old.task_state,
                                              new.task_state))
        exc = self.call_fails(
            nova_exc.UnexpectedTaskStateError,
            nova_db.instance_update_and_get_original, uuid_,
            {'host': self.ghost, 'expected_task_state': 'spawning'})
        self.assertIn('spawning', str(exc))
        # metadata in place: a updated, b soft-deleted, c added;
        # system_metadata: image_os_type hard-deleted, k added.
        self.call(nova_db.instance_update, uuid_,
                  {'metadata': {'a': '10', 'c': '3'},
                   'system_metadata': {'k': 'v'}})
        in_place = self.steps[-1]
        self.call(nova_db.instance_info_cache_update, uuid_,
                  {'network_info': '[{"id": "vif-1"}]'})
        self.call(nova_db.instance_extra_update_by_uuid, uuid_,
                  {'numa_topology': '{"cells": []}'})
        self.call(nova_db.instance_tag_set, uuid_, ['web', 'prod'])
        self.call(nova_db.instance_destroy, uuid_)
        destroy = self.steps[-1]
        self.verify()

        self.assertEqual(
            {'instances', 'security_groups'} | set(INSTANCE_CHILDREN),
            create.tables())
        self.assertEqual({'insert'}, {c.op for c in create.changes()})
        self.assertEqual(2, len(create.changes('instance_metadata')))
        self.assertNotIn('user_data', create.changes('instances')[0].row)
        [change] = update.changes()
        self.assertIn('vm_state', change.changed)
        self.assertEqual('active', change.row['vm_state'])
        self.assertEqual(
            sorted([('instance_metadata', 'insert'),
                    ('instance_metadata', 'update'),
                    ('instance_metadata', 'update'),
                    ('instance_system_metadata', 'delete'),
                    ('instance_system_metadata', 'insert'),
                    ('instances', 'update')]),
            sorted((c.table, c.op) for c in in_place.changes()))
        # Soft delete: deleted = id, an SQL expression read back.
        self.assertEqual({'instances', 'tags'} | set(INSTANCE_CHILDREN),
                         destroy.tables())
        for change in destroy.changes():
            if change.table == 'tags':
                self.assertEqual('delete', change.op)
            else:
                self.assertEqual('update', change.op)
                self.assertEqual(change.pk['id'], change.row['deleted'])

    def test_instance_destroy_hard_delete(self):
        uuid_ = self.create_instance(metadata={'a': '1'},
                                     system_metadata={'s': '1'})
        self.call(nova_db.instance_tag_add, uuid_, 'tag-1')
        self.call(nova_db.block_device_mapping_create,
                  {'instance_uuid': uuid_, 'source_type': 'image',
                   'destination_type': 'local', 'boot_index': 0,
                   'device_name': '/dev/vda', 'image_id': 'image-1'},
                  legacy=False)
        self.call(nova_db.instance_destroy, uuid_, hard_delete=True)
        destroy = self.steps[-1]
        self.verify()
        self.assertEqual({'delete'}, {c.op for c in destroy.changes()})
        self.assertEqual({'instances', 'tags', 'block_device_mapping'}
                         | set(INSTANCE_CHILDREN), destroy.tables())
        # The before-image of the instance: soft-deleted first, in the
        # same transaction.
        [instance] = destroy.changes('instances')
        self.assertEqual(instance.pk['id'], instance.row['deleted'])
        self.assertEqual({}, self.steps[-1].rows['instances'])

    def test_metadata(self):
        uuid_ = self.create_instance(metadata={'a': '1'},
                                     system_metadata={'s1': '1'})
        self.call(nova_db.instance_metadata_update, uuid_,
                  {'a': '2', 'b': '1'}, False)
        self.call(nova_db.instance_metadata_update, uuid_,
                  {'b': '2', 'c': '1'}, True)
        replace = self.steps[-1]
        self.call(nova_db.instance_metadata_delete, uuid_, 'c')
        self.call(nova_db.instance_metadata_update, uuid_, {'a': '3'},
                  False)
        self.call(nova_db.instance_metadata_update, uuid_, {}, False,
                  records=0)
        self.call(nova_db.instance_system_metadata_update, uuid_,
                  {'s1': '2', 's2': '1'}, False)
        self.call(nova_db.instance_system_metadata_update, uuid_,
                  {'s2': '3'}, True)
        self.verify()
        # delete=True soft-deletes a (a bulk UPDATE ... WHERE key NOT IN),
        # updates b and inserts c, all in one record.
        ops = sorted((c.op, c.row['key'], c.row['deleted'] != 0)
                     for c in replace.changes())
        self.assertEqual([('insert', 'c', False), ('update', 'a', True),
                          ('update', 'b', False)], ops)
        self.assertEqual(0, len(self.steps[-3].published))  # {} update

    def test_tags(self):
        uuid_ = self.create_instance()
        self.call(nova_db.instance_tag_set, uuid_, ['a', 'b', 'c'])
        self.call(nova_db.instance_tag_set, uuid_, ['b', 'c', 'd'])
        self.call(nova_db.instance_tag_add, uuid_, 'e')
        # A duplicate: INSERT in a savepoint, rolled back, ignored.
        self.call(nova_db.instance_tag_add, uuid_, 'e', records=0)
        self.call(nova_db.instance_tag_delete, uuid_, 'b')
        self.call_fails(nova_exc.InstanceTagNotFound,
                        nova_db.instance_tag_delete, uuid_, 'nope')
        # DELETE of d and e runs, then the INSERT fails (NOT NULL): the
        # whole transaction rolls back.
        self.call_fails(db_exc.DBError, nova_db.instance_tag_set, uuid_,
                        ['c', self.ghost, None])
        self.call(nova_db.instance_tag_delete_all, uuid_)
        self.verify()
        self.assertEqual({}, self.steps[-1].rows['tags'])
        self.assertEqual(
            [('delete', 'a'), ('insert', 'd')],
            sorted((c.op, c.pk['tag']) for c in self.steps[2].changes()))

    def test_instance_info_cache_and_extra(self):
        uuid_ = self.create_instance()
        for n in range(3):
            self.call(nova_db.instance_info_cache_update, uuid_,
                      {'network_info': '[{"id": "vif-%d"}]' % n})
        self.call(nova_db.instance_extra_update_by_uuid, uuid_,
                  {'pci_requests': '[]', 'flavor': '{"cur": {}}'})
        self.call(nova_db.instance_info_cache_delete, uuid_)
        self.verify()
        [cache] = self.steps[3].changes()
        self.assertEqual(('instance_info_caches', 'update',
                          '[{"id": "vif-2"}]'),
                         (cache.table, cache.op, cache.row['network_info']))

    def test_compute_nodes(self):
        node1 = str(uuid.uuid4())
        cn1 = self.call(nova_db.compute_node_create,
                        self.compute_node_values('host1', node1))
        cn2 = self.call(nova_db.compute_node_create,
                        self.compute_node_values('host2',
                                                 str(uuid.uuid4())))
        self.call(nova_db.compute_node_update, cn1['id'],
                  {'vcpus_used': 3, 'memory_mb_used': 1024,
                   'stats': '{"num_instances": "2"}',
                   'cpu_allocation_ratio': 4.0})
        self.call_fails(nova_exc.ComputeHostNotFound,
                        nova_db.compute_node_update, 99999,
                        {'hypervisor_type': self.ghost})
        self.call_fails(nova_exc.ConstraintNotMet,
                        nova_db.compute_node_delete, cn1['id'],
                        constraint=nova_db.constraint(
                            host=nova_db.equal_any('elsewhere')))
        self.call(nova_db.compute_node_delete, cn1['id'])
        # Same uuid again: the INSERT fails (duplicate, rolled back) and
        # nova undeletes the old row in a second transaction.
        again = self.call(nova_db.compute_node_create,
                          self.compute_node_values('host1', node1,
                                                   vcpus=16))
        undelete = self.steps[-1]
        self.call(nova_db.compute_node_delete, cn2['id'])
        self.verify()
        self.assertEqual(cn1['id'], again['id'])
        [change] = undelete.changes()
        self.assertEqual(('update', 0, 16), (change.op, change.row['deleted'],
                                             change.row['vcpus']))

    def test_block_device_mappings(self):
        uuid_ = self.create_instance()
        bdm = self.call(nova_db.block_device_mapping_create,
                        {'instance_uuid': uuid_, 'source_type': 'volume',
                         'destination_type': 'volume',
                         'volume_id': str(uuid.uuid4()),
                         'device_name': '/dev/vda', 'boot_index': 0,
                         'delete_on_termination': True}, legacy=False)
        self.call(nova_db.block_device_mapping_update, bdm['id'],
                  {'volume_size': 10,
                   'connection_info': '{"driver_volume_type": "iscsi"}'},
                  legacy=False)
        swap = {'instance_uuid': uuid_, 'device_name': '/dev/vdb',
                'source_type': 'blank', 'destination_type': 'local',
                'guest_format': 'swap', 'volume_size': 1,
                'boot_index': -1}
        self.call(nova_db.block_device_mapping_update_or_create,
                  dict(swap), legacy=False)
        self.call(nova_db.block_device_mapping_update_or_create,
                  dict(swap, volume_size=2), legacy=False)
        self.call(nova_db.block_device_mapping_destroy_by_instance_and_device,
                  uuid_, '/dev/vdb')
        self.call(nova_db.block_device_mapping_destroy, bdm['id'])
        self.verify()
        self.assertEqual(['insert', 'update', 'insert', 'update', 'update',
                          'update'],
                         [c.op for s in self.steps[1:]
                          for c in s.changes()])

    def test_rolled_back_calls_leave_no_trace(self):
        uuid_ = self.create_instance()
        self.call_fails(
            nova_exc.UnexpectedTaskStateError,
            nova_db.instance_update_and_get_original, uuid_,
            {'host': self.ghost, 'expected_task_state': 'rebooting'})
        self.call_fails(
            nova_exc.InstanceUpdateConflict, nova_db.instance_update,
            uuid_, {'display_name': self.ghost,
                    'metadata': {self.ghost: self.ghost}},
            expected={'vm_state': 'stopped'})
        self.call_fails(
            nova_exc.ConstraintNotMet, nova_db.instance_destroy, uuid_,
            constraint=nova_db.constraint(
                host=nova_db.equal_any('elsewhere')))

        # Several nova calls joined in one writer transaction (how nova's
        # objects compose them) that writes for real and then fails. The
        # default security group of a new project is created by
        # instance_create in an *independent* transaction: that one
        # commits, and is published alone.
        ctxt = nova_context.RequestContext('user-2', 'project-2',
                                           is_admin=True)
        with self.step('failing writer transaction', records=1):
            with testtools.ExpectedException(RuntimeError, 'boom'):
                with nova_db.context_manager.writer.using(ctxt):
                    # First, so that on SQLite the independent transaction
                    # does not wait for this one's write lock.
                    nova_db.instance_create(
                        ctxt, {'project_id': 'project-2',
                               'host': self.ghost, 'metadata': {'k': 'v'}})
                    nova_db.instance_update(ctxt, uuid_,
                                            {'host': self.ghost})
                    nova_db.instance_metadata_update(
                        ctxt, uuid_, {self.ghost: self.ghost}, True)
                    nova_db.instance_tag_add(ctxt, uuid_, self.ghost)
                    nova_db.instance_info_cache_update(
                        ctxt, uuid_, {'network_info': self.ghost})
                    nova_db.compute_node_create(
                        ctxt, self.compute_node_values(
                            self.ghost, str(uuid.uuid4())))
                    raise RuntimeError('boom')
        independent = self.steps[-1]
        self.call(nova_db.instance_update, uuid_, {'host': 'compute-2'})
        self.verify()
        [group] = independent.changes()
        self.assertEqual(('security_groups', 'insert', 'project-2'),
                         (group.table, group.op, group.row['project_id']))
        for rows in self.steps[-1].rows.values():
            self.assertNotIn(self.ghost, repr(rows))

    def test_calls_in_one_writer_transaction_make_one_record(self):
        uuid_ = self.create_instance()
        ctxt = nova_context.get_admin_context()
        with self.step('writer transaction', records=1):
            with nova_db.context_manager.writer.using(ctxt):
                nova_db.instance_update(ctxt, uuid_, {'vm_state': 'active'})
                nova_db.instance_metadata_update(ctxt, uuid_, {'m': '1'},
                                                 False)
                nova_db.instance_tag_add(ctxt, uuid_, 't1')
                # duplicate: its savepoint rolls back, the rest stays
                nova_db.instance_tag_add(ctxt, uuid_, 't1')
                nova_db.instance_info_cache_update(
                    ctxt, uuid_, {'network_info': '[]'})
                nova_db.instance_update(ctxt, uuid_,
                                        {'vm_state': 'stopped'})
        composed = self.steps[-1]
        self.verify()
        self.assertEqual(
            [('instance_info_caches', 'update'),
             ('instance_metadata', 'insert'), ('instances', 'update'),
             ('tags', 'insert')],
            sorted((c.table, c.op) for c in composed.changes()))
        [instance] = composed.changes('instances')
        self.assertEqual('stopped', instance.row['vm_state'])

    def test_unpublished_tables_and_columns(self):
        uuid_ = self.create_instance(security_groups=['default'])
        self.call(nova_db.instance_fault_create,
                  {'instance_uuid': uuid_, 'code': 500,
                   'message': 'boom', 'details': 'trace', 'host': 'h'},
                  records=0)
        self.call(nova_db.instance_update, uuid_,
                  {'user_data': 'bmV3IHNlY3JldA=='})
        records = self.verify()
        self.assertEqual(3, len(records))
        with self.reader.connect() as conn:
            self.assertEqual(1, conn.execute(sa.text(
                'SELECT COUNT(*) FROM instance_faults')).scalar())
            self.assertEqual(1, conn.execute(sa.text(
                'SELECT COUNT(*) FROM instance_id_mappings')).scalar())
        for payload in self.payloads:
            self.assertNotIn('user_data', payload)
            self.assertNotIn('instance_faults', payload)
            self.assertNotIn('instance_id_mappings', payload)


backends.for_each_backend(NovaDbApiTest)
