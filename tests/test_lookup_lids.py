"""manage.py whatsapp_login_lookup_lids against the fake Green API."""

from __future__ import annotations

import io
import os
import time

import pytest
from django.core.management import call_command

from django_whatsapp_login import identities
from django_whatsapp_login.gateways.greenapi import client as client_module
from django_whatsapp_login.models import WhatsAppIdentity

from .greenapi_helpers import run_command

pytestmark = pytest.mark.django_db


def lookup(*args: str) -> tuple[int, str, str]:
    return run_command("whatsapp_login_lookup_lids", *args)


def lid_of(user) -> list[tuple[str, str]]:
    return list(
        WhatsAppIdentity.objects.filter(user=user, kind="lid").values_list("value", "source")
    )


def phone(n: int) -> str:
    return f"+996555{n:06d}"


@pytest.fixture
def people(fake_greenapi, make_user):
    """Three users who can log in: two on WhatsApp with a LID, one not on WhatsApp."""
    alice = make_user(phone=phone(101))
    bob = make_user(phone=phone(102))
    carol = make_user(phone=phone(103))
    fake_greenapi.lids["996555000101"] = "100000000000101@lid"
    fake_greenapi.lids["996555000103"] = "100000000000103@lid"
    return alice, bob, carol


def test_stores_the_lids_and_counts_the_rest(fake_greenapi, people):
    alice, bob, carol = people
    code, out, err = lookup()
    assert code == 0, err
    assert lid_of(alice) == [("100000000000101@lid", "lookup")]
    assert lid_of(bob) == []
    assert lid_of(carol) == [("100000000000103@lid", "lookup")]
    assert "2 LID(s) stored" in out and "1 not on WhatsApp" in out and "Done." in out
    # The chatId form of the request (phoneNumber is deprecated).
    bodies = [body for _, _, body in fake_greenapi.calls("checkWhatsapp")]
    assert bodies == [{"chatId": f"99655500010{n}@c.us"} for n in (1, 2, 3)]


def test_a_second_run_skips_the_known_lids(fake_greenapi, people):
    assert lookup()[0] == 0
    fake_greenapi.requests.clear()
    code, out, _ = lookup()
    assert code == 0
    # Only the user without a LID is asked again: resumable and idempotent.
    assert [body for _, _, body in fake_greenapi.calls("checkWhatsapp")] == [
        {"chatId": "996555000102@c.us"}
    ]
    assert "skipping 2 whose LID is known" in out
    assert WhatsAppIdentity.objects.count() == 2


def test_refresh_asks_again_and_changes_nothing_known(fake_greenapi, people):
    assert lookup()[0] == 0
    fake_greenapi.requests.clear()
    code, out, _ = lookup("--refresh")
    assert code == 0
    assert len(fake_greenapi.calls("checkWhatsapp")) == 3
    assert "0 LID(s) stored, 2 already known" in out
    assert WhatsAppIdentity.objects.count() == 2


def test_dry_run_calls_nothing_and_writes_nothing(fake_greenapi, people):
    code, out, _ = lookup("--dry-run")
    assert code == 0
    assert fake_greenapi.requests == []
    assert WhatsAppIdentity.objects.count() == 0
    assert "Looking up 3" in out and "Green API was not called" in out


def test_limit_looks_up_the_first_users_only(fake_greenapi, people):
    alice, _bob, carol = people
    code, out, _ = lookup("--limit", "1")
    assert code == 0
    assert len(fake_greenapi.calls("checkWhatsapp")) == 1
    assert lid_of(alice) and not lid_of(carol)
    assert "2 user(s) left: run the command again." in out
    assert lookup("--limit", "0")[0] == 2


def test_quota_stops_cleanly_and_the_next_run_continues(fake_greenapi, make_user):
    users = [make_user(phone=phone(200 + n)) for n in range(4)]
    for n in range(4):
        fake_greenapi.lids[f"996555000{200 + n}"] = f"10000000000{200 + n:04d}@lid"
    answer, calls = fake_greenapi.api_checkWhatsapp, []

    def quota_after_two(*args):
        calls.append(args)
        if len(calls) > 2:
            return 466, {"invokeStatus": {"status": "QUOTE_EXCEEDED"}}, {}
        return answer(*args)

    fake_greenapi.api_checkWhatsapp = quota_after_two
    code, _out, err = lookup()
    assert code == 3
    assert "Stopped after 2 of 4" in err and "466" in err and "2 LID(s)" in err
    assert [bool(lid_of(user)) for user in users] == [True, True, False, False]

    fake_greenapi.api_checkWhatsapp = answer
    fake_greenapi.requests.clear()
    code, _out, err = lookup()
    assert code == 0, err
    assert [body["chatId"] for _, _, body in fake_greenapi.calls("checkWhatsapp")] == [
        "996555000202@c.us",
        "996555000203@c.us",
    ]
    assert all(lid_of(user) for user in users)


def test_a_lid_of_another_user_is_reported_not_raised(fake_greenapi, people, make_user):
    alice, _bob, carol = people
    other = make_user(phone="")
    identities.link(other, "100000000000101@lid")
    code, out, err = lookup()
    assert code == 1
    assert "conflict: user" in out and "•••0101@lid already belongs to user" in out
    assert "100000000000101" not in out + err  # LIDs are masked like phones
    assert lid_of(alice) == [] and lid_of(other) == [("100000000000101@lid", "admin")]
    assert lid_of(carol)  # the others are still stored


def test_a_failed_check_is_counted_and_the_walk_goes_on(fake_greenapi, people):
    fake_greenapi.fail("checkWhatsapp", 400)
    code, out, _err = lookup()
    assert code == 1
    assert "1 failed" in out and "HTTP 400" in out
    assert WhatsAppIdentity.objects.count() == 1  # bob is not on WhatsApp, carol stored


def test_green_api_down_stops_the_walk(fake_greenapi, people):
    fake_greenapi.fail("checkWhatsapp", 500, times=50)
    code, _out, err = lookup()
    assert code == 3
    assert "Stopped after 3 of 3" in err and "failed 3 times in a row" in err


def test_a_wrong_api_token_cannot_start(fake_greenapi, people, settings):
    settings.WHATSAPP_LOGIN_GREEN_API_TOKEN = "wrong-token"
    code, _out, err = lookup()
    assert code == 2 and "API token is wrong" in err
    assert "wrong-token" not in err


def test_no_phone_field_cannot_start(fake_greenapi, settings):
    settings.WHATSAPP_LOGIN_PHONE_FIELD = "mobile"
    code, _out, err = lookup()
    assert code == 2 and "'mobile'" in err


def test_only_users_who_can_log_in_are_looked_up(fake_greenapi, make_user):
    make_user(phone="+996 555 000 301")  # not stored in E.164: the resolver misses it
    make_user(phone=phone(302))
    make_user(phone=phone(302))  # shared: nobody logs in with it
    make_user(phone=phone(303), is_active=False)
    make_user(phone="")
    make_user(phone=phone(304))
    code, out, _ = lookup()
    assert code == 0
    assert [body["chatId"] for _, _, body in fake_greenapi.calls("checkWhatsapp")] == [
        "996555000304@c.us"
    ]
    assert "1 user(s) can log in" in out


def test_progress_goes_to_stderr(fake_greenapi, people):
    _code, out, err = lookup()
    assert "3/3 looked up (2 stored, 1 not on WhatsApp" in err
    assert "looked up (" not in out
    assert "\r" not in err  # no terminal: plain lines


def test_progress_rewrites_one_line_on_a_terminal(fake_greenapi, people):
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    err = Terminal()
    call_command("whatsapp_login_lookup_lids", stdout=io.StringIO(), stderr=err)
    assert err.getvalue().count("\r\033[K") == 4  # three users and the final line
    assert err.getvalue().endswith("\n")


def test_quiet_shows_no_progress(fake_greenapi, people):
    _code, _out, err = lookup("--verbosity", "0")
    assert err == ""


def test_rate_limit_is_respected(fake_greenapi, make_user, monkeypatch):
    """Green API allows checkWhatsapp 10 times a second per instance: the client sends no 11
    calls within one second (measured where they leave the client: the loopback's and the
    scheduler's jitter on a loaded machine are not the client's to control)."""
    import requests

    monkeypatch.setattr(client_module, "_sleep", time.sleep)  # the real spacing
    count = 25
    for n in range(count):
        make_user(phone=phone(400 + n))
    send, seen = requests.Session.request, []

    def timed(self, method, url, *args, **kwargs):
        if "/checkWhatsapp/" in url:
            seen.append(time.monotonic())
        return send(self, method, url, *args, **kwargs)

    monkeypatch.setattr(requests.Session, "request", timed)
    code, _out, err = lookup()
    assert code == 0, err
    assert len(seen) == count
    assert len(fake_greenapi.calls("checkWhatsapp")) == count
    windows = [later - first for first, later in zip(seen, seen[10:], strict=False)]
    assert min(windows) >= 0.98, windows
    assert (count - 1) / (seen[-1] - seen[0]) <= 10.3


@pytest.mark.skipif(
    not os.environ.get("WHATSAPP_LOGIN_TEST_BENCH"), reason="set WHATSAPP_LOGIN_TEST_BENCH=1"
)
def test_throughput_200_users(fake_greenapi, make_user, monkeypatch, capsys):
    """The figure for the docs: users/s with the client's 10/s spacing, against the same
    run with the spacing off (the fake's own speed) as the baseline."""
    count = 200
    for n in range(count):
        make_user(phone=phone(1000 + n))
        fake_greenapi.lids[f"996555{1000 + n:06d}"] = f"1000000000{1000 + n:05d}@lid"
    monkeypatch.setitem(client_module.RATE_LIMITS, "checkWhatsapp", 0)
    started = time.perf_counter()
    assert lookup()[0] == 0
    baseline = count / (time.perf_counter() - started)
    WhatsAppIdentity.objects.all().delete()
    monkeypatch.setitem(client_module.RATE_LIMITS, "checkWhatsapp", 10)
    monkeypatch.setattr(client_module, "_sleep", time.sleep)
    started = time.perf_counter()
    assert lookup()[0] == 0
    spaced = count / (time.perf_counter() - started)
    assert WhatsAppIdentity.objects.count() == count
    with capsys.disabled():
        print(
            f"\nlookup of {count} users: {spaced:.2f} users/s with the 10/s spacing; "
            f"{baseline:.1f} users/s without it (baseline); ratio {spaced / baseline:.3f}"
        )
    assert spaced <= 10.3


def test_a_custom_resolver_is_walked_through_its_hook(fake_greenapi, make_user, settings):
    """The lookup asks the resolver who can log in, not WHATSAPP_LOGIN_PHONE_FIELD."""
    settings.WHATSAPP_LOGIN_USER_RESOLVER = "tests.test_reachable_users.first_name_resolver"
    make_user(phone="+996555000101")  # the field: not the resolver's
    tenant = make_user(phone="", first_name="+996555000201")
    fake_greenapi.lids["996555000201"] = "100000000000201@lid"
    code, _out, err = lookup()
    assert code == 0, err
    assert [body["chatId"] for _, _, body in fake_greenapi.calls("checkWhatsapp")] == [
        "996555000201@c.us"
    ]
    assert lid_of(tenant) == [("100000000000201@lid", "lookup")]


def test_a_custom_resolver_without_a_hook_cannot_start(fake_greenapi, make_user, settings):
    settings.WHATSAPP_LOGIN_USER_RESOLVER = "tests.test_reachable_users.plain_resolver"
    make_user(phone="+996555000101")
    code, _out, err = lookup()
    assert code == 2 and "no reachable_users hook" in err
    assert fake_greenapi.requests == []
