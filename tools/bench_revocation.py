#!/usr/bin/env python3
"""Per-request cost of RevocationMiddleware: the same request with and without the check.

    python tools/bench_revocation.py [--requests 3000] [--rounds 5]

Standalone (SQLite in memory, database sessions, Django's test client through the whole
middleware stack, a view that reads ``request.user``), run with the test environment:
``.venv-test/bin/python tools/bench_revocation.py``. Both variants run in the same process,
interleaved round by round; the figure is the ratio of the medians (with / without), so it
does not depend on the machine's speed. It also counts the queries one request makes.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import django
from django.conf import settings

BASE_MIDDLEWARE = [
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
]
REVOCATION = "django_whatsapp_login.middleware.RevocationMiddleware"

settings.configure(
    DEBUG=False,
    SECRET_KEY="bench-only-not-secret",  # noqa: S106
    ALLOWED_HOSTS=["testserver"],
    USE_TZ=True,
    INSTALLED_APPS=[
        "django.contrib.auth",
        "django.contrib.contenttypes",
        "django.contrib.sessions",
        "django_whatsapp_login",
        "tests.testapp",
    ],
    AUTH_USER_MODEL="testapp.User",
    DATABASES={"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}},
    MIDDLEWARE=BASE_MIDDLEWARE,
    ROOT_URLCONF=__name__,
    DEFAULT_AUTO_FIELD="django.db.models.BigAutoField",
    PASSWORD_HASHERS=["django.contrib.auth.hashers.MD5PasswordHasher"],
    WHATSAPP_LOGIN_BUSINESS_PHONE="+996 555 000 001",
)
django.setup()

from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY  # noqa: E402
from django.contrib.auth import SESSION_KEY as AUTH_KEY  # noqa: E402
from django.contrib.sessions.backends.db import SessionStore  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402
from django.http import HttpResponse  # noqa: E402
from django.test import Client, override_settings  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402
from django.urls import path  # noqa: E402
from django.utils import timezone  # noqa: E402


def home(request):
    return HttpResponse(f"Hello {request.user.username}")


urlpatterns = [path("", home)]


def logged_in_client() -> Client:
    from django.contrib.auth import get_user_model

    from django_whatsapp_login.attempts import LOGIN_SESSION_KEY
    from django_whatsapp_login.models import LoginAttempt, Reason, Status

    user = get_user_model().objects.create_user(username="bench", phone="+996700000001")
    now = timezone.now()
    attempt = LoginAttempt.objects.create(
        code_hash="x" * 64,
        binding_hash="y" * 64,
        expires_at=now,
        status=Status.CONSUMED,
        reason=Reason.LOGGED_IN,
        user=user,
    )
    session = SessionStore()
    session[AUTH_KEY] = str(user.pk)
    session[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
    session[HASH_SESSION_KEY] = user.get_session_auth_hash()
    session[LOGIN_SESSION_KEY] = {"attempt": attempt.pk, "user": str(user.pk), "at": 0}
    session.create()
    client = Client()
    client.cookies[settings.SESSION_COOKIE_NAME] = session.session_key
    return client


def client_for(cookie: str, middleware: list[str]) -> Client:
    """A client whose handler was built with ``middleware`` (a client keeps its chain)."""
    with override_settings(MIDDLEWARE=middleware):
        client = Client()
        client.cookies[settings.SESSION_COOKIE_NAME] = cookie
        client.get("/")  # builds the middleware chain, outside the timing
    return client


def run(client: Client, count: int) -> float:
    began = time.perf_counter()
    for _ in range(count):
        response = client.get("/")
    elapsed = time.perf_counter() - began
    assert response.status_code == 200 and response.content == b"Hello bench"
    return elapsed / count


def queries(client: Client) -> int:
    with CaptureQueriesContext(connection) as captured:
        client.get("/")
    sql = [query["sql"] for query in captured.captured_queries]
    return len([text for text in sql if not text.startswith(("SAVEPOINT", "RELEASE"))])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    call_command("migrate", verbosity=0)
    cookie = logged_in_client().cookies[settings.SESSION_COOKIE_NAME].value
    plain = client_for(cookie, BASE_MIDDLEWARE)
    revoking = client_for(cookie, [*BASE_MIDDLEWARE, REVOCATION])
    without, checked = [], []
    for _ in range(args.rounds):
        without.append(run(plain, args.requests))
        checked.append(run(revoking, args.requests))
    base, cost = statistics.median(without), statistics.median(checked)
    print(f"requests per variant and round: {args.requests}, rounds: {args.rounds}")
    print(f"queries per request: without {queries(plain)}, with {queries(revoking)}")
    print(f"median per request: without {base * 1e6:.0f} us, with {cost * 1e6:.0f} us")
    print(f"ratio with/without: {cost / base:.3f}")


if __name__ == "__main__":
    main()
