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

"""A service process set up as nova is, for the deployment test.

::

    python -m congress_consumer.tests.functional.nova_service \
        --config-file nova.conf [--config-file more.conf] \
        --steps 20 --seed 1 [--die]

Like nova it sets its default ``control_exchange`` to ``nova`` in code,
reads its configuration into the global ``cfg.CONF`` and creates its
engine with oslo.db from ``[database] connection``, whose
``plugin=publish_tables`` installs publishing: nothing here calls the
library. It then commits ``--steps`` transactions of the demo workload
and exits cleanly, or with ``--die`` kills itself with SIGKILL right
after its last ``COMMIT``.
"""

import argparse
import os
import signal
import sys

from oslo_config import cfg
from oslo_db import options as db_options
from oslo_db.sqlalchemy import engines
import oslo_messaging

from oslo_publish_tables import publisher
from publish_tables_demo import workload as demo_workload


def main(argv):
    parser = argparse.ArgumentParser()
    parser.add_argument('--steps', type=int, default=10)
    parser.add_argument('--seed', type=int, default=1)
    parser.add_argument('--die', action='store_true')
    args, rest = parser.parse_known_args(argv)
    oslo_messaging.set_transport_defaults(control_exchange='nova')
    conf = cfg.CONF
    db_options.set_defaults(conf)
    conf(rest, project='nova')
    engine = engines.create_engine(conf.database.connection)
    workload = demo_workload.Workload(engine, seed=args.seed)
    for _ in range(args.steps):
        workload.step()
    if args.die:
        os.kill(os.getpid(), signal.SIGKILL)
    publisher.uninstall(engine)  # a clean stop: flush, goodbye
    engine.dispose()
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
