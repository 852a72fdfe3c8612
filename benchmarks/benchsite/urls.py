from django.contrib.staticfiles.views import serve
from django.urls import include, path, re_path
from sesame.views import LoginView as SesameLoginView

from django_whatsapp_login import views as whatsapp_views
from django_whatsapp_login import webhooks

from . import views

urlpatterns = [
    path("", views.home, name="home"),
    path("login", whatsapp_views.login_page, name="login"),
    path("whatsapp/", include("django_whatsapp_login.urls")),
    path("api/webhooks/greenapi/incoming/", webhooks.webhook_view),
    path("bench/bare/", views.bare),
    path("bench/session/", views.bare_session),
    path("accounts/", include("allauth.urls")),
    path("sesame/request/", views.sesame_request),
    path("sesame/login/", SesameLoginView.as_view()),
    # gunicorn serves no files; the login page needs its script (no WhiteNoise here either).
    re_path(r"^static/(?P<path>.*)$", serve, {"insecure": True}),
]
