from __future__ import annotations

from django.urls import path

from . import events, fallback, link, views, webhooks

app_name = "whatsapp_login"

urlpatterns = [
    path("", views.login_page, name="login"),
    path("start/", views.start, name="start"),
    path("status/", views.status, name="status"),
    path("events/", events.events, name="events"),
    path("complete/", views.complete, name="complete"),
    path("lid-fallback/", fallback.lid_fallback, name="lid_fallback"),
    path("link/", link.link_page, name="link"),
    path("link/start/", link.link_start, name="link_start"),
    path("link/unlink/", link.link_unlink, name="link_unlink"),
    path("webhook/", webhooks.webhook_view, name="webhook"),
    path("sandbox/", views.sandbox, name="sandbox"),
]
