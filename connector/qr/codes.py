"""QR codes for Salesforce records: make one, or find the one already made.

:func:`create_code` is what ``connector qr create`` and the request poller
(:mod:`connector.qr.requests`) run. For a record Id it finds the object (from the Id's
key prefix), checks the mapping's ``qr:`` section configures it, and looks the record's
latest code up in the registry (:mod:`connector.qr.registry`):

- a live code is returned as it is (``created=False``) — one code per record and
  channel, however often it is asked for — unless ``force``;
- otherwise WeChat makes a new one (``qrcode/create``; a new scene for every code after
  the first, see :mod:`connector.qr.rules`), the registry records it, and (except for
  channel codes) its ticket, image URL and scene key are written back to the record and
  the record's request flag is cleared.

Permanent codes are counted per account against WeChat's 100,000: a warning is logged
from 90%, and at the limit only temporary codes are made. Campaign codes follow
``campaigns.scene_prefix`` and, with ``campaigns.resolve: {field: F}``, use the
Campaign's F as the scene key (its Id, written into F, when F is blank), so every scan
resolves to the Campaign.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

from connector.context import WorkerContext
from connector.errors import ConfigurationError, RetriableError, SkippableError
from connector.locks import holding
from connector.qr.key_prefixes import UnknownPrefix, object_of
from connector.qr.registry import QrCode, QrRegistry
from connector.qr.rules import (
    PERMANENT_LIMIT,
    LimitCheck,
    QrRequestError,
    check_channel,
    code_scene,
    expire_seconds,
    expires_at,
    record_id18,
)
from connector.salesforce import SalesforceGateway
from connector.settings import Settings
from connector.wechat import WeChatGateway
from mappings.models import Mapping
from mappings.qr_section import CAMPAIGN, QrObject

log = logging.getLogger(__name__)

LOCK_SECONDS = 60  # one maker per record and channel; WeChat and Salesforce take < 10 s


def create_code(ctx: WorkerContext, record_id: str, *, temporary_days: float | None = None,
                channel: str | None = None, force: bool = False, account: str | None = None,
                png: str | Path | None = None, limit: int = PERMANENT_LIMIT,
                now: float | None = None) -> QrCode:
    """The code of ``record_id`` (and ``channel``), made if it has none, or if ``force``.

    ``temporary_days``: a temporary code (at most 30 days) instead of
    a permanent one. ``account``: the Official Account's original id (default: the
    primary). ``png``: save the code's image there. ``limit``: the permanent codes an
    account may have (WeChat's 100,000).

    Raises:
        QrRequestError: the request cannot be met as asked (a bad Id, channel or
            lifetime, an object ``qr:`` does not configure, a missing record, a live code
            of the other kind without ``force``, the permanent limit reached); the
            message says what to do.
        ConfigurationError: the mapping's prefixes clash, or the account is unknown.
        BridgeError: Salesforce or WeChat failed (retriable or fatal, from the gateways).
    """
    now = time.time() if now is None else now
    record_id = record_id18(record_id)
    seconds = expire_seconds(temporary_days)
    channel = check_channel(channel)
    account_id = account_key(ctx.settings, account)
    wechat = ctx.wechat.for_account(account)
    mapping = ctx.mapping.for_account(account_id)
    obj = _object(ctx, record_id)
    prefix, config = target(mapping, obj)
    record = _record(ctx.salesforce, obj, record_id)
    key, scene_writes = _scene_key(mapping, obj, record)
    registry = QrRegistry(ctx.salesforce, mapping.qr.registry)
    name = f"qr:lock:{account_id}:{record_id}:{channel or ''}"
    with holding(ctx.redis, name, ttl=LOCK_SECONDS, wait=LOCK_SECONDS) as held:
        if not held:
            raise RetriableError(f"another process is making the QR code of {record_id}",
                                 system="redis", code="LOCKED", retry_after=LOCK_SECONDS)
        latest = registry.latest(account_id, record_id, channel)
        if latest is not None and not force and latest.live(now):
            if latest.permanent != (seconds is None):
                raise QrRequestError(_kind_clash(obj, record_id, latest))
            code = latest
        else:
            version = latest.version + 1 if latest is not None else 1
            code = _make(wechat, registry, account_id, obj, record_id, channel, version,
                         code_scene(prefix, key, channel, version), seconds, limit, now)
        writes = {**scene_writes, **({} if channel else _write_back(config, code, key))}
        _update(ctx.salesforce, obj, record, writes)
    if png is not None:
        path = Path(png)
        image = wechat.download_qrcode(code.ticket)
        try:
            path.write_bytes(image)
        except OSError as exc:
            raise QrRequestError(f"the code is ready (scene {code.scene}), but its image could "
                                 f"not be saved to {path}: {exc.strerror} — ask again with "
                                 "another --png path") from None
        code = code.with_(png_path=str(path))
    return code


def account_key(settings: Settings, account: str | None) -> str:
    """The registry's name of the account: its original id (``gh_…``), or the primary's
    app id when it has none configured.

    Raises:
        ConfigurationError: ``account`` is not one of the configured accounts.
    """
    served = [a.original_id for a in settings.wechat_accounts()]
    if account is None:
        return served[0] or settings.WECHAT_APP_ID
    if account not in served:
        known = ", ".join(a for a in served if a) or "none (WECHAT_ORIGINAL_ID is unset)"
        raise ConfigurationError(f"{account} is not a configured WeChat account (configured: "
                                 f"{known}) — check --account or WECHAT_ACCOUNTS",
                                 code="UNKNOWN_ACCOUNT")
    return account


def target(mapping: Mapping, obj: str) -> tuple[str, QrObject]:
    """(scene prefix, configuration) of ``obj`` under the mapping's ``qr:``.

    Raises:
        QrRequestError: ``qr.objects`` does not list ``obj``.
        ConfigurationError: a prefix clashes with ``campaigns.scene_prefix``.
    """
    qr, campaign_prefix = mapping.qr, mapping.campaigns.scene_prefix
    clashes = qr.reference_problems(campaign_prefix)
    if clashes:
        raise ConfigurationError("mapping qr: " + "; ".join(text for _, text in clashes),
                                 code="MAPPING")
    if obj not in qr.objects:
        listed = ", ".join(qr.objects) or "none"
        raise QrRequestError(f"{obj} records get no QR codes: the mapping's qr.objects lists "
                             f"{listed} — add {obj} (with its scene_prefix) under qr.objects")
    return qr.prefixes(campaign_prefix)[obj], qr.objects[obj]


def _object(ctx: WorkerContext, record_id: str) -> str:
    try:
        return object_of(record_id, ctx.salesforce, ctx.redis)
    except UnknownPrefix as exc:
        raise QrRequestError(str(exc)) from None


def _record(salesforce: SalesforceGateway, obj: str, record_id: str) -> dict[str, Any]:
    try:
        return salesforce.get(obj, record_id)
    except SkippableError:
        raise QrRequestError(f"no {obj} {record_id} in Salesforce (deleted, or not visible "
                             "to the integration user)") from None


def _scene_key(mapping: Mapping, obj: str, record: dict[str, Any],
               ) -> tuple[str, dict[str, Any]]:
    """The record's scene key, and the write that makes scans find it (Campaigns under
    ``resolve: {field: F}``: F's value, or the Id written into a blank F)."""
    resolve = mapping.campaigns.resolve
    if obj != CAMPAIGN or resolve == "id":
        return record["Id"], {}
    value = record.get(resolve.field)
    if value:
        return str(value), {}
    return record["Id"], {resolve.field: record["Id"]}


def _make(wechat: WeChatGateway, registry: QrRegistry, account_id: str, obj: str, record_id: str,
          channel: str | None, version: int, scene: str, seconds: int | None, limit: int,
          now: float) -> QrCode:
    """A new code from WeChat, recorded in the registry."""
    if seconds is None:
        check = LimitCheck(registry.count_permanent(account_id), limit)
        if check.refuse:
            raise QrRequestError(check.message())
        if check.warn:
            log.warning("QR codes of %s: %s", account_id, check.message())
    made = wechat.create_qrcode(scene, expire_seconds=seconds)
    code = QrCode(account=account_id, scene=scene, object=obj, record_id=record_id,
                  channel=channel, version=version, ticket=made.ticket, url=made.url,
                  image_url=made.image_url, permanent=seconds is None,
                  expires_at=expires_at(now, made.expire_seconds), created=True)
    registry.save(code)
    log.info("made QR code %s (%s) for %s %s", scene,
             "permanent" if code.permanent else f"until {code.expires_at:%Y-%m-%d %H:%M}Z",
             obj, record_id)
    return code


def _write_back(config: QrObject, code: QrCode, key: str) -> dict[str, Any]:
    values = {config.ticket_field: code.ticket, config.image_url_field: code.image_url,
              config.scene_field: key, config.request_field: False}
    return {name: value for name, value in values.items() if name}


def _update(salesforce: SalesforceGateway, obj: str, record: dict[str, Any],
            writes: dict[str, Any]) -> None:
    """Write what differs from the record (nothing to write: no call)."""
    changed = {name: value for name, value in writes.items() if record.get(name) != value}
    if changed:
        salesforce.update(obj, record["Id"], changed)


def _kind_clash(obj: str, record_id: str, code: QrCode) -> str:
    if code.permanent:
        return (f"{obj} {record_id} already has a permanent QR code (scene {code.scene}) — "
                "use it, or --force to make a temporary one in its place")
    return (f"{obj} {record_id} has a temporary QR code until "
            f"{code.expires_at:%Y-%m-%d %H:%M}Z (scene {code.scene}) — use it, or --force to "
            "make a permanent one in its place")
