"""The test suite's settings plus django-allauth (allauth.account, allauth.mfa) wired to
the WhatsApp integration as docs/allauth.md describes. Used only by tests/contrib:

    python -m pytest --ds tests.settings_allauth tests/contrib   (tox -e py313-django61-allauth)
"""

from pathlib import Path

from tests.settings import *  # noqa: F403
from tests.settings import AUTHENTICATION_BACKENDS, INSTALLED_APPS, MIDDLEWARE, TEMPLATES

INSTALLED_APPS = [
    *INSTALLED_APPS,
    "allauth",
    "allauth.account",
    "allauth.mfa",
    "django_whatsapp_login.contrib.allauth",
    "tests.allauthapp",
]
MIDDLEWARE = [*MIDDLEWARE, "allauth.account.middleware.AccountMiddleware"]
AUTHENTICATION_BACKENDS = [
    *AUTHENTICATION_BACKENDS,
    "allauth.account.auth_backends.AuthenticationBackend",
]
ROOT_URLCONF = "tests.allauthapp.urls"
# The project's overrides of allauth's templates come first (docs/allauth.md).
TEMPLATES = [{**TEMPLATES[0], "DIRS": [Path(__file__).parent / "allauthapp" / "templates"]}]
LOGIN_URL = "/accounts/login/"

ACCOUNT_ADAPTER = "tests.allauthapp.adapter.AccountAdapter"
ACCOUNT_LOGIN_METHODS = {"phone", "username"}
ACCOUNT_SIGNUP_FIELDS = ["phone*", "username*", "password1*", "password2*"]
ACCOUNT_EMAIL_VERIFICATION = "none"
ACCOUNT_LOGIN_BY_CODE_ENABLED = True

WHATSAPP_LOGIN_COMPLETE_LOGIN = "django_whatsapp_login.contrib.allauth.login.complete_login"
WHATSAPP_LOGIN_USER_RESOLVER = (
    "django_whatsapp_login.contrib.allauth.resolvers.allauth_phone_resolver"
)
# The fake Green API's credentials (tests/fake_greenapi.py); the fixture sets its URL.
WHATSAPP_LOGIN_GREEN_API_TOKEN = "fake-api-token-5f3c9a1e7b2d4c6e8a0b"
# Until a fixture points it at the fake: a closed port on the loopback, never a real host.
WHATSAPP_LOGIN_GREEN_API_URL = "http://127.0.0.1:9"
# Django 6.1 warns (an error here) when mail is sent without MAILERS; older Django ignores it.
MAILERS = {"default": {"BACKEND": "django.core.mail.backends.locmem.EmailBackend"}}
