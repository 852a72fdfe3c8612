from __future__ import annotations

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class WhatsAppLoginConfig(AppConfig):
    name = "django_whatsapp_login"
    label = "whatsapp_login"
    verbose_name = _("WhatsApp login")
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django.contrib.auth.signals import user_logged_out

        from . import (
            checks,  # noqa: F401  (registers the system checks)
            live,  # noqa: F401  (registers the push channel's checks)
            replies,
        )
        from .link import close_on_logout

        replies.connect_signals()
        user_logged_out.connect(close_on_logout, dispatch_uid="whatsapp_login.link.close_on_logout")
