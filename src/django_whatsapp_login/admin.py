from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.contrib import admin
from django.http import HttpRequest

from .models import LoginAttempt

if TYPE_CHECKING:
    # ModelAdmin is generic only in django-stubs, not at runtime.
    _ModelAdmin = admin.ModelAdmin[LoginAttempt]
else:
    _ModelAdmin = admin.ModelAdmin


@admin.register(LoginAttempt)
class LoginAttemptAdmin(_ModelAdmin):
    """Read-only audit view. Codes and binding secrets are never stored, so never shown."""

    list_display = (
        "id",
        "status",
        "reason",
        "user",
        "sender_masked",
        "client_ip",
        "created_at",
        "closed_at",
    )
    list_filter = ("status", "reason")
    search_fields = ("sender_masked",)
    date_hierarchy = "created_at"
    fields = (
        "status",
        "reason",
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
