"""Authenticating Meta: X-Hub-Signature-256 on POST, the verify-token handshake on GET
(gateways/cloudapi/signature.py and CloudAPIGateway.authenticate / verify)."""

from __future__ import annotations

import hashlib
import hmac
import json

import pytest
from django.test import RequestFactory

from django_whatsapp_login.gateways.cloudapi import signature
from django_whatsapp_login.gateways.cloudapi.gateway import CloudAPIGateway
from django_whatsapp_login.gateways.cloudapi.signature import (
    sign,
    verify_challenge,
    verify_signature,
)

from .fake_cloudapi import APP_SECRET, VERIFY_TOKEN, load, signed

BODY = json.dumps(load("text.json")).encode()
_compare = hmac.compare_digest
OLD_SECRET = "fake-old-app-secret-fedcba9876543210"


def expected(body: bytes, secret: str) -> str:
    # Computed independently of signature.sign, so a wrong sign() cannot pass its own check.
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def test_sign_is_meta_s_scheme():
    assert sign(BODY, APP_SECRET) == expected(BODY, APP_SECRET)


def test_a_genuine_signature_is_accepted():
    assert verify_signature(BODY, expected(BODY, APP_SECRET), [APP_SECRET])


@pytest.mark.parametrize(
    "header",
    [
        expected(BODY, "another-secret"),
        expected(BODY + b" ", APP_SECRET),
        expected(BODY, APP_SECRET).replace("sha256=", "sha1="),
        expected(BODY, APP_SECRET).replace("sha256=", ""),
        expected(BODY, APP_SECRET)[:-1],
        expected(BODY, APP_SECRET) + "0",
        expected(BODY, APP_SECRET)[:-1] + "g",
        "sha256=",
        "",
        "Bearer " + APP_SECRET,
    ],
)
def test_wrong_signatures_are_refused(header):
    assert not verify_signature(BODY, header, [APP_SECRET])


def test_the_body_is_signed_as_received_byte_for_byte():
    reformatted = json.dumps(json.loads(BODY), indent=1).encode()
    assert not verify_signature(reformatted, expected(BODY, APP_SECRET), [APP_SECRET])


def test_scheme_and_hex_are_case_insensitive():
    header = expected(BODY, APP_SECRET)
    assert verify_signature(BODY, "SHA256=" + header[7:].upper(), [APP_SECRET])


def test_no_secret_configured_refuses_everything():
    assert not verify_signature(BODY, expected(BODY, ""), [])
    assert not verify_signature(BODY, expected(BODY, ""), [""])


def test_rotation_accepts_the_old_and_the_new_secret():
    secrets = [APP_SECRET, OLD_SECRET]
    assert verify_signature(BODY, expected(BODY, OLD_SECRET), secrets)
    assert verify_signature(BODY, expected(BODY, APP_SECRET), secrets)
    assert not verify_signature(BODY, expected(BODY, OLD_SECRET), [APP_SECRET])


def test_every_secret_is_compared_in_constant_time(monkeypatch):
    calls = []

    def spy(a, b):
        calls.append((a, b))
        return _compare(a, b)

    monkeypatch.setattr(signature.hmac, "compare_digest", spy)
    secrets = [APP_SECRET, OLD_SECRET, "third-secret"]
    assert verify_signature(BODY, expected(BODY, APP_SECRET), secrets)
    # The match on the first secret does not stop the loop.
    assert len(calls) == 3
    assert all(isinstance(a, bytes) and isinstance(b, bytes) for a, b in calls)


# --- the GET handshake ---------------------------------------------------------------------


def handshake(token=VERIFY_TOKEN, challenge="1158201444", mode="subscribe"):
    params = {"hub.mode": mode, "hub.challenge": challenge}
    if token is not None:
        params["hub.verify_token"] = token
    return params


def test_the_right_verify_token_echoes_the_challenge():
    assert verify_challenge(handshake(), [VERIFY_TOKEN]) == (200, "1158201444")


@pytest.mark.parametrize(
    ("params", "tokens"),
    [
        (handshake(token="wrong"), [VERIFY_TOKEN]),
        (handshake(token=None), [VERIFY_TOKEN]),
        (handshake(token=""), [VERIFY_TOKEN]),
        (handshake(token=""), [""]),
        (handshake(), []),
        (handshake(mode="unsubscribe"), [VERIFY_TOKEN]),
        (handshake(mode=""), [VERIFY_TOKEN]),
    ],
)
def test_a_wrong_handshake_gets_403(params, tokens):
    assert verify_challenge(params, tokens) == (403, "")


@pytest.mark.parametrize(
    "challenge",
    ["", "<script>alert(1)</script>", "1" * 65, "a b", "1\n2", "abc\"'", "\uff11\uff12\uff13"],
)
def test_a_challenge_that_is_not_short_and_url_safe_is_never_echoed(challenge):
    assert verify_challenge(handshake(challenge=challenge), [VERIFY_TOKEN]) == (400, "")


def test_a_wrong_token_is_refused_before_the_challenge_is_looked_at():
    assert verify_challenge(handshake(token="x", challenge="<b>"), [VERIFY_TOKEN]) == (403, "")


def test_handshake_rotation_and_every_token_compared(monkeypatch):
    calls = []

    def spy(a, b):
        calls.append(1)
        return _compare(a, b)

    monkeypatch.setattr(signature.hmac, "compare_digest", spy)
    tokens = ["new-verify-token", VERIFY_TOKEN, "older-verify-token"]
    assert verify_challenge(handshake(), tokens) == (200, "1158201444")
    assert len(calls) == 3


# --- through the gateway, on Django requests -----------------------------------------------

rf = RequestFactory()


@pytest.fixture
def gateway(cloudapi_settings):
    return CloudAPIGateway()


def post(body: bytes = BODY, **headers):
    return rf.post("/whatsapp/webhook/", data=body, content_type="application/json", **headers)


def test_authenticate_a_signed_delivery(gateway):
    body, headers = signed(load("text.json"))
    assert gateway.authenticate(post(body, **headers))


def test_authenticate_refuses_a_tampered_body(gateway):
    body, headers = signed(load("text.json"))
    assert not gateway.authenticate(post(body.replace(b"7KQ3", b"7KQ4"), **headers))


def test_authenticate_refuses_before_reading_the_body_without_a_signature(gateway):
    request = post(BODY)
    assert not gateway.authenticate(request)
    assert not hasattr(request, "_body")  # the body was never read


def test_authenticate_fails_closed_without_an_app_secret(gateway, settings):
    settings.WHATSAPP_LOGIN_CLOUD_API_APP_SECRET = ""
    body, headers = signed(load("text.json"), secret="")
    request = post(body, **headers)
    assert not gateway.authenticate(request)
    assert not hasattr(request, "_body")


def test_authenticate_during_a_rotation(gateway, settings):
    settings.WHATSAPP_LOGIN_CLOUD_API_APP_SECRET = ["fake-new-app-secret-0000", APP_SECRET]
    body, headers = signed(load("text.json"))
    assert gateway.authenticate(post(body, **headers))


def test_authenticate_refuses_a_body_over_django_s_memory_limit(gateway, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 100
    body, headers = signed(load("text.json"))
    assert not gateway.authenticate(post(body, **headers))


def test_the_body_can_still_be_read_after_authentication(gateway):
    body, headers = signed(load("text.json"))
    request = post(body, **headers)
    assert gateway.authenticate(request)
    assert request.read() == body
    assert len(gateway.parse(request.body)) == 1


def get(params):
    return rf.get("/whatsapp/webhook/", params)


def test_verify_answers_the_challenge_as_plain_text(gateway):
    response = gateway.verify(get(handshake()))
    assert response.status_code == 200
    assert response.content == b"1158201444"
    assert response["Content-Type"].startswith("text/plain")
    assert response["X-Content-Type-Options"] == "nosniff"


def test_verify_with_a_wrong_token_is_403(gateway):
    response = gateway.verify(get(handshake(token="wrong")))
    assert response.status_code == 403
    assert response.content == b""


def test_verify_with_a_bad_challenge_is_400(gateway):
    response = gateway.verify(get(handshake(challenge="<svg onload=alert(1)>")))
    assert response.status_code == 400
    assert b"svg" not in response.content


def test_verify_refuses_other_methods(gateway):
    response = gateway.verify(rf.post("/whatsapp/webhook/?" + "hub.mode=subscribe"))
    assert response.status_code == 405


def test_verify_without_a_configured_token_is_403(gateway, settings):
    settings.WHATSAPP_LOGIN_CLOUD_API_VERIFY_TOKEN = None
    assert gateway.verify(get(handshake(token=""))).status_code == 403


def test_wrong_verify_tokens_are_rate_limited_per_ip(gateway, settings):
    settings.WHATSAPP_LOGIN_RATE_LIMIT_WEBHOOK_UNAUTHORIZED = "2/m/ip"
    codes = [gateway.verify(get(handshake(token="guess"))).status_code for _ in range(3)]
    assert codes == [403, 403, 429]
    # Meta, with the right token, is never locked out by someone else's guesses.
    assert gateway.verify(get(handshake())).status_code == 200
