"""WhatsApp providers behind one interface (see :mod:`.base`); one folder per provider."""

from __future__ import annotations

from django.utils.module_loading import import_string

from ..conf import app_settings
from ..exceptions import WhatsAppLoginImproperlyConfigured
from .base import Button, Gateway, GatewayError, Ignored, IncomingMessage, Message

__all__ = [
    "Button",
    "Gateway",
    "GatewayError",
    "Ignored",
    "IncomingMessage",
    "Message",
    "gateway_class",
    "get_gateway",
]


#: Imported gateway classes by dotted path: the setting is still read on every call (so a
#: changed setting applies at once), only the import is not repeated. Failures are not kept.
_classes: dict[str, type[Gateway]] = {}


def gateway_class() -> type[Gateway]:
    """The class ``WHATSAPP_LOGIN_GATEWAY`` names; :class:`WhatsAppLoginImproperlyConfigured`
    when it cannot be imported or is not a :class:`Gateway` (system check E033)."""
    path = app_settings.GATEWAY_PATH
    cached = _classes.get(path)
    if cached is not None:
        return cached
    try:
        cls = import_string(path)
    except ImportError as err:
        raise WhatsAppLoginImproperlyConfigured(
            f"WHATSAPP_LOGIN_GATEWAY {app_settings.GATEWAY!r} cannot be imported: {err}"
        ) from err
    if not (isinstance(cls, type) and issubclass(cls, Gateway)):
        raise WhatsAppLoginImproperlyConfigured(
            f"WHATSAPP_LOGIN_GATEWAY {app_settings.GATEWAY!r} is not a subclass of "
            "django_whatsapp_login.gateways.Gateway."
        )
    if len(_classes) < 64:
        _classes[path] = cls
    return cls


def get_gateway() -> Gateway:
    """The configured gateway. A new instance each call (they are cheap and keep no state),
    so a changed setting applies at once."""
    return gateway_class()()
