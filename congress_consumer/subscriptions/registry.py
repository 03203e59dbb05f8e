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

"""The persistent registry of filtered subscriptions (oslo.db).

Each subscription is one row of table ``congress_subscriptions`` in the
database of ``[subscriptions] connection`` (any database oslo.db
supports; the table is created if missing), so subscriptions survive a
restart of ``congress-consumer``. The registry only stores; delivery is
:mod:`.delivery`'s job.

A subscription (:class:`Subscription`) has:

``subscriber_id``
    the subscriber's own name for it, unique (the primary key);
``subscriber_topic``
    the notification topic the subscriber consumes;
``datasource``, ``table``
    the replicated table it watches (the published table name);
``tables``
    all the tables it watches, ``table`` first (one datasource);
``filters``
    see :mod:`.filters`;
``payload``
    ``delta`` (one notification per matching change) or ``snapshot``
    (every change sends all matching rows);
``created_at``, ``last_ack_at``
    naive UTC datetimes; the subscriber refreshes ``last_ack_at`` to show
    it is alive (see stale detection in :mod:`.service`);
``onap``
    the ONAP fields the subscriber sent (``ONAPName``,
    ``ONAPComponent``, ``ONAPInstance``), kept and shown as given.

Columns added since the table was first created are added to an
existing table at start (:func:`_upgrade`), nullable.
"""

import json

from oslo_db import exception as db_exc
from oslo_db.sqlalchemy import enginefacade
from oslo_utils import timeutils
import sqlalchemy as sa

from congress_consumer import exceptions

PAYLOADS = ('delta', 'snapshot')

# ONAP's fields naming the subscriber, kept with its subscription.
ONAP_FIELDS = ('ONAPName', 'ONAPComponent', 'ONAPInstance')

_metadata = sa.MetaData()
TABLE = sa.Table(
    'congress_subscriptions', _metadata,
    sa.Column('subscriber_id', sa.String(255), primary_key=True),
    sa.Column('subscriber_topic', sa.String(255), nullable=False),
    sa.Column('datasource', sa.String(255), nullable=False),
    sa.Column('table_name', sa.String(255), nullable=False),
    sa.Column('filters', sa.Text, nullable=False),
    sa.Column('payload', sa.String(16), nullable=False),
    sa.Column('created_at', sa.DateTime, nullable=False),
    sa.Column('last_ack_at', sa.DateTime, nullable=False),
    # Added after the first release: nullable, added by _upgrade().
    sa.Column('onap', sa.Text, nullable=True),
    sa.Column('tables', sa.Text, nullable=True),  # when more than one
    mysql_engine='InnoDB', mysql_charset='utf8mb4')


class SubscriptionExists(exceptions.CongressConsumerError):
    """A subscription with this subscriber_id is already registered."""

    msg_fmt = 'subscription %(subscriber_id)s already exists'


class SubscriptionNotFound(exceptions.CongressConsumerError):
    """No subscription has this subscriber_id."""

    msg_fmt = 'subscription %(subscriber_id)s not found'


class Subscription(object):
    """One registered subscription (see the module docstring)."""

    __slots__ = ('subscriber_id', 'subscriber_topic', 'datasource', 'table',
                 'filters', 'payload', 'created_at', 'last_ack_at', 'onap',
                 'tables')

    def __init__(self, subscriber_id, subscriber_topic, datasource, table,
                 filters=(), payload='delta', created_at=None,
                 last_ack_at=None, onap=None, tables=None):
        self.subscriber_id = subscriber_id
        self.subscriber_topic = subscriber_topic
        self.datasource = datasource
        self.table = table
        self.tables = list(tables or [table])
        if self.tables[0] != table:
            raise ValueError('tables must start with table')
        self.filters = list(filters)
        self.payload = payload
        now = timeutils.utcnow().replace(microsecond=0)
        self.created_at = created_at or now
        self.last_ack_at = last_ack_at or self.created_at
        self.onap = dict(onap or {})

    def to_dict(self):
        info = dict(self.onap)
        info.update({'subscriber_id': self.subscriber_id,
                     'subscriber_topic': self.subscriber_topic,
                     'datasource': self.datasource, 'table': self.table,
                     'tables': list(self.tables),
                     'filters': self.filters, 'payload': self.payload,
                     'created_at': self.created_at.isoformat(),
                     'last_ack_at': self.last_ack_at.isoformat()})
        return info

    def __eq__(self, other):
        return (isinstance(other, Subscription)
                and self.to_dict() == other.to_dict())

    def __repr__(self):
        return 'Subscription(%r)' % self.to_dict()


def _row(sub):
    return {'subscriber_id': sub.subscriber_id,
            'subscriber_topic': sub.subscriber_topic,
            'datasource': sub.datasource, 'table_name': sub.table,
            'filters': json.dumps(sub.filters, sort_keys=True),
            'payload': sub.payload, 'created_at': sub.created_at,
            'last_ack_at': sub.last_ack_at,
            'onap': json.dumps(sub.onap, sort_keys=True) if sub.onap
            else None,
            'tables': json.dumps(sub.tables) if len(sub.tables) > 1
            else None}


def _subscription(row):
    return Subscription(row.subscriber_id, row.subscriber_topic,
                        row.datasource, row.table_name,
                        json.loads(row.filters), row.payload,
                        row.created_at, row.last_ack_at,
                        json.loads(row.onap) if row.onap else None,
                        json.loads(row.tables) if row.tables else None)


def _upgrade(engine):
    """Add the columns of :data:`TABLE` an older table lacks."""
    have = {c['name'] for c in sa.inspect(engine).get_columns(TABLE.name)}
    with engine.begin() as conn:
        for column in TABLE.columns:
            if column.name not in have:
                kind = column.type.compile(dialect=engine.dialect)
                conn.execute(sa.text('ALTER TABLE %s ADD COLUMN %s %s' % (
                    TABLE.name, column.name, kind)))


class Registry(object):
    """Subscriptions stored in the database at ``connection``."""

    def __init__(self, connection):
        self._context = enginefacade.transaction_context()
        self._context.configure(connection=connection)
        self.engine = self._context.writer.get_engine()
        _metadata.create_all(self.engine)
        _upgrade(self.engine)

    def add(self, sub):
        """Store ``sub``; raise SubscriptionExists if its id is taken."""
        try:
            with self.engine.begin() as conn:
                conn.execute(TABLE.insert().values(**_row(sub)))
        except db_exc.DBDuplicateEntry:
            raise SubscriptionExists(subscriber_id=sub.subscriber_id)

    def get(self, subscriber_id):
        with self.engine.connect() as conn:
            row = conn.execute(TABLE.select().where(
                TABLE.c.subscriber_id == subscriber_id)).first()
        if row is None:
            raise SubscriptionNotFound(subscriber_id=subscriber_id)
        return _subscription(row)

    def list(self):
        with self.engine.connect() as conn:
            return [_subscription(r) for r in conn.execute(
                TABLE.select().order_by(TABLE.c.subscriber_id))]

    def __contains__(self, subscriber_id):
        with self.engine.connect() as conn:
            return conn.execute(sa.select(TABLE.c.subscriber_id).where(
                TABLE.c.subscriber_id == subscriber_id)).first() is not None

    def update(self, sub):
        """Replace the stored ``sub``; raise SubscriptionNotFound."""
        with self.engine.begin() as conn:
            result = conn.execute(TABLE.update().where(
                TABLE.c.subscriber_id == sub.subscriber_id).values(
                    **_row(sub)))
        if not result.rowcount:
            raise SubscriptionNotFound(subscriber_id=sub.subscriber_id)

    def delete(self, subscriber_id):
        with self.engine.begin() as conn:
            result = conn.execute(TABLE.delete().where(
                TABLE.c.subscriber_id == subscriber_id))
        if not result.rowcount:
            raise SubscriptionNotFound(subscriber_id=subscriber_id)

    def ack(self, subscriber_id, when=None):
        """Refresh the subscriber's last-ack time; return it."""
        when = when or timeutils.utcnow().replace(microsecond=0)
        with self.engine.begin() as conn:
            result = conn.execute(TABLE.update().where(
                TABLE.c.subscriber_id == subscriber_id).values(
                    last_ack_at=when))
        if not result.rowcount:
            raise SubscriptionNotFound(subscriber_id=subscriber_id)
        return when

    def close(self):
        self._context.dispose_pool()
