"""Knock on the bridge's callback URL as WeChat does when an admin saves the server URL.

WeChat checks a server URL with a signed GET (``signature``, ``timestamp``, ``nonce``,
``echostr``) and accepts it only if the body of the answer is ``echostr`` exactly
(developers.weixin.qq.com/doc/offiaccount/Basic_Information/Access_Overview.html, step 2),
within 5 seconds. :func:`probe_callback` does the same from wherever it runs, so a
preflight sees what WeChat would see: DNS, TLS, the route, the token.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass

import requests

from connector.wechat.crypto import signature_of

ANSWER_SECONDS = 5.0  # WeChat gives up on a server that has not answered by then


@dataclass(frozen=True)
class CallbackAnswer:
    """What the URL answered: ``ok`` when it echoed ``echostr`` in time."""

    ok: bool
    detail: str


def probe_callback(url: str, token: str, *, timeout: float = ANSWER_SECONDS) -> CallbackAnswer:
    """A signed GET to ``url`` with a fresh ``echostr``; never raises."""
    timestamp, nonce = str(int(time.time())), secrets.token_hex(5)
    echostr = secrets.token_hex(10)
    params = {"signature": signature_of(token, timestamp, nonce), "timestamp": timestamp,
              "nonce": nonce, "echostr": echostr}
    try:
        with requests.get(url, params=params, timeout=timeout) as response:
            status, body = response.status_code, response.text
    except requests.Timeout:
        return CallbackAnswer(False, f"no answer within {timeout:g} s (WeChat waits 5 s)")
    except requests.RequestException as exc:
        return CallbackAnswer(False, f"could not reach it ({type(exc).__name__})")
    if status == 200 and body == echostr:
        return CallbackAnswer(True, "answered the signed GET with its echostr")
    if status == 403:
        return CallbackAnswer(False, "refused the signature (HTTP 403): the server's "
                              "WECHAT_TOKEN differs from the one used here")
    return CallbackAnswer(False, f"answered HTTP {status} without the echostr "
                          f"({' '.join(body.split())[:80]!r})")
