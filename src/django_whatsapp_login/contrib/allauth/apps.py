from __future__ import annotations

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class WhatsAppLoginAllauthConfig(AppConfig):
    name = "django_whatsapp_login.contrib.allauth"
    label = "whatsapp_login_allauth"
    verbose_name = _("WhatsApp login for django-allauth")

    def ready(self) -> None:
        from . import checks  # noqa: F401  (registers the system checks)
