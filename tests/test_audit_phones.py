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
    assert f"pk={national.pk}: " in out and "not an international phone number" in out
    assert f"pk={spaced.pk}: +996•••222: not stored in E.164; store it as +996•••222" in out
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
