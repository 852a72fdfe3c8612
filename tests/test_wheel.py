"""The distribution: build wheel and sdist, `twine check` them, check what the wheel holds,
install it into a fresh virtual environment and load the app there.

Slow (a build and a pip install), so it runs only with WHATSAPP_LOGIN_WHEEL=1:
`tox -e package`, which CI runs. It needs `build` and `twine` (the package env has them).
"""

from __future__ import annotations

import email
import os
import re
import subprocess
import sys
import tarfile
import venv
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = "django_whatsapp_login"

pytestmark = [
    pytest.mark.wheel,
    pytest.mark.skipif(
        os.environ.get("WHATSAPP_LOGIN_WHEEL", "") in ("", "0"),
        reason="builds and installs the wheel: set WHATSAPP_LOGIN_WHEEL=1 (tox -e package)",
    ),
]

REQUIRED = [
    f"{PACKAGE}/__init__.py",
    f"{PACKAGE}/py.typed",
    f"{PACKAGE}/migrations/0001_initial.py",
    f"{PACKAGE}/templatetags/whatsapp_login.py",
    f"{PACKAGE}/templates/whatsapp_login/login.html",
    f"{PACKAGE}/templates/whatsapp_login/widget.html",
    f"{PACKAGE}/templates/whatsapp_login/embed.html",
    f"{PACKAGE}/templates/whatsapp_login/replies/logged_in.txt",
    f"{PACKAGE}/static/whatsapp_login/whatsapp_login.js",
    f"{PACKAGE}/static/whatsapp_login/whatsapp_login.css",
    f"{PACKAGE}/locale/ru/LC_MESSAGES/django.po",
    f"{PACKAGE}/locale/ru/LC_MESSAGES/django.mo",
    f"{PACKAGE}/locale/en/LC_MESSAGES/django.mo",
    f"{PACKAGE}/management/commands/whatsapp_login_check.py",
    # One folder per gateway, and the old import paths that alias its modules.
    f"{PACKAGE}/gateways/base.py",
    f"{PACKAGE}/gateways/http.py",
    f"{PACKAGE}/gateways/greenapi/payloads.py",
    f"{PACKAGE}/gateways/greenapi/client.py",
    f"{PACKAGE}/gateways/greenapi/checks.py",
    f"{PACKAGE}/gateways/cloudapi/client.py",
    f"{PACKAGE}/gateways/cloudapi/checks.py",
    f"{PACKAGE}/client.py",
    f"{PACKAGE}/greenapi.py",
]

SETTINGS = """
SECRET_KEY = "wheel-check"
INSTALLED_APPS = [
    "django.contrib.auth", "django.contrib.contenttypes", "django.contrib.sessions",
    "django_whatsapp_login",
]
MIDDLEWARE = ["django.contrib.sessions.middleware.SessionMiddleware"]
DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": "db.sqlite3"}}
AUTHENTICATION_BACKENDS = ["django_whatsapp_login.backends.WhatsAppLoginBackend"]
WHATSAPP_LOGIN_USER_RESOLVER = "resolver.find"
WHATSAPP_LOGIN_BUSINESS_PHONE = "+996 555 000 001"
WHATSAPP_LOGIN_WEBHOOK_TOKEN = "wheel-check-token-0123456789abcdefghijkl"
ROOT_URLCONF = "urls"
# As the README says: without it a login ends on /accounts/profile/ (check W010).
LOGIN_REDIRECT_URL = "/w/"
USE_TZ = True
LANGUAGE_CODE = "ru"
STATIC_URL = "/static/"
TEMPLATES = [{"BACKEND": "django.template.backends.django.DjangoTemplates", "APP_DIRS": True}]
"""

SMOKE = """
import django
django.setup()
from django.test import Client
from django.test.utils import setup_test_environment
import django_whatsapp_login
setup_test_environment()
html = Client().get("/w/").content.decode()
assert "Войти через WhatsApp" in html, html[:500]
import django_whatsapp_login.client, django_whatsapp_login.greenapi
from django_whatsapp_login.gateways.greenapi import client, payloads
assert django_whatsapp_login.client is client and django_whatsapp_login.greenapi is payloads
print("installed", django_whatsapp_login.__version__)
"""


def run(*args: str | Path, cwd: Path | None = None, env: dict[str, str] | None = None) -> str:
    result = subprocess.run(  # noqa: S603  (our own interpreters and arguments)
        [str(arg) for arg in args], cwd=cwd, env=env, capture_output=True, text=True
    )
    assert result.returncode == 0, f"{args}\n{result.stdout}\n{result.stderr}"
    return result.stdout


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    run(sys.executable, "-m", "build", "--outdir", out, ROOT)
    return out


def version() -> str:
    text = (ROOT / "src" / PACKAGE / "__init__.py").read_text(encoding="utf-8")
    match = re.search(r'^__version__ = "([^"]+)"$', text, re.MULTILINE)
    assert match
    return match.group(1)


def test_twine_accepts_wheel_and_sdist(dist: Path) -> None:
    files = sorted(dist.iterdir(), key=lambda f: f.suffix)
    assert [f.suffix for f in files] == [".gz", ".whl"]
    for file in files:  # the version lives only in __init__.py
        assert file.name.startswith(f"django_whatsapp_login-{version()}")
    output = run(sys.executable, "-m", "twine", "check", "--strict", *files)
    assert output.count("PASSED") == 2


def test_wheel_contents_and_metadata(dist: Path) -> None:
    wheel = next(dist.glob("*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    assert [n for n in REQUIRED if n not in names] == []
    assert [n for n in names if n.startswith("tests/") or "/tests/" in n] == []
    assert [n for n in names if "__pycache__" in n or n.endswith(".pyc")] == []
    meta_name = next(n for n in names if n.endswith(".dist-info/METADATA"))
    meta = email.message_from_bytes(zipfile.ZipFile(wheel).read(meta_name))
    classifiers = meta.get_all("Classifier") or []
    for django in ("4.2", "5.2", "6.0", "6.1"):
        assert f"Framework :: Django :: {django}" in classifiers
    for python in ("3.10", "3.11", "3.12", "3.13"):
        assert f"Programming Language :: Python :: {python}" in classifiers
    assert meta["License-Expression"] == "MIT"
    urls = meta.get_all("Project-URL") or []
    assert {u.split(",")[0] for u in urls} >= {"Homepage", "Documentation", "Changelog", "Issues"}
    assert any(n.endswith("licenses/LICENSE") for n in names)


def test_sdist_has_the_tests_and_the_locale(dist: Path) -> None:
    sdist = next(dist.glob("*.tar.gz"))
    names = tarfile.open(sdist).getnames()
    assert any(n.endswith("/tests/test_flow.py") for n in names)
    assert any(n.endswith(f"/src/{PACKAGE}/locale/ru/LC_MESSAGES/django.mo") for n in names)


def test_wheel_installs_into_a_fresh_venv_and_the_app_loads(dist: Path, tmp_path: Path) -> None:
    wheel = next(dist.glob("*.whl"))
    venv.EnvBuilder(with_pip=True, clear=True).create(tmp_path / "venv")
    bindir = "Scripts" if sys.platform == "win32" else "bin"
    python = tmp_path / "venv" / bindir / ("python.exe" if sys.platform == "win32" else "python")
    run(python, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", wheel)
    project = tmp_path / "project"
    project.mkdir()
    (project / "settings.py").write_text(SETTINGS, encoding="utf-8")
    (project / "resolver.py").write_text("def find(phone, **context):\n    return None\n")
    (project / "urls.py").write_text(
        "from django.urls import include, path\n"
        'urlpatterns = [path("w/", include("django_whatsapp_login.urls"))]\n'
    )
    env = {key: value for key, value in os.environ.items() if not key.startswith("PYTHON")} | {
        "DJANGO_SETTINGS_MODULE": "settings",
        "PYTHONPATH": str(project),
    }
    run(python, "-m", "django", "check", "--fail-level", "WARNING", cwd=project, env=env)
    run(python, "-m", "django", "migrate", "--no-input", "-v", "0", cwd=project, env=env)
    output = run(python, "-c", SMOKE, cwd=project, env=env)
    assert f"installed {version()}" in output


# --- a fresh project from the wheel, the way docs/install.md says (issue 14) ----------------

FRESH_SETTINGS = """
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent
SECRET_KEY = "fresh-project-" + "x" * 40
DEBUG = False
ALLOWED_HOSTS = ["testserver", "localhost"]
INSTALLED_APPS = [
    "django.contrib.auth", "django.contrib.contenttypes", "django.contrib.sessions",
    "django.contrib.staticfiles", "accounts", "django_whatsapp_login",
]
MIDDLEWARE = [
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
]
TEMPLATES = [{"BACKEND": "django.template.backends.django.DjangoTemplates", "APP_DIRS": True}]
DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": BASE_DIR / "db.sqlite3"}}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
USE_TZ = True
ROOT_URLCONF = "urls"
AUTH_USER_MODEL = "accounts.User"
STATIC_URL = "/static/"
WHATSAPP_LOGIN_DEFAULT_REGION = "RU"  # the phones below were typed the Russian way
"""

# The install page's settings block, appended verbatim below FRESH_SETTINGS.
INSTALL_ENV = {
    "GREEN_API_WEBHOOK_TOKEN": "fresh-project-webhook-token-0123456789abcdef",
    "GREEN_API_ID_INSTANCE": "1101000001",
}

ACCOUNTS_MODELS = """
from django.contrib.auth.models import AbstractUser
from django.db import models


class User(AbstractUser):
    phone = models.CharField(max_length=32, blank=True, db_index=True)
"""

FRESH_URLS = """
from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.urls import include, path


@login_required
def home(request):
    return HttpResponse(f"Hello {request.user.username}")


urlpatterns = [
    path("whatsapp/", include("django_whatsapp_login.urls")),
    path("", home),
]
"""

SEED = """
import django
django.setup()
from accounts.models import User
User.objects.create_user("ivan", phone="8 (912) 000-11-22")
User.objects.create_user("olga", phone="+7 912 000 11 33")
User.objects.create_user("aida", phone="+996 555 000 044")
"""

LOGIN = """
import json, os, time
import django
django.setup()
from django.test import Client
from django.test.utils import setup_test_environment
setup_test_environment()

browser = Client()
assert browser.get("/").status_code == 302  # login_required sends strangers to LOGIN_URL
page = browser.get("/whatsapp/").content.decode()
assert "/static/whatsapp_login/whatsapp_login.js" in page
code = browser.post("/whatsapp/start/").json()["code"]
sender = "79120001122@c.us"  # ivan, stored as "8 (912) 000-11-22" before the migration
payload = {
    "typeWebhook": "incomingMessageReceived",
    "instanceData": {"idInstance": 1101000001, "wid": "996555000001@c.us",
                     "typeInstance": "whatsapp"},
    "timestamp": int(time.time()),
    "idMessage": "3EB0FRESHPROJECT0001",
    "senderData": {"chatId": sender, "chatName": "Ivan", "sender": sender,
                   "senderName": "Ivan", "senderContactName": ""},
    "messageData": {"typeMessage": "textMessage",
                    "textMessageData": {"textMessage": "LOGIN " + code}},
}
answer = Client().post(
    "/whatsapp/webhook/", data=json.dumps(payload), content_type="application/json",
    HTTP_AUTHORIZATION="Bearer " + os.environ["GREEN_API_WEBHOOK_TOKEN"],
)
assert answer.status_code == 200, answer.content
assert browser.get("/whatsapp/status/").json()["status"] == "confirmed"
done = browser.post("/whatsapp/complete/").json()
landing = browser.get(done["redirect"])
assert landing.status_code == 200, (done, landing.status_code)
print("landed", done["redirect"], landing.content.decode())
"""


def install_settings_block() -> str:
    text = (ROOT / "docs" / "install.md").read_text(encoding="utf-8")
    match = re.search(r"```python\n(# settings\.py\n.*?)```", text, re.DOTALL)
    assert match, "docs/install.md has no settings.py block"
    block = match.group(1)
    assert "LOGIN_REDIRECT_URL" in block and "STATIC_ROOT" in block and "LOGGING" in block
    # The fresh project already lists its apps; the install page's list is an excerpt.
    return re.sub(r"INSTALLED_APPS = \[.*?\n\]\n", "", block, flags=re.DOTALL)


def test_a_fresh_project_from_the_wheel_logs_in_and_lands_on_a_page(
    dist: Path, tmp_path: Path
) -> None:
    """docs/install.md followed from the wheel: custom user model, phones typed by people,
    DEBUG off with collectstatic; a login through the webhook ends on a page that exists."""
    wheel = next(dist.glob("*.whl"))
    venv.EnvBuilder(with_pip=True, clear=True).create(tmp_path / "venv")
    bindir = "Scripts" if sys.platform == "win32" else "bin"
    python = tmp_path / "venv" / bindir / ("python.exe" if sys.platform == "win32" else "python")
    run(
        python,
        "-m",
        "pip",
        "install",
        "--quiet",
        "--disable-pip-version-check",
        f"{wheel}[phonenumbers]",
    )
    project = tmp_path / "project"
    (project / "accounts").mkdir(parents=True)
    (project / "accounts" / "__init__.py").write_text("")
    (project / "accounts" / "models.py").write_text(ACCOUNTS_MODELS)
    (project / "settings.py").write_text(FRESH_SETTINGS + install_settings_block())
    (project / "urls.py").write_text(FRESH_URLS)
    env = {key: value for key, value in os.environ.items() if not key.startswith("PYTHON")} | {
        "DJANGO_SETTINGS_MODULE": "settings",
        "PYTHONPATH": str(project),
        **INSTALL_ENV,
    }

    def manage(*args: str) -> str:
        return run(python, "-m", "django", *args, cwd=project, env=env)

    manage("makemigrations", "accounts", "-v", "0")
    manage("migrate", "--no-input", "-v", "0")
    manage("collectstatic", "--no-input", "-v", "0")
    collected = project / "staticfiles" / "whatsapp_login" / "whatsapp_login.js"
    packaged = ROOT / "src" / PACKAGE / "static" / "whatsapp_login" / "whatsapp_login.js"
    assert collected.read_bytes() == packaged.read_bytes()
    # No warning at all, and none of the first-hour checks with --deploy: the redirect is
    # routed, STATIC_ROOT is set and collected, the Green API URL is https.
    manage("check", "--fail-level", "WARNING")
    deploy = subprocess.run(  # noqa: S603
        [python, "-m", "django", "check", "--deploy"],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
    )
    for check_id in ("W010", "W011", "W012", "E020"):
        assert f"whatsapp_login.{check_id}" not in deploy.stdout + deploy.stderr

    run(python, "-c", SEED, cwd=project, env=env)
    manage("whatsapp_login_normalize_phones", "--apply")  # the docs' migration path
    audit = manage("whatsapp_login_audit_phones")
    assert "3 can log in" in audit, audit

    result = subprocess.run(  # noqa: S603
        [python, "-c", LOGIN], cwd=project, env=env, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "landed / Hello ivan" in result.stdout
    # The LOGGING snippet of the install page prints what the quickstart promises.
    assert re.search(r"Login attempt \d+ confirmed by \+791•••122", result.stderr), result.stderr
    assert re.search(r"Login attempt \d+ consumed", result.stderr), result.stderr
