"""What the features work with: settings, Redis, the mapping, both gateways, and a way to
hand work to the job queues.

The features (``connector/inbound``, ``qr``, ``replies``, ``messaging``, ``wayback``)
take a :class:`WorkerContext` and nothing global. It sits above the mapping and the
gateways (it holds them) and below the features; ``jobs/runtime.py`` builds one per
process from the configuration (the worker, a command, the demo); tests may install
their own.

Some features must start jobs — the clock's poll enqueues change jobs, a ticked message
request its send job, a follow-up its delayed send job — but features never import
``jobs/`` (imports run one way). They call :class:`Queues` instead, a port that
``jobs/queues.py`` implements with RQ.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Protocol

from redis import Redis

from connector.salesforce import SalesforceGateway
from connector.settings import Settings
from connector.wechat import WeChatAccounts
from mappings.models import Mapping


class Queues(Protocol):
    """The jobs a feature may start (``jobs.queues.RqQueues``). Both are idempotent: a
    job whose id exists already is not enqueued again."""

    def changes(self, object_name: str, record_ids: Iterable[str], *, origin: str,
                key: str, batch: int = 200) -> list[str]:
        """Change jobs for ``record_ids`` of ``object_name``; the ids enqueued now.

        Raises:
            ValueError: ``object_name`` is not an API name.
            redis.exceptions.RedisError: Redis is unreachable.
        """
        ...

    def message_request(self, message_id: str, stamp: str = "") -> str | None:
        """The send job of a message request, once per ``stamp`` (its SystemModstamp);
        the job id, or None when that job exists already."""
        ...

    def follow_up(self, follow_up_id: str, delay_seconds: float) -> str | None:
        """The send job of a follow-up, due in ``delay_seconds``, with the follow-up's id
        as job id; the job id, or None when that job exists already.

        Raises:
            redis.exceptions.RedisError: Redis is unreachable.
        """
        ...


@dataclass
class WorkerContext:
    """Everything a feature needs to do its work for one process.

    ``field_lengths``: the org's text field lengths per object, for the ``fit``
    transform (filled by ``connector/inbound/lengths.py``; Redis holds them too).
    """

    settings: Settings
    redis: Redis
    mapping: Mapping
    salesforce: SalesforceGateway
    wechat: WeChatAccounts  # a gateway per Official Account
    queues: Queues
    field_lengths: dict[str, dict[str, int]] = field(default_factory=dict)
