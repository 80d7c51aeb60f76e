"""WeChat API failures → the bridge's error tree (pure: no I/O, no wechatpy).

WeChat answers almost every failure with HTTP 200 and ``{"errcode": N, "errmsg": "...
rid: 65a4c0b1-..."}``. :func:`classify` turns one such answer into a
:class:`~connector.errors.BridgeError` of the branch the caller should act on, using the
table :data:`RULES`; :func:`classify_http` does the same for HTTP-level failures. Both
*return* the error; the gateway raises it. Unknown errcodes are fatal, so a new kind of
failure lands in front of an operator instead of being retried forever; the message
says ``unknown errcode N: errmsg``.

Who a failure concerns is the second decision, made in one table, :data:`SCOPES`: a
send to one follower that fails for that follower (:data:`RECIPIENT`: unfollowed,
refused, window closed, an unknown errcode) marks that recipient and the send goes on
with the next; a failure of the request (:data:`REQUEST`: a bad template or body) or of
the account (:data:`ACCOUNT`: credentials, permissions, quotas, the IP whitelist, WeChat
down) stops it. :func:`scope_of` reads it for any error the gateway raised.
"""

from __future__ import annotations

import re
import ssl
from dataclasses import dataclass
from typing import Literal

import requests

from connector.errors import (
    BridgeError,
    ConfigurationError,
    FatalError,
    RateLimitedError,
    RetriableError,
    SkippableError,
)
from connector.wechat_quotas import seconds_to_reset

# The access token the call used is invalid (40001), malformed (40014) or expired (42001):
# the gateway refreshes it and retries once before giving up with a RetriableError.
TOKEN_ERRCODES = frozenset({40001, 40014, 42001})


# WeChat ends errmsg with "rid: <id>"; older answers (still seen) with "hint: [<id>]"
# (e.g. {"errcode":43004,"errmsg":"require subscribe hint: [...]"}).
_RID = re.compile(r"[,;]?\s*(?:rid:\s*([0-9A-Za-z-]+)|hint:\s*\[([^\]]*)\])\s*$")
_IP = re.compile(r"invalid ip\s+([0-9A-Fa-f.:]+)")
_CONSOLE = "mp.weixin.qq.com > Settings and Development > Basic Configuration"


@dataclass(frozen=True)
class Rule:
    """How one errcode is handled: the error class, a message, and a retry hint.

    ``retry_after`` is seconds; :data:`UNTIL_QUOTA_RESET` means "until WeChat's daily quota
    resets" and is computed from the clock by :func:`classify`.
    """

    kind: type[BridgeError]
    message: str
    retry_after: float | None = None


UNTIL_QUOTA_RESET = -1.0

RULES: dict[int, Rule] = {
    -1: Rule(RetriableError, "WeChat reports its system is busy", retry_after=2),
    40001: Rule(RetriableError, "the access token was rejected (invalid or not the latest)"),
    40014: Rule(RetriableError, "the access token was rejected as malformed"),
    42001: Rule(RetriableError, "the access token has expired"),
    45009: Rule(
        RateLimitedError,
        "the daily quota of this API is used up; it resets at midnight Beijing time "
        "(an admin can reset it once a month with the clear_quota API or in the console)",
        retry_after=UNTIL_QUOTA_RESET,
    ),
    45011: Rule(RateLimitedError, "the per-minute quota of this API is used up",
                retry_after=60),
    40013: Rule(
        ConfigurationError,
        f"WeChat does not know this AppID: set WECHAT_APP_ID to the AppID shown at {_CONSOLE}",
    ),
    40125: Rule(
        ConfigurationError,
        "WeChat rejected the AppSecret: set WECHAT_APP_SECRET to the current AppSecret "
        f"(reset it at {_CONSOLE} if it is lost)",
    ),
    40164: Rule(
        ConfigurationError,
        "this server's IP address {ip}is not on the account's IP whitelist: add it at "
        f"{_CONSOLE} > IP whitelist (Heroku dynos need a static outbound IP add-on)",
    ),
    48001: Rule(
        ConfigurationError,
        "this Official Account is not authorised for this API (its account type or "
        "verification status lacks the permission; see the console's API permissions page)",
    ),
    # qrcode/create. 45029 ("qrcode count out of limit"): the account's 100,000 permanent
    # codes are made; only temporary codes can still be made.
    45029: Rule(
        FatalError,
        "the account's permanent QR codes are used up (WeChat allows 100,000) — make a "
        "temporary code (up to 30 days) instead",
    ),
    40052: Rule(FatalError, "WeChat refused the QR code type (action_name)"),
    40053: Rule(
        FatalError,
        "WeChat refused the QR code's scene (action_info): a scene string is 1 to 64 "
        "characters",
    ),
    40003: Rule(SkippableError, "WeChat does not know this OpenID for this account"),
    # Remarks and tags (connector/wechat/follower_writes.py): the follower or the name is
    # refused, not the call; the way back logs the reason and goes on with the others.
    40092: Rule(SkippableError, "WeChat refused the remark (it must be under 30 bytes of "
                                "UTF-8, about 9 Chinese characters)"),
    45056: Rule(SkippableError, "the account already has 100 tags, WeChat's limit — delete "
                                "unused tags in the WeChat console to make room"),
    45059: Rule(SkippableError, "the follower already has 20 tags, WeChat's limit"),
    45157: Rule(SkippableError, "WeChat refused the tag name (a tag of that name exists, or "
                                "the name is empty or invalid)"),
    45158: Rule(SkippableError, "the tag name is over 30 bytes (10 Chinese characters)"),
    45159: Rule(SkippableError, "the tag does not exist (deleted in the WeChat console?)"),
    43004: Rule(SkippableError, "the user does not follow the account (require subscribe)"),
    45015: Rule(
        SkippableError,
        "the 48-hour customer-service window for this user has closed",
    ),
    45047: Rule(
        SkippableError,
        "the customer-service message limit for this user is reached until they interact "
        "with the account again",
    ),
    # Messages (connector/wechat/sends.py); meanings from WeChat's global return codes.
    43019: Rule(SkippableError, "the user is on the account's blacklist (require remove "
                "blacklist)"),
    40037: Rule(FatalError, "WeChat does not know this template_id — copy the id from the "
                "console's Template messages > My templates into the request's template"),
    47001: Rule(FatalError, "WeChat refused the message body (data format error)"),
    40008: Rule(FatalError, "WeChat refused the message type (invalid message type)"),
    40007: Rule(FatalError, "WeChat does not know the media_id (expired or from another "
                "account) — upload the article again and use its new media_id"),
    # media/upload (connector/wechat/media.py); meanings from the global return codes
    40004: Rule(FatalError, "WeChat refused the media type (invalid media type)"),
    40005: Rule(FatalError, "WeChat refused the file's format (invalid file type): an "
                "image must be a PNG, JPEG or GIF"),
    40006: Rule(FatalError, "WeChat refused the file's size (invalid file size)"),
    40009: Rule(FatalError, "the image is over WeChat's 10 MB (invalid image size)"),
    41005: Rule(FatalError, "WeChat received no file data (media data missing)"),
    40130: Rule(FatalError, "a mass message by OpenID needs at least two recipients"),
    40032: Rule(FatalError, "the OpenID list has a size WeChat refuses (2 to 10,000 for a "
                "mass message)"),
    45028: Rule(RateLimitedError, "the account has no mass-message quota left today (a "
                "subscription account may mass-send once a day); it resets at midnight "
                "Beijing time", retry_after=UNTIL_QUOTA_RESET),
    45065: Rule(SkippableError, "a mass message with this clientmsgid was already sent "
                "(WeChat sent nothing new)"),
    45066: Rule(RetriableError, "the same clientmsgid was retried within a minute",
                retry_after=60),
    45067: Rule(FatalError, "the clientmsgid is longer than WeChat's 64 bytes"),
    # message/template/send. Since 2023 a follower can turn off an account's template
    # messages; a send to them answers {"errcode":43101,"errmsg":"user refuse to accept
    # the msg rid: ..."} (reported at https://developers.weixin.qq.com/community/develop/
    # doc/000a4a980007c0a02513aea3d61400; the global return codes page lacks it).
    43101: Rule(SkippableError, "the follower has turned off this account's template "
                "messages"),
    # The custom menu (connector/wechat/menus.py); meanings from WeChat's global return
    # codes and the menu pages (sandbox/wechat/menus.py names them). The mapping's check
    # (mappings/menu_section.py) refuses these menus before a call: reaching WeChat,
    # they mean the check and WeChat disagree.
    **{code: Rule(FatalError, f"WeChat refused the menu ({what}) — run `connector mappings "
                  "validate` and check the menu: section against WeChat's rules")
       for code, what in {
           40016: "1 to 3 top-level buttons", 40017: "a button type",
           40018: "a top-level name over 16 bytes", 40019: "a key of 1 to 128 bytes",
           40020: "a url of 1 to 1024 bytes", 40022: "two levels of buttons at most",
           40023: "1 to 5 sub-buttons", 40024: "a sub-button type",
           40025: "a sub-button name over 60 bytes", 40026: "a sub-button key",
           40027: "a sub-button url", 40054: "a sub-button url domain",
           40055: "a button url domain"}.items()},
    46003: Rule(FatalError, "the account has no menu (menu no exist) — publish one with "
                "`connector menu publish`"),
    65301: Rule(FatalError, "WeChat has no personalised menu with this menuid (deleted "
                "meanwhile?) — run `connector menu publish` again"),
    65302: Rule(FatalError, "WeChat knows no such user for this account"),
    65303: Rule(FatalError, "a personalised menu needs the default menu first"),
    65304: Rule(FatalError, "the personalised menu's matchrule is empty"),
    65305: Rule(FatalError, "the account has as many personalised menus as WeChat allows — "
                "remove conditional menus from the mapping's menu: section"),
    65316: Rule(FatalError, "the personalised menus link to more than 3 domains, WeChat's "
                "limit — link fewer sites"),
    65320: Rule(FatalError, "WeChat refuses personalised menus by sex, region or language "
                "since 2021: only tags"),
}

Scope = Literal["recipient", "request", "account"]
RECIPIENT: Scope = "recipient"  # this follower only: mark them, go on with the others
REQUEST: Scope = "request"  # the message itself is wrong: no recipient would get it
ACCOUNT: Scope = "account"  # the account or WeChat: no call would pass now

# Who a failed send concerns, by errcode: the one place a message run decides whether
# to mark one recipient and go on, or to stop. Every errcode of RULES is here (a unit
# test checks it). An errcode in neither table is RECIPIENT (see scope_of).
SCOPES: dict[int, Scope] = {
    # The account: its token, its credentials, its permissions, its quotas, its IP.
    -1: ACCOUNT, 40001: ACCOUNT, 40014: ACCOUNT, 42001: ACCOUNT, 40013: ACCOUNT,
    40125: ACCOUNT, 40164: ACCOUNT, 48001: ACCOUNT, 45009: ACCOUNT, 45011: ACCOUNT,
    45028: ACCOUNT, 45029: ACCOUNT,
    # The request: the same template, body or key goes to every recipient.
    40037: REQUEST, 47001: REQUEST, 40008: REQUEST, 40007: REQUEST, 40130: REQUEST,
    40032: REQUEST, 40052: REQUEST, 40053: REQUEST, 45065: REQUEST, 45066: REQUEST,
    45067: REQUEST, 40004: REQUEST, 40005: REQUEST, 40006: REQUEST, 40009: REQUEST,
    41005: REQUEST,
    # The custom menu: the menu sent is wrong, whoever it is for.
    40016: REQUEST, 40017: REQUEST, 40018: REQUEST, 40019: REQUEST, 40020: REQUEST,
    40022: REQUEST, 40023: REQUEST, 40024: REQUEST, 40025: REQUEST, 40026: REQUEST,
    40027: REQUEST, 40054: REQUEST, 40055: REQUEST, 46003: REQUEST, 65301: REQUEST,
    65302: RECIPIENT, 65303: REQUEST, 65304: REQUEST, 65305: REQUEST, 65316: REQUEST,
    65320: REQUEST,
    # The follower: unknown to the account, left, refused, outside the windows, limits
    # of their own.
    40003: RECIPIENT, 43004: RECIPIENT, 43019: RECIPIENT, 43101: RECIPIENT,
    45015: RECIPIENT, 45047: RECIPIENT, 40092: RECIPIENT, 45056: RECIPIENT,
    45059: RECIPIENT, 45157: RECIPIENT, 45158: RECIPIENT, 45159: RECIPIENT,
}

# The bridge's own codes for failures without a WeChat errcode: the request's (a bad
# clientmsgid, a mass of the wrong size) or the call's (no answer, HTTP errors, TLS, an
# answer without its id), which the next recipient would meet too.
_BRIDGE_SCOPES: dict[str, Scope] = {"CLIENT_MSG_ID": REQUEST, "MASS_SIZE": REQUEST,
                                    "IMAGE": REQUEST}


def request_id(errmsg: str | None) -> str | None:
    """The ``rid`` WeChat appends to ``errmsg`` (``"... rid: 65a4c0b1-0e3f7c8a-..."``,
    or ``"... hint: [...]"`` in older answers)."""
    match = _RID.search(errmsg or "")
    return (match.group(1) or match.group(2) or None) if match else None


def strip_request_id(errmsg: str | None) -> str:
    """``errmsg`` without its trailing ``rid: ...`` (that goes to ``request_id``)."""
    return _RID.sub("", errmsg or "").strip()


def seconds_until_quota_reset(now: float) -> float:
    """Seconds from ``now`` (epoch seconds) to the next midnight in Beijing, at least 60."""
    return max(60.0, seconds_to_reset(now))


def is_token_error(errcode: int | None) -> bool:
    """True when ``errcode`` says the access token (not the request) is at fault."""
    return errcode in TOKEN_ERRCODES


def classify(errcode: int, errmsg: str | None, *, now: float,
             status: int | None = 200) -> BridgeError:
    """The bridge error for a WeChat ``{"errcode", "errmsg"}`` answer.

    Args:
        errcode: WeChat's errcode (non-zero).
        errmsg: WeChat's errmsg, which usually ends with ``rid: <request id>``.
        now: the current epoch time, for hints such as "until the daily quota resets".
        status: the HTTP status of the answer (WeChat sends 200 with its errors).

    Returns:
        An error with ``system="wechat"``, ``code=str(errcode)`` and ``request_id`` set
        from the rid; unknown errcodes give a :class:`FatalError`.
    """
    rule = RULES.get(errcode)
    detail = strip_request_id(errmsg)
    if rule is None:
        rule = Rule(FatalError, f"unknown errcode {errcode}: {detail or 'no errmsg'}")
        detail = ""  # said already
    ip = _IP.search(detail)
    message = rule.message.replace("{ip}", f"{ip.group(1)} " if ip else "")
    if detail:
        message += f" (WeChat said: {detail})"
    kwargs: dict = {"system": "wechat", "status": status, "code": str(errcode),
                    "request_id": request_id(errmsg)}
    if issubclass(rule.kind, RetriableError):
        retry_after = rule.retry_after
        if retry_after == UNTIL_QUOTA_RESET:
            retry_after = seconds_until_quota_reset(now)
        kwargs["retry_after"] = retry_after
    return rule.kind(message, **kwargs)


def scope_of(error: BridgeError) -> Scope:
    """Whom ``error`` (raised by a gateway send) concerns: :data:`RECIPIENT`,
    :data:`REQUEST` or :data:`ACCOUNT` (see :data:`SCOPES`).

    An errcode WeChat sends that the bridge does not know is :data:`RECIPIENT`: the
    account-level failures have been documented for years and are all in the table,
    while new per-follower refusals keep appearing (43101 came in 2023, undocumented);
    failing one recipient with the errcode and errmsg in its reason loses nothing, as a
    failed recipient WeChat took nothing for is tried again by the next run. Failures
    without an errcode (no answer, HTTP errors, a malformed answer) are :data:`ACCOUNT`.
    """
    code = error.code or ""
    if error.system == "wechat" and code.lstrip("-").isdigit():
        return SCOPES.get(int(code), RECIPIENT)
    return _BRIDGE_SCOPES.get(code, ACCOUNT)


def is_unknown_errcode(error: BridgeError) -> bool:
    """True when ``error`` carries a WeChat errcode that is in neither table."""
    code = error.code or ""
    return (error.system == "wechat" and code.lstrip("-").isdigit()
            and int(code) not in SCOPES and int(code) not in RULES)


def classify_http(status: int, *, retry_after: float | None = None) -> BridgeError:
    """The bridge error for an HTTP-level failure (no WeChat errcode in the body).

    5xx and 429 are transient (429 honours the ``Retry-After`` hint); other statuses
    mean the request itself is wrong, which retrying cannot fix.
    """
    code = f"HTTP_{status}"
    if status == 429:
        return RateLimitedError("WeChat asked the bridge to slow down", system="wechat",
                                status=status, code=code, retry_after=retry_after or 60)
    if status >= 500:
        return RetriableError("WeChat's API is unavailable", system="wechat", status=status,
                              code=code, retry_after=retry_after)
    return FatalError(f"WeChat's API refused the request with HTTP {status}",
                      system="wechat", status=status, code=code)


def transport_error(exc: requests.RequestException) -> BridgeError:
    """The bridge's error for a request to WeChat that got no answer."""
    # The exception text can contain the request URL, and with it the access token:
    # only its class name goes into the message.
    kind = type(exc).__name__
    if isinstance(exc, requests.exceptions.SSLError) and not connection_cut(exc):
        return FatalError(
            f"TLS verification of WeChat's API failed ({kind}); check REQUESTS_CA_BUNDLE "
            "and WECHAT_API_BASE_URL", system="wechat", code="TLS")
    if isinstance(exc, requests.Timeout):
        return RetriableError(f"WeChat's API did not answer in time ({kind})",
                              system="wechat", code="TIMEOUT")
    if isinstance(exc, requests.ConnectionError):
        return RetriableError(f"could not reach WeChat's API ({kind})",
                              system="wechat", code="NETWORK")
    return FatalError(f"the request to WeChat's API could not be made ({kind})",
                      system="wechat", code="REQUEST")


def connection_cut(exc: requests.RequestException) -> bool:
    """True for an SSLError that is the connection ending under TLS (an EOF or a reset
    in the middle of the exchange), not a certificate or protocol refusal."""
    # requests.SSLError wraps urllib3's MaxRetryError, whose reason (urllib3's SSLError)
    # holds the ssl module's own exception.
    reason = getattr(exc.args[0] if exc.args else None, "reason", None)
    inner = reason.args[0] if reason is not None and reason.args else None
    return isinstance(inner, (ssl.SSLEOFError, ConnectionResetError))
