from django.contrib import admin
from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.shortcuts import render
from django.urls import include, path
from django.views.decorators.cache import never_cache

from django_whatsapp_login import views, webhooks
from django_whatsapp_login.auth import whatsapp_fresh_login_required


@login_required
def home(request):
    return HttpResponse(f"Hello {request.user.username}")


@login_required
def rotate(request):
    """What a password change does: update_session_auth_hash() rotates the session key."""
    from django.contrib.auth import update_session_auth_hash

    update_session_auth_hash(request, request.user)
    return HttpResponse("rotated")


@whatsapp_fresh_login_required(max_age=300)
def sensitive(request):
    return HttpResponse(f"Sensitive action for {request.user.username}")


@never_cache
def embed(request):
    """A project's own login page with the widget next to a password form."""
    return render(request, "testapp/embed.html")


urlpatterns = [
    path("admin/", admin.site.urls),
    path("embed/", embed),
    path("rotate/", rotate),
    path("sensitive/", sensitive),
    path("login", views.login_page, name="login"),
    path("whatsapp/", include("django_whatsapp_login.urls")),
    path("api/webhooks/greenapi/incoming/", webhooks.webhook_view),
    path("", home, name="home"),
]
