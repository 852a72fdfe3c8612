from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.urls import include, path

from django_whatsapp_login import views, webhooks


@login_required
def home(request):
    return HttpResponse(f"Hello {request.user.username}")


urlpatterns = [
    path("login", views.login_page, name="login"),
    path("whatsapp/", include("django_whatsapp_login.urls")),
    path("api/webhooks/greenapi/incoming/", webhooks.webhook_view),
    path("", home, name="home"),
]
