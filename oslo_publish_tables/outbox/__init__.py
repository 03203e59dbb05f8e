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

"""Durable mode: the transactional outbox and its relay.

With ``[publish_tables] delivery = durable`` each captured transaction
writes its record into the ``publish_tables_outbox`` table of the
service's own database, in the same transaction, just before ``COMMIT``
(:mod:`.store`). The service's sender publishes it as in direct mode and,
once the transport confirmed, deletes the row from its background
thread. Rows whose process died before that are published by the relay
(:mod:`.relay`) in ``publish-tables-agent``. The table is created by the
alembic migrations shipped in :mod:`.migration`
(``publish-tables-manage db_sync``), in the service's own schema or, with
``[publish_tables] outbox_schema``, in a schema (PostgreSQL) or database
(MySQL/MariaDB) of the same server (:mod:`.schema`).
"""
