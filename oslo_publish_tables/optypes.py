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

"""Option types that refuse what oslo.config's would let through.

``FloatOpt(min=0)`` accepts ``nan`` (every comparison with it is false)
and ``inf``: a ``gap_timeout`` or ``min_send_interval`` of either
silently turns off what it times or kills a thread later. The float
options passed through :func:`finite` accept finite numbers only, within
bounds; the error names the option and the value when it is read.
"""

import math

from oslo_config import cfg
from oslo_config import types


class FiniteFloat(types.Float):
    """A float type that refuses ``nan`` and infinities."""

    def __call__(self, value):
        try:
            number = super().__call__(value)
        except ValueError as exc:  # name the value, which oslo.config omits
            raise ValueError('%s: %s' % (value, exc)) from None
        if not math.isfinite(number):
            raise ValueError('%s: not a finite number' % (value,))
        return number


DAY = 86400.0


def finite(opts, maxima=None, default_max=DAY):
    """Return ``opts`` with every float option finite and bounded.

    A float option gets the maximum ``maxima[name]``, else the one it
    has, else ``default_max`` (every option here is a number of seconds).
    """
    maxima = maxima or {}
    for opt in opts:
        if isinstance(opt, cfg.FloatOpt):
            bound = maxima.get(opt.name, opt.type.max)
            opt.type = FiniteFloat(
                min=opt.type.min, max=default_max if bound is None
                else bound)
    return opts


def check_group(conf, group):
    """Read every option of ``group`` so that a bad value fails now.

    oslo.config checks a value only when it is read; a service should
    refuse a bad value at start, not when a thread first reads it.
    Raises the ``oslo_config.cfg.Error`` naming the option.
    """
    for name in conf[group]:
        getattr(conf[group], name)
