"""Settings of the allauth integration, read on access like the app's own (conf.py)."""

from __future__ import annotations

from django.conf import settings

from ...exceptions import WhatsAppLoginImproperlyConfigured


class AllauthSettings:
    @property
    def SEND_TIMEOUT(self) -> float:
        """Seconds one code message may take (the user is waiting on allauth's form)."""
        value = getattr(settings, "WHATSAPP_LOGIN_ALLAUTH_SEND_TIMEOUT", 10)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
            raise WhatsAppLoginImproperlyConfigured(
                "WHATSAPP_LOGIN_ALLAUTH_SEND_TIMEOUT must be a positive number of seconds."
            )
        return float(value)


allauth_settings = AllauthSettings()
