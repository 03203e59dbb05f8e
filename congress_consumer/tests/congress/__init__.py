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

"""Tests that run our drivers inside a real Congress.

They need ``openstack-congress`` installed and run with ``tox -e
congress`` only, which sets ``PUBLISH_TABLES_CONGRESS=1``. The default
environments exclude this package by a regex, and discovery still
imports it: without that variable nothing here imports Congress or
eventlet, and the tests skip.

With it, importing this package applies the shipped compatibility step,
:func:`congress_consumer.congress_compat.apply` (what
``congress-with-publish-tables`` does before starting Congress):
``eventlet.monkey_patch()``, the :mod:`collections` aliases Congress 11
needs on Python 3.10+, and Congress's options.
"""

import os

ENV = 'PUBLISH_TABLES_CONGRESS'
ENABLED = os.environ.get(ENV) == '1'

if ENABLED:
    from congress_consumer import congress_compat

    congress_compat.apply()
