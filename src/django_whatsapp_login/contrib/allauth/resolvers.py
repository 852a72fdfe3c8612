"""A resolver that finds the user of a login message through django-allauth's phone storage.

Set ``WHATSAPP_LOGIN_USER_RESOLVER`` to
``"django_whatsapp_login.contrib.allauth.resolvers.allauth_phone_resolver"``.
"""

from __future__ import annotations

from typing import Any

# isort: off
from . import _require  # noqa: F401  (first: a clear error when allauth is missing)

# isort: on
from allauth.account import app_settings as account_settings
from allauth.account.adapter import get_adapter
from django.core.exceptions import MultipleObjectsReturned

from ...exceptions import AmbiguousPhone
from ...phone import whatsapp_variants


def allauth_phone_resolver(phone: str, **context: Any) -> Any:
    """The one user allauth's adapter finds for ``phone`` (``get_user_by_phone``), else None.

    Every WhatsApp form of the number is asked
    (:func:`~django_whatsapp_login.phone.whatsapp_variants`); two different users, or an
    adapter raising ``MultipleObjectsReturned``, mean nobody
    (:class:`~django_whatsapp_login.exceptions.AmbiguousPhone`): never "the first". With
    ``ACCOUNT_PHONE_VERIFICATION_ENABLED`` (allauth's default) the number must be verified
    in allauth (``adapter.get_phone(user)``): anyone can type someone else's number at
    signup, and that must not make the number's owner log in to the typist's account.
    """
    adapter = get_adapter(context.get("request"))
    found: dict[Any, tuple[Any, str]] = {}
    for variant in whatsapp_variants(phone):
        try:
            user = adapter.get_user_by_phone(variant)
        except MultipleObjectsReturned:
            raise AmbiguousPhone(phone) from None
        if user is not None:
            found.setdefault(user.pk, (user, variant))
    if len(found) > 1:
        raise AmbiguousPhone(phone)
    if not found:
        return None
    user, variant = next(iter(found.values()))
    if account_settings.PHONE_VERIFICATION_ENABLED:
        stored = adapter.get_phone(user)
        if stored is None or stored[0] != variant or not stored[1]:
            return None
    return user
