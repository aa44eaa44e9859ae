"""triage.native's iterated hash against msoffcrypto-tool's own derivation, and the Python path without it."""

from __future__ import annotations

import random
import shutil
from pathlib import Path

import pytest
from msoffcrypto.method import ecma376_agile

from triage import native
from triage.unpack.office import native_first

needs_library = pytest.mark.skipif(not native.available(), reason="triage/native not built (make builds it)")


def reference(password: str, salt: bytes, algorithm: str, rounds: int) -> bytes:
    """MS-OFFCRYPTO 2.3.4.11 as msoffcrypto-tool computes it (its hash choice, its loop), written out here because
    the office unpacker replaces msoffcrypto's own function once it has run."""
    hash_of = ecma376_agile._get_hash_func(algorithm)
    h = hash_of(salt + password.encode("utf-16le"))
    for i in range(rounds):
        h = hash_of(i.to_bytes(4, "little") + h.digest())
    return h.digest()


def test_the_library_is_built_wherever_it_can_be() -> None:
    # `make` builds it when there is a compiler and OpenSSL's headers (.ci/sysdeps.sh installs both): a silent
    # fallback to the Python loop in CI would leave the C path untested.
    if shutil.which("cc") is None or not Path("/usr/include/openssl/evp.h").exists():
        pytest.skip("no C compiler or OpenSSL headers here: the Python loop is used")
    assert native.available(), f"{native.LIBRARY} missing: run make"


@needs_library
@pytest.mark.parametrize("algorithm", ["SHA1", "SHA256", "SHA384", "SHA512", "MD5", "sha512", "", "SHA3-512"])
def test_native_derivation_matches_msoffcrypto(algorithm: str) -> None:
    # Names msoffcrypto does not know hash with SHA-1 there (its default): the same must happen here.
    rng = random.Random(algorithm)
    derive = native_first(lambda *args: pytest.fail("the C path must answer"))
    for rounds in (0, 1, 2, 7, 1000):
        salt = rng.randbytes(rng.choice((0, 1, 16, 64)))
        password = "".join(rng.choice("aZ9 パスワード\u202e\U0001f600") for _ in range(rng.randrange(0, 20)))
        assert derive(password, salt, algorithm, rounds).digest() == reference(password, salt, algorithm, rounds)


@needs_library
def test_a_full_office_spin_count_matches() -> None:
    derive = native_first(lambda *args: pytest.fail("the C path must answer"))
    salt = bytes(range(16))
    assert derive("infected", salt, "SHA512", 100_000).digest() == reference("infected", salt, "SHA512", 100_000)


def test_without_the_library_the_python_loop_answers(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(native, "iterate_hash", lambda digest, start, rounds: None)
    calls: list[int] = []

    def counted(password: str, salt: bytes, algorithm: str, rounds: int) -> object:
        calls.append(rounds)
        return ecma376_agile._get_hash_func(algorithm)(reference(password, salt, algorithm, rounds))

    result = native_first(counted)("pw", b"salt", "SHA256", 5)
    assert calls == [5]  # the Python derivation ran, and its hash object is what comes back
    assert result.digest() == ecma376_agile._get_hash_func("SHA256")(reference("pw", b"salt", "SHA256", 5)).digest()


@needs_library
def test_arguments_the_library_does_not_take_give_none() -> None:
    assert native.iterate_hash("SHA512", b"\0" * 64, 3) is not None
    assert native.iterate_hash("MD5", b"\0" * 16, 3) is None  # not a digest agile encryption names
    assert native.iterate_hash("SHA512", b"\0" * 63, 3) is None  # not a SHA-512 value
    assert native.iterate_hash("SHA512", b"", 3) is None
    assert native.iterate_hash("SHA512", b"\0" * 64, native.MAX_ROUNDS + 1) is None
    assert native.iterate_hash("SHA512", b"\0" * 64, -1) is None


def _standard_key_reference(password: str, key_size: int, salt: bytes) -> bytes:
    """MS-OFFCRYPTO 2.3.4.7 written out (msoffcrypto's loop, which the office unpacker replaces once it has run)."""
    import hashlib

    h = hashlib.sha1(salt + password.encode("utf-16le"), usedforsecurity=False).digest()
    for i in range(50_000):
        h = hashlib.sha1(i.to_bytes(4, "little") + h, usedforsecurity=False).digest()
    final = hashlib.sha1(h + b"\0\0\0\0", usedforsecurity=False).digest()
    x1 = hashlib.sha1(bytes(b ^ 0x36 for b in final) + b"\x36" * 44, usedforsecurity=False).digest()
    x2 = hashlib.sha1(bytes(b ^ 0x5C for b in final) + b"\x5c" * 44, usedforsecurity=False).digest()
    return (x1 + x2)[: key_size // 8]


@pytest.mark.parametrize(("password", "key_size"), [("Password1234_", 128), ("パスワード", 256), ("", 40), ("x", 512)])
def test_standard_encryption_key_matches_msoffcrypto(password: str, key_size: int) -> None:
    from msoffcrypto.method.ecma376_standard import ECMA376Standard

    from triage.unpack.office import native_standard_key

    original = getattr(ECMA376Standard.makekey_from_password, "__wrapped__", ECMA376Standard.makekey_from_password)
    ours = native_standard_key(original)
    salt = b"\xe8\x82fI\x0c[\xd1\xee\xbd+C\x94\xe3\xf80\xef"
    expected = _standard_key_reference(password, key_size, salt)
    assert ours(password, 0x660E, 0x8004, 0x18, key_size, 16, salt) == expected
    assert original(password, 0x660E, 0x8004, 0x18, key_size, 16, salt) == expected
    if password == "Password1234_":  # msoffcrypto's own documented vector
        assert expected == b"@\xb1:q\xf9\x0b\x96n7T\x08\xf2\xd1\x81\xa1\xaa"
