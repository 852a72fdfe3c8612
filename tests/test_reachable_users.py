"""The doctor and the phone audit ask the resolver who can log in (issue 14, item 5).

A custom resolver's users are counted only through its ``reachable_users`` hook; without
one the tools say they cannot count, never fall back to WHATSAPP_LOGIN_PHONE_FIELD.
"""

from __future__ import annotations

import pytest
from django.core.management import CommandError

from django_whatsapp_login.phone_audit import CannotCount, audit_phones
from django_whatsapp_login.resolvers import (
    default_resolver,
    get_reachable_users,
    with_reachable_users,
)

from .greenapi_helpers import WEBHOOK_URL, make_healthy, run_command

pytestmark = pytest.mark.django_db

HOOKED = "tests.test_reachable_users.first_name_resolver"
PLAIN = "tests.test_reachable_users.plain_resolver"


def first_name_phones():
    from django.contrib.auth import get_user_model

    users = get_user_model().objects.exclude(first_name="").order_by("pk")
    return ((user, user.first_name) for user in users)


@with_reachable_users(first_name_phones)
def first_name_resolver(phone, **context):
    """Finds users by a phone kept in first_name: the phone field says nothing about it."""
    from django.contrib.auth import get_user_model

    users = list(get_user_model().objects.filter(first_name=phone)[:2])
    return users[0] if len(users) == 1 else None


def plain_resolver(phone, **context):
    return first_name_resolver(phone)


@pytest.fixture
def three_by_resolver_one_by_field(make_user):
    """The field would say "1 of 4"; the resolver logs in 3."""
    make_user("+996555000101", first_name="+996555000201")
    make_user("", first_name="+996555000202")
    make_user("", first_name="+996555000203")
    make_user("", first_name="")


def test_decorator_sets_the_hook_and_the_default_resolver_has_one(settings):
    assert first_name_resolver.reachable_users is first_name_phones
    assert callable(default_resolver.reachable_users)
    settings.WHATSAPP_LOGIN_USER_RESOLVER = PLAIN
    assert get_reachable_users() is None


def test_default_resolver_hook_lists_users_with_a_phone(make_user):
    a = make_user("+996555000101")
    make_user("")
    assert [(user.pk, phone) for user, phone in default_resolver.reachable_users()] == [
        (a.pk, "+996555000101")
    ]


def test_audit_asks_the_hook_not_the_field(settings, three_by_resolver_one_by_field):
    settings.WHATSAPP_LOGIN_USER_RESOLVER = HOOKED
    report = audit_phones()
    assert (report.total, report.reachable, report.field) == (3, 3, "")
    # An explicit field is still audited as asked.
    assert audit_phones(field="phone").reachable == 1


def test_audit_without_a_hook_cannot_count(settings, three_by_resolver_one_by_field):
    settings.WHATSAPP_LOGIN_USER_RESOLVER = PLAIN
    with pytest.raises(CannotCount, match="reachable_users"):
        audit_phones()


def test_audit_command_refuses_to_count_without_a_hook(settings, three_by_resolver_one_by_field):
    from io import StringIO

    from django.core.management import call_command

    settings.WHATSAPP_LOGIN_USER_RESOLVER = PLAIN
    with pytest.raises(CommandError, match="reachable_users hook"):
        call_command("whatsapp_login_audit_phones", stdout=StringIO())


def test_audit_command_counts_through_the_hook(settings, three_by_resolver_one_by_field):
    settings.WHATSAPP_LOGIN_USER_RESOLVER = HOOKED
    code, out, _err = run_command("whatsapp_login_audit_phones")
    assert code == 0, out
    assert "(reachable_users): 3 row(s), 3 can log in" in out


def test_doctor_counts_through_the_hook(settings, fake_greenapi, three_by_resolver_one_by_field):
    make_healthy(fake_greenapi)
    settings.WHATSAPP_LOGIN_USER_RESOLVER = HOOKED
    _code, out, _err = run_command("whatsapp_login_check", "--url", WEBHOOK_URL)
    assert "[PASS] User phones: 3 of 3 users can log in" in out, out
    assert "1 of 4" not in out


def test_doctor_says_it_cannot_count_without_a_hook(
    settings, fake_greenapi, three_by_resolver_one_by_field
):
    make_healthy(fake_greenapi)
    settings.WHATSAPP_LOGIN_USER_RESOLVER = PLAIN
    _code, out, _err = run_command("whatsapp_login_check", "--url", WEBHOOK_URL)
    assert "[SKIP] User phones: cannot count who can log in" in out, out
    assert "of 4 users" not in out and "1 of" not in out
