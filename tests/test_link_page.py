"""The link page (whatsapp_login:link): a logged-in user links WhatsApp by sending a code.

The codes are sent through the real webhook view; nothing here ever logs anyone in."""

from __future__ import annotations

import pytest
from django.contrib.auth import SESSION_KEY as AUTH_SESSION_KEY
from django.test import Client

from django_whatsapp_login import identities
from django_whatsapp_login.models import LoginAttempt, Purpose, Status, WhatsAppIdentity

from .conftest import incoming, session_attempt_id

pytestmark = pytest.mark.django_db

URL = "/whatsapp/link/"
START_URL = "/whatsapp/link/start/"
UNLINK_URL = "/whatsapp/link/unlink/"
PHONE = "+996555000101"
PHONE_ID = "996555000101@c.us"
LID = "120650379300101@lid"


def sent(text: str, chat_id: str, sender: str) -> dict:
    body = incoming(text)
    body["senderData"].update(chatId=chat_id, sender=sender)
    return body


def page_message(client: Client) -> str:
    """The text to send, as the link page shows it."""
    response = client.get(URL)
    assert response.status_code == 200, response.content
    return response.context["message"]


@pytest.fixture
def me(make_user):
    return make_user(phone="", username="me")


@pytest.fixture
def mine(me) -> Client:
    client = Client()
    client.force_login(me)
    return client


def test_anonymous_is_sent_to_the_login_page(browser):
    response = browser.get(URL)
    assert response.status_code == 302
    assert response["Location"] == "/login?next=/whatsapp/link/"
    assert not LoginAttempt.objects.exists()


def test_anonymous_start_and_unlink_are_refused(browser, me):
    identities.link(me, PHONE)
    assert browser.post(START_URL).status_code == 403
    assert browser.post(START_URL, HTTP_ACCEPT="text/html").status_code == 302
    assert browser.post(UNLINK_URL, {"identity": "1"}).status_code == 302
    assert WhatsAppIdentity.objects.filter(user=me).count() == 1
    assert not LoginAttempt.objects.exists()


def test_get_creates_a_link_attempt_for_the_user_and_a_reload_reuses_it(mine, me):
    first = mine.get(URL)
    assert first.status_code == 200
    assert "no-store" in first["Cache-Control"]
    attempt = LoginAttempt.objects.get()
    assert (attempt.purpose, attempt.user_id, attempt.status) == (Purpose.LINK, me.pk, "pending")
    html = first.content.decode()
    assert first.context["message"] in html
    assert "<svg" in html and 'href="https://wa.me/996555000001?text=' in html
    assert 'data-start-url="/whatsapp/link/start/"' in html
    assert 'data-done-url="/whatsapp/link/"' in html
    assert "/whatsapp/complete/" not in html.split("data-wl-complete-form")[1][:200]
    second = mine.get(URL)
    assert second.context["message"] == first.context["message"]
    assert LoginAttempt.objects.count() == 1


def test_sending_the_code_links_phone_and_lid_and_the_page_lists_them(webhook, mine, me):
    message = page_message(mine)
    assert mine.get("/whatsapp/status/").json()["status"] == "pending"
    assert webhook.post(sent(message, PHONE_ID, LID)).json() == {"status": "linked"}
    assert {(i.kind, i.value, i.source) for i in WhatsAppIdentity.objects.filter(user=me)} == {
        ("phone", PHONE, "enrollment"),
        ("lid", LID, "enrollment"),
    }
    status = mine.get("/whatsapp/status/").json()
    assert status == {
        "status": "linked",
        "status_message": "WhatsApp is now linked to your account.",
    }
    page = mine.get(URL)  # what the script (or "Check again") loads next
    html = page.content.decode()
    assert "WhatsApp is now linked to your account." in html
    assert "+996•••101" in html
    assert PHONE not in html and "120650379300101" not in html  # masked only
    assert "•••0101@lid" in html and "Linked by the user" in html and "not seen yet" in html
    assert html.count('name="identity"') == 2
    assert "Link another WhatsApp account" in html
    assert LoginAttempt.objects.count() == 1  # no new code until asked


def test_link_another_makes_a_new_link_attempt(webhook, mine, me):
    webhook.post(sent(page_message(mine), PHONE_ID, PHONE_ID))
    response = mine.post(START_URL, HTTP_ACCEPT="text/html")
    assert (response.status_code, response["Location"]) == (303, URL)
    newest = LoginAttempt.objects.get(pk=session_attempt_id(mine))
    assert (newest.purpose, newest.user_id, newest.status) == (Purpose.LINK, me.pk, "pending")
    assert LoginAttempt.objects.count() == 2


def test_an_id_of_another_user_is_refused_shown_and_nothing_is_linked(webhook, mine, me, make_user):
    other = make_user(phone="", username="other")
    identities.link(other, LID)
    message = page_message(mine)
    assert webhook.post(sent(message, PHONE_ID, LID)).json() == {
        "status": "rejected",
        "reason": "conflicting_ids",
    }
    assert not WhatsAppIdentity.objects.filter(user=me).exists()
    assert WhatsAppIdentity.objects.get().user_id == other.pk
    status = mine.get("/whatsapp/status/").json()
    assert (status["status"], status["reason"]) == ("rejected", "conflicting_ids")
    assert "already linked to another user" in status["status_message"]
    page = mine.get(URL).content.decode()  # without JavaScript: the reason, then a new code
    assert "already linked to another user" in page
    assert "No WhatsApp account is linked to your account yet." in page


def test_unlink_removes_your_own_identity_with_a_message(mine, me):
    identity = identities.link(me, PHONE)
    kept = identities.link(me, LID)
    response = mine.post(UNLINK_URL, {"identity": str(identity.pk)})
    assert (response.status_code, response["Location"]) == (303, URL)
    assert list(WhatsAppIdentity.objects.filter(user=me)) == [kept]
    page = mine.get(URL).content.decode()
    assert "+996•••101 was unlinked from your account." in page
    assert "•••0101@lid" in page
    assert "was unlinked" not in mine.get(URL).content.decode()  # shown once


@pytest.mark.parametrize("value", ["other", "", "abc", "1" * 30, "-1", "\u0661"])
def test_unlink_never_touches_someone_elses_identity(mine, me, make_user, value):
    other = make_user(phone="", username="other")
    theirs = identities.link(other, PHONE)
    mine_identity = identities.link(me, LID)
    posted = str(theirs.pk) if value == "other" else value
    assert mine.post(UNLINK_URL, {"identity": posted}).status_code == 404
    assert set(WhatsAppIdentity.objects.all()) == {theirs, mine_identity}


def test_unlink_needs_post_and_csrf(me):
    identity = identities.link(me, PHONE)
    client = Client(enforce_csrf_checks=True)
    client.force_login(me)
    assert client.get(UNLINK_URL).status_code == 405
    assert client.post(UNLINK_URL, {"identity": str(identity.pk)}).status_code == 403
    assert WhatsAppIdentity.objects.filter(pk=identity.pk).exists()


def test_the_link_start_makes_link_attempts_never_login_attempts(mine, me):
    mine.get(URL)
    first = session_attempt_id(mine)
    LoginAttempt.objects.filter(pk=first).update(status=Status.EXPIRED)
    data = mine.post(START_URL).json()
    assert data["status"] == "pending" and data["message"].startswith("AMT LOGIN ")
    assert set(LoginAttempt.objects.values_list("purpose", "user_id")) == {(Purpose.LINK, me.pk)}
    assert LoginAttempt.objects.count() == 2
    again = mine.post(START_URL).json()  # a live one is reused
    assert again["code"] == data["code"] and LoginAttempt.objects.count() == 2


def test_a_live_login_attempt_is_replaced_by_a_link_attempt(mine, me):
    mine.post("/whatsapp/start/")
    login_attempt = LoginAttempt.objects.get()
    mine.get(URL)
    login_attempt.refresh_from_db()
    assert (login_attempt.status, login_attempt.reason) == ("expired", "superseded")
    assert LoginAttempt.objects.get(pk=session_attempt_id(mine)).purpose == Purpose.LINK


def test_the_link_start_is_rate_limited(mine, settings):
    settings.WHATSAPP_LOGIN_RATE_LIMIT_START = "2/m/session"
    mine.get(URL)
    for _ in range(2):
        LoginAttempt.objects.filter(pk=session_attempt_id(mine)).update(status=Status.EXPIRED)
        response = mine.post(START_URL)
    assert response.status_code == 429 and response["Retry-After"]
    assert response.json()["error"] == "rate_limited"
    page = mine.get(URL)
    assert page.status_code == 429 and "Too many codes requested" in page.content.decode()
    assert LoginAttempt.objects.count() == 2


def test_the_link_attempt_never_logs_anyone_in(webhook, mine, me):
    message = page_message(mine)
    attempt = LoginAttempt.objects.get()
    assert webhook.post(sent(message, PHONE_ID, PHONE_ID)).json() == {"status": "linked"}
    assert mine.post("/whatsapp/complete/").status_code == 404
    anonymous = Client()  # a browser that only knows the code: the code is not a credential
    assert anonymous.post("/whatsapp/complete/").status_code == 404
    assert AUTH_SESSION_KEY not in anonymous.session
    # Even forced to "confirmed", a link attempt is refused by the backend.
    LoginAttempt.objects.filter(pk=attempt.pk).update(status=Status.CONFIRMED, user=me)
    mine.logout()
    assert mine.post("/whatsapp/complete/").status_code in (404, 409)
    assert AUTH_SESSION_KEY not in mine.session


def test_logging_out_ends_the_pending_link_code(webhook, mine, me):
    """A link page left on screen after logout must not link a stranger's WhatsApp."""
    message = page_message(mine)
    mine.logout()
    attempt = LoginAttempt.objects.get()
    assert (attempt.status, attempt.reason) == (Status.EXPIRED, "expired")
    result = webhook.post(sent(message, PHONE_ID, LID)).json()
    assert result["status"] == "ignored"
    assert not WhatsAppIdentity.objects.exists()


def test_logging_out_leaves_other_sessions_link_codes_alone(webhook, me):
    first, second = Client(), Client()
    first.force_login(me)
    second.force_login(me)
    message = page_message(first)
    page_message(second)
    second.logout()
    assert webhook.post(sent(message, PHONE_ID, PHONE_ID)).json() == {"status": "linked"}


def test_a_link_code_from_the_page_does_not_log_in_a_stranger(webhook, mine, make_user):
    """A user whose phone the resolver knows sends someone else's link code."""
    make_user(phone=PHONE, username="stranger")
    message = page_message(mine)
    result = webhook.post(sent(message, PHONE_ID, PHONE_ID)).json()
    assert result == {"status": "rejected", "reason": "conflicting_ids"}
    assert not WhatsAppIdentity.objects.exists()
    assert int(mine.session[AUTH_SESSION_KEY]) == LoginAttempt.objects.get().user_id


def test_the_list_and_messages_are_translated(mine, me, settings, webhook, make_user):
    settings.LANGUAGE_CODE = "ru"
    identities.link(me, PHONE, source="enrollment")
    html = mine.get(URL).content.decode()
    assert "Привязан пользователем" in html and "Номер телефона" in html and "Отвязать" in html
    other = make_user(phone="", username="other")
    identities.link(other, LID)
    webhook.post(sent(page_message(mine), PHONE_ID, LID))
    assert (
        "уже привязан к другому пользователю"
        in mine.get("/whatsapp/status/").json()["status_message"]
    )


def test_the_page_is_translated(mine, settings):
    settings.LANGUAGE_CODE = "ru"
    html = mine.get(URL).content.decode()
    assert "Привязать WhatsApp" in html
    assert "Link WhatsApp" not in html


def test_link_start_needs_the_csrf_token(me):
    client = Client(enforce_csrf_checks=True)
    client.force_login(me)
    assert client.post(START_URL).status_code == 403
    assert not LoginAttempt.objects.exists()
