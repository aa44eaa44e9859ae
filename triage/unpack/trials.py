"""Trying password candidates on an encrypted container or document, and reporting the outcome the same way
for every format (zip, 7z, RAR, encrypted Office...).

The candidates come from `ctx.password_candidates()` in order (message text first, then `--password`, then the
shared list). Every guess spends the per-container attempt budget (`[passwords] max_attempts`) and the scan's
guessing time, shared by all its containers (`[passwords] max_seconds`); the outcome is
reported with the shared finding ids: `ARCHIVE_PASSWORD_IN_BODY` when a password found in the message opened it,
`ARCHIVE_ENCRYPTED_NO_PASSWORD` and an `encrypted_no_password` Note when none did.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

from triage.model import NoteKind
from triage.names import escape_controls
from triage.plugins import PasswordCandidate, PluginContext

__all__ = ["NOT_FROM_MESSAGE", "Opened", "in_order_for", "report_no_password", "report_opened", "try_passwords"]

T = TypeVar("T")

# Candidate sources that are not the message's own text (the shared list, --password, a format's well-known
# default such as Office's VelvetSweatshop, a sweep's follow-up mail, which ARCHIVE_PASSWORD_IN_FOLLOWUP reports):
# opening with one is not ARCHIVE_PASSWORD_IN_BODY.
NOT_FROM_MESSAGE = frozenset({"list", "cli", "default", "followup"})


@dataclass(frozen=True)
class Opened(Generic[T]):
    """What the first working password produced, and which candidate it was."""

    value: T
    candidate: PasswordCandidate
    tried: int


def try_passwords(
    ctx: PluginContext,
    attempt: Callable[[str], T | None],
    *,
    max_attempts: int | None = None,
    extra: Sequence[PasswordCandidate] = (),
    kind: str = "",
) -> tuple[Opened[T] | None, int]:
    """Call `attempt(password)` for each candidate until one returns a value; (Opened or None, guesses spent).

    `attempt` returns None for a wrong password and must itself be bounded (size, time); it may raise
    DeadlineExceeded. `extra` candidates (e.g. Office's well-known default password) are tried after the
    message's own and before the shared list's. `kind` ("archive" or "document") orders the message's own
    candidates by what the mail says each opens (`in_order_for`).
    """
    budget = ctx.config.passwords.max_attempts if max_attempts is None else max_attempts
    candidates = in_order_for(ctx.password_candidates(), kind)
    if extra:
        cut = next((i for i, c in enumerate(candidates) if c.source in NOT_FROM_MESSAGE), len(candidates))
        known = {c.value for c in candidates}
        candidates[cut:cut] = [c for c in extra if c.value not in known]
    tried = 0
    for candidate in candidates:
        if not candidate.value:
            continue
        if tried >= budget or ctx.password_seconds_left() <= 0:
            break
        ctx.check_deadline()
        tried += 1
        started = time.monotonic()
        try:
            value = attempt(candidate.value)
        finally:
            ctx.spend_password_seconds(time.monotonic() - started)
        if value is not None:
            return Opened(value=value, candidate=candidate, tried=tried), tried
    return None, tried


def in_order_for(candidates: Sequence[PasswordCandidate], kind: str) -> list[PasswordCandidate]:
    """`candidates` for a container of `kind`: among the message's own, those said to open this kind first and
    those said to open the other kind last, each group in its found order. The analyst's (cli) stay first and
    the shared list's and the defaults stay last, so a wrong hint costs a guess or two, never the whole list."""
    if not kind:
        return list(candidates)
    own = [c for c in candidates if c.source not in NOT_FROM_MESSAGE]
    if not any(c.hint for c in own):
        return list(candidates)
    ranked = iter(sorted(own, key=lambda c: 0 if c.hint == kind else 2 if c.hint else 1))
    return [next(ranked) if c.source not in NOT_FROM_MESSAGE else c for c in candidates]


def report_opened(ctx: PluginContext, candidate: PasswordCandidate, *, what: str = "archive") -> None:
    """Meta `password`/`password_source` on the container; ARCHIVE_PASSWORD_IN_BODY when the message gave it."""
    ctx.set_meta("password", candidate.value)
    ctx.set_meta("password_source", candidate.source)
    if candidate.source not in NOT_FROM_MESSAGE:
        ctx.emit(
            "ARCHIVE_PASSWORD_IN_BODY",
            (f'{what} opened with "{escape_controls(candidate.value)}" found in the {candidate.source}',),
        )


def report_no_password(ctx: PluginContext, name: str, tried: int, *, why: str = "", what: str = "archive") -> None:
    """ARCHIVE_ENCRYPTED_NO_PASSWORD and an encrypted_no_password Note: never silence, never clean."""
    evidence = [escape_controls(name), f"{tried} password candidate(s) tried"]
    if ctx.password_seconds_left() <= 0:
        spent = f"the scan's password-guessing time ({ctx.config.passwords.max_seconds:g} s) is spent"
        why = f"{why}; {spent}" if why else spent
    if why:
        evidence.append(why)
    ctx.emit("ARCHIVE_ENCRYPTED_NO_PASSWORD", evidence)
    detail = f"no password opened the encrypted {what} {escape_controls(name)!r} ({tried} tried)"
    ctx.note(NoteKind.ENCRYPTED_NO_PASSWORD, detail + (f"; {why}" if why else ""))
