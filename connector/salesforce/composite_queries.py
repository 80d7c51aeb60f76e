"""Several queries in one Composite call (``POST composite``), one API call for them all.

A long ``IN`` list is cut into several queries (``in_lists.py``); sent one by one, each
costs an API call and a round trip. The Composite resource runs up to 25 subrequests in
one call, "up to 5" of them query operations, and "the entire series of requests counts
as a single call toward your API limits" (REST API Developer Guide, "Send Multiple
Requests Using Composite",
https://developer.salesforce.com/docs/platform/api-rest/guide/resources-composite-composite-post.html).
So pieces go five to a call. A subrequest's URL is the query's own (``query/?q=...``), cut
to the same URI limit as a query sent alone.

With ``allOrNone`` false (the default) a query that fails does not halt the others; its
subresponse carries the status and error list the query alone would have answered.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from urllib.parse import urlencode, urlsplit

MAX_QUERIES = 5  # query subrequests per composite call (see the docstring)


def composite_body(base_url: str, soqls: Sequence[str], include_deleted: bool) -> dict:
    """The body of ``POST composite`` running ``soqls`` (at most :data:`MAX_QUERIES`);
    ``base_url``: the client's ``https://host/services/data/vXX.X/``."""
    if not 0 < len(soqls) <= MAX_QUERIES:
        raise ValueError(f"a composite call takes 1 to {MAX_QUERIES} queries, not {len(soqls)}")
    path = urlsplit(base_url).path.rstrip("/")
    resource = "queryAll" if include_deleted else "query"
    return {"allOrNone": False, "compositeRequest": [
        {"method": "GET", "url": f"{path}/{resource}/?{urlencode({'q': soql})}",
         "referenceId": f"q{i}"} for i, soql in enumerate(soqls)]}


def subresponses(answer: Any, count: int, prefix: str = "q") -> list[tuple[int, Any]]:
    """Each subrequest's (HTTP status, body), in the order sent (referenced
    ``<prefix>0``, ``<prefix>1``...).

    Raises:
        ValueError: the answer is not a composite response of ``count`` subresponses.
    """
    entries = answer.get("compositeResponse") if isinstance(answer, dict) else None
    if not isinstance(entries, list) or len(entries) != count:
        raise ValueError(f"expected a compositeResponse of {count} subresponses")
    by_ref = {str(e.get("referenceId")): e for e in entries if isinstance(e, dict)}
    out = []
    for i in range(count):
        entry = by_ref.get(f"{prefix}{i}")
        if entry is None:
            raise ValueError(f"no subresponse for {prefix}{i}")
        out.append((int(entry.get("httpStatusCode") or 0), entry.get("body")))
    return out
