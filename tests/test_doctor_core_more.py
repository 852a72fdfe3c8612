"""The gateway-neutral doctor (doctor.py) lines that the command tests do not reach: a
number shared by several users, a custom resolver, a long list of bad phones, a gateway
whose checks Python cannot introspect, and the report's verdict."""

from __future__ import annotations

import pytest

from django_whatsapp_login import doctor
from django_whatsapp_login.doctor import FAIL, PASS, SKIP, WARN
from django_whatsapp_login.exceptions import AmbiguousPhone
from django_whatsapp_login.gateways import Gateway

pytestmark = pytest.mark.django_db

SHARED = "+996700111222"


class Quiet(Gateway):
    """A gateway with one passing line, so only the core's lines are under test."""

    name = "quiet"

    def authenticate(self, request):
        return False

    def parse(self, body):
        return []

    def send_text(self, to, text, *, reply_to=""):
        return ""

    def checks(self, checkup=None):
        return [doctor.result("quiet", "Quiet", PASS, "fine")]


def lines(**kwargs) -> dict[str, doctor.Result]:
    report = doctor.Doctor(gateway=Quiet(), **kwargs).run()
    return {line.id: line for line in report.results}


def nobody(phone, **context):
    return None


def refuses_shared(phone, **context):
    raise AmbiguousPhone(phone)


def test_a_number_shared_by_several_users_is_named_as_such(make_user):
    make_user(phone=SHARED)
    make_user(phone=SHARED)
    line = lines(phone=SHARED)["phone_lookup"]
    assert line.status == FAIL
    assert line.detail == "+996•••222 belongs to several users: nobody can log in with it"
    assert line.fix == "keep the number on one account only"


def test_a_custom_resolver_that_reports_a_shared_number(settings, make_user):
    settings.WHATSAPP_LOGIN_USER_RESOLVER = f"{__name__}.refuses_shared"
    line = lines(phone=SHARED)["phone_lookup"]
    assert (line.status, line.fix) == (FAIL, "keep the number on one account only")


def test_a_custom_resolver_that_finds_nobody_is_pointed_at(settings, make_user):
    settings.WHATSAPP_LOGIN_USER_RESOLVER = f"{__name__}.nobody"
    make_user(phone=SHARED)  # the custom resolver decides, not the phone field
    found = lines(phone=SHARED)
    line = found["phone_lookup"]
    assert line.status == FAIL and line.detail.startswith("phone not in the database")
    assert line.fix == (
        f"check where {__name__}.nobody looks the number up; it must hold +996•••222 in E.164"
    )
    # A resolver without a reachable_users hook: the users cannot be counted.
    assert found["user_phones"].status == SKIP
    assert "no reachable_users hook" in found["user_phones"].detail


def test_past_ten_bad_phones_the_rest_are_counted(make_user):
    make_user(phone="+996700123456")
    for n in range(12):
        make_user(phone=f"not a phone {n}")
    line = lines()["user_phones"]
    assert line.status == WARN
    assert line.detail.count("is not a phone number it can read") == 10
    assert line.detail.endswith("; and 2 more")
    assert line.detail.startswith("1 of 13 users can log in")


class Unreadable:
    """A ``checks`` whose signature cannot be read (``__signature__`` is not a Signature)."""

    __signature__ = "not a signature"

    def __init__(self):
        self.given = []

    def __call__(self, checkup=None):
        self.given.append(checkup)
        return [doctor.result("odd", "Odd", PASS, "ok")]


def test_checks_with_an_unreadable_signature_get_the_checkup():
    gateway = Quiet()
    gateway.checks = Unreadable()
    checkup = doctor.Checkup(url="https://testserver/whatsapp/webhook/")
    assert [line.id for line in doctor.gateway_checks(gateway, checkup)] == ["odd"]
    assert gateway.checks.given == [checkup]


def test_the_report_fails_on_a_failure_and_only_strictly_on_a_warning():
    passing = doctor.result("a", "A", PASS, "ok")
    warning = doctor.result("b", "B", WARN, "hm", "look")
    skipped = doctor.result("c", "C", SKIP, "n/a")
    failure = doctor.result("d", "D", FAIL, "broken", "repair")
    assert [r.ok for r in (passing, warning, skipped, failure)] == [True, True, True, False]
    assert doctor.Report([passing, warning, skipped]).ok is True
    assert doctor.Report([passing, failure]).ok is False
    assert doctor.Report([passing, warning]).failed() == []
    assert doctor.Report([passing, warning, failure]).failed(strict=True) == [warning, failure]
