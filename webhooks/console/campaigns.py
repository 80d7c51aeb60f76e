"""The console's campaigns page: the QR codes the bridge made (with their images) and,
per campaign, scans, unique scanners, new followers and members per channel code, as
``connector campaigns stats`` reports them (``connector/inbound/stats.py``).

Beside the figures, each campaign's funnel (scanners → new followers → each lifecycle
stage → unfollowed), from ``connector/qr/funnel.py`` as ``connector campaigns stats``
prints it.

Under each campaign, the message requests sent to its members, and the others (to a
follower, a tag, a campaign without a QR code) below all campaigns: each with its
recipients' outcomes, read as ``connector messages status`` reads them
(``connector/messaging/outcomes.py``: two queries for all the requests, one ``MGET`` for
their waits), a link to its recipients (``/console/messages/<Id>``) and, when its send
job failed, to its card on the sync health page.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from redis import Redis

from connector.errors import BridgeError
from connector.ids import short_id
from connector.inbound.stats import campaign_stats
from connector.messaging.outcomes import MAX_REQUESTS, RequestView, read_requests
from connector.qr.funnel import campaign_funnel
from connector.qr.registry import QrRegistry
from connector.salesforce import SalesforceGateway
from connector.settings import Settings
from jobs.failures import request_cards
from mappings.loader import load_mapping
from mappings.qr_section import CAMPAIGN

log = logging.getLogger(__name__)

MAX_CAMPAIGNS = 10  # each costs two or three queries


def page(gateway: Callable[[], SalesforceGateway], redis: Redis,
         settings: Settings) -> dict[str, Any]:
    """The page's data; ``problem`` says why a part is missing (Salesforce or the
    mapping failed), the rest is shown anyway."""
    try:
        mapping = load_mapping(settings.MAPPING_FILE)
        sf = gateway()
        codes = QrRegistry(sf, mapping.qr.registry).codes(limit=100)
    except BridgeError as error:
        log.warning("console campaigns: %s", error)
        return {"codes": [], "campaigns": [], "requests": [], "problem": error.message,
                "request_limit": MAX_REQUESTS}
    campaign_ids = list(dict.fromkeys(c.record_id for c in codes if c.object == CAMPAIGN))
    rows, problem = [], None
    for campaign_id in campaign_ids[:MAX_CAMPAIGNS]:
        try:
            stats = campaign_stats(sf, redis, mapping, campaign_id).to_json()
            stats["funnel"] = campaign_funnel(sf, mapping, campaign_id).to_json()
        except BridgeError as error:
            problem = error.message
            continue
        rows.append(stats)
    requests, trouble = message_requests(sf, redis, mapping)
    by_campaign: dict[str, list[RequestView]] = {}
    for view in requests:
        by_campaign.setdefault(short_id(view.campaign or ""), []).append(view)
    for stats in rows:
        stats["requests"] = by_campaign.pop(short_id(stats["campaign"]), [])
    others = [view for views in by_campaign.values() for view in views]
    others.sort(key=lambda v: (v.created or "", v.id), reverse=True)
    return {"codes": codes, "campaigns": rows, "requests": others,
            "problem": problem or trouble, "instance": instance_of(sf),
            "request_limit": MAX_REQUESTS}


def message_requests(sf: SalesforceGateway, redis: Redis, mapping: Any
                     ) -> tuple[list[RequestView], str | None]:
    """The most recent requests with their outcomes and, for those whose send job
    failed, its card's system and code; or none, and why."""
    try:
        views = read_requests(sf, mapping.messages.request, mapping.messages.recipient,
                              redis)
    except BridgeError as error:
        log.warning("console message requests: %s", error)
        return [], f"Message requests could not be read: {error.message}"
    failed = request_cards(redis)
    for view in views:
        view.failed_job = failed.get(view.id[:15])
    return views, None


def instance_of(sf: SalesforceGateway) -> str | None:
    """The org's address (records open at ``<it>/<Id>``), or None when unknown."""
    try:
        return sf.instance_url()
    except BridgeError:
        return None
