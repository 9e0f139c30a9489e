"""Helpers the tests import: paths and fakes, configs, the appliance as a child process,
an MQTT subscriber, process and shared-memory checks, schemas, and the deploy rig.

Fixtures live in the conftest.py files and use these; no test imports a conftest.
"""
