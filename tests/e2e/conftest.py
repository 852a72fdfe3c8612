"""Fixtures of the real-browser suite: gunicorn serving the example project, Chromium.

Servers and browser live for this package only (``scope="package"``): they are gone before
the rest of the suite runs, so Playwright's event loop never meets Django's ORM.

The suite runs when Chromium (``/usr/bin/chromium`` or ``WHATSAPP_LOGIN_E2E_CHROMIUM``),
the ``playwright`` package (driving that Chromium: no browser download ever),
``zxing-cpp``, Pillow and gunicorn are present. Otherwise it is skipped, unless
``WHATSAPP_LOGIN_E2E=1`` (CI), which turns anything missing into a failure.
"""

from __future__ import annotations

import importlib.util
import json
import os
import secrets
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from .server import EXAMPLE, ROOT, Database, GunicornServer

CHROMIUM = os.environ.get("WHATSAPP_LOGIN_E2E_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
REQUIRED = os.environ.get("WHATSAPP_LOGIN_E2E", "") not in ("", "0")
ARTIFACTS = Path(os.environ.get("WHATSAPP_LOGIN_E2E_ARTIFACTS", ROOT / "test-artifacts"))
INSTANCE = "1101000001"
BUSINESS_PHONE = "+996555000001"
SHORT_TTL = 10  # the smallest TTL the system check allows

#: The tenants the tests log in as; each test uses its own, so the per-phone rate
#: limit of confirmations never couples two tests.
TENANTS = {
    "desktop": ("Desktop Tenant", "+996555100001"),
    "phone": ("Phone Tenant", "+996555100002"),
    "expiry": ("Expiry Tenant", "+996555100003"),
    "nojs": ("No-JS Tenant", "+996555100004"),
    "two": ("Two Browsers Tenant", "+996555100005"),
    "link": ("Link Tenant", "+996555100006"),
    "push": ("Push Tenant", "+996555100007"),
    "wsgi": ("WSGI Tenant", "+996555100008"),
    "outage": ("Outage Tenant", "+996555100009"),
    "victim": ("Victim Tenant", "+996555100010"),
    "careful": ("Careful Tenant", "+996555100011"),
    "sandbox": ("Sandbox Tenant", "+996555100012"),
    "cloud": ("Cloud Tenant", "+996555100013"),
    "cloud_sandbox": ("Cloud Sandbox Tenant", "+996555100014"),
}
UNREGISTERED = "+996700999888"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.e2e)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "e2e: real-browser tests (Chromium + gunicorn); WHATSAPP_LOGIN_E2E=1 requires them",
    )


def _missing() -> list[str]:
    missing = []
    if not os.access(CHROMIUM, os.X_OK):
        missing.append(f"Chromium at {CHROMIUM}")
    for module, package in (
        ("playwright", "playwright"),
        ("zxingcpp", "zxing-cpp"),
        ("PIL", "pillow"),
        ("gunicorn", "gunicorn"),
    ):
        if importlib.util.find_spec(module) is None:
            missing.append(f"the {package} package")
    return missing


@pytest.fixture(scope="session")
def e2e_available() -> None:
    missing = _missing()
    if missing:
        message = "real-browser suite needs " + ", ".join(missing)
        if REQUIRED:
            pytest.fail(message + " (WHATSAPP_LOGIN_E2E is set)", pytrace=False)
        pytest.skip(message + " (set WHATSAPP_LOGIN_E2E=1 to make this a failure)")


class Site:
    """One gunicorn server of the example project and the helpers the tests need."""

    def __init__(self, server: GunicornServer, token: str) -> None:
        self.server = server
        self.url = server.url
        self.token = token

    def webhook(self, payload: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        """POST one Green API delivery to the project's webhook URL over HTTP."""
        request = urllib.request.Request(  # noqa: S310
            self.url + "/api/webhooks/greenapi/incoming/",
            data=json.dumps(payload).encode(),
            method="POST",
            headers={"Content-Type": "application/json", "Authorization": f"Bearer {self.token}"},
        )
        try:
            with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
                return response.status, json.loads(response.read() or b"{}")
        except urllib.error.HTTPError as err:
            return err.code, {}


SEED = """
from django.contrib.auth import get_user_model
from core.models import Tenant
User = get_user_model()
for key, (name, phone) in {tenants!r}.items():
    user, _ = User.objects.get_or_create(username="e2e-" + key)
    Tenant.objects.update_or_create(user=user, defaults={{"name": name, "phone": phone}})
print("seeded", Tenant.objects.count())
"""


@pytest.fixture(scope="package")
def e2e_database(e2e_available: None) -> Iterator[str]:
    database = Database()
    url = database.create()
    try:
        yield url
    finally:
        database.drop()


def _env(database_url: str, token: str, **extra: str) -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("DJANGO_", "GREEN_API_", "WHATSAPP_"))
    }
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "tests.e2e.server_settings",
            "PYTHONPATH": os.pathsep.join([str(ROOT), str(EXAMPLE)]),
            "DATABASE_URL": database_url,
            "DEBUG": "false",
            "SECRET_KEY": secrets.token_urlsafe(40),
            "ALLOWED_HOSTS": "127.0.0.1,localhost",
            "GREEN_API_WEBHOOK_TOKEN": token,
            "GREEN_API_ID_INSTANCE": INSTANCE,
            "WHATSAPP_BUSINESS_PHONE": BUSINESS_PHONE,
            "PYTHONDONTWRITEBYTECODE": "1",
        }
    )
    env.update(extra)
    return env


def _site(database_url: str, name: str, **extra: str) -> Iterator[Site]:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    token = secrets.token_urlsafe(32)
    server = GunicornServer(
        env=_env(database_url, token, **extra),
        workers=3,
        log_path=ARTIFACTS / f"e2e-gunicorn-{name}.log",
    )
    server.start()
    try:
        yield Site(server, token)
    finally:
        server.stop()


@pytest.fixture(scope="package")
def site(e2e_database: str) -> Iterator[Site]:
    """The example project under gunicorn (3 workers, DEBUG off, the default TTL)."""
    setup = GunicornServer(env=_env(e2e_database, "unused"))
    setup.manage("migrate", "--noinput")
    setup.manage("shell", "-c", SEED.format(tenants=TENANTS))
    yield from _site(e2e_database, "main")


@pytest.fixture(scope="package")
def short_ttl_site(site: Site, e2e_database: str) -> Iterator[Site]:
    """A second server on the same database whose codes live only SHORT_TTL seconds."""
    yield from _site(e2e_database, "short-ttl", WHATSAPP_LOGIN_ATTEMPT_TTL=str(SHORT_TTL))


@pytest.fixture(scope="package")
def green_api(e2e_available: None) -> Iterator[Any]:
    """The fake Green API (tests/fake_greenapi.py) on 127.0.0.1: what the site sends."""
    from tests.fake_greenapi import FakeGreenAPI

    fake = FakeGreenAPI(id_instance=INSTANCE).start()
    try:
        yield fake
    finally:
        fake.stop()


@pytest.fixture(scope="package")
def confirming_site(site: Site, e2e_database: str, green_api: Any) -> Iterator[Site]:
    """A server that can write to WhatsApp (the fake Green API): it asks for YES
    (WHATSAPP_LOGIN_CONFIRM's default, "new_device") and sends login notices."""
    yield from _site(
        e2e_database,
        "confirming",
        GREEN_API_TOKEN=green_api.token,
        GREEN_API_URL=green_api.url,
    )


@pytest.fixture(scope="package")
def cloud_api(e2e_available: None) -> Iterator[Any]:
    """The fake Graph API (tests/fake_cloudapi.py) on 127.0.0.1."""
    from tests.fake_cloudapi import FakeCloudAPI

    fake = FakeCloudAPI().start()
    try:
        yield fake
    finally:
        fake.stop()


@pytest.fixture(scope="package")
def cloud_site(site: Site, e2e_database: str, cloud_api: Any) -> Iterator[Site]:
    """The example project switched to Meta's Cloud API: the one documented setting
    (WHATSAPP_LOGIN_GATEWAY) and the Cloud API credentials, here the fake's."""
    from tests import fake_cloudapi as fake

    yield from _site(
        e2e_database,
        "cloudapi",
        WHATSAPP_LOGIN_GATEWAY="cloudapi",
        CLOUD_API_ACCESS_TOKEN=fake.ACCESS_TOKEN,
        CLOUD_API_PHONE_NUMBER_ID=fake.PHONE_NUMBER_ID,
        CLOUD_API_APP_SECRET=fake.APP_SECRET,
        CLOUD_API_VERIFY_TOKEN=fake.VERIFY_TOKEN,
        CLOUD_API_APP_ID=fake.APP_ID,
        E2E_CLOUD_API_URL=cloud_api.url,
    )


@pytest.fixture(scope="package")
def sandbox_site(site: Site, e2e_database: str) -> Iterator[Site]:
    """The example project as ``python3 demo.py`` runs it: DEBUG and the sandbox on, no
    Green API token (the sandbox shows the YES/NO question instead of sending it)."""
    yield from _site(e2e_database, "sandbox", DEBUG="true", WHATSAPP_LOGIN_SANDBOX="true")


@pytest.fixture(scope="package")
def cloud_sandbox_site(site: Site, e2e_database: str) -> Iterator[Site]:
    """The sandbox with the Cloud API gateway and no credentials at all (issue 12): the
    gateway builds the simulated messages, the answer is a press of the YES button."""
    yield from _site(
        e2e_database,
        "cloudapi-sandbox",
        DEBUG="true",
        WHATSAPP_LOGIN_SANDBOX="true",
        WHATSAPP_LOGIN_GATEWAY="cloudapi",
    )


@pytest.fixture(scope="package")
def chromium(e2e_available: None) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture(scope="session")
def timings() -> Iterator[dict[str, float]]:
    """Measured durations, written to test-artifacts/e2e-timings.json at the end."""
    recorded: dict[str, float] = {}
    yield recorded
    if recorded:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        (ARTIFACTS / "e2e-timings.json").write_text(json.dumps(recorded, indent=2) + "\n")
        print("\ne2e timings:", json.dumps(recorded), file=sys.stderr)


def shot(page: Any, name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"e2e-{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path
