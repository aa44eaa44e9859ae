"""unar's command line (security review, issue 8): a password taken from the message can never act as an option."""

from __future__ import annotations

import shutil

import pytest

from triage.unpack.rar import _ENV, _UNAR, _Memfd, _run_unar

from ._fake_ctx import FakeContext
from .test_rar import QUARANTINE, RAR_MESSAGES, _corpus_rar


@pytest.mark.skipif(not QUARANTINE.is_file(), reason="quarantine corpus absent")
@pytest.mark.parametrize("password", ["-o", "--version", "-h", "-o/tmp/escape", "-forks=visible"])
def test_password_that_looks_like_an_option_is_only_a_password(password: str) -> None:
    tool = shutil.which(_UNAR, path=_ENV["PATH"])
    if tool is None:
        pytest.skip("unar is not installed")
    _name, data = _corpus_rar(RAR_MESSAGES[0])
    with _Memfd(data) as archive:
        out = _run_unar(tool, archive, 0, password, 50 * 1024 * 1024, FakeContext())  # type: ignore[arg-type]
    assert out[:2] == b"MZ"  # the member itself on stdout: no usage text, no version banner, nothing written
