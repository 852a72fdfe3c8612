"""The test URLconf plus Django's default LOGIN_REDIRECT_URL, routed (whatsapp_login.W010)."""

from django.http import HttpResponse
from django.urls import path

from .urls import urlpatterns as base

urlpatterns = [path("accounts/profile/", lambda request: HttpResponse("profile")), *base]
