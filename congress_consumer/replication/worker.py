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

"""The background thread of a synchroniser or a verifier.

Each runs one daemon thread whose loop returns once ``stopping`` is set
and sleeps on ``wake``, which :meth:`Worker.stop` (and anyone with work
for it) sets to cut the sleep short.
"""

import threading


class Worker(object):
    """``run()`` in a daemon thread named ``name``, until :meth:`stop`."""

    def __init__(self, run, name):
        self._run = run
        self._name = name
        self.stopping = threading.Event()
        self.wake = threading.Event()
        self.thread = None  # the last one started

    def start(self):
        self.stopping.clear()
        self.thread = threading.Thread(target=self._run, daemon=True,
                                       name=self._name)
        self.thread.start()

    def stop(self, timeout):
        """Ask the loop to return; wait up to ``timeout`` seconds."""
        self.stopping.set()
        self.wake.set()
        if self.thread is not None:
            self.thread.join(timeout)
