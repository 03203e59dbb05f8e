"""The Congress adapter module without Congress installed.

Its behaviour inside Congress is tested by ``tox -e congress``
(:mod:`congress_consumer.tests.congress`).
"""

import importlib.util
import sys

import testtools

from congress_consumer import congress_adapter


class CongressAdapterImportTest(testtools.TestCase):

    def test_module_imports_without_congress(self):
        self.assertNotIn('congress.dse2.data_service', sys.modules)
        self.assertTrue(hasattr(congress_adapter, '_Endpoints'))

    def test_unknown_attribute(self):
        self.assertRaises(AttributeError, getattr, congress_adapter,
                          'NoSuchThing')

    def test_plugin_needs_congress(self):
        if importlib.util.find_spec('congress') is not None:
            self.skipTest('Congress is installed here')
        self.assertRaises(ImportError, getattr, congress_adapter,
                          'PublishTablesDataSource')
