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

"""Database drivers: which pip extra installs the one a URL needs.

``pip install oslo-publish-tables[mysql]`` installs PyMySQL (URLs
``mysql+pymysql://``), ``[postgresql]`` psycopg2 (``postgresql://``).
:func:`missing` tells, in one line naming the extra, that a URL's
driver is not installed, before SQLAlchemy fails with a traceback.
"""

import importlib.util

import sqlalchemy as sa

PROJECT = 'oslo-publish-tables'

# (backend, driver) -> (module imported, package on PyPI, our extra)
DRIVERS = {
    ('mysql', 'pymysql'): ('pymysql', 'PyMySQL', 'mysql'),
    ('mariadb', 'pymysql'): ('pymysql', 'PyMySQL', 'mysql'),
    ('mysql', 'mysqldb'): ('MySQLdb', 'mysqlclient', None),
    ('postgresql', 'psycopg2'): ('psycopg2', 'psycopg2-binary',
                                 'postgresql'),
}


def missing(url):
    """Why ``url``'s driver cannot be loaded, in one line; None if it can.

    ``url`` is a string or an SQLAlchemy URL. Drivers not in
    :data:`DRIVERS` are left to SQLAlchemy.
    """
    url = sa.engine.make_url(url)
    backend, driver = url.get_backend_name(), url.get_driver_name()
    known = DRIVERS.get((backend, driver))
    if known is None:
        return None
    module, package, extra = known
    if importlib.util.find_spec(module) is not None:
        return None
    how = ('pip install "%s[%s]"' % (PROJECT, extra) if extra
           else 'pip install %s' % package)
    return 'the %s driver %s (%s) is not installed: %s' % (
        backend, driver, package, how)


def shown(url):
    """``url`` as a message may show it (no password)."""
    return sa.engine.make_url(url).render_as_string(hide_password=True)
