"""The WeChat half of the preflight, per Official Account: the credentials and this
server's IP (the account's whitelist), and the callback URL's answer to a signed GET."""

from __future__ import annotations

from connector.doctor.report import Check
from connector.errors import BridgeError
from connector.settings.accounts import WeChatAccount
from connector.wechat import WeChatGateway
from connector.wechat.callback_probe import probe_callback

CALLBACK_PATH = "/wechat/callback"


def _section(account: WeChatAccount) -> str:
    return f"WeChat {account.original_id or account.app_id}"


def credentials(gateway: WeChatGateway, account: WeChatAccount) -> Check:
    """A stable-token request: AppID, AppSecret and the IP whitelist (40164) at once."""
    try:
        gateway.check_credentials()
    except BridgeError as error:
        return Check(_section(account), "token", "fail", error.message)
    return Check(_section(account), "token", "ok", f"AppID {account.app_id} and its "
                 "AppSecret accepted; this server's IP is on the account's whitelist")


def callback(account: WeChatAccount, public_url: str | None) -> Check:
    """What WeChat's server-URL check would see at ``public_url``."""
    if not public_url:
        return Check(_section(account), "server URL", "skip", "pass --url https://<your "
                     "app> to check the URL WeChat pushes to")
    url = public_url.rstrip("/") + CALLBACK_PATH
    answer = probe_callback(url, account.token.get_secret_value())
    fix = "" if answer.ok else ("\nWeChat will refuse this server URL: set it under "
                                "Settings and development > Basic configuration > Server "
                                "configuration once the web process answers there")
    return Check(_section(account), "server URL", "ok" if answer.ok else "fail",
                 f"{url}: {answer.detail}{fix}")


def check_account(gateway: WeChatGateway, account: WeChatAccount,
                  public_url: str | None) -> list[Check]:
    return [credentials(gateway, account), callback(account, public_url)]
