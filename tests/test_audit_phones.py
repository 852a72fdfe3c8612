from __future__ import annotations

import json
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

pytestmark = pytest.mark.django_db


def run(*args: str) -> tuple[int, str]:
    out = StringIO()
    try:
        call_command("whatsapp_login_audit_phones", *args, stdout=out)
    except SystemExit as exit:
        return int(exit.code), out.getvalue()
    return 0, out.getvalue()


def test_clean_database_passes(make_user):
    make_user("+996700123456")
    make_user("+996700654321")
    make_user("")
    code, out = run()
    assert code == 0
    assert "3 row(s), 2 can log in" in out and "1 without a phone" in out
    assert "Every stored phone can be used." in out


def test_reports_unusable_and_shared_phones_masked(make_user):
    good = make_user("+996700123456")
    national = make_user("0557 903 999")
    spaced = make_user("+996 700 111 222")
    a = make_user("+996700333444")
    b = make_user("+996700333444")
    code, out = run()
    assert code == 1
    assert f"pk={national.pk}: 055• ••• •99: not a phone number it can read" in out
    assert "WHATSAPP_LOGIN_DEFAULT_REGION" in out  # what would make it readable
    assert (
        f"pk={spaced.pk}: +996 ••• ••• •22: not stored in E.164; store it as +996•••222 "
        "(remove the spaces and punctuation)" in out
    )
    assert f"+996•••444 is shared by pk={a.pk}, {b.pk}" in out
    assert f"pk={good.pk}" not in out
    for digits in ("700123456", "557903999", "700111222", "700333444"):
        assert digits not in out  # masked everywhere


def test_json_output(make_user):
    make_user("+996700123456")
    make_user("0557 903 999")
    code, out = run("--json")
    data = json.loads(out)
    assert code == 1
    assert data["total"] == 2 and data["reachable"] == 1
    assert [issue["problem"] for issue in data["unusable"]] == ["not_a_phone"]


def test_other_model_and_field(make_user):
    make_user("+996700123456", first_name="+996700123456")
    code, out = run("--model", "testapp.User", "--field", "first_name")
    assert code == 0 and "testapp.User.first_name" in out


@pytest.mark.parametrize(
    "args", [("--model", "nope.Nothing"), ("--model", "bad"), ("--field", "no_such_field")]
)
def test_bad_arguments(args):
    with pytest.raises(CommandError):
        run(*args)


@pytest.mark.parametrize(
    ("stored", "region", "shown", "advice"),
    [
        ("+7 912 000 11 22", "", "+7 91• ••• •• 22", "store it as +791•••122 (remove the spaces"),
        (
            "8 (912) 000-11-22",
            "RU",
            "8 (91•) •••-••-22",
            "store it as +791•••122 (replace the national prefix 8 with +7)",
        ),
        (
            "0555 000 000",
            "KG",
            "055• ••• •00",
            "store it as +996•••000 (replace the national prefix 0 with +996)",
        ),
        ("00996 555 000 001", "", "009•• ••• ••• •01", "store it as +996•••001 (write + instead"),
    ],
)
def test_advice_differs_visibly_from_the_problem(
    make_user, settings, stored, region, shown, advice
):
    pytest.importorskip("phonenumbers")
    settings.WHATSAPP_LOGIN_DEFAULT_REGION = region
    user = make_user(stored)
    code, out = run()
    assert code == 1
    assert f"pk={user.pk}: {shown}: not stored in E.164; {advice}" in out
    assert stored not in out


def test_trunk_8_is_not_endorsed_without_a_region(make_user, settings):
    settings.WHATSAPP_LOGIN_DEFAULT_REGION = ""
    user = make_user("8 (912) 000-11-22")
    code, out = run()
    assert code == 1
    assert f"pk={user.pk}: 8 (91•) •••-••-22: not a phone number it can read" in out
    assert "+891" not in out  # never the number WhatsApp would never send
