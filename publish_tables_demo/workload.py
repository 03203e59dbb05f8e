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

"""A random nova-like workload over :mod:`~.schema`.

Each call of :meth:`Workload.step` runs one transaction chosen at random:
unit-of-work inserts and updates, ORM bulk updates and soft deletes, bulk
deletes, composite-key inserts, Core statements on an engine connection,
rolled-back transactions and rolled-back savepoints. Used by the demo,
the benchmarks and the convergence tests.
"""

import random
import uuid

from oslo_db import exception as db_exc
from oslo_db.sqlalchemy import orm as db_orm
import sqlalchemy as sa
from sqlalchemy.orm import exc as orm_exc

from publish_tables_demo import schema as m

# What a transaction gets for losing a race with another writer.
CONFLICTS = (sa.exc.DBAPIError, db_exc.DBError, orm_exc.StaleDataError)

STATES = ('building', 'active', 'stopped', 'error', 'deleted')


class Workload(object):
    """Random transactions on one engine."""

    def __init__(self, engine, seed=None, keyspace=60):
        self.engine = engine
        self.maker = db_orm.get_maker(engine)
        self.random = random.Random(seed)
        self.keyspace = keyspace
        self.counts = {}

    def _ids(self, session, n):
        ids = [i for (i,) in session.query(m.Instance.id).filter(
            m.Instance.deleted == 0)]
        return self.random.sample(ids, min(n, len(ids)))

    def _instances(self, session, n):
        """Up to ``n`` live instances; another writer may delete some."""
        found = (session.get(m.Instance, iid) for iid in self._ids(session, n))
        return [inst for inst in found if inst is not None]

    def step(self):
        """Run one random transaction; return its name.

        A transaction that lost a race with another writer (deadlock,
        lock timeout, a row deleted under it) has rolled back; it is
        counted as ``conflict`` and ``'conflict'`` is returned.
        """
        ops = [self.create, self.create, self.update, self.update,
               self.bulk_update, self.soft_delete, self.hard_delete,
               self.tags, self.core_update, self.rolled_back,
               self.savepoint, self.compute_node]
        op = self.random.choice(ops)
        try:
            op()
            name = op.__name__
        except CONFLICTS:
            name = 'conflict'
        self.counts[name] = self.counts.get(name, 0) + 1
        return name

    def create(self):
        with self.maker() as s, s.begin():
            inst = m.Instance(uuid=str(uuid.uuid4()), vm_state='building',
                              memory_mb=self.random.choice([512, 2048]),
                              user_data='secret')
            s.add(inst)
            s.flush()
            s.add(m.InstanceMetadata(key='k', value=str(self.random.random()),
                                     instance_uuid=inst.uuid))

    def update(self):
        with self.maker() as s, s.begin():
            for inst in self._instances(s, 2):
                inst.vm_state = self.random.choice(STATES)
                inst.task_state = self.random.choice([None, 'spawning'])

    def bulk_update(self):
        with self.maker() as s, s.begin():
            ids = self._ids(s, 4)
            s.query(m.Instance).filter(m.Instance.id.in_(ids)).update(
                {'host': 'host%d' % self.random.randint(1, 3)},
                synchronize_session=False)

    def soft_delete(self):
        with self.maker() as s, s.begin():
            ids = self._ids(s, 2)
            s.query(m.Instance).filter(m.Instance.id.in_(ids)).soft_delete(
                synchronize_session=False)

    def hard_delete(self):
        with self.maker() as s, s.begin():
            s.query(m.InstanceMetadata).filter(
                m.InstanceMetadata.value < str(self.random.random() / 4)
            ).delete(synchronize_session=False)
            s.query(m.Instance).filter(m.Instance.deleted != 0).filter(
                m.Instance.id % 3 == 0).delete(synchronize_session=False)

    def tags(self):
        with self.maker() as s, s.begin():
            rid = 'r%d' % self.random.randint(1, 5)
            tag = 't%d' % self.random.randint(1, 5)
            if s.get(m.Tag, (rid, tag)) is None:
                s.execute(sa.insert(m.Tag), [{'resource_id': rid,
                                              'tag': tag}])
            else:
                s.query(m.Tag).filter_by(resource_id=rid, tag=tag).delete()

    def core_update(self):
        table = m.Instance.__table__
        with self.engine.begin() as conn:
            conn.execute(table.update().where(
                table.c.vm_state == 'error').values(task_state='rebooting'))

    def rolled_back(self):
        s = self.maker()
        try:
            s.begin()
            for inst in self._instances(s, 3):
                inst.vm_state = 'ROLLED-BACK'
            s.flush()
            s.add(m.Instance(uuid=str(uuid.uuid4()), vm_state='ROLLED-BACK'))
            s.flush()
        finally:
            s.rollback()
            s.close()

    def savepoint(self):
        with self.maker() as s, s.begin():
            for inst in self._instances(s, 1):
                inst.locked = True
            nested = s.begin_nested()
            s.add(m.Instance(uuid=str(uuid.uuid4()), vm_state='ROLLED-BACK'))
            s.flush()
            nested.rollback()

    def compute_node(self):
        with self.maker() as s, s.begin():
            node = s.query(m.ComputeNode).filter_by(
                hypervisor_hostname='cn%d' % self.random.randint(1, 4)
            ).first()
            if node is None:
                s.add(m.ComputeNode(
                    hypervisor_hostname='cn%d' % self.random.randint(1, 4),
                    vcpus=16, vcpus_used=0, free_ram_mb=65536,
                    cpu_allocation_ratio=16))
            else:
                node.vcpus_used = self.random.randint(0, 16)
                node.cpu_allocation_ratio = self.random.choice(
                    ['1.5', '16.0', '0.3333'])
