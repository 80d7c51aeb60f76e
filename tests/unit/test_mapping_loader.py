"""Mapping mistakes come back with file, line and a hint; never a traceback."""

from pathlib import Path

import pytest

from mappings.loader import MappingError, load_mapping, parse_mapping
from mappings.transforms import apply_chain

DEFAULT = Path(__file__).resolve().parents[2] / "mappings" / "default.yaml"
TEXT = DEFAULT.read_text()


def broken(old: str, new: str) -> str:
    assert old in TEXT, old
    return TEXT.replace(old, new, 1)


@pytest.mark.parametrize(
    ("text", "line", "needle"),
    [
        (broken("external_id: OpenId__c ", "externalid: OpenId__c "), 9,
         "unknown key 'externalid' — did you mean 'external_id'?"),
        (broken('Company:           { value: "WeChat" }', 'Company:           { valu: "WeChat" }'),
         35, "unknown key 'valu' — did you mean 'value'?"),
        (broken("scene_prefix:", "scene_prefx:"), 43,
         "unknown key 'scene_prefx' — did you mean 'scene_prefix'?"),
        (broken("source: follower.unionid", "source: follower.unoinid"), 14,
         "did you mean 'follower.unionid'"),
        (broken("transform: unix_to_datetime", "transform: unix_to_datetme"), 17,
         "unknown transform 'unix_to_datetme'"),
        (broken("create: Lead ", "create: Account "), 30, "'Contact' or 'Lead'"),
        (broken("version: 1", "version: 2"), 5, "version"),
        (broken('{ value: "WeChat" }', '{ value: "WeChat", source: event.account }'), 35,
         "exactly one of 'source', 'value', 'template' or 'coalesce'"),
        ("version: 1\nfollower: [", 2, "not valid YAML"),
        ("- just\n- a list\n", 1, "must be a YAML mapping"),
    ],
)
def test_errors_name_the_line_and_the_fix(text, line, needle):
    with pytest.raises(MappingError) as caught:
        parse_mapping(text, Path("mapping.yaml"))
    problems = caught.value.problems
    assert any(p[0] == line and needle in p[2] for p in problems), problems
    assert f"mapping.yaml:{line}:" in str(caught.value)


def test_every_problem_is_reported_not_just_the_first():
    text = broken("source: follower.unionid", "source: follower.x")
    text = text.replace("transform: unix_to_datetime", "transform: nope", 1)
    with pytest.raises(MappingError) as caught:
        parse_mapping(text, Path("m.yaml"))
    assert len(caught.value.problems) == 2


def test_missing_file_is_a_mapping_error(tmp_path):
    with pytest.raises(MappingError, match="cannot read"):
        load_mapping(tmp_path / "absent.yaml")


def test_default_mapping_is_valid():
    assert load_mapping(DEFAULT).create == "Lead"


@pytest.mark.parametrize(
    ("chain", "value", "expected"),
    [
        ("unix_to_datetime", 1409735668, "2014-09-03T09:14:28Z"),
        ("unix_to_date", 1409735668, "2014-09-03"),
        ("unix_to_datetime", None, None),
        ("join(;)", ("a", "b"), "a;b"),
        ("join(, )", ["a", "b"], "a, b"),
        ("trim|upper", "  zh_cn ", "ZH_CN"),
        ("truncate(3)", "abcdef", "abc"),
        (None, "same", "same"),
    ],
)
def test_transforms(chain, value, expected):
    assert apply_chain(chain, value) == expected


def test_yaml_1_1_booleans_do_not_ambush_admins():
    # YAML 1.1 reads on/off/yes/no as booleans: `on: always` would become `True: always`
    text = TEXT.replace('    LeadSource:        { value: "WeChat" }',
                        "    LeadSource:        { value: No }\n"
                        "    Description:       { source: follower.remark, on: always }")
    lead = parse_mapping(text, Path("m.yaml")).objects["Lead"]
    assert lead["Description"].on == "always"
    assert lead["LeadSource"].value == "No"


def test_sections_that_name_each_other_wrongly_point_at_their_lines():
    text = TEXT.replace(
        "  - { object: Contact, field: WeChat_OpenId__c, source: follower.openid }\n", "")
    text = text.replace("create: Lead ", "create: Contact ")
    with pytest.raises(MappingError) as caught:
        parse_mapping(text, Path("m.yaml"))
    lines = {text.splitlines()[line - 1].strip().split(":")[0]: problem
             for line, _, problem in caught.value.problems}
    assert "no match rule looks up" in lines["Contact"]  # the follower.link entry
    assert "needs a match rule on Contact" in lines["create"]


@pytest.mark.parametrize(
    ("rule", "ok"),
    [
        ("{ source: follower.remark, sync: to_wechat }", True),
        ("{ source: follower.tag_names, transform: 'join(;)', sync: both }", True),
        ("{ source: follower.language, sync: to_wechat }", False),  # WeChat can't take it
        ('{ value: "VIP", sync: both }', False),  # a constant can't flow anywhere
        ("{ template: '{follower.remark}!', sync: to_wechat }", False),
    ],
)
def test_impossible_directions_are_refused(rule, ok):
    text = TEXT.replace('    LeadSource:        { value: "WeChat" }',
                        f"    LeadSource:        {{ value: \"WeChat\" }}\n    Description: {rule}")
    if ok:
        assert parse_mapping(text, Path("m.yaml")).objects["Lead"]["Description"].sync
        return
    with pytest.raises(MappingError) as caught:
        parse_mapping(text, Path("m.yaml"))
    line, _, problem = caught.value.problems[0]
    assert text.splitlines()[line - 1].strip().startswith("Description")
    assert "WeChat can only take a remark or tags" in problem


@pytest.mark.parametrize(
    ("old", "new", "needle"),
    [
        ("  scan:        { person: true, campaign: true }",
         "  sacn:        { person: true, campaign: true }", "did you mean 'scan'?"),
        ("transform: unix_to_datetime }", 'transform: "truncate(80" }', "unbalanced '('"),
        ("transform: unix_to_datetime }", 'transform: "trim)" }', "unbalanced ')'"),
    ],
)
def test_typos_that_would_silently_do_nothing_are_refused(old, new, needle):
    with pytest.raises(MappingError) as caught:
        parse_mapping(broken(old, new), Path("m.yaml"))
    assert needle in str(caught.value)
    assert "[key]" not in str(caught.value)


@pytest.mark.parametrize(
    ("yaml_map", "expected"),
    [
        ("{ true: Subscribed, false: Left }", {"True": "Subscribed", "False": "Left"}),
        ("{ 1: One, 2.5: Two and a half }", {"1": "One", "2.5": "Two and a half"}),
    ],
)
def test_map_keys_are_read_as_text_like_the_values_they_match(yaml_map, expected):
    text = broken("    Language__c:            { source: follower.language }",
                  f"    Language__c:            {{ source: follower.subscribed, map: {yaml_map} }}")
    assert parse_mapping(text, Path("m.yaml")).follower.fields["Language__c"].map == expected
