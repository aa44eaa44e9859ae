"""Tests for triage.unpack: the zip and gzip unpackers and password candidates."""
