"""Webhook authentication and transport (SR-1..SR-4, catalogue §3 auth rows).

Every refused request carries a body that *would* log someone in with a valid token, so
a check that let it through would change the database and fail the test.
"""

from __future__ import annotations

import json
import logging
from unittest import mock

import pytest
from django.core.handlers.wsgi import WSGIRequest
from django.test import Client, override_settings

from django_whatsapp_login import webhooks
from django_whatsapp_login.gateways.greenapi import gateway as greenapi_gateway
from django_whatsapp_login.gateways.greenapi import payloads as greenapi
from django_whatsapp_login.gateways.greenapi.payloads import MAX_BODY_BYTES
from django_whatsapp_login.models import Status

from .conftest import TOKEN, WebhookClient, incoming, start
from .webhook_helpers import attempt_state, only_attempt, processed

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("skip_qr_rendering")]


URL = "/whatsapp/webhook/"
EXAMPLE_URL = "/api/webhooks/greenapi/incoming/"
OTHER_TOKEN = "second-webhook-token-ZYXWVUTSRQPONMLKJIHGFEDCBA987"
BASIC_VALUE = "Basic dXNlcjpzM2NyZXQtdmFsdWUtMDEyMzQ1Njc4OWFiY2RlZg=="


@pytest.fixture
def login(browser, make_user):
    """A pending attempt whose login message would confirm it for an existing user."""
    user = make_user("+996700123456")
    data = start(browser)
    return {"user": user, "data": data, "body": json.dumps(incoming(data["message"]))}


def raw_post(
    client: Client,
    body,
    authorization: str | None,
    url: str = URL,
    content_type: str = "application/json",
):
    headers = {} if authorization is None else {"HTTP_AUTHORIZATION": authorization}
    return client.post(url, data=body, content_type=content_type, **headers)


def assert_unauthorized(response) -> None:
    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Bearer")
    assert response.json() == {"error": "unauthorized"}


def assert_nothing_written(before) -> None:
    assert attempt_state() == before
    assert only_attempt().status == Status.PENDING
    assert processed() == []


def assert_confirmed(response) -> None:
    assert response.status_code == 200, response.content
    assert response.json() == {"status": "confirmed"}
    assert only_attempt().status == Status.CONFIRMED


# --- refused credentials ----------------------------------------------------------------


@pytest.mark.parametrize(
    "authorization",
    [
        None,
        "",
        "   ",
        "Basic x",
        f"Basic {TOKEN}",
        "Bearer",
        "Bearer ",
        "Bearer wrong-token",
        f"Bearer {TOKEN}x",
        f"Bearer {TOKEN[:-1]}",
        f"Bearer {TOKEN.upper()}",
        f"Bearer {TOKEN} {TOKEN}",
        f"Bearer{TOKEN}",
        TOKEN,
        f"Token {TOKEN}",
        f"Bearer {OTHER_TOKEN}",
    ],
    ids=lambda value: repr(value)[:40],
)
def test_bad_or_missing_token_is_401_and_writes_nothing(webhook, login, authorization):
    before = attempt_state()
    response = raw_post(webhook.client, login["body"], authorization)
    assert_unauthorized(response)
    assert_nothing_written(before)


@pytest.mark.parametrize("url", [URL, EXAMPLE_URL])
def test_token_in_query_string_is_not_accepted(webhook, login, url):
    before = attempt_state()
    response = raw_post(webhook.client, login["body"], None, url=f"{url}?token={TOKEN}")
    assert_unauthorized(response)
    response = raw_post(
        webhook.client, login["body"], None, url=f"{url}?token={TOKEN}&webhookUrlToken={TOKEN}"
    )
    assert_unauthorized(response)
    assert_nothing_written(before)


def test_example_url_also_requires_the_token(login):
    client = WebhookClient(Client(enforce_csrf_checks=True), url=EXAMPLE_URL)
    before = attempt_state()
    assert_unauthorized(client.post(incoming(login["data"]["message"]), token=None))
    assert_unauthorized(client.post(incoming(login["data"]["message"]), token="nope"))
    assert_nothing_written(before)


# --- accepted credentials ---------------------------------------------------------------


@pytest.mark.parametrize(
    "authorization",
    [f"Bearer {TOKEN}", f"bearer {TOKEN}", f"BEARER {TOKEN}", f"BeArEr {TOKEN}"],
)
def test_bearer_scheme_is_case_insensitive(webhook, login, authorization):
    assert_confirmed(raw_post(webhook.client, login["body"], authorization))
    assert processed() != []


@pytest.mark.parametrize("tokens", [[OTHER_TOKEN, TOKEN], (TOKEN, OTHER_TOKEN)])
def test_token_rotation_accepts_current_and_previous(webhook, login, tokens):
    with override_settings(WHATSAPP_LOGIN_WEBHOOK_TOKEN=tokens):
        before = attempt_state()
        assert_unauthorized(webhook.post(incoming(login["data"]["message"]), token="retired"))
        assert_nothing_written(before)

        first = webhook.post(incoming(login["data"]["message"]), token=tokens[0])
        assert_confirmed(first)
        # The other configured token is accepted too: same sender again -> idempotent.
        second = webhook.post(incoming(login["data"]["message"]), token=tokens[1])
        assert second.status_code == 200
        assert second.json() == {"status": "duplicate", "reason": "already_confirmed"}
    assert len(processed()) == 2


def test_old_token_refused_once_removed_from_the_list(webhook, login):
    with override_settings(WHATSAPP_LOGIN_WEBHOOK_TOKEN=[OTHER_TOKEN]):
        before = attempt_state()
        assert_unauthorized(webhook.post(incoming(login["data"]["message"]), token=TOKEN))
        assert_nothing_written(before)
        assert_confirmed(webhook.post(incoming(login["data"]["message"]), token=OTHER_TOKEN))


@pytest.mark.parametrize("configured", ["", None, [], ["", ""], (), "   "])
def test_no_token_configured_fails_closed(webhook, login, configured):
    with override_settings(WHATSAPP_LOGIN_WEBHOOK_TOKEN=configured):
        before = attempt_state()
        for authorization in (
            None,
            "",
            "Bearer",
            "Bearer ",
            "Bearer x",
            f"Bearer {TOKEN}",
            "Basic ",
            f"Bearer {configured}",
        ):
            assert_unauthorized(raw_post(webhook.client, login["body"], authorization))
        assert_nothing_written(before)


def test_unset_token_setting_fails_closed(webhook, login, settings):
    del settings.WHATSAPP_LOGIN_WEBHOOK_TOKEN
    before = attempt_state()
    for authorization in (None, "Bearer ", f"Bearer {TOKEN}"):
        assert_unauthorized(raw_post(webhook.client, login["body"], authorization))
    assert_nothing_written(before)


def test_configured_value_with_scheme_is_accepted_verbatim(webhook, login):
    with override_settings(WHATSAPP_LOGIN_WEBHOOK_TOKEN=BASIC_VALUE):
        before = attempt_state()
        credentials = BASIC_VALUE.split(" ", 1)[1]
        for wrong in (f"Bearer {credentials}", f"Bearer {BASIC_VALUE}", credentials, "Basic x"):
            assert_unauthorized(raw_post(webhook.client, login["body"], wrong))
        assert_nothing_written(before)
        assert_confirmed(raw_post(webhook.client, login["body"], BASIC_VALUE))


def test_configured_bearer_value_is_accepted_verbatim(webhook, login):
    with override_settings(WHATSAPP_LOGIN_WEBHOOK_TOKEN=f"Bearer {OTHER_TOKEN}"):
        assert_unauthorized(raw_post(webhook.client, login["body"], f"Bearer Bearer {OTHER_TOKEN}"))
        assert_confirmed(raw_post(webhook.client, login["body"], f"Bearer {OTHER_TOKEN}"))


# --- methods, CSRF ----------------------------------------------------------------------


@pytest.mark.parametrize("method", ["GET", "PUT", "HEAD", "OPTIONS", "PATCH", "DELETE", "TRACE"])
def test_other_methods_are_405(webhook, login, method):
    before = attempt_state()
    for url in (URL, EXAMPLE_URL):
        for headers in ({"HTTP_AUTHORIZATION": f"Bearer {TOKEN}"}, {}):
            response = webhook.client.generic(
                method, url, login["body"], content_type="application/json", **headers
            )
            assert response.status_code == 405, (url, headers)
            assert response["Allow"] == "POST"
    assert_nothing_written(before)


def test_post_without_csrf_token_is_accepted(webhook, login):
    # The fixture client enforces CSRF: a normal POST view refuses it ...
    assert webhook.client.post("/whatsapp/start/").status_code == 403
    # ... while the webhook (authenticated by its token instead) accepts it.
    assert_confirmed(webhook.post(incoming(login["data"]["message"])))


def test_example_url_confirms_like_the_app_url(login):
    client = WebhookClient(Client(enforce_csrf_checks=True), url=EXAMPLE_URL)
    assert_confirmed(client.post(incoming(login["data"]["message"])))


# --- body size and content type ---------------------------------------------------------


def padded(body: str, size: int) -> str:
    """``body`` with JSON whitespace appended up to ``size`` bytes (still valid JSON)."""
    assert len(body.encode()) <= size
    return body + " " * (size - len(body.encode()))


@pytest.fixture
def spy_loads():
    with (
        # The webhook parses through the Green API gateway (it once called loads itself).
        mock.patch.object(greenapi_gateway, "loads", wraps=greenapi.loads) as spy,
        mock.patch.object(greenapi, "loads", wraps=greenapi.loads) as module_spy,
    ):
        yield spy, module_spy


def test_oversized_body_without_token_is_401_and_not_parsed(webhook, login, spy_loads):
    before = attempt_state()
    response = raw_post(webhook.client, padded(login["body"], MAX_BODY_BYTES + 1), None)
    assert_unauthorized(response)
    assert not any(spy.called for spy in spy_loads)
    assert_nothing_written(before)


def test_oversized_body_with_token_is_ignored_unparsed(webhook, login, spy_loads):
    before = attempt_state()
    body = padded(login["body"], MAX_BODY_BYTES + 1)
    response = raw_post(webhook.client, body, f"Bearer {TOKEN}")
    assert response.status_code == 200
    assert response.json() == {"status": "ignored", "reason": "too_large"}
    assert not any(spy.called for spy in spy_loads)
    assert_nothing_written(before)


def test_body_of_exactly_the_limit_is_processed(webhook, login, spy_loads):
    response = raw_post(webhook.client, padded(login["body"], MAX_BODY_BYTES), f"Bearer {TOKEN}")
    assert_confirmed(response)
    assert spy_loads[0].call_count == 1


def test_oversized_body_with_understated_content_length_is_not_parsed(webhook, login, spy_loads):
    """The read itself is capped, whatever Content-Length claims."""
    body = padded(login["body"], MAX_BODY_BYTES + 10).encode()
    with mock.patch.object(webhooks, "_content_length", return_value=10):
        response = webhook.client.post(
            URL, data=body, content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {TOKEN}"
        )
    assert response.status_code == 200
    assert response.json() == {"status": "ignored", "reason": "too_large"}
    assert not spy_loads[0].called
    assert processed() == []


@pytest.mark.parametrize(
    "content_type, body",
    [
        ("text/plain", "AMT LOGIN {code}"),
        ("text/plain; charset=utf-8", "typeWebhook=incomingMessageReceived&text=AMT LOGIN {code}"),
        (
            "application/x-www-form-urlencoded",
            "textMessage=AMT+LOGIN+{code}&sender=996700123456%40c.us",
        ),
    ],
)
def test_non_json_content_types(webhook, login, content_type, body):
    body = body.replace("{code}", login["data"]["code"])
    before = attempt_state()
    response = raw_post(webhook.client, body, None, content_type=content_type)
    assert_unauthorized(response)
    response = raw_post(webhook.client, body, f"Bearer {TOKEN}", content_type=content_type)
    assert response.status_code == 200
    assert response.json() == {"status": "ignored", "reason": "malformed_json"}
    assert_nothing_written(before)


def test_multipart_form_post(webhook, login):
    form = {"textMessage": login["data"]["message"], "sender": "996700123456@c.us"}
    before = attempt_state()
    assert_unauthorized(webhook.client.post(URL, data=form))
    response = webhook.client.post(URL, data=form, HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
    assert response.status_code == 200
    assert response.json()["status"] == "ignored"
    assert_nothing_written(before)


# --- authentication happens before the body is touched ----------------------------------


def test_body_is_not_read_or_parsed_before_authentication(webhook, login, spy_loads):
    original_read = WSGIRequest.read
    reads = []

    def read(self, *args, **kwargs):
        reads.append(args)
        return original_read(self, *args, **kwargs)

    with mock.patch.object(WSGIRequest, "read", read):
        assert_unauthorized(raw_post(webhook.client, login["body"], "Bearer wrong"))
        assert reads == []
        assert not any(spy.called for spy in spy_loads)
        # Control: with the right token the same body is read and parsed exactly once.
        assert_confirmed(raw_post(webhook.client, login["body"], f"Bearer {TOKEN}"))
        assert reads != []
    assert spy_loads[0].call_count == 1


def test_authentication_failures_do_not_log_the_token(webhook, login, caplog):
    caplog.set_level(logging.DEBUG)
    assert_unauthorized(raw_post(webhook.client, login["body"], f"Bearer {TOKEN}x"))
    assert_confirmed(raw_post(webhook.client, login["body"], f"Bearer {TOKEN}"))
    assert any("token" in record.getMessage().lower() for record in caplog.records)
    assert TOKEN not in caplog.text


# --- caching headers ---------------------------------------------------------------------


def _assert_never_cached(response) -> None:
    directives = {part.strip() for part in response["Cache-Control"].split(",")}
    assert directives == {"no-store", "max-age=0", "no-cache", "must-revalidate", "private"}
    assert response["Expires"].endswith(" GMT")  # an HTTP date: now, as never_cache


def test_every_answer_is_never_cached(webhook, login):
    """Each kind of answer (confirmed, ignored, too large, 401, 405) carries never_cache's
    headers, which the view sets from constants (headers.py) rather than the decorator."""
    client = webhook.client
    auth = {"HTTP_AUTHORIZATION": f"Bearer {TOKEN}"}
    answers = [
        raw_post(client, json.dumps({"typeWebhook": "outgoingMessageStatus"}), f"Bearer {TOKEN}"),
        raw_post(client, b"x" * (MAX_BODY_BYTES + 1), f"Bearer {TOKEN}"),
        raw_post(client, login["body"], "Bearer wrong-token"),
        client.get(URL, **auth),
    ]
    assert [r.status_code for r in answers] == [200, 200, 401, 405]
    assert [r.json().get("reason") for r in answers[:2]] == ["not_incoming_message", "too_large"]
    answers.append(webhook.post(incoming(login["data"]["message"])))
    assert_confirmed(answers[-1])
    for response in answers:
        _assert_never_cached(response)


def test_ignored_answers_are_the_json_of_their_reason(webhook, login):
    """The ignored answers' bodies are kept per (status, reason): the same bytes as the
    JSON of the outcome, whichever reason came first."""
    first = raw_post(webhook.client, b"[]", f"Bearer {TOKEN}")
    second = raw_post(webhook.client, b"{not json", f"Bearer {TOKEN}")
    third = raw_post(webhook.client, b"[]", f"Bearer {TOKEN}")
    assert first["Content-Type"] == "application/json"
    assert first.json()["status"] == second.json()["status"] == "ignored"
    assert first.json()["reason"] != second.json()["reason"]
    assert third.content == first.content
