"""Builders of harmless payload documents (PE, Office, PDF, archives, shortcuts...) for samples and tests.

`samples/build_samples.py` puts them into messages; tests import them directly (tests/conftest.py puts
`samples/` on sys.path). Every builder is deterministic and writes nothing to disk.
"""
