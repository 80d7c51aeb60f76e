"""Check from outside that the bridge's Outbound Message endpoint is where Salesforce
will POST: the URL resolves, TLS holds, and the route exists (it answers a GET with 405,
as it takes only Salesforce's POSTs). Nothing is sent that the endpoint would record.
"""

from __future__ import annotations

from dataclasses import dataclass

import requests

# Salesforce waits 2 minutes for an acknowledgement before it counts a delivery as failed
# (Outbound Messaging "Understanding Notifications"); a live endpoint answers a GET at once.
PROBE_SECONDS = 10.0


@dataclass(frozen=True)
class EndpointAnswer:
    ok: bool
    detail: str


def probe_outbound(url: str, *, timeout: float = PROBE_SECONDS) -> EndpointAnswer:
    """A GET to ``url``; ok when the route answers 405 (POST only). Never raises."""
    try:
        with requests.get(url, timeout=timeout, allow_redirects=False) as response:
            status = response.status_code
    except requests.Timeout:
        return EndpointAnswer(False, f"no answer within {timeout:g} s")
    except requests.RequestException as exc:
        return EndpointAnswer(False, f"could not reach it ({type(exc).__name__})")
    if status == 405:
        return EndpointAnswer(True, "reachable; it takes Salesforce's POSTs")
    if status in (301, 302, 307, 308):
        return EndpointAnswer(False, f"answered a redirect (HTTP {status}): Salesforce does "
                              "not follow redirects; use the final https:// URL")
    return EndpointAnswer(False, f"answered HTTP {status}: is this the bridge's URL?")
