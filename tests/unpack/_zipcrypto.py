"""A tiny ZipCrypto (traditional PKWARE) encryptor: the stdlib can read such archives but cannot write them."""

from __future__ import annotations

import zlib

_TABLE = tuple(zlib.crc32(bytes((i,)), 0xFFFFFFFF) ^ 0xFFFFFFFF for i in range(256))


class ZipCryptoKeys:
    def __init__(self, password: bytes) -> None:
        self.keys = [0x12345678, 0x23456789, 0x34567890]
        for byte in password:
            self.update(byte)

    def update(self, byte: int) -> None:
        k0, k1, k2 = self.keys
        k0 = (k0 >> 8) ^ _TABLE[(k0 ^ byte) & 0xFF]
        k1 = ((k1 + (k0 & 0xFF)) * 134775813 + 1) & 0xFFFFFFFF
        k2 = (k2 >> 8) ^ _TABLE[(k2 ^ (k1 >> 24)) & 0xFF]
        self.keys = [k0, k1, k2]

    def stream_byte(self) -> int:
        k = self.keys[2] | 2
        return ((k * (k ^ 1)) >> 8) & 0xFF

    def encrypt(self, plain: bytes) -> bytes:
        out = bytearray()
        for byte in plain:
            out.append(byte ^ self.stream_byte())
            self.update(byte)
        return bytes(out)

    def decrypt(self, cipher: bytes) -> bytes:
        out = bytearray()
        for byte in cipher:
            plain = byte ^ self.stream_byte()
            out.append(plain)
            self.update(plain)
        return bytes(out)


def zipcrypto_encrypt(password: bytes, payload: bytes, crc: int, *, salt: bytes = b"\x5a" * 11) -> bytes:
    """The 12-byte header (11 random bytes, then the CRC's high byte as the check byte) and the payload."""
    header = salt[:11] + bytes(((crc >> 24) & 0xFF,))
    return ZipCryptoKeys(password).encrypt(header + payload)


def passes_check_byte(password: bytes, encrypted: bytes, crc: int) -> bool:
    """Whether `password` decrypts the header to the right check byte (true for 1 wrong password in 256)."""
    return ZipCryptoKeys(password).decrypt(encrypted[:12])[-1] == (crc >> 24) & 0xFF
