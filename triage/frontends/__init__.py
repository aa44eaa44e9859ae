"""Front ends: adapt I/O to the engine; no detection logic lives here."""
