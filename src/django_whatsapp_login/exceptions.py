from __future__ import annotations

from django.core.exceptions import ImproperlyConfigured


class WhatsAppLoginImproperlyConfigured(ImproperlyConfigured):
    """A WHATSAPP_LOGIN_* setting is missing or invalid; the message names it."""


class InvalidPhoneNumber(ValueError):
    """The value cannot be read as an international phone number."""


class AmbiguousPhone(Exception):
    """Raised by a resolver when several users own the phone: nobody is logged in.

    Optional: a resolver may also just return ``None``; raising this records the more
    precise reason ``several_users`` in the audit trail.
    """


class InvalidIdentity(ValueError):
    """The value is not a WhatsApp id this app understands (a phone, ``…@c.us`` or ``…@lid``)."""


class IdentityConflict(Exception):
    """The WhatsApp id already belongs to another user; nothing was changed."""
