"""The console's campaigns page: the QR codes the bridge made (with their images) and,
per campaign, scans, unique scanners, new followers and members per channel code, as
``connector campaigns stats`` reports them (``connector/inbound/stats.py``).

Beside the figures, each campaign's funnel (scanners → new followers → each lifecycle
stage → unfollowed), from ``connector/qr/funnel.py`` as ``connector campaigns stats``
prints it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from redis import Redis

from connector.errors import BridgeError
from connector.inbound.stats import campaign_stats
from connector.qr.funnel import campaign_funnel
from connector.qr.registry import QrRegistry
from connector.salesforce import SalesforceGateway
from connector.settings import Settings
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
        return {"codes": [], "campaigns": [], "problem": error.message}
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
    return {"codes": codes, "campaigns": rows, "problem": problem}
