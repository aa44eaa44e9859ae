"""Tests for triage.ingest: charsets, .eml parsing and forwarded-message unwrapping."""
