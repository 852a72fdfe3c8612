"""Settings for the test suite: SQLite by default, DATABASE_URL / REDIS_URL when set."""

import os

import environ

env = environ.Env()

SECRET_KEY = "tests-only-not-secret"
DEBUG = False
ALLOWED_HOSTS = ["testserver", "localhost", "127.0.0.1"]
USE_TZ = True
TIME_ZONE = "UTC"

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_whatsapp_login",
    "tests.testapp",
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
ROOT_URLCONF = "tests.testapp.urls"
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
            ]
        },
    }
]
DATABASES = {
    "default": env.db(
        "DATABASE_URL",
        default="sqlite:///" + os.path.join(os.path.dirname(__file__), "test.sqlite3"),
    )
}
if os.environ.get("REDIS_URL"):
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": os.environ["REDIS_URL"],
        }
    }
AUTH_USER_MODEL = "testapp.User"
AUTHENTICATION_BACKENDS = [
    "django_whatsapp_login.backends.WhatsAppLoginBackend",
    "django.contrib.auth.backends.ModelBackend",
]
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
LOGIN_URL = "/login"
LOGIN_REDIRECT_URL = "/"
STATIC_URL = "/static/"
# Never collected here: tests/test_checks.py points it at a collected copy (W011, W012).
STATIC_ROOT = os.path.join(os.path.dirname(__file__), ".staticfiles")
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

WHATSAPP_LOGIN_BUSINESS_PHONE = "+996 555 000 001"
WHATSAPP_LOGIN_WEBHOOK_TOKEN = "test-webhook-token-0123456789abcdefghijklmnop"
WHATSAPP_LOGIN_GREEN_API_ID_INSTANCE = "1101000001"
WHATSAPP_LOGIN_MESSAGE_PREFIX = "AMT LOGIN"
# The multi-process rate-limit test runs servers behind a pretend proxy to pick its own IPs.
WHATSAPP_LOGIN_TRUSTED_PROXY_COUNT = int(os.environ.get("WHATSAPP_LOGIN_TEST_PROXIES", "0"))
# Many tests write attempt rows directly, or change them inside test transactions whose
# on-commit callbacks never run: the cached state (state.py) would then be stale. The
# tests of the cached state turn it on (tests/test_state_cache*.py).
WHATSAPP_LOGIN_STATE_CACHE = os.environ.get("WHATSAPP_LOGIN_TEST_STATE_CACHE") == "1"
# The push channel: off like the default, the tests of events.py start servers with it on.
WHATSAPP_LOGIN_LIVE = ""
