"""The Graph API client, the gateway's sending and the doctor's Cloud API checks, against
the fake Graph API on 127.0.0.1 (tests/fake_cloudapi.py)."""

from __future__ import annotations

import logging
import socket

import pytest

from django_whatsapp_login.doctor import FAIL, PASS, SKIP, WARN, Result
from django_whatsapp_login.exceptions import WhatsAppLoginImproperlyConfigured
from django_whatsapp_login.gateways import GatewayError
from django_whatsapp_login.gateways.cloudapi.client import (
    CloudAPIAuthError,
    CloudAPIClient,
    CloudAPIError,
    CloudAPIRateLimited,
    CloudAPIUnavailable,
)
from django_whatsapp_login.gateways.cloudapi.gateway import CloudAPIGateway

from .fake_cloudapi import (
    ACCESS_TOKEN,
    APP_ID,
    APP_SECRET,
    USER_BSUID,
    USER_DIGITS,
    VERSION,
    meta_error,
)

SECRETS = (ACCESS_TOKEN, APP_SECRET)


@pytest.fixture
def client(fake_cloudapi):
    with CloudAPIClient.from_settings(backoff=0.5, max_wait=5.0) as c:
        yield c


def assert_no_secret(*texts: str) -> None:
    for text in texts:
        for secret in SECRETS:
            assert secret not in text


# --- sending ---------------------------------------------------------------------------


def test_send_text(client, fake_cloudapi):
    message_id = client.send_text("+" + USER_DIGITS, "Signed in on example.com")
    assert message_id == "wamid.FAKESENT000000000001"
    assert fake_cloudapi.sent == [
        {
            "messaging_product": "whatsapp",
            "recipient_type": "individual",
            "to": USER_DIGITS,
            "type": "text",
            "text": {"body": "Signed in on example.com"},
        }
    ]
    assert fake_cloudapi.authorizations == [f"Bearer {ACCESS_TOKEN}"]


def test_send_to_a_business_scoped_user_id_uses_recipient(client, fake_cloudapi):
    client.send_text(USER_BSUID, "hi")
    assert fake_cloudapi.sent[0]["recipient"] == USER_BSUID
    assert "to" not in fake_cloudapi.sent[0]


def test_a_reply_quotes_the_message(client, fake_cloudapi):
    client.send_text(USER_DIGITS, "hi", reply_to="wamid.FAKE0001")
    assert fake_cloudapi.sent[0]["context"] == {"message_id": "wamid.FAKE0001"}


def test_send_buttons(client, fake_cloudapi):
    client.send_buttons(
        USER_DIGITS, "Is it you signing in?", [("yes:1", "Yes, it's me"), ("no:1", "No")]
    )
    sent = fake_cloudapi.sent[0]
    assert sent["type"] == "interactive"
    assert sent["interactive"] == {
        "type": "button",
        "body": {"text": "Is it you signing in?"},
        "action": {
            "buttons": [
                {"type": "reply", "reply": {"id": "yes:1", "title": "Yes, it's me"}},
                {"type": "reply", "reply": {"id": "no:1", "title": "No"}},
            ]
        },
    }


@pytest.mark.parametrize(
    "buttons",
    [
        [],
        [("a", "A"), ("b", "B"), ("c", "C"), ("d", "D")],
        [("a", "x" * 21)],
        [("a", "")],
        [("a", "   ")],
        [("", "A")],
        [("x" * 257, "A")],
        [("a", "Same"), ("b", "Same")],
        [("a", "One"), ("a", "Two")],
    ],
)
def test_buttons_that_meta_would_refuse_are_never_sent(client, fake_cloudapi, buttons):
    with pytest.raises(ValueError):
        client.send_buttons(USER_DIGITS, "Question?", buttons)
    assert fake_cloudapi.requests == []


def test_limits_that_are_allowed(client, fake_cloudapi):
    client.send_buttons(USER_DIGITS, "Q" * 1024, [("x" * 256, "t" * 20)] * 1)
    client.send_text(USER_DIGITS, "x" * 4096)
    assert len(fake_cloudapi.sent) == 2
    with pytest.raises(ValueError):
        client.send_text(USER_DIGITS, "x" * 4097)
    with pytest.raises(ValueError):
        client.send_text(USER_DIGITS, "")


# --- retries and errors ----------------------------------------------------------------


def test_429_is_retried_after_retry_after(client, fake_cloudapi):
    fake_cloudapi.rate_limit("messages", retry_after="2")
    assert client.send_text(USER_DIGITS, "hi").startswith("wamid.")
    assert fake_cloudapi.sleeps == [2.0]
    assert len(fake_cloudapi.calls("messages")) == 2


def test_a_retry_after_beyond_the_call_s_budget_is_not_waited_for(client, fake_cloudapi):
    fake_cloudapi.rate_limit("messages", retry_after="30")
    with pytest.raises(CloudAPIRateLimited) as caught:
        client.send_text(USER_DIGITS, "hi")
    assert fake_cloudapi.sleeps == []
    assert len(fake_cloudapi.calls("messages")) == 1
    assert caught.value.status == 429 and caught.value.code == 130429


def test_5xx_is_retried_with_exponential_backoff(client, fake_cloudapi):
    fake_cloudapi.server_error("phone_number", times=2)
    assert client.phone_number().digits == "996555000001"
    assert fake_cloudapi.sleeps == [0.5, 1.0]


def test_5xx_every_time_gives_up_within_the_budget(fake_cloudapi):
    fake_cloudapi.server_error("messages", times=10)
    with CloudAPIClient.from_settings(max_retries=5, backoff=1.0, max_wait=4.0) as client:
        with pytest.raises(CloudAPIUnavailable) as caught:
            client.send_text(USER_DIGITS, "hi")
    # 1 + 2 = 3 s waited; the next wait (4 s) would pass the 4 s budget.
    assert fake_cloudapi.sleeps == [1.0, 2.0]
    assert sum(fake_cloudapi.sleeps) <= 4.0
    assert len(fake_cloudapi.calls("messages")) == 3
    assert caught.value.status == 500
    assert isinstance(caught.value, GatewayError)


def test_max_retries_bounds_the_attempts(fake_cloudapi):
    fake_cloudapi.server_error("phone_number", times=10)
    with CloudAPIClient.from_settings(max_retries=1, backoff=0.1, max_wait=60) as client:
        with pytest.raises(CloudAPIUnavailable):
            client.phone_number()
    assert len(fake_cloudapi.calls("phone_number")) == 2


def test_an_expired_token_is_an_auth_error_without_retry(client, fake_cloudapi):
    fake_cloudapi.expire_token()
    with pytest.raises(CloudAPIAuthError) as caught:
        client.send_text(USER_DIGITS, "hi")
    error = caught.value
    assert (error.status, error.code, error.subcode) == (401, 190, 463)
    assert "Session has expired" in str(error)
    assert "WHATSAPP_LOGIN_CLOUD_API_ACCESS_TOKEN" in str(error)
    assert error.trace_id == "AFakeTraceId0001"
    assert len(fake_cloudapi.calls("messages")) == 1
    assert fake_cloudapi.sleeps == []
    assert_no_secret(str(error), repr(error))


def test_a_wrong_token_is_an_auth_error(fake_cloudapi, settings):
    settings.WHATSAPP_LOGIN_CLOUD_API_ACCESS_TOKEN = "EAAFAKEwrongtoken000000000000000"
    with CloudAPIClient.from_settings() as client, pytest.raises(CloudAPIAuthError) as caught:
        client.phone_number()
    assert caught.value.code == 190
    assert "EAAFAKEwrongtoken" not in str(caught.value)


def test_a_refused_message_keeps_meta_s_code(client, fake_cloudapi):
    fake_cloudapi.fail("messages", 400, body=meta_error("(#131047) Re-engagement message", 131047))
    with pytest.raises(CloudAPIError) as caught:
        client.send_text(USER_DIGITS, "hi")
    assert type(caught.value) is CloudAPIError
    assert caught.value.code == 131047
    assert len(fake_cloudapi.calls("messages")) == 1


def test_a_permission_error_is_an_auth_error(client, fake_cloudapi):
    fake_cloudapi.fail("messages", 403, body=meta_error("(#200) Permissions error", 200))
    with pytest.raises(CloudAPIAuthError):
        client.send_text(USER_DIGITS, "hi")


def test_an_answer_that_is_not_json(client, fake_cloudapi):
    fake_cloudapi.fail("phone_number", 502, times=3, body="<html>Bad gateway</html>")
    with pytest.raises(CloudAPIUnavailable) as caught:
        client.phone_number()
    assert caught.value.reason == "HTTP 502"


def test_a_send_that_timed_out_is_not_repeated(fake_cloudapi):
    fake_cloudapi.delay("messages", 1.0)
    with CloudAPIClient.from_settings(timeout=0.2) as client:
        with pytest.raises(CloudAPIUnavailable):
            client.send_text(USER_DIGITS, "hi")
    assert len(fake_cloudapi.calls("messages")) == 1


def test_a_read_that_timed_out_is_retried(fake_cloudapi):
    fake_cloudapi.delay("phone_number", 1.0)
    with CloudAPIClient.from_settings(timeout=0.2, max_retries=1, backoff=0.1) as client:
        with pytest.raises(CloudAPIUnavailable) as caught:
            client.phone_number()
    assert len(fake_cloudapi.calls("phone_number")) == 2
    assert "no answer within 0.2 s" in str(caught.value)


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_a_refused_connection(cloudapi_settings, monkeypatch):
    from django_whatsapp_login.gateways.cloudapi import client as module

    sleeps: list[float] = []
    monkeypatch.setattr(module, "_sleep", sleeps.append)
    cloudapi_settings.WHATSAPP_LOGIN_CLOUD_API_URL = f"http://127.0.0.1:{closed_port()}"
    with CloudAPIClient.from_settings(max_retries=2, backoff=0.1) as client:
        with pytest.raises(CloudAPIUnavailable) as caught:
            client.phone_number()
        assert len(sleeps) == 2  # a read is retried
        sleeps.clear()
        with pytest.raises(CloudAPIUnavailable):
            client.send_text(USER_DIGITS, "hi")
        assert sleeps == []  # a send whose connection broke may have arrived: not repeated
    assert "cannot connect" in str(caught.value)
    assert isinstance(caught.value.__cause__, Exception)


def test_the_token_never_reaches_logs_reprs_or_errors(fake_cloudapi, caplog):
    fake_cloudapi.server_error("messages")
    fake_cloudapi.expire_token()
    with caplog.at_level(logging.DEBUG):
        with CloudAPIClient.from_settings() as client:
            with pytest.raises(CloudAPIAuthError) as caught:
                client.subscriptions()
            text = repr(client)
    assert_no_secret(caplog.text, text, str(caught.value), repr(caught.value))
    assert f"{APP_ID}|{APP_SECRET}" not in caplog.text


def test_the_client_needs_its_settings(settings):
    settings.WHATSAPP_LOGIN_CLOUD_API_PHONE_NUMBER_ID = ""
    settings.WHATSAPP_LOGIN_CLOUD_API_ACCESS_TOKEN = "x"
    with pytest.raises(WhatsAppLoginImproperlyConfigured):
        CloudAPIClient.from_settings()


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("https://graph.facebook.com", False),
        ("http://127.0.0.1:8080", False),
        ("http://localhost:8080", False),
        ("http://graph.facebook.com", True),
        ("ftp://graph.facebook.com", True),
        ("graph.facebook.com", True),
    ],
)
def test_url_problem(url, problem):
    assert bool(CloudAPIClient.url_problem(url)) is problem


# --- reading -------------------------------------------------------------------------------


def test_phone_number(client, fake_cloudapi):
    info = client.phone_number()
    assert info.digits == "996555000001"
    assert (info.verified_name, info.quality_rating) == ("Fake Tenant Services", "GREEN")
    assert fake_cloudapi.calls("phone_number")[0][0] == "GET"


def test_subscriptions_use_the_app_token(client, fake_cloudapi):
    subscriptions = client.subscriptions()
    assert [(s.object, s.active, s.fields) for s in subscriptions] == [
        ("whatsapp_business_account", True, ("messages",))
    ]
    assert fake_cloudapi.authorizations == [f"Bearer {APP_ID}|{APP_SECRET}"]


def test_subscriptions_need_the_app_id_and_secret(fake_cloudapi, settings):
    settings.WHATSAPP_LOGIN_CLOUD_API_APP_ID = ""
    with CloudAPIClient.from_settings() as client:
        with pytest.raises(WhatsAppLoginImproperlyConfigured):
            client.subscriptions()
    assert fake_cloudapi.requests == []


def test_the_version_is_in_every_url(fake_cloudapi, settings):
    settings.WHATSAPP_LOGIN_CLOUD_API_API_VERSION = "25.0"
    with CloudAPIClient.from_settings() as client, pytest.raises(CloudAPIError):
        client.phone_number()  # the fake serves v26.0 only
    settings.WHATSAPP_LOGIN_CLOUD_API_API_VERSION = VERSION
    with CloudAPIClient.from_settings() as client:
        assert client.phone_number().id == fake_cloudapi.phone_number_id


# --- the gateway -------------------------------------------------------------------------


def test_the_gateway_sends_text_and_questions(fake_cloudapi):
    gateway = CloudAPIGateway()
    assert gateway.send_text(USER_DIGITS, "hello", reply_to="wamid.X").startswith("wamid.")
    gateway.send_question(USER_BSUID, "You?", [("yes", "Yes"), ("no", "No")])
    text, question = fake_cloudapi.sent
    assert text["context"] == {"message_id": "wamid.X"}
    assert question["recipient"] == USER_BSUID
    assert [b["reply"]["title"] for b in question["interactive"]["action"]["buttons"]] == [
        "Yes",
        "No",
    ]


def statuses(results: list[Result]) -> dict[str, str]:
    return {result.id: result.status for result in results}


def test_checks_pass_against_a_good_setup(fake_cloudapi):
    results = CloudAPIGateway().checks()
    assert statuses(results) == {
        "cloudapi_settings": PASS,
        "cloudapi_secrets": PASS,
        "cloudapi_token": PASS,
        "cloudapi_phone": PASS,
        "cloudapi_subscription": PASS,
    }
    assert all(result.fix == "" for result in results)
    assert_no_secret(*(r.detail for r in results))


def test_checks_with_an_expired_token(fake_cloudapi):
    fake_cloudapi.expire_token()
    results = CloudAPIGateway().checks()
    assert statuses(results)["cloudapi_token"] == FAIL
    assert statuses(results)["cloudapi_phone"] == SKIP
    token = next(r for r in results if r.id == "cloudapi_token")
    assert "system user" in token.fix
    assert_no_secret(token.detail, token.fix)


def test_checks_with_the_wrong_business_phone(fake_cloudapi, settings):
    settings.WHATSAPP_LOGIN_BUSINESS_PHONE = "+996 555 000 002"
    phone = next(r for r in CloudAPIGateway().checks() if r.id == "cloudapi_phone")
    assert phone.status == FAIL
    assert '"+996555000001"' in phone.fix
    assert "+996•••002" in phone.detail


def test_checks_warn_about_a_red_quality_rating(fake_cloudapi):
    fake_cloudapi.phone["quality_rating"] = "RED"
    assert statuses(CloudAPIGateway().checks())["cloudapi_phone"] == WARN


def test_checks_without_the_messages_field(fake_cloudapi):
    fake_cloudapi.subscriptions[0]["fields"] = [{"name": "account_update", "version": VERSION}]
    result = next(r for r in CloudAPIGateway().checks() if r.id == "cloudapi_subscription")
    assert result.status == FAIL
    assert "account_update" in result.detail and "messages field" in result.fix


def test_checks_without_an_active_subscription(fake_cloudapi):
    fake_cloudapi.subscriptions[0]["active"] = False
    assert statuses(CloudAPIGateway().checks())["cloudapi_subscription"] == FAIL


def test_checks_without_an_app_id(fake_cloudapi, settings):
    settings.WHATSAPP_LOGIN_CLOUD_API_APP_ID = ""
    assert statuses(CloudAPIGateway().checks())["cloudapi_subscription"] == WARN
    assert fake_cloudapi.calls("subscriptions") == []


def test_checks_without_secrets(fake_cloudapi, settings):
    settings.WHATSAPP_LOGIN_CLOUD_API_APP_SECRET = []
    settings.WHATSAPP_LOGIN_CLOUD_API_VERIFY_TOKEN = ""
    result = next(r for r in CloudAPIGateway().checks() if r.id == "cloudapi_secrets")
    assert result.status == FAIL
    assert "APP_SECRET" in result.detail and "VERIFY_TOKEN" in result.detail


def test_checks_without_settings_make_no_request(cloudapi_settings):
    cloudapi_settings.WHATSAPP_LOGIN_CLOUD_API_ACCESS_TOKEN = ""
    results = CloudAPIGateway(client_factory=lambda: pytest.fail("no client")).checks()
    assert statuses(results) == {
        "cloudapi_settings": FAIL,
        "cloudapi_secrets": PASS,
        "cloudapi_token": SKIP,
        "cloudapi_phone": SKIP,
        "cloudapi_subscription": SKIP,
    }


def test_checks_refuse_a_plain_http_url(cloudapi_settings):
    cloudapi_settings.WHATSAPP_LOGIN_CLOUD_API_URL = "http://graph.example.com"
    results = CloudAPIGateway(client_factory=lambda: pytest.fail("no client")).checks()
    assert statuses(results)["cloudapi_settings"] == FAIL


# --- settings and the interface's defaults -------------------------------------------------


def test_settings_are_read_on_access(settings):
    from django_whatsapp_login.conf import app_settings

    settings.WHATSAPP_LOGIN_CLOUD_API_API_VERSION = "25.0"
    settings.WHATSAPP_LOGIN_CLOUD_API_PHONE_NUMBER_ID = 100000000000001
    settings.WHATSAPP_LOGIN_CLOUD_API_APP_SECRET = ["new", "", "old"]
    settings.WHATSAPP_LOGIN_CLOUD_API_URL = "https://graph.example.com/"
    assert app_settings.CLOUD_API_API_VERSION == "v25.0"
    assert app_settings.CLOUD_API_PHONE_NUMBER_ID == "100000000000001"
    assert app_settings.CLOUD_API_APP_SECRETS == ["new", "old"]
    assert app_settings.CLOUD_API_URL == "https://graph.example.com"
    del settings.WHATSAPP_LOGIN_CLOUD_API_API_VERSION
    assert app_settings.CLOUD_API_API_VERSION == "v26.0"
    settings.WHATSAPP_LOGIN_CLOUD_API_VERIFY_TOKEN = 42
    with pytest.raises(WhatsAppLoginImproperlyConfigured, match="CLOUD_API_VERIFY_TOKEN"):
        assert app_settings.CLOUD_API_VERIFY_TOKENS


def test_a_gateway_without_buttons_asks_in_text():
    from django_whatsapp_login.gateways import Gateway

    class TextOnly(Gateway):
        name = "textonly"
        sent: list[tuple[str, str, str]] = []

        def authenticate(self, request):
            return False

        def parse(self, body):
            return []

        def send_text(self, to, text, *, reply_to=""):
            self.sent.append((to, text, reply_to))
            return "id-1"

        def checks(self):
            return []

    gateway = TextOnly()
    assert gateway.send_question("c1", "Is it you?", [("y", "YES"), ("n", "NO")], reply_to="m")
    assert gateway.sent == [("c1", "Is it you?\n\nYES / NO", "m")]
