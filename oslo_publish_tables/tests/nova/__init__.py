"""Tests that run nova's own code with the plugin loaded.

They need nova installed and run with ``tox -e nova`` only; the default
environments exclude this package by a regex, and its modules import nova
lazily so that discovery never fails without it.
"""
