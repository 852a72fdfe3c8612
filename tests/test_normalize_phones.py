"""manage.py whatsapp_login_normalize_phones: the migration path for phones stored the
way people type them (issue 14, item 4). All numbers are obviously fake."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import CommandError, call_command

pytestmark = pytest.mark.django_db
pytest.importorskip("phonenumbers")


def run(*args: str) -> tuple[int, str]:
    out = StringIO()
    try:
        call_command("whatsapp_login_normalize_phones", *args, stdout=out)
    except SystemExit as exit:
        return int(exit.code), out.getvalue()
    return 0, out.getvalue()


def phones(django_user_model) -> dict[str, str]:
    return dict(django_user_model.objects.values_list("username", "phone"))


@pytest.fixture
def human(make_user):
    make_user("8 (912) 000-11-22", username="ru_trunk")
    make_user("+7 912 000 11 33", username="ru_spaced")
    make_user("8 701 000 11 44", username="kz_trunk")
    make_user("+996555000001", username="ok")
    make_user("", username="empty")


def test_dry_run_changes_nothing(human, django_user_model, settings):
    settings.WHATSAPP_LOGIN_DEFAULT_REGION = ""
    before = phones(django_user_model)
    code, out = run("--region", "RU")
    assert phones(django_user_model) == before
    assert code == 0, out
    assert "would rewrite 3, 1 already E.164, 0 unreadable, 0 conflicting (region RU)" in out
    assert "8 (91•) •••-••-22 -> +791•••122 (replace the national prefix 8 with +7)" in out
    assert "+7 91• ••• •• 33 -> +791•••133 (remove the spaces and punctuation)" in out
    assert "Dry run: nothing was changed" in out
    for value in before.values():
        if value:
            assert value not in out  # masked


def test_apply_rewrites_in_e164_and_the_audit_then_passes(human, django_user_model, settings):
    settings.WHATSAPP_LOGIN_DEFAULT_REGION = "RU"
    code, out = run("--apply")
    assert code == 0, out
    assert phones(django_user_model) == {
        "ru_trunk": "+79120001122",
        "ru_spaced": "+79120001133",
        "kz_trunk": "+77010001144",  # KZ shares +7 and the trunk 8 with Russia
        "ok": "+996555000001",
        "empty": "",
    }
    audit = StringIO()
    call_command("whatsapp_login_audit_phones", stdout=audit)
    assert "4 can log in" in audit.getvalue()


def test_kyrgyz_national_format(make_user, django_user_model):
    make_user("0555 000 000", username="kg")
    code, out = run("--apply", "--region", "KG")
    assert code == 0, out
    assert phones(django_user_model)["kg"] == "+996555000000"


def test_without_a_region_national_formats_are_left_alone(human, django_user_model, settings):
    settings.WHATSAPP_LOGIN_DEFAULT_REGION = ""
    code, out = run("--apply")
    assert code == 1
    data = phones(django_user_model)
    assert data["ru_trunk"] == "8 (912) 000-11-22"  # never +89120001122
    assert data["ru_spaced"] == "+79120001133"  # the international one is still fixed
    assert "8 (91•) •••-••-22 left alone: " in out and "WHATSAPP_LOGIN_DEFAULT_REGION" in out


def test_rows_that_would_share_a_number_are_left_alone(make_user, django_user_model):
    make_user("+996555000002", username="a")
    make_user("+996 555 000 002", username="b")
    make_user("0555 000 003", username="c")
    make_user("00996 555 000 003", username="d")
    code, out = run("--apply", "--region", "KG")
    assert code == 1
    assert phones(django_user_model) == {
        "a": "+996555000002",
        "b": "+996 555 000 002",
        "c": "0555 000 003",
        "d": "00996 555 000 003",
    }
    assert out.count("another row has the same number") == 3


def test_other_model(django_user_model):
    from tests.testapp.models import Tenant

    user = django_user_model.objects.create_user(username="t")
    tenant = Tenant.objects.create(name="T", phone="+996555000004", user=user)
    Tenant.objects.filter(pk=tenant.pk).update(phone="+996 555 000 004")  # written by hand
    code, out = run("--model", "testapp.Tenant", "--field", "phone", "--apply")
    assert code == 0, out
    tenant.refresh_from_db()
    assert tenant.phone == "+996555000004"


@pytest.mark.parametrize(
    "args",
    [("--model", "nope.Nothing"), ("--field", "no_such_field"), ("--dry-run", "--apply")],
)
def test_bad_arguments(args):
    with pytest.raises(CommandError):
        run(*args)
