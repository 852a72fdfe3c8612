"""``manage.py whatsapp_login_lookup_lids``: learn every reachable user's WhatsApp LID.

In LID mode (and in the deliveries where a LID leaks through anyway) the sender is an opaque
``<digits>@lid`` id with no phone number in it. A user whose LID the app already knows logs
in as before; so before switching LID mode on, ask Green API's ``checkWhatsapp`` for the LID
of every phone the resolver can log in, and store it as the user's identity (source
``lookup``).

Resumable and idempotent: users whose LID is known are skipped (``--refresh`` asks again), so
a run stopped by the monthly quota (HTTP 466), Ctrl-C or a Green API outage continues where
it stopped. The client spaces ``checkWhatsapp`` to Green API's 10 requests/s.

Exit status: 0 done; 1 done, but some ids conflict with another user's or some checks
failed; 2 cannot start (settings, the user model); 3 stopped early (quota, Green API keeps
failing, interrupted): run it again later.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser, OutputWrapper

from django_whatsapp_login import identities
from django_whatsapp_login.exceptions import IdentityConflict, WhatsAppLoginImproperlyConfigured
from django_whatsapp_login.gateways.greenapi.client import (
    RATE_LIMITS,
    AuthorizationFailed,
    GreenAPIClient,
    GreenAPIError,
    QuotaExceeded,
)
from django_whatsapp_login.models import IdentityKind, IdentitySource, WhatsAppIdentity
from django_whatsapp_login.phone import mask_phone
from django_whatsapp_login.phone_audit import ReachableUser, reachable_users, users_with_lid

#: Exit statuses (documented in docs/commands/whatsapp_login_lookup_lids.md).
EXIT_ATTENTION = 1
EXIT_CANNOT_START = 2
EXIT_STOPPED = 3
#: Consecutive failed checks (other than 466) after which Green API is taken to be down.
MAX_CONSECUTIVE_FAILURES = 3
#: Without a terminal, one progress line per this many users.
PLAIN_PROGRESS_EVERY = 100


def masked_lid(lid: str) -> str:
    return WhatsAppIdentity(kind=IdentityKind.LID, value=lid).masked_value


@dataclass
class Tally:
    """What one run did, user by user."""

    todo: int = 0
    done: int = 0
    stored: int = 0  # a LID new for this user
    unchanged: int = 0  # the LID answered was already the user's (--refresh)
    no_whatsapp: int = 0  # existsWhatsapp false
    no_lid: int = 0  # on WhatsApp, but the answer carried no LID
    gone: int = 0  # the user was deleted (or lost the phone) during the run
    failed: int = 0
    conflicts: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)


class Progress:
    """One self-rewriting line on a terminal; a line every 100 users otherwise."""

    def __init__(self, stream: OutputWrapper, total: int, *, enabled: bool) -> None:
        self.stream = stream
        self.total = total
        self.enabled = enabled and total > 0
        isatty = getattr(stream, "isatty", None)
        self.tty = bool(isatty and isatty())
        self.started = time.monotonic()

    def update(self, tally: Tally, *, final: bool = False) -> None:
        if not self.enabled:
            return
        if not self.tty and not final and tally.done % PLAIN_PROGRESS_EVERY:
            return
        elapsed = max(time.monotonic() - self.started, 1e-9)
        line = (
            f"{tally.done}/{self.total} looked up ({tally.stored} stored, "
            f"{tally.no_whatsapp} not on WhatsApp, {len(tally.conflicts)} conflicts, "
            f"{tally.failed} failed), {tally.done / elapsed:.1f}/s"
        )
        if self.tty:
            self.stream.write("\r\033[K" + line + ("\n" if final else ""))
        else:
            self.stream.write(line + "\n")
        self.stream.flush()


class Command(BaseCommand):
    help = (
        "Ask Green API (checkWhatsapp) for the WhatsApp LID of every user the resolver can "
        "log in and store it, before switching LID mode on. Resumable: users whose LID is "
        "known are skipped."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--dry-run",
            action="store_true",
            help="Count who would be looked up; call no Green API method and write nothing.",
        )
        parser.add_argument(
            "--limit",
            type=int,
            metavar="N",
            help="Look up at most N users in this run (the others are left for the next).",
        )
        parser.add_argument(
            "--refresh",
            action="store_true",
            help="Look up users whose LID is already known too.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        limit = options["limit"]
        if limit is not None and limit < 1:
            raise CommandError("--limit must be a positive number.", returncode=EXIT_CANNOT_START)
        try:
            users = reachable_users()
        except WhatsAppLoginImproperlyConfigured as err:
            raise CommandError(str(err), returncode=EXIT_CANNOT_START) from None
        known = users_with_lid()
        todo = users if options["refresh"] else [u for u in users if u.pk not in known]
        skipped = len(users) - len(todo)
        left_for_later = max(0, len(todo) - limit) if limit else 0
        if limit:
            todo = todo[:limit]
        with_lid = sum(1 for user in users if user.pk in known)
        self.stdout.write(
            f"{len(users)} user(s) can log in, {with_lid} with a known LID. "
            f"Looking up {len(todo)}"
            + (f" (skipping {skipped} whose LID is known; --refresh asks again)" if skipped else "")
            + (f"; {left_for_later} left for another run (--limit)" if left_for_later else "")
            + "."
        )
        if options["dry_run"]:
            seconds = len(todo) / RATE_LIMITS["checkWhatsapp"]
            self.stdout.write(
                f"Dry run: Green API was not called (each checkWhatsapp counts against the "
                f"plan's monthly quota) and nothing was written. A real run takes about "
                f"{seconds:.0f} s at {RATE_LIMITS['checkWhatsapp']:g} requests/s."
            )
            return
        if not todo:
            self.stdout.write(self.style.SUCCESS("Nothing to look up."))
            return
        try:
            client = GreenAPIClient.from_settings()
        except WhatsAppLoginImproperlyConfigured as err:
            raise CommandError(str(err), returncode=EXIT_CANNOT_START) from None
        tally = Tally(todo=len(todo))
        progress = Progress(self.stderr, len(todo), enabled=options["verbosity"] > 0)
        stopped = ""
        with client:
            try:
                stopped = self._walk(client, todo, tally, progress)
            except KeyboardInterrupt:
                stopped = "interrupted"
        progress.update(tally, final=True)
        self._summary(tally, stopped, left_for_later)

    def _walk(
        self, client: GreenAPIClient, todo: list[ReachableUser], tally: Tally, progress: Progress
    ) -> str:
        """Look each user up; return why it stopped early, or ``""``."""
        user_model = get_user_model()
        consecutive = 0
        for entry in todo:
            try:
                check = client.check_whatsapp(entry.phone)
            except QuotaExceeded:
                return "Green API answered 466: the plan's monthly checkWhatsapp quota is used up"
            except AuthorizationFailed as err:
                raise CommandError(str(err), returncode=EXIT_CANNOT_START) from None
            except GreenAPIError as err:
                tally.done += 1
                tally.failed += 1
                tally.failures.append(f"user {entry.pk} ({mask_phone(entry.phone)}): {err}")
                consecutive += 1
                progress.update(tally)
                if consecutive >= MAX_CONSECUTIVE_FAILURES:
                    return f"Green API failed {consecutive} times in a row ({err})"
                continue
            consecutive = 0
            tally.done += 1
            if not check.exists:
                tally.no_whatsapp += 1
            elif check.lid is None:
                tally.no_lid += 1
            else:
                self._store(user_model, entry, check.lid, tally)
            progress.update(tally)
        return ""

    def _store(self, user_model: Any, entry: ReachableUser, lid: str, tally: Tally) -> None:
        user = user_model._default_manager.filter(pk=entry.pk).first()
        if user is None:
            tally.gone += 1
            return
        already = WhatsAppIdentity.objects.filter(
            kind=IdentityKind.LID, value=lid, user_id=user.pk
        ).exists()
        try:
            identities.link(user, lid, source=IdentitySource.LOOKUP)
        except IdentityConflict:
            owner = (
                WhatsAppIdentity.objects.filter(kind=IdentityKind.LID, value=lid)
                .values_list("user_id", flat=True)
                .first()
            )
            tally.conflicts.append(
                f"user {entry.pk} ({mask_phone(entry.phone)}): the LID {masked_lid(lid)} "
                f"already belongs to user {owner}"
            )
            return
        if already:
            tally.unchanged += 1
        else:
            tally.stored += 1

    def _summary(self, tally: Tally, stopped: str, left_for_later: int) -> None:
        write = self.stdout.write
        write(
            f"Looked up {tally.done} of {tally.todo}: {tally.stored} LID(s) stored, "
            f"{tally.unchanged} already known, {tally.no_whatsapp} not on WhatsApp, "
            f"{tally.no_lid} answered without a LID, {len(tally.conflicts)} conflict(s), "
            f"{tally.failed} failed" + (f", {tally.gone} user(s) gone" if tally.gone else "") + "."
        )
        for line in tally.conflicts:
            write(f"  conflict: {line}")
        for line in tally.failures[:20]:
            write(f"  failed: {line}")
        if len(tally.failures) > 20:
            write(f"  and {len(tally.failures) - 20} more failures")
        if tally.conflicts:
            write(
                "A conflicting LID is linked to another user (see the WhatsApp identities in "
                "the admin): check which account the number belongs to, unlink the wrong one, "
                "run again."
            )
        if stopped:
            raise CommandError(
                f"Stopped after {tally.done} of {tally.todo}: {stopped}. {tally.stored} LID(s) "
                "were stored. Run the command again later: it continues with the users whose "
                "LID is still unknown.",
                returncode=EXIT_STOPPED,
            )
        if tally.conflicts or tally.failed:
            raise CommandError(
                f"{len(tally.conflicts)} conflict(s) and {tally.failed} failed check(s); "
                "see above.",
                returncode=EXIT_ATTENTION,
            )
        if left_for_later:
            write(f"{left_for_later} user(s) left: run the command again.")
        write(self.style.SUCCESS("Done."))
