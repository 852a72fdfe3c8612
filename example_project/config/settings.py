"""Settings of the django-whatsapp-login example project.

Everything that differs between a laptop and a server comes from the environment (or an
optional ``.env`` file next to ``manage.py``, see ``.env.example``). The defaults fail
closed: DEBUG off, the sandbox form off, and no SECRET_KEY, so the project refuses to
start until one is set. ``python3 demo.py`` sets DEBUG, the sandbox and a random key for
the local demo explicitly.
"""

from __future__ import annotations

from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
if (BASE_DIR / ".env").is_file():
    # Variables already set in the process environment win over the file.
    env.read_env(BASE_DIR / ".env")

# Core Django ---------------------------------------------------------------------------

# No default: a key written here would be public, and with it anyone can sign sessions.
SECRET_KEY = env("SECRET_KEY", default="")
if not SECRET_KEY:
    raise ImproperlyConfigured(
        "SECRET_KEY is not set. Set the SECRET_KEY environment variable (or put it in "
        "example_project/.env) to a long random value, e.g. the output of: "
        'python -c "import secrets; print(secrets.token_urlsafe(50))". '
        "For the local demo, run python3 demo.py: it sets one for you."
    )
# Off unless asked for: DEBUG on a server shows settings and tracebacks to everyone.
DEBUG = env.bool("DEBUG", default=False)
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1"])
# Needed when the site is reached over https through a tunnel or proxy, e.g.
# CSRF_TRUSTED_ORIGINS=https://example.trycloudflare.com
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_whatsapp_login",
    "core",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "config.urls"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

WSGI_APPLICATION = "config.wsgi.application"
ASGI_APPLICATION = "config.asgi.application"

# DATABASE_URL, e.g. postgres://user:password@127.0.0.1:5432/example. Without it the
# project uses example_project/db.sqlite3 (what DATABASE_URL=sqlite:///db.sqlite3 means
# when run from this folder), spelled out so the path is right on every OS.
if env("DATABASE_URL", default=""):
    DATABASES = {"default": env.db("DATABASE_URL")}
else:
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": BASE_DIR / "db.sqlite3",
        }
    }

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"

# Cookies are https-only as soon as DEBUG is off.
SESSION_COOKIE_SECURE = not DEBUG
CSRF_COOKIE_SECURE = not DEBUG

# Authentication ------------------------------------------------------------------------

# The WhatsApp backend first; ModelBackend keeps password logins (the admin) working.
AUTHENTICATION_BACKENDS = [
    "django_whatsapp_login.backends.WhatsAppLoginBackend",
    "django.contrib.auth.backends.ModelBackend",
]
LOGIN_URL = "/login"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "/login"

# django-whatsapp-login -----------------------------------------------------------------

# The WhatsApp number of the Green API instance, in any format.
WHATSAPP_LOGIN_BUSINESS_PHONE = env("WHATSAPP_BUSINESS_PHONE", default="+996 555 000 001")
# The "Webhook URL token" set in the Green API console. Empty: the webhook answers 401
# to everything, which is fine for the sandbox demo.
WHATSAPP_LOGIN_WEBHOOK_TOKEN = env("GREEN_API_WEBHOOK_TOKEN", default="")
WHATSAPP_LOGIN_GREEN_API_ID_INSTANCE = env("GREEN_API_ID_INSTANCE", default="") or None
WHATSAPP_LOGIN_GREEN_API_TOKEN = env("GREEN_API_TOKEN", default="") or None
WHATSAPP_LOGIN_GREEN_API_URL = env("GREEN_API_URL", default="https://api.green-api.com")
# Which gateway receives and sends: "greenapi" (the default) or "cloudapi" (Meta's Cloud
# API, settings below; docs/cloudapi.md). Switching is this one setting.
WHATSAPP_LOGIN_GATEWAY = env("WHATSAPP_LOGIN_GATEWAY", default="greenapi")
WHATSAPP_LOGIN_CLOUD_API_ACCESS_TOKEN = env("CLOUD_API_ACCESS_TOKEN", default="")
WHATSAPP_LOGIN_CLOUD_API_PHONE_NUMBER_ID = env("CLOUD_API_PHONE_NUMBER_ID", default="")
WHATSAPP_LOGIN_CLOUD_API_APP_SECRET = env("CLOUD_API_APP_SECRET", default="")
WHATSAPP_LOGIN_CLOUD_API_VERIFY_TOKEN = env("CLOUD_API_VERIFY_TOKEN", default="")
WHATSAPP_LOGIN_CLOUD_API_APP_ID = env("CLOUD_API_APP_ID", default="")
WHATSAPP_LOGIN_MESSAGE_PREFIX = "AMT LOGIN"
# Seconds a code stays valid (10..600; the browser tests use a short one).
WHATSAPP_LOGIN_ATTEMPT_TTL = env.int("WHATSAPP_LOGIN_ATTEMPT_TTL", default=180)
# The "simulate sending from WhatsApp" form logs anyone in as any tenant: off unless asked
# for (demo.py asks), and the app refuses it when DEBUG is off anyway.
WHATSAPP_LOGIN_SANDBOX = env.bool("WHATSAPP_LOGIN_SANDBOX", default=False)
# Phones live on core.Tenant, not on the user model.
WHATSAPP_LOGIN_USER_RESOLVER = "core.resolvers.tenant_resolver"
# Push the status to the page under ASGI (uvicorn config.asgi:application, docs/live.md):
# "inprocess" for one worker, "redis" or "postgres" for several. Off: the page polls,
# which is what gunicorn config.wsgi serves.
WHATSAPP_LOGIN_LIVE = env("WHATSAPP_LOGIN_LIVE", default="")
# The Redis of the "redis" channel; empty: the cache's (REDIS_URL below).
WHATSAPP_LOGIN_LIVE_REDIS_URL = env("WHATSAPP_LOGIN_LIVE_REDIS_URL", default="")
# REDIS_URL: a shared cache for the rate limits and the status poll's cached state (and the
# "redis" push channel). Without it, the per-process memory cache.
if env("REDIS_URL", default=""):
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": env("REDIS_URL"),
        }
    }

# Logging -------------------------------------------------------------------------------

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "loggers": {
        "django_whatsapp_login": {"handlers": ["console"], "level": "INFO"},
    },
}
