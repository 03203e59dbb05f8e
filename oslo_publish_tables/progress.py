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

"""Progress of long operations: rows done, rows/s, ETA.

A :class:`Progress` follows one operation (a snapshot load, the relay
of an outbox backlog, a verification pass). The operation calls
:meth:`Progress.advance` with the rows it just did; every ``interval``
seconds of the injected clock (never more often) a line is logged::

    snapshot of nova/instances: 150000/1000000 rows (15.0%),
    30000 rows/s, ETA 28 s

:meth:`Progress.as_dict` gives the same figures for a status API.
``total`` may be unknown (None) or an estimate: the ETA is then absent,
or capped at zero once the estimate is passed.

Command-line tools use :func:`cli_progress`: a tqdm bar on a terminal,
plain progress lines (the same as the log's) otherwise.
"""

import logging
import sys
import time

LOG = logging.getLogger(__name__)

DEFAULT_INTERVAL = 10.0


class Progress(object):
    """Rows done of one operation, reported at a steady interval."""

    def __init__(self, what, total=None, unit='rows',
                 interval=DEFAULT_INTERVAL, clock=time.monotonic,
                 report=None):
        self.what = what
        self.total = total
        self.unit = unit
        self.interval = interval
        self._clock = clock
        self._report = report if report is not None else LOG.info
        self.started = clock()
        self.finished = None
        self.done = 0
        self._last_report = self.started

    # -- figures --------------------------------------------------------------

    def elapsed(self):
        end = self.finished if self.finished is not None else self._clock()
        return max(end - self.started, 0.0)

    def rate(self):
        """Rows per second since the start (None before any time passed)."""
        elapsed = self.elapsed()
        if elapsed <= 0:
            return None
        return self.done / elapsed

    def eta(self):
        """Seconds left at the current rate, or None if unknown."""
        if self.total is None or self.finished is not None:
            return None if self.finished is None else 0.0
        rate = self.rate()
        if not rate:
            return None
        return max(self.total - self.done, 0) / rate

    def as_dict(self):
        """The figures, for a status API."""
        rate, eta = self.rate(), self.eta()
        return {'operation': self.what,
                'done': self.done,
                'total': self.total,
                'unit': self.unit,
                'elapsed_s': round(self.elapsed(), 3),
                'rate_per_s': None if rate is None else round(rate, 1),
                'eta_s': None if eta is None else round(eta, 1),
                'finished': self.finished is not None}

    def message(self):
        """One line, e.g. ``x: 10/100 rows (10.0%), 5 rows/s, ETA 18 s``."""
        if self.total:
            done = '%d/%d %s (%.1f%%)' % (
                self.done, self.total, self.unit,
                100.0 * min(self.done, self.total) / self.total)
        else:
            done = '%d %s' % (self.done, self.unit)
        parts = ['%s: %s' % (self.what, done)]
        rate, eta = self.rate(), self.eta()
        if rate is not None:
            parts.append('%.0f %s/s' % (rate, self.unit))
        if self.finished is not None:
            parts.append('done in %.1f s' % self.elapsed())
        elif eta is not None:
            parts.append('ETA %.0f s' % eta)
        return ', '.join(parts)

    # -- updates --------------------------------------------------------------

    def advance(self, rows):
        """Count ``rows`` more done; report if ``interval`` has passed."""
        self.done += rows
        now = self._clock()
        if now - self._last_report >= self.interval:
            self._last_report = now
            self._report('%s', self.message())
            return True
        return False

    def set_done(self, rows):
        """Set the rows done (for operations that measure, not count)."""
        return self.advance(rows - self.done)

    def finish(self):
        """Mark it finished and report the final line."""
        if self.finished is None:
            self.finished = self._clock()
            self._report('%s', self.message())


class _PlainLines(object):
    """:func:`cli_progress` off a terminal: Progress lines on a stream."""

    def __init__(self, progress):
        self.progress = progress

    def update(self, rows):
        self.progress.advance(rows)

    def close(self):
        self.progress.finish()


class _Bar(object):
    """:func:`cli_progress` on a terminal: a tqdm bar."""

    def __init__(self, bar, progress):
        self.bar = bar
        self.progress = progress

    def update(self, rows):
        self.progress.done += rows
        self.bar.update(rows)

    def close(self):
        self.progress.finished = self.progress._clock()
        self.bar.close()


def cli_progress(what, total=None, unit='rows', stream=None,
                 interval=DEFAULT_INTERVAL, clock=time.monotonic):
    """A progress display for a command: ``update(rows)`` and ``close()``.

    A tqdm bar when ``stream`` (default stderr) is a terminal, plain
    lines every ``interval`` seconds otherwise (logs, pipes, CI).
    ``.progress`` is the underlying :class:`Progress`.
    """
    stream = sys.stderr if stream is None else stream

    def write(fmt, *args):
        stream.write((fmt % args) + '\n')
        stream.flush()

    progress = Progress(what, total, unit, interval, clock, report=write)
    isatty = getattr(stream, 'isatty', None)
    if isatty is not None and isatty():
        import tqdm
        return _Bar(tqdm.tqdm(total=total, desc=what, unit=unit,
                              file=stream, dynamic_ncols=True), progress)
    return _PlainLines(progress)
