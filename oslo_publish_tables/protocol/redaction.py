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

"""Keep secrets, and oversized input, out of log messages and errors.

Error texts of messaging and database drivers sometimes quote the URL
they were given, password included. :func:`redact` hides the password of
every ``scheme://user:password@host`` (also each host of a multi-host
``rabbit://u:p@h1,u:p@h2/`` URL) and any further literal secrets it is
given, before such a text is logged or put in an exception.

:func:`short_repr` is the ``repr`` to quote untrusted input with (values
of received messages): bounded in length and nesting, so a megabyte
string or a deeply nested list makes neither a huge log line nor a
``RecursionError``.
"""

import re
import reprlib
from urllib import parse

MASK = '***'
# "://user:" or ",user:" then the password up to the "@" of the host.
_URL_PASSWORD = re.compile(r'((?:://|,)[^:/@,\s]*:)[^@\s]+@')
# Shorter literal secrets would mask ordinary words; URL passwords are
# masked by the pattern above whatever their length.
MIN_LITERAL = 4


def url_passwords(url):
    """The passwords in ``url`` (several for a multi-host URL).

    Each as written and, if it differs, percent-decoded (as a driver
    that quotes it may show it).
    """
    if not url:
        return []
    found = []
    for match in _URL_PASSWORD.finditer(str(url)):
        password = match.group(0)[len(match.group(1)):-1]
        found.append(password)
        if parse.unquote(password) != password:
            found.append(parse.unquote(password))
    return found


def redact(text, secrets=()):
    """Return ``str(text)`` with URL passwords and ``secrets`` masked."""
    text = _URL_PASSWORD.sub(r'\1' + MASK + '@', str(text))
    for secret in sorted((s for s in secrets if s), key=len, reverse=True):
        if len(secret) >= MIN_LITERAL:
            text = text.replace(secret, MASK)
    return text


_repr = reprlib.Repr()
_repr.maxlevel = 2
_repr.maxstring = _repr.maxother = _repr.maxlong = 64
_repr.maxlist = _repr.maxtuple = _repr.maxdict = _repr.maxset = 4
MAX_TEXT = 200


def short_repr(value):
    """A ``repr`` of ``value`` of at most about 100 characters."""
    try:
        return _repr.repr(value)
    except (ValueError, RecursionError, TypeError):
        # e.g. an int beyond the digit limit of str(); never fail here.
        return '<%s>' % type(value).__name__


def short_text(text, limit=MAX_TEXT):
    """``str(text)``, cut to ``limit`` characters."""
    text = str(text)
    return text if len(text) <= limit else text[:limit] + '...'
