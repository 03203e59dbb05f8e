"""Options of congress_consumer for oslo-config-generator and the docs.

``congress-consumer`` reads ``[consumer]`` and one ``[datasource_<name>]``
section for every name in ``[consumer] datasources``. A generator needs
fixed group names, so the datasource options are listed once, under
``[datasource_nova]``: the section of a datasource named ``nova``.
``[subscriptions]`` configures the table subscriptions.
"""

import copy

from oslo_config import cfg

from congress_consumer.cmd import consumer
from congress_consumer.cmd import driver_options
from congress_consumer.subscriptions import service as subscriptions

DATASOURCE_EXAMPLE = 'nova'


def list_opts():
    """Return ``[(group, [options])]`` for the sample config file."""
    example = cfg.OptGroup(
        consumer.datasource_group(DATASOURCE_EXAMPLE),
        help='Options of one datasource. Every name <name> listed in '
             '[consumer] datasources has a section [datasource_<name>] '
             'with these options; this one configures a datasource named '
             '%s.' % DATASOURCE_EXAMPLE)
    return [(consumer.GROUP, copy.deepcopy(consumer._opts)),
            (example, copy.deepcopy(consumer._datasource_opts +
                                    driver_options.opts)),
            (subscriptions.GROUP, copy.deepcopy(subscriptions._opts))]
