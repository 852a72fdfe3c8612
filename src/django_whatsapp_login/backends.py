from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.contrib.auth.backends import ModelBackend

if TYPE_CHECKING:
    from django.contrib.auth.base_user import AbstractBaseUser
    from django.http import HttpRequest


class WhatsAppLoginBackend(ModelBackend):
    """Authenticates a confirmed :class:`~django_whatsapp_login.models.LoginAttempt`.

    ``authenticate()`` takes one distinctive keyword, ``whatsapp_login_attempt``, and no
    ``**kwargs``: Django only calls a backend whose signature accepts the credentials, so a
    password form never reaches this one, and there is no way to pass a bare phone number.
    The attempt must be confirmed, unexpired and bound to ``request``'s session; the user
    is re-checked with ``user_can_authenticate()`` at this moment, and the attempt is
    consumed atomically, so it logs in at most once.
    """

    def authenticate(  # type: ignore[override]
        self, request: HttpRequest | None, whatsapp_login_attempt: Any
    ) -> AbstractBaseUser | None:
        from . import attempts
        from .models import LoginAttempt, Purpose, Status

        attempt = whatsapp_login_attempt
        if request is None or not isinstance(attempt, LoginAttempt) or attempt.pk is None:
            return None
        if not hasattr(request, "session") or not attempts.session_binds(request, attempt):
            return None
        if attempt.status != Status.CONFIRMED or attempt.is_expired():
            return None
        if attempt.purpose != Purpose.LOGIN:  # a link attempt never logs anyone in
            return None
        return attempts.consume(attempt, self.user_can_authenticate)
