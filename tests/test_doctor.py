"""manage.py whatsapp_login_check against the fake Green API.

The original system's four causes of "waiting for confirmation forever" each make the doctor
fail with a line naming the cause and the fix.
"""

from __future__ import annotations

import json

import pytest

from .greenapi_helpers import WEBHOOK_URL, make_healthy, run_command

pytestmark = pytest.mark.django_db


@pytest.fixture
def healthy(fake_greenapi, make_user):
    make_healthy(fake_greenapi)
    make_user(phone="+996700123456")
    return fake_greenapi


def check(*args: str) -> tuple[int, str]:
    code, out, _err = run_command("whatsapp_login_check", *args)
    return code, out


def line(out: str, marker: str, title: str) -> str:
    """The result line for ``title`` plus its Fix line."""
    lines = out.splitlines()
    for i, text in enumerate(lines):
        if text.startswith(f"[{marker}] {title}:"):
            following = lines[i + 1] if i + 1 < len(lines) else ""
            return text + ("\n" + following if following.strip().startswith("Fix:") else "")
    raise AssertionError(f"no [{marker}] {title} line in:\n{out}")


def test_healthy_setup_passes(healthy):
    code, out = check("--url", WEBHOOK_URL, "--phone", "+996 700 123 456")
    assert code == 0, out
    assert "[FAIL]" not in out and "All checks passed." in out
    for title in (
        "Settings",
        "Instance state",
        "Business phone",
        "Webhook URL",
        "Webhook token",
        "Incoming webhooks",
        "LID mode",
        "Quota",
        "Phone lookup",
        "User phones",
    ):
        assert f"[PASS] {title}:" in out


def test_url_is_derived_from_the_site_without_url(healthy):
    code, out = check()
    assert code == 0, out
    healthy.settings["webhookUrl"] = "https://elsewhere.example/whatsapp/webhook/"
    code, out = check()
    assert code == 1
    assert "not in ALLOWED_HOSTS" in line(out, "FAIL", "Webhook URL")


# --- cause 1: the instance is not authorised --------------------------------------------


def test_instance_not_authorised(healthy):
    healthy.state = "notAuthorized"
    code, out = check("--url", WEBHOOK_URL)
    assert code == 1
    text = line(out, "FAIL", "Instance state")
    assert "not authorised" in text and "scan it with WhatsApp" in text


@pytest.mark.parametrize(
    "state, words",
    [
        ("blocked", "banned"),
        ("starting", "5 minutes"),
        ("yellowCard", "spam"),
        (None, "being created"),
    ],
)
def test_other_instance_states(healthy, state, words):
    healthy.state = state
    code, out = check("--url", WEBHOOK_URL)
    assert code == 1
    assert words in line(out, "FAIL", "Instance state")


# --- cause 2: the webhook is not configured or not working -------------------------------


def test_webhook_not_configured(healthy):
    healthy.settings["webhookUrl"] = ""
    code, out = check("--url", WEBHOOK_URL)
    assert code == 1
    text = line(out, "FAIL", "Webhook URL")
    assert "webhook not configured" in text and "whatsapp_login_setup --webhook-url" in text


def test_wrong_webhook_url(healthy):
    healthy.settings["webhookUrl"] = "https://testserver/old/hook/"
    code, out = check("--url", WEBHOOK_URL)
    assert code == 1
    text = line(out, "FAIL", "Webhook URL")
    assert "wrong webhook URL" in text and f"--webhook-url {WEBHOOK_URL}" in text


def test_wrong_webhook_token(healthy):
    healthy.settings["webhookUrlToken"] = "a-token-that-is-not-ours-0123456789abcdef"
    code, out = check("--url", WEBHOOK_URL)
    assert code == 1
    text = line(out, "FAIL", "Webhook token")
    assert "wrong webhook token" in text and "401" in text and "Fix:" in text
    assert "a-token-that-is-not-ours" not in out


def test_webhook_token_not_set(healthy):
    healthy.settings["webhookUrlToken"] = ""
    code, out = check("--url", WEBHOOK_URL)
    assert code == 1
    assert "webhook token not set" in line(out, "FAIL", "Webhook token")


def test_plain_http_webhook_url_fails(healthy):
    healthy.settings["webhookUrl"] = "http://testserver/whatsapp/webhook/"
    code, out = check()
    assert code == 1
    assert "use https" in line(out, "FAIL", "Webhook URL")


# --- cause 3: the user's phone is not in the database ------------------------------------


def test_phone_not_in_database(healthy):
    code, out = check("--url", WEBHOOK_URL, "--phone", "+996700999888")
    assert code == 1
    text = line(out, "FAIL", "Phone lookup")
    assert "phone not in the database" in text and "E.164" in text
    assert "999888" not in out  # masked


def test_no_user_has_a_usable_phone(fake_greenapi, make_user):
    make_healthy(fake_greenapi)
    make_user(phone="0700 123 456")  # national format: not found by the exact lookup
    make_user(phone="")
    code, out = check("--url", WEBHOOK_URL)
    assert code == 1
    text = line(out, "FAIL", "User phones")
    assert "phone not in the database" in text and "not a phone number" in text


def test_unusable_and_shared_phones_are_listed_as_warnings(healthy, make_user):
    make_user(phone="+996 700 555 444")
    make_user(phone="+996700111222")
    make_user(phone="00996 700 111 222")
    code, out = check("--url", WEBHOOK_URL)
    assert code == 0, out  # warnings alone do not fail ...
    text = line(out, "WARN", "User phones")
    assert "not stored as E.164" in text and "shared by users" in text
    assert "555444" not in text and "111222" not in text
    code, out = check("--url", WEBHOOK_URL, "--strict")
    assert code == 1  # ... unless --strict


# --- cause 4: the message is never sent to the site --------------------------------------


def test_incoming_webhooks_off(healthy):
    healthy.settings["incomingWebhook"] = "no"
    code, out = check("--url", WEBHOOK_URL)
    assert code == 1
    text = line(out, "FAIL", "Incoming webhooks")
    assert "never sent" in text and "incomingWebhook" in text and "Fix:" in text


# --- more ---------------------------------------------------------------------------------


def test_lid_mode_on(healthy):
    healthy.settings["enableLidMode"] = True
    code, out = check("--url", WEBHOOK_URL)
    assert code == 1
    assert "@lid" in line(out, "FAIL", "LID mode")


def test_business_phone_mismatch(healthy):
    healthy.wa_settings["phone"] = "996555999999"
    code, out = check("--url", WEBHOOK_URL)
    assert code == 1
    assert "WHATSAPP_LOGIN_BUSINESS_PHONE" in line(out, "FAIL", "Business phone")


def test_quota_exceeded(healthy):
    healthy.fail("getWaSettings", 466, body={"correspondentsStatus": {"status": "QUOTE_EXCEEDED"}})
    code, out = check("--url", WEBHOOK_URL)
    assert code == 1
    assert "466" in line(out, "FAIL", "Quota")


def test_wrong_api_token(healthy, settings):
    settings.WHATSAPP_LOGIN_GREEN_API_TOKEN = "wrong-api-token-123"
    code, out = check("--url", WEBHOOK_URL)
    assert code == 1
    assert "WHATSAPP_LOGIN_GREEN_API_TOKEN" in line(out, "FAIL", "Instance state")
    assert "wrong-api-token-123" not in out


def test_missing_settings(settings, db):
    settings.WHATSAPP_LOGIN_GREEN_API_TOKEN = ""
    code, out = check()
    assert code == 1
    assert "WHATSAPP_LOGIN_GREEN_API_TOKEN" in line(out, "FAIL", "Settings")


def test_poll_mode(healthy):
    code, out = check("--poll")
    assert code == 1
    assert "refuses polling" in line(out, "FAIL", "Polling mode")
    healthy.settings["webhookUrl"] = ""
    code, out = check("--poll")
    assert code == 0, out


def test_json_output(healthy):
    healthy.state = "notAuthorized"
    code, out, _ = run_command("whatsapp_login_check", "--json", "--url", WEBHOOK_URL)
    assert code == 1
    data = json.loads(out)
    assert data["ok"] is False
    by_id = {c["id"]: c for c in data["checks"]}
    assert by_id["instance_state"]["status"] == "fail" and by_id["instance_state"]["fix"]
    assert by_id["webhook_token"]["status"] == "pass"
    healthy.state = "authorized"
    code, out, _ = run_command("whatsapp_login_check", "--json", "--url", WEBHOOK_URL)
    assert code == 0 and json.loads(out)["ok"] is True


def test_output_never_contains_secrets(healthy):
    from .conftest import TOKEN

    healthy.settings["webhookUrlToken"] = "different-secret-value-abcdefghijklmnop"
    for args in ((), ("--json",)):
        _code, out, err = run_command("whatsapp_login_check", "--url", WEBHOOK_URL, *args)
        for secret in (TOKEN, healthy.token, "different-secret-value"):
            assert secret not in out + err


# --- --self-test: a real delivery to our own webhook over HTTP -----------------------------


@pytest.mark.django_db(transaction=True)
def test_self_test_delivers_to_the_live_webhook(fake_greenapi, live_server, make_user, settings):
    url = live_server.url + "/whatsapp/webhook/"
    make_healthy(fake_greenapi, url=url)
    make_user(phone="+996700123456")
    code, out = check("--self-test")
    assert code == 0, out
    assert "answered 200 (and 401 without the token)" in line(out, "PASS", "Test delivery")
    fake_greenapi.settings["webhookUrlToken"] = "not-the-configured-token-0123456789abc"
    code, out = check("--self-test", "--url", url)
    assert code == 1
    assert "got HTTP 401" in line(out, "FAIL", "Test delivery")


@pytest.mark.django_db(transaction=True)
def test_self_test_unreachable(fake_greenapi, live_server, make_user):
    url = live_server.url + "/whatsapp/webhook/"
    make_healthy(fake_greenapi, url=url)
    make_user(phone="+996700123456")
    code, out = check("--self-test", "--url", live_server.url + "/nothing-here/")
    assert code == 1
    assert "webhook not working" in line(out, "FAIL", "Test delivery")


# --- issue 14, item 6: PASS only when something answered; SKIP rather than vanish ---------

REMOTE_TITLES = ("Business phone", "Webhook URL", "Webhook token", "Incoming webhooks", "LID mode")


def test_state_failure_skips_the_webhook_lines_and_the_quota(healthy):
    healthy.fail("getStateInstance", 401, times=3)
    code, out = check("--url", WEBHOOK_URL)
    assert code == 1
    line(out, "FAIL", "Instance state")
    for title in REMOTE_TITLES:
        assert "getStateInstance" in line(out, "SKIP", title)
    assert "no Green API call succeeded" in line(out, "SKIP", "Quota")
    assert "[PASS] Quota" not in out


def test_settings_failure_skips_the_webhook_lines(healthy):
    healthy.fail("getSettings", 401, times=3)
    code, out = check("--url", WEBHOOK_URL)
    assert code == 1
    line(out, "FAIL", "Instance settings")
    for title in REMOTE_TITLES:
        assert "getSettings" in line(out, "SKIP", title)
    assert "[PASS] Quota: Green API answered" in out  # getStateInstance did answer


def test_incomplete_settings_skip_every_remote_line(settings, db):
    settings.WHATSAPP_LOGIN_GREEN_API_TOKEN = ""
    code, out = check()
    assert code == 1
    for title in ("Instance state", *REMOTE_TITLES, "Quota"):
        line(out, "SKIP", title)
    assert "[PASS] Quota" not in out
