"""Finish a WhatsApp login through django-allauth's login pipeline.

``WHATSAPP_LOGIN_COMPLETE_LOGIN = "django_whatsapp_login.contrib.allauth.login.complete_login"``

By now our backend has consumed the confirmed attempt and re-checked the user; allauth then
runs what it runs after any first factor: ``pre_login``, its login stages (login by code if
``ACCOUNT_LOGIN_BY_CODE_REQUIRED``, phone and e-mail verification, the MFA form, "trust this
browser"), ``login()``, ``post_login`` (its ``user_logged_in`` signal, the "Successfully
signed in" message, ``ACCOUNT_LOGIN_REDIRECT_URL``). When a stage needs the user, the user is
*not* logged in yet: allauth keeps the pending login in the session and the browser is sent
to the stage's page.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

# isort: off
from . import _require  # noqa: F401  (first: a clear error when allauth is missing)

# isort: on
from allauth.account.utils import perform_login
from django.http import HttpResponse, JsonResponse
from django.utils.translation import gettext as _

if TYPE_CHECKING:
    from django.contrib.auth.base_user import AbstractBaseUser
    from django.http import HttpRequest

    from ...models import LoginAttempt


def complete_login(
    request: HttpRequest,
    user: AbstractBaseUser,
    *,
    attempt: LoginAttempt,
    redirect_url: str,
) -> HttpResponse | str | None:
    """Hand the authenticated user to allauth's ``perform_login``.

    Returns allauth's answer: a redirect (to ``redirect_url`` when the login is complete, or
    to the pending stage's page, e.g. ``/accounts/2fa/authenticate/``), which the
    ``complete`` endpoint passes on as ``{"redirect": url}``. With
    ``HEADLESS_ONLY = True`` allauth has no page for a pending stage; the answer is then
    ``401 {"error": "login_stage_pending"}`` and the single-page app continues with allauth's
    headless API (its session endpoint lists the pending flow).
    """
    # e-mail verification: None means allauth's ACCOUNT_EMAIL_VERIFICATION policy.
    response: HttpResponse = perform_login(request, user, redirect_url=redirect_url)
    if 300 <= response.status_code < 400:
        return response
    if response.status_code >= 500 and not getattr(request.user, "is_authenticated", False):
        # HEADLESS_ONLY: allauth answers a placeholder 500 where a page would be.
        return JsonResponse(
            {
                "error": "login_stage_pending",
                "status_message": _("Confirm this login in the app to continue."),
            },
            status=401,
        )
    return response
