"""Structuring a profile's broker keys into WebullSettings with the core's converter."""

from __future__ import annotations

from typing import Any

import attrs
import cattrs
import pytest
from brokerauth.toolkit.converter import make_converter
from brokerauth.toolkit.secrets import Secret
from brokerauth_webull import environments
from brokerauth_webull.settings import WebullSettings

REFS = {"app_key": {"env": "WEBULL_APP_KEY"}, "app_secret": {"file": "~/.webull/secret"}}


def structure(**keys: Any) -> WebullSettings:
    return make_converter().structure({**REFS, **keys}, WebullSettings)


def messages(exc: BaseException) -> list[str]:
    """Every leaf message of a cattrs error tree."""
    if isinstance(exc, cattrs.BaseValidationError):
        return [m for sub in exc.exceptions for m in messages(sub)]
    return [str(exc)]


def test_defaults() -> None:
    settings = structure()
    assert settings.app_key == Secret(env="WEBULL_APP_KEY")
    assert settings.app_secret == Secret(file="~/.webull/secret")
    assert settings.environment == "us"
    assert settings.api_base_url == "https://api.webull.com"
    assert settings.signature_algorithm == "HMAC-SHA256"
    assert settings.token_api == "v3"
    assert settings.token_endpoints.create == "/auth/tokens/create"
    assert settings.token_endpoints.version == "v3"
    assert settings.two_factor == "auto"
    assert (settings.poll_interval, settings.verification_timeout) == (5.0, 300.0)
    assert settings.import_sdk_token is False
    assert settings.sdk_token_dir is None


def test_everything_set() -> None:
    settings = structure(
        environment="uat",
        signature_algorithm="HMAC-SHA1",
        token_api="v2",
        two_factor="on",
        poll_interval=1,
        verification_timeout=60,
        import_sdk_token=True,
        sdk_token_dir="~/conf",
    )
    assert settings.api_base_url == "https://us-openapi-alb.uat.webullbroker.com"
    assert settings.token_endpoints.check == "/openapi/auth/token/check"
    assert settings.token_endpoints.version == "v2"


@pytest.mark.parametrize(
    ("name", "host"),
    [
        ("us", "api.webull.com"),
        ("hk", "api.webull.hk"),
        ("jp", "api.webull.co.jp"),
        ("sandbox", "api.sandbox.webull.com"),
        ("uat", "us-openapi-alb.uat.webullbroker.com"),
        ("hk-sandbox", "api.sandbox.webull.hk"),
    ],
)
def test_environments(name: str, host: str) -> None:
    assert structure(environment=name).api_base_url == f"https://{host}"
    assert environments.api_host(name) == host


def test_base_url_overrides_the_environment() -> None:
    settings = structure(environment="hk", base_url="http://127.0.0.1:8080/")
    assert settings.api_base_url == "http://127.0.0.1:8080"


def test_unknown_environment_lists_the_valid_ones() -> None:
    with pytest.raises(cattrs.ClassValidationError) as caught:
        structure(environment="mars")
    (message,) = messages(caught.value)
    assert "'mars'" in message
    assert "environment" in message
    for name in environments.BY_NAME:
        assert name in message
    with pytest.raises(ValueError, match="valid: us, hk"):
        environments.api_host("mars")


def test_literal_secret_is_refused() -> None:
    with pytest.raises(cattrs.ClassValidationError) as caught:
        structure(app_secret="hunter2-literal")
    (message,) = messages(caught.value)
    assert "literal secret" in message
    assert "hunter2-literal" not in message


@pytest.mark.parametrize(
    ("keys", "needle"),
    [
        ({"colour": "blue"}, "colour"),
        ({"signature_algorithm": "HMAC-MD5"}, "HMAC-MD5"),
        ({"token_api": "v4"}, "v4"),
        ({"two_factor": "maybe"}, "maybe"),
        ({"poll_interval": 0}, "poll_interval"),
        ({"verification_timeout": -1}, "verification_timeout"),
        ({"base_url": "ftp://example.com"}, "base_url"),
        ({"base_url": "api.webull.com"}, "base_url"),
        ({"import_sdk_token": "yes"}, "true or false"),
    ],
)
def test_bad_values(keys: dict[str, Any], needle: str) -> None:
    with pytest.raises(cattrs.ClassValidationError) as caught:
        structure(**keys)
    text = " ".join(messages(caught.value)) + " ".join(cattrs.transform_error(caught.value))
    assert needle in text


def test_missing_secret() -> None:
    with pytest.raises(cattrs.ClassValidationError):
        make_converter().structure({"app_key": {"env": "X"}}, WebullSettings)


def test_every_field_has_help() -> None:
    for field in attrs.fields(WebullSettings):
        assert field.metadata.get("help"), field.name


def test_repr_hides_secret_values() -> None:
    settings = WebullSettings(
        app_key=Secret.from_value("canary-key-value"), app_secret=Secret.from_value("canary-sec")
    )
    assert "canary" not in repr(settings)
    assert "canary" not in str(settings)
