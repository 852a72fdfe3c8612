"""The browser side: login page, start, status, complete (docs/threat-model.md T2, T4, T5, T12).

Every endpoint finds the attempt through the session that created it; these tests
check the status codes, the JSON bodies, the LoginAttempt rows and the session.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from html.parser import HTMLParser
from typing import Any

import pytest
from django.contrib.auth import SESSION_KEY as AUTH_SESSION_KEY
from django.contrib.auth.signals import user_logged_in
from django.contrib.sessions.backends.db import SessionStore
from django.test import Client, override_settings
from django.utils import timezone

from django_whatsapp_login.attempts import SESSION_KEY, hash_secret
from django_whatsapp_login.models import LoginAttempt, RejectReason, Status

from .conftest import incoming, session_attempt_id, start

pytestmark = pytest.mark.django_db

PAGE = "/whatsapp/"
START = "/whatsapp/start/"
STATUS = "/whatsapp/status/"
COMPLETE = "/whatsapp/complete/"
CODE_RE = re.compile(r"[A-Z2-7]{16}")
NO_ATTEMPT = {"error": "no_attempt"}


# --- helpers --------------------------------------------------------------------------


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    handle_startendtag = handle_starttag


def tags(html: str) -> list[tuple[str, dict[str, str | None]]]:
    parser = _Tags()
    parser.feed(html)
    return parser.tags


def expire(attempt_id: int) -> None:
    LoginAttempt.objects.filter(pk=attempt_id).update(
        expires_at=timezone.now() - timedelta(seconds=1)
    )


def confirm(webhook, data: dict[str, Any], sender: str = "996700123456@c.us") -> None:
    response = webhook.post(incoming(data["message"], sender=sender))
    assert response.status_code == 200
    assert response.json() == {"status": "confirmed"}


def csrf_client() -> tuple[Client, str]:
    """A client that enforces CSRF, after a GET of the page (which sets the cookie)."""
    client = Client(enforce_csrf_checks=True)
    assert client.get(PAGE).status_code == 200
    return client, client.cookies["csrftoken"].value


def row(attempt_id: int) -> dict[str, Any]:
    """Every column of the attempt (hashes included)."""
    return LoginAttempt.objects.filter(pk=attempt_id).values().get()


def human(body: dict[str, Any]) -> str:
    """The sentence the page shows (docs/endpoints.md: ``status_message``)."""
    assert "message" not in body, body  # "message" is the text to send, only in start
    return body["status_message"]


def logged_in_user_id(client: Client) -> str | None:
    return client.session.get(AUTH_SESSION_KEY)


# --- login page -----------------------------------------------------------------------


def test_page_renders_inline_svg_qr_without_external_resources(browser):
    response = browser.get(PAGE)
    assert response.status_code == 200
    html = response.content.decode()
    assert '<div class="wl-qr" data-wl-qr><svg' in html
    parsed = tags(html)
    names = [name for name, _ in parsed]
    assert "svg" in names
    assert "img" not in names
    assert "iframe" not in names
    # Nothing the page loads comes from another origin (no CDN): every src/href of a
    # resource is a local path; the only absolute URL is the wa.me link.
    for name, attrs in parsed:
        for attr in ("src", "href"):
            value = attrs.get(attr)
            if value is None:
                continue
            if name == "a" and value.startswith("https://wa.me/"):
                continue
            assert value.startswith("/") and not value.startswith("//"), (name, attr, value)
    assert "cdn" not in html.lower()


def test_page_link_number_and_message_match_the_json(browser):
    html = browser.get(PAGE).content.decode()
    data = start(browser)  # the live attempt of this session
    links = [attrs for name, attrs in tags(html) if name == "a" and "data-wl-link" in attrs]
    assert len(links) == 1
    assert links[0]["href"] == data["link"]
    assert "noreferrer" in (links[0]["rel"] or "").split()
    assert ">Open WhatsApp<" in html
    assert "+996555000001" in html  # the business number, as text
    assert f'<code class="wl-message" data-wl-message>{data["message"]}</code>' in html
    assert data["qr_svg"] in html  # the same QR as the JSON
    assert "Waiting for your message in WhatsApp" in html


def test_page_headers(browser):
    response = browser.get(PAGE)
    assert "no-store" in response["Cache-Control"]
    assert response["Referrer-Policy"] == "same-origin"
    assert response["X-Frame-Options"] == "DENY"
    assert "csrftoken" in response.cookies


def test_page_reload_reuses_the_attempt(browser):
    first = browser.get(PAGE).content.decode()
    code = browser.session[SESSION_KEY]["code"]
    for _ in range(3):
        again = browser.get(PAGE).content.decode()
        assert code in again
    assert LoginAttempt.objects.count() == 1
    assert code in first
    assert browser.session[SESSION_KEY]["code"] == code


def test_page_is_get_only(browser):
    assert browser.post(PAGE).status_code == 405
    assert LoginAttempt.objects.count() == 0


def test_mounted_page_at_project_path(browser):
    response = browser.get("/login")
    assert response.status_code == 200
    assert b"<svg" in response.content
    assert LoginAttempt.objects.count() == 1


# --- start ----------------------------------------------------------------------------


def test_start_json_shape(browser):
    before = timezone.now()
    data = start(browser)
    assert {"code", "message", "link", "qr_svg", "expires_at", "status"} <= set(data)
    assert CODE_RE.fullmatch(data["code"])
    assert data["message"] == f"AMT LOGIN {data['code']}"
    assert data["link"] == "https://wa.me/996555000001?text=AMT%20LOGIN%20" + data["code"]
    assert data["qr_svg"].startswith("<svg") and data["qr_svg"].endswith("</svg>")
    assert data["status"] == "pending"
    expires_at = datetime.fromisoformat(data["expires_at"])
    assert before + timedelta(seconds=179) <= expires_at <= timezone.now() + timedelta(seconds=181)
    attempt = LoginAttempt.objects.get()
    # Only hashes are stored; the session holds the code and one half of the binding, an
    # HttpOnly cookie the other half (which left the session with the response).
    assert attempt.code_hash == hash_secret(data["code"])
    assert data["code"] not in str(row(attempt.pk))
    session = browser.session[SESSION_KEY]
    assert session["id"] == attempt.pk and "browser" not in session
    cookie = browser.cookies["whatsapp_login"]
    assert cookie["httponly"] and cookie["samesite"] == "Lax" and cookie["path"] == "/"
    assert attempt.binding_hash == hash_secret(f"{session['binding']}.{cookie.value}")
    assert len(session["binding"]) >= 22 and len(cookie.value) >= 22  # >= 128 bits each


def test_start_headers(browser):
    response = browser.post(START)
    assert "no-store" in response["Cache-Control"]
    assert response["Content-Type"] == "application/json"


def test_codes_differ_between_sessions(browser):
    codes = {start(Client())["code"] for _ in range(5)}
    assert len(codes) == 5
    assert LoginAttempt.objects.count() == 5


def test_start_returns_the_live_attempt(browser):
    first = start(browser)
    second = start(browser)
    assert second["code"] == first["code"]
    assert second["link"] == first["link"]
    assert LoginAttempt.objects.count() == 1


def test_start_after_expiry_creates_a_new_attempt(browser):
    first = start(browser)
    old_id = session_attempt_id(browser)
    expire(old_id)
    second = start(browser)
    assert second["code"] != first["code"]
    assert second["status"] == "pending"
    new_id = session_attempt_id(browser)
    assert new_id != old_id
    assert LoginAttempt.objects.count() == 2
    old = LoginAttempt.objects.get(pk=old_id)
    assert old.status == Status.EXPIRED
    assert old.closed_at is not None
    assert LoginAttempt.objects.get(pk=new_id).code_hash == hash_secret(second["code"])


def test_start_after_rejection_creates_a_new_attempt(browser, webhook):
    first = start(browser)
    webhook.post(incoming(first["message"], sender="996700999999@c.us"))  # unknown number
    old_id = session_attempt_id(browser)
    assert LoginAttempt.objects.get(pk=old_id).status == Status.REJECTED
    second = start(browser)
    assert second["code"] != first["code"]
    assert LoginAttempt.objects.get(pk=old_id).status == Status.REJECTED
    assert LoginAttempt.objects.count() == 2


def test_start_requires_csrf():
    client = Client(enforce_csrf_checks=True)
    assert client.post(START).status_code == 403
    assert LoginAttempt.objects.count() == 0

    client, token = csrf_client()  # the GET created the session's attempt
    assert client.post(START).status_code == 403  # cookie but no token
    response = client.post(START, HTTP_X_CSRFTOKEN=token)
    assert response.status_code == 200
    assert CODE_RE.fullmatch(response.json()["code"])
    assert LoginAttempt.objects.count() == 1


@pytest.mark.parametrize("method", ["get", "put", "delete"])
def test_start_is_post_only(browser, method):
    assert getattr(browser, method)(START).status_code == 405
    assert LoginAttempt.objects.count() == 0


def test_new_code_form_without_javascript(browser):
    browser.get(PAGE)
    old_id = session_attempt_id(browser)
    expire(old_id)
    response = browser.post(START, HTTP_ACCEPT="text/html,application/xhtml+xml")
    assert response.status_code == 303
    assert response["Location"] == PAGE
    assert session_attempt_id(browser) != old_id
    assert LoginAttempt.objects.get(pk=old_id).status == Status.EXPIRED
    assert LoginAttempt.objects.count() == 2


def test_new_code_form_returns_to_project_login_path(browser):
    browser.get("/login")
    response = browser.post(START, HTTP_ACCEPT="text/html")
    assert response.status_code == 303
    assert response["Location"] == "/login"


# --- status ---------------------------------------------------------------------------


def test_status_without_attempt_is_404(browser):
    response = browser.get(STATUS)
    assert response.status_code == 404
    assert response.json() == NO_ATTEMPT
    assert "no-store" in response["Cache-Control"]
    assert LoginAttempt.objects.count() == 0  # polling never creates an attempt


def test_status_pending(browser):
    data = start(browser)
    response = browser.get(STATUS)
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "pending"
    assert body["expires_at"] == data["expires_at"]
    assert human(body).startswith("Waiting for your message")
    assert "reason" not in body
    assert "no-store" in response["Cache-Control"]
    # Nothing that identifies the user or the code leaks into the status.
    assert data["code"] not in response.content.decode()


def test_status_confirmed(browser, webhook, make_user):
    make_user("+996700123456")
    confirm(webhook, start(browser))
    body = browser.get(STATUS).json()
    assert body["status"] == "confirmed"
    assert "+996700123456" not in str(body)


def test_status_expired(browser):
    start(browser)
    expire(session_attempt_id(browser))
    response = browser.get(STATUS)
    assert response.status_code == 200
    assert response.json()["status"] == "expired"
    assert "expired" in human(response.json())


def test_status_confirmed_then_expired(browser, webhook, make_user):
    make_user("+996700123456")
    confirm(webhook, start(browser))
    expire(session_attempt_id(browser))
    assert browser.get(STATUS).json()["status"] == "expired"
    assert LoginAttempt.objects.get().status == Status.CONFIRMED


def test_status_rejected(browser, webhook):
    data = start(browser)
    webhook.post(incoming(data["message"], sender="996700999999@c.us"))
    body = browser.get(STATUS).json()
    assert body["status"] == "rejected"
    assert body["reason"] == RejectReason.UNKNOWN_NUMBER
    assert human(body) == "This number is not registered."


@pytest.mark.parametrize("state", ["pending", "expired_pending", "confirmed", "rejected"])
@override_settings(WHATSAPP_LOGIN_RATE_LIMIT_STATUS="")  # 20 polls at once: limits tested apart
def test_status_never_changes_state(browser, webhook, make_user, state):
    make_user("+996700123456")
    data = start(browser)
    attempt_id = session_attempt_id(browser)
    if state == "expired_pending":
        expire(attempt_id)
    elif state == "confirmed":
        confirm(webhook, data)
    elif state == "rejected":
        webhook.post(incoming(data["message"], sender="996700999999@c.us"))
    before = row(attempt_id)
    session_before = dict(browser.session[SESSION_KEY])
    answers = {browser.get(STATUS).content for _ in range(20)}
    assert len(answers) == 1
    assert row(attempt_id) == before
    assert LoginAttempt.objects.count() == 1
    assert browser.session[SESSION_KEY] == session_before
    assert logged_in_user_id(browser) is None
    if state == "expired_pending":
        assert LoginAttempt.objects.get().status == Status.PENDING  # only displayed as expired


def test_status_is_get_only(browser):
    start(browser)
    assert browser.post(STATUS).status_code == 405


def test_status_from_a_foreign_session_is_404(browser, webhook, make_user):
    make_user("+996700123456")
    data = start(browser)
    confirm(webhook, data)
    unknown = Client().get(STATUS).content
    other = Client()
    start(other)  # has its own attempt, which is not the one confirmed
    other.cookies.clear()
    response = other.get(STATUS)
    assert response.status_code == 404
    assert response.content == unknown
    assert response.json() == NO_ATTEMPT
    assert browser.get(STATUS).json()["status"] == "confirmed"


def test_status_with_stolen_id_and_code_but_no_binding_is_404(browser, webhook, make_user):
    """T2: the attacker knows the attempt id and the code, but not the binding secret."""
    make_user("+996700123456")
    data = start(browser)
    confirm(webhook, data)
    attempt_id = session_attempt_id(browser)
    other = Client()
    lonely = other.get(STATUS)
    session = other.session
    session[SESSION_KEY] = {
        "id": attempt_id,
        "binding": "guessed-" + "x" * 40,
        "code": data["code"],
    }
    session.save()
    # ... and a binding cookie of its own making: both halves are checked against the hash.
    from django_whatsapp_login.attempts import INSECURE_BINDING_COOKIE

    other.cookies[INSECURE_BINDING_COOKIE] = "guessed-" + "y" * 40
    response = other.get(STATUS)
    assert response.status_code == 404
    assert response.content == lonely.content
    complete = other.post(COMPLETE)
    assert complete.status_code == 404
    assert complete.content == lonely.content
    assert logged_in_user_id(other) is None
    assert LoginAttempt.objects.get().status == Status.CONFIRMED


def test_status_of_consumed_attempt_is_404_with_identical_body(browser, webhook, make_user):
    make_user("+996700123456")
    unknown = browser.get(STATUS).content
    confirm(webhook, start(browser))
    saved = dict(browser.session[SESSION_KEY])
    assert browser.post(COMPLETE).status_code == 200
    # Even if the session still named the consumed attempt, it is gone for the browser.
    session = browser.session
    session[SESSION_KEY] = saved
    session.save()
    response = browser.get(STATUS)
    assert response.status_code == 404
    assert response.content == unknown
    again = browser.post(COMPLETE)
    assert again.status_code == 404
    assert again.content == unknown
    assert LoginAttempt.objects.get().status == Status.CONSUMED


# --- complete -------------------------------------------------------------------------


def test_complete_without_attempt_is_404(browser):
    response = browser.post(COMPLETE)
    assert response.status_code == 404
    assert response.json() == NO_ATTEMPT
    assert logged_in_user_id(browser) is None


def test_complete_before_confirmation_is_409(browser, make_user):
    make_user("+996700123456")
    start(browser)
    response = browser.post(COMPLETE)
    assert response.status_code == 409
    assert response.json()["status"] == "pending"
    assert human(response.json()).startswith("Waiting for your message")
    assert logged_in_user_id(browser) is None
    assert LoginAttempt.objects.get().status == Status.PENDING


def test_complete_after_confirmation_logs_in(browser, webhook, make_user):
    user = make_user("+996700123456")
    confirm(webhook, start(browser))
    response = browser.post(COMPLETE)
    assert response.status_code == 200
    assert response.json() == {"redirect": "/"}
    assert "no-store" in response["Cache-Control"]
    assert logged_in_user_id(browser) == str(user.pk)
    assert browser.session["_auth_user_backend"] == (
        "django_whatsapp_login.backends.WhatsAppLoginBackend"
    )
    attempt = LoginAttempt.objects.get()
    assert attempt.status == Status.CONSUMED
    assert attempt.user == user
    assert attempt.closed_at is not None
    assert SESSION_KEY not in browser.session  # the attempt is forgotten


def test_complete_is_post_only(browser, webhook, make_user):
    make_user("+996700123456")
    confirm(webhook, start(browser))
    assert browser.get(COMPLETE).status_code == 405
    assert LoginAttempt.objects.get().status == Status.CONFIRMED
    assert logged_in_user_id(browser) is None


def test_complete_requires_csrf(webhook, make_user):
    user = make_user("+996700123456")
    client, token = csrf_client()
    data = client.post(START, HTTP_X_CSRFTOKEN=token).json()
    confirm(webhook, data)
    response = client.post(COMPLETE)
    assert response.status_code == 403
    assert logged_in_user_id(client) is None
    assert LoginAttempt.objects.get().status == Status.CONFIRMED
    response = client.post(COMPLETE, HTTP_X_CSRFTOKEN="x" * 64)
    assert response.status_code == 403
    response = client.post(COMPLETE, HTTP_X_CSRFTOKEN=token)
    assert response.status_code == 200
    assert logged_in_user_id(client) == str(user.pk)
    # login() rotates the CSRF token.
    assert client.cookies["csrftoken"].value != token


def test_complete_cross_site_is_403(browser, webhook, make_user):
    make_user("+996700123456")
    confirm(webhook, start(browser))
    response = browser.post(COMPLETE, HTTP_SEC_FETCH_SITE="cross-site")
    assert response.status_code == 403
    assert logged_in_user_id(browser) is None
    assert LoginAttempt.objects.get().status == Status.CONFIRMED
    response = browser.post(COMPLETE, HTTP_SEC_FETCH_SITE="Cross-Site", HTTP_ACCEPT="text/html")
    assert response.status_code == 403
    assert logged_in_user_id(browser) is None


@pytest.mark.parametrize("header", [{"HTTP_SEC_FETCH_SITE": "same-origin"}, {}])
def test_complete_same_origin_or_no_fetch_metadata(browser, webhook, make_user, header):
    user = make_user("+996700123456")
    confirm(webhook, start(browser))
    response = browser.post(COMPLETE, **header)
    assert response.status_code == 200
    assert logged_in_user_id(browser) == str(user.pk)


def test_login_rotates_session_key_and_sends_user_logged_in(browser, webhook, make_user):
    """T5: the pre-login session (which held the binding) is not the logged-in one."""
    user = make_user("+996700123456")
    confirm(webhook, start(browser))
    old_key = browser.cookies["sessionid"].value
    assert SessionStore().exists(old_key)
    received: list[dict[str, Any]] = []

    def receiver(sender, **kwargs):
        received.append(kwargs)

    user_logged_in.connect(receiver)
    try:
        assert browser.post(COMPLETE).status_code == 200
    finally:
        user_logged_in.disconnect(receiver)
    new_key = browser.cookies["sessionid"].value
    assert new_key != old_key
    assert not SessionStore().exists(old_key)
    assert SessionStore(session_key=new_key).get(AUTH_SESSION_KEY) == str(user.pk)
    assert len(received) == 1
    assert received[0]["user"] == user
    # The old cookie is dead: a client presenting it is anonymous and has no attempt.
    thief = Client()
    thief.cookies["sessionid"] = old_key
    assert thief.get("/").status_code == 302
    assert thief.get(STATUS).status_code == 404
    assert browser.get("/").content == f"Hello {user.username}".encode()


def test_second_browser_with_the_code_cannot_poll_or_complete(browser, webhook, make_user):
    """T2: a shoulder-surfer who knows the code gets nothing; the owner still logs in."""
    user = make_user("+996700123456")
    data = start(browser)
    observer = Client()
    observer_data = start(observer)  # the observer even has its own attempt
    confirm(webhook, data)
    assert observer.get(STATUS).json()["status"] == "pending"  # its own, not the victim's
    assert observer.post(COMPLETE).status_code == 409
    assert logged_in_user_id(observer) is None

    stranger = Client()
    assert stranger.get(STATUS).status_code == 404
    assert stranger.post(COMPLETE).status_code == 404
    assert logged_in_user_id(stranger) is None

    assert browser.post(COMPLETE).status_code == 200
    assert logged_in_user_id(browser) == str(user.pk)
    assert observer_data["code"] != data["code"]
    assert LoginAttempt.objects.get(code_hash=hash_secret(data["code"])).status == Status.CONSUMED


def test_two_completes_in_a_row(browser, webhook, make_user):
    user = make_user("+996700123456")
    confirm(webhook, start(browser))
    first = browser.post(COMPLETE)
    second = browser.post(COMPLETE)
    assert first.status_code == 200
    assert second.status_code == 404
    assert second.json() == NO_ATTEMPT
    assert logged_in_user_id(browser) == str(user.pk)
    assert LoginAttempt.objects.get().status == Status.CONSUMED


@pytest.mark.parametrize(
    ("next_url", "expected"),
    [
        ("/dashboard/?tab=1", "/dashboard/?tab=1"),
        ("/account/", "/account/"),
        ("https://evil.example/", "/"),
        ("//evil.example", "/"),
        ("///evil.example", "/"),
        ("http://testserver.evil.example/", "/"),
        ("javascript:alert(1)", "/"),
        ("/\\evil.example", "/"),
    ],
)
def test_next_is_honoured_only_when_safe(browser, webhook, make_user, next_url, expected):
    make_user("+996700123456")
    assert browser.get(PAGE, {"next": next_url}).status_code == 200
    confirm(webhook, start(browser))
    response = browser.post(COMPLETE)
    assert response.status_code == 200
    assert response.json() == {"redirect": expected}


def test_redirect_url_setting(browser, webhook, make_user, settings):
    settings.WHATSAPP_LOGIN_REDIRECT_URL = "/welcome/"
    make_user("+996700123456")
    confirm(webhook, start(browser))
    assert browser.post(COMPLETE).json() == {"redirect": "/welcome/"}


# --- without JavaScript ---------------------------------------------------------------


def test_no_js_complete_before_confirmation(browser, make_user):
    make_user("+996700123456")
    browser.get(PAGE)
    response = browser.post(COMPLETE, HTTP_ACCEPT="text/html")
    assert response.status_code == 303
    assert response["Location"] == PAGE
    assert logged_in_user_id(browser) is None
    page = browser.get(PAGE).content.decode()
    assert "Waiting for your message in WhatsApp" in page
    assert LoginAttempt.objects.count() == 1


def test_no_js_complete_shows_rejection_on_the_page(browser, webhook):
    browser.get(PAGE)
    code = browser.session[SESSION_KEY]["code"]
    webhook.post(incoming(f"AMT LOGIN {code}", sender="996700999999@c.us"))
    response = browser.post(COMPLETE, HTTP_ACCEPT="text/html")
    assert response.status_code == 303
    assert response["Location"] == PAGE
    page = browser.get(PAGE).content.decode()
    assert "This number is not registered." in page  # the flash message
    assert logged_in_user_id(browser) is None
    # The flash is shown once.
    assert "This number is not registered." not in browser.get(PAGE).content.decode()


def test_no_js_complete_without_attempt_goes_back_to_page(browser):
    response = browser.post(COMPLETE, HTTP_ACCEPT="text/html")
    assert response.status_code == 303
    assert response["Location"] == PAGE


@pytest.mark.parametrize(("next_url", "expected"), [(None, "/"), ("/account/", "/account/")])
def test_no_js_complete_after_confirmation(browser, webhook, make_user, next_url, expected):
    user = make_user("+996700123456")
    browser.get(PAGE, {"next": next_url} if next_url else {})
    confirm(webhook, {"message": f"AMT LOGIN {browser.session[SESSION_KEY]['code']}"})
    response = browser.post(COMPLETE, HTTP_ACCEPT="text/html")
    assert response.status_code == 303
    assert response["Location"] == expected
    assert logged_in_user_id(browser) == str(user.pk)
    assert LoginAttempt.objects.get().status == Status.CONSUMED


def test_no_js_flow_on_project_path(browser, webhook, make_user):
    make_user("+996700123456")
    browser.get("/login")
    response = browser.post(COMPLETE, HTTP_ACCEPT="text/html")
    assert response.status_code == 303
    assert response["Location"] == "/login"


# --- a used, expired or disabled login does nothing ------------------------------------


def test_inactive_user_between_confirm_and_complete(browser, webhook, make_user):
    """T12: the user is re-checked when the login completes."""
    user = make_user("+996700123456")
    confirm(webhook, start(browser))
    user.is_active = False
    user.save()
    response = browser.post(COMPLETE)
    assert response.status_code == 409
    assert response.json()["status"] == "rejected"
    assert logged_in_user_id(browser) is None
    attempt = LoginAttempt.objects.get()
    assert attempt.status == Status.REJECTED
    assert attempt.reason == RejectReason.INACTIVE_USER
    # Reactivating does not revive the attempt.
    user.is_active = True
    user.save()
    assert browser.post(COMPLETE).status_code == 409
    assert logged_in_user_id(browser) is None


def test_deleted_user_between_confirm_and_complete(browser, webhook, make_user):
    user = make_user("+996700123456")
    confirm(webhook, start(browser))
    attempt_id = session_attempt_id(browser)
    user.delete()  # cascades to the attempt
    response = browser.post(COMPLETE)
    assert response.status_code == 404
    assert logged_in_user_id(browser) is None
    assert not LoginAttempt.objects.filter(pk=attempt_id).exists()


def test_complete_on_expired_confirmed_attempt_is_409(browser, webhook, make_user):
    make_user("+996700123456")
    confirm(webhook, start(browser))
    expire(session_attempt_id(browser))
    response = browser.post(COMPLETE)
    assert response.status_code == 409
    assert response.json()["status"] == "expired"
    assert logged_in_user_id(browser) is None
    assert LoginAttempt.objects.get().status == Status.CONFIRMED  # never consumed


def test_message_for_a_consumed_attempt_is_ignored(browser, webhook, make_user):
    make_user("+996700123456")
    make_user("+996700222222")
    data = start(browser)
    confirm(webhook, data)
    assert browser.post(COMPLETE).status_code == 200
    before = row(LoginAttempt.objects.get().pk)
    for sender in ("996700123456@c.us", "996700222222@c.us"):
        response = webhook.post(incoming(data["message"], sender=sender))
        assert response.status_code == 200
        assert response.json()["status"] == "ignored"
    assert row(before["id"]) == before


def test_message_for_an_expired_attempt_is_ignored(browser, webhook, make_user):
    make_user("+996700123456")
    data = start(browser)
    expire(session_attempt_id(browser))
    response = webhook.post(incoming(data["message"]))
    assert response.status_code == 200
    assert response.json()["status"] == "ignored"
    assert LoginAttempt.objects.get().status in (Status.PENDING, Status.EXPIRED)
    assert LoginAttempt.objects.get().user is None
    assert browser.post(COMPLETE).status_code == 409
    assert logged_in_user_id(browser) is None


def test_second_sender_for_confirmed_attempt_rejects_it(browser, webhook, make_user):
    """T4: the code leaked and another number sent it; nobody gets this login."""
    make_user("+996700123456")
    make_user("+996700222222")
    data = start(browser)
    confirm(webhook, data)
    response = webhook.post(incoming(data["message"], sender="996700222222@c.us"))
    assert response.status_code == 200
    attempt = LoginAttempt.objects.get()
    assert attempt.status == Status.REJECTED
    assert attempt.reason == RejectReason.CONFLICTING_SENDER
    assert browser.get(STATUS).json()["status"] == "rejected"
    assert browser.post(COMPLETE).status_code == 409
    assert logged_in_user_id(browser) is None


def test_page_renders_under_another_language(browser):
    """Translations come later; the page must at least render and declare the language."""
    from django.test import override_settings

    with override_settings(LANGUAGE_CODE="ru"):
        response = browser.get(PAGE)
    assert response.status_code == 200
    assert b'<html lang="ru">' in response.content
    assert b"<svg" in response.content
