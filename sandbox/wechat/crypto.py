"""WeChat's push signing and AES scheme, written from the protocol description.

This is the sandbox's own implementation, independent of wechatpy and of the bridge's
``connector/wechat/crypto.py``, so that a bug shared by both sides cannot hide: the two
are checked against each other in integration tests and each against the reference
vectors (``shared/reference/wechat_vectors.md``).

The scheme (WeChat Official Account "safe mode"):

- ``signature = sha1(''.join(sorted([token, timestamp, nonce])))`` (GET + every POST);
- ``msg_signature = sha1(''.join(sorted([token, timestamp, nonce, encrypt])))``;
- ``key = b64decode(encoding_aes_key + '=')`` (32 bytes), ``iv = key[:16]``, AES-256-CBC;
- plaintext ``random(16) + uint32_be(len(msg)) + msg + app_id``, PKCS#7-padded to a
  multiple of 32 bytes (not AES's 16: WeChat's samples pad to 32).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import struct

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

BLOCK = 32  # WeChat's PKCS#7 block size, twice AES's own.


class CryptoError(ValueError):
    """A ciphertext, key or padding that WeChat's scheme rejects."""


def sign(*parts: str) -> str:
    """SHA-1 hex digest of the parts sorted lexicographically and joined (duplicates kept)."""
    return hashlib.sha1("".join(sorted(parts)).encode("utf-8")).hexdigest()  # noqa: S324 - WeChat's scheme


def signature(token: str, timestamp: str, nonce: str) -> str:
    """The ``signature`` query parameter of every push and of URL verification."""
    return sign(token, timestamp, nonce)


def msg_signature(token: str, timestamp: str, nonce: str, encrypt: str) -> str:
    """The ``msg_signature`` over an ``Encrypt`` value (safe/compatible mode, replies)."""
    return sign(token, timestamp, nonce, encrypt)


def signature_matches(expected: str, *parts: str) -> bool:
    """Constant-time check that ``expected`` is the signature of ``parts``."""
    return hmac.compare_digest(sign(*parts).encode(), (expected or "").encode())


def aes_key(encoding_aes_key: str) -> bytes:
    """The 32-byte AES key of a 43-character EncodingAESKey.

    Raises:
        CryptoError: the EncodingAESKey is not 43 base64 characters.
    """
    if len(encoding_aes_key) != 43:
        raise CryptoError("EncodingAESKey must be 43 characters")
    try:
        key = base64.b64decode(encoding_aes_key + "=", validate=True)
    except binascii.Error as exc:
        raise CryptoError(f"EncodingAESKey is not base64: {exc}") from exc
    return key


def _cipher(key: bytes) -> Cipher:
    return Cipher(algorithms.AES(key), modes.CBC(key[:16]))


def pad(data: bytes) -> bytes:
    """PKCS#7 padding to a multiple of 32 bytes (always 1..32 bytes added)."""
    amount = BLOCK - len(data) % BLOCK
    return data + bytes([amount]) * amount


def unpad(data: bytes) -> bytes:
    """Remove :func:`pad`'s padding. Raises: CryptoError on a malformed pad."""
    amount = data[-1] if data else 0
    if not 1 <= amount <= BLOCK or data[-amount:] != bytes([amount]) * amount:
        raise CryptoError("bad PKCS#7 padding")
    return data[:-amount]


def encrypt(key: bytes, message: str | bytes, app_id: str, random16: bytes | None = None) -> str:
    """Base64 ``Encrypt`` value of ``message`` for ``app_id``.

    ``random16`` is the 16-byte random prefix; pass it only to reproduce a known vector.
    """
    body = message.encode("utf-8") if isinstance(message, str) else message
    prefix = os.urandom(16) if random16 is None else random16
    if len(prefix) != 16:
        raise CryptoError("the random prefix must be 16 bytes")
    plain = prefix + struct.pack(">I", len(body)) + body + app_id.encode("utf-8")
    encryptor = _cipher(key).encryptor()
    cipher_text = encryptor.update(pad(plain)) + encryptor.finalize()
    return base64.b64encode(cipher_text).decode("ascii")


def decrypt(key: bytes, encrypted: str) -> tuple[bytes, bytes, str]:
    """Split an ``Encrypt`` value into ``(random16, message bytes, app_id)``.

    Raises:
        CryptoError: not base64, not whole AES blocks, bad padding or a bad length field.
    """
    try:
        cipher_text = base64.b64decode(encrypted, validate=True)
    except binascii.Error as exc:
        raise CryptoError(f"Encrypt is not base64: {exc}") from exc
    if not cipher_text or len(cipher_text) % 16:
        raise CryptoError("Encrypt is not a whole number of AES blocks")
    decryptor = _cipher(key).decryptor()
    plain = unpad(decryptor.update(cipher_text) + decryptor.finalize())
    if len(plain) < 20:
        raise CryptoError("plaintext shorter than its header")
    (length,) = struct.unpack(">I", plain[16:20])
    if 20 + length > len(plain):
        raise CryptoError("length field runs past the plaintext")
    app_id = plain[20 + length :].decode("utf-8", errors="replace")
    return plain[:16], plain[20 : 20 + length], app_id


def nonce_digits(rng_bytes: bytes | None = None) -> str:
    """A nonce shaped like WeChat's: 9-10 decimal digits."""
    value = int.from_bytes(rng_bytes or os.urandom(4), "big")
    return str(100_000_000 + value % 1_900_000_000)
