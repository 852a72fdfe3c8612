"""The last step of a WhatsApp login: who logs the user in (``WHATSAPP_LOGIN_COMPLETE_LOGIN``).

By the time this runs, ``authenticate()`` has consumed a confirmed attempt bound to this
browser session and re-checked the user. The default step is Django's ``login()``. A site
that runs its logins through another pipeline (django-allauth's stages: MFA, e-mail
verification) points the setting at a function with this signature::

    def complete_login(request, user, *, attempt, redirect_url) -> HttpResponse | str | None

It answers ``None`` ("logged in, go to ``redirect_url``"), a URL (where the browser goes
next, e.g. the MFA form; the user may not be logged in yet), or a response: a redirect is
read as its URL, any other response is sent to the browser unchanged.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol, cast

from django.contrib.auth import login
from django.http import HttpResponse
from django.utils.module_loading import import_string

from .conf import app_settings
from .exceptions import WhatsAppLoginImproperlyConfigured

if TYPE_CHECKING:
    from django.contrib.auth.base_user import AbstractBaseUser
    from django.http import HttpRequest

    from .models import LoginAttempt


class CompleteLogin(Protocol):
    def __call__(
        self,
        request: HttpRequest,
        user: AbstractBaseUser,
        *,
        attempt: LoginAttempt,
        redirect_url: str,
    ) -> HttpResponse | str | None: ...


def django_login(
    request: HttpRequest,
    user: AbstractBaseUser,
    *,
    attempt: LoginAttempt,
    redirect_url: str,
) -> None:
    """The default: ``django.contrib.auth.login()`` (new session key, ``user_logged_in``)."""
    login(request, cast(Any, user))  # any user model, not only auth.User


def get_complete_login() -> CompleteLogin:
    path = app_settings.COMPLETE_LOGIN
    try:
        function = import_string(path)
    except ImportError as err:
        raise WhatsAppLoginImproperlyConfigured(
            f"WHATSAPP_LOGIN_COMPLETE_LOGIN={path!r} cannot be imported: {err}"
        ) from err
    if not callable(function):
        raise WhatsAppLoginImproperlyConfigured(
            f"WHATSAPP_LOGIN_COMPLETE_LOGIN={path!r} is not callable."
        )
    return function  # type: ignore[no-any-return]


def complete_login(
    request: HttpRequest,
    user: AbstractBaseUser,
    *,
    attempt: LoginAttempt,
    redirect_url: str,
) -> HttpResponse | str | None:
    """Run the configured step; a redirect response comes back as its URL."""
    answer = get_complete_login()(request, user, attempt=attempt, redirect_url=redirect_url)
    if isinstance(answer, HttpResponse) and 300 <= answer.status_code < 400:
        location = answer.get("Location")
        if location:
            return str(location)
    return answer
