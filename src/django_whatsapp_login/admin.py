from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django import forms
from django.contrib import admin
from django.http import HttpRequest
from django.utils import timezone

from .models import KnownDevice, LoginAttempt, WhatsAppIdentity

if TYPE_CHECKING:
    # ModelAdmin is generic only in django-stubs, not at runtime.
    _ModelAdmin = admin.ModelAdmin[LoginAttempt]
    _IdentityAdmin = admin.ModelAdmin[WhatsAppIdentity]
    _DeviceAdmin = admin.ModelAdmin[KnownDevice]
else:
    _ModelAdmin = _IdentityAdmin = _DeviceAdmin = admin.ModelAdmin


@admin.register(LoginAttempt)
class LoginAttemptAdmin(_ModelAdmin):
    """Read-only audit view. Codes and binding secrets are never stored, so never shown."""

    list_display = (
        "id",
        "status",
        "reason",
        "purpose",
        "user",
        "sender_masked",
        "client_ip",
        "created_at",
        "closed_at",
    )
    list_filter = ("status", "reason", "purpose")
    search_fields = ("sender_masked",)
    date_hierarchy = "created_at"
    fields = (
        "status",
        "reason",
        "purpose",
        "user",
        "sender_masked",
        "created_at",
        "expires_at",
        "confirmed_at",
        "closed_at",
        "client_ip",
        "user_agent",
    )
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # The audit trail is purged by whatsapp_login_cleanup, not by hand.
        return False


class WhatsAppIdentityForm(forms.ModelForm):  # type: ignore[type-arg]
    """Reads the id the way :func:`~django_whatsapp_login.identities.parse_id` does and
    stores it in canonical form, so "+996 555 000 123" and "996555000123@c.us" are one id."""

    class Meta:
        model = WhatsAppIdentity
        fields = ("user", "value", "source")
        help_texts = {
            "value": "A phone number (+996555000123), a chat id (996555000123@c.us) or a "
            "LID (120650379300963@lid)."
        }

    def clean(self) -> dict[str, Any]:
        from .identities import InvalidIdentity, parse_id

        data: dict[str, Any] = super().clean() or {}
        value = data.get("value")
        if value:
            try:
                ident = parse_id(value)
            except InvalidIdentity as err:
                self.add_error("value", str(err))
                return data
            data["value"] = ident.value
            self.instance.kind = ident.kind
            duplicate = WhatsAppIdentity.objects.filter(kind=ident.kind, value=ident.value)
            if self.instance.pk:
                duplicate = duplicate.exclude(pk=self.instance.pk)
            if duplicate.exists():
                self.add_error("value", "This WhatsApp id already belongs to a user.")
        return data


@admin.register(WhatsAppIdentity)
class WhatsAppIdentityAdmin(_IdentityAdmin):
    """The WhatsApp ids users are known by. Values are shown masked in the list.

    An administrator may add one (source "admin") or delete one (the user can then no
    longer log in with it); the unique (kind, value) constraint refuses an id that already
    belongs to another user.
    """

    list_display = ("masked_value", "kind", "user", "source", "verified_at", "last_seen_at")
    list_filter = ("kind", "source")
    list_select_related = ("user",)
    raw_id_fields = ("user",)
    search_fields = ("value",)
    form = WhatsAppIdentityForm
    readonly_fields = ("kind", "created_at", "verified_at", "last_seen_at")
    fields = ("user", "value", "kind", "source", "created_at", "verified_at", "last_seen_at")

    @admin.display(description="id")
    def masked_value(self, obj: WhatsAppIdentity) -> str:
        return obj.masked_value

    def get_changeform_initial_data(self, request: HttpRequest) -> dict[str, Any]:
        return {"source": "admin", **super().get_changeform_initial_data(request)}

    def save_model(
        self, request: HttpRequest, obj: WhatsAppIdentity, form: Any, change: bool
    ) -> None:
        if not change and obj.verified_at is None:
            obj.verified_at = timezone.now()  # the administrator vouches for it
        super().save_model(request, obj, form, change)


@admin.register(KnownDevice)
class KnownDeviceAdmin(_DeviceAdmin):
    """Browsers users confirmed with YES. Deleting one (or all of a user's) makes that
    browser ask for YES again at its next login: the way to "forget devices"."""

    list_display = ("user", "label", "created_at", "last_used_at")
    search_fields = ("label",)
    readonly_fields = ("user", "label", "created_at", "last_used_at")
    list_select_related = ("user",)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
