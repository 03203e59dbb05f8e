"""The demo: a nova-like schema, a random workload and the whole pipeline.

Neither the library (:mod:`oslo_publish_tables`) nor the consumer
(:mod:`congress_consumer`) imports this package; it uses both:

* :mod:`.schema`: a few nova-like tables (instances, their metadata,
  services, ...) and the list of tables the demo publishes;
* :mod:`.workload`: random writes of every kind the capture handles
  (inserts, updates, ORM bulk updates, soft and hard deletes, Core
  statements, rolled-back transactions and savepoints);
* :mod:`.cmd`: ``publish-tables-demo``, producer and consumer in one
  process on the ``fake://`` transport.

The tests, the benchmarks (``tools/bench``) and the fault suite
(``tools/faults``) write this schema with this workload.
"""
