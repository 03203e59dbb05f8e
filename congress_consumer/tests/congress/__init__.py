"""Tests that run the publish_tables datasource inside a real Congress.

They need ``openstack-congress`` installed and run with ``tox -e
congress`` only, which sets ``PUBLISH_TABLES_CONGRESS=1``. The default
environments exclude this package by a regex, and discovery still
imports it: without that variable nothing here imports Congress or
eventlet, and the tests skip.

With it, importing this package prepares the process the way Congress's
own test suite and server do, before anything of Congress is imported:

* ``eventlet.monkey_patch()``: DSE2 serves its RPCs with oslo.messaging's
  ``eventlet`` executor and spawns green threads;
* ``collections.MutableSet`` and ``collections.Hashable``, gone since
  Python 3.10, are restored from :mod:`collections.abc` (Congress 11.0.0
  still uses them). This compatibility shim lives here only; the shipped
  package never touches :mod:`collections`.
"""

import collections
import collections.abc
import os

ENV = 'PUBLISH_TABLES_CONGRESS'
ENABLED = os.environ.get(ENV) == '1'

if ENABLED:
    import eventlet

    eventlet.monkey_patch()
    for _name in ('MutableSet', 'Hashable'):
        if not hasattr(collections, _name):
            setattr(collections, _name, getattr(collections.abc, _name))
