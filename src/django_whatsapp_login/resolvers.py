"""Finding the user who owns a phone number.

A resolver is a plain function ``resolver(phone, **context)``: ``phone`` is E.164 with a
leading ``+`` (``"+996557903999"``); it returns a user or ``None``. ``context`` holds
``attempt`` (the LoginAttempt), ``request`` (the webhook request, or ``None`` when the
message came another way) and ``message`` (the parsed IncomingText); accept ``**context``
so new keys never break you. Return ``None`` for zero *or several* matching users:
never pick "the first".
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from django.contrib.auth import get_user_model
from django.utils.module_loading import import_string

from .conf import app_settings
from .exceptions import WhatsAppLoginImproperlyConfigured

logger = logging.getLogger("django_whatsapp_login")

Resolver = Callable[..., Any]


def default_resolver(phone: str, **context: Any) -> Any:
    """Exactly one user whose ``WHATSAPP_LOGIN_PHONE_FIELD`` equals ``phone``, else None.

    One indexed equality query (index the field); at most two rows are fetched to tell
    "one" from "several".
    """
    user_model = get_user_model()
    field = app_settings.PHONE_FIELD
    users = list(user_model._default_manager.filter(**{field: phone})[:2])
    if len(users) == 1:
        return users[0]
    if users:
        logger.warning("Several users share the phone of a login message; nobody is logged in")
    return None


def get_resolver() -> Resolver:
    path = app_settings.USER_RESOLVER
    try:
        resolver = import_string(path)
    except ImportError as err:
        raise WhatsAppLoginImproperlyConfigured(
            f"WHATSAPP_LOGIN_USER_RESOLVER={path!r} cannot be imported: {err}"
        ) from err
    if not callable(resolver):
        raise WhatsAppLoginImproperlyConfigured(
            f"WHATSAPP_LOGIN_USER_RESOLVER={path!r} is not callable."
        )
    return resolver  # type: ignore[no-any-return]
