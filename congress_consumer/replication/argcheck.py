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

"""Bounds of the driver's numeric args (seconds), checked in one place.

A float option can be ``nan`` or ``inf``: both pass ``value > 0`` tests
the wrong way (``nan <= 0`` is false) and then silently switch off what
they time (loss detection, tombstone expiry) or crash a thread later.
:func:`timing_args` checks every timing arg against a finite range and
raises :class:`~congress_consumer.exceptions.InvalidParamError` naming
the arg and the value.
"""

import math

from congress_consumer import exceptions
from congress_consumer import opts
from congress_consumer.replication import plausibility
from congress_consumer.replication import sync

DAY = 86400.0

# name: (default, lowest, highest, whether the lowest itself is allowed)
TIMING = {
    'gap_timeout': (5.0, 0.0, DAY, False),
    'producer_timeout': (30.0, 0.0, DAY, False),
    'tombstone_ttl': (600.0, 0.0, 30 * DAY, False),
    'max_clock_skew': (plausibility.DEFAULT_MAX_CLOCK_SKEW, 0.0, 30 * DAY,
                       False),
    'min_resync_interval': (sync.DEFAULT_MIN_RESYNC_INTERVAL, 0.0, DAY,
                            True),
}


def bounded_float(name, value, lowest, highest, lowest_ok=False):
    """``value`` as a float from ``lowest`` to ``highest``, else an error.

    ``lowest`` itself is allowed only if ``lowest_ok``.
    """
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise exceptions.InvalidParamError(
            param=name, reason='%r is not a number' % (value,)) from None
    above = lowest <= number if lowest_ok else lowest < number
    if not math.isfinite(number) or not above or number > highest:
        raise exceptions.InvalidParamError(
            param=name, reason='%r is out of range: %s %g, at most %g' % (
                value, 'at least' if lowest_ok else 'more than', lowest,
                highest))
    return number


def timing_args(args):
    """The Synchronizer keyword arguments of the timing args of ``args``.

    An arg left out takes the datasource option's default.
    """
    return {name: bounded_float(
        name, args.get(name, opts.DATASOURCE_DEFAULTS.get(name, default)),
        *bounds) for name, (default, *bounds) in TIMING.items()}
