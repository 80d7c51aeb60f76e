"""The WeChat Official Accounts one deployment serves: the primary (``WECHAT_*`` config
vars) and the additional ones (``WECHAT_ACCOUNTS``, a JSON array).

Only settings live here (no wechatpy, no I/O): :class:`WeChatAccount` is what the
callback and the worker need of one account; :class:`AccountVars` validates one entry of
``WECHAT_ACCOUNTS`` with the same checks as the primary's variables.
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict, SecretStr, field_validator

# An entry's keys, and the primary's variable each one stands for (its checks and the
# words of its "expected ..." message are that variable's).
ACCOUNT_KEYS: dict[str, str] = {
    "original_id": "WECHAT_ORIGINAL_ID",
    "app_id": "WECHAT_APP_ID",
    "app_secret": "WECHAT_APP_SECRET",
    "token": "WECHAT_TOKEN",
    "encoding_aes_key": "WECHAT_ENCODING_AES_KEY",
    "previous_encoding_aes_key": "WECHAT_PREVIOUS_ENCODING_AES_KEY",
    "api_base_url": "WECHAT_API_BASE_URL",
}


def check_aes_key(value: str) -> str:
    if len(value) != 43:
        raise ValueError(f"must be 43 characters, got {len(value)}")
    try:
        raw = base64.b64decode(value + "=", validate=True)
    except binascii.Error as exc:
        raise ValueError("is not base64 text") from exc
    if len(raw) != 32:
        raise ValueError("does not decode to 32 bytes")
    return value


def check_token(value: SecretStr) -> SecretStr:
    if not re.fullmatch(r"[A-Za-z0-9]{3,32}", value.get_secret_value()):
        raise ValueError("must be 3 to 32 letters or digits")
    return value


def check_original_id(value: str | None) -> str | None:
    if value is not None and not re.fullmatch(r"gh_[0-9a-f]{12}", value):
        raise ValueError("must be gh_ followed by 12 hex characters")
    return value


def check_app_id(value: str) -> str:
    if not re.fullmatch(r"wx[0-9a-f]{16}", value):
        raise ValueError("must be wx followed by 16 hex characters")
    return value


def check_api_base(value: str) -> str:
    if not re.match(r"^https?://[^/\s]+", value):
        raise ValueError("must be an http(s) URL")
    return value.rstrip("/") + "/"


@dataclass(frozen=True)
class WeChatAccount:
    """One Official Account's credentials. ``original_id`` is None only for a lone
    account without ``WECHAT_ORIGINAL_ID`` (pushes are then not checked by account).
    Secrets stay :class:`SecretStr`, so a repr or a log line never shows them."""

    original_id: str | None
    app_id: str
    app_secret: SecretStr
    token: SecretStr
    encoding_aes_key: SecretStr | None
    previous_encoding_aes_key: SecretStr | None
    api_base_url: str


class AccountVars(BaseModel):
    """One entry of ``WECHAT_ACCOUNTS``; unknown keys are refused (a typo is an error)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    original_id: str
    app_id: str
    app_secret: SecretStr
    token: SecretStr
    encoding_aes_key: SecretStr | None = None
    previous_encoding_aes_key: SecretStr | None = None
    api_base_url: str | None = None  # None: the primary's WECHAT_API_BASE_URL

    _original_id = field_validator("original_id")(check_original_id)
    _app_id = field_validator("app_id")(check_app_id)
    _token = field_validator("token")(check_token)
    _api_base = field_validator("api_base_url")(
        lambda value: None if value is None else check_api_base(value))

    @field_validator("encoding_aes_key", "previous_encoding_aes_key")
    @classmethod
    def _aes(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None:
            check_aes_key(value.get_secret_value())
        return value

    def account(self, default_base_url: str) -> WeChatAccount:
        return WeChatAccount(
            original_id=self.original_id, app_id=self.app_id, app_secret=self.app_secret,
            token=self.token, encoding_aes_key=self.encoding_aes_key,
            previous_encoding_aes_key=self.previous_encoding_aes_key,
            api_base_url=self.api_base_url or default_base_url)
