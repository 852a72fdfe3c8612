"""``manage.py whatsapp_login_setup``: configure the Green API instance for this site.

Idempotent: it reads the current settings, sends only what differs (setSettings restarts the
instance, so it is never called for nothing), then reads them back.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from django_whatsapp_login.conf import app_settings
from django_whatsapp_login.exceptions import WhatsAppLoginImproperlyConfigured
from django_whatsapp_login.gateways.greenapi.checks import webhook_url_problem
from django_whatsapp_login.gateways.greenapi.client import (
    GreenAPIClient,
    GreenAPIError,
    InstanceSettings,
    parse_flag,
)

SECRET_KEYS = frozenset({"webhookUrlToken"})


def desired_settings(
    current: InstanceSettings,
    webhook_url: str,
    token: str,
    *,
    poll: bool = False,
    lid_mode: bool | None = None,
) -> dict[str, Any]:
    """What this app needs: incoming messages only, to our URL with our token.

    ``enableLidMode`` is left as it is unless ``lid_mode`` says on or off; it is only sent
    when the instance reports it, in the type it reports (some instances use "yes"/"no",
    others booleans).
    """
    wanted: dict[str, Any] = {
        "webhookUrl": "" if poll else webhook_url,
        "incomingWebhook": "yes",
        "outgoingWebhook": "no",
        "outgoingMessageWebhook": "no",
        "outgoingAPIMessageWebhook": "no",
    }
    if not poll:
        wanted["webhookUrlToken"] = token
    if lid_mode is not None and "enableLidMode" in current.raw:
        if isinstance(current.raw["enableLidMode"], bool):
            wanted["enableLidMode"] = lid_mode
        else:
            wanted["enableLidMode"] = "yes" if lid_mode else "no"
    return wanted


def differences(current: dict[str, Any], wanted: dict[str, Any]) -> dict[str, Any]:
    changed = {}
    for key, value in wanted.items():
        have = current.get(key)
        if isinstance(value, bool) or value in ("yes", "no"):
            same = parse_flag(have) is not None and parse_flag(have) == parse_flag(value)
        else:
            same = (have or "") == value
        if not same:
            changed[key] = value
    return changed


def show(key: str, value: Any) -> str:
    if key in SECRET_KEYS:
        return "(set)" if value else "(empty)"
    return repr(value)


class Command(BaseCommand):
    help = (
        "Configure the Green API instance: webhook URL and token, incoming webhooks on, "
        "outgoing webhooks off; enableLidMode on or off with --lid-mode (left as it is by "
        "default). Changes only what differs."
    )
    requires_system_checks: list[str] = []

    def add_arguments(self, parser: CommandParser) -> None:
        target = parser.add_mutually_exclusive_group(required=True)
        target.add_argument(
            "--webhook-url",
            help="This site's public webhook URL, e.g. https://example.com/whatsapp/webhook/",
        )
        target.add_argument(
            "--poll",
            action="store_true",
            help="Set the instance up for whatsapp_login_poll instead (empty webhook URL).",
        )
        parser.add_argument(
            "--lid-mode",
            choices=["on", "off"],
            help="Turn enableLidMode ('Use chat IDs') on or off. Default: leave it as it is. "
            "Before turning it on, store the users' LIDs with whatsapp_login_lookup_lids.",
        )
        parser.add_argument("--dry-run", action="store_true", help="Show the change only.")

    def handle(self, *args: Any, **options: Any) -> None:
        url = (options["webhook_url"] or "").strip()
        poll = options["poll"]
        lid_mode = None if options["lid_mode"] is None else options["lid_mode"] == "on"
        token = ""
        if not poll:
            problem = webhook_url_problem(url)
            if problem:
                raise CommandError(f"--webhook-url: {problem}")
            tokens = app_settings.WEBHOOK_TOKENS
            if not tokens:
                raise CommandError(
                    "WHATSAPP_LOGIN_WEBHOOK_TOKEN is empty: set it first (the webhook refuses "
                    "deliveries without it)."
                )
            token = tokens[0]
        try:
            with GreenAPIClient.from_settings() as client:
                self._setup(
                    client, url, token, poll=poll, lid_mode=lid_mode, dry_run=options["dry_run"]
                )
        except (GreenAPIError, WhatsAppLoginImproperlyConfigured) as err:
            raise CommandError(str(err)) from None

    def _setup(
        self,
        client: GreenAPIClient,
        url: str,
        token: str,
        *,
        poll: bool,
        lid_mode: bool | None,
        dry_run: bool,
    ) -> None:
        current = client.get_settings()
        if lid_mode is not None and "enableLidMode" not in current.raw:
            raise CommandError(
                "--lid-mode: this instance does not report enableLidMode, so its type is "
                "unknown; switch 'Use chat IDs' in the Green API console instead."
            )
        if lid_mode:
            self._warn_lid_coverage()
        wanted = desired_settings(current, url, token, poll=poll, lid_mode=lid_mode)
        changes = differences(current.raw, wanted)
        if not changes:
            self.stdout.write(
                self.style.SUCCESS("Nothing to change: the instance already has these settings.")
            )
            return
        for key, value in changes.items():
            self.stdout.write(f"  {key}: {show(key, current.raw.get(key))} -> {show(key, value)}")
        if dry_run:
            self.stdout.write("Dry run: nothing was changed.")
            return
        if not client.set_settings(changes):
            raise CommandError("Green API did not save the settings (saveSettings is not true).")
        self.stdout.write(
            self.style.WARNING(
                "Saved. The instance restarts now; Green API can take up to 5 minutes to apply "
                "the settings. Run manage.py whatsapp_login_check afterwards."
            )
        )
        after = client.get_settings()
        pending = differences(after.raw, wanted)
        if pending:
            self.stdout.write(
                self.style.WARNING(
                    "Not applied yet: "
                    + ", ".join(sorted(pending))
                    + " (read back after saving; check again in 5 minutes, "
                    "do not repeat setSettings)."
                )
            )
        else:
            self.stdout.write(self.style.SUCCESS("Read back: every setting is applied."))

    def _warn_lid_coverage(self) -> None:
        """Before LID mode goes on: say how many users would not be recognised at once."""
        from django.db import DatabaseError

        from django_whatsapp_login.phone_audit import identity_coverage

        try:
            coverage = identity_coverage()
        except (WhatsAppLoginImproperlyConfigured, DatabaseError) as err:
            self.stdout.write(self.style.WARNING(f"Cannot count the users with a known LID: {err}"))
            return
        if coverage.complete:
            self.stdout.write(f"All {coverage.reachable} users who can log in have a known LID.")
            return
        self.stdout.write(
            self.style.WARNING(
                f"Only {coverage.reachable_with_lid} of {coverage.reachable} users who can log "
                "in have a known LID. In LID mode the others are not recognised at once (they "
                "must link WhatsApp or confirm their phone number): run manage.py "
                "whatsapp_login_lookup_lids first."
            )
        )
