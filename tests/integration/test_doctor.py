"""``connector doctor`` against the emulators: green on a good configuration, and each
misconfiguration an admin can make named with its fix."""

from __future__ import annotations

import json

import pytest

from connector.cli.main import main


def doctor(capsys, *args: str) -> tuple[int, str]:
    code = main(["doctor", *args])
    return code, capsys.readouterr().out


def statuses(capsys, *args: str) -> tuple[int, dict[str, dict]]:
    code, out = doctor(capsys, "--json", *args)
    return code, {f"{c['section']}/{c['subject']}": c for c in json.loads(out)}


def test_a_good_configuration_passes_every_check(bridge, capsys):
    code, out = doctor(capsys, "--url", bridge.web.url)
    assert code == 0, out
    for subject in ("login", "API version", "mapping", "permissions", "daily API requests",
                    "Outbound Message endpoint", "token", "server URL"):
        assert f"ok    {subject}:" in out, (subject, out)
    assert "JWT bearer flow as integration@bridge.sandbox" in out
    assert "ready to go live" in out


def test_without_a_url_the_endpoint_checks_are_skipped_not_failed(bridge, capsys):
    code, checks = statuses(capsys)
    assert code == 0
    assert checks["Salesforce/Outbound Message endpoint"]["status"] == "skip"
    assert [c["status"] for k, c in checks.items() if k.endswith("/server URL")] == ["skip"]


def test_an_ip_off_the_whitelist_is_named_with_the_fix(bridge, capsys):
    bridge.box.wechat.ip_whitelist.replace(["203.0.113.0/24"])
    code, checks = statuses(capsys)
    token = next(c for k, c in checks.items() if k.endswith("/token"))
    assert code == 1
    assert token["status"] == "fail"
    assert "127.0.0.1" in token["detail"] and "whitelist" in token["detail"]


def test_a_server_url_with_another_token_is_refused(bridge, capsys, monkeypatch):
    monkeypatch.setenv("WECHAT_TOKEN", "another" + "0" * 25)
    code, checks = statuses(capsys, "--url", bridge.web.url)
    server = next(c for k, c in checks.items() if k.endswith("/server URL"))
    assert code == 1
    assert server["status"] == "fail" and "WECHAT_TOKEN" in server["detail"]


def test_an_endpoint_that_is_not_the_bridge_fails(bridge, capsys):
    code, checks = statuses(capsys, "--url", bridge.web.url + "/nowhere")
    assert code == 1
    assert checks["Salesforce/Outbound Message endpoint"]["status"] == "fail"
    assert "HTTP 404" in checks["Salesforce/Outbound Message endpoint"]["detail"]


def test_a_refused_login_fails_and_skips_the_org_checks(bridge, capsys, monkeypatch):
    monkeypatch.setenv("SALESFORCE_CLIENT_ID", "3MVG9unknown")
    code, checks = statuses(capsys)
    assert code == 1
    assert checks["Salesforce/login"]["status"] == "fail"
    assert "SALESFORCE_CLIENT_ID" in checks["Salesforce/login"]["detail"]
    assert checks["Salesforce/the rest"]["status"] == "skip"


def test_an_api_version_the_org_does_not_serve_names_the_newest(bridge, capsys, monkeypatch):
    monkeypatch.setenv("SALESFORCE_API_VERSION", "99.0")
    code, checks = statuses(capsys)
    assert code == 1
    assert checks["Salesforce/API version"]["status"] == "fail"
    assert "does not serve API version 99.0" in checks["Salesforce/API version"]["detail"]


def test_a_mapping_field_the_org_lacks_is_named_with_its_line(make_bridge, capsys):
    def mapping(box):
        from pathlib import Path

        text = Path("mappings/default.yaml").read_text(encoding="utf-8")
        return text.replace("Language__c:", "Langauge__c:", 1)

    make_bridge(mapping=mapping)
    code, checks = statuses(capsys)
    assert code == 1
    detail = checks["Salesforce/mapping"]["detail"]
    assert "Langauge__c" in detail and "mapping.yaml:" in detail


def test_the_daily_api_allowance_near_its_end_is_a_warning(bridge, capsys):
    salesforce = bridge.box.salesforce
    salesforce.spend_api_calls(int(salesforce.usage.limit * 0.85), seconds=3600)
    code, checks = statuses(capsys)
    assert code == 0  # a warning: the bridge still works, polls are held
    assert checks["Salesforce/daily API requests"]["status"] == "warn"
    assert "SALESFORCE_API_ALLOCATION" in checks["Salesforce/daily API requests"]["detail"]


def test_the_rules_on_the_created_object_are_named(bridge, capsys):
    code, checks = statuses(capsys)
    assert code == 0
    assert "'Lead Routing' is active" in checks["Salesforce/Lead assignment rule"]["detail"]
    assert checks["Salesforce/Lead duplicate rules"]["detail"] == "none active"
    bridge.box.salesforce.rules.set_duplicates(True)
    code, checks = statuses(capsys)
    duplicate = checks["Salesforce/Lead duplicate rules"]
    assert code == 0 and duplicate["status"] == "warn"
    assert "Standard_Lead_Duplicate_Rule" in duplicate["detail"]
    assert "allow_duplicates" in duplicate["detail"]


@pytest.mark.parametrize("entries,allowed", [(["127.0.0.1"], True), (["127.0.0.0/8"], True),
                                             (["10.0.0.1"], False)])
def test_the_whitelist_takes_addresses_and_blocks(entries, allowed):
    from sandbox.wechat.errors import ApiError
    from sandbox.wechat.ip_whitelist import IpWhitelist

    whitelist = IpWhitelist(entries)
    if allowed:
        whitelist.check("127.0.0.1")
    else:
        with pytest.raises(ApiError) as caught:
            whitelist.check("127.0.0.1")
        assert caught.value.errcode == 40164
        assert caught.value.errmsg == "invalid ip 127.0.0.1 ipv6 ::ffff:127.0.0.1, not in whitelist"


def test_the_outbound_endpoint_needs_its_secret_and_never_prints_it(bridge, capsys,
                                                                    monkeypatch):
    secret = bridge.box.env["SALESFORCE_OUTBOUND_SECRET"]
    code, out = doctor(capsys, "--url", bridge.web.url)
    assert code == 0 and secret not in out
    assert "/salesforce/outbound/<SALESFORCE_OUTBOUND_SECRET>: reachable" in out
    monkeypatch.delenv("SALESFORCE_OUTBOUND_SECRET")
    code, checks = statuses(capsys, "--url", bridge.web.url)
    assert code == 1
    assert "SALESFORCE_OUTBOUND_SECRET is not set" in \
        checks["Salesforce/Outbound Message endpoint"]["detail"]
