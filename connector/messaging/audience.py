"""Who a message request reaches: its follower, its campaign's members, or its tag's
followers, as :class:`~connector.messaging.rules.Recipient` s (reads through the gateways).

- **follower**: the follower record the request points at.
- **campaign**: the campaign's members (CampaignMember → Contact or Lead), each through
  the follower records whose ``follower.link`` lookups point at the person; a person no
  follower record points at is reached through its own OpenID field
  (``messages.audience.person_openid``), or recorded as having no follower.
- **tag**: the tag's followers as WeChat lists them now (``user/tag/get``: WeChat is
  where tags change first), completed with their follower records.

Followers of another Official Account than the sending one are left out when the
follower object records the account (``messages.audience.account``). Long lists of Ids
or OpenIDs are cut by ``SalesforceGateway.query_in`` to what one query's URL takes.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from connector.messaging.rules import MessageRequest, Recipient, RequestError
from connector.salesforce import SalesforceGateway
from connector.wechat import WeChatGateway
from mappings.models import Mapping

MEMBERS = "SELECT ContactId, LeadId FROM CampaignMember WHERE CampaignId = {campaign}"
BY_FIELD = "SELECT {} FROM {:literal} WHERE {:literal} IN {values}"
BY_ID = "SELECT {} FROM {:literal} WHERE Id = {record}"


def select_columns(names: Sequence[str]) -> str:
    """A query template whose column list is ``len(names)`` ``{:literal}`` slots (the
    names come from the mapping, checked as API names, and are passed as arguments)."""
    return ", ".join(["{:literal}"] * len(names))


class Audience:
    """Resolves requests with one Salesforce gateway, one WeChat gateway (the sending
    account's) and the mapping; ``account`` is the sending account's original id."""

    def __init__(self, salesforce: SalesforceGateway, wechat: WeChatGateway, mapping: Mapping,
                 account: str | None) -> None:
        self.sf, self.wechat, self.mapping, self.account = salesforce, wechat, mapping, account
        follower, audience = mapping.follower, mapping.messages.audience
        self.object, self.openid_field = follower.object, follower.external_id
        self.links = dict(follower.link)  # person object → lookup field on the follower
        self.subscribed, self.account_field = audience.subscribed, audience.account
        self.person_openid = audience.person_openid
        self.columns = list(dict.fromkeys(
            ["Id", self.openid_field, *self.links.values(),
             *(f for f in (self.subscribed, self.account_field) if f)]))

    def recipients(self, request: MessageRequest) -> list[Recipient]:
        """The request's recipients, in a stable order (members in query order).

        Raises:
            RequestError: the follower record or the tag does not exist.
            BridgeError: as the gateways' verbs.
        """
        if request.target == "follower":
            return self._follower(request)
        if request.target == "campaign":
            return self._campaign(str(request.campaign_id))
        return self._tag(str(request.tag))

    # -- the three targets -------------------------------------------------------------

    def _follower(self, request: MessageRequest) -> list[Recipient]:
        template = BY_ID.replace("{}", select_columns(self.columns))
        rows = self.sf.query(template, *self.columns, self.object, record=request.follower_id)
        if not rows:
            field = self.mapping.messages.request.follower
            raise RequestError(f"{field} points at no {self.object} record "
                               f"({request.follower_id}); choose an existing follower", field)
        return [self._recipient(rows[0])]

    def _campaign(self, campaign_id: str) -> list[Recipient]:
        members = self.sf.query(MEMBERS, campaign=campaign_id)
        persons = {"Contact": [m["ContactId"] for m in members if m.get("ContactId")],
                   "Lead": [m["LeadId"] for m in members
                            if m.get("LeadId") and not m.get("ContactId")]}
        followers: dict[str, list[dict]] = {}  # person Id → their follower rows
        for obj, link in self.links.items():
            for row in self._followers_by(link, sorted(set(persons.get(obj, [])))):
                followers.setdefault(str(row[link]), []).append(row)
        unlinked = {obj: sorted(set(ids) - set(followers)) for obj, ids in persons.items()}
        openids = self._person_openids(unlinked)
        recipients = []
        for member in members:
            obj, person = (("Contact", member["ContactId"]) if member.get("ContactId")
                           else ("Lead", member.get("LeadId")))
            if not person:
                continue
            ids = {"contact_id": person} if obj == "Contact" else {"lead_id": person}
            rows = [r for r in followers.get(person, []) if self._of_account(r)]
            if rows:
                recipients += [self._recipient(r, **ids) for r in rows]
            elif followers.get(person):  # followers of other accounts only
                recipients.append(Recipient(None, **ids))
            else:
                recipients.append(Recipient(openids.get(person), **ids))
        return recipients

    def _tag(self, name: str) -> list[Recipient]:
        names = self.wechat.tag_names(refresh=True)
        ids = [tag_id for tag_id, tag in names.items() if tag == name]
        if not ids and name.isdigit() and int(name) in names:
            ids = [int(name)]
        if not ids:
            field = self.mapping.messages.request.tag
            known = ", ".join(sorted(names.values())) or "none"
            raise RequestError(f"{field} names no WeChat tag of the account: {name!r} "
                               f"(its tags: {known}); write the tag's name as in the WeChat "
                               "console", field)
        openids = self.wechat.tag_members(ids[0])
        rows: dict[str, dict] = {}
        for row in self._followers_by(self.openid_field, openids):
            if self._of_account(row):
                rows[str(row[self.openid_field])] = row
        # WeChat lists current followers only, whatever a stale record says.
        return [self._recipient(rows[o], subscribed=True) if o in rows
                else Recipient(o, subscribed=True, account=self.account) for o in openids]

    # -- reads -------------------------------------------------------------------------

    def _followers_by(self, field: str, values: list[str]) -> list[dict]:
        template = BY_FIELD.replace("{}", select_columns(self.columns))
        return self.sf.query_in(template, *self.columns, self.object, field, split="values",
                                values=values)

    def _person_openids(self, unlinked: dict[str, list[str]]) -> dict[str, str]:
        """Person Id → the OpenID on the person's own field, for people no follower
        record points at."""
        found: dict[str, str] = {}
        if not self.person_openid:
            return found
        template = BY_FIELD.replace("{}", select_columns(["Id", self.person_openid]))
        for obj, ids in unlinked.items():
            for row in self.sf.query_in(template, "Id", self.person_openid, obj, "Id",
                                        split="values", values=ids):
                if row.get(self.person_openid):
                    found[str(row["Id"])] = str(row[self.person_openid])
        return found

    def _of_account(self, row: dict) -> bool:
        """False for a follower of another account (when the record says which)."""
        theirs = row.get(self.account_field) if self.account_field else None
        return not (theirs and self.account and theirs != self.account)

    def _recipient(self, row: dict, **overrides: Any) -> Recipient:
        subscribed = row.get(self.subscribed) if self.subscribed else None
        values: dict[str, Any] = {
            "openid": row.get(self.openid_field) or None,
            "follower_id": row.get("Id"),
            "contact_id": row.get(self.links.get("Contact", "")) or None,
            "lead_id": row.get(self.links.get("Lead", "")) or None,
            "subscribed": None if subscribed is None else bool(subscribed),
            "account": (row.get(self.account_field) if self.account_field else None)
            or self.account,
        }
        values.update(overrides)
        return Recipient(**values)
