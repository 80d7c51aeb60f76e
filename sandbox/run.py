"""Start both emulators and describe them as the config vars that point a bridge at them.

``connector sandbox --env-file PATH`` uses this; so do the demo and the integration
tests. Credentials are made fresh each start: an RSA key pair for the JWT bearer flow
(the Salesforce emulator verifies assertions with the public half), a WeChat app id,
secret, token and EncodingAESKey — per account: ``accounts=2`` starts a second WeChat
emulator (its own app, followers and original id) described in ``WECHAT_ACCOUNTS``.
"""

from __future__ import annotations

import base64
import json
import re
import secrets
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from sandbox.salesforce import SalesforceSandbox
from sandbox.server import RunningServer, serve
from sandbox.tls import SandboxTLS
from sandbox.wechat import Population, WeChatSandbox

API_VERSION = "62.0"


@dataclass
class RunningSandbox:
    """Both emulators, serving; ``env`` holds the config vars for a bridge."""

    salesforce: SalesforceSandbox
    wechat: WeChatSandbox
    population: Population
    servers: list[RunningServer]
    tls: SandboxTLS
    env: dict[str, str] = field(default_factory=dict)
    # The additional accounts' emulators (``WECHAT_ACCOUNTS``, in order), after ``wechat``.
    more_wechat: list[WeChatSandbox] = field(default_factory=list)

    @property
    def salesforce_url(self) -> str:
        return self.servers[0].url

    @property
    def wechat_url(self) -> str:
        return self.servers[1].url

    def write_env(self, path: Path) -> None:
        """Write ``KEY=VALUE`` lines; only ``WECHAT_ACCOUNTS`` (JSON) needs quoting, in
        single quotes (read alike by a shell's ``. file`` and python-dotenv)."""
        lines = [f"{key}={value}" if _PLAIN.fullmatch(value) else f"{key}='{value}'"
                 for key, value in self.env.items()]
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        path.chmod(0o600)  # it holds a private key and secrets

    def stop(self) -> None:
        self.salesforce.outbound.close()
        for server in self.servers:
            server.stop()


# OpenIDs per page of user/get and user/tag/get in the tests and the demo: WeChat's page
# is 10,000, which a test's population never fills, so a client that took a short page
# for the last one would go unnoticed (sandbox/wechat/routes_users.py).
LIST_PAGE = 10

_PLAIN = re.compile(r"[A-Za-z0-9_./:+=@-]*")


def _wechat_account(population: Population, *, tls: SandboxTLS, host: str, list_page: int,
                    ) -> tuple[WeChatSandbox, RunningServer, dict[str, str]]:
    """One more Official Account's emulator, serving, and its ``WECHAT_ACCOUNTS`` entry."""
    app_secret = secrets.token_hex(16)
    wechat = WeChatSandbox(app_id="wx" + secrets.token_hex(8), app_secret=app_secret,
                           population=population, original_id="gh_" + secrets.token_hex(6),
                           list_page=list_page)
    server = serve(wechat.app, tls=tls, host=host, port=0)
    entry = {"original_id": wechat.original_id, "app_id": wechat.app_id,
             "app_secret": app_secret, "token": secrets.token_hex(16),
             "encoding_aes_key": base64.b64encode(secrets.token_bytes(32)).decode()[:43],
             "api_base_url": server.url + "/"}
    return wechat, server, entry


def _private_key_pem() -> tuple[str, str]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    public = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode()
    return private, public


def start_sandbox(directory: Path | None = None, *, followers: int = 200, seed: int = 7,
                  host: str = "127.0.0.1", salesforce_port: int = 0,
                  wechat_port: int = 0, accounts: int = 1,
                  list_page: int = LIST_PAGE, org_kind: str = "production") -> RunningSandbox:
    """Start the Salesforce and WeChat emulators over HTTPS on ``host``.

    ``accounts`` > 1: that many Official Accounts, each its own WeChat emulator (on a
    free port; ``followers`` people each, from seeds ``seed + 1``...); all but the first
    go into ``env["WECHAT_ACCOUNTS"]`` and ``more_wechat``. ``list_page``: OpenIDs per
    page of the follower and tag lists (small, so the bridge's paging is exercised).
    ``org_kind``: the kind of org the Salesforce emulator plays (production, sandbox,
    scratch), which decides the JWT audience it takes (``env["SALESFORCE_JWT_AUDIENCE"]``).
    """
    directory = Path(directory or tempfile.mkdtemp(prefix="bridge-sandbox-"))
    tls = SandboxTLS.create(directory / "tls")
    private_pem, public_pem = _private_key_pem()
    client_id = "3MVG9sandbox" + secrets.token_hex(12)
    username = "integration@bridge.sandbox"
    salesforce = SalesforceSandbox(client_id=client_id, username=username,
                                   public_key_pem=public_pem, org_kind=org_kind)
    app_id = "wx" + secrets.token_hex(8)
    app_secret = secrets.token_hex(16)
    population = Population.generate(followers, seed=seed)
    original_id = "gh_" + secrets.token_hex(6)
    wechat = WeChatSandbox(app_id=app_id, app_secret=app_secret, population=population,
                           original_id=original_id, list_page=list_page)
    servers = [
        serve(salesforce.app, tls=tls, host=host, port=salesforce_port),
        serve(wechat.app, tls=tls, host=host, port=wechat_port),
    ]
    salesforce.outbound.instance_url = servers[0].url  # for its Outbound Messages' URLs
    env = {
        "SALESFORCE_LOGIN_URL": servers[0].url,
        "SALESFORCE_CLIENT_ID": client_id,
        "SALESFORCE_USERNAME": username,
        # base64 of the PEM: one line without spaces, so the file works however it is read
        # (a shell's `. file`, python-dotenv, docker --env-file, heroku config:set)
        "SALESFORCE_PRIVATE_KEY": base64.b64encode(private_pem.encode()).decode(),
        "SALESFORCE_API_VERSION": API_VERSION,
        # The emulator's URL is no audience a real org takes: say which one it plays.
        "SALESFORCE_JWT_AUDIENCE": salesforce.auth.audience,
        # The org whose Outbound Messages the bridge accepts (its login's org, too).
        "SALESFORCE_ORG_ID": salesforce.org_id,
        # The secret that ends the Outbound Messages' endpoint URL, and the bearer token
        # of the bridge's /status (as app.json generates them on Heroku).
        "SALESFORCE_OUTBOUND_SECRET": secrets.token_hex(32),
        "ADMIN_TOKEN": secrets.token_hex(32),
        "WECHAT_APP_ID": app_id,
        "WECHAT_APP_SECRET": app_secret,
        "WECHAT_TOKEN": secrets.token_hex(16),
        "WECHAT_ENCODING_AES_KEY": base64.b64encode(secrets.token_bytes(32)).decode()[:43],
        "WECHAT_ORIGINAL_ID": original_id,
        "WECHAT_API_BASE_URL": servers[1].url + "/",
        # QR code images (showqrcode), which WeChat serves from mp.weixin.qq.com.
        "WECHAT_QR_IMAGE_BASE_URL": servers[1].url + "/",
        # Both emulators present a certificate from the sandbox's own CA.
        "REQUESTS_CA_BUNDLE": str(tls.bundle_file),
    }
    more = [_wechat_account(Population.generate(followers, seed=seed + i), tls=tls, host=host,
                            list_page=list_page) for i in range(1, accounts)]
    servers += [server for _, server, _ in more]
    if more:
        env["WECHAT_ACCOUNTS"] = json.dumps([entry for _, _, entry in more],
                                            separators=(",", ":"))
    return RunningSandbox(salesforce=salesforce, wechat=wechat, population=population,
                          servers=servers, tls=tls, env=env,
                          more_wechat=[box for box, _, _ in more])
