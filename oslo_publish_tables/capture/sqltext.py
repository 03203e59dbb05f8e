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

"""Which published tables a piece of SQL text may write.

SQL the capture cannot analyse (``text()``, ``exec_driver_sql``) that
writes a published table becomes a resync marker for it. This module
decides "writes" from the text alone, erring towards yes:

* leading whitespace, comments (``/* ... */``, ``-- ...``, MySQL's
  ``# ...``) and opening parentheses are skipped;
* a statement whose first word is a write verb (``INSERT``, ``UPDATE``,
  ``DELETE``, ``REPLACE``, ``MERGE``, ``TRUNCATE``, ``UPSERT``,
  ``LOAD``, ``COPY``, ``ALTER``, ``DROP``) writes;
* so does one whose first word is ``WITH`` or ``EXPLAIN`` (PostgreSQL's
  ``EXPLAIN ANALYZE`` runs its statement) and that contains a write verb
  anywhere (``WITH t AS (...) UPDATE ...``, data-modifying CTEs).

Every published table named anywhere in such a statement is taken as
written (``UPDATE a JOIN b ... SET b.x = ...`` writes both). Decisions
are cached per statement text: the same text costs one dict lookup.
Nothing is compiled per table when the capture is installed (engine
start stays cheap with many tables): plain names are found among the
statement's words; only a name that is not one word (``a-b``) gets a
pattern, at the first statement that writes.
"""

import re

_SKIP = re.compile(r'(?:\s+|/\*.*?\*/|--[^\n]*(?:\n|$)|#[^\n]*(?:\n|$)|\()*',
                   re.DOTALL)
_VERBS = ('insert', 'update', 'delete', 'replace', 'merge', 'truncate',
          'upsert', 'load', 'copy', 'alter', 'drop')
_FIRST_WORD = re.compile(r'[a-z_]+', re.IGNORECASE)
_ANY_VERB = re.compile(r'\b(%s)\b' % '|'.join(_VERBS), re.IGNORECASE)
_PREFIXES = ('with', 'explain')
# A word as ``\b`` sees one: a name made of these is found word by word.
_WORDS = re.compile(r'\w+')

# Bound the cache: statements built with literals inline are all new.
_CACHE_SIZE = 2048


def writes(statement):
    """True if ``statement`` (SQL text) may write a table."""
    start = _SKIP.match(statement).end()
    first = _FIRST_WORD.match(statement, start)
    if first is None:
        return False
    word = first.group(0).lower()
    if word in _VERBS:
        return True
    if word in _PREFIXES:
        return _ANY_VERB.search(statement, first.end()) is not None
    return False


class TextWrites(object):
    """The published tables SQL text writes, cached per text."""

    def __init__(self, names):
        self._names = sorted(names)
        # lower-case word -> the configured names it stands for
        self._plain = {}
        self._other = []  # names that are not one word
        for name in self._names:
            if _WORDS.fullmatch(name):
                self._plain.setdefault(name.lower(), []).append(name)
            else:
                self._other.append(name)
        self._other_re = None  # compiled at the first use
        self._cache = {}

    def tables(self, statement):
        """The sorted published tables ``statement`` may write."""
        found = self._cache.get(statement)
        if found is None:
            found = self._tables(statement)
            if len(self._cache) >= _CACHE_SIZE:
                self._cache.clear()
            self._cache[statement] = found
        return found

    def _tables(self, statement):
        if not writes(statement):
            return ()
        plain = self._plain
        found = {n for word in set(_WORDS.findall(statement.lower()))
                 for n in plain.get(word, ())}
        if self._other:
            if self._other_re is None:
                self._other_re = re.compile(
                    r'\b(%s)\b' % '|'.join(
                        re.escape(n) for n in sorted(
                            self._other, key=len, reverse=True)),
                    re.IGNORECASE)
            named = {m.group(1).lower()
                     for m in self._other_re.finditer(statement)}
            found.update(n for n in self._other if n.lower() in named)
        return tuple(sorted(found))
