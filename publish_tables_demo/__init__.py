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

"""The demo: a nova-like schema, a random workload and the whole pipeline.

Neither the library (:mod:`oslo_publish_tables`) nor the consumer
(:mod:`congress_consumer`) imports this package; it uses both:

* :mod:`.schema`: a few nova-like tables (instances, their metadata,
  services, ...) and the list of tables the demo publishes;
* :mod:`.workload`: random writes of every kind the capture handles
  (inserts, updates, ORM bulk updates, soft and hard deletes, Core
  statements, rolled-back transactions and savepoints);
* :mod:`.cmd`: ``publish-tables-demo``, producer and consumer in one
  process on the ``fake://`` transport; :mod:`.entry` its console
  script, which keeps the libraries' deprecation warnings out of the
  demo's output.

The tests, the benchmarks (``tools/bench``) and the fault suite
(``tools/faults``) write this schema with this workload.
"""
