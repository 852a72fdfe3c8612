"""Known devices: browsers a user already confirmed a WhatsApp login from.

With ``WHATSAPP_LOGIN_CONFIRM = "new_device"`` (the default) a login from a browser this
user has never confirmed is asked for YES in WhatsApp first; see ``attempts.py``. A browser
is recognised by a random id (256 bits) in a long-lived cookie:

- signed with Django's ``signing`` (salted), so a made-up value is refused without a query;
- ``HttpOnly`` (page scripts, including injected ones, cannot read it), ``SameSite=Lax``
  and, on https, ``__Host-`` prefixed and ``Secure``: a sibling subdomain can neither read
  nor plant it;
- only its SHA-256 is stored, on the attempt the browser creates and in
  :class:`~django_whatsapp_login.models.KnownDevice` once the user confirmed it.

A copied cookie would let its thief skip the question for that user (not log in: the code
must still come from the user's WhatsApp), which is why the id never leaves the browser and
devices expire (``WHATSAPP_LOGIN_KNOWN_DEVICE_TTL``). To make browsers ask again, delete
their rows: :func:`forget` (for example when the user changes their phone number or
password), or the admin's "Known devices" page.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from django.core import signing
from django.db import connections, router
from django.utils import timezone

from .conf import app_settings
from .models import KnownDevice

if TYPE_CHECKING:
    from django.contrib.auth.base_user import AbstractBaseUser
    from django.http import HttpRequest

    from .models import LoginAttempt

#: The cookie on https: ``__Host-`` makes browsers refuse it from any other host.
DEVICE_COOKIE = "__Host-whatsapp_login_device"
#: The cookie on plain http (development, tests), where browsers refuse ``__Host-`` cookies.
INSECURE_DEVICE_COOKIE = "whatsapp_login_device"
_SALT = "django_whatsapp_login.device"
_PENDING_ATTR = "_whatsapp_login_device_cookie"


def cookie_name(request: HttpRequest) -> str:
    return DEVICE_COOKIE if request.is_secure() else INSECURE_DEVICE_COOKIE


def _hash(device_id: str) -> str:
    return hashlib.sha256(device_id.encode("ascii")).hexdigest()


def _read(request: HttpRequest) -> str | None:
    value = request.COOKIES.get(cookie_name(request), "")
    if not value or len(value) > 256:
        return None
    try:
        device_id = signing.Signer(salt=_SALT).unsign(value)
    except signing.BadSignature:
        return None
    return device_id if device_id.isascii() else None


def device_hash_for(request: HttpRequest) -> str:
    """The hash of this browser's device id, making a new id (sent as the cookie by
    :func:`attach_cookie`) when the browser has none or a forged one."""
    device_id = _read(request)
    if device_id is None:
        device_id = secrets.token_urlsafe(32)
        setattr(request, _PENDING_ATTR, device_id)
    return _hash(device_id)


def attach_cookie(request: HttpRequest, response: Any) -> Any:
    """Put a device id that this request made on ``response`` (no-op otherwise)."""
    device_id = getattr(request, _PENDING_ATTR, None)
    if not device_id:
        return response
    response.set_cookie(
        cookie_name(request),
        signing.Signer(salt=_SALT).sign(device_id),
        max_age=int(app_settings.KNOWN_DEVICE_TTL.total_seconds()),
        path="/",
        secure=request.is_secure(),
        httponly=True,
        samesite="Lax",
    )
    setattr(request, _PENDING_ATTR, None)
    return response


def is_known(user: AbstractBaseUser, device_hash: str) -> bool:
    """``device_hash`` is a browser ``user`` confirmed within the TTL. One query."""
    if not device_hash:
        return False
    since = timezone.now() - app_settings.KNOWN_DEVICE_TTL
    return KnownDevice.objects.filter(
        user_id=user.pk, device_hash=device_hash, last_used_at__gte=since
    ).exists()


def needs_confirmation(attempt: LoginAttempt, user: AbstractBaseUser) -> bool:
    """Must the login of ``attempt`` by ``user`` be confirmed with YES in WhatsApp?"""
    if not app_settings.CONFIRMATION_ENABLED:
        return False
    if app_settings.CONFIRM == "always":
        return True
    return not is_known(user, attempt.device_hash)


def remember(
    attempt: LoginAttempt, user: AbstractBaseUser, label: str | Callable[[], str] = ""
) -> None:
    """After a login from ``attempt``'s browser: keep (or renew) it as ``user``'s known
    device. Only while confirmations are on, so switching them on later asks everyone once.

    ``label`` may be a function that makes it: then it runs only when a device is stored
    (``consume`` passes one, so a login without confirmations never parses the User-Agent).
    """
    if not (attempt.device_hash and app_settings.CONFIRMATION_ENABLED):
        return
    if callable(label):
        label = label()
    now = timezone.now()
    using = router.db_for_write(KnownDevice)
    if connections[using].features.supports_update_conflicts_with_target:
        # One statement (INSERT ... ON CONFLICT DO UPDATE): a new row, or the known one
        # renewed; two logins from one browser at once still keep one row.
        KnownDevice.objects.using(using).bulk_create(
            [
                KnownDevice(
                    user_id=user.pk,
                    device_hash=attempt.device_hash,
                    label=label[:128],
                    created_at=now,
                    last_used_at=now,
                )
            ],
            update_conflicts=True,
            unique_fields=["user", "device_hash"],
            update_fields=["last_used_at"],
        )
        return
    updated = KnownDevice.objects.filter(user_id=user.pk, device_hash=attempt.device_hash).update(
        last_used_at=now
    )
    if not updated:
        # Two logins from one browser at once: the unique constraint keeps one row.
        KnownDevice.objects.get_or_create(
            user_id=user.pk,
            device_hash=attempt.device_hash,
            defaults={"label": label[:128], "created_at": now, "last_used_at": now},
        )


def forget(user: AbstractBaseUser) -> int:
    """Forget every known device of ``user`` (their next login from each asks for YES).
    Returns how many were forgotten."""
    deleted, _ = KnownDevice.objects.filter(user_id=user.pk).delete()
    return deleted


__all__ = [
    "DEVICE_COOKIE",
    "INSECURE_DEVICE_COOKIE",
    "attach_cookie",
    "device_hash_for",
    "forget",
    "is_known",
    "needs_confirmation",
    "remember",
]
