"""triage: decide whether an email is a targeted attack (標的型メール攻撃) and show why."""

__version__ = "0.1.0"
