from __future__ import annotations

from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.test import Client, override_settings
from django.utils import timezone

from django_whatsapp_login.models import LoginAttempt, ProcessedMessage

from .conftest import incoming, start

pytestmark = pytest.mark.django_db


def age(model, hours: float) -> None:
    model.objects.update(created_at=timezone.now() - timedelta(hours=hours))


def run(*args: str) -> str:
    out = StringIO()
    call_command("whatsapp_login_cleanup", *args, stdout=out)
    return out.getvalue()


def make_rows(webhook, make_user, n: int = 3) -> None:
    make_user("+996700123456")
    for _ in range(n):
        data = start(Client(REMOTE_ADDR=f"198.51.100.{_ + 1}"))
        webhook.post(incoming(data["message"], sender=f"99670012345{_}@c.us"))


def test_defaults_purge_attempts_after_24h_and_messages_after_48h(webhook, make_user):
    make_rows(webhook, make_user)
    assert LoginAttempt.objects.count() == 3 and ProcessedMessage.objects.count() == 3
    age(LoginAttempt, 23)
    age(ProcessedMessage, 47)
    assert "Deleted 0 login attempt(s) and 0 processed message(s)." in run()
    age(LoginAttempt, 25)
    assert "Deleted 3 login attempt(s) and 0 processed message(s)." in run()
    age(ProcessedMessage, 49)
    assert "and 3 processed message(s)" in run()
    assert not LoginAttempt.objects.exists() and not ProcessedMessage.objects.exists()


def test_recent_rows_survive_and_dry_run_deletes_nothing(webhook, make_user):
    make_rows(webhook, make_user)
    fresh = start(Client(REMOTE_ADDR="203.0.113.50"))
    LoginAttempt.objects.exclude(pk=LoginAttempt.objects.order_by("-pk")[0].pk).update(
        created_at=timezone.now() - timedelta(hours=30)
    )
    assert "Would delete 3 login attempt(s)" in run("--dry-run")
    assert LoginAttempt.objects.count() == 4
    run()
    assert LoginAttempt.objects.count() == 1
    assert fresh["status"] == "pending"


@override_settings(
    WHATSAPP_LOGIN_ATTEMPT_RETENTION=timedelta(hours=2),
    WHATSAPP_LOGIN_PROCESSED_MESSAGE_RETENTION=26 * 3600,
)
def test_retention_settings_and_options(webhook, make_user):
    make_rows(webhook, make_user)
    age(LoginAttempt, 3)
    age(ProcessedMessage, 27)
    assert "Deleted 3 login attempt(s) and 3 processed message(s)." in run()


@pytest.mark.parametrize(
    "args",
    [
        ("--messages-older-than", "24"),  # inside Green API's retry window
        ("--attempts-older-than", "0.1"),  # could still be live
        ("--attempts-older-than", "0"),  # 0 is a retention, not "use the default"
        ("--messages-older-than", "0"),
        ("--attempts-older-than", "-1"),
        ("--attempts-older-than", "soon"),
    ],
)
def test_unsafe_or_bad_retention_is_refused(webhook, make_user, args):
    make_rows(webhook, make_user, n=1)
    age(LoginAttempt, 100)
    age(ProcessedMessage, 100)
    with pytest.raises(CommandError):
        run(*args)
    assert LoginAttempt.objects.count() == 1 and ProcessedMessage.objects.count() == 1


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--attempts-older-than", "0"), "--attempts-older-than is 0 hours"),
        (("--messages-older-than", "0"), "--messages-older-than is 0 hours"),
        (("--messages-older-than", "24.5"), "--messages-older-than is 24.5 hours"),
    ],
)
def test_the_refusal_names_the_option_and_the_minimum(args, message):
    with pytest.raises(CommandError) as refused:
        run(*args)
    assert message in str(refused.value)
    assert "at least" in str(refused.value)


@pytest.mark.parametrize(
    ("setting", "value", "message"),
    [
        ("WHATSAPP_LOGIN_ATTEMPT_RETENTION", 0, "WHATSAPP_LOGIN_ATTEMPT_RETENTION is 0 hours"),
        (
            "WHATSAPP_LOGIN_PROCESSED_MESSAGE_RETENTION",
            timedelta(hours=1),
            "WHATSAPP_LOGIN_PROCESSED_MESSAGE_RETENTION is 1 hours",
        ),
    ],
)
def test_too_short_retention_settings_are_refused(
    webhook, make_user, settings, setting, value, message
):
    make_rows(webhook, make_user, n=1)
    age(LoginAttempt, 100)
    age(ProcessedMessage, 100)
    setattr(settings, setting, value)
    with pytest.raises(CommandError) as refused:
        run()
    assert message in str(refused.value)
    assert LoginAttempt.objects.count() == 1 and ProcessedMessage.objects.count() == 1


@pytest.mark.django_db(transaction=False)
def test_manage_py_exits_non_zero_with_the_error_on_stderr():
    """The documented behaviour from a shell (cron): exit status 1, the reason on stderr."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "django",
            "whatsapp_login_cleanup",
            "--attempts-older-than",
            "0",
            "--settings",
            "tests.settings",
        ],
        cwd=root,
        env={**os.environ, "PYTHONPATH": os.pathsep.join([str(root / "src"), str(root)])},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1, result
    assert "--attempts-older-than is 0 hours" in result.stderr
    assert "Deleted" not in result.stdout


def test_batches(webhook, make_user, monkeypatch):
    from django_whatsapp_login.management.commands import whatsapp_login_cleanup

    monkeypatch.setattr(whatsapp_login_cleanup, "BATCH_SIZE", 2)
    make_rows(webhook, make_user, n=5)
    age(LoginAttempt, 30)
    assert "Deleted 5 login attempt(s)" in run()


def test_timed_out_attempts_are_marked_expired_for_the_audit_trail(webhook, make_user):
    make_user("+996700123456")
    pending = start(Client(REMOTE_ADDR="198.51.100.1"))
    assert pending["status"] == "pending"
    live = start(Client(REMOTE_ADDR="198.51.100.2"))
    first, second = LoginAttempt.objects.order_by("pk")
    LoginAttempt.objects.filter(pk=first.pk).update(
        expires_at=timezone.now() - timedelta(seconds=1)
    )
    assert "Would mark 1 timed-out attempt(s) expired" in run("--dry-run")
    assert LoginAttempt.objects.get(pk=first.pk).status == "pending"
    assert "Marked 1 timed-out attempt(s) expired" in run()
    first.refresh_from_db()
    second.refresh_from_db()
    assert (first.status, first.reason, first.closed_at) == ("expired", "expired", first.expires_at)
    assert second.status == "pending" and live["status"] == "pending"


def test_signed_out_logins_are_kept_as_long_as_a_session_lives(settings):
    """The row of a login ended by "NO" is the revocation marker: purging it early would let
    a signed-cookie session (which the server cannot delete) come back."""
    from django_whatsapp_login.models import Reason, Status

    settings.SESSION_COOKIE_AGE = 14 * 24 * 3600
    now = timezone.now()
    common = {"binding_hash": "b" * 64, "expires_at": now, "status": Status.CONSUMED}
    revoked = LoginAttempt.objects.create(code_hash="1" * 64, reason=Reason.SIGNED_OUT, **common)
    ended = LoginAttempt.objects.create(code_hash="2" * 64, reason=Reason.LOGGED_IN, **common)
    too_old = LoginAttempt.objects.create(code_hash="3" * 64, reason=Reason.SIGNED_OUT, **common)
    LoginAttempt.objects.filter(pk__in=[revoked.pk, ended.pk]).update(
        created_at=now - timedelta(days=3)
    )
    LoginAttempt.objects.filter(pk=too_old.pk).update(created_at=now - timedelta(days=15))
    run()
    assert list(LoginAttempt.objects.values_list("pk", flat=True)) == [revoked.pk]
