"""What a worker process needs to run jobs: settings, Redis, mapping and gateways.

Built lazily, once per process (an RQ work horse is a fresh fork per job, so the
expensive state — Salesforce session, WeChat token — lives in Redis, not here).
Tests and the demo install their own context with :func:`use_context`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from redis import Redis

from connector.redis_connection import connect
from connector.settings import Settings, get_settings
from mappings.loader import load_mapping
from mappings.models import Mapping

log = logging.getLogger(__name__)


@dataclass
class WorkerContext:
    settings: Settings
    redis: Redis
    mapping: Mapping
    salesforce: Any  # connector.salesforce.SalesforceGateway (or anything with its verbs)
    wechat: Any  # connector.wechat.WeChatAccounts: a gateway per Official Account
    # text field lengths per object, for the fit transform (jobs/lengths.py; also in Redis)
    field_lengths: dict[str, dict[str, int]] = field(default_factory=dict)


_current: WorkerContext | None = None


def build_context(settings: Settings | None = None, redis: Redis | None = None) -> WorkerContext:
    """A context from the configuration.

    Raises:
        SettingsError, MappingError: the configuration is invalid (names the fix).
    """
    from connector.salesforce import SalesforceGateway, SessionStore
    from connector.wechat import WeChatAccounts

    settings = settings or get_settings()
    redis = redis or connect(settings.redis_url)
    mapping = load_mapping(settings.MAPPING_FILE)
    served = {account.original_id for account in settings.wechat_accounts()}
    unused = sorted(set(mapping.accounts) - served)
    if unused:  # not an error: one mapping file may serve deployments of other accounts
        log.warning("%s: accounts: %s are not configured (WECHAT_ORIGINAL_ID, "
                    "WECHAT_ACCOUNTS); their sections are unused", settings.MAPPING_FILE,
                    ", ".join(unused))
    return WorkerContext(
        settings=settings,
        redis=redis,
        mapping=mapping,
        salesforce=SalesforceGateway(settings, sessions=SessionStore(
            redis, settings.SALESFORCE_CLIENT_ID, settings.SALESFORCE_USERNAME)),
        wechat=WeChatAccounts.from_settings(settings, redis),
    )


def use_context(context: WorkerContext | None) -> None:
    """Install ``context`` for this process (None: build from configuration on next use)."""
    global _current
    _current = context


def get_context() -> WorkerContext:
    global _current
    if _current is None:
        _current = build_context()
    return _current
