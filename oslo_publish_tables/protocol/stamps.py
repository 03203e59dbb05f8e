"""Stamps: the ``ts`` of a record, microseconds since the epoch.

A producer stamps each record from one clock, normally the database's
(see :mod:`oslo_publish_tables.capture.clock`), so that the stamps of
conflicting transactions follow commit order whatever host wrote them.
Consumers compare stamps with each other and with :func:`local_now` to
date tombstones and measure lag; anything that stamps records it
republishes uses :func:`local_now`.
"""

import time


def local_now():
    """Microseconds since the epoch on this host."""
    return time.time_ns() // 1000
