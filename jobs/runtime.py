"""The worker context of this process: built from the configuration, once.

An RQ work horse is a fresh fork per job, so the expensive state — the Salesforce
session, the WeChat token — lives in Redis, not here; the worker builds the context in
its parent (``connector worker``) and every work horse inherits it. Tests and the demo
install their own with :func:`use_context`.
"""

from __future__ import annotations

import logging

from redis import Redis

from connector.context import WorkerContext
from connector.redis_connection import connect
from connector.salesforce import ApiBudget, SalesforceGateway, SessionStore
from connector.settings import Settings, get_settings
from connector.wechat import WeChatAccounts
from jobs.queues import RqQueues
from mappings.loader import load_mapping

log = logging.getLogger(__name__)

_current: WorkerContext | None = None


def build_context(settings: Settings | None = None, redis: Redis | None = None
                  ) -> WorkerContext:
    """A context from the configuration (``settings`` and ``redis`` default to it).

    Raises:
        SettingsError, MappingError: the configuration is invalid (names the fix).
    """
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
            redis, settings.SALESFORCE_CLIENT_ID, settings.SALESFORCE_USERNAME),
            allow_duplicates=mapping.salesforce_rules.allow_duplicates,
            budget=ApiBudget.for_settings(redis, settings)),
        wechat=WeChatAccounts.from_settings(settings, redis),
        queues=RqQueues(redis),
    )


def use_context(context: WorkerContext | None) -> None:
    """Install ``context`` for this process (None: build from configuration on next use)."""
    global _current
    _current = context


def get_context() -> WorkerContext:
    """The process's context, built on first use."""
    global _current
    if _current is None:
        _current = build_context()
    return _current
