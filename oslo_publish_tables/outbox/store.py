"""Write records into the outbox, read them back, delete them.

:class:`OutboxStore` is bound to one engine. The capture calls
:meth:`OutboxStore.write` on the committing connection just before
``COMMIT`` (one ``INSERT`` per record, in the service's transaction); the
sender calls :meth:`OutboxStore.delete` from its background thread once
the transport confirmed a record; the relay claims old rows with
:meth:`OutboxStore.claim`.
"""

import json
import logging
import uuid

import sqlalchemy as sa

from oslo_publish_tables.capture import listeners
from oslo_publish_tables import exceptions
from oslo_publish_tables.outbox import schema
from oslo_publish_tables.protocol import codec
from oslo_publish_tables.protocol import envelope

LOG = logging.getLogger(__name__)
GROUP = 'publish_tables'
DIRECT = 'direct'
DURABLE = 'durable'
RELAYED = 'relayed'
OUTBOX_MODES = (DURABLE, RELAYED)


_CHUNK = 500


class OutboxError(exceptions.PublishTablesError):
    """The outbox cannot be used (missing table, bad row)."""


class OutboxDraft(listeners.Draft):
    """A Draft whose record also sits in an outbox row.

    ``outbox`` is the :class:`OutboxStore` holding row ``outbox_id``;
    ``keep`` is set when a part of the record was dropped before it was
    sent, so that the row stays for the relay.
    """

    __slots__ = ('outbox', 'outbox_id', 'keep')

    def __init__(self, kind, ts, txn=None, changes=(), tables=(),
                 reason='', outbox=None, outbox_id=None):
        super().__init__(kind, ts, txn, changes, tables, reason)
        self.outbox = outbox
        self.outbox_id = outbox_id
        self.keep = False


def encode_payload(draft):
    """The JSON text stored for ``draft``."""
    if draft.kind == 'resync':
        body = {'tables': sorted(draft.tables), 'reason': draft.reason}
    else:
        body = {'changes': [envelope.encode_change(c)
                            for c in draft.changes]}
    return json.dumps(body, separators=(',', ':'), sort_keys=True)


def decode_row(row, store=None):
    """Return the :class:`OutboxDraft` stored in outbox row ``row``."""
    try:
        body = json.loads(row.payload)
        if row.kind == 'resync':
            return OutboxDraft('resync', row.created,
                               tables=sorted(body['tables']),
                               reason=body.get('reason', ''),
                               outbox=store, outbox_id=row.id)
        changes = [envelope.Change(c['table'], c['op'],
                                   codec.decode_row(c['pk']),
                                   codec.decode_row(c['row']),
                                   tuple(c['changed']))
                   for c in body['changes']]
    except (ValueError, KeyError, TypeError,
            exceptions.EnvelopeError) as exc:
        raise OutboxError('outbox row %s is unreadable: %s'
                          % (row.id, exc)) from exc
    return OutboxDraft('txn', row.created, row.txn, changes,
                       outbox=store, outbox_id=row.id)


class OutboxStore(object):
    """The outbox of one engine's database."""

    table = schema.outbox

    def __init__(self, engine):
        self.engine = engine

    @classmethod
    def check(cls, connection, published):
        """Raise ConfigError unless durable mode can work on ``connection``.

        ``published`` are the configured table names: the outbox itself
        is never published (the capture must not capture its own writes).
        """
        if schema.TABLE_NAME in published:
            raise exceptions.ConfigError(
                'tables', schema.TABLE_NAME,
                'the outbox of durable mode cannot be published')
        if not sa.inspect(connection).has_table(schema.TABLE_NAME):
            raise exceptions.ConfigError(
                'delivery', 'durable or relayed',
                'the table %s does not exist; run '
                '"publish-tables-manage db_sync" first' % schema.TABLE_NAME)

    # -- capture (request path, inside the service's transaction) -------

    def write(self, conn, drafts):
        """Insert one row per draft on ``conn``; return OutboxDrafts.

        Runs in the committing transaction, so the rows commit or roll
        back with it. Errors propagate: a durable record that cannot be
        written must not be committed without it.
        """
        durable = []
        for draft in drafts:
            try:
                payload = encode_payload(draft)
            except exceptions.EnvelopeError as exc:
                # A value the codec cannot carry: consumers resync.
                tables = sorted({c.table for c in draft.changes})
                draft = listeners.Draft('resync', draft.ts, tables=tables,
                                        reason=str(exc))
                payload = encode_payload(draft)
            result = conn.execute(self.table.insert().values(
                created=draft.ts, kind=draft.kind, txn=draft.txn,
                payload=payload))
            durable.append(OutboxDraft(
                draft.kind, draft.ts, draft.txn, draft.changes,
                draft.tables, draft.reason, outbox=self,
                outbox_id=result.inserted_primary_key[0]))
        return durable

    # -- sender and relay (background threads) -----------------------------

    def delete(self, ids):
        """Delete the rows ``ids`` (published), in chunks."""
        ids = sorted(ids)
        with self.engine.begin() as conn:
            for start in range(0, len(ids), _CHUNK):
                conn.execute(self.table.delete().where(
                    self.table.c.id.in_(ids[start:start + _CHUNK])))

    def count(self):
        with self.engine.connect() as conn:
            return conn.execute(sa.select(sa.func.count()).select_from(
                self.table)).scalar()

    def claim(self, now, older_than, lease_until, limit, owner=None):
        """Claim up to ``limit`` rows created before ``older_than``.

        A row is claimable when nobody holds a lease on it, or the lease
        ended before ``now`` (its relay died or stalled). The claim is an
        ``UPDATE`` whose ``WHERE`` repeats the condition, so that of two
        relays racing for a row only one claims it: the second one's
        ``UPDATE`` waits for the first one's row lock and then finds the
        lease taken (PostgreSQL re-checks the row, InnoDB reads the
        latest version, SQLite has one writer). Returns the claimed rows
        as :class:`OutboxDraft` objects, oldest first.
        """
        t = self.table
        owner = owner or uuid.uuid4().hex
        free = sa.or_(t.c.claimed_until.is_(None), t.c.claimed_until < now)
        with self.engine.begin() as conn:
            ids = [r.id for r in conn.execute(
                sa.select(t.c.id).where(t.c.created < older_than, free)
                .order_by(t.c.id).limit(limit))]
            if not ids:
                return []
            conn.execute(t.update().where(t.c.id.in_(ids), free).values(
                claimed_by=owner, claimed_until=lease_until))
            rows = conn.execute(sa.select(t).where(
                t.c.id.in_(ids), t.c.claimed_by == owner).order_by(t.c.id))
            drafts = []
            for row in rows:
                try:
                    drafts.append(decode_row(row, self))
                except OutboxError as exc:  # left there for an operator
                    LOG.error('publish_tables: %s', exc)
            return drafts


def high_water(conn):
    """The highest outbox id allocated so far, read on ``conn``.

    Not an MVCC read: the allocation counter itself (PostgreSQL: the
    ``id`` sequence; MySQL/MariaDB: the table's ``AUTO_INCREMENT``;
    SQLite: ``sqlite_sequence``). Read under a snapshot's fence, it
    separates the records of the transactions that wrote the fenced
    table before the fence (ids ``<=``) from those that write it after
    (ids ``>``): see the durable mode guide.
    """
    name = conn.dialect.name
    if name == 'postgresql':
        seq = conn.exec_driver_sql(
            "SELECT pg_get_serial_sequence('%s', 'id')"
            % schema.TABLE_NAME).scalar()
        value, called = conn.exec_driver_sql(
            'SELECT last_value, is_called FROM %s' % seq).one()
        return int(value) if called else int(value) - 1
    if name in ('mysql', 'mariadb'):
        if not getattr(conn.dialect, 'is_mariadb', False):
            # MySQL 8 caches information_schema statistics by default.
            conn.exec_driver_sql(
                'SET SESSION information_schema_stats_expiry = 0')
        value = conn.exec_driver_sql(
            "SELECT AUTO_INCREMENT FROM information_schema.tables "
            "WHERE table_schema = DATABASE() AND table_name = '%s'"
            % schema.TABLE_NAME).scalar()
        return int(value or 1) - 1
    if name == 'sqlite':
        value = conn.exec_driver_sql(
            "SELECT seq FROM sqlite_sequence WHERE name = '%s'"
            % schema.TABLE_NAME).scalar()
        return int(value or 0)
    raise OutboxError('no outbox high-water mark on %s' % name)
