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

import dataclasses

from oslo_publish_tables.protocol import stamps


@dataclasses.dataclass(slots=True, eq=False)
class Draft(object):
    """A record prepared before COMMIT, handed off after it succeeds.

    Compared by identity, like any object the sender keeps track of.
    """

    kind: str
    ts: int
    txn: str = None
    changes: tuple = ()
    tables: tuple = ()
    reason: str = ''

    @classmethod
    def resync(cls, tables, reason):
        """A resync marker of ``tables``, stamped by this host's clock."""
        return cls('resync', stamps.local_now(), tables=sorted(tables),
                   reason=reason)
