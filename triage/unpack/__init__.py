"""Unpackers: one module per container family; passwords.py finds archive passwords in message text."""
