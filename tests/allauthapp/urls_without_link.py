"""The allauth test site with the WhatsApp URLs mounted without the link page (a site that
mounts only some of them): the account pages must then leave the link out (check W041)."""

from django.urls import include, path

from django_whatsapp_login import urls as whatsapp_urls

from .urls import urlpatterns as allauth_urlpatterns

_without_link = [p for p in whatsapp_urls.urlpatterns if not str(p.name or "").startswith("link")]

urlpatterns = [
    path("whatsapp/", include((_without_link, "whatsapp_login"))),
    *[p for p in allauth_urlpatterns if "whatsapp" not in str(p.pattern)],
]
