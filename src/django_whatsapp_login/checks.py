"""System checks. Every id is listed in docs/checks.md and has a test.

Ids: whatsapp_login.E001 ... E016, E020 and E040 (errors), W001 ... W004, W010 ... W014
and W040 (warnings); E041 ... E047 and W041 are the django-allauth integration's
(contrib/allauth/checks.py); E030 ... E032 are the push channel's (live.py); E033 is the
gateway setting's.
"""

from __future__ import annotations

import os
from datetime import timedelta
from typing import Any

from django.apps import apps
from django.conf import settings
from django.core import checks

from . import ratelimit
from .conf import MAX_ATTEMPT_TTL, app_settings
from .exceptions import WhatsAppLoginImproperlyConfigured
from .gateways import gateway_class
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
                "WHATSAPP_LOGIN_WEBHOOK_TOKEN is not set: "
                "the webhook refuses every delivery (401).",
                hint='Set it to a random value (python -c "import secrets; '
                'print(secrets.token_urlsafe(32))") and the same value as the Webhook URL '
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


RATE_LIMIT_SETTINGS = (
    "RATE_LIMIT_START",
    "RATE_LIMIT_STATUS",
    "RATE_LIMIT_CONFIRM",
    "RATE_LIMIT_FAILED",
    "RATE_LIMIT_LID_FALLBACK",
    "RATE_LIMIT_WEBHOOK_UNAUTHORIZED",
)
PER_PROCESS_CACHES = (
    "django.core.cache.backends.locmem.LocMemCache",
    "django.core.cache.backends.dummy.DummyCache",
)


@checks.register(checks.Tags.security, deploy=True)
def check_deploy(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    messages: list[checks.CheckMessage] = []
    tokens, error = _tokens()
    if not tokens and error is None:
        messages.append(
            checks.Error(
                "WHATSAPP_LOGIN_WEBHOOK_TOKEN is not set; nobody can log in with WhatsApp.",
                hint="Set the same random value here and as the Green API Webhook URL token.",
                id="whatsapp_login.E010",
            )
        )
    if app_settings.SANDBOX:
        messages.append(
            checks.Error(
                "WHATSAPP_LOGIN_SANDBOX is on: its form logs anyone in as any phone number.",
                hint="Set WHATSAPP_LOGIN_SANDBOX = False in production.",
                id="whatsapp_login.E012",
            )
        )
    disabled = [name for name in RATE_LIMIT_SETTINGS if not getattr(app_settings, name).strip()]
    if disabled:
        messages.append(
            checks.Error(
                "Rate limits are disabled: "
                + ", ".join("WHATSAPP_LOGIN_" + name for name in disabled)
                + ".",
                hint="Remove the override to use the defaults, or set your own limits.",
                id="whatsapp_login.E013",
            )
        )
    backend = settings.CACHES.get("default", {}).get("BACKEND", "")
    if backend in PER_PROCESS_CACHES:
        messages.append(
            checks.Warning(
                f"The default cache ({backend.rsplit('.', 1)[-1]}) is per process: rate limits "
                "do not hold across server processes.",
                hint="Use a shared cache for 'default' (Redis, Memcached or the database cache).",
                id="whatsapp_login.W004",
            )
        )
    return messages


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
                hint="Set it to your Green API instance's WhatsApp number, "
                "e.g. '+996 555 000 001'.",
                id="whatsapp_login.E001",
            )
        )
    try:
        ttl = app_settings.CONFIGURED_ATTEMPT_TTL
    except WhatsAppLoginImproperlyConfigured as err:
        errors.append(checks.Error(str(err), id="whatsapp_login.E006"))
    else:
        if not timedelta(seconds=10) <= ttl <= timedelta(seconds=MAX_ATTEMPT_TTL):
            errors.append(
                checks.Error(
                    f"WHATSAPP_LOGIN_ATTEMPT_TTL must be between 10 and {MAX_ATTEMPT_TTL} seconds.",
                    hint="A login code is a single factor: keep it short-lived (default 180).",
                    id="whatsapp_login.E006",
                )
            )
    if app_settings.SANDBOX and not settings.DEBUG:
        errors.append(
            checks.Error(
                "WHATSAPP_LOGIN_SANDBOX is on while DEBUG is off: anyone could log in as anyone.",
                hint="Set WHATSAPP_LOGIN_SANDBOX = False in production.",
                id="whatsapp_login.E007",
            )
        )
    for name in RATE_LIMIT_SETTINGS:
        try:
            ratelimit.parse(getattr(app_settings, name))
        except ratelimit.InvalidRateLimit as err:
            errors.append(
                checks.Error(
                    f"WHATSAPP_LOGIN_{name}: {err}",
                    hint='Write rules like "20/m/ip,5/m/session" (amount/period/key).',
                    id="whatsapp_login.E011",
                )
            )
    try:
        proxies = app_settings.TRUSTED_PROXY_COUNT
    except (TypeError, ValueError):
        proxies = -1
    if proxies < 0:
        errors.append(
            checks.Error(
                "WHATSAPP_LOGIN_TRUSTED_PROXY_COUNT must be a whole number >= 0.",
                hint="The number of reverse proxies in front of Django (0 without one).",
                id="whatsapp_login.E014",
            )
        )
    if app_settings.DEFAULT_REGION:
        try:
            import phonenumbers  # noqa: F401
        except ImportError:
            errors.append(
                checks.Error(
                    "WHATSAPP_LOGIN_DEFAULT_REGION needs the 'phonenumbers' package.",
                    hint="pip install 'django-whatsapp-login[phonenumbers]'",
                    id="whatsapp_login.E015",
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


#: Django's default LOGIN_REDIRECT_URL: a 404 in a project that never routed it.
DJANGO_DEFAULT_REDIRECT = "/accounts/profile/"
#: What the login page loads; collectstatic puts these under STATIC_ROOT.
STATIC_FILES = ("whatsapp_login/whatsapp_login.js", "whatsapp_login/whatsapp_login.css")


@checks.register(checks.Tags.urls)
def check_redirect_target(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    """W010: a WhatsApp login would end on Django's default /accounts/profile/, a 404."""
    from django.urls import Resolver404, resolve

    target = app_settings.REDIRECT_URL
    if target != DJANGO_DEFAULT_REDIRECT:
        return []  # set on purpose: a URL name, another path or an absolute URL
    try:
        resolve(target)
    except Resolver404:
        pass
    except Exception:
        return []
    else:
        return []
    return [
        checks.Warning(
            "After a WhatsApp login the browser goes to LOGIN_REDIRECT_URL, which is Django's "
            f"default {DJANGO_DEFAULT_REDIRECT}, and no URL pattern matches it: the login "
            "ends on a 404.",
            hint='Set LOGIN_REDIRECT_URL (e.g. "/" or a URL name) or '
            "WHATSAPP_LOGIN_REDIRECT_URL to a page of your site.",
            id="whatsapp_login.W010",
        )
    ]


@checks.register(checks.Tags.security, deploy=True)
def check_revocation_middleware(
    app_configs: Any = None, **kwargs: Any
) -> list[checks.CheckMessage]:
    """W013: login notices invite "Reply NO", but nothing ends a rotated or cookie session."""
    from .attempts import REVOCATION_MIDDLEWARE

    if not app_settings.NOTICES_ENABLED or REVOCATION_MIDDLEWARE in settings.MIDDLEWARE:
        return []
    return [
        checks.Warning(
            'Login notices say "Not you? Reply NO", but RevocationMiddleware is not in '
            "MIDDLEWARE: a NO cannot end a session whose key was rotated after login "
            "(update_session_auth_hash) or a signed-cookie session.",
            hint=f'Add "{REVOCATION_MIDDLEWARE}" after AuthenticationMiddleware.',
            id="whatsapp_login.W013",
        )
    ]


@checks.register()
def check_static_root(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    """W011: DEBUG off, files stored under STATIC_ROOT, and STATIC_ROOT unset."""
    if settings.DEBUG or not apps.is_installed("django.contrib.staticfiles"):
        return []
    if getattr(settings, "STATIC_ROOT", None):
        return []
    if _static_storage_class_is_filesystem() is False:
        return []  # S3, a CDN...: STATIC_ROOT is not where the files go
    return [
        checks.Warning(
            "DEBUG is off and STATIC_ROOT is not set: collectstatic has nowhere to put the "
            "login page's script and style sheet, and Django does not serve static files "
            "with DEBUG off. The page loses its styles, its automatic login and shows a "
            "huge QR code.",
            hint="Set STATIC_ROOT, run manage.py collectstatic, and serve STATIC_ROOT at "
            "STATIC_URL (WhiteNoise, or your web server).",
            id="whatsapp_login.W011",
        )
    ]


def _static_storage_class_is_filesystem() -> bool | None:
    """Whether the configured staticfiles storage is a FileSystemStorage (None: unknown)."""
    from django.core.files.storage import FileSystemStorage
    from django.utils.module_loading import import_string

    storages = getattr(settings, "STORAGES", None) or {}
    default = "django.contrib.staticfiles.storage.StaticFilesStorage"
    path = str(
        (storages.get("staticfiles") or {}).get("BACKEND")
        or getattr(settings, "STATICFILES_STORAGE", default)
    )
    try:
        storage_class = import_string(path)
    except ImportError:
        return None
    return isinstance(storage_class, type) and issubclass(storage_class, FileSystemStorage)


@checks.register(deploy=True)
def check_static_collected(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    """W012 (deploy): STATIC_ROOT is set but the app's files are not in it on this machine."""
    root = getattr(settings, "STATIC_ROOT", None)
    if settings.DEBUG or not root or not apps.is_installed("django.contrib.staticfiles"):
        return []
    if not _static_storage_class_is_filesystem():
        return []
    missing = [name for name in STATIC_FILES if not os.path.isfile(os.path.join(root, name))]
    if not missing:
        return []
    return [
        checks.Warning(
            f"{', '.join(missing)} {'is' if len(missing) == 1 else 'are'} not in STATIC_ROOT "
            f"({root}): collectstatic has not run since the app was installed or updated, "
            "and the login page would load without its script and style sheet.",
            hint="Run manage.py collectstatic --noinput as part of each deploy. Ignore this "
            "(SILENCED_SYSTEM_CHECKS) only if STATIC_ROOT is filled on another machine.",
            id="whatsapp_login.W012",
        )
    ]


@checks.register(checks.Tags.security)
def check_green_api_url(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    """E020: WHATSAPP_LOGIN_GREEN_API_URL is plain http to a host other than loopback."""
    from .gateways.greenapi.client import GreenAPIClient

    problem = GreenAPIClient.url_problem(app_settings.GREEN_API_URL)
    if not problem:
        return []
    return [
        checks.Error(
            f"WHATSAPP_LOGIN_GREEN_API_URL: {problem}.",
            hint="Use the instance's https apiUrl from the Green API console "
            "(plain http is accepted only for localhost / 127.0.0.1).",
            id="whatsapp_login.E020",
        )
    ]


ALLAUTH_COMPLETE_LOGIN = "django_whatsapp_login.contrib.allauth.login.complete_login"


@checks.register(checks.Tags.security)
def check_complete_login(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    from .completion import get_complete_login
    from .conf import DEFAULT_COMPLETE_LOGIN

    try:
        get_complete_login()
    except WhatsAppLoginImproperlyConfigured as err:
        return [
            checks.Error(
                str(err),
                hint="Point WHATSAPP_LOGIN_COMPLETE_LOGIN at a function "
                "complete_login(request, user, *, attempt, redirect_url), or remove it.",
                id="whatsapp_login.E040",
            )
        ]
    # Only the app registry is asked: this module never imports allauth.
    if apps.is_installed("allauth.account") and app_settings.COMPLETE_LOGIN == (
        DEFAULT_COMPLETE_LOGIN
    ):
        return [
            checks.Warning(
                "django-allauth is installed, but WhatsApp logins finish with Django's "
                "login(): they skip allauth's login stages (MFA, e-mail verification).",
                hint=f'Set WHATSAPP_LOGIN_COMPLETE_LOGIN = "{ALLAUTH_COMPLETE_LOGIN}" and add '
                '"django_whatsapp_login.contrib.allauth" to INSTALLED_APPS (docs/allauth.md).',
                id="whatsapp_login.W040",
            )
        ]
    return []


@checks.register(checks.Tags.security)
def check_confirm(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    """E016: WHATSAPP_LOGIN_CONFIRM is not one of its values (it then acts as "always")."""
    from .conf import CONFIRM_MODES

    raw = getattr(settings, "WHATSAPP_LOGIN_CONFIRM", "new_device")
    if isinstance(raw, str) and raw.strip().lower() in CONFIRM_MODES:
        return []
    return [
        checks.Error(
            f"WHATSAPP_LOGIN_CONFIRM is {raw!r}: every login is asked for YES in WhatsApp "
            "until it is one of " + ", ".join(f'"{mode}"' for mode in CONFIRM_MODES) + ".",
            hint='Set WHATSAPP_LOGIN_CONFIRM = "new_device" (the default), "always" or "never".',
            id="whatsapp_login.E016",
        )
    ]


def _sending_settings() -> str:
    if app_settings.GATEWAY == "cloudapi":
        return "WHATSAPP_LOGIN_CLOUD_API_ACCESS_TOKEN and WHATSAPP_LOGIN_CLOUD_API_PHONE_NUMBER_ID"
    return "WHATSAPP_LOGIN_GREEN_API_ID_INSTANCE and WHATSAPP_LOGIN_GREEN_API_TOKEN"


@checks.register()
def check_gateway(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    """E033: WHATSAPP_LOGIN_GATEWAY names no gateway."""
    try:
        gateway_class()
    except WhatsAppLoginImproperlyConfigured as err:
        return [
            checks.Error(
                str(err),
                hint='Use "greenapi" (the default), "cloudapi" or the dotted path of a '
                "django_whatsapp_login.gateways.Gateway subclass.",
                id="whatsapp_login.E033",
            )
        ]
    return []


@checks.register(checks.Tags.security, deploy=True)
def check_confirm_possible(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    """W014: confirmations are wanted but no question can be sent (no gateway credentials)."""
    if app_settings.CONFIRM == "never" or app_settings.CAN_SEND:
        return []
    return [
        checks.Warning(
            f'WHATSAPP_LOGIN_CONFIRM is "{app_settings.CONFIRM}", but without '
            f"{_sending_settings()} no YES/NO question can be sent: logins are confirmed "
            "without asking, so a relayed code (cross-device phishing) logs its relayer in.",
            hint="Set them (docs/confirmation.md), or "
            'WHATSAPP_LOGIN_CONFIRM = "never" to accept that risk knowingly.',
            id="whatsapp_login.W014",
        )
    ]
