"""whatsapp_login_check asks the configured gateway for its lines: a custom gateway's own,
the Cloud API's only with the Cloud API, Green API's only with Green API; the user checks
come from the core whichever it is."""

from __future__ import annotations

import json

import pytest

from django_whatsapp_login import doctor
from django_whatsapp_login.exceptions import WhatsAppLoginImproperlyConfigured
from django_whatsapp_login.gateways import Gateway

from . import fake_cloudapi as fake
from .greenapi_helpers import make_healthy, run_command

pytestmark = pytest.mark.django_db

GREEN_IDS = {
    "settings",
    "instance_state",
    "business_phone",
    "webhook_url",
    "webhook_token",
    "incoming_webhook",
    "lid_mode",
    "quota",
}
CLOUD_IDS = {
    "cloudapi_settings",
    "cloudapi_secrets",
    "cloudapi_token",
    "cloudapi_phone",
    "cloudapi_subscription",
}
CORE_IDS = {"user_phones", "phone_lookup"}
#: What the custom gateways below were given, for the tests to look at.
SEEN: list[doctor.Checkup | None] = []


class _Silent(Gateway):
    """A gateway that receives and sends nothing: only its checks matter here."""

    def authenticate(self, request):
        return False

    def parse(self, body):
        return []

    def send_text(self, to, text, *, reply_to=""):
        return ""


class CustomGateway(_Silent):
    name = "custom"

    def checks(self, checkup=None):
        SEEN.append(checkup)
        if checkup is not None:
            checkup.notes["custom.endpoint"] = "https://custom.example.com/hook"
        return [
            doctor.result("custom_settings", "Custom settings", doctor.PASS, "configured", "n/a"),
            doctor.result(
                "custom_quota", "Custom quota", doctor.WARN, "90% used", "buy more messages"
            ),
        ]

    def self_test(self, checkup):
        endpoint = checkup.notes.get("custom.endpoint", "?")
        return [doctor.result("custom_round_trip", "Round trip", doctor.PASS, endpoint)]


class OldStyleGateway(_Silent):
    """Written before checks took a checkup."""

    name = "oldstyle"

    def checks(self):
        return [doctor.result("old_check", "Old check", doctor.FAIL, "broken", "repair it")]


class MisconfiguredGateway(_Silent):
    name = "misconfigured"

    def checks(self, checkup=None):
        raise WhatsAppLoginImproperlyConfigured("WHATSAPP_LOGIN_CUSTOM_KEY is not set")


def check_json(*args: str) -> tuple[int, list[dict[str, str]]]:
    code, out, _ = run_command("whatsapp_login_check", "--json", *args)
    return code, json.loads(out)["checks"]


@pytest.fixture(autouse=True)
def _forget_seen():
    SEEN.clear()
    yield
    SEEN.clear()


def test_a_custom_gateway_contributes_its_own_lines(settings, make_user):
    settings.WHATSAPP_LOGIN_GATEWAY = f"{__name__}.CustomGateway"
    make_user(phone="+79990000000")
    code, checks = check_json("--phone", "+79990000000", "--url", "https://site.example.com/w/")
    assert [c["id"] for c in checks] == [
        "custom_settings",
        "custom_quota",
        "phone_lookup",
        "user_phones",
    ]
    assert code == 0  # a warning fails only with --strict
    by_id = {c["id"]: c for c in checks}
    assert by_id["custom_settings"]["fix"] == ""  # a PASS shows no fix
    assert by_id["custom_quota"]["fix"] == "buy more messages"
    assert by_id["phone_lookup"]["status"] == doctor.PASS
    (checkup,) = SEEN
    assert checkup.url == "https://site.example.com/w/" and checkup.phone == "+79990000000"
    assert checkup.poll is False and checkup.self_test is False


def test_a_custom_gateway_s_lines_in_text_and_strict(settings):
    settings.WHATSAPP_LOGIN_GATEWAY = f"{__name__}.CustomGateway"
    code, out, err = run_command("whatsapp_login_check", "--strict")
    assert code == 1 and "custom_quota" in err
    assert "[PASS] Custom settings: configured" in out
    assert "[WARN] Custom quota: 90% used\n       Fix: buy more messages" in out
    assert "Instance state" not in out and "Cloud API" not in out


def test_a_custom_gateway_s_self_test_comes_last_and_reads_the_notes(settings):
    settings.WHATSAPP_LOGIN_GATEWAY = f"{__name__}.CustomGateway"
    _, checks = check_json("--self-test")
    assert checks[-1] == {
        "id": "custom_round_trip",
        "title": "Round trip",
        "status": doctor.PASS,
        "detail": "https://custom.example.com/hook",
        "fix": "",
    }
    assert SEEN[0].self_test is True


def test_without_self_test_the_gateway_s_self_test_does_not_run(settings):
    settings.WHATSAPP_LOGIN_GATEWAY = f"{__name__}.CustomGateway"
    _, checks = check_json()
    assert "custom_round_trip" not in {c["id"] for c in checks}


def test_a_gateway_with_the_old_checks_signature_still_works(settings):
    settings.WHATSAPP_LOGIN_GATEWAY = f"{__name__}.OldStyleGateway"
    code, checks = check_json("--self-test")  # no self_test of its own: no line for it
    assert code == 1
    assert [c["id"] for c in checks] == ["old_check", "user_phones"]


def test_checks_that_find_a_misconfiguration_are_one_failed_line(settings):
    settings.WHATSAPP_LOGIN_GATEWAY = f"{__name__}.MisconfiguredGateway"
    code, checks = check_json()
    assert code == 1
    assert [c["id"] for c in checks] == ["gateway", "user_phones"]
    assert "WHATSAPP_LOGIN_CUSTOM_KEY" in checks[0]["detail"]


def test_doctor_checks_the_gateway_it_is_given(settings):
    settings.WHATSAPP_LOGIN_GATEWAY = "cloudapi"  # not asked: the given gateway is checked
    report = doctor.Doctor(gateway=CustomGateway(), phone="+79990000001").run()
    ids = [r.id for r in report.results]
    assert ids[:2] == ["custom_settings", "custom_quota"]
    assert not CLOUD_IDS & set(ids)
    assert SEEN[0] is not None and SEEN[0].phone == "+79990000001"


def test_checks_called_outside_the_doctor_get_no_checkup():
    assert [r.id for r in CustomGateway().checks()] == ["custom_settings", "custom_quota"]
    assert SEEN == [None]


def test_the_cloud_api_shows_cloud_api_lines_only(fake_cloudapi, settings, make_user):
    settings.WHATSAPP_LOGIN_GATEWAY = "cloudapi"
    settings.WHATSAPP_LOGIN_BUSINESS_PHONE = "+" + fake.BUSINESS_DIGITS
    make_user(phone="+" + fake.USER_DIGITS)
    code, checks = check_json("--phone", "+" + fake.USER_DIGITS, "--self-test")
    ids = [c["id"] for c in checks]
    assert code == 0, checks
    assert ids == [*sorted(CLOUD_IDS, key=ids.index), "phone_lookup", "user_phones"]
    assert set(ids) == CLOUD_IDS | CORE_IDS
    assert not GREEN_IDS & set(ids) and "self_test" not in ids
    assert "Green API" not in json.dumps(checks)


def test_green_api_shows_green_api_lines_only(fake_greenapi, fake_cloudapi, settings, make_user):
    settings.WHATSAPP_LOGIN_GATEWAY = "greenapi"
    make_healthy(fake_greenapi)
    make_user(phone="+996700123456")
    code, checks = check_json("--phone", "+996700123456")
    ids = [c["id"] for c in checks]
    assert code == 0, checks
    assert set(ids) == GREEN_IDS | CORE_IDS
    assert ids[0] == "settings" and ids[-2:] == ["phone_lookup", "user_phones"]
    assert not any(i.startswith("cloudapi_") for i in ids)
    assert fake_cloudapi.requests == []  # the Cloud API is configured too, but not asked
    assert fake_greenapi.calls("getStateInstance")


def test_doctor_s_client_factory_still_builds_the_green_api_client(fake_greenapi, settings):
    from django_whatsapp_login.gateways.greenapi.client import GreenAPIClient

    settings.WHATSAPP_LOGIN_GATEWAY = "greenapi"
    make_healthy(fake_greenapi)
    built = []

    def factory():
        built.append(GreenAPIClient.from_settings(max_retries=0))
        return built[-1]

    report = doctor.Doctor(client_factory=factory).run()
    assert len(built) == 1
    assert {r.id: r.status for r in report.results}["instance_state"] == doctor.PASS


def test_a_phone_the_doctor_cannot_read_is_one_failed_line(settings):
    settings.WHATSAPP_LOGIN_GATEWAY = f"{__name__}.CustomGateway"
    code, checks = check_json("--phone", "call me maybe")
    by_id = {c["id"]: c for c in checks}
    assert by_id["phone_lookup"]["status"] == doctor.FAIL
    assert by_id["phone_lookup"]["detail"].startswith("cannot read the number")
    assert "+<country code><number>" in by_id["phone_lookup"]["fix"]
    assert code != 0


def test_a_database_it_cannot_read_is_one_failed_line(settings, monkeypatch):
    from django.db import OperationalError

    from django_whatsapp_login import phone_audit

    def unreadable(*args, **kwargs):
        raise OperationalError("no such table: auth_user")

    settings.WHATSAPP_LOGIN_GATEWAY = f"{__name__}.CustomGateway"
    monkeypatch.setattr(phone_audit, "audit_phones", unreadable)
    code, checks = check_json()
    by_id = {c["id"]: c for c in checks}
    assert by_id["user_phones"]["status"] == doctor.FAIL
    assert by_id["user_phones"]["detail"] == "the database cannot be read (OperationalError)"
    assert by_id["user_phones"]["fix"] == "check DATABASES and run manage.py migrate"
    assert code != 0
