from django.contrib import admin
from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.shortcuts import render
from django.urls import include, path
from django.views.decorators.cache import never_cache

from django_whatsapp_login import views, webhooks


@login_required
def home(request):
    return HttpResponse(f"Hello {request.user.username}")


@never_cache
def embed(request):
    """A project's own login page with the widget next to a password form."""
    return render(request, "testapp/embed.html")


urlpatterns = [
    path("admin/", admin.site.urls),
    path("embed/", embed),
    path("login", views.login_page, name="login"),
    path("whatsapp/", include("django_whatsapp_login.urls")),
    path("api/webhooks/greenapi/incoming/", webhooks.webhook_view),
    path("", home, name="home"),
]
