"""One Django project for every benchmark: django-whatsapp-login, django-allauth's login
by code and django-sesame's magic link side by side, behind the same middleware, on the
same PostgreSQL database and the same gunicorn server. Bench-only: not part of the package.
"""

import os

import environ

env = environ.Env()

SECRET_KEY = env("SECRET_KEY", default="bench-only-not-secret")
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost", "testserver"]
USE_TZ = True
TIME_ZONE = "UTC"

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "allauth",
    "allauth.account",
    "django_whatsapp_login",
    "benchsite",
]
MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "allauth.account.middleware.AccountMiddleware",
]
ROOT_URLCONF = "benchsite.urls"
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
DATABASES = {"default": env.db("DATABASE_URL")}
# The local-memory cache unless a figure serves the site with Redis (the production shape);
# a prefix per run keeps its keys apart from anything else in that Redis database.
if env("BENCH_REDIS_URL", default=""):
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": env("BENCH_REDIS_URL"),
            "KEY_PREFIX": env("BENCH_CACHE_PREFIX", default="wl_bench"),
        }
    }
DATABASES["default"]["CONN_MAX_AGE"] = 60  # what a production deployment does
AUTH_USER_MODEL = "benchsite.User"
AUTHENTICATION_BACKENDS = [
    "django_whatsapp_login.backends.WhatsAppLoginBackend",
    "allauth.account.auth_backends.AuthenticationBackend",
    "sesame.backends.ModelBackend",
    "django.contrib.auth.backends.ModelBackend",
]
LOGIN_URL = "/login"
LOGIN_REDIRECT_URL = "/"
STATIC_URL = "/static/"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
SESSION_COOKIE_SECURE = False
CSRF_COOKIE_SECURE = False

# django-whatsapp-login: the package defaults, except that the rate limits are raised
# out of the way (every client comes from 127.0.0.1) but still counted on each request.
WHATSAPP_LOGIN_BUSINESS_PHONE = "+996555000001"
WHATSAPP_LOGIN_WEBHOOK_TOKEN = env("GREEN_API_WEBHOOK_TOKEN", default="bench-webhook-token")
WHATSAPP_LOGIN_GREEN_API_ID_INSTANCE = "1101000001"
WHATSAPP_LOGIN_MESSAGE_PREFIX = "AMT LOGIN"
if "WHATSAPP_LOGIN_POLL_INTERVAL" in os.environ:  # else the package's default
    WHATSAPP_LOGIN_POLL_INTERVAL = env.int("WHATSAPP_LOGIN_POLL_INTERVAL")
WHATSAPP_LOGIN_RATE_LIMIT_START = "1000000/m/ip,1000000/m/session"
WHATSAPP_LOGIN_RATE_LIMIT_STATUS = "1000000/s/attempt,1000000/m/session"
WHATSAPP_LOGIN_RATE_LIMIT_COMPLETE = "1000000/m/attempt,1000000/m/session,1000000/m/ip"
WHATSAPP_LOGIN_RATE_LIMIT_CONFIRM = "1000000/m/phone"
WHATSAPP_LOGIN_RATE_LIMIT_FAILED = "1000000/m/phone"
WHATSAPP_LOGIN_RATE_LIMIT_WEBHOOK_UNAUTHORIZED = "1000000/m/ip"
WHATSAPP_LOGIN_REPLIES = False  # never call Green API from a benchmark
# The push channel (figure "push"): BENCH_LIVE names the notifier; the limits on streams
# are raised out of the way like the rate limits above (still counted).
WHATSAPP_LOGIN_LIVE = env("BENCH_LIVE", default="")
WHATSAPP_LOGIN_LIVE_REDIS_URL = env("BENCH_REDIS_URL", default="")
WHATSAPP_LOGIN_LIVE_CHANNEL = env("BENCH_CACHE_PREFIX", default="wl_bench") + "_live"
WHATSAPP_LOGIN_LIVE_MAX_CONNECTIONS = 100000
WHATSAPP_LOGIN_LIVE_TIMEOUT = env.int("BENCH_LIVE_TIMEOUT", default=120)
WHATSAPP_LOGIN_RATE_LIMIT_EVENTS = "1000000/m/ip,1000000/m/session"

# django-allauth: login by code to the email address, no rate limits (same reason).
ACCOUNT_LOGIN_METHODS = {"email"}
ACCOUNT_SIGNUP_FIELDS = ["email*", "password1*", "password2*"]
ACCOUNT_EMAIL_VERIFICATION = "none"
ACCOUNT_LOGIN_BY_CODE_ENABLED = True
ACCOUNT_RATE_LIMITS = False

# django-sesame: one-time links valid 5 minutes.
SESAME_MAX_AGE = 300
SESAME_ONE_TIME = True

EMAIL_BACKEND = "benchsite.mail.RecipientFileBackend"
DEFAULT_FROM_EMAIL = "bench@example.com"
BENCH_MAIL_DIR = env("BENCH_MAIL_DIR", default=os.path.join(os.path.dirname(__file__), "mail"))
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    # A 500 is written to the server's log (test-artifacts/bench-*.log), with its traceback.
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "loggers": {
        "django_whatsapp_login": {"level": "WARNING"},
        "django.request": {"handlers": ["console"], "level": "ERROR"},
    },
}
