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

"""Run in a subprocess: publish from an eventlet-monkeypatched process."""

import eventlet
eventlet.monkey_patch()

import json  # noqa: E402
import sys  # noqa: E402

import sqlalchemy as sa  # noqa: E402

from oslo_publish_tables.protocol import envelope  # noqa: E402
from oslo_publish_tables import publisher  # noqa: E402
from oslo_publish_tables import sender as sender_mod  # noqa: E402
from oslo_publish_tables import sending  # noqa: E402
from oslo_publish_tables.tests import capture_fixture  # noqa: E402
from publish_tables_demo import schema as demo_schema  # noqa: E402
from publish_tables_demo import workload as demo_workload  # noqa: E402


class _Recorder(object):
    def __init__(self):
        self.seqs = []

    def send(self, event_type, payload):
        eventlet.sleep(0.001)  # a green I/O wait, as a broker would
        self.seqs.extend(r.seq for r in envelope.parse(payload).records)


def _large_draft(changes=1500):
    from oslo_publish_tables.capture import listeners
    return listeners.Draft('txn', 1700000000000000, txn='large', changes=[
        envelope.Change('tags', 'insert', {'resource_id': 'r%d' % n,
                                           'tag': 't'},
                        {'resource_id': 'r%d' % n, 'tag': 'x' * 400}, ())
        for n in range(changes)])


def main(url, rabbit_url=None, topic=None):
    """Publish 30 workload steps; with ``rabbit_url`` through a child.

    With a sending child (``sending = process``) the records go to
    RabbitMQ on ``topic``; only the Sender's figures are reported.
    """
    engine = sa.create_engine(url)
    demo_schema.create(engine)
    conf = capture_fixture.make_conf(tables=list(demo_schema.PUBLISHED))
    recorder = _Recorder()
    if rabbit_url:
        recorder.transport = sending.ProcessTransport(
            conf, topic, 'publish_tables.test', transport_url=rabbit_url)
        recorder.send = recorder.transport.send
    sender = sender_mod.Sender(recorder)
    publisher.install(engine, conf, submit=sender.submit)
    workload = demo_workload.Workload(engine, seed=4)
    for _ in range(30):
        workload.step()
    if rabbit_url:  # frames larger than a pipe's buffer
        sender.submit(_large_draft())
    flushed = sender.flush(20)
    sender.stop()
    if rabbit_url:
        recorder.transport.close()
    print(json.dumps({'flushed': flushed, 'last_seq': sender.last_seq,
                      'seqs': recorder.seqs, 'stats': sender.stats}))


if __name__ == '__main__':
    main(*sys.argv[1:])
