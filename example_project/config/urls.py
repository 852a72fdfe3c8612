"""URLs of the example project, including the paths of the system it was extracted from."""

from __future__ import annotations

from core import views as core_views
from django.contrib import admin
from django.contrib.auth.views import LogoutView
from django.http import HttpRequest, HttpResponseRedirect
from django.templatetags.static import static
from django.urls import include, path

from django_whatsapp_login import views as whatsapp_views
from django_whatsapp_login import webhooks


def favicon(request: HttpRequest) -> HttpResponseRedirect:
    """Browsers ask for /favicon.ico on pages without <link rel=icon> (the admin)."""
    return HttpResponseRedirect(static("whatsapp_login/icon.svg"))


urlpatterns = [
    path("favicon.ico", favicon),
    path("", core_views.home, name="home"),
    # The login page at the project's own address; its scripts and forms talk to the
    # JSON endpoints included below (URL namespace "whatsapp_login").
    path("login", whatsapp_views.login_page, name="login"),
    path("logout", LogoutView.as_view(), name="logout"),
    path("whatsapp/", include("django_whatsapp_login.urls")),
    # The address configured as "Webhook URL" in the Green API console.
    path(
        "api/webhooks/greenapi/incoming/",
        webhooks.webhook_view,
        name="greenapi_webhook",
    ),
    path("admin/", admin.site.urls),
]
