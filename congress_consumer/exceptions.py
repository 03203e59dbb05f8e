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

"""Exceptions raised by congress_consumer.

Every error raised on purpose by this package derives from
:class:`CongressConsumerError`, so callers can catch the whole family with
one ``except`` clause while still telling the specific cases apart.

Each class carries a ``msg_fmt`` printf-style template.  Raise with either an
explicit message or keyword arguments that fill the template::

    raise UnknownTableError(table='ports', datasource='neutron')
    raise InvalidDataError("row 3 has 2 columns, expected 4")

The keyword arguments are kept on the instance as ``kwargs`` so handlers can
inspect them (for example ``exc.kwargs['table']``).
"""


class CongressConsumerError(Exception):
    """Base class of all congress_consumer errors."""

    msg_fmt = "An unknown congress_consumer error occurred."

    def __init__(self, message=None, **kwargs):
        self.kwargs = kwargs
        if message is None:
            try:
                message = self.msg_fmt % kwargs
            except (KeyError, TypeError, ValueError):
                message = self.msg_fmt
        self.message = message
        super().__init__(message)

    def __str__(self):
        return self.message


class InvalidTranslatorError(CongressConsumerError):
    """A translator description is malformed (bad key, value or nesting)."""

    msg_fmt = "Invalid translator: %(reason)s"


class InvalidParamError(CongressConsumerError):
    """A driver argument or call parameter is missing or malformed."""

    msg_fmt = "Invalid parameter %(param)s: %(reason)s"


class ConfigError(InvalidParamError):
    """A configuration option has a value the consumer cannot use.

    The consumer's counterpart of
    :class:`oslo_publish_tables.exceptions.ConfigError`: the message names
    ``[group] option = value`` and the reason, never a secret.
    """

    msg_fmt = '[%(group)s] %(option)s = %(value)s: %(reason)s'


class UnknownTableError(CongressConsumerError):
    """A table name is not part of the data source's schema."""

    msg_fmt = "Unknown table %(table)s in data source %(datasource)s"


class InvalidDataError(CongressConsumerError):
    """Data received from or pushed to a data source failed validation."""

    msg_fmt = "Invalid data: %(reason)s"


class UnknownActionError(CongressConsumerError):
    """An action was requested that the execution driver does not offer."""

    msg_fmt = "Unknown action %(action)s for data source %(datasource)s"
