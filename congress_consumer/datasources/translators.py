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

"""The translator format: key names and the tables a translator writes.

A *translator* is a plain dict, in the format used by OpenStack Congress,
describing how a Python object (dict, list, value, or object with
attributes) becomes rows of one or more tables.  Its ``translation-type``
is one of:

``HDICT``
    One row per dict; one column per entry of ``field-translators``
    (``{'fieldname', 'col', 'desc', 'translator'}``).  ``selector-type`` is
    ``DICT_SELECTOR`` (``obj[field]``, the default) or ``DOT_SELECTOR``
    (``obj.field``).  With ``in-list`` the object is a list of such dicts.
``VDICT``
    One ``(key-col, val-col)`` row per key/value pair of a dict.
``LIST``
    One ``(val-col,)`` row per element of a list.
``VALUE``
    A scalar; ``extract-fn`` may transform it.  Only valid nested.

A nested non-VALUE translator writes its own table and is linked to its
parent either by ``parent-key`` (the parent's value of that field becomes
the first column, named ``parent-col-name`` or ``parent_key``; the parent
gets no column for the field) or by ``id-col`` (a content hash, or the
result of ``id-col(obj)`` when it is callable, is the first column of the
sub-table and the parent's column value).  ``parent-key`` wins when both
are given.  ``objects-extract-fn`` transforms an object before it is
translated.  Example::

    {'translation-type': 'HDICT', 'table-name': 'ports',
     'selector-type': 'DICT_SELECTOR',
     'field-translators': (
         {'fieldname': 'id', 'translator': {'translation-type': 'VALUE'}},
         {'fieldname': 'ips', 'translator': {
             'translation-type': 'LIST', 'table-name': 'ports.ips',
             'parent-key': 'id', 'parent-col-name': 'port_id',
             'val-col': 'ip',
             'translator': {'translation-type': 'VALUE'}}})}

:mod:`congress_consumer.datasources.validation` checks translators and
builds table schemas; :mod:`congress_consumer.datasources.conversion`
applies them.  This module holds the key names and the helpers describing
the tables a translator writes (:func:`table_columns`, :func:`get_tables`).
"""


class TranslatorConstants(object):
    """Translator keys and values, also usable as class attributes."""

    TRANSLATION_TYPE = 'translation-type'
    HDICT = 'HDICT'
    VDICT = 'VDICT'
    LIST = 'LIST'
    VALUE = 'VALUE'
    TABLE_NAME = 'table-name'
    PARENT_KEY = 'parent-key'
    PARENT_COL_NAME = 'parent-col-name'
    PARENT_KEY_DESC = 'parent-key-desc'
    ID_COL = 'id-col'
    KEY_COL = 'key-col'
    KEY_COL_DESC = 'key-col-desc'
    VAL_COL = 'val-col'
    VAL_COL_DESC = 'val-col-desc'
    SELECTOR_TYPE = 'selector-type'
    DOT_SELECTOR = 'DOT_SELECTOR'
    DICT_SELECTOR = 'DICT_SELECTOR'
    FIELD_TRANSLATORS = 'field-translators'
    FIELDNAME = 'fieldname'
    COL = 'col'
    DESCRIPTION = 'desc'
    TRANSLATOR = 'translator'
    IN_LIST = 'in-list'
    OBJECTS_EXTRACT_FN = 'objects-extract-fn'
    EXTRACT_FN = 'extract-fn'
    # Default column names.
    PARENT_KEY_COL_NAME = 'parent_key'
    ID_COL_NAME = 'id-col'


C = TranslatorConstants
TRANSLATION_TYPES = (C.HDICT, C.VDICT, C.LIST, C.VALUE)
SELECTOR_TYPES = (C.DICT_SELECTOR, C.DOT_SELECTOR)


def id_col_name(id_col):
    """Return the column name used for an ``id-col`` value."""
    return id_col if isinstance(id_col, str) else C.ID_COL_NAME


def link_col_name(translator):
    """Name of the linking first column of a table, or None."""
    if C.PARENT_KEY in translator:
        return translator.get(C.PARENT_COL_NAME, C.PARENT_KEY_COL_NAME)
    if C.ID_COL in translator:
        return id_col_name(translator[C.ID_COL])
    return None


def _column(name, desc=None):
    return {'name': name, 'desc': desc}


def table_columns(translator):
    """Columns of the table written by a validated non-VALUE translator."""
    ttype = translator[C.TRANSLATION_TYPE]
    columns = []
    link = link_col_name(translator)
    if link is not None:
        desc = (translator.get(C.PARENT_KEY_DESC)
                if C.PARENT_KEY in translator else None)
        columns.append(_column(link, desc))
    if ttype == C.HDICT:
        for field in translator[C.FIELD_TRANSLATORS]:
            if C.PARENT_KEY not in field[C.TRANSLATOR]:
                columns.append(_column(field.get(C.COL, field[C.FIELDNAME]),
                                       field.get(C.DESCRIPTION)))
    elif ttype == C.VDICT:
        columns.append(_column(translator[C.KEY_COL],
                               translator.get(C.KEY_COL_DESC)))
    if ttype in (C.VDICT, C.LIST):
        columns.append(_column(translator[C.VAL_COL],
                               translator.get(C.VAL_COL_DESC)))
    return columns


def sub_translators(translator):
    """Yield the direct non-VALUE sub-translators of ``translator``."""
    if translator[C.TRANSLATION_TYPE] == C.HDICT:
        subs = [f[C.TRANSLATOR] for f in translator[C.FIELD_TRANSLATORS]]
    elif translator[C.TRANSLATION_TYPE] == C.VALUE:
        subs = []
    else:
        subs = [translator[C.TRANSLATOR]]
    return [s for s in subs if s[C.TRANSLATION_TYPE] != C.VALUE]


def get_tables(translator):
    """Table names written by ``translator``, its own table first."""
    tables = [translator[C.TABLE_NAME]]
    for sub in sub_translators(translator):
        tables.extend(get_tables(sub))
    return tables
