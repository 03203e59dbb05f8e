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

"""Tests of the Receiver (message validation) and the driver mapping."""

import base64
import copy
import datetime
import decimal
import gc
import json
import time
import zlib

import fixtures
from oslo_config import cfg
import oslo_messaging
import testtools

from oslo_publish_tables.protocol import codec
from oslo_publish_tables.protocol import envelope

from congress_consumer import exceptions
from congress_consumer.replication import driver as driver_mod
from congress_consumer.replication import heap
from congress_consumer.replication import receiver as receiver_mod
from congress_consumer.replication import sync as sync_mod

PRODUCER = {'id': 'p' * 32, 'host': 'node1', 'pid': 1, 'started': 1}
CREATED = datetime.datetime(2024, 1, 2, 3, 4, 5)


def _change(table, op, key, **values):
    row = dict(values, id=key)
    return envelope.Change(table, op, {'id': key}, row, sorted(values))


def _payload(seq, ts, *changes, **kwargs):
    records = [envelope.txn_record(seq, ts, 'txn-%d' % seq, changes)]
    return json.loads(json.dumps(envelope.batch(
        kwargs.get('producer', PRODUCER), seq, records, 10.0,
        final=kwargs.get('final', False))))


class FakeSource(object):
    """A snapshot source serving fixed rows."""

    def __init__(self, tables):
        self.tables = tables    # table -> (ts, columns, rows)
        self.opened = []
        self._pages = {}

    def open(self, table):
        ts, columns, rows = self.tables[table]
        sid = '%s-%d' % (table, len(self.opened))
        self.opened.append(table)
        self._pages[sid] = [codec.encode_row(r) for r in rows]
        return {'id': sid, 'ts': ts, 'columns': list(columns), 'pk': ['id']}

    def fetch(self, sid, max_rows):
        rows = self._pages.pop(sid, [])
        return {'rows': rows, 'done': not rows}

    def close(self, sid):
        self._pages.pop(sid, None)

    def cleanup(self):
        pass


class DecodedSource(FakeSource):
    """Serves decoded rows from ``fetch_decoded``, two per page."""

    def open(self, table):
        snap = super().open(table)
        self._pages[snap['id']] = list(self.tables[table][2])
        return snap

    def fetch(self, sid, max_rows):
        raise AssertionError('fetch_decoded must be used')

    def fetch_decoded(self, sid, max_rows):
        rows = self._pages.get(sid, [])
        page, self._pages[sid] = rows[:2], rows[2:]
        return {'rows': page, 'done': not page}


class Recorder(object):
    def __init__(self):
        self.calls = []

    def __call__(self, table, to_add, to_del):
        self.calls.append((table, set(to_add), set(to_del)))


def _transport(test):
    conf = cfg.ConfigOpts()
    conf([])
    transport = oslo_messaging.get_notification_transport(conf,
                                                          url='fake://')
    test.addCleanup(transport.cleanup)
    return conf, transport


class ReceiverTest(testtools.TestCase):

    def setUp(self):
        super().setUp()
        _conf, self.transport = _transport(self)
        self.sync = sync_mod.Synchronizer(['t'], {'t': ('id',)},
                                          FakeSource({}))
        self.receiver = receiver_mod.Receiver(self.transport, self.sync)
        self.valid = _payload(1, 100, _change('t', 'insert', 1, name='a'))

    def assertDiscarded(self, payload, event_type=envelope.EVENT_BATCH,
                        reason='malformed'):
        before = self.receiver.received
        self.receiver.deliver(event_type, payload)
        self.assertEqual(before + 1, self.receiver.received)
        self.assertEqual(1, self.sync.counts['discarded'])
        if reason:
            self.assertEqual(1, self.sync.counts['discarded:' + reason])
        replica = self.sync.replicas['t']
        self.assertEqual({}, replica.rows)
        self.assertEqual({}, replica.versions)
        self.assertEqual(0, len(self.sync.tracker))

    def mutated(self, mutate):
        payload = copy.deepcopy(self.valid)
        mutate(payload)
        return payload

    def test_valid_payload_is_applied(self):
        self.receiver.deliver(envelope.EVENT_BATCH, self.valid)
        self.assertEqual({(1,): {'id': 1, 'name': 'a'}},
                         self.sync.replicas['t'].rows)
        self.assertEqual(0, self.sync.counts['discarded'])
        self.assertEqual(1, len(self.sync.tracker))

    def test_compressed_payload_is_applied(self):
        self.receiver.deliver(envelope.EVENT_BATCH,
                              json.loads(json.dumps(envelope.compress(
                                  self.valid))))
        self.assertEqual({(1,): {'id': 1, 'name': 'a'}},
                         self.sync.replicas['t'].rows)
        self.assertEqual(0, self.sync.counts['discarded'])
        self.assertEqual(1, len(self.sync.tracker))

    def test_plain_and_compressed_from_one_producer(self):
        # Duplicated and reordered across the two forms: stamps decide.
        first = _payload(1, 100, _change('t', 'insert', 1, name='a'))
        second = _payload(2, 200, _change('t', 'update', 1, name='b'))
        for payload in (envelope.compress(second), first, second,
                        envelope.compress(first)):
            self.receiver.deliver(envelope.EVENT_BATCH,
                                  json.loads(json.dumps(payload)))
        self.assertEqual({(1,): {'id': 1, 'name': 'b'}},
                         self.sync.replicas['t'].rows)
        self.assertEqual([], self.sync.tracker.check())
        self.assertEqual(0, self.sync.counts['discarded'])

    def test_malformed_compressed_bodies(self):
        packed = json.loads(json.dumps(envelope.compress(self.valid)))
        bad = [
            dict(packed, encoding='zlib-9'),
            dict(packed, body=packed['body'][:-8]),
            dict(packed, body='!!not base64!!'),
            dict(packed, body=base64.b64encode(zlib.compress(
                b'{"producer": 1}')).decode()),
            dict(packed, body=base64.b64encode(b'garbage').decode()),
            {k: v for k, v in packed.items() if k != 'body'},
        ]
        for payload in bad:
            self.sync.counts.clear()
            self.receiver._log.interval = 0  # log each (no flood here)
            with fixtures.FakeLogger(name=receiver_mod.__name__) as log:
                self.assertDiscarded(payload)
            self.assertIn('discarded a malformed', log.output)

    def test_payload_not_a_dict(self):
        self.assertDiscarded([self.valid])

    def test_payload_none(self):
        self.assertDiscarded(None)

    def test_wrong_format(self):
        self.assertDiscarded(self.mutated(
            lambda p: p.update(format='something_else')))

    def test_unsupported_major_version(self):
        self.assertDiscarded(self.mutated(lambda p: p.update(version='2.0')))

    def test_bad_version(self):
        self.assertDiscarded(self.mutated(lambda p: p.update(version='x')))

    def test_missing_last_seq(self):
        self.assertDiscarded(self.mutated(lambda p: p.pop('last_seq')))

    def test_missing_producer_id(self):
        self.assertDiscarded(self.mutated(lambda p: p['producer'].pop('id')))

    def test_record_missing_stamp(self):
        self.assertDiscarded(self.mutated(lambda p: p['records'][0].pop(
            'ts')))

    def test_seq_of_wrong_type(self):
        self.assertDiscarded(self.mutated(
            lambda p: p['records'][0].update(seq='1')))

    def test_unknown_op(self):
        self.assertDiscarded(self.mutated(
            lambda p: p['records'][0]['changes'][0].update(op='upsert')))

    def test_unknown_record_kind(self):
        self.assertDiscarded(self.mutated(
            lambda p: p['records'][0].update(kind='ddl')))

    def test_undecodable_value_tag(self):
        self.assertDiscarded(self.mutated(
            lambda p: p['records'][0]['changes'][0]['row'].update(
                name={'$t': 'nope', 'v': 'x'})))

    def test_bad_tagged_value(self):
        self.assertDiscarded(self.mutated(
            lambda p: p['records'][0]['changes'][0]['row'].update(
                name={'$t': 'dt', 'v': 'not a date'})))

    def test_unknown_event_type(self):
        self.assertDiscarded(self.valid, 'publish_tables.unknown',
                             'unknown_event')

    def test_oversized_input_makes_short_log_lines(self):
        log = self.useFixture(fixtures.FakeLogger())
        self.assertDiscarded(self.valid, 'publish_tables.' + 'x' * 100000,
                             'unknown_event')
        self.receiver.deliver(envelope.EVENT_BATCH, self.mutated(
            lambda p: p['records'][0]['changes'][0].update(op='y' * 100000)))
        self.assertEqual(2, len(log.output.splitlines()))
        self.assertLess(len(log.output), 1000)

    def test_one_bad_record_discards_the_whole_batch(self):
        payload = json.loads(json.dumps(envelope.batch(PRODUCER, 2, [
            envelope.txn_record(1, 100, 'a',
                                [_change('t', 'insert', 1, name='a')]),
            {'seq': 2, 'kind': 'txn'}], 10.0)))
        self.assertDiscarded(payload)

    def test_unhashable_key_is_discarded_without_exception(self):
        payload = self.mutated(
            lambda p: p['records'][0]['changes'][0].update(
                pk={'id': {'$t': 'json', 'v': [1]}}))
        self.receiver.deliver(envelope.EVENT_BATCH, payload)
        self.assertEqual(1, self.sync.counts['discarded'])
        self.assertEqual({}, self.sync.replicas['t'].rows)

    def test_key_with_wrong_columns_is_discarded(self):
        payload = self.mutated(
            lambda p: p['records'][0]['changes'][0].update(
                pk={'uuid': 'x'}))
        self.receiver.deliver(envelope.EVENT_BATCH, payload)
        self.assertEqual(1, self.sync.counts['discarded'])
        self.assertEqual({}, self.sync.replicas['t'].rows)

    def test_change_of_other_table_is_ignored(self):
        self.receiver.deliver(envelope.EVENT_BATCH, _payload(
            1, 100, _change('other', 'insert', 1, name='a')))
        self.assertEqual(1, self.sync.counts['unknown_table'])
        self.assertEqual(0, self.sync.counts['discarded'])
        self.assertEqual({}, self.sync.replicas['t'].rows)

    def test_listener_delivers_notifications(self):
        # End to end over the fake driver: a batch reaches the replica;
        # another event type or priority on the topic is counted.
        notifier = oslo_messaging.Notifier(
            self.transport, publisher_id='publish_tables.node1',
            driver='messaging', topics=['publish_tables'])
        self.receiver.start()
        self.addCleanup(self.receiver.stop)
        notifier.info({}, 'compute.instance.update', {'x': 1})
        notifier.error({}, envelope.EVENT_BATCH, self.valid)
        notifier.info({}, envelope.EVENT_BATCH, self.valid)
        deadline = time.monotonic() + 10
        # ``received`` counts a message before it is handled: wait for
        # the outcomes too.
        while ((self.receiver.received < 3
                or self.sync.counts['discarded:unknown_event'] < 1
                or self.sync.counts['discarded:wrong_priority'] < 1
                or not self.sync.replicas['t'].rows)
               and time.monotonic() < deadline):
            time.sleep(0.01)
        self.assertEqual({(1,): {'id': 1, 'name': 'a'}},
                         self.sync.replicas['t'].rows)
        self.assertEqual(3, self.receiver.received)
        self.assertEqual(1, self.sync.counts['discarded:unknown_event'])
        self.assertEqual(1, self.sync.counts['discarded:wrong_priority'])


class SynchronizerSourceTest(testtools.TestCase):

    def test_decoded_rows_and_chunk_hooks(self):
        when = datetime.datetime(2024, 1, 2, 3, 4, 5)
        rows = [{'id': i, 'at': when} for i in range(5)]
        sync = sync_mod.Synchronizer(
            ['t'], None, DecodedSource({'t': (1000, ['id', 'at'], rows)}))
        calls = []
        sync.on_chunk = lambda table: calls.append(('chunk', table))
        sync.on_loaded = lambda table: calls.append(
            ('loaded', table, sync.status[table].state))
        sync.sync_table('t')
        self.assertEqual({(r['id'],): r for r in rows},
                         dict(sync.replicas['t'].rows))
        # Pages of 2, 2, 1 rows, then the empty last page.
        self.assertEqual([('chunk', 't')] * 4 + [('loaded', 't', 'LIVE')],
                         calls)


class DriverTest(testtools.TestCase):

    ARGS = {
        'tables': 'instances, hosts',
        'table_names': {'instances': 'servers'},
        'columns': {'instances': ['id', 'name', 'created_at', 'price']},
        'rename': {'instances': {'name': 'display_name'}},
        'types': {'instances': {'id': 'str'}},
    }

    def setUp(self):
        super().setUp()
        self.conf, self.transport = _transport(self)
        self.source = FakeSource({
            'instances': (1000, ['id', 'name', 'created_at', 'price',
                                 'secret'],
                          [{'id': 1, 'name': 'vm1', 'created_at': CREATED,
                            'price': decimal.Decimal('1.50'),
                            'secret': 'x'}]),
            'hosts': (1000, ['id', 'hostname'],
                      [{'id': 7, 'hostname': 'h7'}]),
        })

    def make_driver(self, args=None):
        return driver_mod.PublishTablesDriver(
            'nova', args or self.ARGS, conf=self.conf,
            transport=self.transport, snapshot_source=self.source)

    def deliver(self, driver, payload):
        driver.receiver.deliver(envelope.EVENT_BATCH, payload)

    def sync_all(self, driver):
        for table in driver.sync._due():
            driver.sync.sync_table(table)

    def test_schema_from_args(self):
        driver = self.make_driver()
        self.assertEqual(('id', 'display_name', 'created_at', 'price'),
                         driver.get_column_names('servers'))
        self.assertEqual({'servers'}, set(driver.get_schema()))

    def test_schema_learned_from_snapshot_columns(self):
        driver = self.make_driver()
        self.sync_all(driver)
        self.assertEqual({'servers', 'hosts'}, set(driver.get_schema()))
        self.assertEqual(('id', 'hostname'),
                         driver.get_column_names('hosts'))
        self.assertEqual({(7, 'h7')}, driver.get_snapshot('hosts'))

    def test_learnt_columns_follow_the_table(self):
        driver = self.make_driver()
        recorder = driver.subscribe(Recorder())
        changed = []
        driver.subscribe_schema(
            lambda table: changed.append(
                (table, driver.get_column_names(table),
                 driver.get_snapshot(table))))
        self.sync_all(driver)
        self.assertEqual([('hosts', ('id', 'hostname'), set())], changed)
        # A migration adds a column (zone) and drops one (hostname).
        self.source.tables['hosts'] = (
            2000, ['id', 'zone'], [{'id': 7, 'zone': 'z1'}])
        self.source.tables['instances'][1].append('zone')
        recorder.calls.clear()
        driver.resync()
        self.sync_all(driver)
        # Told once the schema and rows have the new columns, before
        # the snapshot's rows load; instances keeps its configured ones.
        self.assertEqual(('hosts', ('id', 'zone'), {(7, None)}),
                         changed[1])
        self.assertEqual(2, len(changed))
        self.assertEqual(('id', 'zone'), driver.get_column_names('hosts'))
        self.assertEqual(('id', 'display_name', 'created_at', 'price'),
                         driver.get_column_names('servers'))
        self.assertEqual({(7, 'z1')}, driver.get_snapshot('hosts'))
        self.assertEqual(
            [('hosts', {(7, None)}, {(7, 'h7')}),
             ('hosts', {(7, 'z1')}, {(7, None)})],
            [(t, set(a), set(d)) for t, a, d in recorder.calls])

    def test_state_tuples_and_value_conversion(self):
        driver = self.make_driver()
        self.sync_all(driver)
        self.assertEqual({('1', 'vm1', '2024-01-02T03:04:05', 1.5)},
                         driver.get_snapshot('servers'))
        row = list(driver.get_snapshot('servers'))[0]
        self.assertIsInstance(row[3], float)
        self.assertEqual([{'data': ('1', 'vm1', '2024-01-02T03:04:05',
                                    1.5)}],
                         driver.get_row_data('servers'))

    def test_gc_freeze_hooks(self):
        self.addCleanup(gc.unfreeze)
        driver = self.make_driver()
        self.assertIs(heap.chunk_loaded, driver.sync.on_chunk)
        self.assertIs(heap.load_done, driver.sync.on_loaded)
        gc.unfreeze()
        self.sync_all(driver)
        self.assertGreater(gc.get_freeze_count(), 0)
        for off in (False, 'false', 'off', '0'):
            driver = self.make_driver(dict(self.ARGS, gc_freeze=off))
            self.assertIsNone(driver.sync.on_chunk)
            self.assertIsNone(driver.sync.on_loaded)
        self.assertRaises(exceptions.InvalidParamError, self.make_driver,
                          dict(self.ARGS, gc_freeze='sometimes'))

    def test_missing_column_becomes_none(self):
        driver = self.make_driver(dict(
            self.ARGS, columns={'hosts': ['id', 'rack', 'hostname']}))
        self.sync_all(driver)
        self.assertEqual({(7, None, 'h7')}, driver.get_snapshot('hosts'))
        one = self.make_driver(dict(self.ARGS,
                                    columns={'hosts': ['hostname']}))
        self.sync_all(one)
        self.assertEqual({('h7',)}, one.get_snapshot('hosts'))

    def test_congress_value(self):
        self.assertEqual('2024-01-02', driver_mod.congress_value(
            datetime.date(2024, 1, 2)))
        self.assertEqual(0.25, driver_mod.congress_value(
            decimal.Decimal('0.25')))
        self.assertEqual('AAE=', driver_mod.congress_value(b'\x00\x01'))
        self.assertEqual('{"a": [1, 2]}', driver_mod.congress_value(
            {'a': [1, 2]}))
        self.assertEqual(5, driver_mod.congress_value(5))

    def test_bad_type_conversion_rejected(self):
        args = dict(self.ARGS, types={'instances': {'id': 'uuid'}})
        self.assertRaises(exceptions.InvalidParamError, self.make_driver,
                          args)

    def test_no_tables_rejected(self):
        self.assertRaises(exceptions.InvalidParamError, self.make_driver,
                          {'tables': ' , '})

    def test_deltas_reach_the_state_and_subscribers(self):
        driver = self.make_driver()
        self.sync_all(driver)
        recorder = driver.subscribe(Recorder())
        self.deliver(driver, _payload(
            1, 2000, _change('instances', 'update', 1, name='vm1b',
                             created_at=CREATED, price=decimal.Decimal(2),
                             secret='x')))
        old = ('1', 'vm1', '2024-01-02T03:04:05', 1.5)
        new = ('1', 'vm1b', '2024-01-02T03:04:05', 2.0)
        self.assertEqual([('servers', {new}, {old})], recorder.calls)
        self.assertEqual({new}, driver.get_snapshot('servers'))
        # A change of an unselected column is invisible.
        self.deliver(driver, _payload(
            2, 2001, _change('instances', 'update', 1, name='vm1b',
                             created_at=CREATED, price=decimal.Decimal(2),
                             secret='y')))
        self.assertEqual(1, len(recorder.calls))
        self.deliver(driver, _payload(
            3, 2002, _change('instances', 'delete', 1, name='vm1b',
                             created_at=CREATED, price=decimal.Decimal(2),
                             secret='y')))
        self.assertEqual(('servers', set(), {new}), recorder.calls[-1])
        self.assertEqual(set(), driver.get_snapshot('servers'))

    def test_duplicate_tuples_are_counted(self):
        args = {'tables': 'instances', 'columns': {'instances': ['name']}}
        driver = self.make_driver(args)
        recorder = driver.subscribe(Recorder())
        self.sync_all(driver)
        self.assertEqual([('instances', {('vm1',)}, set())],
                         recorder.calls)
        self.deliver(driver, _payload(
            1, 2000, _change('instances', 'insert', 2, name='vm1')))
        self.assertEqual({('vm1',)}, driver.get_snapshot('instances'))
        self.assertEqual(1, len(recorder.calls))
        # Deleting one of the two rows keeps the tuple.
        self.deliver(driver, _payload(
            2, 2001, _change('instances', 'delete', 1, name='vm1')))
        self.assertEqual({('vm1',)}, driver.get_snapshot('instances'))
        self.assertEqual(1, len(recorder.calls))
        self.deliver(driver, _payload(
            3, 2002, _change('instances', 'delete', 2, name='vm1')))
        self.assertEqual(set(), driver.get_snapshot('instances'))
        self.assertEqual(('instances', set(), {('vm1',)}),
                         recorder.calls[-1])

    def test_deltas_before_columns_are_known_reach_the_state(self):
        # hosts has no 'columns' arg: its columns come with the first
        # snapshot. A row received before the snapshot opened (so in the
        # snapshot too, unchanged: the load reports nothing) must still
        # reach the state.
        self.source.tables['hosts'][2].append({'id': 8, 'hostname': 'h8'})
        driver = self.make_driver()
        recorder = driver.subscribe(Recorder())
        self.deliver(driver, _payload(
            1, 900, _change('hosts', 'insert', 8, hostname='h8')))
        self.assertEqual({(8,): {'id': 8, 'hostname': 'h8'}},
                         driver.sync.replicas['hosts'].rows)
        self.sync_all(driver)
        self.assertEqual({(7, 'h7'), (8, 'h8')},
                         driver.get_snapshot('hosts'))
        added = set()
        for table, to_add, _to_del in recorder.calls:
            if table == 'hosts':
                added |= to_add
        self.assertEqual({(7, 'h7'), (8, 'h8')}, added)

    def test_execute_resync(self):
        driver = self.make_driver()
        self.sync_all(driver)
        self.assertEqual([], driver.sync._due())
        driver.execute('resync', {'positional': ['instances']})
        self.assertEqual(['instances'], driver.sync._due())
        self.assertEqual(sync_mod.RESYNCING,
                         driver.sync.status['instances'].state)
        self.assertEqual(sync_mod.LIVE, driver.sync.status['hosts'].state)
        self.sync_all(driver)
        self.assertEqual(['instances', 'hosts', 'instances'],
                         self.source.opened)
        driver.execute('resync', {'positional': ['servers']})
        self.assertEqual(['instances'], driver.sync._due())
        driver.execute('resync')
        self.assertEqual(['instances', 'hosts'], driver.sync._due())
        self.assertRaises(exceptions.UnknownTableError, driver.execute,
                          'resync', {'positional': ['nope']})

    def test_unknown_table_of_an_action_answers_400_before_the_call(self):
        from congress_consumer.api import wsgi
        import webob

        driver = self.make_driver()
        self.sync_all(driver)
        api = wsgi.API({'nova': driver})
        for body in (b'{"name": "resync", "args": ["nope"]}',
                     b'{"name": "refresh_snapshot", "args": {"named": '
                     b'{"table": "nope"}}}'):
            request = webob.Request.blank(
                '/v1/data-sources/nova?action=execute', method='POST',
                body=body)
            request.content_type = 'application/json'
            response = request.get_response(api)
            self.assertEqual(400, response.status_int)
            self.assertIn('nope', response.json['error']['message'])
        self.assertEqual({}, dict(api._executions))  # nothing ran
        self.assertEqual([], driver.sync._due())

    def test_execute_refresh_snapshot_waits_for_the_load(self):
        driver = self.make_driver()
        self.sync_all(driver)
        driver.sync.start()
        self.addCleanup(driver.sync.stop)
        self.assertIs(True, driver.execute(
            'refresh_snapshot', {'positional': ['servers']}))
        self.assertEqual(['instances', 'hosts', 'instances'],
                         self.source.opened)
        self.assertEqual(sync_mod.LIVE,
                         driver.sync.status['instances'].state)
        self.assertIs(True, driver.execute('refresh_snapshot'))
        self.assertEqual(['hosts', 'instances'],
                         sorted(self.source.opened[3:]))
        self.assertRaises(exceptions.UnknownTableError, driver.execute,
                          'refresh_snapshot', {'positional': ['nope']})
        self.assertRaises(exceptions.InvalidParamError, driver.execute,
                          'refresh_snapshot', {'named': {'timeout': 'x'}})

    def test_refresh_snapshot_times_out_without_a_worker(self):
        driver = self.make_driver()
        self.sync_all(driver)
        started = time.monotonic()
        self.assertIs(False, driver.refresh_snapshot('hosts', timeout=0.2))
        self.assertGreaterEqual(time.monotonic() - started, 0.2)
        self.assertEqual(['hosts'], driver.sync._due())

    def test_get_status(self):
        driver = self.make_driver()
        self.sync_all(driver)
        self.deliver(driver, _payload(
            1, 2000, _change('hosts', 'insert', 9, hostname='h9')))
        self.deliver(driver, _payload(
            1, 2000, _change('hosts', 'insert', 9, hostname='h9')))
        driver.receiver.deliver(envelope.EVENT_BATCH, {'bad': True})
        status = driver.get_status()
        self.assertEqual({'servers', 'hosts'}, set(status['tables']))
        hosts = status['tables']['hosts']
        self.assertEqual(sync_mod.LIVE, hosts['state'])
        self.assertEqual(2, hosts['rows'])
        self.assertEqual(1, hosts['applied'])
        self.assertEqual(1, hosts['duplicate'])
        self.assertEqual(1, hosts['snapshots'])
        self.assertEqual(0, hosts['resyncs'])
        self.assertEqual(2000, hosts['last_applied_ts'])
        self.assertEqual(1, status['producers'])
        self.assertEqual(0, status['gaps'])
        self.assertEqual(0, status['vanished_producers'])
        self.assertEqual(1, status['discarded']['discarded'])
        self.assertEqual(3, status['received'])
        self.assertEqual('nova', status['name'])
