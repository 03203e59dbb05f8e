"""Log lines that say which datasource (and table) they are about.

A consumer runs several datasources in one process; a line such as
``snapshot of instances failed`` is no help without the datasource.
:func:`for_datasource` wraps a logger so that every line it writes
starts with ``datasource <name>:``; the messages name their table.
"""

import logging


class DatasourceLogger(logging.LoggerAdapter):
    """Prefixes every message with ``datasource <name>: ``."""

    def process(self, msg, kwargs):
        return 'datasource %s: %s' % (self.extra['datasource'], msg), kwargs


def for_datasource(logger, name):
    """``logger`` naming datasource ``name`` in every line."""
    return DatasourceLogger(logger, {'datasource': name})
