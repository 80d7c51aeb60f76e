"""Writes to followers: remark and tags (a mixin of
:class:`~connector.wechat.gateway.WeChatGateway`; ``self._call`` runs one wechatpy call
with the shared token and translated errors).

WeChat's limits, checked by the caller's plan (``connector/wayback/plan.py``) and
enforced again by WeChat (the errcodes of :mod:`connector.wechat.errors`): a remark is
under 30 bytes of UTF-8 (40092); a tag name at most 30 bytes (45158) and unique (45157);
at most 100 tags per account (45056) and 20 per follower (45059); tagging takes at most
50 openids per call (40032). Every verb that changes a follower drops its cached profile
(``self.forget``), so the next read sees the change.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from redis import RedisError

log = logging.getLogger(__name__)

TAGGING_BATCH = 50  # tags/members/batch(un)tagging take at most 50 openids


class FollowerWriteVerbs:
    """``user/info/updateremark``, ``tags/create``, ``tags/getidlist`` and
    ``tags/members/batch(un)tagging``."""

    def update_remark(self, openid: str, remark: str) -> None:
        """Set the follower's remark (the name the account's staff see).

        Raises:
            SkippableError: the follower unfollowed (43004), WeChat does not know the
                openid (40003) or refused the remark (40092: 30 bytes or more).
            RetriableError: network trouble, WeChat busy, a quota hit (45009, 45011).
            FatalError: configuration problems and errors the bridge does not know.
        """
        try:
            # setting the same remark twice is harmless
            self._call(lambda client: client.user.update_remark(openid, remark),
                       repeatable=True)
        finally:
            self.forget(openid)

    def create_tag(self, name: str) -> int:
        """Create a tag and return its id; the cached tag names are dropped.

        Raises:
            SkippableError: 45157 (a tag of that name exists, or the name is invalid),
                45158 (name over 30 bytes), 45056 (the account has 100 tags).
            RetriableError, FatalError: as :meth:`update_remark`.
        """
        try:
            tag = self._call(lambda client: client.tag.create(name))
        finally:
            self._drop_tag_names()
        return int(tag["id"])

    def tags_of_user(self, openid: str) -> list[int]:
        """The ids of the follower's tags, fresh from WeChat (``tags/getidlist``).

        Raises:
            SkippableError: unknown openid (40003).
            RetriableError, FatalError: as :meth:`update_remark`.
        """
        return [int(t) for t in self._call(lambda client: client.tag.get_user_tag(openid),
                                            repeatable=True)]

    def batch_tag(self, tag_id: int, openids: Sequence[str]) -> None:
        """Put the tag on up to 50 followers at once (all or none, as WeChat does).

        Raises:
            ValueError: more than 50 openids.
            SkippableError: one of them is unknown (40003) or already has 20 tags (45059),
                or the tag does not exist (45159); nobody was tagged.
            RetriableError, FatalError: as :meth:`update_remark`.
        """
        self._tagging("tag_user", tag_id, openids)

    def batch_untag(self, tag_id: int, openids: Sequence[str]) -> None:
        """Take the tag off up to 50 followers at once.

        Raises:
            ValueError, SkippableError, RetriableError, FatalError: as :meth:`batch_tag`.
        """
        self._tagging("untag_user", tag_id, openids)

    def _tagging(self, verb: str, tag_id: int, openids: Sequence[str]) -> None:
        openids = list(openids)
        if not openids:
            return
        if len(openids) > TAGGING_BATCH:
            raise ValueError(f"WeChat tags at most {TAGGING_BATCH} followers per call, "
                             f"got {len(openids)}")
        try:
            self._call(lambda client: getattr(client.tag, verb)(tag_id, openids),
                       repeatable=True)  # (un)tagging twice leaves the same tags
        finally:
            self.forget(*openids)

    def _drop_tag_names(self) -> None:
        # The cached id → name table (WeChatGateway.tag_names) lacks a new tag: without
        # this, profiles read meanwhile would leave its name out.
        try:
            self._redis.delete(f"wechat:tags:{self._app_id}")
        except RedisError as exc:
            log.warning("could not drop the cached tag names of %s: %s", self._app_id, exc)
