"""Login and version settings: the JWT audience (SALESFORCE_JWT_AUDIENCE, or the guess
from the login URL), what a refused audience tells the admin, and the oldest API version
the bridge can write with."""

from __future__ import annotations

import pytest

from connector.errors import ConfigurationError
from connector.salesforce.auth import jwt_audience
from connector.salesforce.errors import classify_login_failure
from connector.settings import SettingsError, load_settings

WECHAT = {"WECHAT_APP_ID": "wx0123456789abcdef", "WECHAT_APP_SECRET": "s",
          "WECHAT_TOKEN": "token123"}
SALESFORCE = {"SALESFORCE_CLIENT_ID": "3MVGkey", "SALESFORCE_CLIENT_SECRET": "secret"}


@pytest.mark.parametrize(
    ("login_url", "audience"),
    [
        ("https://acme.scratch.my.salesforce.com", "https://test.salesforce.com"),
        # a sandbox's My Domain before enhanced domains: <domain>--<sandbox>.my.
        ("https://acme--uat.my.salesforce.com", "https://test.salesforce.com"),
        ("https://acme.develop.my.salesforce.com", "https://login.salesforce.com"),
    ],
)
def test_the_audience_guess_knows_scratch_and_legacy_sandbox_domains(login_url, audience):
    assert jwt_audience(login_url) == audience


def test_a_configured_audience_wins_over_the_guess():
    # e.g. an org whose login goes through a custom domain the guess cannot place
    assert jwt_audience("https://login.acme.com", "https://test.salesforce.com") == \
        "https://test.salesforce.com"
    settings = load_settings(SALESFORCE_JWT_AUDIENCE="https://test.salesforce.com/",
                             **SALESFORCE, **WECHAT)
    assert settings.SALESFORCE_JWT_AUDIENCE == "https://test.salesforce.com"


def test_an_audience_that_is_no_https_url_is_refused_at_start_up():
    with pytest.raises(SettingsError) as caught:
        load_settings(SALESFORCE_JWT_AUDIENCE="login.salesforce.com", **SALESFORCE, **WECHAT)
    assert "SALESFORCE_JWT_AUDIENCE: must be an https:// URL" in caught.value.message


@pytest.mark.parametrize("description", ["audience is invalid",
                                         "user hasn't approved this consumer"])
def test_a_refused_jwt_lists_the_audiences_to_try(description):
    error = classify_login_failure(
        400, {"error": "invalid_grant", "error_description": description},
        "https://acme.my.salesforce.com", audience="https://acme.my.salesforce.com")
    assert isinstance(error, ConfigurationError)
    for text in ("aud) was https://acme.my.salesforce.com", "https://login.salesforce.com",
                 "https://test.salesforce.com", "Experience Cloud site",
                 "SALESFORCE_JWT_AUDIENCE"):
        assert text in error.message


def test_client_credentials_failures_say_nothing_of_audiences():
    error = classify_login_failure(
        400, {"error": "invalid_grant", "error_description": "audience is invalid"},
        "https://acme.my.salesforce.com")
    assert "SALESFORCE_JWT_AUDIENCE" not in error.message


@pytest.mark.parametrize("version", ["45.0", "v31.0"])
def test_an_api_version_without_collection_upsert_is_refused_at_start_up(version):
    with pytest.raises(SettingsError) as caught:
        load_settings(SALESFORCE_API_VERSION=version, **SALESFORCE, **WECHAT)
    message = caught.value.message
    assert "SALESFORCE_API_VERSION" in message and "46.0" in message
    assert "sObject Collections upsert" in message


def test_api_version_46_is_the_oldest_taken():
    assert load_settings(SALESFORCE_API_VERSION="46.0", **SALESFORCE,
                         **WECHAT).SALESFORCE_API_VERSION == "46.0"
