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

"""A producer process for multi-process tests and tools.

``run(url, transport_url, topic, tables, steps, seed[, compression])``
installs publishing on its own engine through its own global
configuration, runs the random workload and shuts down cleanly (flush +
goodbye).
``run_durable_and_die(...)`` does the same in durable mode but never
publishes (its broker does not answer) and ends with ``kill -9``.
"""

import os
import signal

import sqlalchemy as sa

from oslo_publish_tables import publisher
from oslo_publish_tables.tests import capture_fixture
from publish_tables_demo import workload as demo_workload


def run(url, transport_url, topic, tables, steps, seed,
        compression='none'):
    conf = capture_fixture.make_conf(tables=list(tables), topic=topic,
                                     transport_url=transport_url,
                                     heartbeat_interval=0.5,
                                     compression=compression)
    engine = sa.create_engine(url)
    publisher.install(engine, conf)
    workload = demo_workload.Workload(engine, seed=seed)
    failed = sum(workload.step() == 'conflict' for _ in range(steps))
    publisher.uninstall(engine)
    engine.dispose()
    return failed


def run_durable_and_die(url, transport_url, topic, tables, steps, seed):
    """Commit ``steps`` transactions in durable mode, then SIGKILL self.

    ``transport_url`` should not answer: every record stays in the
    outbox, as when a process dies between COMMIT and publishing.
    """
    conf = capture_fixture.make_conf(tables=list(tables), topic=topic,
                                     transport_url=transport_url,
                                     delivery='durable')
    engine = sa.create_engine(url)
    publisher.install(engine, conf)
    workload = demo_workload.Workload(engine, seed=seed)
    for _ in range(steps):
        workload.step()
    os.kill(os.getpid(), signal.SIGKILL)
