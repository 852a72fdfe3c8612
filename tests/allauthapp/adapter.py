"""The account adapter a site writes: allauth's phone storage, plus the WhatsApp mixin."""

from __future__ import annotations

from typing import Any

from allauth.account.adapter import DefaultAccountAdapter
from django.core.exceptions import MultipleObjectsReturned

from django_whatsapp_login.contrib.allauth.adapter import WhatsAppAdapterMixin

from .models import PhoneNumber


class AccountAdapter(WhatsAppAdapterMixin, DefaultAccountAdapter):
    def set_phone(self, user: Any, phone: str, verified: bool) -> None:
        PhoneNumber.objects.update_or_create(
            user=user, defaults={"phone": phone, "verified": verified}
        )

    def get_phone(self, user: Any) -> tuple[str, bool] | None:
        row = PhoneNumber.objects.filter(user=user).first()
        return (row.phone, row.verified) if row else None

    def set_phone_verified(self, user: Any, phone: str) -> None:
        PhoneNumber.objects.filter(user=user, phone=phone).update(verified=True)

    def get_user_by_phone(self, phone: str) -> Any:
        rows = list(PhoneNumber.objects.filter(phone=phone).select_related("user")[:2])
        if len(rows) > 1:
            raise MultipleObjectsReturned(phone)
        return rows[0].user if rows else None


class WrongOrderAdapter(DefaultAccountAdapter, WhatsAppAdapterMixin):
    """A misconfiguration the checks catch (whatsapp_login.E044)."""
