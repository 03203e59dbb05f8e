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

"""Exceptions raised by oslo_publish_tables.

Every error the library raises derives from :class:`PublishTablesError`.
"""


class PublishTablesError(Exception):
    """Base class of every error raised by this library."""


class ConfigError(PublishTablesError):
    """An option has a value the library cannot use.

    The message always names the option and the offending value.
    """

    def __init__(self, option, value, reason, group='publish_tables'):
        self.option = option
        self.value = value
        self.group = group
        super().__init__('[%s] %s = %r: %s' % (group, option, value, reason))


class CaptureError(PublishTablesError):
    """Capturing a change failed (raised only in strict mode)."""


class EnvelopeError(PublishTablesError):
    """A message does not follow the published message format."""


class SnapshotError(PublishTablesError):
    """A snapshot could not be taken or continued."""
