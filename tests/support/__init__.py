"""Helpers shared by the test folders, one module per topic, imported as ``tests.support.<topic>``: no test
imports another folder's ``conftest.py`` or another test file."""
