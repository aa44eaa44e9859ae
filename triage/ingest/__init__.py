"""Turning raw bytes into messages: .eml parsing, Japanese decoding, forwarded-message unwrapping."""
