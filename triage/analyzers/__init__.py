"""Analyzers: one module per concern; each turns an artifact or the message into findings."""
