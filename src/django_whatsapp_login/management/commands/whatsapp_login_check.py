"""``manage.py whatsapp_login_check``: the doctor. Exit code 0 only when every check passes."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from django_whatsapp_login import doctor

MARKS = {doctor.PASS: "PASS", doctor.FAIL: "FAIL", doctor.WARN: "WARN", doctor.SKIP: "SKIP"}


class Command(BaseCommand):
    help = (
        "Check the WhatsApp login setup: settings, the Green API instance (state, webhook URL "
        "and token, incoming webhooks, LID mode, quota), the users' phones and, with "
        "--self-test, a real delivery to the webhook. Exits 1 when a check fails."
    )
    requires_system_checks: list[str] = []  # report problems ourselves, never abort early

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--url",
            help="The webhook URL Green API must use, e.g. "
            "https://example.com/api/webhooks/greenapi/incoming/ (default: check that the "
            "configured one points at this site's webhook view).",
        )
        parser.add_argument("--phone", help="Check that this phone number finds exactly one user.")
        parser.add_argument(
            "--self-test",
            action="store_true",
            help="POST an authenticated test delivery to the webhook URL; it must answer 200.",
        )
        parser.add_argument(
            "--poll",
            action="store_true",
            help="This site receives messages with whatsapp_login_poll: no webhook URL expected.",
        )
        parser.add_argument("--json", action="store_true", help="Machine-readable output.")
        parser.add_argument("--strict", action="store_true", help="Warnings fail too.")

    def handle(self, *args: Any, **options: Any) -> None:
        report = doctor.run(
            url=options["url"],
            phone=options["phone"],
            self_test=options["self_test"],
            poll=options["poll"],
        )
        failed = report.failed(strict=options["strict"])
        if options["json"]:
            self.stdout.write(report.to_json(strict=options["strict"]))
        else:
            for result in report.results:
                line = f"[{MARKS[result.status]}] {result.title}: {result.detail}"
                style = {
                    doctor.PASS: self.style.SUCCESS,
                    doctor.FAIL: self.style.ERROR,
                    doctor.WARN: self.style.WARNING,
                }.get(result.status, str)
                self.stdout.write(style(line))
                if result.fix:
                    self.stdout.write(f"       Fix: {result.fix}")
            if not failed:
                self.stdout.write(self.style.SUCCESS("All checks passed."))
        if failed:
            raise CommandError(
                f"{len(failed)} check(s) failed: " + ", ".join(r.id for r in failed), returncode=1
            )
