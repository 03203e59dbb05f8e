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

"""Keep loaded replicas out of the way of the cyclic garbage collector.

A replica of N rows is a few containers of N entries each: the
replica's rows and versions, the snapshot's set of keys, the driver's
state set. The rows themselves are tuples of plain values, which the
collector soon stops tracking, but every full collection still walks
every entry of every container it tracks, and full collections come
more often as the heap grows: at a million rows the collector took more
time than the load itself (see doc/source/reference/performance.rst,
item 4).

:func:`chunk_loaded` (after each loaded chunk of a snapshot) moves what
the process tracks at that moment to the collector's permanent
generation (:func:`gc.freeze`), which collections do not walk; objects
created later are collected as usual, and the frozen containers may
keep growing. Frozen objects that become cyclic garbage are not
collected until :func:`load_done` (after each loaded snapshot) thaws
everything, runs one full collection and freezes what is left, so what a
load froze is reclaimed once it ends. That collection walks the whole
heap once per loaded snapshot, of any table (0.2 to 0.4 s with a
million rows in the replicas), instead of dozens of times per large
load. The collector is process-wide: so is the effect, on every
datasource and thread of the process.
"""

import gc


def chunk_loaded(table=None):
    """Freeze what the process tracks (cheap: nothing is walked)."""
    gc.freeze()


def load_done(table=None):
    """Collect what a load froze and became garbage; freeze the rest."""
    gc.unfreeze()
    gc.collect()
    gc.freeze()
