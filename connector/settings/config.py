"""Typed settings from Heroku config vars (environment variables).

Settings are built lazily by :func:`get_settings`, never at import time, so tests and the
sandbox can set the environment first. A missing or malformed variable raises
:class:`SettingsError`, whose message names every bad variable and what it expects.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from connector.errors import ConfigurationError
from connector.settings.accounts import (
    ACCOUNT_KEYS,
    AccountVars,
    WeChatAccount,
    check_aes_key,
    check_api_base,
    check_app_id,
    check_original_id,
    check_token,
)

# sObject Collections upsert "is available in API version 46 and later" (REST API
# Developer Guide, https://developer.salesforce.com/docs/platform/api-rest/guide/
# resources-composite-sobjects-collections-upsert.html).
MIN_API_VERSION = 46.0
DEFAULT_MAPPING = Path(__file__).resolve().parents[2] / "mappings" / "default.yaml"

# What each variable expects, in the words of the person who has to set it.
EXPECTS: dict[str, str] = {
    "REDIS_URL": "a redis:// or rediss:// URL (unset: an embedded Redis is started)",
    "PORT": "the TCP port the web process listens on, e.g. 8000",
    "SALESFORCE_LOGIN_URL": "https://login.salesforce.com, https://test.salesforce.com "
    "or your My Domain URL",
    "SALESFORCE_CLIENT_ID": "the Consumer Key of the Connected App",
    "SALESFORCE_USERNAME": "the integration user's username (JWT bearer flow)",
    "SALESFORCE_PRIVATE_KEY": "the PEM private key whose certificate is uploaded to the "
    "Connected App (literal \\n line breaks, or the whole PEM base64-encoded, accepted)",
    "SALESFORCE_CLIENT_SECRET": "the Consumer Secret (client credentials flow, instead of a key)",
    "SALESFORCE_API_VERSION": "an API version such as 62.0, at least 46.0",
    "SALESFORCE_JWT_AUDIENCE": "the JWT's aud claim: https://login.salesforce.com "
    "(production and Developer Edition orgs), https://test.salesforce.com (sandboxes and "
    "scratch orgs) or an Experience Cloud site URL; unset: inferred from "
    "SALESFORCE_LOGIN_URL",
    "WECHAT_APP_ID": "the Official Account AppID (wx followed by 16 hex characters)",
    "WECHAT_APP_SECRET": "the Official Account AppSecret",
    "WECHAT_TOKEN": "the Token set under Settings > Basic configuration > Server configuration "
    "(3 to 32 letters or digits)",
    "WECHAT_ENCODING_AES_KEY": "the 43-character EncodingAESKey (needed for safe mode)",
    "WECHAT_PREVIOUS_ENCODING_AES_KEY": "the previous 43-character EncodingAESKey, during rotation",
    "WECHAT_ORIGINAL_ID": "the account's original id, gh_ followed by 12 hex characters",
    "WECHAT_API_BASE_URL": "the WeChat API base URL, default https://api.weixin.qq.com/",
    "WECHAT_QR_IMAGE_BASE_URL": "the base URL of WeChat's QR code images (showqrcode), "
                                "default https://mp.weixin.qq.com/",
    "WECHAT_ACCOUNT_TYPE": "service or subscription (the mass-message quota: 4 a month, "
                           "or 1 a day, per follower)",
    "SALESFORCE_ORG_ID": "the 15- or 18-character Id of the org whose Outbound Messages "
                         "are accepted",
    "SALESFORCE_OUTBOUND_SECRET": "at least 32 letters, digits, - or _, the last part of "
    "the Outbound Messages' endpoint URL (https://<app>/salesforce/outbound/<secret>)",
    "ADMIN_TOKEN": "at least 32 characters, sent as 'Authorization: Bearer <token>' to "
    "/status",
    "METRICS_TOKEN": "at least 32 characters, sent by the scraper as 'Authorization: "
    "Bearer <token>' to /metrics (unset: /metrics is open)",
    "CONSOLE_PERMISSION_SET": "the API name of the permission set whose holders may sign "
                              "in to the console",
    "CONSOLE_SECRET_KEY": "at least 32 characters: the key that signs the console's "
                          "session cookie",
    "CONSOLE_BASE_URL": "the console's public base URL (https://<app>), when a proxy hides it",
    "SALESFORCE_CLIENT_NAME": "the client name sent in Sforce-Call-Options, by which the "
                              "bridge's own writes are recognised",
    "POLL_INTERVAL_SECONDS": "seconds between change polls, at least 5",
    "SALESFORCE_API_ALLOCATION": "the share of the org's daily API limit (over 0, at most "
                                 "1, default 0.8) above which background work (the change "
                                 "poll, backfills) waits, keeping the rest for inbound events",
    "SALESFORCE_LIMIT_PROBE_SECONDS": "seconds between two probes of Salesforce while its "
                                      "daily API limit is spent, at least 1 (default 60)",
    "POLL_LOOKBACK_SECONDS": "seconds the change poll looks back before its watermark",
    "MAPPING_FILE": "the path of the mapping YAML file",
    "WECHAT_ACCOUNTS": "a JSON array of the additional Official Accounts, each "
    '{"original_id", "app_id", "app_secret", "token", "encoding_aes_key"?, '
    '"previous_encoding_aes_key"?, "api_base_url"?} (see README, "Several accounts")',
}


class SettingsError(ConfigurationError):
    """One or more config vars are missing or malformed; the message lists each."""


class SalesforceSettings(BaseSettings):
    """The Salesforce config vars alone: enough to log in (e.g. to check a mapping
    against the org without any WeChat settings)."""

    model_config = SettingsConfigDict(env_file=None, extra="ignore", case_sensitive=True)

    SALESFORCE_LOGIN_URL: str = "https://login.salesforce.com"
    SALESFORCE_CLIENT_ID: str
    SALESFORCE_USERNAME: str | None = None
    SALESFORCE_PRIVATE_KEY: SecretStr | None = None
    SALESFORCE_CLIENT_SECRET: SecretStr | None = None
    SALESFORCE_API_VERSION: str = "62.0"
    # The JWT bearer flow's audience; None: inferred from the login URL (auth.py).
    SALESFORCE_JWT_AUDIENCE: str | None = None
    SALESFORCE_TIMEOUT: float = Field(default=30.0, gt=0)

    @field_validator("SALESFORCE_LOGIN_URL")
    @classmethod
    def _login_url(cls, value: str) -> str:
        if not re.match(r"^https://[^/\s]+", value):
            raise ValueError("must be an https:// URL")
        return value.rstrip("/")

    @field_validator("SALESFORCE_API_VERSION")
    @classmethod
    def _api_version(cls, value: str) -> str:
        value = value.lstrip("vV")
        if not re.fullmatch(r"\d{2}\.0", value):
            raise ValueError("must look like 62.0")
        if float(value) < MIN_API_VERSION:
            # sObject Collections upsert (PATCH composite/sobjects/{object}/{field}), by
            # which the bridge writes followers and persons, exists from 46.0 (Summer '19):
            # older versions answer 404 NOT_FOUND on every batch.
            raise ValueError(f"is {value}, older than {MIN_API_VERSION}: the bridge writes "
                             "through sObject Collections upsert, which Salesforce added in "
                             "API version 46.0")
        return value

    @field_validator("SALESFORCE_JWT_AUDIENCE")
    @classmethod
    def _audience(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        if not re.match(r"^https://[^/\s]+", value.strip()):
            raise ValueError("must be an https:// URL")
        return value.strip().rstrip("/")

    @field_validator("SALESFORCE_PRIVATE_KEY")
    @classmethod
    def _pem(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None:
            return None
        text = value.get_secret_value().replace("\\n", "\n").strip()
        if "PRIVATE KEY-----" not in text:
            try:  # the whole PEM base64-encoded: one line with no spaces, safe in any .env
                text = base64.b64decode(text, validate=True).decode().strip()
            except (binascii.Error, UnicodeDecodeError):
                text = ""
        if "PRIVATE KEY-----" not in text:
            raise ValueError("must be a PEM private key (-----BEGIN PRIVATE KEY-----...) "
                             "or that PEM base64-encoded")
        return SecretStr(text + "\n")

    @model_validator(mode="after")
    def _salesforce_auth(self) -> SalesforceSettings:
        if self.SALESFORCE_PRIVATE_KEY is None and self.SALESFORCE_CLIENT_SECRET is None:
            raise ValueError(
                "SALESFORCE_PRIVATE_KEY: missing; expected "
                + EXPECTS["SALESFORCE_PRIVATE_KEY"]
                + " (or set SALESFORCE_CLIENT_SECRET for the client credentials flow)"
            )
        if self.SALESFORCE_PRIVATE_KEY is not None and not self.SALESFORCE_USERNAME:
            raise ValueError(
                "SALESFORCE_USERNAME: missing; expected " + EXPECTS["SALESFORCE_USERNAME"]
            )
        return self


class Settings(SalesforceSettings):
    """Every config var the bridge reads. See README, "Configuration"."""

    REDIS_URL: str | None = None
    REDIS_TLS_URL: str | None = None
    PORT: int = Field(default=8000, ge=1, le=65535)

    WECHAT_APP_ID: str
    WECHAT_APP_SECRET: SecretStr
    WECHAT_TOKEN: SecretStr
    WECHAT_ENCODING_AES_KEY: SecretStr | None = None
    WECHAT_PREVIOUS_ENCODING_AES_KEY: SecretStr | None = None
    WECHAT_ORIGINAL_ID: str | None = None
    WECHAT_API_BASE_URL: str = "https://api.weixin.qq.com/"
    # Where a QR code's image is fetched by its ticket (cgi-bin/showqrcode?ticket=...).
    WECHAT_QR_IMAGE_BASE_URL: str = "https://mp.weixin.qq.com/"
    # The additional accounts (the primary is the WECHAT_* variables above). NoDecode:
    # our own JSON parsing, so bad JSON is a SettingsError naming the variable.
    WECHAT_ACCOUNTS: Annotated[tuple[AccountVars, ...], NoDecode] = ()
    WECHAT_TIMEOUT: float = Field(default=10.0, gt=0)
    # Seconds a callback's timestamp may differ from our clock (WeChat resends for ~15 s).
    WECHAT_TIMESTAMP_WINDOW: int = Field(default=300, ge=1)
    # Bodies above this size get 413 before any XML parsing (real pushes are < 4 KiB).
    WECHAT_MAX_BODY_BYTES: int = Field(default=64 * 1024, ge=1024)

    # Quotas of the way back: a service account may mass-message each follower 4 times a
    # calendar month, a subscription account once a day.
    WECHAT_ACCOUNT_TYPE: Literal["service", "subscription"] = "service"

    # The way back (Salesforce → WeChat). The org whose Outbound Messages are accepted
    # (default: the org the bridge logs in to); the client name the bridge's own API calls
    # carry in Sforce-Call-Options, by which its writes are recognised and not echoed.
    SALESFORCE_ORG_ID: str | None = None
    # The secret that ends the Outbound Messages' endpoint URL (unset: every Outbound
    # Message is refused) and the bearer token of /status (unset: /status is refused).
    SALESFORCE_OUTBOUND_SECRET: SecretStr | None = None
    ADMIN_TOKEN: SecretStr | None = None
    # The bearer token of /metrics (unset: open, as Prometheus exporters are; it holds
    # counts only). Heroku's dynos face the internet: set it there.
    METRICS_TOKEN: SecretStr | None = None
    SALESFORCE_CLIENT_NAME: str = "WeChatBridge"
    # The clock's change poll: how often, and how far before the watermark it looks again
    # (SystemModstamp is set at commit start, so long transactions land "in the past").
    POLL_INTERVAL_SECONDS: int = Field(default=60, ge=5)
    POLL_LOOKBACK_SECONDS: int = Field(default=300, ge=0)
    # The org's daily API limit (connector/salesforce/budget.py). Above this share of it
    # (every app's calls of the last 24 hours, as Sforce-Limit-Info says) background work
    # waits; once Salesforce refuses calls for the limit, every queue pauses and one probe
    # per interval asks whether calls go again (the window frees calls as they age out).
    SALESFORCE_API_ALLOCATION: float = Field(default=0.8, gt=0, le=1)
    SALESFORCE_LIMIT_PROBE_SECONDS: float = Field(default=60, ge=1)

    # The console (/console): who may sign in (holders of this permission set, by its API
    # name), the key that signs its session cookie (unset: one derived from ADMIN_TOKEN;
    # neither: the console is off), and its public URL when a proxy hides it (the OAuth
    # callback must be the Connected App's Callback URL exactly).
    CONSOLE_PERMISSION_SET: str = "WeChat_Bridge_Admin"
    CONSOLE_SECRET_KEY: SecretStr | None = None
    CONSOLE_BASE_URL: str | None = None

    MAPPING_FILE: Path = DEFAULT_MAPPING
    LOG_LEVEL: str = "INFO"

    _api_base = field_validator("WECHAT_API_BASE_URL", "WECHAT_QR_IMAGE_BASE_URL")(
        check_api_base)
    _token = field_validator("WECHAT_TOKEN")(check_token)
    _original_id = field_validator("WECHAT_ORIGINAL_ID")(check_original_id)
    _app_id = field_validator("WECHAT_APP_ID")(check_app_id)

    @field_validator("WECHAT_ENCODING_AES_KEY", "WECHAT_PREVIOUS_ENCODING_AES_KEY")
    @classmethod
    def _aes(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None:
            check_aes_key(value.get_secret_value())
        return value

    @field_validator("SALESFORCE_OUTBOUND_SECRET")
    @classmethod
    def _outbound_secret(cls, value: SecretStr | None) -> SecretStr | None:
        # It is a path segment of a URL: no character needs escaping, and long enough
        # that guessing it is hopeless (app.json generates 64 hex characters).
        if value is not None and not re.fullmatch(r"[A-Za-z0-9_-]{32,}",
                                                  value.get_secret_value()):
            raise ValueError("too short, or a character not allowed in it")
        return value

    @field_validator("ADMIN_TOKEN", "METRICS_TOKEN", "CONSOLE_SECRET_KEY")
    @classmethod
    def _admin_token(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and len(value.get_secret_value().strip()) < 32:
            raise ValueError("too short")
        return value

    @field_validator("WECHAT_ACCOUNTS", mode="before")
    @classmethod
    def _accounts_json(cls, value: Any) -> Any:
        if not isinstance(value, str):
            return value
        if not value.strip():
            return ()
        try:
            data = json.loads(value)
        except ValueError as exc:
            raise ValueError(f"is not valid JSON ({exc})") from None
        if not isinstance(data, list):
            raise ValueError("must be a JSON array of objects")
        return data

    @model_validator(mode="after")
    def _accounts_routable(self) -> Settings:
        if not self.WECHAT_ACCOUNTS:
            return self
        if self.WECHAT_ORIGINAL_ID is None:
            raise ValueError("WECHAT_ORIGINAL_ID: missing; expected "
                             + EXPECTS["WECHAT_ORIGINAL_ID"] + " (required when "
                             "WECHAT_ACCOUNTS is set: pushes are routed by original id)")
        seen = {self.WECHAT_ORIGINAL_ID: "WECHAT_ORIGINAL_ID"}
        apps = {self.WECHAT_APP_ID: "WECHAT_APP_ID"}
        for i, extra in enumerate(self.WECHAT_ACCOUNTS):
            for value, known, key in ((extra.original_id, seen, "original_id"),
                                      (extra.app_id, apps, "app_id")):
                if value in known:
                    raise ValueError(
                        f"WECHAT_ACCOUNTS[{i}].{key}: {value} is already used by "
                        f"{known[value]}; expected one entry per Official Account, each "
                        f"with its own {key}")
                known[value] = f"WECHAT_ACCOUNTS[{i}]"
        return self

    @field_validator("MAPPING_FILE")
    @classmethod
    def _mapping(cls, value: Path) -> Path:
        if not value.is_file():
            raise ValueError(f"no file at {value}")
        return value

    @property
    def redis_url(self) -> str | None:
        """The Redis URL to use; Heroku's TLS URL wins when both are set."""
        return self.REDIS_TLS_URL or self.REDIS_URL

    @property
    def safe_mode(self) -> bool:
        """True when an EncodingAESKey is configured (compatible or safe mode)."""
        return self.WECHAT_ENCODING_AES_KEY is not None

    def wechat_accounts(self) -> tuple[WeChatAccount, ...]:
        """Every Official Account served, the primary (``WECHAT_*``) first, then
        ``WECHAT_ACCOUNTS`` in order; their original ids and app ids are distinct."""
        primary = WeChatAccount(
            original_id=self.WECHAT_ORIGINAL_ID, app_id=self.WECHAT_APP_ID,
            app_secret=self.WECHAT_APP_SECRET, token=self.WECHAT_TOKEN,
            encoding_aes_key=self.WECHAT_ENCODING_AES_KEY,
            previous_encoding_aes_key=self.WECHAT_PREVIOUS_ENCODING_AES_KEY,
            api_base_url=self.WECHAT_API_BASE_URL)
        return (primary, *(extra.account(self.WECHAT_API_BASE_URL)
                           for extra in self.WECHAT_ACCOUNTS))


def _name_and_expects(loc: tuple) -> tuple[str, str | None]:
    """``WECHAT_ACCOUNTS[1].token`` for a location inside an account entry, with what the
    primary's variable for that key expects."""
    if len(loc) >= 2 and loc[0] == "WECHAT_ACCOUNTS" and isinstance(loc[1], int):
        name = f"WECHAT_ACCOUNTS[{loc[1]}]"
        if len(loc) == 2:
            return name, "a JSON object " + EXPECTS["WECHAT_ACCOUNTS"].split(", each ", 1)[1]
        key = str(loc[2])
        return f"{name}.{key}", EXPECTS.get(ACCOUNT_KEYS.get(key, ""))
    name = ".".join(str(p) for p in loc)
    return name, EXPECTS.get(name)


def _explain(exc: ValidationError) -> str:
    lines = []
    for err in exc.errors():
        name, expects = _name_and_expects(tuple(err["loc"]))
        if err["type"] == "missing":
            lines.append(f"{name}: missing; expected {expects or 'a value'}")
        elif err["type"] == "extra_forbidden":
            lines.append(f"{name}: unknown key; expected only "
                         + ", ".join(ACCOUNT_KEYS))
        elif not name:  # model-level checks already name their variable
            lines.append(str(err["msg"]).removeprefix("Value error, "))
        else:
            why = str(err["msg"]).removeprefix("Value error, ")
            if err["type"] == "model_type":  # an array item that is not an object
                why = "must be a JSON object"
            lines.append(f"{name}: {why}; expected {expects or 'a valid value'}")
    return "invalid configuration:\n  " + "\n  ".join(lines)


def load_settings(model: type[SalesforceSettings] = Settings,
                  **overrides: object) -> Settings:
    """Build settings (``model``: all of them by default) from the environment, plus
    ``overrides``.

    Raises:
        SettingsError: naming each missing or malformed variable and what it expects.
    """
    try:
        return model(**overrides)  # type: ignore[arg-type, return-value]
    except ValidationError as exc:
        raise SettingsError(_explain(exc), code="SETTINGS") from None


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, built on first use."""
    return load_settings()
