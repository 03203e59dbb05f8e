"""Run in a subprocess: publish from an eventlet-monkeypatched process."""

import eventlet
eventlet.monkey_patch()

import json  # noqa: E402
import sys  # noqa: E402

import sqlalchemy as sa  # noqa: E402

from oslo_publish_tables.protocol import envelope  # noqa: E402
from oslo_publish_tables import publisher  # noqa: E402
from oslo_publish_tables import sender as sender_mod  # noqa: E402
from oslo_publish_tables.tests import capture_fixture  # noqa: E402
from publish_tables_demo import schema as demo_schema  # noqa: E402
from publish_tables_demo import workload as demo_workload  # noqa: E402


class _Recorder(object):
    def __init__(self):
        self.seqs = []

    def send(self, event_type, payload):
        eventlet.sleep(0.001)  # a green I/O wait, as a broker would
        self.seqs.extend(r.seq for r in envelope.parse(payload).records)


def main(url):
    engine = sa.create_engine(url)
    demo_schema.create(engine)
    conf = capture_fixture.make_conf(tables=list(demo_schema.PUBLISHED))
    recorder = _Recorder()
    sender = sender_mod.Sender(recorder)
    publisher.install(engine, conf, submit=sender.submit)
    workload = demo_workload.Workload(engine, seed=4)
    for _ in range(30):
        workload.step()
    flushed = sender.flush(10)
    sender.stop()
    print(json.dumps({'flushed': flushed, 'last_seq': sender.last_seq,
                      'seqs': recorder.seqs}))


if __name__ == '__main__':
    main(sys.argv[1])
