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

"""The ``wsgi_scripts`` entry point ``congress-consumer-api``.

:func:`init_application` is what uwsgi, mod_wsgi or gunicorn load, as
for OpenStack APIs: it reads the configuration files named by
``OS_CONGRESS_CONSUMER_CONFIG_FILES`` (``;``-separated, default
``consumer.conf``) in ``OS_CONGRESS_CONSUMER_CONFIG_DIR`` (default
``/etc/congress-consumer``), starts every datasource and returns the
pipeline of :func:`congress_consumer.api.app.build_application`. The
replicas live in the process: run one process (with threads) per
consumer.
"""

import atexit
import os

from oslo_config import cfg
from oslo_log import log as logging

from congress_consumer.cmd import consumer as consumer_cmd

PROJECT = consumer_cmd.PROJECT
CONFIG_DIR_ENV = 'OS_CONGRESS_CONSUMER_CONFIG_DIR'
CONFIG_FILES_ENV = 'OS_CONGRESS_CONSUMER_CONFIG_FILES'
DEFAULT_CONFIG_DIR = '/etc/congress-consumer'
DEFAULT_CONFIG_FILES = 'consumer.conf'


def config_files(environ=None):
    """The configuration files the WSGI entry point reads."""
    environ = os.environ if environ is None else environ
    directory = environ.get(CONFIG_DIR_ENV, DEFAULT_CONFIG_DIR)
    names = environ.get(CONFIG_FILES_ENV, DEFAULT_CONFIG_FILES)
    return [os.path.join(directory, name.strip())
            for name in names.split(';') if name.strip()]


def init_application(environ=None, conf=None):
    """The ``wsgi_scripts`` entry point: a configured, running API."""
    conf = cfg.CONF if conf is None else conf
    consumer_cmd.register_opts(conf)
    logging.register_options(conf)
    conf([], project=PROJECT, default_config_files=config_files(environ))
    logging.setup(conf, PROJECT)
    consumer = consumer_cmd.Consumer(conf, consumer_cmd.build_drivers(conf))
    application = consumer.start_application()
    atexit.register(consumer.stop)
    return application
