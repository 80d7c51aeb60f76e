"""The console's message requests: Salesforce API calls and time to read them, vs the
path ``connector messages status`` took before (per request: the request, then every
recipient record), run in the same process against the same sandbox.

Seeds ``--requests`` requests in the Salesforce sandbox, one of them with ``--recipients``
recipients (a fifth skipped, for the unfollowed or their quota), the others with 100;
then reads them as the campaigns page does (:func:`read_requests`), as the old path would
have, and the big request's first and last page of recipients (keyset pagination).

    python -m benchmarks.console_requests [--requests 50] [--recipients 10000]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

from connector.messaging.outcomes import PAGE_SIZE, read_requests, recipients_page
from connector.messaging.records import read_recipients
from connector.redis_connection import connect, redis_url_from_env
from connector.salesforce import SalesforceGateway
from connector.settings import load_settings
from mappings.messages_section import MessagesSection
from sandbox.run import start_sandbox

OLD_REQUEST = ("SELECT Id, {:literal}, {:literal}, {:literal}, {:literal}, {:literal}, "
               "{:literal} FROM {:literal} WHERE Id = {record}")


def seed(box, fields: MessagesSection, requests: int, big: int) -> list[str]:
    sf, f, r = box.salesforce, fields.request, fields.recipient
    ids = []
    for i in range(requests):
        size = big if i == 0 else 100
        skipped = size // 5
        message = sf.seed(f.object, **{f.channel: "mass", f.target: "campaign",
                                       f.status: "Done", f.sent: size - skipped,
                                       f.skipped: skipped, f.failed: 0})
        for n in range(size):
            status = "skipped" if n < skipped else "sent"
            reason = (("quota: 4 mass messages a month (service account) already received"
                       if n % 2 else "unfollowed: WeChat 43004: the user does not follow "
                       "the account (require subscribe)") if status == "skipped" else "")
            sf.seed(r.object, **{r.key: f"{message}:o{i}-{n}", r.message: message,
                                 r.openid: f"o{i}-{n}", r.status: status, r.reason: reason})
        ids.append(message)
    return ids


def old_path(sf: SalesforceGateway, fields: MessagesSection, ids: list[str]) -> int:
    """The CLI's report before, once per request: rows read."""
    f, rows = fields.request, 0
    for message in ids:
        sf.query(OLD_REQUEST, f.status, f.sent, f.skipped, f.failed, f.delivered, f.error,
                 f.object, record=message)
        rows += len(read_recipients(sf, fields.recipient, message))
    return rows


def timed(box, fn):
    box.salesforce.reset_counters()
    started = time.perf_counter()
    result = fn()
    return result, box.salesforce.api_calls["total"], time.perf_counter() - started


def run(requests: int, recipients: int) -> None:
    os.environ["REDIS_URL"] = redis_url_from_env()
    redis = connect()
    box = start_sandbox(Path(tempfile.mkdtemp(prefix="bench-")), followers=5)
    os.environ.update(box.env)
    fields = MessagesSection()
    try:
        ids = seed(box, fields, requests, recipients)
        sf = SalesforceGateway(load_settings())
        sf.instance_url()  # log in first: the login is no API call, but takes time
        views, new_calls, new_s = timed(box, lambda: read_requests(
            sf, fields.request, fields.recipient, redis))
        rows, old_calls, old_s = timed(box, lambda: old_path(sf, fields, ids))
        first, first_calls, first_s = timed(box, lambda: recipients_page(
            sf, fields.recipient, ids[0]))
        page, after, pages = first, None, 1
        while page.after:  # walk to the last page, timing only that one
            after, page = page.after, recipients_page(sf, fields.recipient, ids[0],
                                                      after=page.after)
            pages += 1
        _, last_calls, last_s = timed(box, lambda: recipients_page(
            sf, fields.recipient, ids[0], after=after))
        sf.close()
    finally:
        box.stop()
    partial = sum(v.partial for v in views)
    print(f"{requests} requests, one of {recipients} recipients, the others of 100 "
          "(a fifth skipped)")
    print(f"  console (outcomes.read_requests): {new_calls:>4} API calls  {new_s:6.2f} s  "
          f"({partial} request(s) with reasons from some of their skips)")
    print(f"  old path, per request:            {old_calls:>4} API calls  {old_s:6.2f} s  "
          f"({rows} recipient rows read)")
    print(f"  recipients, page 1 of {pages} ({PAGE_SIZE} a page): {first_calls} API call  "
          f"{first_s:.3f} s; last page: {last_calls} API call  {last_s:.3f} s")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=50)
    parser.add_argument("--recipients", type=int, default=10_000)
    args = parser.parse_args()
    run(args.requests, args.recipients)
