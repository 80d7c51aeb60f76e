"""Several sObject Collections requests in one Composite call (``POST composite``).

A write of more than 200 records takes one sObject Collections request per 200; sent one
by one, each costs an API call and a round trip. Since API version 43.0 the Composite
resource takes sObject Collections requests (``/services/data/vXX.X/composite/sobjects``)
as subrequests, "up to 25 subrequests", of which "up to 5 ... can be sObject Collections
or query operations", and "the entire series of requests counts as a single call toward
your API limits" (REST API Developer Guide, "Send Multiple Requests Using Composite",
https://developer.salesforce.com/docs/platform/api-rest/guide/resources-composite-composite-post.html).
So collection requests go five to a call: 1,000 records for one API call.

With the composite ``allOrNone`` false (and each collection's own ``allOrNone`` false), a
subrequest that fails does not halt the others, and each record of a subrequest that
ran has its own SaveResult, as the request sent alone would have answered. A
subrequest's headers (``Sforce-Auto-Assign``, the duplicate rule header) go in its own
``httpHeaders``: "any header supported by the requested resource" except Accept,
Authorization and Content-Type, which it inherits from the composite request (Composite
Subrequest, same guide).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

MAX_COLLECTIONS = 5  # sObject Collections subrequests per composite call (see above)


@dataclass(frozen=True)
class CollectionRequest:
    """One sObject Collections request: ``method`` on ``path`` (relative to the API
    version's root, e.g. ``composite/sobjects/Lead/WeChat_OpenId__c``), ``body``
    (``allOrNone`` and ``records``), and the write's ``headers``."""

    method: str
    path: str
    body: dict[str, Any]
    headers: dict[str, str]


def collections_body(base_url: str, requests: Sequence[CollectionRequest]) -> dict:
    """The body of ``POST composite`` running ``requests`` (1 to
    :data:`MAX_COLLECTIONS`) in order, independently; ``base_url``: the client's
    ``https://host/services/data/vXX.X/``. Subresponses are referenced ``w0``, ``w1``..."""
    if not 0 < len(requests) <= MAX_COLLECTIONS:
        raise ValueError(f"a composite call takes 1 to {MAX_COLLECTIONS} collection "
                         f"requests, not {len(requests)}")
    root = urlsplit(base_url).path.rstrip("/")
    return {"allOrNone": False, "compositeRequest": [
        {"method": r.method, "url": f"{root}/{r.path}", "referenceId": f"w{i}",
         "body": r.body, "httpHeaders": dict(r.headers)} for i, r in enumerate(requests)]}
