"""The WeChat side of the bridge: the only package that imports wechatpy.

``from connector.wechat import WeChatGateway`` gives the API client (profiles, tags, the
shared access token), ``WeChatAccounts`` one per Official Account served; errors are the
bridge's own (:mod:`connector.errors`).
"""

from connector.wechat.account_gateways import UnknownAccount, WeChatAccounts
from connector.wechat.errors import TOKEN_ERRCODES, classify, classify_http, request_id
from connector.wechat.gateway import BATCH_SIZE, WeChatGateway
from connector.wechat.token import TokenCache

__all__ = [
    "BATCH_SIZE",
    "TOKEN_ERRCODES",
    "TokenCache",
    "UnknownAccount",
    "WeChatAccounts",
    "WeChatGateway",
    "classify",
    "classify_http",
    "request_id",
]

# Push crypto and parsing (connector/wechat/crypto.py, messages.py).
from connector.wechat.crypto import (  # noqa: E402
    AppIdMismatchError,
    DecryptError,
    PushCipher,
    check_signature,
    signature_of,
)
from connector.wechat.pushes import (  # noqa: E402
    MalformedPushError,
    Message,
    parse_fields,
    parse_push,
)

__all__ += [
    "AppIdMismatchError",
    "DecryptError",
    "MalformedPushError",
    "Message",
    "PushCipher",
    "check_signature",
    "parse_fields",
    "parse_push",
    "signature_of",
]
