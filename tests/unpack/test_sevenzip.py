"""7z: plain, encrypted content, encrypted headers (names hidden), bombs, budget, garbage, and the helsecert
corpus (23 real malware 7z, password "infected") opened in memory."""

from __future__ import annotations

import io
import random
from pathlib import Path

import py7zr
import pytest
from py7zr.helpers import calculate_key
from samplekit.archives import harmless_exe, sevenzip

from tests.conftest import CORPUS
from triage.errors import ConfigError
from triage.model import NoteKind
from triage.plugins import Child, DeadlineExceeded
from triage.unpack.sevenzip import (
    SevenZipUnpacker,
    _content_lock,
    _derive_key,
    _guess_cost_refused,
    _Lock,
    _open,
    _plausible,
)

from ._fake_ctx import FakeConfig, FakeContext, pw, view

MiB = 1024 * 1024
HELSECERT = CORPUS / "office" / "helsecert-malspam-7z-infected"


def unpack(
    data: bytes, ctx: FakeContext | None = None, options: dict[str, object] | None = None
) -> tuple[list[Child], FakeContext]:
    ctx = ctx or FakeContext()
    unpacker = SevenZipUnpacker()
    unpacker.setup(FakeConfig(unpack={"sevenzip": dict(options or {})}))  # type: ignore[arg-type]
    return list(unpacker.unpack(view(data, "資料.7z", ("7z",)), ctx)), ctx


def test_plain_members_come_out_with_names_and_content() -> None:
    exe = harmless_exe()
    children, ctx = unpack(sevenzip([("請求書.exe", exe), ("dir\\readme.txt", b"hello" * 100)]))
    assert [(c.name, c.data) for c in children] == [("請求書.exe", exe), ("dir/readme.txt", b"hello" * 100)]
    assert ctx.emits == [] and ctx.notes == []


def test_backslash_name_is_flagged_as_traversal() -> None:
    archive = sevenzip([("C:\\\\evil.exe", b"x")])
    children, _ = unpack(archive)
    assert children[0].meta.get("path_traversal") is True


def test_encrypted_content_opens_with_the_body_password() -> None:
    exe = harmless_exe()
    children, ctx = unpack(
        sevenzip([("a.exe", exe)], password="ひみつ2026"), FakeContext(candidates=[pw("wrong"), pw("ひみつ2026")])
    )
    assert children[0].data == exe and children[0].meta["encrypted"] is True
    assert ctx.ids() == ["ARCHIVE_ENCRYPTED", "ARCHIVE_PASSWORD_IN_BODY"]
    assert ctx.meta["password"] == "ひみつ2026" and ctx.meta["password_source"] == "body"


def test_encrypted_content_without_password_keeps_names_and_reports() -> None:
    children, ctx = unpack(sevenzip([("a.exe", b"MZ" * 10)], password="secret"), FakeContext(candidates=[pw("nope")]))
    assert [(c.name, c.data, c.meta["unreadable"]) for c in children] == [("a.exe", None, "encrypted, no password")]
    assert ctx.ids() == ["ARCHIVE_ENCRYPTED", "ARCHIVE_ENCRYPTED_NO_PASSWORD"]
    assert "1 password candidate(s) tried" in ctx.evidence("ARCHIVE_ENCRYPTED_NO_PASSWORD")
    assert NoteKind.ENCRYPTED_NO_PASSWORD in ctx.note_kinds()


def test_header_encryption_hides_names_until_the_password_opens_them() -> None:
    archive = sevenzip([("hidden.exe", b"MZ")], password="pass-7731", encrypt_names=True)
    children, ctx = unpack(archive)
    assert children == []
    assert ctx.meta["header_encrypted"] is True
    assert ctx.ids() == ["ARCHIVE_ENCRYPTED", "ARCHIVE_ENCRYPTED_NO_PASSWORD"]
    children, ctx = unpack(archive, FakeContext(candidates=[pw("pass-7731", "subject")]))
    assert [(c.name, c.data) for c in children] == [("hidden.exe", b"MZ")]
    assert "subject" in ctx.evidence("ARCHIVE_PASSWORD_IN_BODY")[0]


def test_list_password_opens_without_body_finding() -> None:
    _, ctx = unpack(sevenzip([("a.txt", b"x")], password="infected"), FakeContext(candidates=[pw("infected", "list")]))
    assert ctx.ids() == ["ARCHIVE_ENCRYPTED"]
    assert ctx.meta["password_source"] == "list"


def test_attempts_are_bounded_by_the_option() -> None:
    candidates = [pw(f"guess{i}") for i in range(5)]
    _, ctx = unpack(
        sevenzip([("a.txt", b"x")], password="right"), FakeContext(candidates=candidates), {"max_attempts": 2}
    )
    assert "2 password candidate(s) tried" in ctx.evidence("ARCHIVE_ENCRYPTED_NO_PASSWORD")


def test_ratio_bomb_is_refused_before_decompression() -> None:
    archive = sevenzip([("zeros.bin", bytes(4 * MiB))])
    assert len(archive) < 64 * 1024
    children, ctx = unpack(archive, options={"bomb_min_size": MiB})
    assert ctx.ids() == ["ARCHIVE_BOMB"]
    assert children[0].data is None and children[0].meta["unreadable"] == "decompression bomb"


def test_member_over_the_budget_is_not_read() -> None:
    archive = sevenzip([("small.txt", b"s"), ("big.bin", bytes(range(256)) * 4096)])
    children, ctx = unpack(archive, FakeContext(max_child_size=100_000), {"bomb_min_size": 64 * MiB})
    by_name = {c.name: c for c in children}
    assert by_name["small.txt"].data == b"s"
    assert by_name["big.bin"].data is None and by_name["big.bin"].meta["unreadable"] == "exceeds the size budget"
    assert NoteKind.LIMIT_SIZE in ctx.note_kinds()


def test_garbage_and_truncation_are_unparsable_never_crash() -> None:
    archive = sevenzip([("a.exe", harmless_exe())])
    for data in (b"7z\xbc\xaf\x27\x1c" + b"\x00" * 50, archive[: len(archive) // 2], archive[:40] + b"\xff" * 200):
        children, ctx = unpack(data)
        assert children == [] or all(c.data is None for c in children)
        assert NoteKind.UNPARSABLE in ctx.note_kinds()


def test_corrupt_member_data_is_reported_per_member() -> None:
    archive = bytearray(sevenzip([("a.txt", b"hello world " * 50)]))
    archive[40] ^= 0xFF  # inside the packed stream
    children, ctx = unpack(bytes(archive))
    assert all(c.data is None for c in children)
    assert NoteKind.UNPARSABLE in ctx.note_kinds()


def test_deadline_stops_extraction() -> None:
    with pytest.raises(DeadlineExceeded):
        unpack(sevenzip([("a.bin", random.Random(1).randbytes(MiB // 2))]), FakeContext(deadline_after=1))


def test_unknown_option_is_an_error() -> None:
    with pytest.raises(ConfigError):
        SevenZipUnpacker().setup(FakeConfig(unpack={"sevenzip": {"bomb_ratoi": 3}}))  # type: ignore[arg-type]


def test_nothing_is_written_to_the_working_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    unpack(
        sevenzip([("../../x.exe".replace("../", ""), b"MZ"), ("d/y.txt", b"y")], password="p"),
        FakeContext(candidates=[pw("p")]),
    )
    assert list(tmp_path.iterdir()) == []


@pytest.mark.skipif(not HELSECERT.is_dir(), reason="helsecert corpus absent")
def test_helsecert_real_malware_7z_open_in_memory_with_infected() -> None:
    archives = sorted(HELSECERT.glob("*.7z"))
    assert len(archives) == 23
    for path in archives:
        children, ctx = unpack(path.read_bytes(), FakeContext(candidates=[pw("infected", "list")]))
        assert children, path.name
        assert all(c.data is not None for c in children), (path.name, ctx.notes)
        assert ctx.meta.get("password") == "infected", path.name
        assert not [n for n in ctx.notes if n[0] is not NoteKind.LIMIT_SIZE], (path.name, ctx.notes)


def test_py7zr_reads_what_we_build() -> None:
    # the builder's archives are real 7z: py7zr lists them without a password when the header is clear
    with py7zr.SevenZipFile(io.BytesIO(sevenzip([("a.txt", b"x")], password="p"))) as archive:
        assert archive.getnames() == ["a.txt"]


@pytest.mark.parametrize(
    ("password", "cycles", "salt"), [("secret", 19, b""), ("ひみつ2026", 19, b"salt"), ("a", 3, b""), ("xy", 10, b"s")]
)
def test_fast_key_derivation_matches_py7zr(password: str, cycles: int, salt: bytes) -> None:
    assert _derive_key(password, cycles, salt) == calculate_key(password.encode("utf-16-le"), cycles, salt, "sha256")


def test_py7zr_derives_keys_with_ours_once_we_open_an_archive() -> None:
    import py7zr.compressor

    archive = sevenzip([("a.txt", b"secret text")], password="pw-2026", encrypt_names=True)
    with _open(archive, "pw-2026") as opened:
        assert opened.getnames() == ["a.txt"]  # the names are encrypted: listing them decrypts the header
    fast = py7zr.compressor.calculate_key
    assert getattr(fast, "_triage_fast", False)
    for password, cycles, salt in (("pw", 19, b""), ("ひみつ", 5, b"salt")):
        raw = password.encode("utf-16-le")
        assert fast(raw, cycles, salt, "sha256") == calculate_key(raw, cycles, salt, "sha256")
    assert fast(b"odd", 3, b"", "sha256") == calculate_key(b"odd", 3, b"", "sha256")  # not UTF-16: py7zr's own


def test_one_archive_derives_each_password_key_once(monkeypatch: pytest.MonkeyPatch) -> None:
    # The plausibility check, py7zr's header and its folder all need the key of the same password and salt:
    # 2^19 SHA-256 rounds each. One archive derives it once, and forgets it when it is done.
    from triage.unpack import sevenzip as module

    derived: list[bytes] = []
    real = module._derive

    def counting(password: bytes, cycles: int, salt: bytes) -> bytes:
        derived.append(password)
        return real(password, cycles, salt)

    monkeypatch.setattr(module, "_derive", counting)
    archive = sevenzip([("hidden.exe", b"MZ" * 50)], password="pass-7731", encrypt_names=True)
    derived.clear()  # py7zr's writer derives with our function too, once a test has opened an archive
    for _ in range(2):
        children, _ctx = unpack(archive, FakeContext(candidates=[pw("wrong-1"), pw("pass-7731")]))
        assert [(c.name, c.data) for c in children] == [("hidden.exe", b"MZ" * 50)]
    right = "pass-7731".encode("utf-16-le")
    assert derived.count(right) == 2  # once per archive: two unpacks
    assert module._KEYS.get() is None


def test_lock_check_passes_the_right_password_and_rejects_almost_all_others() -> None:
    # A fixed salt and IV: which wrong guesses slip through depends on them, and the test must not be a lottery.
    import random
    from unittest import mock

    import py7zr.compressor

    with mock.patch.object(py7zr.compressor, "get_random_bytes", random.Random(7).randbytes):
        archive = sevenzip([("a.txt", b"hello " * 100)], password="right-one")
    with py7zr.SevenZipFile(io.BytesIO(archive)) as opened:
        lock = _content_lock(opened, archive)
    assert lock is not None and lock.cycles == 19 and lock.inner is not None
    assert _plausible(lock, "right-one")
    wrong = sum(_plausible(lock, f"wrong{i}") for i in range(200))
    assert wrong <= 4  # about 1 in 100 passes (an LZMA2 stream may start with a 0x00/0x01 control byte)


def test_expensive_key_derivation_is_refused() -> None:
    assert _guess_cost_refused(_Lock(cycles=24, salt=b"", iv=bytes(16), first_block=bytes(16), inner=None))
    assert not _guess_cost_refused(_Lock(cycles=19, salt=b"", iv=bytes(16), first_block=bytes(16), inner=None))
