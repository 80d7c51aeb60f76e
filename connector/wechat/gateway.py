"""The WeChat API, behind verbs the bridge owns (wechatpy stays inside this package).

:class:`WeChatGateway` wraps ``wechatpy.WeChatClient`` with the policies the bridge needs
and wechatpy 1.8.18 lacks:

- the access token comes from :class:`~connector.wechat.token.TokenCache` (Redis, shared
  by every process, fetched with ``/cgi-bin/stable_token``); wechatpy's own fetch
  (``/cgi-bin/token``, which invalidates other processes' tokens) and its auto-retry are
  never used;
- short retries within the call (:mod:`connector.wechat.retrying`): a rejected token
  (40001/40014/42001) is replaced once and the call retried at once; "system busy" (-1),
  and on calls safe to repeat a lost answer or a 5xx, after short jittered waits;
- every call has a timeout (``WECHAT_TIMEOUT``) and goes to ``WECHAT_API_BASE_URL``;
- every failure becomes a :class:`~connector.errors.BridgeError` (see
  :mod:`connector.wechat.errors`);
- profiles and tag names are cached in Redis, so a burst of scans costs few calls.

A new verb is one method: ``self._call(lambda client: client.<api>.<method>(...))``
plus whatever caching it needs.
"""

from __future__ import annotations

import functools
import json
import logging
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any, ParamSpec, TypeVar
from urllib.parse import urlsplit

import redis
import requests
from wechatpy import WeChatClient
from wechatpy.exceptions import WeChatClientException

from connector.chunks import chunks
from connector.errors import BridgeError, FatalError, RetriableError, SkippableError
from connector.follower import Follower
from connector.in_call import AttemptFailed, Pacing, run
from connector.metrics import record_call
from connector.settings import Settings
from connector.settings.accounts import WeChatAccount
from connector.wechat.errors import classify, classify_http, is_token_error, transport_error
from connector.wechat.follower_writes import FollowerWriteVerbs
from connector.wechat.media import MediaVerbs
from connector.wechat.menus import MenuVerbs
from connector.wechat.qrcodes import QrCodeVerbs
from connector.wechat.quota_checks import QuotaVerbs
from connector.wechat.retrying import Failure, decide, request_failure, token_failure
from connector.wechat.sends import MessageVerbs
from connector.wechat.token import TokenCache
from connector.wechat_quotas import cgi_path
from connector.wechat_quotas import count as count_quota

log = logging.getLogger(__name__)

T = TypeVar("T")
P = ParamSpec("P")

BATCH_SIZE = 100  # user/info/batchget accepts at most 100 openids


class _Client(WeChatClient):
    """wechatpy's client, with the token of the call in progress supplied by the gateway."""

    def __init__(self, app_id: str, *, base_url: str, timeout: float,
                 http: requests.Session, token: Callable[[], str]) -> None:
        # No secret: this client never fetches tokens itself.
        super().__init__(app_id, None, timeout=timeout, auto_retry=False)
        # wechatpy joins API_BASE_URL + "user/info"; an instance attribute overrides the
        # class constant for every endpoint API that does not set its own base.
        self.API_BASE_URL = f"{base_url}cgi-bin/"
        self._http = http
        self._token = token

    @property
    def access_token(self) -> str:
        return self._token()

    def fetch_access_token(self):  # pragma: no cover - guard against wechatpy paths
        raise RuntimeError("tokens come from the gateway's TokenCache, never /cgi-bin/token")


def _redis_guarded(verb: Callable[P, T]) -> Callable[P, T]:
    """Let a verb's Redis failures out as RetriableError, like every other failure."""

    @functools.wraps(verb)
    def guarded(*args: P.args, **kwargs: P.kwargs) -> T:
        try:
            return verb(*args, **kwargs)
        except redis.RedisError as exc:
            raise RetriableError(f"Redis is unavailable ({type(exc).__name__})",
                                 system="redis", code=type(exc).__name__) from None

    return guarded


def _errcode(response: requests.Response) -> int | None:
    """The non-zero ``errcode`` of a JSON answer that refuses (WeChat answers 200 with
    it: 45009 a spent daily quota, 45011 the per-minute one), else None. Only an answer
    that says it is JSON and under 64 KiB is read (never a streamed download, which its
    reader consumes)."""
    kind = response.headers.get("content-type", "")
    size = response.headers.get("content-length", "")
    if "json" not in kind or not size.isdigit() or int(size) > 65536:
        return None
    try:
        errcode = json.loads(response.content).get("errcode")
    except (ValueError, AttributeError):
        return None
    return errcode if isinstance(errcode, int) and errcode != 0 else None


def _answer_failure(exc: WeChatClientException) -> Failure:
    if exc.errcode is None:  # an HTTP error status
        status = exc.response.status_code if exc.response is not None else None
        return Failure("answered", status=status)
    return Failure("answered", errcode=int(exc.errcode))


def _retry_after(response: requests.Response | None) -> float | None:
    value = response.headers.get("Retry-After") if response is not None else None
    try:
        return float(value) if value else None
    except ValueError:
        return None


class WeChatGateway(QrCodeVerbs, FollowerWriteVerbs, MessageVerbs, MenuVerbs, MediaVerbs,
                    QuotaVerbs):
    """The bridge's verbs on the WeChat Official Account API.

    Args:
        settings: ``WECHAT_APP_ID``, ``WECHAT_APP_SECRET``, ``WECHAT_API_BASE_URL`` and
            ``WECHAT_TIMEOUT`` are used.
        redis: shared by all processes: the access token, profiles and tag names live there.
        account: another account's app id, secret and base URL instead of the primary's
            ``WECHAT_*`` ones (see :class:`~connector.wechat.account_gateways.WeChatAccounts`);
            Redis keys are per app id, so accounts never share tokens or profiles.
        session: the HTTP session (default: a new one); the token fetch uses it too.
        profile_ttl: seconds a fetched profile is served from Redis.
        tags_ttl: seconds the tag names are served from Redis.
        pacing: the in-call retries' bounds and jitter (see :mod:`connector.in_call`).

    The verbs that write (QR codes, remarks and tags, messages) are in mixins:
    :mod:`connector.wechat.qrcodes`, :mod:`connector.wechat.follower_writes`,
    :mod:`connector.wechat.sends`, :mod:`connector.wechat.media`; the custom menu in
    :mod:`connector.wechat.menus`.

    Every verb raises only :class:`~connector.errors.BridgeError` subclasses (a Redis
    outage too: :class:`RetriableError` with ``system="redis"``).
    ``api_calls`` counts the HTTP requests made to WeChat (token fetches included).
    """

    def __init__(self, settings: Settings, redis: redis.Redis, *,
                 account: WeChatAccount | None = None,
                 session: requests.Session | None = None, profile_ttl: int = 600,
                 tags_ttl: int = 600, clock: Callable[[], float] = time.time,
                 pacing: Pacing | None = None) -> None:
        if account is None:
            self._app_id = settings.WECHAT_APP_ID
            self._secret = settings.WECHAT_APP_SECRET
            self._base_url = settings.WECHAT_API_BASE_URL
        else:
            self._app_id, self._secret = account.app_id, account.app_secret
            self._base_url = account.api_base_url
        self._timeout = settings.WECHAT_TIMEOUT
        self._qr_image_base = settings.WECHAT_QR_IMAGE_BASE_URL  # see QrCodeVerbs
        self._redis = redis
        self._http = session or requests.Session()
        # every answer is counted for /metrics and /readyz (connector/metrics.py)
        self._http.hooks["response"].append(self._answered)
        self._profile_ttl = profile_ttl
        self._tags_ttl = tags_ttl
        self._clock = clock
        self._pacing = pacing or Pacing()
        self._local = threading.local()  # the token of the call in progress, per thread
        self._count_lock = threading.Lock()
        self._api_calls = 0
        self._client = _Client(self._app_id, base_url=self._base_url, timeout=self._timeout,
                               http=self._http, token=self._current_token)
        # The lock outlives two token fetches (plain, then forced); waiters give up after
        # the same time, by when the holder has stored a token or died.
        lock_seconds = 2 * self._timeout + 1
        self._tokens = TokenCache(redis, self._app_id, self._fetch_token,
                                  lock_seconds=lock_seconds, wait_seconds=lock_seconds)

    @property
    def api_calls(self) -> int:
        """HTTP requests made to WeChat by this gateway so far."""
        return self._api_calls

    # -- verbs ---------------------------------------------------------------------------

    @_redis_guarded
    def access_token(self) -> str:
        """The shared access token (from Redis, or fetched once for all processes).

        Raises:
            RetriableError: network trouble, or another process's refresh took too long.
            ConfigurationError: WeChat rejected the AppID, AppSecret or this server's IP.
        """
        return self._tokens.get()

    def check_credentials(self) -> None:
        """Ask WeChat for the stable token, past the shared cache, to prove that the AppID,
        the AppSecret and this server's IP (the account's whitelist) are accepted now.
        Harmless for running processes: without ``force_refresh`` every caller gets the
        same stable token, so nothing is replaced.

        Raises:
            ConfigurationError: WeChat refused the AppID, AppSecret or IP (40164).
            RetriableError: network trouble or WeChat busy.
        """
        self._fetch_token(force_refresh=False)

    @_redis_guarded
    def get_profile(self, openid: str) -> Follower:
        """One follower's profile (``user/info``), served from Redis when fresh.

        Raises:
            SkippableError: WeChat does not know ``openid`` (40003).
            RetriableError: network trouble, WeChat busy or a quota hit (RateLimitedError).
            FatalError: configuration problems and errors the bridge does not know.
        """
        data = self._cached_profiles([openid]).get(openid)
        if data is None:
            data = self._call(lambda client: client.user.get(openid), repeatable=True)
            self._store_profiles({openid: data})
        return self._followers({openid: data})[openid]

    @_redis_guarded
    def get_profiles(self, openids: Iterable[str]) -> dict[str, Follower]:
        """Profiles of many followers: cached ones from Redis, the rest by ``batchget``.

        Missing profiles are fetched 100 at a time. An openid WeChat rejects as invalid is
        left out of the result (the batch holding it is split until it is isolated), so one
        bad openid never costs the others their profiles.

        Raises:
            RetriableError, FatalError: as :meth:`get_profile`, for the whole call.
        """
        wanted = list(dict.fromkeys(openids))
        raw = self._cached_profiles(wanted)
        missing = [openid for openid in wanted if openid not in raw]
        for batch in chunks(missing, BATCH_SIZE):
            fetched = self._batchget(batch)
            self._store_profiles(fetched)
            raw.update(fetched)
        return self._followers({openid: raw[openid] for openid in wanted if openid in raw})

    def follower_page(self, after: str | None = None) -> tuple[int, list[str], str]:
        """One page of the account's followers (``user/get``, up to 10,000 OpenIDs, in
        follow order): ``(total, openids, next_openid)``. The page after the last one is
        empty, with ``next_openid`` "".

        Raises:
            RateLimitedError: the daily quota of ``user/get`` is spent (45009).
            RetriableError, FatalError: as :meth:`get_profile`.
        """
        data = self._call(lambda client: client.user.get_followers(after or None),
                          repeatable=True)
        openids = [str(o) for o in ((data.get("data") or {}).get("openid") or [])]
        return int(data.get("total") or 0), openids, str(data.get("next_openid") or "")

    @_redis_guarded
    def forget(self, *openids: str) -> None:
        """Drop cached profiles (after subscribe/unsubscribe events, remark changes...)."""
        if openids:
            self._redis.delete(*(self._profile_key(openid) for openid in openids))

    @_redis_guarded
    def tag_names(self, *, refresh: bool = False) -> dict[int, str]:
        """The account's tags, id to name (``tags/get``), served from Redis when fresh.

        Raises:
            RetriableError, FatalError: as :meth:`get_profile`.
        """
        key = f"wechat:tags:{self._app_id}"
        cached = None if refresh else self._redis.get(key)
        if cached is not None:
            return {int(k): v for k, v in json.loads(cached).items()}
        tags = self._call(lambda client: client.tag.get(), repeatable=True)
        names = {int(tag["id"]): str(tag["name"]) for tag in tags}
        self._redis.set(key, json.dumps(names, ensure_ascii=False), ex=self._tags_ttl)
        return names

    # -- calls ---------------------------------------------------------------------------

    def _call(self, operation: Callable[[WeChatClient], T], *, repeatable: bool = False) -> T:
        """Run one wechatpy call with the shared token, retried within the call as
        :mod:`connector.wechat.retrying` decides (a rejected token is replaced once).

        ``repeatable``: the call is safe to repeat after a lost answer (a read, a remark
        or tag, a send WeChat dedupes). Left False, it is repeated only when WeChat
        certainly did not act on it.

        Raises:
            BridgeError: every failure, translated.
        """
        rejected: list[str] = []  # the token WeChat refused in the last attempt

        def attempt() -> T:
            failed: AttemptFailed | None = None
            try:
                token = self._tokens.replace(rejected.pop()) if rejected else self._tokens.get()
            except BridgeError as exc:
                failed = AttemptFailed(exc, token_failure(exc))
            if failed is not None:
                raise failed
            self._local.token = token
            self._count()
            try:
                return self._checked(operation(self._client))
            except WeChatClientException as exc:
                if is_token_error(exc.errcode):
                    rejected.append(token)
                failed = AttemptFailed(self._translate(exc), _answer_failure(exc))
            except requests.RequestException as exc:
                failed = AttemptFailed(transport_error(exc), request_failure(exc))
            except RetriableError as exc:  # an answer that is not JSON (_checked)
                failed = AttemptFailed(exc, Failure("lost"))
            except (KeyError, TypeError) as exc:  # a result_processor met an odd body
                failed = AttemptFailed(FatalError(f"WeChat's answer lacks an expected field "
                                                  f"({exc})", system="wechat",
                                                  code="MALFORMED"), Failure("final"))
            finally:
                self._local.token = None
            # Raised outside the except blocks, so no wechatpy/requests exception rides
            # along as __context__: theirs hold the URL (with the token) and the response.
            raise failed

        return run(attempt, decide=functools.partial(decide, repeatable=repeatable),
                   what=f"wechat {self._app_id}", log=log, pacing=self._pacing)

    def _fetch_token(self, force_refresh: bool) -> tuple[str, int]:
        """``POST /cgi-bin/stable_token``: the token every caller shares.

        Raises:
            BridgeError: every failure, translated.
        """
        body = {"grant_type": "client_credential", "appid": self._app_id,
                "secret": self._secret.get_secret_value(), "force_refresh": force_refresh}
        self._count()
        error: BridgeError | None = None
        try:
            data = self._checked(self._post(f"{self._base_url}cgi-bin/stable_token", body))
        except WeChatClientException as exc:
            error = self._translate(exc)
        except requests.RequestException as exc:
            error = transport_error(exc)
        if error is not None:
            raise error
        token = data.get("access_token") if isinstance(data, dict) else None
        if not isinstance(token, str) or not token:
            raise FatalError("WeChat's stable_token answer has no access_token",
                             system="wechat", code="MALFORMED")
        return token, int(data.get("expires_in") or 7200)

    def _post(self, url: str, body: dict[str, Any]) -> Any:
        """POST JSON outside wechatpy's token handling; the answer as wechatpy decodes it.

        Raises:
            WeChatClientException: an HTTP error status, or a non-zero errcode.
            requests.RequestException: the request could not be completed.
        """
        response = self._http.post(url, json=body, timeout=self._timeout)
        if response.status_code >= 400:
            raise WeChatClientException(None, None, response=response)
        # wechatpy's own answer handling: errcode -> WeChatClientException, no retries.
        return self._client._handle_result(response)

    def _current_token(self) -> str:
        token = getattr(self._local, "token", None)
        if token is None:
            raise RuntimeError("wechatpy called outside WeChatGateway._call")
        return token

    def _answered(self, response: requests.Response, *args: Any, **kwargs: Any) -> None:
        """requests' response hook: count the call by its API path (no query string: it
        holds the access token) for ``/metrics``, and an answered one against the API's
        daily quota (:mod:`connector.wechat_quotas`), in one round trip."""
        path = urlsplit(response.url).path
        verb = path.split("/cgi-bin/", 1)[1] if "/cgi-bin/" in path else path.strip("/")
        method = response.request.method if response.request is not None else "GET"
        errcode = _errcode(response)
        # the API's own calls only (not QR images, which another host serves unmetered)
        api = (cgi_path(path) if response.status_code < 400
               and response.url.startswith(self._base_url) else None)
        record_call(self._redis, "wechat", f"{method} {verb}", response.status_code,
                    f"errcode_{errcode}" if errcode is not None else None,
                    also=None if api is None else lambda pipe: count_quota(
                        pipe, self._app_id, api, errcode, self._clock()))

    def _count(self) -> None:
        with self._count_lock:
            self._api_calls += 1

    def _translate(self, exc: WeChatClientException) -> BridgeError:
        if exc.errcode is None:  # an HTTP error status, raised by wechatpy or by us
            response = exc.response
            status = response.status_code if response is not None else 502
            return classify_http(status, retry_after=_retry_after(response))
        return classify(int(exc.errcode), exc.errmsg, now=self._clock())

    @staticmethod
    def _checked(result: T) -> T:
        # wechatpy hands back the Response itself when the body is not JSON (a proxy's
        # HTML error page, a truncated answer): transient, as far as we can tell.
        if isinstance(result, requests.Response):
            raise RetriableError("WeChat's answer was not JSON", system="wechat",
                                 status=result.status_code, code="MALFORMED")
        return result

    # -- profiles --------------------------------------------------------------------------

    def _batchget(self, openids: list[str]) -> dict[str, dict[str, Any]]:
        try:
            items = self._call(lambda client: client.user.get_batch(openids), repeatable=True)
        except SkippableError as err:
            if len(openids) == 1:
                log.warning("WeChat rejected openid %s: %s", openids[0], err)
                return {}
            half = len(openids) // 2
            return {**self._batchget(openids[:half]), **self._batchget(openids[half:])}
        return {item["openid"]: item for item in items if item.get("openid")}

    def _followers(self, raw: dict[str, dict[str, Any]]) -> dict[str, Follower]:
        # Tag names cost a call (cached), so only when some follower carries tags.
        tagged = any(data.get("tagid_list") for data in raw.values())
        names = self.tag_names() if tagged else {}
        return {openid: Follower.from_api(data, names) for openid, data in raw.items()}

    def _profile_key(self, openid: str) -> str:
        return f"wechat:profile:{self._app_id}:{openid}"

    def _cached_profiles(self, openids: list[str]) -> dict[str, dict[str, Any]]:
        if not openids:
            return {}
        values = self._redis.mget([self._profile_key(openid) for openid in openids])
        return {openid: json.loads(value)
                for openid, value in zip(openids, values, strict=True) if value is not None}

    def _store_profiles(self, profiles: dict[str, dict[str, Any]]) -> None:
        if not profiles:
            return
        with self._redis.pipeline(transaction=False) as pipe:
            for openid, data in profiles.items():
                pipe.set(self._profile_key(openid), json.dumps(data, ensure_ascii=False),
                         ex=self._profile_ttl)
            pipe.execute()
