"""The ``fit`` transform: text cut to the target field's length from the org's describe —
pure in the engine (lengths are an input), built once from the describe for the worker,
and what the check against the org suggests."""

from pathlib import Path

import pytest

from connector.errors import RetriableError
from connector.events import InboundEvent
from connector.follower import Follower
from connector.inbound.lengths import field_lengths, fitted_objects, lengths_of
from mappings.engine import plan_event
from mappings.loader import MappingError, parse_mapping
from mappings.org_check import check_against_org
from mappings.transforms import apply_chain
from sandbox.salesforce import SalesforceSandbox

DEFAULT = Path(__file__).resolve().parents[2] / "mappings" / "default.yaml"
TEXT = DEFAULT.read_text()
REMARK = "    Remark__c:              { source: follower.remark }"
LAST_NAME = '    LastName:          { source: follower.remark, default: "WeChat Follower" }'
FITTED = TEXT.replace(REMARK, "    Remark__c:              { source: follower.remark, "
                      "transform: fit }").replace(
    LAST_NAME, '    LastName:          { source: follower.remark, transform: "trim|fit", '
    'default: "WeChat Follower" }')
REMARK_CN = "上海浦东新区张江高科技园区的老朋友"  # 17 characters, 51 UTF-8 bytes


@pytest.mark.parametrize(
    ("chain", "value", "length", "expected"),
    [
        ("fit", REMARK_CN, 5, "上海浦东新"),  # characters, as Salesforce counts them
        ("fit", REMARK_CN, 80, REMARK_CN),
        ("fit", REMARK_CN, None, REMARK_CN),  # length unknown: as it is
        ("fit", None, 5, None),
        ("trim|fit", "  abcdef ", 3, "abc"),
        ("join(;)|fit", ["VIP", "上海"], 5, "VIP;上"),
        ("fit|upper", "abcdef", 2, "AB"),
    ],
)
def test_fit_cuts_by_characters_to_the_given_length(chain, value, length, expected):
    assert apply_chain(chain, value, length) == expected


def scan(mapping, remark=REMARK_CN, lengths=None):
    e = InboundEvent.from_fields({"ToUserName": "gh_1", "FromUserName": "oF1",
                                  "CreateTime": "100", "MsgType": "event",
                                  "Event": "subscribe", "EventKey": ""})
    return plan_event(e, Follower(openid="oF1", subscribed=True, remark=remark), mapping,
                      lengths=lengths)


def test_the_engine_fits_each_field_to_its_own_length():
    mapping = parse_mapping(FITTED, DEFAULT)
    plan = scan(mapping, lengths={("WeChat_Follower__c", "Remark__c"): 4,
                                  ("Lead", "LastName"): 6, ("Lead", "Company"): 1})
    assert plan.follower_fields["Remark__c"] == "上海浦东"
    assert plan.person.create_fields["LastName"] == "上海浦东新区"
    assert plan.person.create_fields["Company"] == "WeChat"  # no fit: not cut
    unknown = scan(mapping)  # no lengths (describe failed): written as it is
    assert unknown.follower_fields["Remark__c"] == REMARK_CN


def test_fit_takes_no_argument():
    text = FITTED.replace("transform: fit }", "transform: fit(10) }", 1)
    with pytest.raises(MappingError, match=r"fit takes no argument: it cuts to the field's "
                       r"length from the org — write fit, or truncate\(10\)"):
        parse_mapping(text, DEFAULT)


ORG = SalesforceSandbox(client_id="3MVG9unit", username="unit@bridge.sandbox",
                        public_key_pem="unused: describe needs no login")


describe = ORG.describe  # the describe JSON the sandbox serves, without HTTP


def test_lengths_come_from_the_describe_of_the_objects_with_a_fit_rule():
    assert fitted_objects(parse_mapping(TEXT, DEFAULT)) == []  # default: nothing described
    assert fitted_objects(parse_mapping(FITTED, DEFAULT)) == ["Lead", "WeChat_Follower__c"]
    lengths = lengths_of(describe("Lead"))
    assert lengths["LastName"] == 80 and lengths["Description"] == 32000
    assert "IsConverted" not in lengths  # not text


class Redis(dict):
    def get(self, key):
        return dict.get(self, key)

    def set(self, key, value, ex=None):
        self[key] = value


class Gateway:
    def __init__(self, fail=False):
        self.described, self.fail = [], fail

    def describe(self, name):
        self.described.append(name)
        if self.fail:
            raise RetriableError("timed out")
        return describe(name)


class Ctx:
    def __init__(self, redis, gateway):
        self.mapping = parse_mapping(FITTED, DEFAULT)
        self.redis, self.salesforce, self.field_lengths = redis, gateway, {}


def test_the_worker_describes_once_and_shares_the_lengths_through_redis():
    redis, first = Redis(), Gateway()
    lengths = field_lengths(Ctx(redis, first))
    assert lengths[("Lead", "LastName")] == 80
    assert first.described == ["Lead", "WeChat_Follower__c"]
    ctx = Ctx(redis, Gateway())  # the next work horse: a fresh context
    assert field_lengths(ctx) == lengths and ctx.salesforce.described == []
    assert field_lengths(ctx) == lengths  # and then from its context
    failing = Ctx(Redis(), Gateway(fail=True))
    assert field_lengths(failing) == {}  # described again next time, fit leaves values
    assert failing.field_lengths == {}


def test_the_org_check_suggests_fit_and_is_satisfied_by_it():
    def warnings(text):
        return [str(p) for p in check_against_org(parse_mapping(text, DEFAULT), text,
                                                  DEFAULT, describe) if "can be up to" in p.text]
    long_lang = TEXT.replace("    Language__c:            { source: follower.language }",
                             "    Language__c:            { source: follower.remark }")
    [warning] = warnings(long_lang)
    assert ("follower.remark can be up to 30 characters; WeChat_Follower__c.Language__c holds "
            "16 — add fit, which cuts to the field's length: transform: \"fit\"") in warning
    assert warnings(long_lang.replace("source: follower.remark }",
                                      "source: follower.remark, transform: fit }")) == []
