"""A producer process for multi-process tests and tools.

``run(url, transport_url, topic, tables, steps, seed)`` installs
publishing on its own engine through its own global configuration, runs
the random workload and shuts down cleanly (flush + goodbye).
"""

import sqlalchemy as sa

from oslo_publish_tables import demo_workload
from oslo_publish_tables import publisher
from oslo_publish_tables.tests import capture_fixture


def run(url, transport_url, topic, tables, steps, seed):
    conf = capture_fixture.make_conf(tables=list(tables), topic=topic,
                                     transport_url=transport_url,
                                     heartbeat_interval=0.5)
    engine = sa.create_engine(url)
    publisher.install(engine, conf)
    workload = demo_workload.Workload(engine, seed=seed)
    failed = sum(workload.step() == 'conflict' for _ in range(steps))
    publisher.uninstall(engine)
    engine.dispose()
    return failed
