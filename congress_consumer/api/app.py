"""The API as a WSGI application: the paste pipeline and its factory.

:func:`init_application` is the ``wsgi_scripts`` entry point
(``congress-consumer-api``) that uwsgi, mod_wsgi or gunicorn load, as
OpenStack services do: it reads the configuration files named by
``OS_CONGRESS_CONSUMER_CONFIG_FILES`` (``;``-separated, default
``consumer.conf``) in ``OS_CONGRESS_CONSUMER_CONFIG_DIR`` (default
``/etc/congress-consumer``), starts every datasource and returns the
pipeline ``[consumer] auth_strategy`` names in ``[consumer]
api_paste_config`` (``etc/congress-consumer/api-paste.ini``):
oslo.middleware's request id, proxy headers, ``/healthcheck`` and body
size limit, then keystonemiddleware's ``auth_token`` (``keystone``) or
:class:`~congress_consumer.api.auth.NoAuthMiddleware` (``noauth``),
then :class:`~congress_consumer.api.wsgi.API` with the policy of
:mod:`congress_consumer.api.policy`. The replicas live in the process:
run one process (with threads) per consumer.

:func:`build_application` makes the same pipeline around an API the
caller made; the built-in server of ``congress-consumer`` serves it.
"""

import atexit
import os
import sys
import threading
import uuid

from keystonemiddleware import auth_token
from oslo_config import cfg
from oslo_log import log as logging
from paste import deploy

from congress_consumer.api import policy
from congress_consumer import exceptions
from congress_consumer import opts

LOG = logging.getLogger(__name__)

PROJECT = 'congress-consumer'
CONFIG_DIR_ENV = 'OS_CONGRESS_CONSUMER_CONFIG_DIR'
CONFIG_FILES_ENV = 'OS_CONGRESS_CONSUMER_CONFIG_FILES'
DEFAULT_CONFIG_DIR = '/etc/congress-consumer'
DEFAULT_CONFIG_FILES = 'consumer.conf'
PASTE_DIR = os.path.join('etc', 'congress-consumer')

# The APIs being wrapped by a pipeline, by the key the paste file's
# app_factory receives in its global configuration.
_APIS = {}
_APIS_LOCK = threading.Lock()


def config_files(environ=None):
    """The configuration files the WSGI entry point reads."""
    environ = os.environ if environ is None else environ
    directory = environ.get(CONFIG_DIR_ENV, DEFAULT_CONFIG_DIR)
    names = environ.get(CONFIG_FILES_ENV, DEFAULT_CONFIG_FILES)
    return [os.path.join(directory, name.strip())
            for name in names.split(';') if name.strip()]


def paste_file(conf):
    """The path of ``[consumer] api_paste_config``; ConfigError if none."""
    name = conf[opts.GROUP].api_paste_config
    candidates = [conf.find_file(name) if not os.path.isabs(name)
                  else name]
    if not os.path.isabs(name):
        top = os.path.dirname(os.path.dirname(os.path.dirname(
            os.path.abspath(__file__))))
        candidates += [os.path.join(top, PASTE_DIR, name),
                       os.path.join(sys.prefix, PASTE_DIR, name)]
    for path in candidates:
        if path and os.path.isfile(path):
            return os.path.abspath(path)
    raise exceptions.ConfigError(group=opts.GROUP,
                                 option='api_paste_config', value=name,
                                 reason='no such file')


def app_factory(global_conf, **local_conf):
    """The ``paste.app_factory`` of the API: the one being wrapped."""
    return _APIS[global_conf['congress_consumer_api']][0]


def authtoken_factory(global_conf, **local_conf):
    """keystonemiddleware's ``auth_token`` reading this consumer's conf.

    ``[keystone_authtoken]`` comes from the configuration the API was
    built with, not from the process-wide ``cfg.CONF``.
    """
    conf = _APIS[global_conf['congress_consumer_api']][1]
    return auth_token.filter_factory({}, oslo_config_config=conf,
                                     **local_conf)


def build_application(conf, api):
    """The paste pipeline of ``auth_strategy`` around ``api``.

    Gives ``api`` its :class:`~congress_consumer.api.policy.Authorizer`
    (``[oslo_policy]`` of ``conf``).
    """
    api.authorizer = policy.Authorizer(policy.make_enforcer(conf))
    strategy = conf[opts.GROUP].auth_strategy
    path = paste_file(conf)
    key = uuid.uuid4().hex
    with _APIS_LOCK:
        _APIS[key] = api, conf
    try:
        application = deploy.loadapp(
            'config:%s' % path, name=strategy,
            global_conf={'congress_consumer_api': key})
    except LookupError as exc:
        raise exceptions.ConfigError(
            group=opts.GROUP, option='auth_strategy', value=strategy,
            reason='no pipeline %s in %s: %s' % (strategy, path, exc))
    finally:
        with _APIS_LOCK:
            del _APIS[key]
    LOG.info('API pipeline %s from %s', strategy, path)
    return application


def init_application(environ=None, conf=None):
    """The ``wsgi_scripts`` entry point: a configured, running API."""
    # Imported here: the command module imports this one.
    from congress_consumer.cmd import consumer as consumer_cmd

    conf = cfg.CONF if conf is None else conf
    consumer_cmd.register_opts(conf)
    logging.register_options(conf)
    conf([], project=PROJECT, default_config_files=config_files(environ))
    logging.setup(conf, PROJECT)
    consumer = consumer_cmd.Consumer(conf, consumer_cmd.build_drivers(conf))
    application = consumer.start_application()
    atexit.register(consumer.stop)
    return application
