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

"""The ``publish_tables`` SQLAlchemy engine plugin: enable by config alone.

Add ``plugin=publish_tables`` to the service's database URL::

    [database]
    connection = mysql+pymysql://nova:secret@db/nova?plugin=publish_tables

    [publish_tables]
    tables = instances,compute_nodes

oslo.db hands the URL to :func:`sqlalchemy.create_engine`, which loads the
plugin from the ``sqlalchemy.plugins`` entry point; the plugin then calls
:func:`oslo_publish_tables.publisher.install` on the new engine with the
service's global configuration. ``publish_tables_config=/path/file.conf``
in the URL reads the options from that file instead. The plugin's own
query parameters are removed before the database driver sees the URL.

The plugin does not change how the service connects: it opens no
connection of its own while the engine is created (a database that is
down is then the service's to report, and oslo.db's to retry) and
installs publishing on the engine's first connection, before anything
runs on it. ``plugin=publish_tables`` given twice installs it once.
"""

import threading

from oslo_config import cfg
import sqlalchemy as sa
from sqlalchemy.engine import CreateEnginePlugin

from oslo_publish_tables import exceptions
from oslo_publish_tables import publisher

CONFIG_PARAM = 'publish_tables_config'
_install_lock = threading.Lock()


def _config_file(url):
    value = url.query.get(CONFIG_PARAM)
    if isinstance(value, tuple):
        if len(set(value)) > 1:
            raise exceptions.ConfigError(
                CONFIG_PARAM, ','.join(value), 'given more than once in '
                'the database URL', group='database')
        value = value[0]
    return value


class PublishTablesPlugin(CreateEnginePlugin):
    """Installs publishing on each engine created with the plugin."""

    def __init__(self, url, kwargs):
        super().__init__(url, kwargs)
        self.config_file = _config_file(url)

    def update_url(self, url):
        return url.difference_update_query([CONFIG_PARAM])

    def _conf(self):
        if not self.config_file:
            return cfg.CONF
        conf = cfg.ConfigOpts()
        publisher.register_opts(conf)
        conf([], project='publish_tables', default_config_files=[
            self.config_file])
        return conf

    def engine_created(self, engine):
        conf = self._conf()
        state = {'done': False}

        def install_on_first_connection(connection):
            if state['done']:
                return
            with _install_lock:
                if not state['done'] and publisher.installed(engine) is None:
                    publisher.install(engine, conf, connection=connection)
                state['done'] = True

        sa.event.listen(engine, 'engine_connect',
                        install_on_first_connection)
