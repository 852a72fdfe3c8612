"""Create the demo tenant (and, with DEBUG on, an admin/admin superuser). Safe to re-run."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction

from core.models import Tenant
from django_whatsapp_login.phone import normalize_phone

# Obviously fake: no real WhatsApp account has this number.
DEMO_PHONE = "+996555000000"
DEMO_USERNAME = "demo"
DEMO_TENANT_NAME = "Demo Tenant"


class Command(BaseCommand):
    help = "Create the demo user and tenant for the sandbox login; print the demo phone."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--phone",
            default=DEMO_PHONE,
            help="Phone of the demo tenant, international format (default: %(default)s). "
            "Use your own WhatsApp number to try a real Green API instance.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            phone = normalize_phone(options["phone"])
        except ValueError as err:
            raise CommandError(f"--phone: {err}") from err

        User = get_user_model()
        with transaction.atomic():
            user, created = User._default_manager.get_or_create(
                username=DEMO_USERNAME, defaults={"first_name": "Demo"}
            )
            if created:
                # The demo user logs in only through WhatsApp.
                user.set_unusable_password()
                user.save(update_fields=["password"])
            elif not user.is_active:
                user.is_active = True
                user.save(update_fields=["is_active"])

            if Tenant.objects.filter(phone=phone).exclude(user=user).exists():
                raise CommandError(f"{phone} already belongs to another tenant.")
            Tenant.objects.update_or_create(
                user=user, defaults={"name": DEMO_TENANT_NAME, "phone": phone}
            )
        self.stdout.write(
            f"Demo user {DEMO_USERNAME!r} {'created' if created else 'already exists'}; "
            f"tenant {DEMO_TENANT_NAME!r} is ready."
        )

        if settings.DEBUG:
            if User._default_manager.filter(username="admin").exists():
                self.stdout.write("Superuser 'admin' already exists.")
            else:
                # A well-known password, acceptable only because DEBUG is on.
                User._default_manager.create_superuser(
                    username="admin",
                    email="admin@example.com",
                    password="admin",  # noqa: S106
                )
                self.stdout.write("Superuser created: admin / admin (DEBUG only).")
        else:
            self.stdout.write("DEBUG is off: no admin/admin superuser created.")

        self.stdout.write(self.style.SUCCESS(f"Demo phone: {phone}"))
