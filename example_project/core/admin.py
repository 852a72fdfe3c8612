from __future__ import annotations

from django.contrib import admin

from .models import Tenant


@admin.register(Tenant)
class TenantAdmin(admin.ModelAdmin):
    list_display = ["name", "phone", "user"]
    list_select_related = ["user"]
    search_fields = ["name", "phone", "user__username"]
    raw_id_fields = ["user"]
