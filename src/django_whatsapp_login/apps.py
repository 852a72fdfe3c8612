from __future__ import annotations

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class WhatsAppLoginConfig(AppConfig):
    name = "django_whatsapp_login"
    label = "whatsapp_login"
    verbose_name = _("WhatsApp login")
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from . import (
            checks,  # noqa: F401  (registers the system checks)
            replies,
        )

        replies.connect_signals()
