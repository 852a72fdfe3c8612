"""The example project's phone-to-user resolver (WHATSAPP_LOGIN_USER_RESOLVER)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from django_whatsapp_login.resolvers import with_reachable_users

from .models import Tenant

if TYPE_CHECKING:
    from django.contrib.auth.base_user import AbstractBaseUser


def tenant_phones() -> Iterator[tuple[Any, str]]:
    """Who can log in, for whatsapp_login_check and whatsapp_login_audit_phones."""
    return ((t.user, t.phone) for t in Tenant.objects.select_related("user").iterator())


@with_reachable_users(tenant_phones)
def tenant_resolver(phone: str, **context: Any) -> AbstractBaseUser | None:
    """Return the user of the tenant whose phone is ``phone`` (E.164), else ``None``.

    Exactly one match logs in; none or several (impossible with the unique constraint,
    but never guess) give ``None`` and the attempt is rejected.
    """
    try:
        tenant = Tenant.objects.select_related("user").get(phone=phone)
    except (Tenant.DoesNotExist, Tenant.MultipleObjectsReturned):
        return None
    return tenant.user
