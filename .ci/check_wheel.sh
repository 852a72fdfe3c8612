#!/usr/bin/env bash
# Build the wheel and sdist, check the wheel's contents, install it into a fresh venv
# with a throwaway project and make sure the app loads and its migrations apply.
set -euo pipefail
cd "$(dirname "$0")/.."
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

.venv-test/bin/python -m pip install --quiet build
.venv-test/bin/python -m build --outdir "$work/dist" . >/dev/null
wheel=$(ls "$work"/dist/*.whl)
python3 - "$wheel" <<'PY'
import sys, zipfile
names = zipfile.ZipFile(sys.argv[1]).namelist()
required = [
    "django_whatsapp_login/py.typed",
    "django_whatsapp_login/migrations/0001_initial.py",
    "django_whatsapp_login/templates/whatsapp_login/login.html",
    "django_whatsapp_login/templates/whatsapp_login/widget.html",
    "django_whatsapp_login/static/whatsapp_login/whatsapp_login.js",
    "django_whatsapp_login/static/whatsapp_login/whatsapp_login.css",
]
missing = [n for n in required if n not in names]
tests = [n for n in names if n.startswith("tests/")]
if missing or tests:
    sys.exit(f"wheel content problem: missing={missing} tests={tests}")
print(f"wheel ok: {len(names)} files")
PY
python3 -m venv "$work/venv"
"$work/venv/bin/pip" install --quiet "$wheel"
mkdir -p "$work/proj"
cat > "$work/proj/settings.py" <<'PY'
SECRET_KEY = "wheel-check"
INSTALLED_APPS = ["django.contrib.auth", "django.contrib.contenttypes", "django.contrib.sessions", "django_whatsapp_login"]
MIDDLEWARE = ["django.contrib.sessions.middleware.SessionMiddleware"]
DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}}
AUTHENTICATION_BACKENDS = ["django_whatsapp_login.backends.WhatsAppLoginBackend"]
WHATSAPP_LOGIN_USER_RESOLVER = "resolver.find"
WHATSAPP_LOGIN_BUSINESS_PHONE = "+996 555 000 001"
WHATSAPP_LOGIN_WEBHOOK_TOKEN = "wheel-check-token-0123456789abcdefghijkl"
ROOT_URLCONF = "urls"
USE_TZ = True
PY
printf 'def find(phone, **context):\n    return None\n' > "$work/proj/resolver.py"
printf 'from django.urls import include, path\nurlpatterns = [path("w/", include("django_whatsapp_login.urls"))]\n' > "$work/proj/urls.py"
(cd "$work/proj" && DJANGO_SETTINGS_MODULE=settings "$work/venv/bin/python" -m django check --fail-level WARNING \
  && DJANGO_SETTINGS_MODULE=settings "$work/venv/bin/python" -m django migrate --no-input -v 0 \
  && DJANGO_SETTINGS_MODULE=settings "$work/venv/bin/python" -c "import django; django.setup(); import django_whatsapp_login; print('installed', django_whatsapp_login.__version__)")
