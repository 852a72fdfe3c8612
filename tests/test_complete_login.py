"""WHATSAPP_LOGIN_COMPLETE_LOGIN: the pluggable last step of ``complete``."""

from __future__ import annotations

import pytest
from django.contrib.auth import SESSION_KEY
from django.http import HttpResponse, HttpResponseRedirect

from django_whatsapp_login import checks
from django_whatsapp_login.models import LoginAttempt, Status

from .conftest import incoming, start

pytestmark = pytest.mark.django_db
HERE = __name__
calls: list[dict] = []


def answer_url(request, user, *, attempt, redirect_url):
    calls.append({"user": user, "attempt": attempt, "redirect_url": redirect_url})
    return "/second-factor/"


def answer_redirect(request, user, *, attempt, redirect_url):
    return HttpResponseRedirect("/from-a-response/")


def answer_page(request, user, *, attempt, redirect_url):
    return HttpResponse("a page of its own", status=202)


not_callable = "just a string"


def confirmed(browser, webhook, make_user):
    user = make_user("+996700123456")
    data = start(browser)
    webhook.post(incoming(data["message"]))
    return user


@pytest.fixture(autouse=True)
def _reset():
    calls.clear()


def test_default_is_djangos_login(browser, webhook, make_user, settings):
    settings.WHATSAPP_LOGIN_COMPLETE_LOGIN = "django_whatsapp_login.completion.django_login"
    user = confirmed(browser, webhook, make_user)
    assert browser.post("/whatsapp/complete/").json() == {"redirect": "/"}
    assert browser.session[SESSION_KEY] == str(user.pk)


def test_a_url_replaces_the_redirect_and_nobody_is_logged_in(browser, webhook, make_user, settings):
    settings.WHATSAPP_LOGIN_COMPLETE_LOGIN = f"{HERE}.answer_url"
    user = confirmed(browser, webhook, make_user)
    assert browser.post("/whatsapp/complete/").json() == {"redirect": "/second-factor/"}
    assert SESSION_KEY not in browser.session
    [call] = calls
    assert call["user"] == user
    assert call["redirect_url"] == "/"
    assert call["attempt"].status == Status.CONSUMED
    assert LoginAttempt.objects.get().status == Status.CONSUMED


def test_a_url_for_the_no_javascript_form(browser, webhook, make_user, settings):
    settings.WHATSAPP_LOGIN_COMPLETE_LOGIN = f"{HERE}.answer_url"
    confirmed(browser, webhook, make_user)
    response = browser.post("/whatsapp/complete/", HTTP_ACCEPT="text/html")
    assert response.status_code == 303
    assert response["Location"] == "/second-factor/"


def test_a_redirect_response_is_read_as_its_url(browser, webhook, make_user, settings):
    settings.WHATSAPP_LOGIN_COMPLETE_LOGIN = f"{HERE}.answer_redirect"
    confirmed(browser, webhook, make_user)
    assert browser.post("/whatsapp/complete/").json() == {"redirect": "/from-a-response/"}


def test_another_response_is_passed_on(browser, webhook, make_user, settings):
    settings.WHATSAPP_LOGIN_COMPLETE_LOGIN = f"{HERE}.answer_page"
    confirmed(browser, webhook, make_user)
    response = browser.post("/whatsapp/complete/")
    assert (response.status_code, response.content) == (202, b"a page of its own")
    # The attempt is used up either way: a second complete finds nothing.
    assert browser.post("/whatsapp/complete/").status_code == 404


@pytest.mark.parametrize(
    ("path", "text"),
    [("no.such.module.login", "cannot be imported"), (f"{HERE}.not_callable", "not callable")],
)
def test_check_refuses_a_bad_path(settings, path, text):
    settings.WHATSAPP_LOGIN_COMPLETE_LOGIN = path
    [error] = checks.check_complete_login()
    assert error.id == "whatsapp_login.E040"
    assert text in error.msg


def test_check_is_quiet_by_default_without_allauth():
    assert checks.check_complete_login() == []
