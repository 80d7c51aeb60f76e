"""The registry of QR codes in Salesforce: one ``WeChat_QR_Code__c`` record per code the
bridge made, upserted by ``Code_Key__c`` (``<account>:<scene>``).

It is what makes codes idempotent (the latest code of a record and channel is looked up
before a new one is made), what counts an account's permanent codes against WeChat's
100,000, and what ``connector qr list`` shows. Reads and writes go through the
Salesforce gateway (SOQL by ``format_soql`` only).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime
from typing import Any

from connector.qr.rules import code_key, lapsed
from connector.salesforce import SalesforceGateway
from mappings.qr_section import CAMPAIGN, REGISTRY, REGISTRY_FIELDS

# The list query, by (one record?, one account?): whole templates, values by format_soql.
_LIST = {
    (False, False): "SELECT {fields:literal} FROM {sobject:literal} ORDER BY CreatedDate "
                    "DESC, Version__c DESC LIMIT {limit:literal}",
    (True, False): "SELECT {fields:literal} FROM {sobject:literal} WHERE Record_Id__c = "
                   "{record} ORDER BY CreatedDate DESC, Version__c DESC LIMIT {limit:literal}",
    (False, True): "SELECT {fields:literal} FROM {sobject:literal} WHERE Account_Id__c = "
                   "{account} ORDER BY CreatedDate DESC, Version__c DESC LIMIT "
                   "{limit:literal}",
    (True, True): "SELECT {fields:literal} FROM {sobject:literal} WHERE Record_Id__c = "
                  "{record} AND Account_Id__c = {account} ORDER BY CreatedDate DESC, "
                  "Version__c DESC LIMIT {limit:literal}",
}


@dataclass(frozen=True)
class QrCode:
    """One code: whose (``account``: the Official Account's original id), for which
    record (``object``, ``record_id``) and ``channel``, its ``scene`` and ``version``
    (1 for the record's first code), what WeChat gave (``ticket``, ``url``: what the code
    encodes, ``image_url``), ``permanent`` or lapsing at ``expires_at``. ``created``:
    made by this call (False: an existing code was found); ``png_path``: where its image
    was saved, if asked."""

    account: str
    scene: str
    object: str
    record_id: str
    channel: str | None
    version: int
    ticket: str
    url: str
    image_url: str
    permanent: bool
    expires_at: datetime | None = None
    created: bool = False
    png_path: str | None = None

    @property
    def key(self) -> str:
        return code_key(self.account, self.scene)

    def live(self, now: float) -> bool:
        """True while the code scans (a permanent code always does)."""
        return not lapsed(self.expires_at, now)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["key"] = self.key
        data["expires_at"] = self.expires_at.isoformat() if self.expires_at else None
        return data

    def with_(self, **changes: Any) -> QrCode:
        return replace(self, **changes)


def _when(value: Any) -> datetime | None:
    if not value:
        return None
    moment = datetime.fromisoformat(str(value))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


class QrRegistry:
    """The registry object (``qr.registry``, default ``WeChat_QR_Code__c``) through
    ``salesforce`` (a :class:`~connector.salesforce.SalesforceGateway`).

    Every method raises the gateway's errors (:class:`~connector.errors.BridgeError`).
    """

    def __init__(self, salesforce: SalesforceGateway, sobject: str = REGISTRY) -> None:
        self._sf = salesforce
        self._sobject = sobject

    def latest(self, account: str, record_id: str, channel: str | None) -> QrCode | None:
        """The newest code (highest version) of a record and channel, or None."""
        rows = self._sf.query(
            "SELECT {:literal} FROM {:literal} WHERE Account_Id__c = {} AND Record_Id__c = {}"
            " AND Channel__c = {} ORDER BY Version__c DESC LIMIT 1",
            ", ".join(REGISTRY_FIELDS), self._sobject, account, record_id, channel)
        return self._code(rows[0]) if rows else None

    def codes(self, *, record_id: str | None = None, account: str | None = None,
              limit: int = 200) -> list[QrCode]:
        """Codes, newest first; of one record and/or account when given."""
        rows = self._sf.query(
            _LIST[bool(record_id), bool(account)],
            fields=", ".join(REGISTRY_FIELDS), sobject=self._sobject, record=record_id,
            account=account, limit=str(int(limit)))
        return [self._code(row) for row in rows]

    def count_permanent(self, account: str) -> int:
        """The permanent codes the bridge made for ``account`` (WeChat counts them all,
        including those a forced code replaced: a permanent code cannot be deleted)."""
        return self._sf.query_count(
            "SELECT COUNT() FROM {:literal} WHERE Account_Id__c = {} AND Permanent__c = true",
            self._sobject, account)

    def save(self, code: QrCode) -> None:
        """Upsert ``code`` by its key (a retried save writes the same record)."""
        self._sf.upsert(self._sobject, "Code_Key__c", code.key, {
            "Scene__c": code.scene,
            "Account_Id__c": code.account,
            "Record_Id__c": code.record_id,
            "Object__c": code.object,
            "Campaign__c": code.record_id if code.object == CAMPAIGN else None,
            "Channel__c": code.channel,
            "Version__c": code.version,
            "Ticket__c": code.ticket,
            "Image_Url__c": code.image_url,
            "Url__c": code.url,
            "Permanent__c": code.permanent,
            "Expires_At__c": (code.expires_at.strftime("%Y-%m-%dT%H:%M:%SZ")
                              if code.expires_at else None),
        })

    @staticmethod
    def _code(row: dict[str, Any]) -> QrCode:
        return QrCode(
            account=row["Account_Id__c"], scene=row["Scene__c"], object=row["Object__c"],
            record_id=row["Record_Id__c"], channel=row.get("Channel__c") or None,
            version=int(row.get("Version__c") or 1), ticket=row["Ticket__c"],
            url=row.get("Url__c") or "", image_url=row.get("Image_Url__c") or "",
            permanent=bool(row.get("Permanent__c")),
            expires_at=_when(row.get("Expires_At__c")))
