"""What ``complete`` costs in data statements on database sessions (issue 11).

Counted with CaptureQueriesContext; transaction control (BEGIN, SAVEPOINT...) is left out,
as in the benchmark's queries figure. Of the 10 that remain, ours are 3: the attempt read
with its user (one join), the conditional UPDATE that consumes it, and the UPDATE that
keeps the new session key on the attempt (known only after login() rotated it; a "NO"
in WhatsApp deletes that session). The session read is the request's own; the other 6
are Django's login() on database sessions (docs/benchmarks.md lists them).
"""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.contrib.auth import SESSION_KEY
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from django_whatsapp_login import devices
from django_whatsapp_login.models import KnownDevice, LoginAttempt, Status

from .conftest import incoming, start

pytestmark = pytest.mark.django_db
CONTROL = re.compile(r"^(BEGIN|COMMIT|ROLLBACK|SAVEPOINT|RELEASE SAVEPOINT)\b")


def data_statements(captured: CaptureQueriesContext) -> list[str]:
    return [q["sql"] for q in captured.captured_queries if not CONTROL.match(q["sql"])]


def kind(sql: str) -> str:
    """``SELECT whatsapp_login_loginattempt`` and the like: verb and first table."""
    verb = sql.split(None, 1)[0].upper()
    table = re.search(r'(?:FROM|INTO|UPDATE)\s+"?(\w+)"?', sql)
    return f"{verb} {table.group(1) if table else '?'}"


@pytest.fixture
def db_sessions(settings):
    settings.SESSION_ENGINE = "django.contrib.sessions.backends.db"


def test_complete_runs_ten_data_statements(db_sessions, browser, webhook, make_user):
    user = make_user("+996700123456")
    data = start(browser)
    webhook.post(incoming(data["message"]))
    with CaptureQueriesContext(connection) as captured:
        response = browser.post("/whatsapp/complete/", HTTP_ACCEPT="application/json")
    assert response.status_code == 200, response.content
    assert browser.session[SESSION_KEY] == str(user.pk)
    attempt = LoginAttempt.objects.get()
    assert attempt.status == Status.CONSUMED
    assert attempt.session_key == browser.session.session_key
    statements = data_statements(captured)
    kinds = [kind(sql) for sql in statements]
    assert kinds == [
        "SELECT django_session",  # the request reads its session
        "SELECT whatsapp_login_loginattempt",  # the attempt, joined with its user
        "UPDATE whatsapp_login_loginattempt",  # confirmed -> consumed, conditional
        # Django's login(): cycle_key() makes a new key (exists, INSERT) and deletes the
        # old session (get, then delete), then user_logged_in updates last_login.
        "SELECT django_session",
        "INSERT django_session",
        "SELECT django_session",
        "DELETE django_session",
        "UPDATE testapp_user",
        "UPDATE whatsapp_login_loginattempt",  # the new session key, for a "NO"
        "UPDATE django_session",  # SessionMiddleware saves the logged-in session
    ], statements
    assert "JOIN" in statements[1] and "testapp_user" in statements[1]


def test_an_inactive_user_is_still_refused_with_the_joined_read(
    db_sessions, browser, webhook, make_user
):
    user = make_user("+996700123456")
    data = start(browser)
    webhook.post(incoming(data["message"]))
    user.is_active = False
    user.save()
    response = browser.post("/whatsapp/complete/", HTTP_ACCEPT="application/json")
    assert response.status_code == 409
    assert SESSION_KEY not in browser.session
    assert LoginAttempt.objects.get().status == Status.REJECTED


def test_remembering_a_device_is_one_statement(make_user, settings):
    settings.DEBUG, settings.WHATSAPP_LOGIN_SANDBOX = True, True  # confirmations on
    user = make_user("+996700123456")
    now = timezone.now()
    attempt = LoginAttempt(device_hash="d" * 64, created_at=now, expires_at=now)
    with CaptureQueriesContext(connection) as first:
        devices.remember(attempt, user, label="Firefox, Linux")
    [row] = KnownDevice.objects.all()
    assert row.label == "Firefox, Linux"
    KnownDevice.objects.update(last_used_at=now - timedelta(days=3))
    with CaptureQueriesContext(connection) as second:
        devices.remember(attempt, user, label="another label")
    [renewed] = KnownDevice.objects.all()
    assert renewed.pk == row.pk and renewed.label == "Firefox, Linux"
    assert renewed.last_used_at > now - timedelta(minutes=1)
    if connection.features.supports_update_conflicts_with_target:
        assert len(data_statements(first)) == 1, first.captured_queries
        assert len(data_statements(second)) == 1, second.captured_queries


def test_a_session_the_store_knows_gets_a_new_key_with_its_attempt(db_sessions, browser):
    browser.get("/whatsapp/")
    known = browser.cookies[settings_module().SESSION_COOKIE_NAME].value
    browser.post("/whatsapp/start/")  # reuses the live attempt: no new key
    assert browser.cookies[settings_module().SESSION_COOKIE_NAME].value == known
    session = browser.session
    session.pop("_whatsapp_login", None)
    session.save()
    browser.post("/whatsapp/start/")  # a new attempt in a known session: rotated
    assert browser.cookies[settings_module().SESSION_COOKIE_NAME].value != known


def test_an_unknown_session_cookie_is_never_kept_and_costs_no_rotation(db_sessions, browser):
    name = settings_module().SESSION_COOKIE_NAME
    browser.cookies[name] = "madeup0000000000000000000000000000"
    with CaptureQueriesContext(connection) as captured:
        response = browser.get("/whatsapp/")
    assert response.status_code == 200
    issued = browser.cookies[name].value
    assert issued and issued != "madeup0000000000000000000000000000"
    kinds = [kind(sql) for sql in data_statements(captured)]
    # The session read that finds nothing, the attempt, then the new session saved once.
    assert kinds == [
        "SELECT django_session",
        "INSERT whatsapp_login_loginattempt",
        "SELECT django_session",
        "INSERT django_session",
    ], kinds


def settings_module():
    from django.conf import settings

    return settings


def test_a_login_without_confirmations_never_parses_the_user_agent(browser, webhook, make_user):
    # The known device's label (ua-parser) is made only when a device is stored.
    from unittest import mock

    make_user("+996700123456")
    data = start(browser)
    webhook.post(incoming(data["message"]))
    with mock.patch("django_whatsapp_login.attempts.parse_user_agent") as parse:
        response = browser.post("/whatsapp/complete/", HTTP_ACCEPT="application/json")
    assert response.status_code == 200, response.content
    assert LoginAttempt.objects.get().status == Status.CONSUMED
    parse.assert_not_called()
    assert not KnownDevice.objects.exists()


def test_a_label_function_runs_only_when_the_device_is_stored(make_user, settings):
    user = make_user("+996700123456")
    now = timezone.now()
    attempt = LoginAttempt(device_hash="d" * 64, created_at=now, expires_at=now)
    calls: list[int] = []

    def label() -> str:
        calls.append(1)
        return "Firefox, Linux"

    devices.remember(attempt, user, label=label)  # confirmations off: nothing stored
    assert calls == [] and not KnownDevice.objects.exists()
    settings.DEBUG, settings.WHATSAPP_LOGIN_SANDBOX = True, True  # confirmations on
    devices.remember(attempt, user, label=label)
    assert calls == [1]
    assert KnownDevice.objects.get().label == "Firefox, Linux"
