"""The console's page of one message request: the request with its outcomes (as on the
campaigns page) and its recipients, a page at a time (``/console/messages/<Id>``,
``?status=`` one outcome, ``?after=`` the last recipient's Id of the page before).

A page is one query of its recipients (keyset by Id: any page of 10,000 recipients costs
one query of :data:`~connector.messaging.outcomes.PAGE_SIZE` + 1 rows) after the
request's two; nothing is read that the page does not show.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from redis import Redis

from connector.errors import BridgeError
from connector.ids import is_record_id
from connector.messaging.outcomes import PAGE_SIZE, read_requests, recipients_page
from connector.salesforce import SalesforceGateway
from connector.settings import Settings
from jobs.failures import request_cards
from mappings.loader import load_mapping
from mappings.messages_section import RECIPIENT_STATUSES
from webhooks.console.campaigns import instance_of


class NotShown(Exception):
    """Why the page cannot be shown: ``status`` (HTTP) and a message for the person."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


def page(gateway: Callable[[], SalesforceGateway], redis: Redis, settings: Settings,
         message_id: str, status: str | None, after: str | None) -> dict[str, Any]:
    """The page's data.

    Raises:
        NotShown: a bad Id or outcome in the address (400), no such request (404), or
            Salesforce or the mapping failed (502).
    """
    if not is_record_id(message_id):
        raise NotShown(f"{message_id!r} is not a message request's Id (15 or 18 letters "
                       "and digits)", 400)
    if status and status not in RECIPIENT_STATUSES:
        raise NotShown(f"status must be one of {', '.join(RECIPIENT_STATUSES)}, not "
                       f"{status!r}", 400)
    if after and not is_record_id(after):
        raise NotShown(f"after must be a recipient record's Id, not {after!r}", 400)
    try:
        mapping = load_mapping(settings.MAPPING_FILE)
        sf = gateway()
        fields = mapping.messages
        views = read_requests(sf, fields.request, fields.recipient, redis, ids=[message_id])
        if not views:
            raise NotShown(f"no {fields.request.object} record has the Id {message_id}", 404)
        recipients = recipients_page(sf, fields.recipient, views[0].id, status=status,
                                     after=after)
    except BridgeError as error:
        raise NotShown(f"Salesforce could not be read: {error.message}", 502) from None
    views[0].failed_job = request_cards(redis).get(views[0].id[:15])
    return {"message": views[0], "page": recipients, "outcome": status, "after": after,
            "size": PAGE_SIZE, "instance": instance_of(sf)}
