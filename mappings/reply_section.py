"""The ``replies:`` section of the mapping file.

Auto-replies on follow and scan: the Campaign fields a campaign's reply is read
from, and the reply to a follow that names no campaign.

A campaign's reply is an article when its ``article.title`` field is filled, else a text
when its ``text`` field is, else none. ``connector/replies/campaigns.py`` reads the fields; the
callback answers with the cached reply (``connector/replies/passive.py``), the worker sends it as
a customer-service message when nothing was cached (``connector/replies/sends.py``).
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator, model_validator

from mappings.rules import FieldUse, Strict, check_link
from mappings.vocabulary import ApiName

# WeChat shows at most 2048 bytes (UTF-8) of a text reply's Content: about 680 Chinese
# characters. Longer campaign texts are cut (connector/replies/model.py); a longer constant is
# refused when the file loads.
TEXT_LIMIT_BYTES = 2048
CAMPAIGN = "Campaign"
# Keyword replies (``keywords: true``): the records admins keep, one per rule (shipped in
# salesforce/force-app); connector/replies/keyword_book.py reads them.
KEYWORD_OBJECT = "WeChat_Keyword_Reply__c"
KEYWORD_FIELDS = ("Name", "Account_Id__c", "Active__c", "Match__c", "Keyword__c",
                  "Order__c", "Reply_Text__c", "Article_Title__c", "Article_Description__c",
                  "Article_Picture_Url__c", "Article_Url__c")


class ArticleFields(Strict):
    """The Campaign fields of a reply article. ``title`` decides: a campaign whose title
    field is blank gets its text reply instead."""

    title: ApiName
    description: ApiName | None = None
    picture_url: ApiName | None = None
    url: ApiName | None = None


class ArticleConstant(Strict):
    """An article given in the file (the ``welcome:`` reply)."""

    title: str = Field(min_length=1)
    description: str = ""
    picture_url: str | None = None
    url: str | None = None

    _link = field_validator("picture_url", "url")(check_link)


class WelcomeReply(Strict):
    """The reply to a follow that names no campaign: ``text`` or ``article``."""

    text: str | None = None
    article: ArticleConstant | None = None

    @field_validator("text")
    @classmethod
    def _text(cls, value: str | None) -> str | None:
        if value is not None:
            size = len(value.encode("utf-8"))
            if not value.strip():
                raise ValueError("the welcome text is blank — write the text, or remove "
                                 "welcome")
            if size > TEXT_LIMIT_BYTES:
                raise ValueError(f"the welcome text is {size} bytes; WeChat shows at most "
                                 f"{TEXT_LIMIT_BYTES} (about 680 Chinese characters) — "
                                 "shorten it")
        return value

    @model_validator(mode="after")
    def _one(self) -> WelcomeReply:
        if (self.text is None) == (self.article is None):
            raise ValueError("give exactly one of 'text' or 'article'")
        return self


class RepliesSection(Strict):
    """``replies:``.

    ``text``: the Campaign field holding the reply text (e.g. ``WeChat_Auto_Reply__c``);
    ``article``: the Campaign fields of a reply article; ``on``: the events answered with
    their campaign's reply (``subscribe``, ``scan``); ``welcome``: the reply to a follow
    that names no campaign; ``cache_ttl``: seconds a campaign's reply stays cached
    (the change poller refreshes it sooner when the Campaign changes); ``keywords``:
    answer texts (and follows naming no campaign) with the ``WeChat_Keyword_Reply__c``
    records admins keep in Salesforce. Without ``text``, ``article``, ``welcome`` and
    ``keywords`` the bridge sends no auto-replies.
    """

    text: ApiName | None = None
    article: ArticleFields | None = None
    on: list[Literal["subscribe", "scan"]] = Field(
        default_factory=lambda: ["subscribe", "scan"])
    welcome: WelcomeReply | None = None
    cache_ttl: int = Field(default=86_400, ge=60, le=30 * 86_400)
    keywords: bool = False

    @property
    def enabled(self) -> bool:
        """True when the bridge sends any auto-reply."""
        return self.campaign_replies or self.welcome is not None or self.keywords

    @property
    def campaign_replies(self) -> bool:
        """True when campaigns have replies (a field to read them from)."""
        return self.text is not None or self.article is not None

    def reply_fields(self) -> list[str]:
        """The Campaign fields a reply is read from, each once, in a stable order."""
        names = [self.text]
        if self.article is not None:
            a = self.article
            names += [a.title, a.description, a.picture_url, a.url]
        return list(dict.fromkeys(n for n in names if n))

    def field_uses(self) -> list[FieldUse]:
        """The Salesforce fields this section names, for the checks against the org."""
        uses = []
        if self.text is not None:
            uses.append(FieldUse(("replies", "text"), CAMPAIGN, self.text, "read"))
        if self.article is not None:
            for key in ("title", "description", "picture_url", "url"):
                name = getattr(self.article, key)
                if name is not None:
                    uses.append(FieldUse(("replies", "article", key), CAMPAIGN, name, "read"))
        if self.keywords:
            uses += [FieldUse(("replies", "keywords"), KEYWORD_OBJECT, name, "read")
                     for name in KEYWORD_FIELDS]
        return uses
