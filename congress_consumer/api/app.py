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
the API with the policy of :mod:`congress_consumer.api.policy`. The
``wsgi_scripts`` entry point (:mod:`.wsgi_app`) and the built-in server
of ``congress-consumer`` both serve it.
"""

import os
import sys
import threading
import uuid

from keystonemiddleware import auth_token
from oslo_log import log as logging
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
