import pytest

from genesys.oauth import AccessToken
from genesys.regions import UnknownRegionError, resolve_hosts
from genesys.token_secret import TokenSecret, TokenSecretError


def test_region_domain_gives_api_and_login_hosts():
    hosts = resolve_hosts("mypurecloud.ie", env={})
    assert hosts.api_url == "https://api.mypurecloud.ie"
    assert hosts.login_url == "https://login.mypurecloud.ie"


def test_environment_variables_override_the_hosts():
    env = {"GENESYS_API_URL": "http://127.0.0.1:9/", "GENESYS_LOGIN_URL": "http://127.0.0.1:8"}
    hosts = resolve_hosts("usw2.pure.cloud", env=env)
    assert (hosts.api_url, hosts.login_url) == ("http://127.0.0.1:9", "http://127.0.0.1:8")


def test_a_local_base_url_serves_both_hosts():
    hosts = resolve_hosts("http://127.0.0.1:8123", env={})
    assert hosts.api_url == hosts.login_url == "http://127.0.0.1:8123"


def test_unknown_region_is_a_clear_error():
    with pytest.raises(UnknownRegionError, match=r"unknown Genesys region domain 'mypurecloud\.xx'"):
        resolve_hosts("mypurecloud.xx", env={})


def test_token_secret_round_trips_and_never_shows_the_token_in_repr():
    token = AccessToken("tok-VERY-SECRET", "bearer", 100.0, 3700.0)
    secret = TokenSecret.from_token(token, org="acme", environment="mypurecloud.ie", client_id="cid")
    assert TokenSecret.from_json(secret.to_json()) == secret
    assert "tok-VERY-SECRET" not in repr(secret)
    assert "tok-VERY-SECRET" not in repr(token)
    assert secret.remaining(now=700.0) == 3000.0


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("nope", "Invalid JSON"),
        ("[]", "should be an object"),
        ('{"access_token": "SECRETVALUE"}', "expires_at: Field required"),
        ('{"access_token": "SECRETVALUE", "expires_at": "soon"}', "expires_at: Input should be a valid number"),
    ],
)
def test_bad_token_secrets_are_rejected_without_echoing_them(text, message):
    with pytest.raises(TokenSecretError, match=message) as caught:
        TokenSecret.from_json(text)
    assert "SECRETVALUE" not in str(caught.value)
