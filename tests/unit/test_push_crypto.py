"""connector.wechat.crypto against the reference vectors (shared/reference/wechat_vectors.md).

V1 Tencent's Python sample, V2 the official push doc, V3 Tencent's Java sample, V4 wechatpy
1.8.18's own tests, V5 wechatpy's signature tests. Byte-exact agreement is required.
"""

from __future__ import annotations

import pytest

from connector.wechat.crypto import (
    AppIdMismatchError,
    DecryptError,
    PushCipher,
    check_signature,
    signature_of,
)
from connector.wechat.pushes import parse_fields, parse_push

# --- V1: Tencent WXBizMsgCrypt Python sample (compatible-mode body) -------------------------
V1_TOKEN = "spamtest"
V1_KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
V1_APPID = "wx2c2769f8efd9abc2"
V1_TIMESTAMP = "1409735669"
V1_NONCE = "1320562132"
V1_MSG_SIGNATURE = "5d197aaffba7e9b25a30732f161a50dee96bd5fa"
V1_SIGNATURE = "16120ec1b8dbb870f510d87ce6bc2463eae6ca1a"  # computed (GET/plain form)
V1_ENCRYPT = "hyzAe4OzmOMbd6TvGdIOO6uBmdJoD0Fk53REIHvxYtJlE2B655HuD0m8KUePWB3+LrPXo87wzQ1QLvbeUgmBM4x6F8PGHQHFVAFmOD2LdJF9FrXpbUAh0B5GIItb52sn896wVsMSHGuPE328HnRGBcrS7C41IzDWyWNlZkyyXwon8T332jisa+h6tEDYsVticbSnyU8dKOIbgU6ux5VTjg3yt+WGzjlpKn6NPhRjpA912xMezR4kw6KWwMrCVKSVCZciVGCgavjIQ6X8tCOp3yZbGpy0VxpAe+77TszTfRd5RJSVO/HTnifJpXgCSUdUue1v6h0EIBYYI1BD1DlD+C0CR8e6OewpusjZ4uBl9FyJvnhvQl+q5rv1ixrcpCumEPo5MJSgM9ehVsNPfUM669WuMyVWQLCzpu9GhglF2PE="  # noqa: E501
V1_FROM_XML = "<xml><ToUserName><![CDATA[gh_10f6c3c3ac5a]]></ToUserName><FromUserName><![CDATA[oyORnuP8q7ou2gfYjqLzSIWZf0rs]]></FromUserName><CreateTime>1409735668</CreateTime><MsgType><![CDATA[text]]></MsgType><Content><![CDATA[abcdteT]]></Content><MsgId>6054768590064713728</MsgId><Encrypt><![CDATA[" + V1_ENCRYPT + "]]></Encrypt></xml>"  # noqa: E501
V1_PLAINTEXT = "<xml><ToUserName><![CDATA[gh_10f6c3c3ac5a]]></ToUserName>\n<FromUserName><![CDATA[oyORnuP8q7ou2gfYjqLzSIWZf0rs]]></FromUserName>\n<CreateTime>1409735668</CreateTime>\n<MsgType><![CDATA[text]]></MsgType>\n<Content><![CDATA[abcdteT]]></Content>\n<MsgId>6054768590064713728</MsgId>\n</xml>"  # noqa: E501
V1_TO_XML = " <xml><ToUserName><![CDATA[oia2TjjewbmiOUlr6X-1crbLOvLw]]></ToUserName><FromUserName><![CDATA[gh_7f083739789a]]></FromUserName><CreateTime>1407743423</CreateTime><MsgType>  <![CDATA[video]]></MsgType><Video><MediaId><![CDATA[eYJ1MbwPRJtOvIEabaxHs7TX2D-HV71s79GUxqdUkjm6Gs2Ed1KF3ulAOA9H1xG0]]></MediaId><Title><![CDATA[testCallBackReplyVideo]]></Title><Descript  ion><![CDATA[testCallBackReplyVideo]]></Description></Video></xml>"  # noqa: E501

# --- V2: the official push doc (all-A key: pair with V1/V3/V4, which use real IVs) ----------
V2_TOKEN = "AAAAA"
V2_KEY = "A" * 43
V2_APPID = "wxba5fad812f8e6fb9"
V2C_TIMESTAMP, V2C_NONCE = "1714112445", "415670741"
V2C_SIGNATURE = "6c5c811b55cc85e0e1b54100749188c20beb3f5d"
V2C_MSG_SIGNATURE = "046e02f8204d34f8ba5fa3b1db94908f3df2e9b3"
V2C_ENCRYPT = "+qdx1OKCy+5JPCBFWw70tm0fJGb2Jmeia4FCB7kao+/Q5c/ohsOzQHi8khUOb05JCpj0JB4RvQMkUyus8TPxLKJGQqcvZqzDpVzazhZv6JsXUnnR8XGT740XgXZUXQ7vJVnAG+tE8NUd4yFyjPy7GgiaviNrlCTj+l5kdfMuFUPpRSrfMZuMcp3Fn2Pede2IuQrKEYwKSqFIZoNqJ4M8EajAsjLY2km32IIjdf8YL/P50F7mStwntrA2cPDrM1kb6mOcfBgRtWygb3VIYnSeOBrebufAlr7F9mFUPAJGj04="  # noqa: E501
V2C_MSG = '{"ToUserName":"gh_97417a04a28d","FromUserName":"o9AgO5Kd5ggOC-bXrbNODIiE3bGY","CreateTime":1714112445,"MsgType":"event","Event":"debug_demo","debug_str":"hello world"}'  # noqa: E501
V2C_BODY_XML = "<xml><ToUserName><![CDATA[gh_97417a04a28d]]></ToUserName><Encrypt><![CDATA[" + V2C_ENCRYPT + "]]></Encrypt></xml>"  # noqa: E501
V2D_EXPECTED = '<xml>\n<Encrypt><![CDATA[ELGduP2YcVatjqIS+eZbp80MNLoAUWvzzyJxgGzxZO/5sAvd070Bs6qrLARC9nVHm48Y4hyRbtzve1L32tmxSQ==]]></Encrypt>\n<MsgSignature><![CDATA[1b9339964ed2e271e7c7b6ff2b0ef902fc94dea1]]></MsgSignature>\n<TimeStamp>1713424427</TimeStamp>\n<Nonce><![CDATA[415670741]]></Nonce>\n</xml>'  # noqa: E501

# --- V3: Tencent's Java sample (CJK payload, fixed random) ----------------------------------
V3_KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
V3_TOKEN, V3_TIMESTAMP, V3_NONCE = "pamtest", "1409304348", "xxxxxx"
V3_APPID = "wxb11529c136998cb6"
V3_RANDOM = "aaaabbbbccccdddd"
V3_MSG = "我是中文abcd123"
V3_ENCRYPTED = "jn1L23DB+6ELqJ+6bruv21Y6MD7KeIfP82D6gU39rmkgczbWwt5+3bnyg5K55bgVtVzd832WzZGMhkP72vVOfg=="  # noqa: E501
V3_MSG2 = "<xml><ToUserName><![CDATA[oia2Tj我是中文jewbmiOUlr6X-1crbLOvLw]]></ToUserName><FromUserName><![CDATA[gh_7f083739789a]]></FromUserName><CreateTime>1407743423</CreateTime><MsgType><![CDATA[video]]></MsgType><Video><MediaId><![CDATA[eYJ1MbwPRJtOvIEabaxHs7TX2D-HV71s79GUxqdUkjm6Gs2Ed1KF3ulAOA9H1xG0]]></MediaId><Title><![CDATA[testCallBackReplyVideo]]></Title><Description><![CDATA[testCallBackReplyVideo]]></Description></Video></xml>"  # noqa: E501
V3_ENCRYPTED2 = "jn1L23DB+6ELqJ+6bruv23M2GmYfkv0xBh2h+XTBOKVKcgDFHle6gqcZ1cZrk3e1qjPQ1F4RsLWzQRG9udbKWesxlkupqcEcW7ZQweImX9+wLMa0GaUzpkycA8+IamDBxn5loLgZpnS7fVAbExOkK5DYHBmv5tptA9tklE/fTIILHR8HLXa5nQvFb3tYPKAlHF3rtTeayNf0QuM+UW/wM9enGIDIJHF7CLHiDNAYxr+r+OrJCmPQyTy8cVWlu9iSvOHPT/77bZqJucQHQ04sq7KZI27OcqpQNSto2OdHCoTccjggX5Z9Mma0nMJBU+jLKJ38YB1fBIz+vBzsYjrTmFQ44YfeEuZ+xRTQwr92vhA9OxchWVINGC50qE/6lmkwWTwGX9wtQpsJKhP+oS7rvTY8+VdzETdfakjkwQ5/Xka042OlUb1/slTwo4RscuQ+RdxSGvDahxAJ6+EAjLt9d8igHngxIbf6YyqqROxuxqIeIch3CssH/LqRs+iAcILvApYZckqmA7FNERspKA5f8GoJ9sv8xmGvZ9Yrf57cExWtnX8aCMMaBropU/1k+hKP5LVdzbWCG0hGwx/dQudYR/eXp3P0XxjlFiy+9DMlaFExWUZQDajPkdPrEeOwofJb"  # noqa: E501

# --- V4: wechatpy 1.8.18 tests/test_crypto.py ------------------------------------------------
V4_TOKEN = "123456"
V4_KEY = "kWxPEV2UEDyxWpmPdKC3F4dgPDmOvfKX1HGnEUDS1aR"
V4_APPID = "wx49f0ab532d5d035a"
V4A_SIGNATURE, V4A_TIMESTAMP, V4A_NONCE = (
    "dd6b9c95b495b3f7e2901bfbc76c664930ffdb96", "1411443780", "437374425")
V4A_ECHO = "4ByGGj+sVCYcvGeQYhaKIk1o0pQRNbRjxybjTGblXrBaXlTXeOo1+bXFXDQQb1o6co6Yh9Bv41n7hOchLF6p+Q=="  # noqa: E501
V4B_NONCE, V4B_TIMESTAMP, V4B_RANDOM = "461056294", "1411525903", "1234567890123456"
V4B_REPLY = "<xml>\n<MsgType><![CDATA[text]]></MsgType>\n<Content><![CDATA[test]]></Content>\n<FromUserName><![CDATA[wx49f0ab532d5d035a]]></FromUserName>\n<ToUserName><![CDATA[messense]]></ToUserName>\n<AgentID>1</AgentID>\n<CreateTime>1411525903</CreateTime>\n</xml>"  # noqa: E501
V4B_EXPECTED = "<xml>\n<Encrypt><![CDATA[9s4gMv99m88kKTh/H8IdkOiMg6bisoy3ypwy9H4hvSPe9nsGaqyw5hhSjdYbcrKk+j3nba4HMOTzHrluLBYqxgNcBqGsL8GqxlhZgURnAtObvesEl5nZ+uBE8bviY0LWke8Zy9V/QYKxNV2FqllNXcfmstttyIkMKCCmVbCFM2JTF5wY0nFhHZSjPUL2Q1qvSUCUld+/WIXrx0oyKQmpB6o8NRrrNrsDf03oxI1p9FxUgMnwKKZeOA/uu+2IEvEBtb7muXsVbwbgX05UPPJvFurDXafG0RQyPR+mf1nDnAtQmmNOuiR5MIkdQ39xn1vWwi1O5oazPoQJz0nTYjxxEE8kv3kFxtAGVRe3ypD3WeK2XeFYFMNMpatF9XiKzHo3]]></Encrypt>\n<MsgSignature><![CDATA[407518b7649e86ef23978113f92d27afa9296533]]></MsgSignature>\n<TimeStamp>1411525903</TimeStamp>\n<Nonce><![CDATA[461056294]]></Nonce>\n</xml>"  # noqa: E501
V4C_XML = "<xml><ToUserName><![CDATA[wx49f0ab532d5d035a]]></ToUserName>\n<Encrypt><![CDATA[RgqEoJj5A4EMYlLvWO1F86ioRjZfaex/gePD0gOXTxpsq5Yj4GNglrBb8I2BAJVODGajiFnXBu7mCPatfjsu6IHCrsTyeDXzF6Bv283dGymzxh6ydJRvZsryDyZbLTE7rhnus50qGPMfp2wASFlzEgMW9z1ef/RD8XzaFYgm7iTdaXpXaG4+BiYyolBug/gYNx410cvkKR2/nPwBiT+P4hIiOAQqGp/TywZBtDh1yCF2KOd0gpiMZ5jSw3e29mTvmUHzkVQiMS6td7vXUaWOMZnYZlF3So2SjHnwh4jYFxdgpkHHqIrH/54SNdshoQgWYEvccTKe7FS709/5t6NMxuGhcUGAPOQipvWTT4dShyqio7mlsl5noTrb++x6En749zCpQVhDpbV6GDnTbcX2e8K9QaNWHp91eBdCRxthuL0=]]></Encrypt>\n<AgentID><![CDATA[1]]></AgentID>\n</xml>"  # noqa: E501
V4C_MSG_SIGNATURE, V4C_TIMESTAMP, V4C_NONCE = (
    "74d92dfeb87ba7c714f89d98870ae5eb62dff26d", "1411525903", "461056294")
V4C_PLAINTEXT = "<xml><ToUserName><![CDATA[wx49f0ab532d5d035a]]></ToUserName>\n<FromUserName><![CDATA[messense]]></FromUserName>\n<CreateTime>1411525903</CreateTime>\n<MsgType><![CDATA[text]]></MsgType>\n<Content><![CDATA[test]]></Content>\n<MsgId>4363689963896700987</MsgId>\n<AgentID>1</AgentID>\n</xml>"  # noqa: E501


def tampered(text: str) -> str:
    """``text`` with its last character changed (and still the same alphabet)."""
    return text[:-1] + ("0" if text[-1] != "0" else "1")


# --- signatures ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("token", "signature", "timestamp", "nonce", "extra"),
    [
        pytest.param(V1_TOKEN, V1_MSG_SIGNATURE, V1_TIMESTAMP, V1_NONCE, (V1_ENCRYPT,),
                     id="V1-msg"),
        pytest.param(V1_TOKEN, V1_SIGNATURE, V1_TIMESTAMP, V1_NONCE, (), id="V1-plain"),
        pytest.param(V2_TOKEN, "f464b24fc39322e44b38aa78f5edd27bd1441696", "1714036504",
                     "1514711492", (), id="V2a-get"),
        pytest.param(V2_TOKEN, "899cf89e464efb63f54ddac96b0a0a235f53aa78", "1714037059",
                     "486452656", (), id="V2b-plain-post"),
        pytest.param(V2_TOKEN, V2C_SIGNATURE, V2C_TIMESTAMP, V2C_NONCE, (), id="V2c-signature"),
        pytest.param(V2_TOKEN, V2C_MSG_SIGNATURE, V2C_TIMESTAMP, V2C_NONCE, (V2C_ENCRYPT,),
                     id="V2c-msg"),
        pytest.param(V3_TOKEN, "82c962d39941aa48552f90ef55aa323dc620cc10", V3_TIMESTAMP, V3_NONCE,
                     (V3_ENCRYPTED,), id="V3-msg"),
        pytest.param(V3_TOKEN, "ea88b765074e41eb8c7a75b449db34fa2fd560d5", V3_TIMESTAMP, V3_NONCE,
                     (V3_ENCRYPTED2,), id="V3-msg2"),
        pytest.param(V4_TOKEN, V4A_SIGNATURE, V4A_TIMESTAMP, V4A_NONCE, (V4A_ECHO,), id="V4a"),
        pytest.param(V4_TOKEN, V4C_MSG_SIGNATURE, V4C_TIMESTAMP, V4C_NONCE,
                     (parse_fields(V4C_XML)["Encrypt"],), id="V4c"),
        pytest.param("test", "f21891de399b4e33a1a93c9a7b8a8fffb5a443ff", "1410685589", "test", (),
                     id="V5"),
    ],
)
def test_reference_signatures_verify_and_tampering_fails(token, signature, timestamp, nonce, extra):
    assert check_signature(token, signature, timestamp, nonce, *extra)
    assert not check_signature(token, tampered(signature), timestamp, nonce, *extra)
    assert not check_signature(token, signature, tampered(timestamp), nonce, *extra)
    assert not check_signature(token, signature, timestamp, tampered(nonce), *extra)
    assert not check_signature(token + "x", signature, timestamp, nonce, *extra)
    if extra:
        assert not check_signature(token, signature, timestamp, nonce, tampered(extra[0]))


def test_v5_bad_signature_and_signer():
    assert not check_signature("test", "f21891de399b4e33a1a93c9a7b8a8fffb5a443fe", "1410685589",
                               "test")
    assert signature_of("789", "456", "123") == "f7c3bc1d808e04732adf679965ccc34ca7ae3441"


def test_v4a_nonce_changed_is_rejected():
    assert not check_signature(V4_TOKEN, V4A_SIGNATURE, V4A_TIMESTAMP, "437374424", V4A_ECHO)


@pytest.mark.parametrize("bad", [None, "", "ff" * 20, "签名" * 10])
def test_missing_or_odd_signatures_are_false_not_errors(bad):
    assert not check_signature("test", bad, "1410685589", "test")
    assert not check_signature("test", "f21891de399b4e33a1a93c9a7b8a8fffb5a443ff", None, "test")


# --- decryption ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "appid", "encrypt", "expected"),
    [
        pytest.param(V1_KEY, V1_APPID, V1_ENCRYPT, V1_PLAINTEXT, id="V1"),
        pytest.param(V2_KEY, V2_APPID, V2C_ENCRYPT, V2C_MSG, id="V2c"),
        pytest.param(V3_KEY, V3_APPID, V3_ENCRYPTED, V3_MSG, id="V3"),
        pytest.param(V3_KEY, V3_APPID, V3_ENCRYPTED2, V3_MSG2, id="V3-2"),
        pytest.param(V4_KEY, V4_APPID, V4A_ECHO, "5927782489442352469", id="V4a"),
        pytest.param(V4_KEY, V4_APPID, parse_fields(V4C_XML)["Encrypt"], V4C_PLAINTEXT, id="V4c"),
    ],
)
def test_reference_ciphertexts_decrypt(key, appid, encrypt, expected):
    assert PushCipher(key, appid, token="unused").decrypt(encrypt) == expected


def test_v1_compatible_body_decrypts_to_the_text_message():
    envelope = parse_fields(V1_FROM_XML)
    assert check_signature(V1_TOKEN, V1_MSG_SIGNATURE, V1_TIMESTAMP, V1_NONCE, envelope["Encrypt"])
    plaintext = PushCipher(V1_KEY, V1_APPID, token=V1_TOKEN).decrypt(envelope["Encrypt"])
    fields, message = parse_push(plaintext)
    assert type(message).__name__ == "TextMessage"
    assert (message.id, message.source, message.target, message.content) == (
        6054768590064713728, "oyORnuP8q7ou2gfYjqLzSIWZf0rs", "gh_10f6c3c3ac5a", "abcdteT")
    assert message.create_time.isoformat() == "2014-09-03T17:14:28+08:00"
    assert fields["MsgId"] == "6054768590064713728"


def test_appid_mismatch_is_rejected():
    with pytest.raises(AppIdMismatchError):
        PushCipher(V1_KEY, "wx0000000000000000", token=V1_TOKEN).decrypt(V1_ENCRYPT)


@pytest.mark.parametrize(
    "encrypt",
    [
        pytest.param("not base64!", id="not-base64"),
        pytest.param("", id="empty"),
        pytest.param(V1_ENCRYPT[:-4], id="not-whole-blocks"),
        pytest.param(V2C_ENCRYPT, id="other-key"),
    ],
)
def test_undecryptable_values_raise_decrypt_error(encrypt):
    with pytest.raises(DecryptError):
        PushCipher(V1_KEY, V1_APPID, token=V1_TOKEN).decrypt(encrypt)


def test_key_rotation_tries_the_previous_key():
    rotated = PushCipher(V4_KEY, V1_APPID, previous_key=V1_KEY, token=V1_TOKEN)
    assert rotated.decrypt(V1_ENCRYPT) == V1_PLAINTEXT
    with pytest.raises(DecryptError):
        PushCipher(V4_KEY, V1_APPID, token=V1_TOKEN).decrypt(V1_ENCRYPT)


# --- encryption ------------------------------------------------------------------------------


def test_v2d_reply_is_byte_exact():
    cipher = PushCipher(V2_KEY, V2_APPID, token=V2_TOKEN, random=lambda: "707722b803182950")
    reply = cipher.encrypt_reply('{"demo_resp":"good luck"}', "415670741", "1713424427")
    assert reply == V2D_EXPECTED


def test_v4b_reply_is_byte_exact():
    cipher = PushCipher(V4_KEY, V4_APPID, token=V4_TOKEN, random=lambda: V4B_RANDOM)
    assert cipher.encrypt_reply(V4B_REPLY, V4B_NONCE, int(V4B_TIMESTAMP)) == V4B_EXPECTED


@pytest.mark.parametrize(("message", "expected"), [(V3_MSG, V3_ENCRYPTED),
                                                    (V3_MSG2, V3_ENCRYPTED2)])
def test_v3_encryption_with_fixed_random(message, expected):
    cipher = PushCipher(V3_KEY, V3_APPID, token=V3_TOKEN, random=lambda: V3_RANDOM)
    assert cipher.encrypt(message) == expected


def test_v1_reply_round_trips_and_verifies():
    cipher = PushCipher(V1_KEY, V1_APPID, token=V1_TOKEN)
    envelope = parse_fields(cipher.encrypt_reply(V1_TO_XML, V1_NONCE, V1_TIMESTAMP))
    assert check_signature(V1_TOKEN, envelope["MsgSignature"], envelope["TimeStamp"],
                           envelope["Nonce"], envelope["Encrypt"])
    assert cipher.decrypt(envelope["Encrypt"]) == V1_TO_XML


def test_default_random_differs_between_replies():
    cipher = PushCipher(V1_KEY, V1_APPID, token=V1_TOKEN)
    assert cipher.encrypt("same") != cipher.encrypt("same")


def test_random_prefix_must_be_16_bytes():
    cipher = PushCipher(V1_KEY, V1_APPID, token=V1_TOKEN, random=lambda: "short")
    with pytest.raises(ValueError, match="16 bytes"):
        cipher.encrypt("x")


@pytest.mark.parametrize("key", ["A" * 42, "!" * 43])
def test_malformed_keys_are_refused(key):
    with pytest.raises(ValueError):
        PushCipher(key, V1_APPID, token=V1_TOKEN)
