"""Signatures and AES for WeChat pushes (plain, compatible and safe mode).

WeChat signs every push with ``sha1(sorted(token, timestamp, nonce[, Encrypt]))`` and, in
compatible/safe mode, wraps the XML as ``random(16) + uint32_be(len) + xml + appid``,
PKCS#7-padded to 32 bytes, AES-256-CBC with ``key = b64decode(EncodingAESKey + "=")`` and
``iv = key[:16]``.

The AES work is wechatpy's (``PrpCrypto``: its cipher and its encryption framing). The
checks are ours, because wechatpy compares signatures and app ids with ``!=`` (a timing
side channel) and its padding handling accepts anything:

- :func:`check_signature` compares with :func:`hmac.compare_digest`;
- :meth:`PushCipher.decrypt` validates the padding and the length prefix, and compares the
  trailing app id in constant time. During a key rotation it tries the current key, then
  the previous one.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
from collections.abc import Callable

from wechatpy.crypto import PrpCrypto

__all__ = [
    "AppIdMismatchError",
    "DecryptError",
    "PushCipher",
    "check_signature",
    "signature_of",
]

# The reply envelope exactly as wechatpy 1.8.18 renders it (BaseWeChatCrypto._encrypt_message):
# WeChat parses it, and the reference vectors V2d/V4b pin it byte for byte.
REPLY_TEMPLATE = """<xml>
<Encrypt><![CDATA[{encrypt}]]></Encrypt>
<MsgSignature><![CDATA[{signature}]]></MsgSignature>
<TimeStamp>{timestamp}</TimeStamp>
<Nonce><![CDATA[{nonce}]]></Nonce>
</xml>"""

RANDOM_BYTES = 16  # the random prefix of every plaintext, by WeChat's definition
BLOCK = 32  # WeChat pads to 32 bytes, not AES's 16


class DecryptError(ValueError):
    """An ``Encrypt`` value that is not a well-formed ciphertext under our key(s)."""


class AppIdMismatchError(DecryptError):
    """The ciphertext decrypted, but was made for another app id (another account)."""


def signature_of(*parts: str) -> str:
    """``sha1`` hex digest of the parts, sorted and joined (WeChat's signature)."""
    return hashlib.sha1("".join(sorted(parts)).encode("utf-8")).hexdigest()  # noqa: S324 (WeChat's algorithm)


def check_signature(
    token: str, signature: str | None, timestamp: str | None, nonce: str | None, *extra: str
) -> bool:
    """True when ``signature`` is WeChat's signature of token, timestamp, nonce (+ extra).

    ``extra`` is the ``Encrypt`` value when checking a safe-mode ``msg_signature``. Missing
    parts (None) give False rather than an exception, so query parameters can be passed
    straight in. The comparison is constant-time.
    """
    if signature is None or timestamp is None or nonce is None:
        return False
    expected = signature_of(token, timestamp, nonce, *extra)
    # compare_digest on str only takes ASCII; bytes take anything the query may carry.
    return hmac.compare_digest(expected.encode(), signature.encode("utf-8", "replace"))


def _default_random() -> str:
    # 16 URL-safe characters (96 bits) from the OS CSPRNG; wechatpy's own uses `random`.
    return secrets.token_urlsafe(12)


class _Prp(PrpCrypto):
    """wechatpy's PrpCrypto with the 16-byte random prefix injectable (tests pin it)."""

    def __init__(self, key: bytes, random: Callable[[], str | bytes]) -> None:
        super().__init__(key)
        self._random = random

    def get_random_string(self) -> str | bytes:
        value = self._random()
        size = len(value.encode() if isinstance(value, str) else value)
        if size != RANDOM_BYTES:
            raise ValueError(f"the random prefix must be {RANDOM_BYTES} bytes, got {size}")
        return value


def _aes_key(encoding_aes_key: str) -> bytes:
    try:
        key = base64.b64decode(encoding_aes_key + "=", validate=True)
    except binascii.Error:
        raise ValueError("EncodingAESKey is not base64 text") from None
    if len(key) != 32:
        raise ValueError("EncodingAESKey must decode to 32 bytes")
    return key


class PushCipher:
    """Decrypts pushes and encrypts passive replies for one Official Account.

    Build it once per process: it holds the AES contexts for the current key and, during
    a rotation, the previous one.

    Args:
        encoding_aes_key: the current 43-character EncodingAESKey.
        app_id: the AppID that every plaintext must end with.
        previous_key: the previous EncodingAESKey, tried when the current one fails.
        token: the callback Token; signs encrypted replies (``MsgSignature``).
        random: returns the 16-byte random prefix of each reply (default: CSPRNG).

    Raises:
        ValueError: a key that is not 43 base64 characters decoding to 32 bytes.
    """

    def __init__(
        self,
        encoding_aes_key: str,
        app_id: str,
        previous_key: str | None = None,
        *,
        token: str,
        random: Callable[[], str | bytes] | None = None,
    ) -> None:
        random = random or _default_random
        self._app_id = app_id.encode("utf-8")
        self._token = token
        self._current = _Prp(_aes_key(encoding_aes_key), random)
        # Decryption only needs the cipher; the previous key never encrypts.
        self._keys = [self._current]
        if previous_key:
            self._keys.append(_Prp(_aes_key(previous_key), random))

    def decrypt(self, encrypt_b64: str | bytes) -> str:
        """The plaintext message (XML in practice) inside an ``Encrypt`` value.

        Raises:
            AppIdMismatchError: it decrypts, but for another app id (under every key).
            DecryptError: not base64, not whole AES blocks, bad padding or length prefix,
                or not UTF-8 (under every key).
        """
        try:
            data = base64.b64decode(encrypt_b64, validate=True)
        except (binascii.Error, ValueError):
            raise DecryptError("Encrypt is not base64") from None
        if not data or len(data) % 16:
            raise DecryptError("Encrypt is not a whole number of AES blocks")
        failures: list[DecryptError] = []
        for prp in self._keys:
            try:
                return self._open(prp, data)
            except DecryptError as exc:
                failures.append(exc)
        raise failures[0]  # the current key's reason is the one worth reporting

    def _open(self, prp: _Prp, data: bytes) -> str:
        plain = prp.cipher.decrypt(data)
        # Strict PKCS#7 (wechatpy's decoder maps a bad pad to 0 and carries on).
        pad = plain[-1]
        if not 1 <= pad <= BLOCK or plain[-pad:] != bytes([pad]) * pad:
            raise DecryptError("bad padding (wrong key?)")
        body = plain[RANDOM_BYTES:-pad]
        if len(body) < 4:
            raise DecryptError("plaintext too short")
        length = int.from_bytes(body[:4], "big")
        if length > len(body) - 4:
            raise DecryptError("length prefix beyond the plaintext (wrong key?)")
        message, app_id = body[4 : 4 + length], body[4 + length :]
        if not hmac.compare_digest(app_id, self._app_id):
            raise AppIdMismatchError("plaintext is for another app id")
        try:
            return message.decode("utf-8")
        except UnicodeDecodeError:
            raise DecryptError("plaintext is not UTF-8") from None

    def encrypt(self, message: str) -> str:
        """``Encrypt`` value for ``message`` under the current key (base64 text)."""
        return self._current.encrypt(message, self._app_id.decode("utf-8")).decode("ascii")

    def encrypt_reply(self, xml: str, nonce: str, timestamp: str | int) -> str:
        """The encrypted passive-reply envelope, byte-identical to wechatpy 1.8.18's.

        ``nonce`` and ``timestamp`` are echoed into the envelope and signed with the token.
        """
        encrypt = self.encrypt(xml)
        timestamp = str(timestamp)
        signature = signature_of(self._token, timestamp, nonce, encrypt)
        return REPLY_TEMPLATE.format(
            encrypt=encrypt, signature=signature, timestamp=timestamp, nonce=nonce
        )
