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

"""Congress's policy engine following a datasource's new columns.

Congress 11 takes a datasource's schema once: its policy-rule
synchronizer asks the datasource (``get_datasource_schema`` over the
DSE) and calls the engine's ``initialize_datasource``, whose
``set_schema`` refuses a second one. Rules are compiled against it when
they are inserted: column references such as
``nova:instances(uuid=id)`` become positions, padded to the table's
number of columns. When a migration changes a published table's columns
(:mod:`congress_consumer.congress_adapter` then gives the datasource the
new schema and publishes the table in its new shape), the engine needs a
new schema, facts of the new arity and its rules compiled again, or a
rule silently stops matching.

:class:`SchemaFollowing`, a mixin of Congress's ``DseRuntime``, does
that:

* every snapshot of a datasource table the engine receives (the one a
  subscription starts with, and the one the datasource publishes, in
  sequence, after a change of columns) makes it ask the datasource for
  its schema as the synchronizer does; if the table's columns differ
  from the engine's, :meth:`SchemaFollowing.follow` replaces, in one
  step: the table's schema, its facts (the snapshot's rows) and every
  rule using the table, compiled again from its text as Congress
  compiles a rule inserted now. Triggers (policy-table subscribers,
  ``execute[...]`` actions) are evaluated once before and once after, so
  only tables whose contents changed fire: an action is not run again
  because its rule was compiled again. A rule that no longer compiles
  (it names a column the table lost, or gives the old number of columns
  by position) is taken out, logged and listed in the engine's
  ``error_events``, as Congress lists a rule that does not fit its
  schema. Rules waiting for a schema are then tried, as ``set_schema``
  does;
* a snapshot of an older shape than the schema fetched (two changes in a
  row) is skipped, with the changes after it, until the next snapshot,
  which follows in sequence;
* a table the engine has no subscription to gets no snapshot: the
  datasource :func:`announce`\\ s the change to every engine, which
  fetches the schema and takes it;
* the engine keeps every rule's text: a rule inserted without it gets
  it (``original_str``; Congress's API and synchronizer set it).

Data, rule changes and schema changes run under one lock of the engine.
``congress-with-publish-tables server`` and ``engine`` run Congress's
``DseRuntime`` with it (:func:`following`, see
:mod:`congress_consumer.congress_compat`); Congress is imported only
when it is used.
"""

import threading

from oslo_log import log as logging

LOG = logging.getLogger(__name__)

ENGINE = '__engine'  # congress.api.base.ENGINE_SERVICE_ID
ANNOUNCE = 'publish_tables_schema_changed'


def announce(node, datasource, table):
    """Tell every policy engine on the bus that ``table`` has new columns."""
    from congress import exception as congress_exc
    import oslo_messaging

    try:
        node.broadcast_service_rpc(ENGINE, ANNOUNCE, {
            'source_id': datasource, 'table': table})
    except (congress_exc.CongressException,
            oslo_messaging.MessagingException) as exc:
        LOG.info('datasource %s: table %s: no policy engine told of its new '
                 'columns: %s', datasource, table, exc)


def names(columns):
    """Column names of a table's schema entry (dicts or names)."""
    return [c['name'] if isinstance(c, dict) else c for c in columns]


def following(engine_class):
    """``engine_class`` (a ``DseRuntime``) with :class:`SchemaFollowing`."""
    if issubclass(engine_class, SchemaFollowing):
        return engine_class
    return type(engine_class.__name__, (SchemaFollowing, engine_class), {
        '__module__': engine_class.__module__,
        '__doc__': engine_class.__doc__})


class _Endpoints(object):
    """The engine's RPC for a datasource's announcement."""

    def __init__(self, engine):
        self.engine = engine

    def publish_tables_schema_changed(self, context, source_id, table):
        self.engine.schema_changed(source_id, table)


class SchemaFollowing(object):
    """A policy engine that follows its datasources' columns."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._schema_lock = threading.RLock()
        self._stale = set()  # (datasource, table) skipped until a snapshot
        self.add_rpc_endpoint(_Endpoints(self))

    # -- Congress's entry points ---------------------------------------

    def process_policy_update(self, events, persistent=False):
        from congress.datalog import compile

        for event in events:
            rule = event.formula
            if (event.insert and compile.is_rule(rule) and rule.body and
                    rule.original_str is None):
                rule.set_original_str(str(rule))
        with self._schema_lock:
            return super().process_policy_update(events, persistent)

    def receive_data_sequenced(self, publisher, table, data, seqnum,
                               is_snapshot=False, receipt_time=None):
        with self._schema_lock:
            return super().receive_data_sequenced(
                publisher, table, data, seqnum, is_snapshot, receipt_time)

    def receive_data(self, publisher, table, data, is_snapshot=False):
        if self._is_datasource(publisher):
            if is_snapshot:
                if not self._take_schema(publisher, table, data):
                    return
            elif (publisher, table) in self._stale:
                return
        return super().receive_data(publisher, table, data, is_snapshot)

    def schema_changed(self, datasource, table):
        """A datasource announced new columns of ``table``."""
        with self._schema_lock:
            if not self._is_datasource(datasource):
                return
            subscribed = self.node.get_subscription(self.service_id)
            if table in subscribed.get(datasource, ()):
                return  # its snapshot in the new shape follows in sequence
            columns = self._fetch(datasource, table)
            if columns is not None and names(columns) != \
                    self.theory[datasource].schema.columns(table):
                self.follow(datasource, table, columns, [])

    # -- following -----------------------------------------------------

    def _is_datasource(self, name):
        from congress.datalog import base

        theory = self.theory.get(name)
        return theory is not None and \
            theory.kind == base.DATASOURCE_POLICY_TYPE

    def _fetch(self, datasource, table):
        """``table``'s columns as the datasource has them now, or None."""
        from congress import exception as congress_exc
        import oslo_messaging

        try:
            schema = self.node.invoke_service_rpc(
                datasource, 'get_datasource_schema',
                {'source_id': datasource})
        except (congress_exc.CongressException,
                oslo_messaging.MessagingException) as exc:
            LOG.warning('policy engine %s: datasource %s: table %s: schema '
                        'not fetched: %s', self.service_id, datasource,
                        table, exc)
            return None
        return (schema or {}).get(table)

    def _take_schema(self, datasource, table, rows):
        """Follow the columns before a snapshot loads; False: skip it."""
        key = (datasource, table)
        columns = self._fetch(datasource, table)
        if columns is None or names(columns) == \
                self.theory[datasource].schema.columns(table):
            self._stale.discard(key)
            return True
        rows = [tuple(row) for row in rows]
        if any(len(row) != len(columns) for row in rows):
            self._stale.add(key)
            LOG.info('policy engine %s: datasource %s: table %s: a snapshot '
                     'of older columns than the datasource has: skipped '
                     'until the next one', self.service_id, datasource, table)
            return False
        self.follow(datasource, table, columns, rows)
        self._stale.discard(key)
        return True

    def follow(self, datasource, table, columns, rows):
        """Give ``table`` new ``columns``, its ``rows``, its rules anew.

        In one step: triggers see the engine before and after only.
        """
        from congress.datalog import compile
        from congress import utils

        uses = self._rules_using(datasource, table)
        removed = [compile.Event(rule, insert=False, target=policy)
                   for policy, rule in uses]
        triggers = self.trigger_registry.triggers_by_table(
            self.trigger_registry.relevant_triggers(
                [compile.Tablename.build_service_table(datasource, table)] +
                removed))
        before = self._compute_table_contents(triggers)
        theory = self.theory[datasource]
        old = theory.schema.columns(table)
        theory.schema = compile.Schema(dict(theory.schema.map,
                                            **{table: columns}),
                                       complete=theory.schema.complete)
        added, errors = self._recompile(datasource, table, uses)
        graph = self.global_dependency_graph.formula_update(
            removed + added, include_atoms=False)
        self._maintain_triggers()
        self.trigger_registry.update_dependencies(graph)
        for event in removed + added:
            self.theory[event.target].update([event])
        theory.initialize_tables([table], (
            compile.Fact(table, utils.tuple_to_congress(row)) for row in rows))
        after = self._compute_table_contents(triggers)
        for key, table_triggers in triggers.items():
            if before[key] != after[key]:
                for trigger in table_triggers:
                    trigger.callback(key, before[key], after[key])
        self.error_events.extend(errors)
        LOG.info('policy engine %s: datasource %s: table %s: columns %s '
                 '(were %s); %d rules compiled again, %d taken out',
                 self.service_id, datasource, table, ', '.join(names(columns)),
                 ', '.join(old or ()), len(added), len(errors))
        self._enable_waiting()

    def _rules_using(self, datasource, table):
        """``[(policy, rule)]`` of the rules with ``table`` in their body."""
        from congress.datalog import compile

        found = []
        for name, theory in sorted(self.theory.items()):
            if self._is_datasource(name):
                continue
            for rule in theory.content():
                if compile.is_rule(rule) and any(
                        lit.table.service == datasource and
                        lit.table.table == table for lit in rule.body):
                    found.append((name, rule))
        return found

    def _recompile(self, datasource, table, uses):
        """Insert events of ``uses`` compiled anew, and the errors."""
        from congress.datalog import compile
        from congress import exception as congress_exc

        added, errors = [], []
        for policy, rule in uses:
            try:
                new = compile.parse1(rule.original_str or str(rule))
                new = new.eliminate_column_references_and_pad_positional(
                    self.theory, default_theory=policy)
                problems = compile.check_schema_consistency(
                    new, self.theory, policy)
            except (congress_exc.PolicyException,
                    congress_exc.IncompleteSchemaException) as exc:
                problems = [exc]
            if problems:
                LOG.warning('policy engine %s: datasource %s: table %s: '
                            'rule %s of policy %s does not fit the new '
                            'columns, taken out: %s', self.service_id,
                            datasource, table, rule.original_str or rule,
                            policy,
                            '; '.join(str(p) for p in problems))
                errors.append((compile.Event(rule, target=policy), problems))
                continue
            new.set_id(rule.id)
            new.set_name(rule.name)
            new.set_comment(rule.comment)
            new.set_original_str(rule.original_str)
            added.append(compile.Event(new, target=policy))
        return added, errors

    def _enable_waiting(self):
        """Try the rules waiting for a schema (as ``set_schema`` does)."""
        tables = self.tablenames(body_only=True)
        enabled, self.disabled_events, errors = \
            self._process_limbo_events(self.disabled_events)
        self.error_events.extend(errors)
        for event in enabled:
            permitted, problems = self._update_obj_datalog([event])
            if not permitted:
                self.error_events.append((event, problems))
        self.update_table_subscriptions(
            tables, self.tablenames(body_only=True))
