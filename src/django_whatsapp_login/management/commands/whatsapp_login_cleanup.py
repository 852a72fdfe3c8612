"""Purge old login attempts and processed-message rows (run it from cron).

Deletes in small batches by primary key, each its own short transaction, so it never
holds long locks while logins go on. Only rows older than the retention are touched: a
processed-message row must outlive Green API's 24-hour retry window (default 48 h), and
an attempt is long closed after its TTL (default retention 24 h, TTL at most 10 min).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import models, transaction
from django.db.models import F
from django.utils import timezone

from django_whatsapp_login.conf import MAX_ATTEMPT_TTL, app_settings
from django_whatsapp_login.models import LoginAttempt, ProcessedMessage, Reason, Status

BATCH_SIZE = 1000
#: An attempt may be in use until its TTL (at most 10 minutes) is over.
MIN_ATTEMPT_RETENTION = timedelta(seconds=MAX_ATTEMPT_TTL)
#: Green API retries a delivery for 24 hours; a shorter memory would let a retry through.
MIN_MESSAGE_RETENTION = timedelta(hours=25)


def _hours(value: str) -> timedelta:
    try:
        hours = float(value)
    except ValueError:
        raise CommandError(f"Not a number of hours: {value!r}") from None
    if hours < 0:
        raise CommandError("A retention cannot be negative.")
    return timedelta(hours=hours)


def _describe(age: timedelta) -> str:
    return f"{age.total_seconds() / 3600:g} hours"


class Command(BaseCommand):
    help = "Delete login attempts and processed-message rows older than their retention."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--attempts-older-than",
            metavar="HOURS",
            type=_hours,
            help="Default: WHATSAPP_LOGIN_ATTEMPT_RETENTION (24 h).",
        )
        parser.add_argument(
            "--messages-older-than",
            metavar="HOURS",
            type=_hours,
            help="Default: WHATSAPP_LOGIN_PROCESSED_MESSAGE_RETENTION (48 h); at least 25.",
        )
        parser.add_argument("--dry-run", action="store_true", help="Only count.")

    def handle(self, *args: Any, **options: Any) -> None:
        # "is None", not "or": an explicit 0 is a retention (and refused), not "the default".
        attempts_age = options["attempts_older_than"]
        attempts_source = "--attempts-older-than"
        if attempts_age is None:
            attempts_age = app_settings.ATTEMPT_RETENTION
            attempts_source = "WHATSAPP_LOGIN_ATTEMPT_RETENTION"
        messages_age = options["messages_older_than"]
        messages_source = "--messages-older-than"
        if messages_age is None:
            messages_age = app_settings.PROCESSED_MESSAGE_RETENTION
            messages_source = "WHATSAPP_LOGIN_PROCESSED_MESSAGE_RETENTION"
        if attempts_age < MIN_ATTEMPT_RETENTION:
            raise CommandError(
                f"{attempts_source} is {_describe(attempts_age)}: attempts younger than 10 "
                "minutes may still be in use. Keep them at least 10 minutes (default 24 hours)."
            )
        if messages_age < MIN_MESSAGE_RETENTION:
            raise CommandError(
                f"{messages_source} is {_describe(messages_age)}: processed-message rows must "
                "be kept at least 25 hours. Green API re-sends a delivery for 24 hours and a "
                "forgotten one would be handled again (default 48 hours)."
            )
        now = timezone.now()
        dry_run = options["dry_run"]
        # Attempts that simply ran out of time are only expired lazily; record it, so the
        # audit trail (and the admin's status filter) shows them as expired.
        stale = LoginAttempt.objects.filter(
            status__in=[Status.PENDING, Status.AWAITING_CONFIRMATION, Status.CONFIRMED],
            expires_at__lte=now,
        )
        closed = (
            stale.count()
            if dry_run
            else stale.update(
                status=Status.EXPIRED, reason=Reason.EXPIRED, closed_at=F("expires_at")
            )
        )
        # A login signed out by a "NO" stays as long as its session could live: its row is
        # the revocation marker RevocationMiddleware checks (a signed-cookie session cannot
        # be deleted, and would come back if the row went first).
        revoked_age = max(attempts_age, timedelta(seconds=settings.SESSION_COOKIE_AGE))
        attempts = self._purge(
            LoginAttempt.objects.filter(created_at__lt=now - attempts_age).exclude(
                status=Status.CONSUMED,
                reason=Reason.SIGNED_OUT,
                created_at__gte=now - revoked_age,
            ),
            dry_run,
        )
        messages = self._purge(
            ProcessedMessage.objects.filter(created_at__lt=now - messages_age), dry_run
        )
        verb = "Would delete" if dry_run else "Deleted"
        self.stdout.write(
            f"{'Would mark' if dry_run else 'Marked'} {closed} timed-out attempt(s) expired. "
            f"{verb} {attempts} login attempt(s) and {messages} processed message(s)."
        )

    def _purge(self, rows: models.QuerySet[Any], dry_run: bool) -> int:
        if dry_run:
            return rows.count()
        total = 0
        while True:
            with transaction.atomic():
                batch = list(rows.order_by("pk").values_list("pk", flat=True)[:BATCH_SIZE])
                if not batch:
                    return total
                deleted, _ = rows.model._default_manager.filter(pk__in=batch).delete()
                total += deleted
