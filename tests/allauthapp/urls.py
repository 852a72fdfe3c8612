from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.urls import include, path


@login_required
def home(request):
    return HttpResponse(f"Hello {request.user.username}")


urlpatterns = [
    path("accounts/", include("allauth.urls")),
    path("whatsapp/", include("django_whatsapp_login.urls")),
    path("", home, name="home"),
]
