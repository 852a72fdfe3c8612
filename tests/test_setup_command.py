"""manage.py whatsapp_login_setup against the fake Green API."""

from __future__ import annotations

import pytest

from .conftest import TOKEN
from .greenapi_helpers import WEBHOOK_URL, run_command

pytestmark = pytest.mark.django_db


def setup(*args: str) -> tuple[int, str, str]:
    return run_command("whatsapp_login_setup", *args)


def test_setup_then_doctor_passes(fake_greenapi, make_user):
    make_user(phone="+996700123456")
    code, out, _ = run_command("whatsapp_login_check", "--url", WEBHOOK_URL)
    assert code == 1  # a new instance: no webhook, incoming webhooks off
    code, out, err = setup("--webhook-url", WEBHOOK_URL)
    assert code == 0, err
    assert "up to 5 minutes" in out and "restarts" in out
    assert "Read back: every setting is applied." in out
    settings = fake_greenapi.settings
    assert settings["webhookUrl"] == WEBHOOK_URL and settings["webhookUrlToken"] == TOKEN
    assert settings["incomingWebhook"] == "yes" and settings["enableLidMode"] == "no"
    assert settings["outgoingWebhook"] == settings["outgoingMessageWebhook"] == "no"
    assert settings["outgoingAPIMessageWebhook"] == "no"
    code, out, _ = run_command("whatsapp_login_check", "--url", WEBHOOK_URL)
    assert code == 0, out


def test_second_run_changes_nothing(fake_greenapi):
    assert setup("--webhook-url", WEBHOOK_URL)[0] == 0
    assert len(fake_greenapi.calls("setSettings")) == 1
    code, out, _ = setup("--webhook-url", WEBHOOK_URL)
    assert code == 0
    assert "Nothing to change" in out
    assert len(fake_greenapi.calls("setSettings")) == 1


def test_only_the_differences_are_sent(fake_greenapi):
    fake_greenapi.settings.update(incomingWebhook="yes", outgoingWebhook="no")
    setup("--webhook-url", WEBHOOK_URL)
    sent = fake_greenapi.calls("setSettings")[0][2]
    assert "incomingWebhook" not in sent and "outgoingWebhook" not in sent
    assert sent["webhookUrl"] == WEBHOOK_URL


def test_lid_mode_is_turned_off_in_its_own_type(fake_greenapi):
    fake_greenapi.settings["enableLidMode"] = True
    setup("--webhook-url", WEBHOOK_URL, "--lid-mode", "off")
    assert fake_greenapi.calls("setSettings")[0][2]["enableLidMode"] is False
    assert fake_greenapi.settings["enableLidMode"] is False


def test_dry_run_writes_nothing(fake_greenapi):
    before = dict(fake_greenapi.settings)
    code, out, _ = setup("--webhook-url", WEBHOOK_URL, "--dry-run")
    assert code == 0
    assert "webhookUrl: '' -> 'https://testserver/whatsapp/webhook/'" in out
    assert "incomingWebhook: 'no' -> 'yes'" in out
    assert "webhookUrlToken: (empty) -> (set)" in out
    assert TOKEN not in out
    assert "Dry run" in out
    assert fake_greenapi.calls("setSettings") == []
    assert fake_greenapi.settings == before


def test_reports_settings_not_applied_yet(fake_greenapi):
    fake_greenapi.apply_settings = False  # Green API can take up to 5 minutes
    code, out, _ = setup("--webhook-url", WEBHOOK_URL)
    assert code == 0
    assert "Not applied yet: " in out and "webhookUrl" in out
    assert len(fake_greenapi.calls("setSettings")) == 1  # never loops setSettings


def test_poll_mode_clears_the_webhook_url(fake_greenapi):
    fake_greenapi.settings["webhookUrl"] = WEBHOOK_URL
    assert setup("--poll")[0] == 0
    assert fake_greenapi.settings["webhookUrl"] == ""
    assert fake_greenapi.settings["incomingWebhook"] == "yes"


@pytest.mark.parametrize(
    "url",
    [
        "ftp://testserver/whatsapp/webhook/",
        "http://testserver/whatsapp/webhook/",
        "https://testserver/not-the-webhook/",
        "https://evil.example/whatsapp/webhook/",
    ],
)
def test_refuses_urls_that_cannot_be_ours(fake_greenapi, url):
    code, _, err = setup("--webhook-url", url)
    assert code == 1 and "--webhook-url" in err
    assert fake_greenapi.calls("setSettings") == []


def test_needs_a_webhook_token(fake_greenapi, settings):
    settings.WHATSAPP_LOGIN_WEBHOOK_TOKEN = ""
    code, _, err = setup("--webhook-url", WEBHOOK_URL)
    assert code == 1 and "WHATSAPP_LOGIN_WEBHOOK_TOKEN" in err


def test_api_errors_name_the_call(fake_greenapi):
    fake_greenapi.fail("getSettings", 500, times=10)
    code, _, err = setup("--webhook-url", WEBHOOK_URL)
    assert code == 1 and "getSettings" in err and "500" in err
    assert fake_greenapi.token not in err
