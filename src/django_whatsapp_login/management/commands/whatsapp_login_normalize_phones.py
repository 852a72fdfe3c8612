"""Rewrite stored phones in E.164, the form the resolver's exact lookup needs.

Dry run by default: it prints what it would change (masked) and changes nothing. With
``--apply`` it writes every row it can read for sure, in one transaction. A value it cannot
read (a national format without ``--region`` / ``WHATSAPP_LOGIN_DEFAULT_REGION``, not a
phone at all) and a value whose E.164 form is already another row's are left alone and
listed, and the exit status is then 1.
"""

from __future__ import annotations

from typing import Any

from django.apps import apps
from django.contrib.auth import get_user_model
from django.core.exceptions import FieldDoesNotExist
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction

from django_whatsapp_login.conf import app_settings
from django_whatsapp_login.phone import (
    InvalidPhoneNumber,
    mask_phone,
    mask_written,
    normalize_phone,
)
from django_whatsapp_login.phone_audit import describe_change


class Command(BaseCommand):
    help = (
        "Rewrite the phones stored in a field in E.164 (dry run unless --apply). National "
        "formats are read with --region or WHATSAPP_LOGIN_DEFAULT_REGION."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--model",
            metavar="APP_LABEL.MODEL",
            help="The model holding the phones (e.g. core.Tenant). Default: the user model.",
        )
        parser.add_argument("--field", help="The phone field. Default: WHATSAPP_LOGIN_PHONE_FIELD.")
        parser.add_argument(
            "--region",
            help="ISO country code for national formats (RU, KZ, KG...). Default: "
            "WHATSAPP_LOGIN_DEFAULT_REGION. Needs the phonenumbers extra.",
        )
        mode = parser.add_mutually_exclusive_group()
        mode.add_argument(
            "--dry-run",
            action="store_true",
            help="Only print what would change (the default).",
        )
        mode.add_argument("--apply", action="store_true", help="Write the changes.")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["model"]:
            try:
                model = apps.get_model(options["model"])
            except (LookupError, ValueError) as err:
                raise CommandError(f"Unknown model {options['model']!r}: {err}") from err
        else:
            model = get_user_model()
        field = options["field"] or app_settings.PHONE_FIELD
        try:
            model._meta.get_field(field)
        except FieldDoesNotExist as err:
            raise CommandError(f"{model._meta.label} has no field {field!r}.") from err
        region = (options["region"] or app_settings.DEFAULT_REGION or "").upper()
        apply = bool(options["apply"])

        rows = list(
            model._default_manager.exclude(**{f"{field}__isnull": True})
            .exclude(**{field: ""})
            .order_by("pk")
            .values_list("pk", field)
        )
        stored = {str(value) for _pk, value in rows}
        changes: list[tuple[Any, str, str]] = []
        unreadable: list[tuple[Any, str, str]] = []
        targets: dict[str, list[Any]] = {}
        for pk, value in rows:
            text = str(value)
            try:
                e164 = normalize_phone(text, region=region or None)
            except InvalidPhoneNumber as err:
                unreadable.append((pk, text, str(err)))
                continue
            targets.setdefault(e164, []).append(pk)
            if text != e164:
                changes.append((pk, text, e164))
        # Two rows becoming one number, or a row becoming a number another row already has
        # in E.164, would make a shared phone (nobody logs in) or break a unique index.
        conflicts = [
            change
            for change in changes
            if len(targets[change[2]]) > 1 or (change[2] in stored and change[2] != change[1])
        ]
        safe = [change for change in changes if change not in conflicts]

        label = f"{model._meta.label}.{field}"
        verb = "rewrote" if apply else "would rewrite"
        self.stdout.write(
            f"{label}: {len(rows)} stored phone(s), {verb} {len(safe)}, "
            f"{len(rows) - len(changes) - len(unreadable)} already E.164, "
            f"{len(unreadable)} unreadable, {len(conflicts)} conflicting"
            + (f" (region {region})" if region else " (no region: national formats refused)")
            + "."
        )
        for pk, text, e164 in safe:
            self.stdout.write(
                f"  pk={pk}: {mask_written(text)} -> {mask_phone(e164)} "
                f"({describe_change(text, e164)})"
            )
        for pk, text, e164 in conflicts:
            self.stdout.write(
                f"  pk={pk}: {mask_written(text)} -> {mask_phone(e164)} left alone: another "
                "row has the same number"
            )
        for pk, text, reason in unreadable:
            self.stdout.write(f"  pk={pk}: {mask_written(text)} left alone: {reason}")

        if apply and safe:
            with transaction.atomic():
                manager = model._default_manager
                for pk, _text, e164 in safe:
                    manager.filter(pk=pk).update(**{field: e164})
        if not apply and safe:
            self.stdout.write("Dry run: nothing was changed. Run again with --apply to write.")
        if unreadable or conflicts:
            raise SystemExit(1)
