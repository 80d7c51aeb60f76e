"""The sandbox's own WeChat crypto against the reference vectors, byte for byte.

Vectors: shared/reference/wechat_vectors.md (V1 Tencent sample, V2 official doc example,
V3 Tencent Java sample, V4 wechatpy 1.8.18 tests, V5 wechatpy signature tests). The
literals below are copies; ``test_vector_copies_are_exact`` checks them by SHA-256.
"""

from __future__ import annotations

import base64
import hashlib
import re

import pytest
from defusedxml import ElementTree

from sandbox.wechat import crypto
from sandbox.wechat.pushes import subscribe
from sandbox.wechat.replies import ReplyError, ReplyReader
from sandbox.wechat.sender import CallbackSender

# V1
V1_TOKEN = 'spamtest'
V1_ENCODING_AES_KEY = 'abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG'
V1_APPID = 'wx2c2769f8efd9abc2'
V1_TIMESTAMP = '1409735669'
V1_NONCE = '1320562132'
V1_MSG_SIGNATURE = '5d197aaffba7e9b25a30732f161a50dee96bd5fa'
V1_FROM_XML = (
    '<xml><ToUserName><![CDATA[gh_10f6c3c3ac5a]]></ToUserName><FromUserName><![CDATA[oy'
    'ORnuP8q7ou2gfYjqLzSIWZf0rs]]></FromUserName><CreateTime>1409735668</CreateTime><Ms'
    'gType><![CDATA[text]]></MsgType><Content><![CDATA[abcdteT]]></Content><MsgId>60547'
    '68590064713728</MsgId><Encrypt><![CDATA[hyzAe4OzmOMbd6TvGdIOO6uBmdJoD0Fk53REIHvxYt'
    'JlE2B655HuD0m8KUePWB3+LrPXo87wzQ1QLvbeUgmBM4x6F8PGHQHFVAFmOD2LdJF9FrXpbUAh0B5GIItb'
    '52sn896wVsMSHGuPE328HnRGBcrS7C41IzDWyWNlZkyyXwon8T332jisa+h6tEDYsVticbSnyU8dKOIbgU'
    '6ux5VTjg3yt+WGzjlpKn6NPhRjpA912xMezR4kw6KWwMrCVKSVCZciVGCgavjIQ6X8tCOp3yZbGpy0VxpA'
    'e+77TszTfRd5RJSVO/HTnifJpXgCSUdUue1v6h0EIBYYI1BD1DlD+C0CR8e6OewpusjZ4uBl9FyJvnhvQl'
    '+q5rv1ixrcpCumEPo5MJSgM9ehVsNPfUM669WuMyVWQLCzpu9GhglF2PE=]]></Encrypt></xml>'
)
V1_AES_KEY_HEX = '69b71d79f8218a39259a7a29aabb2dbafc31cb3d35db7e39ebbf3d0010831051'
V1_DECRYPTED_RANDOM_PREFIX = '89465c840c5f116f'
V1_DECRYPTED_MSG_LEN = 280
V1_CIPHERTEXT_LEN_BYTES = 320
V1_PKCS7_PAD_VALUE = 2
V1_EXPECTED_PLAINTEXT_XML = (
    '<xml><ToUserName><![CDATA[gh_10f6c3c3ac5a]]></ToUserName>\n<FromUserName><![CDATA['
    'oyORnuP8q7ou2gfYjqLzSIWZf0rs]]></FromUserName>\n<CreateTime>1409735668</CreateTime'
    '>\n<MsgType><![CDATA[text]]></MsgType>\n<Content><![CDATA[abcdteT]]></Content>\n<M'
    'sgId>6054768590064713728</MsgId>\n</xml>'
)
V1_TO_XML = (
    ' <xml><ToUserName><![CDATA[oia2TjjewbmiOUlr6X-1crbLOvLw]]></ToUserName><FromUserNa'
    'me><![CDATA[gh_7f083739789a]]></FromUserName><CreateTime>1407743423</CreateTime><M'
    'sgType>  <![CDATA[video]]></MsgType><Video><MediaId><![CDATA[eYJ1MbwPRJtOvIEabaxHs'
    '7TX2D-HV71s79GUxqdUkjm6Gs2Ed1KF3ulAOA9H1xG0]]></MediaId><Title><![CDATA[testCallBa'
    'ckReplyVideo]]></Title><Descript  ion><![CDATA[testCallBackReplyVideo]]></Descript'
    'ion></Video></xml>'
)

# V2a
V2A_TOKEN = 'AAAAA'
V2A_TIMESTAMP = '1714036504'
V2A_NONCE = '1514711492'
V2A_SIGNATURE = 'f464b24fc39322e44b38aa78f5edd27bd1441696'
V2A_ECHOSTR = '4375120948345356249'

# V2b
V2B_TOKEN = 'AAAAA'
V2B_TIMESTAMP = '1714037059'
V2B_NONCE = '486452656'
V2B_SIGNATURE = '899cf89e464efb63f54ddac96b0a0a235f53aa78'

# V2c
V2C_TOKEN = 'AAAAA'
V2C_ENCODING_AES_KEY = 'AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA'
V2C_APPID = 'wxba5fad812f8e6fb9'
V2C_TIMESTAMP = '1714112445'
V2C_NONCE = '415670741'
V2C_SIGNATURE = '6c5c811b55cc85e0e1b54100749188c20beb3f5d'
V2C_MSG_SIGNATURE = '046e02f8204d34f8ba5fa3b1db94908f3df2e9b3'
V2C_ENCRYPT = (
    '+qdx1OKCy+5JPCBFWw70tm0fJGb2Jmeia4FCB7kao+/Q5c/ohsOzQHi8khUOb05JCpj0JB4RvQMkUyus8T'
    'PxLKJGQqcvZqzDpVzazhZv6JsXUnnR8XGT740XgXZUXQ7vJVnAG+tE8NUd4yFyjPy7GgiaviNrlCTj+l5k'
    'dfMuFUPpRSrfMZuMcp3Fn2Pede2IuQrKEYwKSqFIZoNqJ4M8EajAsjLY2km32IIjdf8YL/P50F7mStwntr'
    'A2cPDrM1kb6mOcfBgRtWygb3VIYnSeOBrebufAlr7F9mFUPAJGj04='
)
V2C_EXPECTED_RANDOM = 'a8eedb185eb2fecf'
V2C_EXPECTED_MSG_LEN = 167
V2C_EXPECTED_MSG = (
    '{"ToUserName":"gh_97417a04a28d","FromUserName":"o9AgO5Kd5ggOC-bXrbNODIiE3bGY","Cre'
    'ateTime":1714112445,"MsgType":"event","Event":"debug_demo","debug_str":"hello worl'
    'd"}'
)
V2C_BODY_XML = (
    '<xml><ToUserName><![CDATA[gh_97417a04a28d]]></ToUserName><Encrypt><![CDATA[+qdx1OK'
    'Cy+5JPCBFWw70tm0fJGb2Jmeia4FCB7kao+/Q5c/ohsOzQHi8khUOb05JCpj0JB4RvQMkUyus8TPxLKJGQ'
    'qcvZqzDpVzazhZv6JsXUnnR8XGT740XgXZUXQ7vJVnAG+tE8NUd4yFyjPy7GgiaviNrlCTj+l5kdfMuFUP'
    'pRSrfMZuMcp3Fn2Pede2IuQrKEYwKSqFIZoNqJ4M8EajAsjLY2km32IIjdf8YL/P50F7mStwntrA2cPDrM'
    '1kb6mOcfBgRtWygb3VIYnSeOBrebufAlr7F9mFUPAJGj04=]]></Encrypt></xml>'
)

# V2d
V2D_TOKEN = 'AAAAA'
V2D_ENCODING_AES_KEY = 'AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA'
V2D_REPLY_PLAINTEXT = '{"demo_resp":"good luck"}'
V2D_RANDOM = '707722b803182950'
V2D_APPID = 'wxba5fad812f8e6fb9'
V2D_TIMESTAMP = '1713424427'
V2D_NONCE = '415670741'
V2D_EXPECTED_ENCRYPT = (
    'ELGduP2YcVatjqIS+eZbp80MNLoAUWvzzyJxgGzxZO/5sAvd070Bs6qrLARC9nVHm48Y4hyRbtzve1L32t'
    'mxSQ=='
)
V2D_EXPECTED_MSG_SIGNATURE = '1b9339964ed2e271e7c7b6ff2b0ef902fc94dea1'
V2D_EXPECTED_REPLY_XML_WECHATPY = (
    '<xml>\n<Encrypt><![CDATA[ELGduP2YcVatjqIS+eZbp80MNLoAUWvzzyJxgGzxZO/5sAvd070Bs6qrL'
    'ARC9nVHm48Y4hyRbtzve1L32tmxSQ==]]></Encrypt>\n<MsgSignature><![CDATA[1b9339964ed2e'
    '271e7c7b6ff2b0ef902fc94dea1]]></MsgSignature>\n<TimeStamp>1713424427</TimeStamp>\n'
    '<Nonce><![CDATA[415670741]]></Nonce>\n</xml>'
)

# V3
V3_ENCODINGAESKEY = 'abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG'
V3_TOKEN = 'pamtest'
V3_TIMESTAMP = '1409304348'
V3_NONCE = 'xxxxxx'
V3_APPID = 'wxb11529c136998cb6'
V3_RANDOMSTR = 'aaaabbbbccccdddd'
V3_REPLYMSG = '我是中文abcd123'
V3_AFTERAESENCRYPT = (
    'jn1L23DB+6ELqJ+6bruv21Y6MD7KeIfP82D6gU39rmkgczbWwt5+3bnyg5K55bgVtVzd832WzZGMhkP72v'
    'VOfg=='
)
V3_REPLYMSG2 = (
    '<xml><ToUserName><![CDATA[oia2Tj我是中文jewbmiOUlr6X-1crbLOvLw]]></ToUserName><FromUse'
    'rName><![CDATA[gh_7f083739789a]]></FromUserName><CreateTime>1407743423</CreateTime'
    '><MsgType><![CDATA[video]]></MsgType><Video><MediaId><![CDATA[eYJ1MbwPRJtOvIEabaxH'
    's7TX2D-HV71s79GUxqdUkjm6Gs2Ed1KF3ulAOA9H1xG0]]></MediaId><Title><![CDATA[testCallB'
    'ackReplyVideo]]></Title><Description><![CDATA[testCallBackReplyVideo]]></Descripti'
    'on></Video></xml>'
)
V3_AFTERAESENCRYPT2 = (
    'jn1L23DB+6ELqJ+6bruv23M2GmYfkv0xBh2h+XTBOKVKcgDFHle6gqcZ1cZrk3e1qjPQ1F4RsLWzQRG9ud'
    'bKWesxlkupqcEcW7ZQweImX9+wLMa0GaUzpkycA8+IamDBxn5loLgZpnS7fVAbExOkK5DYHBmv5tptA9tk'
    'lE/fTIILHR8HLXa5nQvFb3tYPKAlHF3rtTeayNf0QuM+UW/wM9enGIDIJHF7CLHiDNAYxr+r+OrJCmPQyT'
    'y8cVWlu9iSvOHPT/77bZqJucQHQ04sq7KZI27OcqpQNSto2OdHCoTccjggX5Z9Mma0nMJBU+jLKJ38YB1f'
    'BIz+vBzsYjrTmFQ44YfeEuZ+xRTQwr92vhA9OxchWVINGC50qE/6lmkwWTwGX9wtQpsJKhP+oS7rvTY8+V'
    'dzETdfakjkwQ5/Xka042OlUb1/slTwo4RscuQ+RdxSGvDahxAJ6+EAjLt9d8igHngxIbf6YyqqROxuxqIe'
    'Ich3CssH/LqRs+iAcILvApYZckqmA7FNERspKA5f8GoJ9sv8xmGvZ9Yrf57cExWtnX8aCMMaBropU/1k+h'
    'KP5LVdzbWCG0hGwx/dQudYR/eXp3P0XxjlFiy+9DMlaFExWUZQDajPkdPrEeOwofJb'
)

# V4
V4_TOKEN = '123456'
V4_ENCODING_AES_KEY = 'kWxPEV2UEDyxWpmPdKC3F4dgPDmOvfKX1HGnEUDS1aR'
V4_RECEIVE_ID = 'wx49f0ab532d5d035a'

# V4a
V4A_MSG_SIGNATURE = 'dd6b9c95b495b3f7e2901bfbc76c664930ffdb96'
V4A_TIMESTAMP = '1411443780'
V4A_NONCE = '437374425'
V4A_ECHO_STR = (
    '4ByGGj+sVCYcvGeQYhaKIk1o0pQRNbRjxybjTGblXrBaXlTXeOo1+bXFXDQQb1o6co6Yh9Bv41n7hOchLF'
    '6p+Q=='
)
V4A_EXPECTED_DECRYPTED_ECHO = '5927782489442352469'

# V4b
V4B_NONCE = '461056294'
V4B_TIMESTAMP = '1411525903'
V4B_RANDOM = '1234567890123456'
V4B_REPLY = (
    '<xml>\n<MsgType><![CDATA[text]]></MsgType>\n<Content><![CDATA[test]]></Content>\n<'
    'FromUserName><![CDATA[wx49f0ab532d5d035a]]></FromUserName>\n<ToUserName><![CDATA[m'
    'essense]]></ToUserName>\n<AgentID>1</AgentID>\n<CreateTime>1411525903</CreateTime>'
    '\n</xml>'
)
V4B_EXPECTED = (
    '<xml>\n<Encrypt><![CDATA[9s4gMv99m88kKTh/H8IdkOiMg6bisoy3ypwy9H4hvSPe9nsGaqyw5hhSj'
    'dYbcrKk+j3nba4HMOTzHrluLBYqxgNcBqGsL8GqxlhZgURnAtObvesEl5nZ+uBE8bviY0LWke8Zy9V/QYK'
    'xNV2FqllNXcfmstttyIkMKCCmVbCFM2JTF5wY0nFhHZSjPUL2Q1qvSUCUld+/WIXrx0oyKQmpB6o8NRrrN'
    'rsDf03oxI1p9FxUgMnwKKZeOA/uu+2IEvEBtb7muXsVbwbgX05UPPJvFurDXafG0RQyPR+mf1nDnAtQmmN'
    'OuiR5MIkdQ39xn1vWwi1O5oazPoQJz0nTYjxxEE8kv3kFxtAGVRe3ypD3WeK2XeFYFMNMpatF9XiKzHo3]'
    ']></Encrypt>\n<MsgSignature><![CDATA[407518b7649e86ef23978113f92d27afa9296533]]></'
    'MsgSignature>\n<TimeStamp>1411525903</TimeStamp>\n<Nonce><![CDATA[461056294]]></No'
    'nce>\n</xml>'
)

# V4c
V4C_XML = (
    '<xml><ToUserName><![CDATA[wx49f0ab532d5d035a]]></ToUserName>\n<Encrypt><![CDATA[Rg'
    'qEoJj5A4EMYlLvWO1F86ioRjZfaex/gePD0gOXTxpsq5Yj4GNglrBb8I2BAJVODGajiFnXBu7mCPatfjsu'
    '6IHCrsTyeDXzF6Bv283dGymzxh6ydJRvZsryDyZbLTE7rhnus50qGPMfp2wASFlzEgMW9z1ef/RD8XzaFY'
    'gm7iTdaXpXaG4+BiYyolBug/gYNx410cvkKR2/nPwBiT+P4hIiOAQqGp/TywZBtDh1yCF2KOd0gpiMZ5jS'
    'w3e29mTvmUHzkVQiMS6td7vXUaWOMZnYZlF3So2SjHnwh4jYFxdgpkHHqIrH/54SNdshoQgWYEvccTKe7F'
    'S709/5t6NMxuGhcUGAPOQipvWTT4dShyqio7mlsl5noTrb++x6En749zCpQVhDpbV6GDnTbcX2e8K9QaNW'
    'Hp91eBdCRxthuL0=]]></Encrypt>\n<AgentID><![CDATA[1]]></AgentID>\n</xml>'
)
V4C_MSG_SIGNATURE = '74d92dfeb87ba7c714f89d98870ae5eb62dff26d'
V4C_TIMESTAMP = '1411525903'
V4C_NONCE = '461056294'
V4C_EXPECTED_PLAINTEXT = (
    '<xml><ToUserName><![CDATA[wx49f0ab532d5d035a]]></ToUserName>\n<FromUserName><![CDA'
    'TA[messense]]></FromUserName>\n<CreateTime>1411525903</CreateTime>\n<MsgType><![CD'
    'ATA[text]]></MsgType>\n<Content><![CDATA[test]]></Content>\n<MsgId>436368996389670'
    '0987</MsgId>\n<AgentID>1</AgentID>\n</xml>'
)

# V5
V5_TOKEN = 'test'
V5_TIMESTAMP = '1410685589'
V5_NONCE = 'test'
V5_SIGNATURE_OK = 'f21891de399b4e33a1a93c9a7b8a8fffb5a443ff'
V5_SIGNATURE_BAD = 'f21891de399b4e33a1a93c9a7b8a8fffb5a443fe'
V5_SIGNER_EXPECTED = 'f7c3bc1d808e04732adf679965ccc34ca7ae3441'


def encrypt_of(xml: str) -> str:
    return re.search(r"<Encrypt><!\[CDATA\[(.*?)\]\]></Encrypt>", xml).group(1)


def element(xml: str, name: str) -> str:
    return re.search(rf"<{name}>(?:<!\[CDATA\[)?(.*?)(?:\]\]>)?</{name}>", xml).group(1)


def test_vector_copies_are_exact():
    def sha(text):
        return hashlib.sha256(text.encode("utf-8")).hexdigest()

    assert sha(V1_FROM_XML) == "05ff9c8440978699d49b5d33c2c9cbc1d213f0683bc69cc48e5d02a5fc382def"
    assert sha(V1_EXPECTED_PLAINTEXT_XML) == (
        "9bcd3b10548815cb0e64c7d2c61906dbf44b15005cbf8961dd60bdc6a2411214")
    assert sha(V4B_EXPECTED) == "1e5b14466e1d469672ef60a995cbb611c0210269bd145a3303544f3d0625486b"


# -- signatures -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("token", "timestamp", "nonce", "expected"),
    [
        (V2A_TOKEN, V2A_TIMESTAMP, V2A_NONCE, V2A_SIGNATURE),
        (V2B_TOKEN, V2B_TIMESTAMP, V2B_NONCE, V2B_SIGNATURE),
        (V2C_TOKEN, V2C_TIMESTAMP, V2C_NONCE, V2C_SIGNATURE),
        (V5_TOKEN, V5_TIMESTAMP, V5_NONCE, V5_SIGNATURE_OK),
        (V1_TOKEN, V1_TIMESTAMP, V1_NONCE, "16120ec1b8dbb870f510d87ce6bc2463eae6ca1a"),
    ],
    ids=["V2a", "V2b", "V2c", "V5", "V1-derived"],
)
def test_signature(token, timestamp, nonce, expected):
    assert crypto.signature(token, timestamp, nonce) == expected
    assert crypto.signature_matches(expected, token, timestamp, nonce)


def test_signature_rejects_a_one_digit_change_and_keeps_duplicates():
    assert not crypto.signature_matches(V5_SIGNATURE_BAD, V5_TOKEN, V5_TIMESTAMP, V5_NONCE)
    assert not crypto.signature_matches("", V5_TOKEN, V5_TIMESTAMP, V5_NONCE)
    assert crypto.sign("789", "456", "123") == V5_SIGNER_EXPECTED


@pytest.mark.parametrize(
    ("token", "timestamp", "nonce", "encrypt", "expected"),
    [
        (V1_TOKEN, V1_TIMESTAMP, V1_NONCE, encrypt_of(V1_FROM_XML), V1_MSG_SIGNATURE),
        (V2C_TOKEN, V2C_TIMESTAMP, V2C_NONCE, V2C_ENCRYPT, V2C_MSG_SIGNATURE),
        (V2C_TOKEN, V2C_TIMESTAMP, V2C_NONCE, encrypt_of(V2C_BODY_XML), V2C_MSG_SIGNATURE),
        (V2D_TOKEN, V2D_TIMESTAMP, V2D_NONCE, V2D_EXPECTED_ENCRYPT, V2D_EXPECTED_MSG_SIGNATURE),
        (V3_TOKEN, V3_TIMESTAMP, V3_NONCE, V3_AFTERAESENCRYPT,
         "82c962d39941aa48552f90ef55aa323dc620cc10"),
        (V3_TOKEN, V3_TIMESTAMP, V3_NONCE, V3_AFTERAESENCRYPT2,
         "ea88b765074e41eb8c7a75b449db34fa2fd560d5"),
        (V4_TOKEN, V4A_TIMESTAMP, V4A_NONCE, V4A_ECHO_STR, V4A_MSG_SIGNATURE),
        (V4_TOKEN, V4C_TIMESTAMP, V4C_NONCE, encrypt_of(V4C_XML), V4C_MSG_SIGNATURE),
    ],
    ids=["V1", "V2c", "V2c-xml", "V2d", "V3", "V3-2", "V4a", "V4c"],
)
def test_msg_signature(token, timestamp, nonce, encrypt, expected):
    assert crypto.msg_signature(token, timestamp, nonce, encrypt) == expected
    assert crypto.signature_matches(expected, token, timestamp, nonce, encrypt)


def test_msg_signature_fails_when_any_part_changes():
    encrypt = encrypt_of(V1_FROM_XML)
    parts = [V1_TOKEN, V1_TIMESTAMP, V1_NONCE, encrypt]
    for index in range(4):
        changed = list(parts)
        changed[index] += "x"
        assert not crypto.signature_matches(V1_MSG_SIGNATURE, *changed)
    assert not crypto.signature_matches(V4A_MSG_SIGNATURE, V4_TOKEN, V4A_TIMESTAMP,
                                        "437374424", V4A_ECHO_STR)


# -- AES --------------------------------------------------------------------------------


def test_aes_key_and_iv_of_a_non_trivial_key():
    key = crypto.aes_key(V1_ENCODING_AES_KEY)
    assert key.hex() == V1_AES_KEY_HEX
    assert len(key) == 32


@pytest.mark.parametrize("bad", ["short", "A" * 44, "!" * 43])
def test_aes_key_rejects_malformed_keys(bad):
    with pytest.raises(crypto.CryptoError):
        crypto.aes_key(bad)


def test_decrypt_v1_tencent_sample():
    encrypted = encrypt_of(V1_FROM_XML)
    assert len(base64.b64decode(encrypted)) == V1_CIPHERTEXT_LEN_BYTES
    random16, message, app_id = crypto.decrypt(crypto.aes_key(V1_ENCODING_AES_KEY), encrypted)
    assert random16 == V1_DECRYPTED_RANDOM_PREFIX.encode()
    assert len(message) == V1_DECRYPTED_MSG_LEN
    assert message.decode("utf-8") == V1_EXPECTED_PLAINTEXT_XML
    assert app_id == V1_APPID
    unpadded = 16 + 4 + V1_DECRYPTED_MSG_LEN + len(V1_APPID)
    assert crypto.pad(b"x" * unpadded)[unpadded:] == bytes([V1_PKCS7_PAD_VALUE]) * 2


def test_decrypt_v2c_official_example():
    random16, message, app_id = crypto.decrypt(crypto.aes_key(V2C_ENCODING_AES_KEY),
                                               V2C_ENCRYPT)
    assert random16 == V2C_EXPECTED_RANDOM.encode()
    assert len(message) == V2C_EXPECTED_MSG_LEN
    assert message.decode() == V2C_EXPECTED_MSG
    assert app_id == V2C_APPID


def test_decrypt_v4a_echo_and_v4c_message():
    key = crypto.aes_key(V4_ENCODING_AES_KEY)
    _, echo, receive_id = crypto.decrypt(key, V4A_ECHO_STR)
    assert (echo.decode(), receive_id) == (V4A_EXPECTED_DECRYPTED_ECHO, V4_RECEIVE_ID)
    _, message, receive_id = crypto.decrypt(key, encrypt_of(V4C_XML))
    assert (message.decode(), receive_id) == (V4C_EXPECTED_PLAINTEXT, V4_RECEIVE_ID)


@pytest.mark.parametrize(
    ("encoding_aes_key", "random16", "message", "app_id", "expected"),
    [
        (V2D_ENCODING_AES_KEY, V2D_RANDOM, V2D_REPLY_PLAINTEXT, V2D_APPID,
         V2D_EXPECTED_ENCRYPT),
        (V3_ENCODINGAESKEY, V3_RANDOMSTR, V3_REPLYMSG, V3_APPID, V3_AFTERAESENCRYPT),
        (V3_ENCODINGAESKEY, V3_RANDOMSTR, V3_REPLYMSG2, V3_APPID, V3_AFTERAESENCRYPT2),
        (V4_ENCODING_AES_KEY, V4B_RANDOM, V4B_REPLY, V4_RECEIVE_ID, encrypt_of(V4B_EXPECTED)),
    ],
    ids=["V2d", "V3", "V3-2", "V4b"],
)
def test_encrypt_with_a_fixed_random_is_byte_exact(encoding_aes_key, random16, message,
                                                   app_id, expected):
    key = crypto.aes_key(encoding_aes_key)
    assert crypto.encrypt(key, message, app_id, random16.encode()) == expected
    assert crypto.decrypt(key, expected) == (random16.encode(), message.encode("utf-8"), app_id)


def test_v3_length_prefix_counts_utf8_bytes():
    key = crypto.aes_key(V3_ENCODINGAESKEY)
    _, message, _ = crypto.decrypt(key, V3_AFTERAESENCRYPT)
    assert len(message) == 19 == len(V3_REPLYMSG.encode("utf-8"))


def test_v1_sample_round_trips_with_random_prefix():
    key = crypto.aes_key(V1_ENCODING_AES_KEY)
    first = crypto.encrypt(key, V1_TO_XML, V1_APPID)
    assert first != crypto.encrypt(key, V1_TO_XML, V1_APPID)
    assert crypto.decrypt(key, first)[1:] == (V1_TO_XML.encode(), V1_APPID)


@pytest.mark.parametrize("data", [b"", b"x" * 31 + b"\x00", b"x" * 30 + b"\x21" * 2,
                                  b"x" * 29 + b"\x01\x03\x03"])
def test_unpad_rejects_malformed_padding(data):
    with pytest.raises(crypto.CryptoError):
        crypto.unpad(data)


@pytest.mark.parametrize("encrypted", ["not base64!", base64.b64encode(b"x" * 17).decode(),
                                       V2C_ENCRYPT[:-4]])
def test_decrypt_rejects_garbage(encrypted):
    with pytest.raises(crypto.CryptoError):
        crypto.decrypt(crypto.aes_key(V2C_ENCODING_AES_KEY), encrypted)


# -- passive replies (what the bridge answers) -----------------------------------------


def test_reply_reader_decrypts_v4b_and_v2d_replies():
    reader = ReplyReader(token=V4_TOKEN, app_id=V4_RECEIVE_ID, original_id=V4_RECEIVE_ID,
                         mode="safe", key=crypto.aes_key(V4_ENCODING_AES_KEY))
    assert reader.decrypt(ElementTree.fromstring(V4B_EXPECTED)) == V4B_REPLY
    assert reader.read(V4B_EXPECTED, openid="messense") == V4B_REPLY
    v2d = ReplyReader(token=V2D_TOKEN, app_id=V2D_APPID, original_id="gh_97417a04a28d",
                      mode="safe", key=crypto.aes_key(V2D_ENCODING_AES_KEY))
    root = ElementTree.fromstring(V2D_EXPECTED_REPLY_XML_WECHATPY)
    assert v2d.decrypt(root) == V2D_REPLY_PLAINTEXT


@pytest.mark.parametrize(
    ("mode", "body", "reason"),
    [
        ("safe", V4B_EXPECTED.replace("407518b7", "407518b8"), "MsgSignature"),
        ("safe", V4B_REPLY, "plaintext reply"),
        ("plain", V4B_EXPECTED, "encrypted reply"),
        ("compatible", V4B_REPLY.replace("messense", "someone"), "not addressed"),
        ("safe", "<xml><Encrypt>", "not XML"),
    ],
    ids=["bad-signature", "plain-in-safe", "encrypted-in-plain", "wrong-user", "broken"],
)
def test_reply_reader_rejects_what_wechat_rejects(mode, body, reason):
    reader = ReplyReader(token=V4_TOKEN, app_id=V4_RECEIVE_ID, original_id=V4_RECEIVE_ID,
                         mode=mode, key=crypto.aes_key(V4_ENCODING_AES_KEY))
    with pytest.raises(ReplyError, match=reason):
        reader.read(body, openid="messense")


def test_reply_reader_rejects_a_reply_for_another_app():
    reader = ReplyReader(token=V4_TOKEN, app_id="wx0000000000000000",
                         original_id=V4_RECEIVE_ID, mode="safe",
                         key=crypto.aes_key(V4_ENCODING_AES_KEY))
    with pytest.raises(ReplyError, match="app id"):
        reader.read(V4B_EXPECTED, openid="messense")


# -- the push envelope the sender builds -----------------------------------------------


@pytest.mark.parametrize("mode", ["safe", "compatible", "plain"])
def test_envelope_matches_the_v2c_wire_format(mode):
    sender = CallbackSender("http://127.0.0.1:9/wechat/callback", token=V2C_TOKEN,
                            app_id=V2C_APPID, original_id="gh_97417a04a28d",
                            encoding_aes_key=V2C_ENCODING_AES_KEY, mode=mode)
    push = subscribe("o9AgO5Kd5ggOC-bXrbNODIiE3bGY", 1714112445, scene="sfc_1", ticket="T")
    prepared = sender.prepare(push, timestamp=V2C_TIMESTAMP, nonce=V2C_NONCE)
    sender.close()
    expected_keys = ["signature", "timestamp", "nonce", "openid"]
    assert prepared.query["signature"] == V2C_SIGNATURE
    assert prepared.query["openid"] == "o9AgO5Kd5ggOC-bXrbNODIiE3bGY"
    plaintext = push.xml("gh_97417a04a28d")
    if mode == "plain":
        assert list(prepared.query) == expected_keys
        assert prepared.body == plaintext
        return
    assert list(prepared.query) == [*expected_keys, "encrypt_type", "msg_signature"]
    assert prepared.query["encrypt_type"] == "aes"
    encrypted = encrypt_of(prepared.body)
    assert prepared.query["msg_signature"] == crypto.msg_signature(
        V2C_TOKEN, V2C_TIMESTAMP, V2C_NONCE, encrypted)
    key = crypto.aes_key(V2C_ENCODING_AES_KEY)
    assert crypto.decrypt(key, encrypted)[1:] == (plaintext.encode(), V2C_APPID)
    if mode == "safe":
        assert prepared.body == (
            "<xml><ToUserName><![CDATA[gh_97417a04a28d]]></ToUserName>"
            f"<Encrypt><![CDATA[{encrypted}]]></Encrypt></xml>")
    else:
        assert prepared.body.startswith(plaintext[: -len("</xml>")])
        assert element(prepared.body, "EventKey") == "qrscene_sfc_1"

