"""The login context: what every WhatsApp message about a login tells its reader.

One function, :func:`login_context`, builds it from a :class:`LoginAttempt` for the login
notice, the "signed out" answer and (coming) the YES/NO confirmation question, so they
always say the same thing:

- ``site``: ``WHATSAPP_LOGIN_SITE_NAME``, else the Sites framework's name, else the host;
- ``browser`` and ``system``: read from the User-Agent by ``ua-parser`` (coarse families,
  no versions; an attacker chooses this header, so it is cleaned and never trusted alone);
- ``place``: approximate, from the IP of the browser that made the attempt, in this order:
  Django's GeoIP2 when ``GEOIP_PATH`` has a database; else the country header a CDN sets
  (``WHATSAPP_LOGIN_COUNTRY_HEADER``, only when configured: anyone can send any header);
  else the masked IP (``203.0.113.x``, an IPv6 /48);
- ``time``: when WhatsApp confirmed the login (or now).

The place is worked out when the attempt is created (:func:`place_for_request`), from the
request of the browser that will be logged in, and kept on the attempt.
"""

from __future__ import annotations

import functools
import ipaddress
import logging
import re
import unicodedata
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.utils import formats, timezone
from django.utils.translation import gettext as _

from .conf import app_settings
from .ratelimit import client_ip

if TYPE_CHECKING:
    from datetime import datetime

    from django.http import HttpRequest

    from .models import LoginAttempt

logger = logging.getLogger("django_whatsapp_login")

#: Longest browser or system name shown; the rest of an attacker's header is dropped.
MAX_NAME_CHARS = 40
#: The place column of LoginAttempt.
MAX_PLACE_CHARS = 64
# WhatsApp formats *bold*, _italic_, ~strike~ and `code`; names must not be able to.
_FORMATTING = re.compile(r"[*_~`<>\[\]{}|\\]")
_COUNTRY = re.compile(r"[A-Z]{2}")
# Values CDNs send when they do not know the country (Cloudflare: XX unknown, T1 Tor).
_UNKNOWN_COUNTRIES = frozenset({"XX", "T1", "ZZ"})


@dataclass(frozen=True)
class LoginContext:
    """What a message says about one login. All strings are safe to put in a message."""

    site: str
    browser: str
    system: str
    place: str
    time: str

    def as_dict(self) -> dict[str, str]:
        return {
            "site": self.site,
            "browser": self.browser,
            "os": self.system,
            "system": self.system,
            "place": self.place,
            "time": self.time,
        }


def login_context(attempt: LoginAttempt, *, at: datetime | None = None) -> LoginContext:
    """The context of ``attempt`` in the active language (wrap in ``translation.override``)."""
    browser, system = parse_user_agent(attempt.user_agent)
    place = attempt.client_place or mask_ip(attempt.client_ip) or _("unknown place")
    when = timezone.localtime(at or attempt.confirmed_at or timezone.now())
    return LoginContext(
        site=site_name(),
        browser=browser,
        system=system,
        place=place,
        time=formats.date_format(when, "DATETIME_FORMAT"),
    )


# --- the browser and system -----------------------------------------------------------


def _clean(name: str | None) -> str:
    """A family name as the parser found it, made harmless: printable, one line, short,
    without WhatsApp formatting characters ("Other" means the parser does not know)."""
    if not name or name == "Other":
        return ""
    text = unicodedata.normalize("NFKC", name)
    text = "".join(ch if ch.isprintable() else " " for ch in text)
    text = " ".join(_FORMATTING.sub(" ", text).split())
    return text[:MAX_NAME_CHARS].strip()


@functools.lru_cache(maxsize=256)
def _families(user_agent: str) -> tuple[str, str]:
    # Imported here: ua-parser compiles its rules on first use (about 0.1 s), which only
    # processes that send login messages should pay, not every manage.py command.
    from ua_parser import parse

    result = parse(user_agent)
    browser = _clean(result.user_agent.family) if result.user_agent else ""
    system = _clean(result.os.family) if result.os else ""
    return browser, system


def parse_user_agent(user_agent: str) -> tuple[str, str]:
    """``(browser, operating system)`` families from a User-Agent header, e.g.
    ``("Chrome", "Windows")`` or ``("Mobile Safari", "iOS")``; unknown parts are the
    translated "unknown browser" / "unknown system". Deliberately coarse: no versions."""
    browser, system = _families((user_agent or "")[:512])
    return browser or _("unknown browser"), system or _("unknown system")


def site_name() -> str:
    """``WHATSAPP_LOGIN_SITE_NAME``, else the Sites framework's name, else the first
    concrete host of ``ALLOWED_HOSTS``."""
    if app_settings.SITE_NAME:
        return app_settings.SITE_NAME
    from django.apps import apps

    if apps.is_installed("django.contrib.sites") and getattr(settings, "SITE_ID", None):
        try:
            from django.contrib.sites.models import Site

            return Site.objects.get_current().name
        except Exception:  # no table or no row yet: fall back to the host
            logger.debug("No Sites framework name for replies", exc_info=True)
    for host in settings.ALLOWED_HOSTS:
        if host and host != "*" and not host.startswith("."):
            return host
    return _("the site")


# --- the place --------------------------------------------------------------------------


def mask_ip(ip: str | None) -> str:
    """``203.0.113.x`` for IPv4, the /48 network for IPv6 (``2001:db8:abcd::/48``), or ""."""
    try:
        address = ipaddress.ip_address(ip or "")
    except ValueError:
        return ""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        address = address.ipv4_mapped
    if isinstance(address, ipaddress.IPv4Address):
        return ".".join(str(address).split(".")[:3]) + ".x"
    return str(ipaddress.ip_network(f"{address}/48", strict=False))


@functools.lru_cache(maxsize=4)
def _geoip(path: str) -> Any:
    """One GeoIP2 reader per database folder (opening it reads the file); None if unusable."""
    try:
        from django.contrib.gis import geoip2 as gis_geoip2

        if not gis_geoip2.HAS_GEOIP2:
            return None
        return gis_geoip2.GeoIP2(path)
    except Exception as err:  # GDAL or geoip2 missing, no database in the folder ...
        logger.warning("GeoIP2 is not usable with GEOIP_PATH=%s: %s", path, err)
        return None


def geoip_place(ip: str | None) -> str:
    """ "City, Country" (or the country) from Django's GeoIP2, or "" when it cannot say."""
    path = getattr(settings, "GEOIP_PATH", None)
    if not path or not ip:
        return ""
    reader = _geoip(str(path))
    if reader is None:
        return ""
    try:
        try:
            data = reader.city(ip)
        except Exception:  # a country-only database, or no city for this address
            data = reader.country(ip)
    except Exception:  # private address, not in the database
        return ""
    parts = [data.get("city") or "", data.get("country_name") or ""]
    return ", ".join(_clean(part) for part in parts if _clean(part))


def header_place(request: HttpRequest) -> str:
    """The two-letter country of ``WHATSAPP_LOGIN_COUNTRY_HEADER`` (e.g. Cloudflare's
    ``HTTP_CF_IPCOUNTRY``), or "" when the setting is empty or the value is not a country."""
    name = app_settings.COUNTRY_HEADER
    if not name:
        return ""
    value = str(request.META.get(name, "")).strip().upper()
    if not _COUNTRY.fullmatch(value) or value in _UNKNOWN_COUNTRIES:
        return ""
    return value


def place_for_request(request: HttpRequest) -> str:
    """The approximate place of the browser making ``request`` (see the module docs)."""
    ip = client_ip(request)
    place = geoip_place(ip) or header_place(request)
    masked = mask_ip(ip)
    if place and masked:
        place = f"{place} ({masked})"
    return (place or masked)[:MAX_PLACE_CHARS]


__all__ = [
    "LoginContext",
    "geoip_place",
    "header_place",
    "login_context",
    "mask_ip",
    "parse_user_agent",
    "place_for_request",
    "site_name",
]
