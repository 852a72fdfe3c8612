"""Find stored phones that cannot log in before their owners find out.

The original system's "number not registered" came from phones stored in other formats
(``0557 903 999``, ``+996 557 903-999``) and numbers shared by several accounts. This
reports both, masked, with the row's primary key. Exit status 1 when anything is wrong,
so it can gate a deploy. Without --model/--field it asks the configured resolver who can
log in (its ``reachable_users`` hook); ``whatsapp_login_normalize_phones`` fixes the formats.
"""

from __future__ import annotations

import json
from typing import Any

from django.apps import apps
from django.core.management.base import BaseCommand, CommandError, CommandParser

from django_whatsapp_login.exceptions import WhatsAppLoginImproperlyConfigured
from django_whatsapp_login.phone_audit import (
    NOT_A_PHONE,
    CannotCount,
    audit_phones,
    identity_coverage,
)


class Command(BaseCommand):
    help = "Report users whose phone cannot be normalised to E.164 or is shared by several users."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--model",
            metavar="APP_LABEL.MODEL",
            help="Audit another model (e.g. core.Tenant for a custom resolver). "
            "Default: the user model.",
        )
        parser.add_argument("--field", help="The phone field. Default: WHATSAPP_LOGIN_PHONE_FIELD.")
        parser.add_argument("--json", action="store_true", help="Machine-readable output.")

    def handle(self, *args: Any, **options: Any) -> None:
        queryset = None
        if options["model"]:
            try:
                queryset = apps.get_model(options["model"])._default_manager.all()
            except (LookupError, ValueError) as err:
                raise CommandError(f"Unknown model {options['model']!r}: {err}") from err
        try:
            report = audit_phones(queryset, field=options["field"])
        except CannotCount as err:
            raise CommandError(
                f"{err} Give the resolver a reachable_users hook (docs/resolvers.md), or "
                "audit the model it reads with --model APP_LABEL.MODEL --field NAME."
            ) from err
        except WhatsAppLoginImproperlyConfigured as err:
            raise CommandError(str(err)) from err
        # WhatsApp identities belong to users: counted for the resolver's own users only.
        coverage = None if options["model"] or options["field"] else identity_coverage()

        if options["json"]:
            data = report.to_dict()
            if coverage is not None:
                data["identities"] = coverage.to_dict()
            self.stdout.write(json.dumps(data, ensure_ascii=False, indent=2))
        else:
            source = (
                f"{report.model}.{report.field}"
                if report.field
                else (f"{report.model} (reachable_users)")
            )
            self.stdout.write(
                f"{source}: {report.total} row(s), {report.reachable} can "
                f"log in, {report.inactive} inactive, {report.empty} without a phone."
            )
            for issue in report.unusable:
                if issue.problem == NOT_A_PHONE:
                    why = f"not a phone number it can read ({issue.reason})"
                else:
                    why = (
                        f"not stored in E.164; store it as {issue.normalized_masked} "
                        f"({issue.change})"
                    )
                self.stdout.write(f"  pk={issue.pk}: {issue.masked}: {why}")
            for shared in report.shared:
                pks = ", ".join(str(pk) for pk in shared.pks)
                self.stdout.write(
                    f"  {shared.masked} is shared by pk={pks}: none of them can log in"
                )
            if coverage is not None:
                self.stdout.write(
                    f"WhatsApp identities: {coverage.with_lid} user(s) with a LID "
                    f"({coverage.reachable_with_lid} of the {coverage.reachable} who can log "
                    f"in), {coverage.with_phone} with a phone identity."
                )
            if report.unusable or report.shared:
                self.stdout.write(
                    "Fix: store each phone once, in E.164 (normalize_phone() gives the form; "
                    "manage.py whatsapp_login_normalize_phones rewrites a field)."
                )
            else:
                self.stdout.write(self.style.SUCCESS("Every stored phone can be used."))
        if report.unusable or report.shared:
            raise SystemExit(1)
