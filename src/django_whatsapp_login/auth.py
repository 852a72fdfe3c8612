"""Fresh-login helpers for host apps: "did this user log in by WhatsApp a moment ago?"

Before a sensitive action (changing the e-mail, the phone, a payout address) ask for a
fresh WhatsApp confirmation::

    from django_whatsapp_login.auth import whatsapp_fresh_login_required

    @whatsapp_fresh_login_required(max_age=300)
    def change_email(request): ...

A request whose session logged in by WhatsApp less than ``max_age`` seconds ago goes
through; any other (an older login, a password login, an anonymous visitor) is sent to
the WhatsApp login page with ``?next=<this page>``: the same page, code and machinery as
a normal login. Sending the new code logs the session in again, which renews the time.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any, TypeVar, cast

from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponse
from django.shortcuts import resolve_url

from . import attempts

__all__ = ["whatsapp_fresh_login_required", "whatsapp_login_age", "whatsapp_login_time"]

View = TypeVar("View", bound=Callable[..., HttpResponse])


def whatsapp_login_time(request: HttpRequest) -> float | None:
    """Unix time at which this session's user logged in by WhatsApp, or None (not logged
    in, logged in another way, or the marker belongs to another user)."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return None
    marker = attempts.login_marker(request)
    if marker is None or marker["user"] != str(user.pk):
        return None
    return float(marker["at"])


def whatsapp_login_age(request: HttpRequest) -> float | None:
    """Seconds since this session's user logged in by WhatsApp, or None (see above)."""
    at = whatsapp_login_time(request)
    return None if at is None else max(0.0, time.time() - at)


def whatsapp_fresh_login_required(
    view: View | None = None,
    *,
    max_age: float | timedelta = 300,
    login_url: str | None = None,
) -> Any:
    """Require a WhatsApp login at most ``max_age`` seconds old (seconds or timedelta).

    Otherwise redirect to ``login_url`` (default: the ``whatsapp_login:login`` page) with
    ``?next=`` set to the current path. Use as ``@whatsapp_fresh_login_required`` or
    ``@whatsapp_fresh_login_required(max_age=60)``.
    """
    limit = max_age.total_seconds() if isinstance(max_age, timedelta) else float(max_age)

    def decorator(func: View) -> View:
        @functools.wraps(func)
        def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            age = whatsapp_login_age(request)
            if age is not None and age <= limit:
                return func(request, *args, **kwargs)
            return redirect_to_login(
                request.get_full_path(), resolve_url(login_url or "whatsapp_login:login")
            )

        return cast(View, wrapper)

    return decorator(view) if view is not None else decorator
