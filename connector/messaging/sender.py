"""Sending one request's message to its recipients, per channel, inside WeChat's rules.

:class:`Sender` takes the recipients :func:`connector.messaging.rules.screen` let through and
returns an :class:`~connector.messaging.rules.Outcome` for each:

- **template**: one by one, each with ``client_msg_id`` = request Id + ``:`` + OpenID;
- **customer_service**: one by one, each only when :func:`connector.messaging.windows.spend`
  grants a message of the follower's open window; a text, or an image (the request's
  ``image_url`` fetched and uploaded to WeChat's temporary media once, at the first
  recipient whose window is open);
- **mass**: the followers' quotas reserved first (:func:`connector.messaging.quotas.reserve`;
  those without room are skipped), then one call per 10,000 followers, with a
  ``clientmsgid`` made from the request and its recipients.

Every send is claimed in the request's :class:`~connector.messaging.sent_log.SentLog` first and
recorded there after, so a rerun (or a second worker) never sends to a follower twice.
A claim an earlier run left behind (its worker died mid-send) is resolved without
risking a second message: a template is resent only within WeChat's 10-minute
``client_msg_id`` window, a mass batch with its own ``clientmsgid`` (WeChat answers
45065 when it went out), and a customer-service message never (recorded as failed).

A failure of one recipient (unfollowed, refused, window closed, an errcode the bridge
does not know...) is its outcome, and the send goes on; a failure that would hit every
recipient (a bad template, the account's credentials or quota, WeChat down) stops the
send: retriable ones are raised for the job to retry (what was sent is recorded), the
others are kept in :attr:`Sender.fatal` for the request's error. Which is which is
WeChat's table :data:`connector.wechat.errors.SCOPES`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from redis import Redis

from connector.errors import BridgeError, FatalError, RetriableError
from connector.messaging import quotas, windows
from connector.messaging.rules import (
    MessageRequest,
    Outcome,
    Recipient,
    error_outcome,
    interrupted,
    mass_batches,
    mass_client_msg_id,
    quota_skips,
    single_mass_skip,
    template_client_msg_id,
    window_skip,
)
from connector.messaging.sent_log import (
    SendRef,
    SentLog,
    State,
    remember_sends,
    remember_template_send,
)
from connector.wechat import WeChatGateway
from connector.wechat.errors import RECIPIENT, is_unknown_errcode, scope_of

log = logging.getLogger(__name__)

TEMPLATE_DEDUPE_SECONDS = 600  # WeChat keeps a template's client_msg_id for 10 minutes
# An errcode the bridge does not know fails one recipient (see scope_of); answered to
# this many recipients in a row with nothing sent between, it is the account's, and the
# send stops rather than spend a call (and the API quota) on every follower left.
UNKNOWN_IN_A_ROW = 20


class Sender:
    """Sends ``request`` through ``wechat`` (the sending account's gateway).

    ``account`` is the sending account's original id (quotas, windows and the msg id map
    are kept under it), ``account_type`` its quota rule, ``clock`` the time source.
    """

    def __init__(self, request: MessageRequest, wechat: WeChatGateway, redis: Redis,
                 sent_log: SentLog,
                 *, account: str, account_type: quotas.AccountType,
                 clock: Callable[[], float]) -> None:
        self.request, self.wechat, self.redis, self.log = request, wechat, redis, sent_log
        self.account, self.account_type, self.clock = account, account_type, clock
        self.outcomes: list[Outcome] = []
        self.fatal: FatalError | None = None
        self._unknown: tuple[str | None, int] = (None, 0)  # errcode, recipients in a row
        self._media_id: str | None = None  # the request's uploaded image (customer service)

    def send(self, fresh: list[Recipient], stale: dict[str, State],
             by_openid: dict[str, Recipient]) -> list[Outcome]:
        """Send to ``fresh`` recipients and resolve the ``stale`` claims (OpenID → the
        claim, for recipients in ``by_openid``). Outcomes so far are in
        :attr:`outcomes` even when this raises.

        Raises:
            RetriableError: WeChat (or Redis) failed for everyone; the job retries.
        """
        channel = self.request.channel
        if channel == "mass":
            self._recover_mass(stale, by_openid)
            self._mass(fresh)
        else:
            for openid, state in stale.items():
                recipient = by_openid[openid]
                age = self.clock() - state.at
                if channel == "template" and age < TEMPLATE_DEDUPE_SECONDS:
                    self._one(recipient, claimed=True)
                else:
                    self._finish(recipient, interrupted(recipient, channel))
            for recipient in fresh:
                if self.fatal is not None:
                    break
                self._one(recipient, claimed=False)
        return self.outcomes

    # -- one by one: template and customer-service messages ----------------------------

    def _one(self, recipient: Recipient, *, claimed: bool) -> None:
        if self.fatal is not None:
            return
        openid = str(recipient.openid)
        if not claimed and not self.log.claim([openid], self.request.channel, self.clock()):
            return  # another run has it
        if self.request.channel == "customer_service":
            spent = windows.spend(self.redis, recipient.account or self.account, openid,
                                  self.clock())
            if not spent.granted:
                self.log.release([openid])
                self.outcomes.append(window_skip(recipient, spent))
                return
        try:
            msg_id = self._send_one(openid)
        except RetriableError:
            self.log.release([openid])
            raise
        except BridgeError as error:
            self.log.release([openid])  # WeChat sent nothing: a later run may try again
            self.outcomes.append(error_outcome(recipient, error))
            if scope_of(error) != RECIPIENT:  # the next recipient would meet it too
                self.fatal = _as_fatal(error)
            else:
                self._count_unknown(error)
            return
        self._unknown = (None, 0)
        now = self.clock()
        self.log.record({openid: State("sent", now, msg_id)})
        if msg_id:  # a template's: its job-finish report is matched by msg id and OpenID
            remember_template_send(self.redis, self.account, msg_id, openid,
                                   self.request.id)
        self.outcomes.append(Outcome(recipient, "sent", msg_id=msg_id, sent_at=now))

    def _count_unknown(self, error: BridgeError) -> None:
        """Stop the send when an unknown errcode hits :data:`UNKNOWN_IN_A_ROW`
        recipients in a row."""
        if not is_unknown_errcode(error):
            self._unknown = (None, 0)
            return
        code, count = self._unknown
        count = count + 1 if code == error.code else 1
        self._unknown = (error.code, count)
        if count >= UNKNOWN_IN_A_ROW:
            self.fatal = FatalError(
                f"WeChat answered errcode {error.code}, which the bridge does not know, "
                f"to {count} recipients in a row and sent nothing between: the send "
                f"stopped (the account's failure, not theirs?). Last: {error.message}",
                system=error.system, status=error.status, code=error.code,
                request_id=error.request_id)

    def _send_one(self, openid: str) -> str | None:
        request = self.request
        if request.channel == "template":
            return self.wechat.send_template(
                openid, str(request.template_id), request.data or {}, request.url,
                client_msg_id=template_client_msg_id(request.id, openid))
        self.wechat.send_custom(openid, request.body(self._image_media_id()))
        return None

    def _image_media_id(self) -> str | None:
        """The request's image uploaded as temporary media, once per run (WeChat keeps
        it 3 days, longer than a run; a run again uploads again)."""
        if self.request.image_url is None:
            return None
        if self._media_id is None:
            image = self.wechat.fetch_image(self.request.image_url)
            self._media_id = self.wechat.upload_image(image)
        return self._media_id

    def _finish(self, recipient: Recipient, outcome: Outcome) -> None:
        openid = str(recipient.openid)
        self.log.record({openid: State(outcome.status, self.clock(), reason=outcome.reason)})
        self.outcomes.append(outcome)

    # -- mass messages -----------------------------------------------------------------

    def _mass(self, fresh: list[Recipient]) -> None:
        openids = [str(r.openid) for r in fresh]
        reservation = quotas.reserve(self.redis, self.account, self.account_type, openids,
                                     self.clock())
        self.outcomes += quota_skips(fresh, reservation.denied,
                                     quotas.describe_limit(self.account_type))
        allowed = reservation.allowed
        by_openid = {str(r.openid): r for r in fresh}
        if len(allowed) == 1:
            quotas.release(self.redis, reservation)
            self.outcomes.append(single_mass_skip(by_openid[allowed[0]]))
            return
        batches = mass_batches(allowed)
        for i, batch in enumerate(batches):
            client_msg_id = mass_client_msg_id(self.request.id, batch)
            claimed = self.log.claim(batch, "mass", self.clock(), msg_id=client_msg_id)
            taken = [o for o in batch if o not in set(claimed)]
            if taken:  # another run holds them: give their quota back
                quotas.release(self.redis, reservation, taken)
            if not claimed:
                continue
            left = [o for b in batches[i + 1:] for o in b]
            try:
                self._mass_batch(claimed, client_msg_id, by_openid)
            except RetriableError:
                # Nothing of this batch went out, nor will the rest now.
                quotas.release(self.redis, reservation, claimed + left)
                self.log.release(claimed)
                raise
            if self.fatal is not None:  # refused: nothing of this batch went out
                quotas.release(self.redis, reservation, claimed + left)
                return

    def _recover_mass(self, stale: dict[str, State], by_openid: dict[str, Recipient]) -> None:
        """Resend a dead run's claimed batches with their own ``clientmsgid``: WeChat
        answers 45065 (with the first job's msg id) for a batch that went out. Their
        quota was taken when they were claimed."""
        batches: dict[str, list[str]] = {}
        for openid, state in stale.items():
            batches.setdefault(state.msg_id or "", []).append(openid)
        for client_msg_id, openids in batches.items():
            if self.fatal is not None:
                return
            if not client_msg_id or len(openids) < 2:
                for openid in openids:
                    self._finish(by_openid[openid], interrupted(by_openid[openid], "mass"))
                continue
            self._mass_batch(openids, client_msg_id, by_openid)

    def _mass_batch(self, openids: list[str], client_msg_id: str,
                    by_openid: dict[str, Recipient]) -> None:
        """One ``message/mass/send`` to claimed ``openids``.

        Raises:
            RetriableError: the whole call failed and may succeed later.
        """
        try:
            sent = self.wechat.send_mass(openids, self.request.body(),
                                         client_msg_id=client_msg_id)
        except RetriableError:
            raise
        except BridgeError as error:  # refused as a whole: no later batch would pass
            self.log.release(openids)
            self.fatal = _as_fatal(error)
            self.outcomes += [error_outcome(by_openid[o], error) for o in openids]
            return
        now = self.clock()
        if sent.duplicate:
            log.info("mass batch %s of %s had been sent (msg_id %s)", client_msg_id,
                     self.request.id, sent.msg_id)
        self.log.record({o: State("sent", now, sent.msg_id) for o in openids})
        remember_sends(self.redis, self.account, {sent.msg_id: SendRef(
            self.request.id, tuple(openids), "mass")})
        self.outcomes += [Outcome(by_openid[o], "sent", msg_id=sent.msg_id, sent_at=now)
                          for o in openids]


def _as_fatal(error: BridgeError) -> FatalError:
    """``error`` as the request's fatal error (a refusal that stops the send)."""
    if isinstance(error, FatalError):
        return error
    return FatalError(error.message, system=error.system, status=error.status,
                      code=error.code, request_id=error.request_id)
