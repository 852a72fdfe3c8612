"""django_whatsapp_login.phone_audit.audit_phones."""

from __future__ import annotations

import json

import pytest

from django_whatsapp_login.exceptions import WhatsAppLoginImproperlyConfigured
from django_whatsapp_login.phone_audit import NOT_A_PHONE, NOT_E164, audit_phones

pytestmark = pytest.mark.django_db


def test_classifies_every_row(make_user, django_user_model):
    ok = make_user(phone="+996700123456")
    make_user(phone="")
    spaced = make_user(phone="+996 700 555 444")
    bad = make_user(phone="0700 123")
    a = make_user(phone="+996700111222")
    b = make_user(phone="00996700111222")
    make_user(phone="+996700333444", is_active=False)
    report = audit_phones()
    assert (report.total, report.empty, report.reachable, report.inactive) == (7, 1, 1, 1)
    problems = {issue.pk: issue for issue in report.unusable}
    assert problems[spaced.pk].problem == NOT_E164
    assert problems[spaced.pk].normalized_masked == "+996•••444"
    assert problems[bad.pk].problem == NOT_A_PHONE
    assert b.pk in problems  # stored as 00…: not E.164 either
    assert [(s.masked, s.pks) for s in report.shared] == [("+996•••222", (a.pk, b.pk))]
    assert ok.pk not in problems
    assert not report.ok
    text = json.dumps(report.to_dict(), ensure_ascii=False)
    for digits in ("700123456", "700555444", "700111222"):
        assert digits not in text  # masked everywhere


def test_ok_when_everything_is_usable(make_user):
    make_user(phone="+996700123456")
    make_user(phone="+996700123457")
    report = audit_phones()
    assert report.ok and report.reachable == 2 and not report.unusable and not report.shared


def test_any_queryset_and_field(make_user, django_user_model):
    make_user(phone="+996700123456", username="alice")
    make_user(phone="+996700123457", username="bob")
    report = audit_phones(django_user_model.objects.filter(username="alice"), field="phone")
    assert report.total == 1 and report.reachable == 1
    assert report.model == "testapp.User" and report.field == "phone"


def test_missing_field(settings):
    settings.WHATSAPP_LOGIN_PHONE_FIELD = "mobile"
    with pytest.raises(WhatsAppLoginImproperlyConfigured, match="mobile"):
        audit_phones()
