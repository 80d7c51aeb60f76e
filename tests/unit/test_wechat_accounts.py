"""Several Official Accounts: WECHAT_ACCOUNTS is validated like the primary's variables
(each error names the entry and key), and a push is routed to the account that signed it."""

from __future__ import annotations

import base64
import json

import pytest

from connector.settings import SettingsError, load_settings
from sandbox.wechat import CallbackSender, Push
from webhooks.rejections import Rejected
from webhooks.wechat_callback import CallbackConfig, open_push, route

BASE = {"SALESFORCE_CLIENT_ID": "x", "SALESFORCE_CLIENT_SECRET": "s",
        "WECHAT_APP_ID": "wx00000000000000aa", "WECHAT_APP_SECRET": "secretA",
        "WECHAT_TOKEN": "tokenA", "WECHAT_ORIGINAL_ID": "gh_00000000000a",
        "WECHAT_ENCODING_AES_KEY": base64.b64encode(b"A" * 32).decode()[:43]}
B = {"original_id": "gh_00000000000b", "app_id": "wx00000000000000bb", "app_secret": "secretB",
     "token": "tokenB", "encoding_aes_key": base64.b64encode(b"B" * 32).decode()[:43],
     "api_base_url": "https://b.example/"}


def settings(accounts, **overrides):
    raw = accounts if isinstance(accounts, str) else json.dumps(accounts)
    return load_settings(**{**BASE, **overrides}, WECHAT_ACCOUNTS=raw)


@pytest.mark.parametrize(("accounts", "overrides", "needle"), [
    ("[{", {}, "WECHAT_ACCOUNTS: is not valid JSON"),
    ('{"original_id": "gh_00000000000b"}', {}, "WECHAT_ACCOUNTS: must be a JSON array"),
    ([B, "gh_00000000000c"], {}, "WECHAT_ACCOUNTS[1]: must be a JSON object"),
    ([{k: v for k, v in B.items() if k != "token"}], {},
     "WECHAT_ACCOUNTS[0].token: missing; expected the Token set under Settings"),
    ([{**B, "token": "no!"}], {}, "WECHAT_ACCOUNTS[0].token: must be 3 to 32 letters"),
    ([{**B, "app_id": "wx1"}], {}, "WECHAT_ACCOUNTS[0].app_id: must be wx followed by 16"),
    ([{**B, "encoding_aes_key": "short"}], {},
     "WECHAT_ACCOUNTS[0].encoding_aes_key: must be 43 characters"),
    ([{**B, "tokn": "x"}], {}, "WECHAT_ACCOUNTS[0].tokn: unknown key; expected only"),
    ([B, {**B, "app_id": "wx00000000000000cc"}], {},
     "WECHAT_ACCOUNTS[1].original_id: gh_00000000000b is already used by WECHAT_ACCOUNTS[0]"),
    ([{**B, "original_id": BASE["WECHAT_ORIGINAL_ID"]}], {},
     "WECHAT_ACCOUNTS[0].original_id: gh_00000000000a is already used by WECHAT_ORIGINAL_ID"),
    ([{**B, "app_id": BASE["WECHAT_APP_ID"]}], {}, "is already used by WECHAT_APP_ID"),
    ([B], {"WECHAT_ORIGINAL_ID": None}, "WECHAT_ORIGINAL_ID: missing; expected the "
     "account's original id"),
])
def test_each_mistake_names_the_entry_key_and_what_is_expected(accounts, overrides, needle):
    with pytest.raises(SettingsError) as caught:
        settings(accounts, **overrides)
    assert needle in str(caught.value)
    assert "secretB" not in str(caught.value)


def test_accounts_list_the_primary_first_and_keep_secrets_secret():
    primary, other = settings([{**B, "api_base_url": None}]).wechat_accounts()
    assert (primary.original_id, primary.app_id) == ("gh_00000000000a", "wx00000000000000aa")
    assert (other.original_id, other.app_id) == ("gh_00000000000b", "wx00000000000000bb")
    assert other.api_base_url == "https://api.weixin.qq.com/"  # the primary's by default
    assert other.token.get_secret_value() == "tokenB"
    assert "tokenB" not in repr(other) and "secretB" not in repr(other)


def test_without_wechat_accounts_there_is_the_primary_alone():
    alone = load_settings(**{**BASE, "WECHAT_ORIGINAL_ID": None})
    assert [a.app_id for a in alone.wechat_accounts()] == ["wx00000000000000aa"]
    assert alone.wechat_accounts()[0].original_id is None
    assert len(CallbackConfig.all_from_settings(alone)) == 1


def _signed(account: dict, push_to: str, *, mode: str = "safe"):
    sender = CallbackSender("http://unused", token=account["token"], app_id=account["app_id"],
                            original_id=push_to, encoding_aes_key=account["encoding_aes_key"],
                            mode=mode)
    prepared = sender.prepare(Push("oUser", 1700000000, (("MsgType", "text"),
                                                         ("Content", "hi"))))
    sender.close()
    return prepared.query, prepared.body.encode()


A = {"token": BASE["WECHAT_TOKEN"], "app_id": BASE["WECHAT_APP_ID"],
     "encoding_aes_key": BASE["WECHAT_ENCODING_AES_KEY"]}


def test_a_push_is_routed_to_the_account_whose_token_signed_it():
    configs = CallbackConfig.all_from_settings(settings([B]))
    for account, original_id, chosen in ((A, "gh_00000000000a", 0),
                                         (B, "gh_00000000000b", 1)):
        query, body = _signed(account, original_id)
        config = route(configs, query, body)
        assert config is configs[chosen]
        fields, _ = open_push(config, query, body)
        assert fields["ToUserName"] == original_id
    query, body = _signed({**B, "token": "tokenZ"}, "gh_00000000000b")
    with pytest.raises(Rejected) as caught:
        route(configs, query, body)
    assert caught.value.status == 403


def test_without_signature_or_with_a_shared_token_the_envelope_s_to_user_picks():
    configs = CallbackConfig.all_from_settings(settings([{**B, "token": "tokenA"}]))
    query, body = _signed({**B, "token": "tokenA"}, "gh_00000000000b")
    assert route(configs, query, body) is configs[1]  # both tokens verify: ToUserName
    del query["signature"]
    assert route(configs, query, body) is configs[1]  # safe mode, msg_signature decides
    query, body = _signed(A, "gh_00000000000c")
    with pytest.raises(Rejected) as caught:
        route(configs, query, body)
    assert caught.value.status == 403
