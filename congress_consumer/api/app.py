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

"""The API's paste pipeline around a :class:`~.wsgi.API`.

:func:`build_application` returns the pipeline ``[consumer]
auth_strategy`` names in ``[consumer] api_paste_config``
(``etc/congress-consumer/api-paste.ini``): oslo.middleware's request
id, proxy headers and body size limit, ``/healthcheck``, then
keystonemiddleware's ``auth_token`` (``keystone``) or
:class:`~congress_consumer.api.auth.NoAuthMiddleware` (``noauth``), then
the API with the policy of :mod:`congress_consumer.api.policy`. Every
middleware reads the consumer's own configuration (``[oslo_middleware]``,
``[healthcheck]``, ``[keystone_authtoken]``), never ``cfg.CONF``; the
body size limit admits every push (:func:`check_body_limits`). The
``wsgi_scripts`` entry point (:mod:`.wsgi_app`) and the built-in server
of ``congress-consumer`` both serve it.
"""

import os
import sys
import threading
import uuid

from keystonemiddleware import auth_token
from oslo_log import log as logging
from oslo_middleware import healthcheck
from oslo_middleware.healthcheck import opts as hc_opts
from oslo_middleware import http_proxy_to_wsgi
from oslo_middleware import request_id
from oslo_middleware import sizelimit
from paste import deploy

from congress_consumer.api import policy
from congress_consumer import exceptions
from congress_consumer import opts

LOG = logging.getLogger(__name__)

PROJECT = 'congress-consumer'
PASTE_DIR = os.path.join('etc', 'congress-consumer')

# The APIs being wrapped by a pipeline, by the key the paste file's
# app_factory receives in its global configuration.
_APIS = {}
_APIS_LOCK = threading.Lock()


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


def _conf_of(global_conf):
    return _APIS[global_conf['congress_consumer_api']][1]


def authtoken_factory(global_conf, **local_conf):
    """keystonemiddleware's ``auth_token`` reading this consumer's conf.

    ``[keystone_authtoken]`` comes from the configuration the API was
    built with, not from the process-wide ``cfg.CONF``.
    """
    return auth_token.filter_factory({}, oslo_config_config=_conf_of(
        global_conf), **local_conf)


# The oslo.middleware filters of the pipeline, by the name the paste
# file gives in ``middleware``, with the options they read.
_FILTERS = {
    'request_id': (request_id.RequestId, ()),
    'http_proxy_to_wsgi': (http_proxy_to_wsgi.HTTPProxyToWSGI,
                           http_proxy_to_wsgi.OPTS),
    'sizelimit': (sizelimit.RequestBodySizeLimiter, sizelimit.OPTS),
}
MIDDLEWARE_GROUP = 'oslo_middleware'
HEALTHCHECK_GROUP = 'healthcheck'


def _ini_defaults(conf, group, options, local_conf):
    """Register ``options``; the paste file's values become defaults.

    The consumer's configuration files still override them.
    """
    conf.register_opts(options, group=group)
    by_name = {opt.dest: opt for opt in options}
    for key, value in local_conf.items():
        if key not in by_name:
            raise exceptions.ConfigError(
                group=opts.GROUP, option='api_paste_config', value=key,
                reason='not an option of [%s]' % group)
        conf.set_default(key, by_name[key].type(value), group=group)


def oslo_filter_factory(global_conf, middleware, **local_conf):
    """An oslo.middleware filter reading this consumer's conf.

    oslo.middleware's own ``factory`` reads the process-wide
    ``cfg.CONF``, which a consumer never parses.
    """
    conf = _conf_of(global_conf)
    cls, options = _FILTERS[middleware]
    _ini_defaults(conf, MIDDLEWARE_GROUP, options, local_conf)
    return lambda application: cls(application, conf)


def healthcheck_factory(global_conf, **local_conf):
    """oslo.middleware's ``/healthcheck`` reading this consumer's conf."""
    conf = _conf_of(global_conf)
    _ini_defaults(conf, HEALTHCHECK_GROUP,
                  hc_opts.HEALTHCHECK_OPTS + hc_opts.DISABLE_BY_FILE_OPTS,
                  local_conf)
    return healthcheck.Healthcheck(None, conf)


def check_body_limits(conf):
    """Make the pipeline's body limit admit every push body.

    ``[oslo_middleware] max_request_body_size`` defaults to ``[consumer]
    push_max_body_bytes``; set below it, it would refuse pushes the
    push endpoint accepts: ConfigError.
    """
    conf.register_opts(sizelimit.OPTS, group=MIDDLEWARE_GROUP)
    push = conf[opts.GROUP].push_max_body_bytes
    conf.set_default('max_request_body_size', push, group=MIDDLEWARE_GROUP)
    limit = conf[MIDDLEWARE_GROUP].max_request_body_size
    if limit < push:
        raise exceptions.ConfigError(
            group=MIDDLEWARE_GROUP, option='max_request_body_size',
            value=limit, reason='below [%s] push_max_body_bytes (%d): '
            'pushes that size would be refused' % (opts.GROUP, push))


def build_application(conf, api):
    """The paste pipeline of ``auth_strategy`` around ``api``.

    Gives ``api`` its :class:`~congress_consumer.api.policy.Authorizer`
    (``[oslo_policy]`` of ``conf``).
    """
    api.authorizer = policy.Authorizer(policy.make_enforcer(conf))
    check_body_limits(conf)
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
