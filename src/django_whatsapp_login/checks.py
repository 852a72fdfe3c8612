"""System checks. Every id is listed in docs/checks.md and has a test.

Ids: whatsapp_login.E001 ... E010 (errors) and W001 ... W003 (warnings).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.apps import apps
from django.conf import settings
from django.core import checks

from .conf import MAX_ATTEMPT_TTL, app_settings
from .exceptions import WhatsAppLoginImproperlyConfigured
from .phone import InvalidPhoneNumber, normalize_phone

BACKEND = "django_whatsapp_login.backends.WhatsAppLoginBackend"
MIN_TOKEN_LENGTH = 32


def _tokens() -> tuple[list[str], checks.CheckMessage | None]:
    try:
        return app_settings.WEBHOOK_TOKENS, None
    except WhatsAppLoginImproperlyConfigured as err:
        return [], checks.Error(str(err), id="whatsapp_login.E009")


@checks.register(checks.Tags.security)
def check_webhook_token(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    tokens, error = _tokens()
    if error:
        return [error]
    if not tokens:
        return [
            checks.Warning(
                "WHATSAPP_LOGIN_WEBHOOK_TOKEN is not set: the webhook refuses every delivery (401).",
                hint="Set it to a random value (python -c \"import secrets; "
                "print(secrets.token_urlsafe(32))\") and the same value as the Webhook URL "
                "token of your Green API instance.",
                id="whatsapp_login.W001",
            )
        ]
    short = [t for t in tokens if len(t) < MIN_TOKEN_LENGTH]
    if short:
        return [
            checks.Warning(
                f"WHATSAPP_LOGIN_WEBHOOK_TOKEN has a value shorter than {MIN_TOKEN_LENGTH} "
                "characters.",
                hint="Use secrets.token_urlsafe(32) or longer.",
                id="whatsapp_login.W002",
            )
        ]
    return []


@checks.register(checks.Tags.security, deploy=True)
def check_deploy(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    tokens, error = _tokens()
    if not tokens and error is None:
        return [
            checks.Error(
                "WHATSAPP_LOGIN_WEBHOOK_TOKEN is not set; nobody can log in with WhatsApp.",
                hint="Set the same random value here and as the Green API Webhook URL token.",
                id="whatsapp_login.E010",
            )
        ]
    return []


@checks.register()
def check_settings(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    errors: list[checks.CheckMessage] = []
    phone = app_settings.BUSINESS_PHONE
    try:
        normalize_phone(phone)
    except InvalidPhoneNumber:
        errors.append(
            checks.Error(
                "WHATSAPP_LOGIN_BUSINESS_PHONE is missing or not an international number."
                if phone
                else "WHATSAPP_LOGIN_BUSINESS_PHONE is not set.",
                hint="Set it to your Green API instance's WhatsApp number, e.g. '+996 555 000 001'.",
                id="whatsapp_login.E001",
            )
        )
    try:
        ttl = app_settings.ATTEMPT_TTL
    except WhatsAppLoginImproperlyConfigured as err:
        errors.append(checks.Error(str(err), id="whatsapp_login.E006"))
    else:
        if not timedelta(seconds=10) <= ttl <= timedelta(seconds=MAX_ATTEMPT_TTL):
            errors.append(
                checks.Error(
                    f"WHATSAPP_LOGIN_ATTEMPT_TTL must be between 10 and {MAX_ATTEMPT_TTL} "
                    "seconds.",
                    hint="A login code is a single factor: keep it short-lived (default 180).",
                    id="whatsapp_login.E006",
                )
            )
    if app_settings.SANDBOX and not settings.DEBUG:
        errors.append(
            checks.Error(
                "WHATSAPP_LOGIN_SANDBOX is on while DEBUG is off: anyone could log in as "
                "anyone.",
                hint="Set WHATSAPP_LOGIN_SANDBOX = False in production.",
                id="whatsapp_login.E007",
            )
        )
    prefix = app_settings.MESSAGE_PREFIX
    if not prefix.strip() or len(prefix) > 40:
        errors.append(
            checks.Error(
                "WHATSAPP_LOGIN_MESSAGE_PREFIX must be 1 to 40 characters.",
                hint='For example "LOGIN" or "AMT LOGIN".',
                id="whatsapp_login.E008",
            )
        )
    return errors


@checks.register()
def check_resolver(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    from .conf import DEFAULT_RESOLVER
    from .resolvers import get_resolver

    try:
        get_resolver()
    except WhatsAppLoginImproperlyConfigured as err:
        return [
            checks.Error(
                str(err),
                hint="Point WHATSAPP_LOGIN_USER_RESOLVER at a function resolver(phone, **context).",
                id="whatsapp_login.E002",
            )
        ]
    if app_settings.USER_RESOLVER != DEFAULT_RESOLVER:
        return []
    from django.contrib.auth import get_user_model
    from django.core.exceptions import FieldDoesNotExist

    user_model = get_user_model()
    field_name = app_settings.PHONE_FIELD
    try:
        field = user_model._meta.get_field(field_name)
    except FieldDoesNotExist:
        return [
            checks.Error(
                f"The user model {user_model._meta.label} has no field {field_name!r} "
                "(WHATSAPP_LOGIN_PHONE_FIELD) for the default resolver.",
                hint="Add the field, set WHATSAPP_LOGIN_PHONE_FIELD, or set "
                "WHATSAPP_LOGIN_USER_RESOLVER to your own resolver.",
                id="whatsapp_login.E003",
            )
        ]
    if not (getattr(field, "db_index", False) or getattr(field, "unique", False)):
        return [
            checks.Warning(
                f"{user_model._meta.label}.{field_name} is not indexed; every login scans "
                "the user table.",
                hint="Add db_index=True (or unique=True) to the field.",
                id="whatsapp_login.W003",
            )
        ]
    return []


@checks.register()
def check_integration(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    errors: list[checks.CheckMessage] = []
    if BACKEND not in getattr(settings, "AUTHENTICATION_BACKENDS", []):
        errors.append(
            checks.Error(
                f"{BACKEND} is not in AUTHENTICATION_BACKENDS.",
                hint="Add it (and keep django.contrib.auth.backends.ModelBackend for passwords).",
                id="whatsapp_login.E004",
            )
        )
    middleware = getattr(settings, "MIDDLEWARE", []) or []
    if not apps.is_installed("django.contrib.sessions") and not any(
        "SessionMiddleware" in m for m in middleware
    ):
        errors.append(
            checks.Error(
                "The login is bound to the browser session, but sessions are not set up.",
                hint="Add django.contrib.sessions to INSTALLED_APPS and "
                "django.contrib.sessions.middleware.SessionMiddleware to MIDDLEWARE.",
                id="whatsapp_login.E005",
            )
        )
    elif not any("SessionMiddleware" in m for m in middleware):
        errors.append(
            checks.Error(
                "SessionMiddleware is not in MIDDLEWARE.",
                hint="Add django.contrib.sessions.middleware.SessionMiddleware to MIDDLEWARE.",
                id="whatsapp_login.E005",
            )
        )
    return errors
