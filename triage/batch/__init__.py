"""Mailbox sweeps (`triage batch`): many messages through the one engine, in parallel, into a results database."""
