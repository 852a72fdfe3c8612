"""``RevocationMiddleware``: a "NO" in WhatsApp ends the session it answers, on its next request.

Add it to ``MIDDLEWARE`` after ``SessionMiddleware`` and ``AuthenticationMiddleware``::

    "django.contrib.sessions.middleware.SessionMiddleware",
    ...
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django_whatsapp_login.middleware.RevocationMiddleware",

A session that a WhatsApp login created carries the attempt's id (the revocation marker,
``attempts.LOGIN_SESSION_KEY``). On each request of such a session the middleware makes one
primary-key query for "was this login signed out?"; if it was, it logs the session out
(``django.contrib.auth.logout``) before the view runs. Because the marker travels with the
session data, this works after the key was rotated (``cycle_key()``, what
``update_session_auth_hash()`` does) and with signed-cookie sessions, which the server
cannot delete. Requests without a session cookie, or whose session did not log in with
WhatsApp, cost nothing more than reading the session the auth middleware reads anyway.

It also sends the browser-binding cookie of a login attempt made while rendering a page
of your own (the ``{% whatsapp_login_widget %}`` tag).
"""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.contrib.auth import logout
from django.http import HttpRequest, HttpResponse

from . import attempts


class RevocationMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if settings.SESSION_COOKIE_NAME in request.COOKIES and hasattr(request, "session"):
            marker = attempts.login_marker(request)
            if marker is not None and attempts.is_revoked(marker["attempt"]):
                logout(request)
        response = self.get_response(request)
        return attempts.attach_binding_cookie(request, response)  # type: ignore[no-any-return]
