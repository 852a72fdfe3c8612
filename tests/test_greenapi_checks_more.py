"""The Green API doctor lines (gateways/greenapi/checks.py) that tests/test_doctor.py does not
reach: broken settings, calls that fail in other ways, token rotation, a 466 remembered in
the cache, a database that cannot be read, and the delivery self-test against a stand-in
webhook that answers what a misrouted site would."""

from __future__ import annotations

import time

import pytest
from django.core.cache import cache
from django.db import OperationalError

from django_whatsapp_login import phone_audit
from django_whatsapp_login.doctor import FAIL, PASS, SKIP, WARN, Checkup
from django_whatsapp_login.gateways.greenapi import checks
from django_whatsapp_login.gateways.greenapi.checks import REMOTE, GreenAPIChecks, self_test
from django_whatsapp_login.gateways.greenapi.client import QUOTA_CACHE_KEY, InstanceSettings

from .conftest import TOKEN
from .fake_server import FakeServer
from .greenapi_helpers import WEBHOOK_URL, make_healthy

pytestmark = pytest.mark.django_db


def run_checks(**checkup) -> dict[str, tuple[str, str, str]]:
    """The Green API lines of one run, by id: (status, detail, fix)."""
    lines = GreenAPIChecks(Checkup(**checkup)).run()
    by_id = {line.id: (line.status, line.detail, line.fix) for line in lines}
    assert len(by_id) == len(lines), "an id appears twice"
    return by_id


@pytest.fixture
def healthy(fake_greenapi, make_user):
    make_healthy(fake_greenapi)
    make_user(phone="+996700123456")
    return fake_greenapi


def remote(**overrides) -> InstanceSettings:
    data = {
        "wid": "996555000001@c.us",
        "webhookUrl": WEBHOOK_URL,
        "webhookUrlToken": TOKEN,
        "incomingWebhook": "yes",
        "enableLidMode": "no",
    }
    data.update(overrides)
    return InstanceSettings.from_json(data)


# --- settings -------------------------------------------------------------------------


def test_a_webhook_token_of_the_wrong_type_counts_as_missing(healthy, settings):
    settings.WHATSAPP_LOGIN_WEBHOOK_TOKEN = 12345  # neither a string nor a list
    lines = run_checks(url=WEBHOOK_URL)
    status, detail, fix = lines["settings"]
    assert status == FAIL and detail == "missing or invalid: WHATSAPP_LOGIN_WEBHOOK_TOKEN"
    assert "secrets.token_urlsafe" in fix
    assert lines["webhook_token"][:2] == (
        FAIL,
        "WHATSAPP_LOGIN_WEBHOOK_TOKEN is empty: the webhook refuses everything",
    )
    assert lines["instance_state"][0] == PASS  # the API settings are complete: it still asks


def test_polling_needs_no_webhook_token(healthy, settings):
    healthy.settings["webhookUrl"] = ""
    settings.WHATSAPP_LOGIN_WEBHOOK_TOKEN = ""
    lines = run_checks(poll=True)
    assert lines["settings"][0] == PASS
    assert lines["webhook_url"][0] == PASS and "whatsapp_login_poll" in lines["webhook_url"][1]
    assert "webhook_token" not in lines


def test_an_invalid_business_phone_fails_the_settings_and_skips_the_comparison(healthy, settings):
    settings.WHATSAPP_LOGIN_BUSINESS_PHONE = "call us"
    lines = run_checks(url=WEBHOOK_URL)
    assert lines["settings"][:2] == (FAIL, "missing or invalid: WHATSAPP_LOGIN_BUSINESS_PHONE")
    assert lines["business_phone"][:2] == (SKIP, "WHATSAPP_LOGIN_BUSINESS_PHONE is not set")
    assert lines["webhook_url"][0] == PASS  # the other remote lines are still checked


def test_every_missing_setting_is_named_at_once(fake_greenapi, settings):
    settings.WHATSAPP_LOGIN_GREEN_API_TOKEN = ""
    settings.WHATSAPP_LOGIN_WEBHOOK_TOKEN = None
    settings.WHATSAPP_LOGIN_BUSINESS_PHONE = ""
    lines = run_checks()
    assert lines["settings"][1] == (
        "missing or invalid: WHATSAPP_LOGIN_GREEN_API_TOKEN, WHATSAPP_LOGIN_WEBHOOK_TOKEN, "
        "WHATSAPP_LOGIN_BUSINESS_PHONE"
    )
    assert fake_greenapi.requests == []  # without the API token nothing is asked


# --- calls that fail --------------------------------------------------------------------


def test_a_quota_answer_to_the_first_call_is_the_quota_line(healthy):
    healthy.fail("getStateInstance", 466, body={"message": "quota exceeded"})
    lines = run_checks(url=WEBHOOK_URL)
    status, detail, fix = lines["instance_state"]
    assert status == FAIL and "HTTP 466" in detail and "WHATSAPP_LOGIN_GREEN_API_URL" in fix
    status, detail, fix = lines["quota"]
    assert status == FAIL and detail.startswith("quota exceeded (HTTP 466):")
    assert "quota exceeded" in detail.split(":", 1)[1]  # Green API's own words
    assert "paid plan" in fix


def test_in_polling_mode_a_failed_call_skips_the_polling_line(healthy):
    healthy.fail("getStateInstance", 401, times=3)
    lines = run_checks(poll=True)
    reason = "skipped: Green API did not answer getStateInstance (see above)"
    assert lines["webhook_url"] == (SKIP, reason, "")
    assert "webhook_token" not in lines
    for id_ in ("business_phone", "incoming_webhook", "lid_mode"):
        assert lines[id_] == (SKIP, reason, "")


def test_without_wa_settings_the_business_phone_comes_from_the_wid(healthy):
    healthy.fail("getWaSettings", 500, times=5)
    healthy.wa_settings["phone"] = "996555999999"  # never read: the call fails
    lines = run_checks(url=WEBHOOK_URL)
    assert lines["business_phone"] == (PASS, "+996555000001", "")
    assert lines["quota"][0] == PASS  # a 500 is not a quota problem


def test_an_instance_with_no_number_yet_skips_the_comparison(healthy):
    healthy.wa_settings["phone"] = ""
    healthy.settings["wid"] = ""
    lines = run_checks(url=WEBHOOK_URL)
    assert lines["business_phone"] == (SKIP, "the instance has no WhatsApp number yet", "")


def test_a_device_suffix_on_the_instance_number_still_matches(healthy):
    healthy.wa_settings["phone"] = ""
    healthy.settings["wid"] = "996555000001:12@c.us"
    assert run_checks(url=WEBHOOK_URL)["business_phone"] == (PASS, "+996555000001", "")


def test_an_unknown_instance_state_is_shown_as_it_is(healthy):
    healthy.state = "hibernating"
    status, detail, fix = run_checks(url=WEBHOOK_URL)["instance_state"]
    assert status == FAIL and detail == "hibernating: unknown state 'hibernating'"
    assert fix == "see the Green API console"


# --- the webhook token, rotated -----------------------------------------------------------


def test_green_api_still_on_the_previous_token_is_a_warning(healthy, settings):
    settings.WHATSAPP_LOGIN_WEBHOOK_TOKEN = ["the-new-token-abcdefghijklmnopqrstuvwxyz", TOKEN]
    status, detail, fix = run_checks(url=WEBHOOK_URL)["webhook_token"]
    assert status == WARN
    assert detail == "Green API uses an older token from WHATSAPP_LOGIN_WEBHOOK_TOKEN"
    assert "whatsapp_login_setup" in fix


def test_green_api_on_the_current_token_of_a_rotation_passes(healthy, settings):
    settings.WHATSAPP_LOGIN_WEBHOOK_TOKEN = [TOKEN, "the-old-token-abcdefghijklmnopqrstuvwxyz"]
    assert run_checks(url=WEBHOOK_URL)["webhook_token"][0] == PASS


@pytest.mark.parametrize("header", [f"Bearer {TOKEN}", f"bearer {TOKEN}"])
def test_a_token_stored_with_its_scheme_is_compared_without_it(healthy, header):
    healthy.settings["webhookUrlToken"] = header
    assert run_checks(url=WEBHOOK_URL)["webhook_token"][0] == PASS


def test_a_token_that_is_not_a_string_fails_the_token_line(settings):
    settings.WHATSAPP_LOGIN_WEBHOOK_TOKEN = {"token": TOKEN}
    run = GreenAPIChecks(Checkup())
    run.check_webhook_token(remote())
    ((line),) = run.results
    assert (line.id, line.status) == ("webhook_token", FAIL)
    assert "is empty" in line.detail


# --- the webhook URL ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "words"),
    [
        (WEBHOOK_URL + "?token=1", "has a query or fragment"),
        ("https://evil.example.com/whatsapp/webhook/", "not in ALLOWED_HOSTS"),
        ("https://testserver/somewhere-else/", "is not this site's webhook view"),
    ],
)
def test_a_webhook_url_that_cannot_be_this_site_fails(url, words):
    run = GreenAPIChecks(Checkup())
    run.check_webhook_url(remote(webhookUrl=url))
    ((line),) = run.results
    assert line.status == FAIL and words in line.detail and url in line.detail


def test_with_debug_and_no_allowed_hosts_localhost_is_accepted(settings):
    settings.DEBUG = True
    settings.ALLOWED_HOSTS = []
    assert checks.webhook_url_problem("https://localhost/whatsapp/webhook/") == ""
    problem = checks.webhook_url_problem("https://example.com/whatsapp/webhook/")
    assert "not in ALLOWED_HOSTS" in problem


# --- LID mode when the users cannot be counted ----------------------------------------------


def test_lid_mode_with_an_unreadable_database_warns_without_a_count(monkeypatch):
    def unreadable(users=None):
        raise OperationalError("no such table: django_whatsapp_login_whatsappidentity")

    monkeypatch.setattr(phone_audit, "identity_coverage", unreadable)
    run = GreenAPIChecks(Checkup())
    run.check_lid(remote(enableLidMode=True))
    ((line),) = run.results
    assert line.status == WARN
    assert "cannot be counted: the database cannot be read (OperationalError)" in line.detail
    assert "without)" not in line.detail  # no made-up number of users without a LID
    assert "whatsapp_login_lookup_lids" in line.fix


def test_lid_mode_off_with_an_unreadable_database_still_passes(monkeypatch):
    def unreadable(users=None):
        raise OperationalError("database is locked")

    monkeypatch.setattr(phone_audit, "identity_coverage", unreadable)
    run = GreenAPIChecks(Checkup())
    run.check_lid(remote(enableLidMode="no"))
    ((line),) = run.results
    assert line.status == PASS and line.detail.startswith("enableLidMode is off; ")


def test_lid_mode_not_reported_passes(make_user):
    make_user(phone="+996700123456")
    run = GreenAPIChecks(Checkup())
    run.check_lid(remote(enableLidMode=None))
    ((line),) = run.results
    assert line.status == PASS
    assert line.detail == (
        "enableLidMode is not reported by this instance; 0 of 1 users who can log in have a "
        "known LID"
    )


# --- the quota ------------------------------------------------------------------------------


def test_a_466_remembered_from_earlier_is_a_warning(healthy):
    at = time.time() - 3600
    cache.set(QUOTA_CACHE_KEY, {"method": "sendMessage", "at": at, "detail": "x"})
    status, detail, fix = run_checks(url=WEBHOOK_URL)["quota"]
    when = time.strftime("%Y-%m-%d %H:%M", time.localtime(at))
    assert status == WARN
    assert detail == f"Green API answered 466 (quota exceeded) to sendMessage at {when}"
    assert "paid plan" in fix


def test_a_466_now_outranks_the_one_remembered(healthy):
    cache.set(QUOTA_CACHE_KEY, {"method": "sendMessage", "at": time.time()})
    healthy.fail("getWaSettings", 466, body={"message": "quota exceeded now"})
    status, detail, _ = run_checks(url=WEBHOOK_URL)["quota"]
    assert status == FAIL and "quota exceeded now" in detail


def test_something_else_under_the_quota_key_is_ignored(healthy):
    cache.set(QUOTA_CACHE_KEY, "not a record")
    assert run_checks(url=WEBHOOK_URL)["quota"][0] == PASS


# --- the delivery self-test -----------------------------------------------------------------


class StandIn(FakeServer):
    """A webhook stand-in: answers ``authorized`` to the token it expects, ``anonymous``
    otherwise, and records each request's Authorization header and body."""

    def __init__(self, token: str = TOKEN, authorized: int = 200, anonymous: int = 401):
        super().__init__()
        self.token = token
        self.authorized = authorized
        self.anonymous = anonymous
        self.seen: list[tuple[str | None, object]] = []

    def respond(self, http_method, url, headers, body):
        header = headers.get("Authorization")
        self.seen.append((header, body))
        if header == f"Bearer {self.token}":
            return self.authorized, {}, {}
        return self.anonymous, {}, {}


@pytest.fixture
def stand_in():
    servers: list[StandIn] = []

    def start(**kwargs) -> StandIn:
        server = StandIn(**kwargs).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


def delivery(checkup: Checkup) -> tuple[str, str, str]:
    ((line),) = self_test(checkup)
    assert line.id == "self_test"
    return line.status, line.detail, line.fix


def test_the_self_test_needs_a_url():
    assert delivery(Checkup()) == (FAIL, "no webhook URL to test", "pass --url")
    checkup = Checkup()
    checkup.notes[REMOTE] = remote(webhookUrl="")
    assert delivery(checkup)[:2] == (FAIL, "no webhook URL to test")


def test_the_self_test_uses_the_url_and_token_the_instance_reports(stand_in):
    server = stand_in(token="the-token-green-api-holds-0123456789")
    url = server.url + "/whatsapp/webhook/"
    checkup = Checkup()
    checkup.notes[REMOTE] = remote(
        webhookUrl=url, webhookUrlToken="the-token-green-api-holds-0123456789"
    )
    assert delivery(checkup) == (PASS, f"{url} answered 200 (and 401 without the token)", "")
    (header, body), (anonymous, again) = server.seen
    assert header == "Bearer the-token-green-api-holds-0123456789" and anonymous is None
    assert body == again and body["typeWebhook"] == "whatsappLoginSelfTest"
    assert body["instanceData"]["idInstance"] == "1101000001"


def test_without_the_instance_s_settings_the_self_test_uses_the_current_token(stand_in, settings):
    settings.WHATSAPP_LOGIN_WEBHOOK_TOKEN = [TOKEN, "an-older-token-abcdefghijklmnopqrstu"]
    server = stand_in()
    status, _, _ = delivery(Checkup(url=server.url + "/hook/"))
    assert status == PASS and server.seen[0][0] == f"Bearer {TOKEN}"


def test_without_any_usable_token_the_self_test_fails(stand_in, settings):
    settings.WHATSAPP_LOGIN_WEBHOOK_TOKEN = 42  # ImproperlyConfigured: no token at all
    server = stand_in()
    status, detail, fix = delivery(Checkup(url=server.url + "/hook/"))
    assert status == FAIL and "got HTTP 401, not 200" in detail
    assert "Authorization header" in fix
    assert server.seen[0][0] != f"Bearer {TOKEN}"


def test_a_url_that_answers_200_without_the_token_is_not_our_webhook(stand_in):
    server = stand_in(anonymous=200)
    url = server.url + "/anything/"
    status, detail, _ = delivery(Checkup(url=url))
    assert status == FAIL
    assert detail == (
        f"{url} answers 200 without a token: it is not this app's webhook, or a proxy "
        "answers for it"
    )


def test_a_redirect_is_not_followed_and_fails(stand_in):
    server = stand_in(authorized=302, anonymous=302)
    status, detail, _ = delivery(Checkup(url=server.url + "/hook/"))
    assert status == FAIL and "got HTTP 302, not 200" in detail
    assert len(server.seen) == 2  # nothing followed the redirect


def test_a_url_nothing_listens_on_fails_with_the_error_s_name(stand_in):
    server = stand_in()
    url = server.url + "/hook/"
    server.stop()  # the port is closed now: the connection is refused
    status, detail, _ = delivery(Checkup(url=url))
    assert status == FAIL
    assert detail == f"webhook not working: {url} cannot be reached (ConnectionError)"
