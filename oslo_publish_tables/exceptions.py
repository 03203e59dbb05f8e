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
