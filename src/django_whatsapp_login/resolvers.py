"""Finding the user who owns a phone number.

A resolver is a plain function ``resolver(phone, **context)``: ``phone`` is E.164 with a
leading ``+`` (``"+996557903999"``); it returns a user or ``None``. ``context`` holds
``attempt`` (the LoginAttempt), ``request`` (the webhook request, or ``None`` when the
message came another way) and ``message`` (the parsed IncomingText); accept ``**context``
so new keys never break you. Return ``None`` for zero *or several* matching users:
never pick "the first".

A resolver may also say who *can* log in, for ``whatsapp_login_check`` and
``whatsapp_login_audit_phones``: give it a ``reachable_users`` attribute, a function
without arguments returning ``(user, stored phone)`` pairs (:func:`with_reachable_users`
sets it). The tools never guess from ``WHATSAPP_LOGIN_PHONE_FIELD`` for a custom
resolver: without the hook they say they cannot count.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import Any, TypeVar, cast

from django.contrib.auth import get_user_model
from django.utils.module_loading import import_string

from .conf import app_settings
from .exceptions import AmbiguousPhone, WhatsAppLoginImproperlyConfigured
from .phone import whatsapp_variants

logger = logging.getLogger("django_whatsapp_login")

Resolver = Callable[..., Any]
#: ``reachable_users()``: the ``(user, stored phone)`` pairs a resolver can log in.
ReachableUsers = Callable[[], Iterable[tuple[Any, Any]]]
_R = TypeVar("_R", bound=Resolver)


def with_reachable_users(lister: ReachableUsers) -> Callable[[_R], _R]:
    """Decorate a resolver with the function that lists the users it can find.

    ::

        def tenant_phones():
            return ((t.user, t.phone) for t in Tenant.objects.select_related("user"))

        @with_reachable_users(tenant_phones)
        def tenant_resolver(phone, **context): ...

    ``lister()`` returns an iterable of ``(user, phone)`` pairs, ``phone`` as stored (the
    tools check that it is E.164 and on one user only). It is the same as setting
    ``tenant_resolver.reachable_users = tenant_phones``.
    """

    def decorate(resolver: _R) -> _R:
        resolver.reachable_users = lister  # type: ignore[attr-defined]
        return resolver

    return decorate


def get_reachable_users() -> ReachableUsers | None:
    """The configured resolver's ``reachable_users`` hook, or ``None`` if it has none.

    The default resolver's hook lists the users with a ``WHATSAPP_LOGIN_PHONE_FIELD``.
    """
    hook = getattr(get_resolver(), "reachable_users", None)
    return cast(ReachableUsers, hook) if callable(hook) else None


def find_users(phone: str) -> list[Any]:
    """Users whose ``WHATSAPP_LOGIN_PHONE_FIELD`` holds ``phone`` or a WhatsApp variant.

    ``phone`` and its variants (Brazil's 9th digit, Mexico's ``521``/``52``, Argentina's
    ``549``/``54``; see :func:`~django_whatsapp_login.phone.whatsapp_variants`) are looked
    up in one indexed query, fetching at most two rows to tell "one" from "several".
    """
    user_model = get_user_model()
    field = app_settings.PHONE_FIELD
    variants = whatsapp_variants(phone)
    lookup = {field: phone} if len(variants) == 1 else {f"{field}__in": variants}
    return list(user_model._default_manager.filter(**lookup)[:2])


def default_resolver(phone: str, **context: Any) -> Any:
    """Exactly one user whose ``WHATSAPP_LOGIN_PHONE_FIELD`` holds ``phone``, else None.

    Zero or several matching users give ``None``: never "the first".
    """
    users = find_users(phone)
    if len(users) == 1:
        return users[0]
    if users:
        logger.warning("Several users share the phone of a login message; nobody is logged in")
    return None


def _field_reachable_users() -> Iterable[tuple[Any, Any]]:
    """The default resolver's hook: every user and the value of its phone field."""
    field = app_settings.PHONE_FIELD
    users = (
        get_user_model()
        ._default_manager.exclude(**{field: ""})
        .exclude(**{f"{field}__isnull": True})
    )
    return ((user, getattr(user, field)) for user in users.order_by("pk").iterator())


default_resolver.reachable_users = _field_reachable_users  # type: ignore[attr-defined]


def resolve(phone: str, **context: Any) -> tuple[Any, str]:
    """Run the configured resolver: ``(user, "")`` or ``(None, reason)``.

    The reason is ``"unknown_number"`` or ``"several_users"``. The default resolver's
    lookup is run here directly so that a shared number is recorded as such; a custom
    resolver reports one by raising :class:`AmbiguousPhone` (or just returns ``None``).
    """
    resolver = get_resolver()
    if resolver is default_resolver:
        users = find_users(phone)
        if len(users) > 1:
            logger.warning("Several users share the phone of a login message; nobody is logged in")
            return None, "several_users"
        return (users[0], "") if users else (None, "unknown_number")
    try:
        user = resolver(phone, **context)
    except AmbiguousPhone:
        return None, "several_users"
    return (user, "") if user is not None else (None, "unknown_number")


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
    # Its signature cannot be checked at runtime; a wrong one fails at the first login.
    return cast(Resolver, resolver)
