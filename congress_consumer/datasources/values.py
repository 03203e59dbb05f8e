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

"""Column values as Congress's policy engine takes them.

Congress rows are tuples of hashable scalars. :func:`congress_value`
turns what a database or the codec hands over into one: datetimes become
ISO strings, Decimals floats, UUIDs strings, bytes base64 text, and JSON
values (dicts, lists) sorted JSON text. Plain scalars pass unchanged.
"""

import base64
import datetime
import decimal
import json
import uuid

# Types passed through as they are (checked by exact type: fastest).
AS_IS = frozenset((str, int, float, bool, type(None)))


def congress_value(value):
    """Return a hashable value Congress's policy engine understands."""
    if type(value) in AS_IS:
        return value
    if isinstance(value, (datetime.datetime, datetime.date,
                          datetime.time)):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return float(value)
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, bytes):
        return base64.b64encode(value).decode()
    if isinstance(value, (dict, list)):
        return json.dumps(value, sort_keys=True)
    return value
