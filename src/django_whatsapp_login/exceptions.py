from __future__ import annotations

from django.core.exceptions import ImproperlyConfigured


class WhatsAppLoginImproperlyConfigured(ImproperlyConfigured):
    """A WHATSAPP_LOGIN_* setting is missing or invalid; the message names it."""


class InvalidPhoneNumber(ValueError):
    """The value cannot be read as an international phone number."""
