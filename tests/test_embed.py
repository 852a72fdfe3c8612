"""The {% whatsapp_login_widget %} tag: the widget inside a project's own login page."""

from __future__ import annotations

import pytest
from django.template import Context, Template, TemplateSyntaxError
from django.test import Client

from django_whatsapp_login.models import LoginAttempt

from .conftest import incoming

pytestmark = pytest.mark.django_db


def test_embedded_widget_renders_next_to_a_password_form(browser):
    response = browser.get("/embed/")
    html = response.content.decode()
    assert response.status_code == 200
    assert 'id="password-form"' in html and "data-whatsapp-login" in html
    assert "<svg" in html and "whatsapp_login.js" in html and "whatsapp_login.css" in html
    assert LoginAttempt.objects.count() == 1
    code = browser.session["_whatsapp_login"]["code"]
    assert f"AMT LOGIN {code}" in html
    # Reloading the host page reuses the attempt.
    browser.get("/embed/")
    assert LoginAttempt.objects.count() == 1


def test_login_through_the_embedded_widget_without_javascript(browser, webhook, make_user):
    make_user("+996700123456")
    browser.get("/embed/")
    code = browser.session["_whatsapp_login"]["code"]
    # Before confirmation the fallback goes back to the host page, not the app's own page.
    early = browser.post("/whatsapp/complete/", HTTP_ACCEPT="text/html")
    assert (early.status_code, early["Location"]) == (303, "/embed/")
    webhook.post(incoming(f"AMT LOGIN {code}"))
    done = browser.post("/whatsapp/complete/", HTTP_ACCEPT="text/html")
    assert (done.status_code, done["Location"]) == (303, "/after-embed/")
    assert "_auth_user_id" in browser.session


def test_csp_nonce_is_put_on_the_script(rf):
    request = rf.get("/embed/")
    from django.contrib.sessions.backends.db import SessionStore

    request.session = SessionStore()
    request.csp_nonce = "n0nce123"
    html = Template("{% load whatsapp_login %}{% whatsapp_login_widget %}").render(
        Context({"request": request})
    )
    assert 'nonce="n0nce123"' in html
    assert "<script>" not in html  # no inline script a strict CSP would block


def test_assets_can_be_left_out(rf):
    from django.contrib.sessions.backends.db import SessionStore

    request = rf.get("/")
    request.session = SessionStore()
    html = Template("{% load whatsapp_login %}{% whatsapp_login_widget assets=False %}").render(
        Context({"request": request})
    )
    assert "data-whatsapp-login" in html and "<script" not in html


def test_without_request_in_context_the_error_says_what_to_enable():
    with pytest.raises(TemplateSyntaxError, match=r"context_processors\.request"):
        Template("{% load whatsapp_login %}{% whatsapp_login_widget %}").render(Context({}))


def test_rate_limited_widget_says_so():
    for _ in range(20):
        Client().get("/embed/")
    html = Client().get("/embed/").content.decode()
    assert "Too many login attempts" in html
    assert LoginAttempt.objects.count() == 20
