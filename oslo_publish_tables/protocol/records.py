"""Records before they are numbered: what a producer hands its sender.

A :class:`Draft` is one record of the message format (see
:mod:`.envelope`) as the producer prepares it before ``COMMIT``: a
committed transaction (``kind = 'txn'``, its :class:`.envelope.Change`
tuples with raw column values) or a resync marker (``kind = 'resync'``,
the tables and the reason). The sender gives it its sequence number,
splits it into parts and encodes it (:func:`.envelope.txn_record`,
:func:`.envelope.resync_record`). Anything that publishes in the
format, the capture and a consumer that republishes its replicas alike,
submits drafts to a :class:`oslo_publish_tables.sender.Sender`.
"""

from oslo_publish_tables.protocol import stamps


class Draft(object):
    """A record prepared before COMMIT, handed off after it succeeds."""

    __slots__ = ('kind', 'ts', 'txn', 'changes', 'tables', 'reason')

    def __init__(self, kind, ts, txn=None, changes=(), tables=(),
                 reason=''):
        self.kind = kind
        self.ts = ts
        self.txn = txn
        self.changes = changes
        self.tables = tables
        self.reason = reason

    @classmethod
    def resync(cls, tables, reason):
        """A resync marker of ``tables``, stamped by this host's clock."""
        return cls('resync', stamps.local_now(), tables=sorted(tables),
                   reason=reason)
