"""``manage.py whatsapp_login_setup``: configure the Green API instance for this site.

Idempotent: it reads the current settings, sends only what differs (setSettings restarts the
instance, so it is never called for nothing), then reads them back.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from django_whatsapp_login.client import GreenAPIClient, GreenAPIError, InstanceSettings, parse_flag
from django_whatsapp_login.conf import app_settings
from django_whatsapp_login.doctor import webhook_url_problem
from django_whatsapp_login.exceptions import WhatsAppLoginImproperlyConfigured

SECRET_KEYS = frozenset({"webhookUrlToken"})


def desired_settings(
    current: InstanceSettings, webhook_url: str, token: str, *, poll: bool = False
) -> dict[str, Any]:
    """What this app needs: incoming messages only, to our URL with our token, no LIDs.

    ``enableLidMode`` is only sent when the instance reports it, in the type it reports
    (some instances use "yes"/"no", others booleans).
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
    if "enableLidMode" in current.raw:
        wanted["enableLidMode"] = False if isinstance(current.raw["enableLidMode"], bool) else "no"
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
        "outgoing webhooks off, enableLidMode off. Changes only what differs."
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
        parser.add_argument("--dry-run", action="store_true", help="Show the change only.")

    def handle(self, *args: Any, **options: Any) -> None:
        url = (options["webhook_url"] or "").strip()
        poll = options["poll"]
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
                self._setup(client, url, token, poll=poll, dry_run=options["dry_run"])
        except (GreenAPIError, WhatsAppLoginImproperlyConfigured) as err:
            raise CommandError(str(err)) from None

    def _setup(
        self, client: GreenAPIClient, url: str, token: str, *, poll: bool, dry_run: bool
    ) -> None:
        current = client.get_settings()
        wanted = desired_settings(current, url, token, poll=poll)
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
