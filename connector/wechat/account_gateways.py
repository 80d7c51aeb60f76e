"""One :class:`~connector.wechat.gateway.WeChatGateway` per Official Account served.

The worker reads each event's follower through the gateway of the event's account
(``event.account``, the push's ``ToUserName``): an OpenID means nothing to another
account's API.
"""

from __future__ import annotations

from collections.abc import Iterable

import redis

from connector.follower import Follower
from connector.settings import Settings
from connector.wechat.gateway import WeChatGateway


class UnknownAccount(LookupError):
    """No configured account has this original id; the message says what to set."""


class WeChatAccounts:
    """The gateways, by original id; the primary account's first.

    With one account, every event is that account's (the callback already refused pushes
    for another original id, when ``WECHAT_ORIGINAL_ID`` is set), exactly as before
    ``WECHAT_ACCOUNTS`` existed. With several, an event's ``account`` picks the gateway.
    ``forget`` and ``get_profiles`` without ``account`` use the primary's.
    """

    def __init__(self, gateways: dict[str | None, WeChatGateway]) -> None:
        if not gateways:
            raise ValueError("WeChatAccounts needs at least one gateway")
        self._gateways = dict(gateways)
        self.primary = next(iter(self._gateways.values()))

    @classmethod
    def from_settings(cls, settings: Settings, redis: redis.Redis) -> WeChatAccounts:
        """A gateway per account of ``settings.wechat_accounts()``."""
        return cls({account.original_id: WeChatGateway(settings, redis, account=account)
                    for account in settings.wechat_accounts()})

    @property
    def original_ids(self) -> list[str | None]:
        return list(self._gateways)

    def knows(self, original_id: str) -> bool:
        """True when events of ``original_id`` can be read (always, for a lone account)."""
        return len(self._gateways) == 1 or original_id in self._gateways

    def for_account(self, original_id: str | None) -> WeChatGateway:
        """The gateway of the account ``original_id`` (None: the primary's).

        Raises:
            UnknownAccount: several accounts are configured and none is ``original_id``.
        """
        if original_id is None or len(self._gateways) == 1:
            return self.primary
        try:
            return self._gateways[original_id]
        except KeyError:
            raise UnknownAccount(
                f"no configured WeChat account has the original id {original_id!r} — add "
                "it to WECHAT_ACCOUNTS (or set WECHAT_ORIGINAL_ID) to handle its events"
            ) from None

    @property
    def api_calls(self) -> int:
        """HTTP requests made to WeChat by all the gateways so far."""
        return sum(g.api_calls for g in self._gateways.values())

    def forget(self, *openids: str, account: str | None = None) -> None:
        """Drop cached profiles of ``account``'s followers (see ``WeChatGateway.forget``)."""
        self.for_account(account).forget(*openids)

    def get_profiles(self, openids: Iterable[str], *,
                     account: str | None = None) -> dict[str, Follower]:
        """Profiles of ``account``'s followers (see ``WeChatGateway.get_profiles``)."""
        return self.for_account(account).get_profiles(openids)
