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

"""The stamp: microseconds since the epoch from the database's clock.

Reading every producer's stamp from the one database clock makes stamps
of conflicting transactions follow commit order whatever host wrote them
(see doc/source/reference/sync-protocol). SQLite writers share a host, so
SQLite, and ``[publish_tables] clock = local``, use this host's clock.
"""

import sqlalchemy as sa

from oslo_publish_tables.protocol import stamps

_MYSQL = ("SELECT TIMESTAMPDIFF(MICROSECOND, '1970-01-01 00:00:00', "
          "UTC_TIMESTAMP(6))")

_PG = 'CAST(EXTRACT(EPOCH FROM clock_timestamp()) * 1000000 AS BIGINT)'

_SQL = {
    'postgresql': 'SELECT ' + _PG,
    # UTC arithmetic: UNIX_TIMESTAMP(NOW()) goes through the session time
    # zone and is ambiguous (steps back) in a daylight-saving fall-back.
    'mysql': _MYSQL,
    'mariadb': _MYSQL,
}


local_now = stamps.local_now


def sql_for(dialect_name, source='database'):
    """The SQL that reads the clock, or None to use :func:`local_now`."""
    if source == 'local':
        return None
    return _SQL.get(dialect_name)


def column_for(dialect_name, source='database'):
    """The clock as a column to add to a SELECT, or None (local clock).

    PostgreSQL evaluates the uncorrelated subquery once per statement.
    """
    sql = sql_for(dialect_name, source)
    if sql is None:
        return None
    return sa.literal_column('(%s)' % sql).label('publish_tables_stamp')


def returning_column_for(dialect_name, source='database'):
    """The clock as an expression a write statement returns, or None.

    Only where the clock is read when the expression is evaluated, i.e.
    per returned row, after that row's lock: PostgreSQL's
    ``clock_timestamp()``, not in a subquery (which PostgreSQL would
    evaluate once, at the first row). MySQL/MariaDB's ``UTC_TIMESTAMP()``
    is the time the statement started, before any lock wait, so it does
    not qualify (and MariaDB has no ``UPDATE ... RETURNING``).
    """
    if source == 'local' or dialect_name != 'postgresql':
        return None
    return sa.literal_column(_PG, sa.BigInteger).label(
        'publish_tables_stamp')


def now(connection, sql):
    """Read the clock through ``connection`` (a SQLAlchemy Connection)."""
    if sql is None:
        return local_now()
    return int(connection.exec_driver_sql(sql).scalar())
