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

"""A cheap estimate of a table's row count, for progress ETAs.

The databases keep statistics (PostgreSQL's ``pg_class.reltuples``,
MySQL's ``information_schema.tables.table_rows``); reading them costs a
catalogue lookup, unlike ``COUNT(*)``. The figure may be off (stale
statistics), so it only feeds progress ETAs, never a correctness check.
Elsewhere, or when the statistics say nothing, the answer is None.
"""

import logging

import sqlalchemy as sa

LOG = logging.getLogger(__name__)

_QUERIES = {
    'postgresql': sa.text(
        'SELECT reltuples FROM pg_class WHERE oid = to_regclass(:name)'),
    'mysql': sa.text(
        'SELECT table_rows FROM information_schema.tables '
        'WHERE table_schema = DATABASE() AND table_name = :name'),
}


def estimate_rows(connection, table):
    """Estimated rows of ``table`` (a :class:`sa.Table`), or None."""
    query = _QUERIES.get(connection.dialect.name)
    if query is None:
        return None
    name = table.name
    if connection.dialect.name == 'postgresql':
        name = connection.dialect.identifier_preparer.format_table(table)
    try:
        value = connection.execute(query, {'name': name}).scalar()
    except sa.exc.SQLAlchemyError as exc:
        LOG.debug('no row estimate for %s: %s', table.name, exc)
        return None
    if value is None or value < 0:  # PostgreSQL: -1 = never analysed
        return None
    return int(value)
