"""Fixtures for the gateway tests: one throw-away Postfix per module, milters started per configuration."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from ._postfix import Milter, Postfix, available, running_postfix


@pytest.fixture(scope="module")
def postfix() -> Iterator[Postfix]:
    reason = available()
    if reason:
        pytest.skip(reason)
    with running_postfix() as instance:
        yield instance


@pytest.fixture(scope="module")
def milter_factory(postfix: Postfix) -> Iterator[list[Milter]]:
    """Milters started by a module's tests; each is stopped by PID at the end and must leave nothing behind."""
    started: list[Milter] = []
    yield started
    for milter in started:
        left = milter.stop()
        assert not left, f"milter processes left behind: {left}"
