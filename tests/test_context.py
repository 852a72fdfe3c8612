"""The login context (context.py): browser and system from real User-Agents, the place
from each of its sources, and the same context in every message."""

from __future__ import annotations

import pytest
from django.test import RequestFactory

from django_whatsapp_login import context
from django_whatsapp_login.models import LoginAttempt

from .conftest import start

CHROME_WINDOWS = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/126.0.0.0 Safari/537.36"
)
IPHONE_SAFARI = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1"
)
ANDROID_CHROME = (
    "Mozilla/5.0 (Linux; Android 14; SM-S918B) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/125.0.6422.165 Mobile Safari/537.36"
)
FIREFOX_LINUX = "Mozilla/5.0 (X11; Linux x86_64; rv:127.0) Gecko/20100101 Firefox/127.0"
EDGE_MAC = (
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 "
    "(KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36 Edg/126.0.0.0"
)


@pytest.mark.parametrize(
    "ua, browser, system",
    [
        (CHROME_WINDOWS, "Chrome", "Windows"),
        (IPHONE_SAFARI, "Mobile Safari", "iOS"),
        (ANDROID_CHROME, "Chrome Mobile", "Android"),
        (FIREFOX_LINUX, "Firefox", "Linux"),
        (EDGE_MAC, "Edge", "Mac OS X"),
        ("", "unknown browser", "unknown system"),
        ("\x00\x01 totally not a browser", "unknown browser", "unknown system"),
    ],
)
def test_parse_user_agent(ua, browser, system):
    assert context.parse_user_agent(ua) == (browser, system)


@pytest.mark.parametrize(
    "ua",
    [
        # An attacker chooses this header: it must not write a message of its own.
        "Mozilla/5.0 (compatible; *URGENT*_Reply_YES_bot/1.0\n\nYour bank says reply YES)",
        "Bot/1.0 " + "A" * 2000,
        "Mozilla/5.0 (Windows NT 10.0) Chrome/126.0 " + "\u202e\u200b" * 50,
    ],
)
def test_an_attacker_chosen_user_agent_stays_harmless(ua):
    browser, system = context.parse_user_agent(ua)
    for name in (browser, system):
        assert len(name) <= context.MAX_NAME_CHARS
        assert name.isprintable() and "\n" not in name
        assert not set(name) & set("*_~`")
        assert "bank" not in name.lower()


@pytest.mark.parametrize(
    "ip, masked",
    [
        ("203.0.113.77", "203.0.113.x"),
        ("2001:db8:abcd:12::1", "2001:db8:abcd::/48"),
        ("::ffff:198.51.100.9", "198.51.100.x"),
        ("not an ip", ""),
        (None, ""),
    ],
)
def test_mask_ip(ip, masked):
    assert context.mask_ip(ip) == masked


def test_place_is_the_masked_ip_by_default(settings):
    request = RequestFactory().get("/", REMOTE_ADDR="203.0.113.77", HTTP_CF_IPCOUNTRY="KG")
    # No GEOIP_PATH, no trusted header: the CDN header is ignored (anyone can send it).
    assert context.place_for_request(request) == "203.0.113.x"


def test_place_from_a_trusted_country_header(settings):
    settings.WHATSAPP_LOGIN_COUNTRY_HEADER = "HTTP_CF_IPCOUNTRY"
    factory = RequestFactory()
    request = factory.get("/", REMOTE_ADDR="203.0.113.77", HTTP_CF_IPCOUNTRY="kg")
    assert context.place_for_request(request) == "KG (203.0.113.x)"
    for junk in ["XX", "T1", "Kyrgyzstan", "K1", "<b>"]:
        request = factory.get("/", REMOTE_ADDR="203.0.113.77", HTTP_CF_IPCOUNTRY=junk)
        assert context.place_for_request(request) == "203.0.113.x", junk


class FakeGeoIP2:
    """Stands in for django.contrib.gis.geoip2.GeoIP2 over a City database."""

    def __init__(self, table):
        self.table = table

    def city(self, ip):
        if ip not in self.table:
            raise LookupError("address not in the database")
        return self.table[ip]

    def country(self, ip):
        raise LookupError("address not in the database")


def test_place_from_geoip2_wins_over_the_header(settings, monkeypatch, tmp_path):
    settings.GEOIP_PATH = str(tmp_path)
    settings.WHATSAPP_LOGIN_COUNTRY_HEADER = "HTTP_CF_IPCOUNTRY"
    reader = FakeGeoIP2({"203.0.113.77": {"city": "Bishkek", "country_name": "Kyrgyzstan"}})
    monkeypatch.setattr(context, "_geoip", lambda path: reader if path == str(tmp_path) else None)
    factory = RequestFactory()
    request = factory.get("/", REMOTE_ADDR="203.0.113.77", HTTP_CF_IPCOUNTRY="KZ")
    assert context.place_for_request(request) == "Bishkek, Kyrgyzstan (203.0.113.x)"
    # An address the database does not know falls through to the header.
    request = factory.get("/", REMOTE_ADDR="198.51.100.1", HTTP_CF_IPCOUNTRY="KZ")
    assert context.place_for_request(request) == "KZ (198.51.100.x)"


def test_an_unusable_geoip_path_falls_back(settings, tmp_path):
    settings.GEOIP_PATH = str(tmp_path)  # an empty folder: no database
    context._geoip.cache_clear()
    request = RequestFactory().get("/", REMOTE_ADDR="203.0.113.77")
    assert context.place_for_request(request) == "203.0.113.x"
    context._geoip.cache_clear()


@pytest.mark.django_db
def test_the_attempt_keeps_the_context_of_the_browser_that_made_it(client, settings):
    settings.WHATSAPP_LOGIN_SITE_NAME = "Example Shop"
    settings.WHATSAPP_LOGIN_COUNTRY_HEADER = "HTTP_CF_IPCOUNTRY"
    client.defaults.update(
        HTTP_USER_AGENT=IPHONE_SAFARI, REMOTE_ADDR="203.0.113.77", HTTP_CF_IPCOUNTRY="KG"
    )
    start(client)
    attempt = LoginAttempt.objects.get()
    found = context.login_context(attempt)
    assert (found.site, found.browser, found.system) == ("Example Shop", "Mobile Safari", "iOS")
    assert found.place == "KG (203.0.113.x)"
    assert found.time
