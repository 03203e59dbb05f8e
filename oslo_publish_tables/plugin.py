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
"""

from oslo_config import cfg
from sqlalchemy.engine import CreateEnginePlugin

from oslo_publish_tables import publisher

CONFIG_PARAM = 'publish_tables_config'


class PublishTablesPlugin(CreateEnginePlugin):
    """Installs publishing on each engine created with the plugin."""

    def __init__(self, url, kwargs):
        super().__init__(url, kwargs)
        self.config_file = url.query.get(CONFIG_PARAM)

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
        publisher.install(engine, self._conf())
