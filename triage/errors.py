"""Exceptions shared across modules."""


class ConfigError(Exception):
    """A configuration or rules file is wrong. Raised at start-up only, never in the middle of a mail."""
