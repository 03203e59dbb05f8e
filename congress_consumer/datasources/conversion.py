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

"""Convert Python objects into table rows with a translator.

:func:`convert_objs` is the entry point: it validates a top-level
translator and turns a list of objects into ``(table_name, row_tuple)``
pairs, sub-table rows included::

    rows = convert_objs([{'id': 'p1', 'ips': ['10.0.0.1']}], ports_trans)
    # [('ports', ('p1',)), ('ports.ips', ('p1', '10.0.0.1'))]

:func:`convert_obj` converts a single object with an already validated
translator and also returns the object's id (``id-col``) or, for a VALUE
translator, the value itself.  :func:`compute_hash` is the stable content
hash used for ``id-col`` columns: it ignores row order, so the same content
always gets the same id, in any process.

Missing fields become ``None``; a nested object that is ``None`` produces
no sub-table rows and a ``None`` id.  Values that cannot be stored in a row
(lists, dicts) and objects of the wrong shape raise
:class:`~congress_consumer.exceptions.InvalidDataError`.
"""

import collections.abc
import hashlib
import json

from congress_consumer.datasources import translators
from congress_consumer.datasources import validation
from congress_consumer import exceptions

C = translators.TranslatorConstants


def compute_hash(values):
    """Return a stable hex digest of an unordered collection of values."""
    canonical = sorted(json.dumps(v, sort_keys=True, default=repr)
                       for v in values)
    data = json.dumps(canonical).encode('utf-8')
    return hashlib.md5(data, usedforsecurity=False).hexdigest()


def convert_objs(objs, translator):
    """Translate each object of ``objs`` into ``(table, row)`` pairs.

    :param objs: an iterable of objects (``None`` entries are skipped).
    :param translator: a top-level HDICT, VDICT or LIST translator.
    :raises InvalidTranslatorError: if the translator is invalid.
    :raises InvalidDataError: if an object does not fit the translator.
    """
    validation.validate_translator(translator)
    if objs is None:
        return []
    if isinstance(objs, (str, bytes, collections.abc.Mapping)):
        raise exceptions.InvalidDataError(
            "table '%s': expected a list of objects, got %s"
            % (translator[C.TABLE_NAME], type(objs).__name__))
    results = []
    for obj in objs:
        if obj is not None:
            results.extend(convert_obj(obj, translator)[0])
    return results


def convert_obj(obj, translator, parent_values=None):
    """Translate one object; return ``(rows, id_or_value)``.

    ``rows`` is a list of ``(table, row)`` pairs.  The second item is the
    value itself for a VALUE translator, the object's id when the
    translator has ``id-col`` and no ``parent-key``, and None otherwise.
    ``parent_values`` maps the parent's field (and column) names to values
    and provides the ``parent-key`` value of nested translators.
    """
    ttype = translator[C.TRANSLATION_TYPE]
    if ttype == C.VALUE:
        return [], _value(obj, translator, 'value')
    if obj is None:
        return [], None
    extract = translator.get(C.OBJECTS_EXTRACT_FN)
    if extract is not None:
        obj = extract(obj)
        if obj is None:
            return [], None
    if ttype == C.HDICT:
        if translator.get(C.IN_LIST):
            items = _iterable(obj, translator)
        else:
            items = [obj]
        own, sub = [], []
        for item in items:
            row, rows = _hdict_row(item, translator)
            own.append(row)
            sub.extend(rows)
    elif ttype == C.VDICT:
        own, sub = _vdict_rows(obj, translator)
    else:
        own, sub = _list_rows(obj, translator)
    return _link(obj, translator, own, sub, parent_values)


def _link(obj, translator, own, sub, parent_values):
    """Prefix ``own`` rows with the parent key or id; return all rows."""
    table = translator[C.TABLE_NAME]
    ident = None
    if C.PARENT_KEY in translator:
        prefix = ((parent_values or {}).get(translator[C.PARENT_KEY]),)
    elif C.ID_COL in translator:
        id_col = translator[C.ID_COL]
        if callable(id_col):
            ident = id_col(obj)
        else:
            ident = compute_hash([(table, row) for row in own] + sub)
        prefix = (ident,)
    else:
        prefix = ()
    rows = [(table, prefix + row) for row in own]
    rows.extend(sub)
    return rows, ident


def _value(raw, translator, where):
    extract = translator.get(C.EXTRACT_FN)
    value = raw if extract is None else extract(raw)
    try:
        hash(value)
    except TypeError:
        reason = ("%s: %s value %r cannot be stored in a row; use a LIST, "
                  "VDICT or HDICT translator"
                  % (where, type(value).__name__, value))
        raise exceptions.InvalidDataError(reason) from None
    return value


def _iterable(obj, translator):
    if isinstance(obj, (str, bytes, collections.abc.Mapping)) or not (
            isinstance(obj, collections.abc.Iterable)):
        raise exceptions.InvalidDataError(
            "table '%s': expected a list, got %s"
            % (translator[C.TABLE_NAME], type(obj).__name__))
    return obj


def _select(item, name, translator):
    if translator.get(C.SELECTOR_TYPE) == C.DOT_SELECTOR:
        return getattr(item, name, None)
    if not isinstance(item, collections.abc.Mapping):
        raise exceptions.InvalidDataError(
            "table '%s': DICT_SELECTOR needs a dict, got %s"
            % (translator[C.TABLE_NAME], type(item).__name__))
    return item.get(name)


def _hdict_row(item, translator):
    """Return ``(row, sub_rows)`` for one dict-like ``item``."""
    table = translator[C.TABLE_NAME]
    row, sub, deferred, values = [], [], [], {}
    for field in translator[C.FIELD_TRANSLATORS]:
        name = field[C.FIELDNAME]
        subtrans = field[C.TRANSLATOR]
        raw = _select(item, name, translator)
        if subtrans[C.TRANSLATION_TYPE] == C.VALUE:
            value = _value(raw, subtrans, '%s.%s' % (table, name))
            values.setdefault(field.get(C.COL, name), value)
            values[name] = value
            row.append(value)
        elif C.PARENT_KEY in subtrans:
            deferred.append((raw, subtrans))
        else:
            rows, ident = convert_obj(raw, subtrans)
            row.append(ident)
            sub.extend(rows)
    for raw, subtrans in deferred:
        sub.extend(convert_obj(raw, subtrans, values)[0])
    return tuple(row), sub


def _vdict_rows(obj, translator):
    if not isinstance(obj, collections.abc.Mapping):
        raise exceptions.InvalidDataError(
            "table '%s': expected a dict, got %s"
            % (translator[C.TABLE_NAME], type(obj).__name__))
    own, sub = [], []
    for key, val in obj.items():
        rows, value = convert_obj(val, translator[C.TRANSLATOR])
        own.append((key, value))
        sub.extend(rows)
    return own, sub


def _list_rows(obj, translator):
    own, sub = [], []
    for element in _iterable(obj, translator):
        rows, value = convert_obj(element, translator[C.TRANSLATOR])
        own.append((value,))
        sub.extend(rows)
    return own, sub
