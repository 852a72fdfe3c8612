from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models

from django_whatsapp_login.phone import normalize_phone


class Tenant(models.Model):
    """A customer of the example system; logs in with the WhatsApp number stored here."""

    name = models.CharField(max_length=200)
    # Always E.164 ("+996555000000"): the resolver compares it for exact equality with
    # the sender's number, so the model normalises whatever was typed. unique=True also
    # gives the column its index.
    phone = models.CharField(
        max_length=32,
        unique=True,
        help_text="International format, e.g. +996 555 000 000. Stored as +996555000000.",
    )
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="tenant",
    )

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def save(self, *args: Any, **kwargs: Any) -> None:
        # Also covers code paths that skip full_clean() (scripts, the shell, fixtures).
        self.phone = normalize_phone(self.phone)
        super().save(*args, **kwargs)

    def clean(self) -> None:
        super().clean()
        try:
            self.phone = normalize_phone(self.phone)
        except ValueError as err:
            raise ValidationError(
                {"phone": "Enter the number in international format, e.g. +996 555 000 000."}
            ) from err
