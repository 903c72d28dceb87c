"""Shared test configuration. The lab fixtures come from the project's own pytest plugin
(harness/pytest_plugin.py, registered as the ``stowaway`` pytest11 entry point)."""
