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

"""A small nova-like schema for the demo, the benchmarks and the tests.

It uses oslo.db's model mixins the way nova does (soft delete sets
``deleted = id``; timestamps set in Python) and has a composite-key table
and a table that is not published.
"""

from oslo_db.sqlalchemy import models
import sqlalchemy as sa
from sqlalchemy import orm

PUBLISHED = ('instances', 'instance_metadata', 'tags', 'compute_nodes')


class Base(orm.DeclarativeBase, models.ModelBase):
    pass


class SoftDeleteBase(models.SoftDeleteMixin, models.TimestampMixin):
    pass


class Instance(Base, SoftDeleteBase):
    __tablename__ = 'instances'
    id = sa.Column(sa.Integer, primary_key=True, autoincrement=True)
    uuid = sa.Column(sa.String(36), nullable=False, unique=True)
    hostname = sa.Column(sa.String(255))
    host = sa.Column(sa.String(255))
    vm_state = sa.Column(sa.String(255))
    task_state = sa.Column(sa.String(255))
    memory_mb = sa.Column(sa.Integer)
    locked = sa.Column(sa.Boolean, default=False)
    user_data = sa.Column(sa.Text)
    power_state = sa.Column(sa.Integer, server_default='0')


class InstanceMetadata(Base, SoftDeleteBase):
    __tablename__ = 'instance_metadata'
    id = sa.Column(sa.Integer, primary_key=True, autoincrement=True)
    key = sa.Column(sa.String(255))
    value = sa.Column(sa.String(255))
    instance_uuid = sa.Column(sa.String(36), nullable=False)


class Tag(Base):
    __tablename__ = 'tags'
    resource_id = sa.Column(sa.String(36), primary_key=True)
    tag = sa.Column(sa.Unicode(80), primary_key=True)


class ComputeNode(Base, SoftDeleteBase):
    __tablename__ = 'compute_nodes'
    id = sa.Column(sa.Integer, primary_key=True, autoincrement=True)
    hypervisor_hostname = sa.Column(sa.String(255))
    vcpus = sa.Column(sa.Integer)
    vcpus_used = sa.Column(sa.Integer)
    free_ram_mb = sa.Column(sa.Integer)
    cpu_allocation_ratio = sa.Column(sa.Numeric(10, 4))
    stats = sa.Column(sa.Text)


class Service(Base, SoftDeleteBase):
    """Not published: changes to it must never appear on the bus."""

    __tablename__ = 'services'
    id = sa.Column(sa.Integer, primary_key=True, autoincrement=True)
    host = sa.Column(sa.String(255))
    binary = sa.Column(sa.String(255))
    report_count = sa.Column(sa.Integer, default=0)


def create(engine):
    """Create every table of the schema on ``engine``."""
    Base.metadata.create_all(engine)
