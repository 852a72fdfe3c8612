"""Operations around LIDs: the doctor's LID coverage, the setup's --lid-mode, the audit's
identity counts (against the fake Green API)."""

from __future__ import annotations

import json

import pytest

from django_whatsapp_login import identities
from django_whatsapp_login.phone_audit import identity_coverage, reachable_users

from .greenapi_helpers import WEBHOOK_URL, make_healthy, run_command

pytestmark = pytest.mark.django_db


def result(name: str, *args: str) -> dict:
    code, out, _ = run_command("whatsapp_login_check", "--url", WEBHOOK_URL, "--json", *args)
    checks = {check["id"]: check for check in json.loads(out)["checks"]}
    return {"code": code, **checks[name]}


@pytest.fixture
def two_users(fake_greenapi, make_user):
    make_healthy(fake_greenapi)
    return make_user(phone="+996555000101"), make_user(phone="+996555000102")


# --- reachable users and coverage ------------------------------------------------------------


def test_reachable_users_are_the_ones_the_resolver_finds(make_user):
    first = make_user(phone="+996555000201")
    make_user(phone="+996 555 000 202")
    make_user(phone="+996555000203")
    make_user(phone="+996555000203")
    make_user(phone="+996555000204", is_active=False)
    last = make_user(phone="+996555000205")
    assert [(u.pk, u.phone) for u in reachable_users()] == [
        (first.pk, "+996555000201"),
        (last.pk, "+996555000205"),
    ]


def test_identity_coverage_counts(make_user):
    alice, bob = make_user(phone="+996555000101"), make_user(phone="+996555000102")
    outsider = make_user(phone="")
    identities.link(alice, "100000000000101@lid")
    identities.link(alice, "100000000000901@lid")  # two LIDs count once
    identities.link(outsider, "100000000000103@lid")
    identities.link(bob, "+996555000102")
    coverage = identity_coverage()
    assert (coverage.reachable, coverage.reachable_with_lid) == (2, 1)
    assert (coverage.with_lid, coverage.with_phone) == (2, 1)
    assert not coverage.complete and coverage.missing == 1


# --- the doctor ------------------------------------------------------------------------------


def test_lid_mode_off_passes_with_the_coverage(two_users):
    identities.link(two_users[0], "100000000000101@lid")
    check = result("lid_mode")
    assert check["status"] == "pass" and check["code"] == 0
    assert check["detail"] == ("enableLidMode is off; 1 of 2 users who can log in have a known LID")


def test_lid_mode_on_with_every_lid_known_passes(two_users, fake_greenapi):
    fake_greenapi.settings["enableLidMode"] = "yes"
    for n, user in enumerate(two_users, start=1):
        identities.link(user, f"10000000000010{n}@lid")
    check = result("lid_mode")
    assert check["status"] == "pass" and check["code"] == 0
    assert "2 of 2 users" in check["detail"]


def test_lid_mode_on_with_some_lids_known_warns(two_users, fake_greenapi):
    fake_greenapi.settings["enableLidMode"] = True
    identities.link(two_users[0], "100000000000101@lid")
    check = result("lid_mode")
    assert check["status"] == "warn" and check["code"] == 0
    assert "1 of 2 users" in check["detail"] and "(1 without)" in check["detail"]
    assert "whatsapp_login_lookup_lids" in check["fix"]
    assert run_command("whatsapp_login_check", "--url", WEBHOOK_URL, "--strict")[0] == 1


def test_lid_mode_on_with_no_lid_known_fails(two_users, fake_greenapi):
    fake_greenapi.settings["enableLidMode"] = True
    check = result("lid_mode")
    assert check["status"] == "fail" and check["code"] == 1
    assert "@lid" in check["detail"] and "0 of 2" in check["detail"]
    assert "whatsapp_login_lookup_lids" in check["fix"] and "--lid-mode off" in check["fix"]


def test_lid_mode_on_and_coverage_uncountable_warns(two_users, fake_greenapi, settings):
    fake_greenapi.settings["enableLidMode"] = True
    settings.WHATSAPP_LOGIN_PHONE_FIELD = "mobile"
    check = result("lid_mode")
    assert check["status"] == "warn"
    assert "cannot be counted" in check["detail"] and "'mobile'" in check["detail"]


def test_after_the_lookup_the_doctor_passes_in_lid_mode(two_users, fake_greenapi):
    fake_greenapi.settings["enableLidMode"] = True
    fake_greenapi.lids.update(
        {"996555000101": "100000000000101@lid", "996555000102": "100000000000102@lid"}
    )
    assert result("lid_mode")["status"] == "fail"
    assert run_command("whatsapp_login_lookup_lids")[0] == 0
    assert result("lid_mode")["status"] == "pass"


# --- the setup -------------------------------------------------------------------------------


def setup(*args: str) -> tuple[int, str, str]:
    return run_command("whatsapp_login_setup", "--webhook-url", WEBHOOK_URL, *args)


def test_setup_leaves_lid_mode_as_it_is_by_default(fake_greenapi):
    fake_greenapi.settings["enableLidMode"] = "yes"
    code, _out, err = setup()
    assert code == 0, err
    assert "enableLidMode" not in fake_greenapi.calls("setSettings")[0][2]
    assert fake_greenapi.settings["enableLidMode"] == "yes"


def test_setup_turns_lid_mode_on_in_its_own_type(fake_greenapi, make_user):
    make_user(phone="+996555000101")
    code, out, err = setup("--lid-mode", "on")
    assert code == 0, err
    assert fake_greenapi.calls("setSettings")[0][2]["enableLidMode"] == "yes"
    assert fake_greenapi.settings["enableLidMode"] == "yes"
    # Before switching: who would not be recognised at once.
    assert "Only 0 of 1 users" in out and "whatsapp_login_lookup_lids" in out
    fake_greenapi.settings["enableLidMode"] = False
    setup("--lid-mode", "on")
    assert fake_greenapi.settings["enableLidMode"] is True


def test_setup_lid_mode_on_with_full_coverage_says_so(fake_greenapi, make_user):
    identities.link(make_user(phone="+996555000101"), "100000000000101@lid")
    code, out, _ = setup("--lid-mode", "on", "--dry-run")
    assert code == 0
    assert "All 1 users who can log in have a known LID." in out
    assert "enableLidMode: 'no' -> 'yes'" in out
    assert fake_greenapi.calls("setSettings") == []


def test_setup_lid_mode_off(fake_greenapi):
    fake_greenapi.settings["enableLidMode"] = "yes"
    assert setup("--lid-mode", "off")[0] == 0
    assert fake_greenapi.settings["enableLidMode"] == "no"


def test_setup_refuses_lid_mode_when_the_instance_does_not_report_it(fake_greenapi):
    del fake_greenapi.settings["enableLidMode"]
    code, _out, err = setup("--lid-mode", "on")
    assert code == 1 and "does not report enableLidMode" in err
    assert fake_greenapi.calls("setSettings") == []


def test_setup_rejects_other_lid_mode_values(fake_greenapi):
    code, _out, err = setup("--lid-mode", "yes")
    assert code == 1 and "invalid choice: 'yes'" in err
    assert fake_greenapi.requests == []


# --- the phone audit -------------------------------------------------------------------------


def audit(*args: str) -> tuple[int, str]:
    from io import StringIO

    from django.core.management import call_command

    out = StringIO()
    try:
        call_command("whatsapp_login_audit_phones", *args, stdout=out)
    except SystemExit as exit:
        return int(exit.code), out.getvalue()
    return 0, out.getvalue()


def test_audit_counts_identities(make_user):
    alice, bob = make_user(phone="+996555000101"), make_user(phone="+996555000102")
    identities.link(alice, "100000000000101@lid")
    identities.link(make_user(phone=""), "100000000000103@lid")
    identities.link(bob, "+996555000102")
    code, out = audit()
    assert code == 0
    assert (
        "WhatsApp identities: 2 user(s) with a LID (1 of the 2 who can log in), "
        "1 with a phone identity." in out
    )
    code, out = audit("--json")
    assert json.loads(out)["identities"] == {
        "reachable": 2,
        "reachable_with_lid": 1,
        "with_lid": 2,
        "with_phone": 1,
        "complete": False,
        "missing": 1,
    }


def test_audit_of_another_model_counts_no_identities(make_user):
    make_user(phone="+996555000101")
    _code, out = audit("--model", "testapp.Tenant", "--field", "phone")
    assert "WhatsApp identities" not in out
