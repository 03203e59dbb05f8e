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

"""Validation of translators and construction of table schemas.

:func:`validate_translator` checks a translator dict (see
:mod:`congress_consumer.datasources.translators` for the format) and all of
its sub-translators.  Problems raise
:class:`~congress_consumer.exceptions.InvalidTranslatorError`; its message
names the offending key and ``exc.kwargs['key']`` holds it::

    try:
        validate_translator({'translation-type': 'LIST', 'table-name': 't'})
    except InvalidTranslatorError as exc:
        exc.kwargs['key']   # 'val-col' (missing required key)

Checked: the translation type, unknown and missing keys, value types,
``selector-type``, nesting (VALUE only nested, ``parent-key`` only under an
HDICT and naming one of its VALUE fields, nested tables need ``id-col`` or
``parent-key``), and duplicate table or column names.

:func:`get_schema` validates a list of top-level translators and returns
``{table: ({'name': ..., 'desc': ...}, ...)}`` for all their tables.
"""

import collections.abc

from congress_consumer.datasources import translators
from congress_consumer import exceptions

C = translators.TranslatorConstants

_LINK_PARAMS = (C.TRANSLATION_TYPE, C.TABLE_NAME, C.PARENT_KEY,
                C.PARENT_COL_NAME, C.PARENT_KEY_DESC, C.ID_COL,
                C.OBJECTS_EXTRACT_FN)
ALLOWED_PARAMS = {
    C.HDICT: _LINK_PARAMS + (C.SELECTOR_TYPE, C.FIELD_TRANSLATORS,
                             C.IN_LIST),
    C.VDICT: _LINK_PARAMS + (C.KEY_COL, C.KEY_COL_DESC, C.VAL_COL,
                             C.VAL_COL_DESC, C.TRANSLATOR),
    C.LIST: _LINK_PARAMS + (C.VAL_COL, C.VAL_COL_DESC, C.TRANSLATOR),
    C.VALUE: (C.TRANSLATION_TYPE, C.EXTRACT_FN),
}
REQUIRED_PARAMS = {
    C.HDICT: (C.TABLE_NAME, C.FIELD_TRANSLATORS),
    C.VDICT: (C.TABLE_NAME, C.KEY_COL, C.VAL_COL, C.TRANSLATOR),
    C.LIST: (C.TABLE_NAME, C.VAL_COL, C.TRANSLATOR),
    C.VALUE: (),
}
FIELD_PARAMS = (C.FIELDNAME, C.COL, C.DESCRIPTION, C.TRANSLATOR)
_STRING_PARAMS = (C.TABLE_NAME, C.PARENT_KEY, C.PARENT_COL_NAME,
                  C.PARENT_KEY_DESC, C.KEY_COL, C.KEY_COL_DESC, C.VAL_COL,
                  C.VAL_COL_DESC)
_CALLABLE_PARAMS = (C.OBJECTS_EXTRACT_FN, C.EXTRACT_FN)


def _fail(where, reason, key=None):
    raise exceptions.InvalidTranslatorError(
        "%s: %s" % (where, reason), reason=reason, key=key)


def validate_translator(translator, parent=None, _tables=None):
    """Check ``translator`` (and its sub-translators) for errors.

    :param parent: the enclosing translator for nested ones, None at the
        top level (where only HDICT, VDICT and LIST are allowed).
    :raises InvalidTranslatorError: naming the bad key or value.
    """
    tables = set() if _tables is None else _tables
    if not isinstance(translator, dict):
        _fail('translator', 'must be a dict, got %r' % (translator,))
    ttype = translator.get(C.TRANSLATION_TYPE)
    if ttype not in translators.TRANSLATION_TYPES:
        _fail('translator', "key '%s' must be one of %s, got %r" % (
            C.TRANSLATION_TYPE, translators.TRANSLATION_TYPES, ttype),
              C.TRANSLATION_TYPE)
    where = "%s translator '%s'" % (ttype, translator.get(C.TABLE_NAME, ''))
    for key in translator:
        if key not in ALLOWED_PARAMS[ttype]:
            _fail(where, "unknown key '%s'" % key, key)
    for key in REQUIRED_PARAMS[ttype]:
        if key not in translator:
            _fail(where, "missing required key '%s'" % key, key)
    for key in _STRING_PARAMS:
        if key in translator and not (
                isinstance(translator[key], str) and translator[key]):
            _fail(where, "key '%s' must be a non-empty string, got %r" % (
                key, translator[key]), key)
    for key in _CALLABLE_PARAMS:
        if key in translator and not callable(translator[key]):
            _fail(where, "key '%s' must be callable" % key, key)
    id_col = translator.get(C.ID_COL)
    if id_col is not None and not (callable(id_col) or (
            isinstance(id_col, str) and id_col)):
        _fail(where, "key '%s' must be a string or callable, got %r" % (
            C.ID_COL, id_col), C.ID_COL)
    if ttype == C.VALUE:
        if parent is None:
            _fail(where, 'a VALUE translator cannot be used at top level')
        return
    _check_link(translator, parent, where)
    table = translator[C.TABLE_NAME]
    if table in tables:
        _fail(where, "duplicate table name '%s' (key '%s')" % (
            table, C.TABLE_NAME), C.TABLE_NAME)
    tables.add(table)
    if ttype == C.HDICT:
        _validate_hdict(translator, where, tables)
    else:
        validate_translator(translator[C.TRANSLATOR], translator, tables)
    columns = [c['name'] for c in translators.table_columns(translator)]
    dups = sorted(set(c for c in columns if columns.count(c) > 1))
    if dups:
        _fail(where, 'duplicate column names %s' % dups)


def _check_link(translator, parent, where):
    if parent is None:
        if C.PARENT_KEY in translator:
            _fail(where, "key '%s' is not allowed at top level"
                  % C.PARENT_KEY, C.PARENT_KEY)
        return
    if C.PARENT_KEY in translator:
        if parent[C.TRANSLATION_TYPE] != C.HDICT:
            _fail(where, "key '%s' is only allowed under an HDICT"
                  % C.PARENT_KEY, C.PARENT_KEY)
        pkey = translator[C.PARENT_KEY]
        names = set()
        for field in parent[C.FIELD_TRANSLATORS]:
            sub = field[C.TRANSLATOR]
            if isinstance(sub, dict) and (
                    sub.get(C.TRANSLATION_TYPE) == C.VALUE):
                names.update((field[C.FIELDNAME],
                              field.get(C.COL, field[C.FIELDNAME])))
        if pkey not in names:
            _fail(where, "key '%s' names %r, which is not a VALUE field "
                  "of the parent" % (C.PARENT_KEY, pkey), C.PARENT_KEY)
    elif C.ID_COL not in translator:
        _fail(where, "a nested translator needs '%s' or '%s'"
              % (C.ID_COL, C.PARENT_KEY), C.ID_COL)


def _validate_hdict(translator, where, tables):
    selector = translator.get(C.SELECTOR_TYPE, C.DICT_SELECTOR)
    if selector not in translators.SELECTOR_TYPES:
        _fail(where, "key '%s' must be one of %s, got %r" % (
            C.SELECTOR_TYPE, translators.SELECTOR_TYPES, selector),
              C.SELECTOR_TYPE)
    if not isinstance(translator.get(C.IN_LIST, False), bool):
        _fail(where, "key '%s' must be a bool" % C.IN_LIST, C.IN_LIST)
    fields = translator[C.FIELD_TRANSLATORS]
    if not isinstance(fields, (list, tuple)):
        _fail(where, "key '%s' must be a list or tuple"
              % C.FIELD_TRANSLATORS, C.FIELD_TRANSLATORS)
    for field in fields:
        if not isinstance(field, dict):
            _fail(where, 'field translator must be a dict, got %r'
                  % (field,), C.FIELD_TRANSLATORS)
        for key in field:
            if key not in FIELD_PARAMS:
                _fail(where, "unknown field translator key '%s'" % key, key)
        for key in (C.FIELDNAME, C.TRANSLATOR):
            if key not in field:
                _fail(where, "field translator missing required key '%s'"
                      % key, key)
        for key in (C.FIELDNAME, C.COL):
            if key in field and not (
                    isinstance(field[key], str) and field[key]):
                _fail(where, "field key '%s' must be a non-empty string"
                      % key, key)
    for field in fields:
        validate_translator(field[C.TRANSLATOR], translator, tables)


def get_schema(translator_list):
    """Validate ``translator_list`` and return ``{table: (column, ...)}``.

    Each column is a ``{'name': ..., 'desc': ...}`` dict, in row order.
    """
    schema = {}
    tables = set()
    for translator in translator_list:
        validate_translator(translator, _tables=tables)
        _add_schema(translator, schema)
    return schema


def _add_schema(translator, schema):
    schema[translator[C.TABLE_NAME]] = tuple(
        translators.table_columns(translator))
    for sub in translators.sub_translators(translator):
        _add_schema(sub, schema)


def _as_list(value):
    if isinstance(value, str):
        return [v.strip() for v in value.split(',') if v.strip()]
    return list(value or ())


def table_columns(args):
    """The ``tables`` and ``columns`` arguments as ``[(table, [col])]``.

    ``tables`` is a list or a comma-separated string; ``columns`` maps
    each listed table to its columns (the same two forms).

    :raises exceptions.InvalidParamError: naming the argument at fault.
    """
    tables = _as_list(args.get('tables'))
    if not tables:
        raise exceptions.InvalidParamError(param='tables',
                                           reason='no table listed')
    columns = args.get('columns') or {}
    if not isinstance(columns, collections.abc.Mapping):
        raise exceptions.InvalidParamError(
            param='columns', reason='expected {table: [column, ...]}')
    unknown = sorted(set(columns) - set(tables))
    if unknown:
        raise exceptions.InvalidParamError(
            param='columns', reason='table(s) %s not listed in tables'
            % unknown)
    pairs = [(table, _as_list(columns.get(table))) for table in tables]
    for table, names in pairs:
        if not names:
            raise exceptions.InvalidParamError(
                param='columns', reason='no column given for table %s'
                % table)
    return pairs
