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

"""Stamps: the ``ts`` of a record, microseconds since the epoch.

A producer stamps each record from one clock, normally the database's
(see :mod:`oslo_publish_tables.capture.clock`), so that the stamps of
conflicting transactions follow commit order whatever host wrote them.
Consumers compare stamps with each other and with :func:`local_now` to
date tombstones and measure lag; anything that stamps records it
republishes uses :func:`local_now`.
"""

import time


def local_now():
    """Microseconds since the epoch on this host."""
    return time.time_ns() // 1000
