"""Options of oslo_publish_tables for oslo-config-generator."""

import copy
import itertools

from oslo_publish_tables.capture import tables
from oslo_publish_tables import compression
from oslo_publish_tables import metrics
from oslo_publish_tables.outbox import relay
from oslo_publish_tables.outbox import store
from oslo_publish_tables import publisher
from oslo_publish_tables import sender
from oslo_publish_tables import signing
from oslo_publish_tables.snapshot import service


def list_opts():
    """Return ``[(group, [options])]`` for the sample config file."""
    return [('publish_tables', copy.deepcopy(list(itertools.chain(
        tables._opts, publisher._opts, sender._opts,
        compression._opts, signing._opts, service._opts, store._opts,
        relay._opts)))),
            (metrics.AGENT_GROUP, copy.deepcopy(metrics.agent_opts))]
