"""A message-scope plugin that only remembers the message view, so a sweep reads the parsed message's text
and headers without parsing it a second time. It emits nothing and changes no report."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from triage.config import Config
from triage.model import Finding
from triage.plugins import MessageView, PluginContext, Scope


class MessageCollector:
    name = "batch.collect"
    scope = Scope.MESSAGE
    accepts: frozenset[str] = frozenset()
    emits: frozenset[str] = frozenset()

    def __init__(self) -> None:
        self.last: MessageView | None = None

    def setup(self, config: Config) -> None:
        return None

    def analyze(self, target: Any, ctx: PluginContext) -> Iterable[Finding]:
        if isinstance(target, MessageView):
            self.last = target
        return ()

    def take(self) -> MessageView | None:
        """The view of the message scanned last, once: cleared so it never leaks into the next scan."""
        view, self.last = self.last, None
        return view
